"""The check a reader of a report folder makes: the page's generator tag names the SHA-256 of the
report.json beside it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from convgrad.report import atomic


def pair_consistent(folder: str | os.PathLike, page: str, data: str) -> bool:
    """Whether ``folder/page`` names the SHA-256 of ``folder/data`` in its generator tag."""
    folder = Path(folder)
    found = atomic.page_generator(folder / page)
    if found is None or found[1] is None:
        return False
    return found[1] == hashlib.sha256((folder / data).read_bytes()).hexdigest()
