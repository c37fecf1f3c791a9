"""Text helpers shared by the derivations and the shape diagnoses: shapes in the command
line's notation, and wrapping to `WIDTH` columns."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

WIDTH = 100
"""Plain-text output is wrapped to this many columns."""


def format_shape(shape: Sequence[int]) -> str:
    """``128x128x3`` (the command line's notation)."""
    return "x".join(str(n) for n in shape)


def wrapped(text: str, indent: str, hanging: str) -> list[str]:
    """``text`` wrapped to `WIDTH` columns, first line after ``indent``, the rest ``hanging``."""
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=hanging, break_on_hyphens=False
    )


def compact(values: tuple[int, ...]) -> str:
    """One value when every dim has it (``2``), else the tuple (``(1, 2)``)."""
    return str(values[0]) if len(set(values)) == 1 else str(values)


__all__ = ["WIDTH", "compact", "format_shape", "wrapped"]
