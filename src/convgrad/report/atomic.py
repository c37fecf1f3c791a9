"""Atomic writing of report files: a temporary file in the target's folder, then
``os.replace`` (atomic on POSIX and Windows), so a reader never sees half a page; and a refusal
to overwrite a file that is not a convgrad report."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MARKER = "convgrad-report"
"""Written into every page (``<meta name="generator">``) and every report.json (``schema``):
what marks an existing file as ours to overwrite."""
_SNIFF = 4096


def is_report(path: Path) -> bool:
    """True when the file's first bytes carry `MARKER`."""
    with open(path, "rb") as handle:
        return MARKER.encode() in handle.read(_SNIFF)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; create missing folders.

    Raises FileExistsError when ``path`` exists and is not a convgrad report, IsADirectoryError
    when it is a folder, and TypeError for a path that is not str or PathLike.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path={path!r} must be a str or os.PathLike")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path={str(path)!r} is a folder; give a file name")
    if path.exists() and not is_report(path):
        raise FileExistsError(
            f"path={str(path)!r} exists and is not a convgrad report; refusing to overwrite it"
            " (remove it or choose another path)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
