"""The conformance cases: shapes, spec and kind of every case of the ``core`` and ``full`` sets.

A case is pure data (no arrays): its id, x's and w's shapes, the user-level `ConvSpec`, whether
it has a bias, and its kind. ``"exact"`` cases hold small integer-valued data, so every correct
float64 implementation reproduces them bit for bit; ``"float"`` cases hold general float64 data
and are compared within a stored per-element error bound. The data themselves are drawn by
`convgrad.vectors.generate` from the case id alone, so a case's content depends on nothing but
this table and the oracle.

``core`` covers, with tens of small cases: every padding mode and the shape identities
(``O = I - K + 1`` valid, ``I`` same, ``I + K - 1`` full, grad_weight of size ``K``), even
kernels, strides and dilations that leave rows unreached, groups (including depthwise),
1-, 2- and 3-D, output size 1, batch > 1, ``C_in != C_out``, flip, bias and 1x1 kernels.
``full`` adds a grid over mode x stride x dilation x groups x flip in every dimension.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from convgrad.shapes import resolve
from convgrad.spec import ConvSpec

KINDS = ("exact", "float")
SETS = ("core", "full")


@dataclass(frozen=True)
class Case:
    """One conformance case. x: (N, C_in, *S); w: (C_out, C_in // groups, *K)."""

    id: str
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    spec: ConvSpec
    bias: bool
    kind: str
    note: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} must be one of {KINDS}")
        resolve(self.x_shape, self.w_shape, self.spec)


def _case(id_, x_shape, w_shape, note, *, bias=False, kind="exact", **spec) -> Case:
    return Case(id_, x_shape, w_shape, ConvSpec(**spec), bias, kind, note)


_CORE: tuple[Case, ...] = (
    _case("1d-valid", (1, 1, 7), (1, 1, 3), "valid: O = I - K + 1"),
    _case("1d-same-odd", (1, 1, 7), (1, 1, 3), "same, odd K: O = I", padding="same"),
    _case("1d-full", (1, 1, 5), (1, 1, 3), "full: O = I + K - 1", padding="full"),
    _case(
        "1d-same-even",
        (1, 1, 6),
        (1, 1, 4),
        "same, even K: the extra pad at the end (PyTorch, TF SAME, ONNX SAME_UPPER)",
        padding="same",
    ),
    _case(
        "1d-same-lower-even",
        (1, 1, 6),
        (1, 1, 4),
        "same_lower, even K: the extra pad at the start (ONNX SAME_LOWER, scipy 'same')",
        padding="same_lower",
    ),
    _case("1d-full-even", (1, 1, 4), (1, 1, 2), "full, even K", padding="full"),
    _case("1d-output-1", (1, 2, 5), (3, 2, 5), "K = I: output size 1, grad_weight = K"),
    _case(
        "1d-explicit-asym", (1, 1, 6), (1, 1, 3), "explicit (lo, hi) = (2, 1)", padding=((2, 1),)
    ),
    _case(
        "1d-stride3-unreached",
        (1, 1, 10),
        (1, 1, 3),
        "stride 3 does not divide I - K: the last row unreached, its grad_input exactly 0",
        stride=3,
    ),
    _case(
        "1d-dilation2-stride2",
        (1, 2, 12),
        (2, 2, 3),
        "dilation 2 with stride 2 that does not divide",
        stride=2,
        dilation=2,
    ),
    _case(
        "1d-same-stride2",
        (1, 1, 9),
        (1, 1, 4),
        "same with stride 2: O = ceil(I / s)",
        padding="same",
        stride=2,
    ),
    _case("1d-flip", (1, 1, 6), (1, 1, 3), "flip: true convolution", flip=True, padding="full"),
    _case(
        "1d-groups2",
        (1, 4, 6),
        (6, 2, 3),
        "groups 2 with C_in = 4 != C_out = 6",
        groups=2,
        bias=True,
    ),
    _case("1d-depthwise", (2, 3, 6), (3, 1, 2), "depthwise: groups = C_in = C_out", groups=3),
    _case("1d-batch3-bias", (3, 2, 5), (4, 2, 2), "batch 3, bias, even K", bias=True),
    _case("1d-kernel1", (2, 3, 4), (2, 3, 1), "1x1 kernel: a channel mix", bias=True),
    _case("2d-valid", (2, 3, 5, 6), (2, 3, 3, 2), "batch 2, C_in 3 != C_out 2", bias=True),
    _case(
        "2d-same-even",
        (1, 2, 5, 6),
        (2, 2, 2, 4),
        "same with even kernels and stride (2, 1)",
        padding="same",
        stride=(2, 1),
    ),
    _case(
        "2d-same-lower-stride2",
        (1, 1, 7, 6),
        (1, 1, 2, 3),
        "same_lower with stride 2",
        padding="same_lower",
        stride=2,
    ),
    _case(
        "2d-full-dilation",
        (1, 2, 4, 5),
        (3, 2, 2, 3),
        "full with dilation (1, 2)",
        padding="full",
        dilation=(1, 2),
    ),
    _case(
        "2d-explicit-mixed",
        (2, 4, 7, 8),
        (4, 2, 3, 2),
        "explicit ((0, 1), (2, 0)), stride (2, 3), dilation (2, 1), groups 2, flip",
        padding=((0, 1), (2, 0)),
        stride=(2, 3),
        dilation=(2, 1),
        groups=2,
        flip=True,
        bias=True,
    ),
    _case("2d-output-1x1", (2, 2, 3, 4), (3, 2, 3, 4), "kernel covers the input: 1x1 output"),
    _case(
        "2d-stride-exceeds-kernel",
        (1, 2, 7, 7),
        (2, 2, 2, 2),
        "stride 3 > K: input rows no window touches get grad_input 0",
        stride=3,
    ),
    _case("3d-valid", (1, 2, 3, 4, 4), (2, 2, 2, 2, 3), "3-D valid", bias=True),
    _case(
        "3d-same-groups",
        (1, 4, 3, 4, 5),
        (2, 2, 2, 3, 2),
        "3-D same, even kernels, groups 2, C_out < C_in",
        padding="same",
        groups=2,
    ),
    _case(
        "3d-full-flip",
        (1, 1, 2, 3, 3),
        (2, 1, 2, 2, 2),
        "3-D full, flip",
        padding="full",
        flip=True,
    ),
    _case(
        "3d-explicit-stride-dilation",
        (2, 2, 6, 5, 5),
        (2, 2, 2, 2, 2),
        "3-D explicit pads, stride 2, dilation 2",
        padding=((1, 1), (0, 2), (0, 0)),
        stride=2,
        dilation=2,
    ),
    _case("float-1d-valid", (2, 3, 16), (4, 3, 5), "float64 data, valid", kind="float", bias=True),
    _case(
        "float-2d-same-stride2",
        (1, 4, 7, 8),
        (4, 2, 3, 4),
        "float64 data, same, stride 2, groups 2",
        kind="float",
        padding="same",
        stride=2,
        groups=2,
        bias=True,
    ),
    _case(
        "float-2d-explicit-flip",
        (2, 2, 6, 5),
        (3, 2, 2, 3),
        "float64 data, explicit pads, dilation 2, flip",
        kind="float",
        padding=((1, 0), (2, 2)),
        dilation=2,
        flip=True,
    ),
    _case(
        "float-3d-full",
        (1, 2, 3, 3, 4),
        (2, 2, 2, 2, 2),
        "float64 data, 3-D full",
        kind="float",
        padding="full",
    ),
)

_GRID_INPUT = {1: (9,), 2: (6, 7), 3: (4, 5, 5)}
_GRID_KERNEL = {1: (3,), 2: (2, 3), 3: (2, 3, 2)}
_GRID_MODES = ("valid", "same", "same_lower", "full", "explicit")
_GRID_PADS = {1: ((1, 2),), 2: ((1, 2), (0, 1)), 3: ((1, 2), (0, 1), (2, 0))}


def _grid() -> tuple[Case, ...]:
    """Every mode x stride (1, 2, 3) x dilation (1, 2) x groups (1, 2) x flip in 1-, 2- and 3-D,
    exact data, batch 2, C_in = 4, C_out = 2; combinations whose output would be empty are left
    out."""
    cases = []
    for ndim, mode, stride, dilation, groups, flip in itertools.product(
        (1, 2, 3), _GRID_MODES, (1, 2, 3), (1, 2), (1, 2), (False, True)
    ):
        padding = _GRID_PADS[ndim] if mode == "explicit" else mode
        spec = ConvSpec(padding, stride, dilation, groups, flip)
        x_shape = (2, 4, *_GRID_INPUT[ndim])
        w_shape = (2, 4 // groups, *_GRID_KERNEL[ndim])
        try:
            resolve(x_shape, w_shape, spec)
        except ValueError:
            continue
        id_ = f"grid-{ndim}d-{mode}-s{stride}-d{dilation}-g{groups}" + ("-flip" if flip else "")
        cases.append(Case(id_, x_shape, w_shape, spec, groups == 2, "exact", "grid"))
    return tuple(cases)


def cases(set_name: str) -> tuple[Case, ...]:
    """The cases of a set, in a fixed order: ``"core"`` or ``"full"`` (core, then the grid)."""
    if set_name not in SETS:
        raise ValueError(f"set={set_name!r} is not a vector set; use one of {SETS}")
    return _CORE if set_name == "core" else _CORE + _grid()
