"""Output files a run writes, made safe before any work: writable now, never an input overwritten, and
written beside their targets and renamed over them only when the whole run succeeded."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path


class OutputError(ValueError):
    """An output path the run could not write at its end: refused before any work."""


def refuse_unwritable(directory: Path, what: str) -> None:
    """Create the directory and a file in it now, so a long run cannot fail at its last step."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        try:
            blocked = directory.exists() and not directory.is_dir()
        except OSError:  # a directory on the way that may not be searched
            blocked = False
        reason = "not a directory" if blocked else exc.strerror or exc
        raise OutputError(f"{what}: cannot write in {directory}: {reason}") from None


def is_special(path: Path) -> bool:
    """/dev/null, /dev/stdout, a pipe: written in place, as there is no previous file to keep (and staging
    would replace the device with a regular file)."""
    try:
        return path.exists() and not path.is_file() and not path.is_dir()
    except OSError:  # a directory on the way that may not be searched: refused as unwritable
        return False


def refuse_unwritable_file(path: Path, what: str) -> None:
    if is_special(path):
        if not os.access(path, os.W_OK):
            raise OutputError(f"{what} {path}: cannot write it: permission denied")
        return
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # pathlib only answers "no" for a missing path, not for a locked directory
        raise OutputError(f"{what} {path}: cannot write it: {exc.strerror}") from None
    if is_dir:
        raise OutputError(f"{what} {path}: is a directory, want a file name")
    refuse_unwritable(path.resolve().parent, f"{what} {path}")


def refuse_overwriting_inputs(inputs: dict[str, Path], outputs: dict[str, Path]) -> None:
    """A mistyped --trades naming the candle file would replace it at the end of the run (the rename does
    it without a word): an output that is an input, or another output, is refused before any work."""
    seen: dict[Path, str] = {}
    for what, path in [*inputs.items(), *outputs.items()]:
        if what not in inputs and is_special(path):
            continue
        real = path.resolve()
        if real in seen:
            raise OutputError(f"{what} {path}: is also {seen[real]}; the run would overwrite it")
        seen[real] = f"{what} {path}" if what not in inputs else f"the {what}"


def refuse_unknown_plot_format(plot: Path) -> None:
    """matplotlib picks the format from the suffix and refuses one it cannot write, but only at the end."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError(name="matplotlib")
    from matplotlib.backend_bases import FigureCanvasBase  # noqa: PLC0415  (optional, loaded on demand)

    if is_special(plot):  # matplotlib would write beside it, as `null.png`: it names the format by the suffix
        raise OutputError(f"--plot {plot}: not a regular file; to draw no plot, leave --plot out")
    formats = FigureCanvasBase.get_supported_filetypes()
    if plot.suffix and plot.suffix[1:].lower() not in formats:
        raise OutputError(
            f"--plot {plot}: matplotlib cannot write {plot.suffix!r} images; name it .png, or "
            f"{', '.join(f'.{f}' for f in sorted(formats) if f != 'png')}"
        )


class Staged:
    """Outputs written beside their targets (same filesystem, also on a read-only image with a writable
    /data) and renamed over them only when the whole run succeeded: a failed run leaves the previous
    files as they were."""

    def __init__(self) -> None:
        self._moves: list[tuple[Path, Path]] = []

    def path(self, target: Path, suffix: str | None = None) -> Path:
        # Keeps the suffix: matplotlib picks the image format from it. A symlinked target keeps its link (the
        # trades' round trips go beside the file it points to).
        if is_special(target):
            return target
        target = target.resolve()
        tmp = target.with_name(f".{target.name}.{os.getpid()}{suffix or target.suffix}")
        tmp.unlink(missing_ok=True)
        self._moves.append((tmp, target))
        return tmp

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, failed: type[BaseException] | None, *_: object) -> None:
        for tmp, target in self._moves:
            if failed is None:
                os.replace(tmp, target)
            else:
                tmp.unlink(missing_ok=True)
