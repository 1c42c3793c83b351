"""The exchange's API key and secret, read from the credentials file the deploy role writes (never logged)."""

from __future__ import annotations

from pathlib import Path


def read_credentials(path: str | Path) -> tuple[str, str]:
    """(key, secret) from a file of `GRIDBOT_API_KEY=...` / `GRIDBOT_API_SECRET=...` lines (blank lines and
    `#` comments allowed). Errors name the file and the line or key, never a value."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(
            f"{p}: cannot read the credentials file ({e.strerror or type(e).__name__})"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: the credentials file is not UTF-8 text") from None
    found: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not eq:
            raise ValueError(f"{p}: line {n} is not NAME=value")
        if name in found:
            raise ValueError(f"{p}: {name} is set twice (line {n})")
        found[name] = value.strip()
    out = []
    for name in ("GRIDBOT_API_KEY", "GRIDBOT_API_SECRET"):
        if not found.get(name):
            raise ValueError(f"{p}: {name} is {'empty' if name in found else 'missing'}")
        out.append(found[name])
    return out[0], out[1]
