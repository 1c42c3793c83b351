"""Write bot/image/requirements.lock: the image's Python dependencies, pinned, with the sha256 of each wheel
the image is built from on arm64 and on amd64 (`make lock`; run when pyproject.toml's dependencies change or
to take newer releases within their ranges).

pip resolves the bot's dependencies for each architecture (the image's Python, manylinux wheels only, as
bot/image/wheels.sh fetches them); the lock is what it chose, and what the build then accepts and nothing
else. Both architectures must resolve each package to one version: one lock serves both images.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

log = logging.getLogger("lock")
TOP = Path(__file__).resolve().parents[2]
LOCK = TOP / "bot" / "image" / "requirements.lock"
PLATFORMS = {"arm64": "aarch64", "amd64": "x86_64"}
SELF = "pifleet-gridbot"


def resolve(arch: str, pyver: str, work: Path) -> dict[str, tuple[str, str]]:
    """{package: (version, sha256)} of each wheel pip fetches for the bot on `arch`."""
    dest = work / arch
    plat = PLATFORMS[arch]
    platforms = [f"--platform={p}_{plat}" for p in ("manylinux_2_28", "manylinux_2_17", "manylinux2014")]
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(dest), str(TOP)], check=True)
    (bot,) = dest.glob("pifleet_gridbot-*.whl")
    subprocess.run(
        [*pip, "download", "-q", "--only-binary=:all:", *platforms, f"--python-version={pyver}",
         "--implementation=cp", "-d", str(dest), str(bot)],
        check=True,
    )  # fmt: skip
    found = {}
    for wheel in sorted(dest.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        if name != SELF:
            found[str(name)] = (str(version), hashlib.sha256(wheel.read_bytes()).hexdigest())
    return found


def lock_text(by_arch: dict[str, dict[str, tuple[str, str]]], pyver: str) -> str:
    names = sorted({n for found in by_arch.values() for n in found})
    lines = [
        "# The gridbot image's Python dependencies: each pinned, with the sha256 of its wheel for",
        "# each architecture the image is built for. Written by `make lock` (bot/image/lock.py);",
        "# bot/image/wheels.sh fetches these and nothing else (pip --require-hashes). Not edited by hand.",
        f"# python: {pyver}",
    ]
    for name in names:
        versions = {found[name][0] for found in by_arch.values() if name in found}
        if len(versions) != 1:
            raise SystemExit(f"lock: {name} resolves to {sorted(versions)} across {sorted(by_arch)}: pin it")
        hashes = sorted({found[name][1] for found in by_arch.values() if name in found})
        lines.append(f"{canonicalize_name(name)}=={versions.pop()} \\")
        cont = [" \\"] * (len(hashes) - 1) + [""]
        lines.extend(f"    --hash=sha256:{h}{c}" for h, c in zip(hashes, cont, strict=True))
    return "\n".join(lines) + "\n"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", default="313", help="the base image's Python, as cpXYZ's XYZ (default 313)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        by_arch = {arch: resolve(arch, args.python, Path(tmp)) for arch in PLATFORMS}
    LOCK.write_text(lock_text(by_arch, args.python))
    log.info("%s: %d packages for %s", LOCK.relative_to(TOP), len(by_arch["amd64"]), ", ".join(PLATFORMS))


if __name__ == "__main__":
    main()
