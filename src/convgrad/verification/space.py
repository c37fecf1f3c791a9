"""verify's default problem space, written in one place.

`convgrad.verify` takes its keyword defaults from here, and the CLI's ``convgrad verify`` and
the pytest plugin call verify without overriding them, so all three draw the same problems.

The space includes explicit pads, symmetric and asymmetric (each side drawn from 0 to
`MAX_PAD`), beside the named modes: PyTorch's most common layer, ``padding=1, stride=2``, lives
there, and so do the stride-remainder rows no window reaches, where
``(I + lo + hi - d*(K-1) - 1) % s != 0`` (the input side is drawn freely, so the remainder is
often non-zero). A fast path that ignores explicit pads (a 1x1 kernel's, say) fails on it.
"""

from __future__ import annotations

from types import MappingProxyType

NDIM = 2
"""Spatial dims drawn (1-D and 3-D convolutions: pass ``ndim=1`` or ``ndim=3``)."""

PADDING = ("valid", "same", "full", "explicit")
"""Padding modes drawn; "explicit" draws one ``(lo, hi)`` pair per dim, 0 <= lo, hi <= `MAX_PAD`."""

MAX_PAD = 2
"""The largest explicit pad on one side (the drawn pads: 0, 1, 2, symmetric or not)."""

STRIDE = (1, 2)
DILATION = (1, 2)
GROUPS = (1, 2)
FLIP = (False,)

DEFAULT_SPACE = MappingProxyType(
    {
        "ndim": NDIM,
        "padding": PADDING,
        "stride": STRIDE,
        "dilation": DILATION,
        "groups": GROUPS,
        "flip": FLIP,
    }
)
"""The defaults above as verify's keyword arguments (read-only)."""

__all__ = ["DEFAULT_SPACE", "DILATION", "FLIP", "GROUPS", "MAX_PAD", "NDIM", "PADDING", "STRIDE"]
