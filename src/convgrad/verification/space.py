"""The default problem space: one table shared by `convgrad.verify`, the strategies
(`convgrad.strategies.conv_problems`, `conv_specs`), the ``convgrad verify`` command and the pytest
plugin, so that "the default" means the same problems everywhere (the README's table lists it).

Each entry is the default of the keyword argument of the same name: one value or a tuple of
allowed values, the first preferred when shrinking. Wider spaces are one argument away (every
strategy and verify take ``ndim=(1, 2, 3)``, ``padding=("valid", "same", "same_lower", "full",
"explicit")``, ``flip=(False, True)``...).
"""

from __future__ import annotations

DEFAULT_SPACE: dict[str, object] = {
    "ndim": 2,
    "padding": ("valid", "same", "full"),
    "stride": (1, 2),
    "dilation": (1, 2),
    "groups": (1, 2),
    "flip": (False,),
    "dtype": "float64",
    "data": ("integer", "real"),
    "bias": (False,),
}
"""Spatial dims, padding modes, strides, dilations, group counts, flip, data dtype, data kinds
('integer' values in [-3, 3] first, then 'real' in [-1, 1]) and bias (verify's forward takes
none)."""

__all__ = ["DEFAULT_SPACE"]
