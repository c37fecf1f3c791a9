"""`ConvProblem`: one concrete convolution layer with data, the unit that checks run on."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from convgrad.reference import operands as _operands
from convgrad.reference.padding import fold_count
from convgrad.shapes import depthwise_groups, resolve
from convgrad.spec import DEPTHWISE, ConvSpec, ResolvedSpec


@dataclass(frozen=True, eq=False)
class ConvProblem:
    """x: (N, C_in, *S); w: (C_out, C_in // groups, *K); b: (C_out,) or None;
    grad_y: (N, C_out, *O), the forward output's shape; spec: the user-level spec (groups
    "depthwise" is replaced by its number, C_in).

    Construction validates the operands as `convgrad.conv_backward` does: NumPy arrays
    (TypeError otherwise) of one float dtype or all exact (TypeError), shapes agreeing with the
    spec (ValueError); and, unlike the reference (which follows IEEE rules), finite data
    (ValueError): every check compares against finite reference values and bounds.
    """

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    grad_y: np.ndarray
    spec: ConvSpec

    def __post_init__(self) -> None:
        operands = {"x": self.x, "w": self.w, "b": self.b, "grad_y": self.grad_y}
        for name, value in operands.items():
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(f"{name} must be a numpy.ndarray, got {type(value).__name__}")
        _operands.as_arrays(operands)
        for name, value in operands.items():
            _require_finite(name, value)
        if not isinstance(self.spec, ConvSpec):
            raise TypeError(f"spec must be a convgrad.ConvSpec, got {type(self.spec).__name__}")
        if self.spec.groups == DEPTHWISE:
            # The number, once the channels are known: every check reads spec.groups as one.
            groups = depthwise_groups(self.x.shape[1], self.w.shape)
            object.__setattr__(self, "spec", replace(self.spec, groups=groups))
        resolved, dims = resolve(self.x.shape, self.w.shape, self.spec)
        expected = (self.x.shape[0], self.w.shape[0], *(a.output for a in dims))
        if self.grad_y.shape != expected:
            raise ValueError(
                f"grad_y has shape {self.grad_y.shape}; it must have the forward output's shape"
                f" {expected}"
            )
        if self.b is not None and self.b.shape != (self.w.shape[0],):
            raise ValueError(
                f"b has shape {self.b.shape}; expected (C_out,) = ({self.w.shape[0]},)"
            )
        object.__setattr__(self, "_resolved", resolved)

    @property
    def resolved(self) -> ResolvedSpec:
        """The spec with explicit per-dim pads, strides and dilations."""
        return self._resolved

    @property
    def ndim(self) -> int:
        """The number of spatial dims."""
        return self.x.ndim - 2

    @property
    def input_copies(self) -> int:
        """The most padded positions that copy one input element: 1 for zero padding, more for
        the other padding modes (`convgrad.reference.padding.fold_count`)."""
        r = self.resolved
        return fold_count(r.padding_mode, r.padding, self.x.shape[2:])

    @property
    def output_shape(self) -> tuple[int, ...]:
        """y's shape (N, C_out, *O)."""
        return self.grad_y.shape

    @property
    def kwargs(self) -> dict:
        """Keyword arguments for `convgrad.conv` / `convgrad.conv_backward`."""
        s = self.spec
        return {
            "padding": s.padding,
            "stride": s.stride,
            "dilation": s.dilation,
            "groups": s.groups,
            "flip": s.flip,
            "padding_mode": s.padding_mode,
        }

    def describe(self) -> dict:
        """A JSON-ready description of the shapes, dtype and spec (no data)."""
        return {
            "x": list(self.x.shape),
            "w": list(self.w.shape),
            "b": None if self.b is None else list(self.b.shape),
            "y": list(self.output_shape),
            "dtype": str(self.x.dtype),
            "spec": self.resolved.to_dict(),
        }


def _require_finite(name: str, value: np.ndarray | None) -> None:
    if value is None or value.dtype.kind != "f":
        return
    bad = np.argwhere(~np.isfinite(value))
    if len(bad):
        index = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"{name} holds {value[index]} at index {index} ({len(bad)} non-finite values); a"
            " ConvProblem needs finite data (the checks compare with finite references)"
        )
