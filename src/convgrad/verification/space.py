"""The default problem space: one table shared by `convgrad.verify`, the strategies
(`convgrad.strategies.conv_problems`, `conv_specs`), the ``convgrad verify`` command and the pytest
plugin, so that "the default" means the same problems everywhere (the README's table lists it).

Each entry is the default of the keyword argument of the same name: one value or a tuple of
allowed values, the first preferred when shrinking. Wider spaces are one argument away (every
strategy and verify take ``ndim=(1, 2, 3)``, ``padding=("valid", "same", "same_lower", "full",
"explicit")``, ``flip=(False, True)``...).

The space includes explicit pads, symmetric and asymmetric (each side drawn from 0 to
`MAX_PAD`), beside the named modes: PyTorch's most common layer, ``padding=1, stride=2``, lives
there, and so do the stride-remainder rows no window reaches, where
``(I + lo + hi - d*(K-1) - 1) % s != 0`` (the input side is drawn freely, so the remainder is
often non-zero). A fast path that ignores explicit pads (a 1x1 kernel's, say) fails on it.
"""

from __future__ import annotations

MAX_PAD = 2
"""The largest explicit pad on one side (the drawn pads: 0, 1, 2, symmetric or not)."""

MAX_EXTENT = 64
"""The most rows a dilated kernel spans, ``d * (K - 1) + 2`` with one row past it, in a drawn
or fixed problem: past it the kernel is cut (to 1 where nothing else fits), so that a huge
dilation keeps the problems small (a dilation of 31 still meets a kernel of 3)."""

DEFAULT_SPACE: dict[str, object] = {
    "ndim": 2,
    "padding": ("valid", "same", "full", "explicit"),
    "stride": (1, 2),
    "dilation": (1, 2),
    "groups": (1, 2),
    "flip": (False,),
    "dtype": "float64",
    "data": ("integer", "real"),
    "bias": (False,),
    "padding_mode": ("zeros",),
}
"""Spatial dims, padding modes ("explicit": one ``(lo, hi)`` pair per dim, each side at most
`MAX_PAD`), strides, dilations, group counts, flip, data dtype, data kinds ('integer' values in
[-3, 3] first, then 'real' in [-1, 1]), bias (verify's forward takes none) and what the pads
hold (``torch.nn.Conv2d(padding_mode=...)``: "zeros", "reflect", "replicate", "circular")."""

__all__ = ["DEFAULT_SPACE", "MAX_EXTENT", "MAX_PAD"]
