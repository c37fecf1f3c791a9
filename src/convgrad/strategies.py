"""Hypothesis strategies for convolution specs and complete convolution problems.

Modelled on ``hypothesis.extra.numpy``: plain functions returning strategies, keyword arguments
that narrow the space, every argument validated when the function is called (before anything is
drawn) with a message naming the argument, its value and the rule.

Every tuple argument lists the allowed values; a single value means "only this one". Draws shrink
toward the first value of each tuple, toward small shapes (ndim 1, batch 1, one channel per group,
kernel 1, the smallest input that still gives an output of 1) and toward integer data, so a
failing example is small without extra work. Shapes are built before data and nothing is
rejected: the smallest admissible input size is computed, not searched for.

>>> import convgrad
>>> from convgrad.strategies import conv_problems
>>> from hypothesis import given
>>> @given(conv_problems(ndim=2, padding=("valid", "same"), dtype="float64"))
... def test_output_shape(problem):
...     y = convgrad.conv(problem.x, problem.w, problem.b, **problem.kwargs)
...     assert y.shape == problem.grad_y.shape
>>> test_output_shape()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from convgrad.reference.padding import fold_count
from convgrad.shapes import resolve, transpose_output_spatial
from convgrad.spec import DEPTHWISE, MODES, PADDING_MODES, ConvSpec, is_int
from convgrad.verification.integers import (
    INTEGER_DTYPES,
    check_accumulate,
    products_per_output,
    value_range,
)
from convgrad.verification.problem import ConvProblem
from convgrad.verification.space import DEFAULT_SPACE as _SPACE
from convgrad.verification.space import MAX_EXTENT, MAX_PAD
from convgrad.verification.transposed import TransposeProblem, present_transpose

__all__ = [
    "DATA_KINDS",
    "DTYPES",
    "PADDINGS",
    "conv_problems",
    "conv_specs",
    "transpose_problems",
]

PADDINGS = (*MODES, "explicit")
"""The padding values a strategy accepts: every mode of `convgrad.ConvSpec`, and "explicit" for
drawn ``(lo, hi)`` pairs."""

DTYPES = ("float64", "float32", "float16", *INTEGER_DTYPES, "object")
"""Operand dtypes; "object" holds Python ints (integer data) or ``fractions.Fraction`` (real).
The integer dtypes other than int64 need ``accumulate`` (`conv_problems`)."""

DATA_KINDS = ("integer", "real")
"""'integer': values in [-3, 3], exact in every listed dtype, so any correct float64
implementation is bit-exact on them; with an integer dtype and ``accumulate``, values in the
dtype's range that keep every sum in the accumulator instead. 'real': finite values in [-1, 1]
(floats of the dtype's width; Fractions with denominators up to 4 for object; not defined for
integer dtypes)."""

_INT_BOUND = 3
_MAX_DENOMINATOR = 4


def _check_size(name: str, value: object, minimum: int) -> int:
    if not is_int(value):
        raise TypeError(f"{name}={value!r} must be an int")
    if value < minimum:
        raise ValueError(f"{name}={value!r} must be >= {minimum}")
    return int(value)


def _choices(name: str, value: object, check: Callable[[str, object], object]) -> tuple:
    """One allowed value or a non-empty tuple/list of them, each passed through ``check``."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not items:
        raise ValueError(f"{name}={value!r} must list at least one allowed value")
    for item in items:
        check(name, item)
    return items


def _one_of(allowed: tuple) -> Callable[[str, object], None]:
    def check(name: str, item: object) -> None:
        if not isinstance(item, str) or item not in allowed:
            raise ValueError(f"{name}: {item!r} is not one of {allowed}")

    return check


def _positive_int(name: str, item: object) -> None:
    if not is_int(item):
        raise TypeError(f"{name}: {item!r} must be an int (not {type(item).__name__})")
    if item < 1:
        raise ValueError(f"{name}: {item!r} must be >= 1")


def _group_count(name: str, item: object) -> None:
    if isinstance(item, str):
        if item != DEPTHWISE:
            raise ValueError(f"{name}: {item!r} must be an int >= 1 or {DEPTHWISE!r}")
        return
    _positive_int(name, item)


def _bool(name: str, item: object) -> None:
    if not isinstance(item, bool):
        raise TypeError(f"{name}: {item!r} must be a bool")


def _ndim(name: str, item: object) -> None:
    _positive_int(name, item)
    if item > 3:
        raise ValueError(f"{name}: {item!r} spatial dims; convgrad handles 1, 2 or 3")


def _spec_arguments(ndim, padding, stride, dilation, groups, flip, max_pad, padding_mode) -> dict:
    return {
        "ndim": _choices("ndim", ndim, _ndim),
        "padding": _choices("padding", padding, _one_of(PADDINGS)),
        "stride": _choices("stride", stride, _positive_int),
        "dilation": _choices("dilation", dilation, _positive_int),
        "groups": _choices("groups", groups, _group_count),
        "flip": _choices("flip", flip, _bool),
        "padding_mode": _choices("padding_mode", padding_mode, _one_of(PADDING_MODES)),
        "max_pad": _check_size("max_pad", max_pad, 0),
    }


@st.composite
def _spec_of_rank(draw, rank: int, args: dict) -> ConvSpec:
    """A ConvSpec for ``rank`` spatial dims: per-dim stride and dilation tuples, and for
    "explicit" one (lo, hi) pair per dim."""
    mode = draw(st.sampled_from(args["padding"]))
    if mode == "explicit":
        pad = st.integers(0, args["max_pad"])
        padding = tuple(draw(st.tuples(pad, pad)) for _ in range(rank))
    else:
        padding = mode
    per_dim = {
        name: tuple(draw(st.sampled_from(args[name])) for _ in range(rank))
        for name in ("stride", "dilation")
    }
    return ConvSpec(
        padding=padding,
        groups=draw(st.sampled_from(args["groups"])),
        flip=draw(st.sampled_from(args["flip"])),
        padding_mode=draw(st.sampled_from(args["padding_mode"])),
        **per_dim,
    )


def conv_specs(
    *,
    ndim: int | Sequence[int] = _SPACE["ndim"],
    padding: str | Sequence[str] = _SPACE["padding"],
    stride: int | Sequence[int] = _SPACE["stride"],
    dilation: int | Sequence[int] = _SPACE["dilation"],
    groups: int | str | Sequence[int | str] = _SPACE["groups"],
    flip: bool | Sequence[bool] = _SPACE["flip"],
    max_pad: int = MAX_PAD,
    padding_mode: str | Sequence[str] = _SPACE["padding_mode"],
) -> st.SearchStrategy[ConvSpec]:
    """Strategy for `convgrad.ConvSpec` values.

    Each argument is one allowed value or a tuple of them, the first preferred when shrinking;
    the defaults are `convgrad.verification.space.DEFAULT_SPACE`, verify's. ndim: spatial dims
    (1, 2, 3), which fixes the length of the per-dim stride and dilation tuples and of explicit
    pads. padding: mode names of `convgrad.ConvSpec` or "explicit",
    which draws one ``(lo, hi)`` pair per dim with ``0 <= lo, hi <= max_pad``. padding_mode:
    entries of `convgrad.spec.PADDING_MODES` (what the pads hold); a spec does not know the
    input size, so one drawn here may be refused by ``resolve`` for a small input
    (`convgrad.spec.check_padding_mode`); `conv_problems` draws inputs large enough. groups:
    counts, or "depthwise" (kept as the word: groups = C_in once a problem fixes C_in).

    Args:
        ndim: spatial dims (1, 2, 3).
        padding: entries of `PADDINGS` ("valid", "same", "same_lower", "full", "explicit").
        stride: strides >= 1, drawn per dim (a tuple of length ndim).
        dilation: dilations >= 1, drawn per dim.
        groups: group counts >= 1, or "depthwise".
        flip: False (cross-correlation) and/or True (true convolution).
        max_pad: ``0 <= lo, hi <= max_pad`` for explicit pads.
        padding_mode: entries of `convgrad.spec.PADDING_MODES`.

    Returns:
        A hypothesis strategy of `convgrad.ConvSpec`.

    Raises:
        TypeError, ValueError: before anything is drawn, for an argument of the wrong type or
            out of range, or an empty tuple (the message names the argument, the value and the
            rule).

    >>> conv_specs(ndim=2, padding="explicit", stride=2).example()  # doctest: +SKIP
    ConvSpec(padding=((1, 0), (2, 2)), stride=(2, 2), dilation=(1, 2), groups=1, flip=True)
    """
    args = _spec_arguments(ndim, padding, stride, dilation, groups, flip, max_pad, padding_mode)
    return st.sampled_from(args["ndim"]).flatmap(lambda rank: _spec_of_rank(rank, args))


def _largest_pad(spec: ConvSpec, lo: int, hi: int, k: int, d: int) -> int:
    """An upper bound on this dim's pads whatever the input size: explicit pads as given,
    ``full``'s ``d(K-1)``, and ``same``'s at most ``ceil(d(K-1) / 2)`` (its total pad is at
    most ``d(K-1)`` since ``(ceil(I/s) - 1) s <= I - 1``)."""
    if spec.mode == "full":
        return d * (k - 1)
    if spec.mode in ("same", "same_lower"):
        return (d * (k - 1) + 1) // 2
    return max(lo, hi)


def _output_size(mode: str, i: int, e: int, s: int, lo: int, hi: int) -> int:
    """O along one dim of input i and dilated kernel extent e (pads lo, hi when explicit)."""
    if mode in ("same", "same_lower"):
        return -(-i // s)
    if mode == "full":
        return (i + e - 2) // s + 1
    return (i + lo + hi - e) // s + 1


def _largest_input(mode: str, o_max: int, e: int, s: int, lo: int, hi: int) -> int:
    """The largest input size whose output (`_output_size`) is at most ``o_max``."""
    if mode in ("same", "same_lower"):
        return o_max * s  # O = ceil(I / s)
    if mode == "full":
        return o_max * s - e + 1  # O = floor((I + E - 2) / s) + 1
    return o_max * s + e - 1 - lo - hi  # O = floor((I + lo + hi - E) / s) + 1


def _kernel_and_input(
    draw, rank: int, spec: ConvSpec, max_kernel: int, max_side: int, budget: int | None
):
    """Kernel and input sizes per dim with an output of at least 1: the input is drawn from the
    smallest size that fits the dilated kernel in the padded input (``I + lo + hi >= E``) up to
    ``max_side``; where pads do not grow with the kernel, K is capped so that size exists. A
    "reflect" padding_mode raises the smallest size above the largest pad, "circular" to it
    (`convgrad.spec.check_padding_mode`).

    budget: the most ``prod(K) * prod(O)`` may reach (None: no limit); each dim's kernel and
    input are capped by what the earlier dims left (never below the smallest valid size)."""
    resolved_pads = spec.padding if spec.mode == "explicit" else ((0, 0),) * rank
    grows = spec.mode in ("same", "same_lower", "full")
    kernel, spatial = [], []
    for (lo, hi), d, s in zip(resolved_pads, spec.dilation, spec.stride, strict=True):
        # Pads that grow with the kernel make the padded input as long as the dilated kernel:
        # capped at MAX_EXTENT (a huge dilation meets a kernel of 1).
        reach = MAX_EXTENT - 2 if grows else max_side + lo + hi - 1
        cap = min(max_kernel, reach // d + 1)
        if budget is not None:
            cap = max(1, min(cap, budget))
        k = draw(st.integers(1, cap))
        smallest = 1 if grows else max(1, d * (k - 1) + 1 - lo - hi)
        if spec.padding_mode in ("reflect", "circular"):
            fits = _largest_pad(spec, lo, hi, k, d) + (spec.padding_mode == "reflect")
            smallest = max(smallest, fits)
        largest = max_side
        if budget is not None:
            budget = max(1, budget // k)
            e = d * (k - 1) + 1
            largest = min(largest, _largest_input(spec.mode, budget, e, s, lo, hi))
        kernel.append(k)
        spatial.append(draw(st.integers(smallest, max(smallest, largest))))
        if budget is not None:
            budget = max(1, budget // _output_size(spec.mode, spatial[-1], e, s, lo, hi))
    return tuple(kernel), tuple(spatial)


def _elements(dtype: str, data: str, span: tuple[int, int] | None = None) -> st.SearchStrategy:
    if data == "integer":
        return st.integers(*(span or (-_INT_BOUND, _INT_BOUND)))
    if dtype == "object":
        return st.fractions(-1, 1, max_denominator=_MAX_DENOMINATOR)
    width = np.dtype(dtype).itemsize * 8
    return st.floats(-1, 1, width=width, allow_subnormal=False)


def _array(
    draw, dtype: str, data: str, shape: tuple[int, ...], span: tuple[int, int] | None = None
) -> np.ndarray:
    array_dtype = object if dtype == "object" else np.dtype(dtype)
    return draw(hnp.arrays(array_dtype, shape, elements=_elements(dtype, data, span)))


def conv_problems(
    *,
    ndim: int | Sequence[int] = _SPACE["ndim"],
    padding: str | Sequence[str] = _SPACE["padding"],
    stride: int | Sequence[int] = _SPACE["stride"],
    dilation: int | Sequence[int] = _SPACE["dilation"],
    groups: int | str | Sequence[int | str] = _SPACE["groups"],
    flip: bool | Sequence[bool] = _SPACE["flip"],
    dtype: str | Sequence[str] = _SPACE["dtype"],
    data: str | Sequence[str] = _SPACE["data"],
    bias: bool | Sequence[bool] = _SPACE["bias"],
    max_batch: int = 2,
    max_channels: int = 4,
    max_kernel: int = 4,
    max_side: int = 10,
    padding_mode: str | Sequence[str] = _SPACE["padding_mode"],
    max_cost: int | None = None,
    accumulate: str | None = None,
) -> st.SearchStrategy[ConvProblem]:
    """Strategy for complete, consistent `convgrad.ConvProblem` values.

    x: (N, C_in, *S), w: (C_out, C_in // groups, *K), b: (C_out,) or None, grad_y: (N, C_out, *O)
    with O the forward output's size, all of one dtype. Each argument takes one value or a
    tuple; the first value of each is preferred when shrinking, so failures shrink to the
    smallest layer. The defaults are `convgrad.verification.space.DEFAULT_SPACE`, the space
    `convgrad.verify` draws from; pass e.g. ``ndim=(1, 2, 3), padding=PADDINGS,
    flip=(False, True)`` for all of it.

    Args:
        ndim: spatial dims (1, 2, 3).
        padding: entries of `PADDINGS` ("valid", "same", "same_lower", "full", "explicit";
            explicit pads are drawn per dim, asymmetric included).
        stride: strides >= 1.
        dilation: dilations >= 1.
        groups: group counts >= 1, C_in and C_out drawn as multiples; or "depthwise":
            groups = C_in, C_out = multiplier * C_in (C_in and the multiplier drawn from 1,
            output channel c * multiplier + m filtering input channel c:
            `convgrad.shapes.depthwise_groups`); the problem's spec holds the number.
        flip: False (cross-correlation) and/or True (true convolution).
        dtype: entries of `DTYPES`.
        data: entries of `DATA_KINDS` ("integer": values in [-3, 3], exact in any correct
            float64 implementation; "real"; "real" is skipped for integer dtypes).
        bias: whether a bias is drawn.
        max_batch: ``1 <= N <= max_batch``.
        max_channels: C_in and C_out at most this.
        max_kernel: ``1 <= K <= max_kernel`` (odd and even).
        max_side: each input size from the smallest giving ``O = 1`` up to this, so strides
            and dilations that do not divide evenly occur (a "reflect" or "circular" pad may
            need a larger input, which is then drawn whatever max_side).
        max_cost: at most this many multiply-adds in the forward, ``N * C_out * (C_in / g) *
            prod(K) * prod(O)`` (None: no limit): kernel and input sizes, drawn last, are capped
            by what the batch and channels leave, so large channel counts come with small images
            and long sides with few channels; a problem exceeds it only where its smallest valid
            sizes do.
        padding_mode: entries of `convgrad.spec.PADDING_MODES` ("zeros", "reflect",
            "replicate", "circular"): what the pads hold.
        accumulate: for integer dtypes, the signed integer dtype the sums are carried in
            (`convgrad.verification.integers.check_accumulate`; required for int8, int16,
            int32 and uint8, optional for int64): integer data are then drawn in the dtype's
            range as far as every forward and gradient sum of |products| fits it
            (`convgrad.verification.integers.value_range`).

    Returns:
        A hypothesis strategy of `convgrad.ConvProblem`.

    Raises:
        TypeError, ValueError: before anything is drawn, for an argument of the wrong type or
            out of range (the message names it), as `conv_specs`.

    >>> conv_problems(ndim=1, padding="valid", dtype="int64").example()  # doctest: +SKIP
    ConvProblem(x=array([[[ 0, -3,  1]]]), w=array([[[2, 0]]]), b=None,
                grad_y=array([[[1, 1]]]), spec=ConvSpec(padding='valid', ...))
    """
    args = _spec_arguments(ndim, padding, stride, dilation, groups, flip, MAX_PAD, padding_mode)
    dtypes = _choices("dtype", dtype, _one_of(DTYPES))
    kinds = _choices("data", data, _one_of(DATA_KINDS))
    biases = _choices("bias", bias, _bool)
    max_batch = _check_size("max_batch", max_batch, 1)
    max_channels = _check_size("max_channels", max_channels, 1)
    max_kernel = _check_size("max_kernel", max_kernel, 1)
    max_side = _check_size("max_side", max_side, 1)
    if max_cost is not None:
        max_cost = _check_size("max_cost", max_cost, 1)
    counts = [g for g in args["groups"] if g != DEPTHWISE]
    if counts and max(counts) > max_channels:
        raise ValueError(
            f"groups={groups!r} allows {max(counts)} groups but max_channels="
            f"{max_channels}; every group needs at least one channel"
        )
    integers = [t for t in dtypes if t in INTEGER_DTYPES and (accumulate or t != "int64")]
    for name in integers:
        check_accumulate(name, accumulate)
    pairs = [(t, k) for t in dtypes for k in kinds if not (t in INTEGER_DTYPES and k == "real")]
    if not pairs:
        raise ValueError(
            f"dtype={dtype!r} with data={data!r}: integer dtypes hold only 'integer' data; add"
            " 'integer' to data or a float/object dtype"
        )

    @st.composite
    def problems(draw) -> ConvProblem:
        rank = draw(st.sampled_from(args["ndim"]))
        spec = draw(_spec_of_rank(rank, args))
        group = spec.groups
        batch = draw(st.integers(1, max_batch))
        if group == DEPTHWISE:
            c_in = draw(st.integers(1, max_channels))
            c_out = c_in * draw(st.integers(1, max_channels // c_in))
            spec = replace(spec, groups=c_in)
        else:
            c_in = group * draw(st.integers(1, max_channels // group))
            c_out = group * draw(st.integers(1, max_channels // group))
        g = spec.groups
        budget = None if max_cost is None else max(1, max_cost // (batch * c_out * (c_in // g)))
        kernel, spatial = _kernel_and_input(draw, rank, spec, max_kernel, max_side, budget)
        x_shape, w_shape = (batch, c_in, *spatial), (c_out, c_in // g, *kernel)
        resolved, dims = resolve(x_shape, w_shape, spec)
        dtype_name, kind = draw(st.sampled_from(pairs))
        with_bias = draw(st.sampled_from(biases))
        y_shape = (batch, c_out, *(a.output for a in dims))
        span = None
        if accumulate is not None and dtype_name in INTEGER_DTYPES:
            copies = fold_count(spec.padding_mode, resolved.padding, spatial)
            terms = products_per_output(x_shape, w_shape, y_shape, g, copies) + with_bias
            span = value_range(dtype_name, accumulate, terms)
        x = _array(draw, dtype_name, kind, x_shape, span)
        w = _array(draw, dtype_name, kind, w_shape, span)
        b = _array(draw, dtype_name, kind, (c_out,), span) if with_bias else None
        grad_y = _array(draw, dtype_name, kind, y_shape, span)
        return ConvProblem(x, w, b, grad_y, spec)

    return problems()


def transpose_problems(
    *,
    ndim: int | Sequence[int] = _SPACE["ndim"],
    padding: str | Sequence[str] = ("valid", "full", "explicit"),
    stride: int | Sequence[int] = (1, 2, 3),
    dilation: int | Sequence[int] = (1, 2),
    groups: int | Sequence[int] = (1, 2),
    dtype: str | Sequence[str] = "float64",
    data: str | Sequence[str] = _SPACE["data"],
) -> st.SearchStrategy:
    """Strategy for `convgrad.TransposeProblem` values: x ``(N, C_in, *S)``, w ``(C_in, C_out //
    groups, *K)``, grad_y of the transpose's output shape, a `convgrad.TransposeSpec`.

    A conv problem is drawn (`conv_problems` with these arguments, no flip, no bias) and
    presented as its transpose (`convgrad.verification.transposed.present_transpose`):
    output_padding is the rows the conv leaves unreached or, drawn, ``max(stride, dilation) -
    1`` (past the stride where the dilation is larger: the rows past every input's reach, which
    grad_y gets as drawn data); the spec carries its output_size or not, drawn. Shrinking
    prefers the unreached rows and no output_size.

    Args:
        ndim: spatial dims (1, 2, 3).
        padding: entries of `PADDINGS`, the conv's padding (the transpose takes its pads).
        stride: strides >= 1.
        dilation: dilations >= 1.
        groups: group counts >= 1 (or "depthwise", resolved to the drawn C_in).
        dtype: entries of `DTYPES`.
        data: entries of `DATA_KINDS`.

    Returns:
        A hypothesis strategy of `convgrad.TransposeProblem`.

    Raises:
        TypeError, ValueError: before anything is drawn, as `conv_problems` for the same
            arguments.

    >>> transpose_problems(ndim=1).example()  # doctest: +SKIP
    TransposeProblem(x=array([[[1., -2.]]]), w=array([[[0., 3.]]]), grad_y=..., spec=...)
    """
    convs = conv_problems(
        ndim=ndim,
        padding=padding,
        stride=stride,
        dilation=dilation,
        groups=groups,
        flip=False,
        dtype=dtype,
        data=data,
        bias=False,
    )

    @st.composite
    def problems(draw):
        conv = draw(convs)
        r = conv.resolved
        spec = present_transpose(
            r.padding,
            r.stride,
            r.dilation,
            r.groups,
            conv.x.shape[2:],
            conv.w.shape[2:],
            draw(st.booleans()),
            draw(st.booleans()),
        )
        x, w, a = conv.grad_y, conv.w, conv.x
        spatial = transpose_output_spatial(
            x.shape[2:], w.shape[2:], spec.padding, spec.stride, spec.dilation, spec.output_padding
        )
        out = (x.shape[0], w.shape[1] * spec.groups, *spatial)
        grad_y = a
        if out != a.shape:  # the rows past every input's reach: integer data, any dtype holds it
            grad_y = _array(draw, "object" if a.dtype == object else a.dtype.name, "integer", out)
            grad_y[(..., *(slice(0, n) for n in a.shape[2:]))] = a
        return TransposeProblem(x, w, grad_y, spec)

    return problems()
