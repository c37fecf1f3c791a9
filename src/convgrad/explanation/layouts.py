"""Input and kernel layouts a user may think in: channels first (``NCHW`` input, ``OIHW``
kernel, as PyTorch) or channels last (``NHWC`` / ``HWC`` input, ``HWIO`` kernel, as TensorFlow
and most NumPy tutorials), 1, 2 or 3 spatial dims, batch optional."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


@dataclass(frozen=True)
class Layout:
    """An input layout such as ``NCHW`` or ``HWC`` and the kernel layout that goes with it.

    Channels-first layouts take ``OIHW`` kernels ``(C_out, C_in // groups, *K)`` (PyTorch
    ``torch.nn.functional.conv2d``); channels-last layouts take ``HWIO`` kernels
    ``(*K, C_in // groups, C_out)`` (TensorFlow ``tf.nn.conv2d``, JAX ``dimension_numbers=
    ("NHWC", "HWIO", "NHWC")``). A layout without ``N`` describes shapes without a batch axis.
    """

    name: str
    ndim: int
    batch: bool
    channels_last: bool

    @property
    def spatial(self) -> str:
        """The spatial axes' letters, e.g. ``HW``."""
        return _SPATIAL[self.ndim]

    @property
    def kernel(self) -> str:
        """The kernel layout's name, e.g. ``OIHW`` or ``HWIO``."""
        return f"{self.spatial}IO" if self.channels_last else f"OI{self.spatial}"

    def arrange(self, batch, channel, spatial: Sequence) -> tuple:
        """Items in this layout's order from a batch item, a channel item and spatial items."""
        core = (*spatial, channel) if self.channels_last else (channel, *spatial)
        return (batch, *core) if self.batch else core

    def arrange_kernel(self, out_channels, in_channels, spatial: Sequence) -> tuple:
        """Kernel items in this layout's kernel order."""
        if self.channels_last:
            return (*spatial, in_channels, out_channels)
        return (out_channels, in_channels, *spatial)

    def split(self, shape: Sequence[int]) -> tuple[int | None, int, tuple[int, ...]]:
        """(batch or None, channels, spatial sizes) of a shape in this layout."""
        items = list(shape)
        batch = items.pop(0) if self.batch else None
        channel = items.pop() if self.channels_last else items.pop(0)
        return batch, channel, tuple(items)

    def split_kernel(self, shape: Sequence[int]) -> tuple[int, int, tuple[int, ...]]:
        """(C_out, C_in // groups, kernel sizes) of a kernel shape in this layout."""
        if self.channels_last:
            return shape[-1], shape[-2], tuple(shape[:-2])
        return shape[0], shape[1], tuple(shape[2:])


def _all_layouts() -> dict[str, Layout]:
    table = {}
    for ndim, spatial in _SPATIAL.items():
        for batch, last in product((True, False), (False, True)):
            name = ("N" if batch else "") + (spatial + "C" if last else "C" + spatial)
            table[name] = Layout(name, ndim, batch, last)
    return table


LAYOUTS: dict[str, Layout] = _all_layouts()
"""Every supported input layout by name: NCW, NWC, CW, WC, NCHW, NHWC, CHW, HWC and 3-D ones."""


def parse_layout(layout: str) -> Layout:
    """The `Layout` named ``layout`` (case-insensitive); ValueError names the supported ones."""
    if not isinstance(layout, str):
        raise TypeError(f"layout={layout!r} must be a str such as 'NCHW' or 'HWC'")
    found = LAYOUTS.get(layout.upper())
    if found is None:
        raise ValueError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    return found


__all__ = ["LAYOUTS", "Layout", "parse_layout"]
