"""The conformance cases: shapes, spec and kind of every case of the ``core`` and ``full`` sets.

A case is pure data (no arrays): its id, x's and w's shapes, the user-level `ConvSpec`, whether
it has a bias, its kind, and its op: ``"conv"`` (the default) or ``"conv_transpose"`` (with its
``output_padding``, each smaller than the stride as torch.nn.ConvTranspose requires; the spec is
that of the convolution the transpose is the adjoint of). ``"exact"`` cases hold small
integer-valued data, so every correct float64 implementation reproduces them bit for bit;
``"float"`` cases hold general float64 data and are compared within a stored per-element error
bound. The data themselves are drawn by
`convgrad.vectors.generate` from the case id alone, so a case's content depends on nothing but
this table and the oracle.

``core`` covers, with tens of small cases: every padding mode and the shape identities
(``O = I - K + 1`` valid, ``I`` same, ``I + K - 1`` full, grad_weight of size ``K``), even
kernels, strides and dilations that leave rows unreached, groups (including depthwise),
1-, 2- and 3-D, output size 1, batch > 1, ``C_in != C_out``, flip, bias and 1x1 kernels; since
format version 2 also each padding_mode (reflect, replicate, circular: the pads copy input
entries and grad_input folds them back) and transposed convolutions (output_padding, stride,
dilation, groups, bias). ``full`` adds a grid over mode x stride x dilation x groups x flip in
every dimension.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from convgrad.shapes import resolve, transpose_output_size
from convgrad.spec import ConvSpec, ResolvedSpec

KINDS = ("exact", "float")
SETS = ("core", "full")
OPS = ("conv", "conv_transpose")


@dataclass(frozen=True)
class Case:
    """One conformance case. conv: x (N, C_in, *S), w (C_out, C_in // groups, *K).
    conv_transpose: x (N, C_in_t, *S), w (C_in_t, C_out_t // groups, *K) (the weight of the
    conv it transposes, torch.nn.ConvTranspose's layout), ``output_padding`` one int per dim."""

    id: str
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    spec: ConvSpec
    bias: bool
    kind: str
    note: str
    op: str = "conv"
    output_padding: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} must be one of {KINDS}")
        if self.op not in OPS:
            raise ValueError(f"op={self.op!r} must be one of {OPS}")
        if self.op == "conv":
            if self.output_padding:
                raise ValueError(
                    f"output_padding={self.output_padding!r}: only a conv_transpose case has one"
                )
            resolve(self.x_shape, self.w_shape, self.spec)
            return
        self._check_transpose()

    def _check_transpose(self) -> None:
        spec, ndim = self.spec, len(self.x_shape) - 2
        if spec.mode in ("same", "same_lower") or spec.flip or spec.padding_mode != "zeros":
            raise ValueError(
                f"case {self.id!r}: a conv_transpose case takes explicit, 'valid' or 'full' pads,"
                f" flip=False and padding_mode='zeros'; got {spec!r}"
            )
        if len(self.output_padding) != ndim:
            raise ValueError(
                f"output_padding={self.output_padding!r} must hold one int per spatial dim ({ndim})"
            )
        x_shape, _, y_shape = conv_shapes(self)
        resolved, dims = resolve(x_shape, self.w_shape, spec)
        for j, (op, s) in enumerate(zip(self.output_padding, resolved.stride, strict=True)):
            if not 0 <= op < s:
                raise ValueError(
                    f"output_padding={self.output_padding!r}: along spatial dim {j} it is {op};"
                    f" it must be >= 0 and smaller than the stride ({s})"
                )
        if tuple(a.output for a in dims) != tuple(y_shape[2:]):
            raise ValueError(f"case {self.id!r}: the conv it transposes does not map back")


def conv_shapes(case: Case) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``(x, w, y)`` shapes of the convolution a case computes or, for a transposed case, the
    convolution it is the adjoint of: its input has the transpose's output shape ``O_t =
    (S - 1)*s - lo - hi + d*(K-1) + output_padding + 1`` and its output the transpose's input
    shape."""
    if case.op == "conv":
        _, dims = resolve(case.x_shape, case.w_shape, case.spec)
        return (
            case.x_shape,
            case.w_shape,
            (*case.x_shape[:1], case.w_shape[0], *(a.output for a in dims)),
        )
    spatial, kernel = case.x_shape[2:], case.w_shape[2:]
    # Explicit, valid and full pads do not depend on the input size.
    resolved = case.spec.resolve(spatial, kernel)
    out = tuple(
        transpose_output_size(i, k, lo, hi, s, d, op)
        for i, k, (lo, hi), s, d, op in zip(
            spatial,
            kernel,
            resolved.padding,
            resolved.stride,
            resolved.dilation,
            case.output_padding,
            strict=True,
        )
    )
    c_out_t = case.w_shape[1] * case.spec.groups
    return (case.x_shape[0], c_out_t, *out), case.w_shape, case.x_shape


def resolved_spec(case: Case) -> ResolvedSpec:
    """The resolved spec of the convolution of `conv_shapes`."""
    x_shape, w_shape, _ = conv_shapes(case)
    return resolve(x_shape, w_shape, case.spec)[0]


def spec_record(case: Case) -> dict:
    """The case's spec as the manifest and the hashes hold it: the resolved spec's
    ``to_dict``, and for a transposed case ``"op": "conv_transpose"`` and its
    ``"output_padding"`` (a conv case's record is that of format version 1)."""
    record = resolved_spec(case).to_dict()
    if case.op == "conv_transpose":
        record["op"] = case.op
        record["output_padding"] = list(case.output_padding)
    return record


def _case(id_, x_shape, w_shape, note, *, bias=False, kind="exact", **spec) -> Case:
    return Case(id_, x_shape, w_shape, ConvSpec(**spec), bias, kind, note)


def _transpose(id_, x_shape, w_shape, output_padding, note, *, bias=False, kind="exact", **spec):
    """A conv_transpose case: x (N, C_in_t, *S), w (C_in_t, C_out_t // groups, *K)."""
    return Case(
        id_, x_shape, w_shape, ConvSpec(**spec), bias, kind, note, "conv_transpose", output_padding
    )


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
    _case(
        "1d-reflect",
        (1, 1, 7),
        (1, 1, 3),
        "reflect pads (2, 1): mirrored about the edge, the edge not repeated (numpy 'reflect');"
        " grad_input folds each pad's gradient back onto the entry it copies",
        padding=((2, 1),),
        padding_mode="reflect",
    ),
    _case(
        "1d-replicate-stride2",
        (1, 2, 9),
        (2, 2, 3),
        "replicate pads 2: the edge repeated (numpy 'edge'), stride 2",
        padding=2,
        stride=2,
        padding_mode="replicate",
    ),
    _case(
        "1d-circular-full",
        (1, 1, 5),
        (1, 1, 3),
        "circular full pads: wrapped around (numpy 'wrap')",
        padding="full",
        padding_mode="circular",
    ),
    _case(
        "2d-reflect-same-dilation",
        (1, 2, 6, 7),
        (3, 2, 3, 2),
        "reflect with same pads ((2, 2), (0, 1)), dilation (2, 1)",
        padding="same",
        dilation=(2, 1),
        padding_mode="reflect",
    ),
    _case(
        "2d-circular-groups",
        (2, 4, 5, 6),
        (4, 2, 3, 3),
        "circular pads ((1, 2), (2, 0)), groups 2, bias",
        padding=((1, 2), (2, 0)),
        groups=2,
        bias=True,
        padding_mode="circular",
    ),
    _case(
        "3d-replicate",
        (1, 1, 3, 4, 4),
        (2, 1, 2, 3, 2),
        "3-D replicate pads ((1, 1), (2, 0), (0, 1))",
        padding=((1, 1), (2, 0), (0, 1)),
        padding_mode="replicate",
    ),
    _case(
        "float-2d-reflect-stride2",
        (1, 2, 5, 6),
        (2, 2, 3, 3),
        "float64 data, reflect pads 1, stride 2",
        kind="float",
        padding=1,
        stride=2,
        padding_mode="reflect",
    ),
    _transpose(
        "t1d-stride2-outpad1",
        (1, 2, 4),
        (2, 3, 3),
        (1,),
        "conv_transpose, pads 1, stride 2, output_padding 1: O_t = (4-1)*2 - 2 + 2 + 1 + 1 = 8",
        padding=1,
        stride=2,
    ),
    _transpose(
        "t1d-stride3-outpad2",
        (1, 1, 3),
        (1, 1, 2),
        (2,),
        "conv_transpose, stride 3 > K, output_padding 2: the last rows only output_padding adds",
        stride=3,
    ),
    _transpose(
        "t2d-groups-dilation",
        (2, 4, 3, 4),
        (4, 1, 2, 3),
        (1, 0),
        "conv_transpose, groups 2, pads ((0, 1), (2, 1)), stride (2, 1), dilation (1, 2),"
        " output_padding (1, 0), bias",
        padding=((0, 1), (2, 1)),
        stride=(2, 1),
        dilation=(1, 2),
        groups=2,
        bias=True,
    ),
    _transpose(
        "t2d-full-stride2",
        (1, 2, 3, 3),
        (2, 2, 3, 3),
        (1, 1),
        "conv_transpose of a full-padded conv, stride 2, output_padding 1",
        padding="full",
        stride=2,
    ),
    _transpose(
        "t3d-stride2",
        (1, 2, 2, 3, 2),
        (2, 2, 2, 2, 3),
        (1, 0, 1),
        "3-D conv_transpose, pads ((1, 0), (0, 0), (1, 1)), stride 2, output_padding (1, 0, 1)",
        padding=((1, 0), (0, 0), (1, 1)),
        stride=2,
    ),
    _transpose(
        "float-t2d-stride2",
        (1, 2, 3, 4),
        (2, 2, 3, 2),
        (1, 1),
        "float64 data, conv_transpose, pads ((1, 1), (0, 1)), stride 2, output_padding 1, bias",
        kind="float",
        padding=((1, 1), (0, 1)),
        stride=2,
        bias=True,
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
