"""The oracle's public functions: `conv`, `conv_backward`, `conv_transpose`,
`conv_transpose_backward`.

Every argument is validated before any arithmetic; the caller's arrays are never modified.
Float operands are computed in float64 (the result is float64 whatever the input dtype); integer
and object (int / Fraction) operands exactly (int64 where nothing can overflow, Python ints
otherwise). ``method`` picks the arithmetic: "direct" (the definition, `direct.py`), "fast"
(column blocks and BLAS, `fast.py`) or "auto" (fast, except for object arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from math import prod
from typing import NamedTuple

import numpy as np

from convgrad.reference import direct, fast
from convgrad.reference import operands as _operands
from convgrad.reference import padding as _padding
from convgrad.shapes import (
    check_channels,
    check_output_padding,
    groups_of,
    output_sizes,
    transpose_as_conv,
    transpose_output_size,
)
from convgrad.spec import DEPTHWISE, ConvSpec, ResolvedSpec, per_dim_ints

METHODS = ("auto", "direct", "fast")


class Grads(NamedTuple):
    """Gradients of ``L = sum(grad_y * y)``.

    input: (N, C_in, *S) like x; weight: (C_out, C_in // groups, *K) like w;
    bias: (C_out,) — grad_y summed over the batch and every spatial dim (computed whether or not
    the layer has a bias: it is the gradient the bias would get).
    """

    input: np.ndarray
    weight: np.ndarray
    bias: np.ndarray


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {METHODS}")


def _arithmetic(method: str, arrays: dict[str, np.ndarray], arithmetic: str):
    _check_method(method)
    uses_objects = arithmetic == "exact" and any(a.dtype.kind == "O" for a in arrays.values())
    if method == "fast" and uses_objects:
        raise ValueError("method='fast' cannot compute object arrays; use 'direct' or 'auto'")
    return direct if method == "direct" or uses_objects else fast


def _operand(name: str, array: np.ndarray, ndim: int | None = None) -> None:
    if ndim is None and array.ndim not in (3, 4, 5):
        raise ValueError(
            f"{name} has shape {array.shape} ({array.ndim} dims); expected (N, C, *spatial) with"
            " 1, 2 or 3 spatial dims"
        )
    if ndim is not None and array.ndim != ndim:
        raise ValueError(
            f"{name} has shape {array.shape} ({array.ndim} dims); expected {ndim} dims, as x has"
        )
    if 0 in array.shape:
        raise ValueError(f"{name} has shape {array.shape}; every size must be >= 1")


def _check_bias(b: np.ndarray | None, c_out: int) -> None:
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"b has shape {b.shape}; expected (C_out,) = ({c_out},)")


@lru_cache(maxsize=256)
def _resolve(
    spec: ConvSpec, x_shape: tuple[int, ...], w_shape: tuple[int, ...]
) -> tuple[ResolvedSpec, tuple[int, ...]]:
    """The resolved spec the arithmetic computes with (`_within_reach`) and the output's
    spatial sizes; ValueError where the channels or sizes do not agree with the spec, or the
    output or padded input would be too large for an array.

    `_operand` has already checked what `convgrad.shapes.resolve` would check of the shapes
    (rank, sizes >= 1; a NumPy shape holds ints). Cached: a function of the validated spec (all
    of whose fields are normalised to str, int, bool and tuples, so equal specs resolve alike)
    and two shapes, never of array contents, and a layer is called with the same shapes again
    and again (training loops, finite differences, verify's checks of one problem). On a
    1x2x5x5 layer it saves about 15 of conv + conv_backward's 105 us (2 cores, measured with
    the cache cleared before every call against without). Errors are not cached.
    """
    check_channels(x_shape[1], w_shape, groups_of(spec, x_shape[1], w_shape))
    resolved = spec.resolve(x_shape[2:], w_shape[2:], channels=x_shape[1])
    out_spatial = output_sizes(x_shape, w_shape, resolved)
    _check_size("y", (x_shape[0], w_shape[0], *out_spatial))
    padded = direct.padded_sizes(x_shape[2:], resolved.padding)
    _check_size("the padded x", (*x_shape[:2], *padded))
    return _within_reach(resolved, padded, w_shape[2:]), out_spatial


_MAX_ELEMENTS = np.iinfo(np.intp).max // 8
"""The most elements an array of 8-byte items (float64, int64, object pointers) can hold."""


def _check_size(name: str, shape: tuple[int, ...]) -> None:
    if prod(shape) > _MAX_ELEMENTS:
        raise ValueError(
            f"{name} would have shape {shape} ({prod(shape)} elements), more than an array can"
            " hold; the padding or stride is too large for these sizes"
        )


def _within_reach(
    resolved: ResolvedSpec, padded: tuple[int, ...], kernel_spatial: tuple[int, ...]
) -> ResolvedSpec:
    """The spec the arithmetic computes with, for the padded input's spatial sizes ``padded``.

    A stride beyond the padded input ``P = S + lo + hi`` leaves one output row, the same as
    stride ``P`` does, and a kernel of size 1 makes the dilation irrelevant; both are brought
    within reach so the arithmetic's array strides stay in int64 (stride 10**30 has an answer).
    """
    stride = tuple(min(s, p) for s, p in zip(resolved.stride, padded, strict=True))
    dilation = tuple(
        1 if k == 1 else d for d, k in zip(resolved.dilation, kernel_spatial, strict=True)
    )
    if stride == resolved.stride and dilation == resolved.dilation:
        return resolved
    return replace(resolved, stride=stride, dilation=dilation)


def _prepare(x, w, b, extra: dict, spec: ConvSpec):
    """Validated arrays, their arithmetic, the resolved spec and the output's spatial sizes."""
    arrays, arithmetic = _operands.as_arrays({"x": x, "w": w, "b": b, **extra})
    x_shape, w_shape = arrays["x"].shape, arrays["w"].shape
    _operand("x", arrays["x"])
    _operand("w", arrays["w"], len(x_shape))
    resolved, out_spatial = _resolve(spec, x_shape, w_shape)
    _check_bias(arrays.get("b"), w_shape[0])
    return arrays, arithmetic, resolved, out_spatial


def _compute_dtype(arithmetic: str, products, addends=(), sums=()) -> np.dtype | type:
    if arithmetic == "float":
        return np.dtype(np.float64)
    return _operands.exact_dtype(products, addends, sums)


def _flipped(w: np.ndarray) -> np.ndarray:
    """The kernel rotated 180° in every spatial dim (true convolution)."""
    return w[(slice(None), slice(None), *(slice(None, None, -1),) * (w.ndim - 2))]


def _unpadded(resolved: ResolvedSpec) -> ResolvedSpec:
    """The spec of the valid convolution of an input whose pads ``padding_mode`` has filled."""
    return replace(resolved, mode="valid", padding=((0, 0),) * resolved.ndim, padding_mode="zeros")


def _add_bias(y: np.ndarray, b: np.ndarray | None, dtype) -> np.ndarray:
    if b is None:
        return y
    arithmetic = "float" if y.dtype == np.float64 else "exact"
    return y + _operands.cast(b, arithmetic, dtype).reshape((1, -1) + (1,) * (y.ndim - 2))


def conv(
    x,
    w,
    b=None,
    *,
    padding="valid",
    stride=1,
    dilation=1,
    groups: int | str = 1,
    flip: bool = False,
    padding_mode: str = "zeros",
    method: str = "auto",
) -> np.ndarray:
    """The convolution layer's output.

    Args:
        x: the input, ``(N, C_in, *S)``, 1 to 3 spatial dims.
        w: the kernel, ``(C_out, C_in // groups, *K)``.
        b: the bias, ``(C_out,)``, or None.
        padding: "valid", "same", "same_lower", "full", an int, one int per spatial dim, or
            one ``(lo, hi)`` pair per spatial dim (`convgrad.ConvSpec`; docs/design.md).
        stride: an int >= 1 or one per spatial dim.
        dilation: an int >= 1 or one per spatial dim.
        groups: C_in and C_out must both be divisible by it; "depthwise": groups = C_in, w
            ``(multiplier * C_in, 1, *K)`` (output channel c * multiplier + m filters input
            channel c, as torch and ``tf.nn.depthwise_conv2d``).
        flip: False for cross-correlation (as torch.nn.functional.conv2d), True for true
            convolution (the kernel rotated 180°, as scipy.signal.convolve).
        padding_mode: what the pads hold: "zeros", "reflect", "replicate" or "circular"
            (torch.nn.Conv2d(padding_mode=...); `convgrad.reference.padding`).
        method: "auto", "direct" (the definition by summation) or "fast" (blocks and BLAS).

    Returns:
        y: ``(N, C_out, *O)``, ``O = floor((S + lo + hi - d*(K-1) - 1) / s) + 1``; float64 for
        float inputs, exact (int64 or Python objects) for integer and object inputs.

    Raises:
        TypeError: an operand that is not array-like, mixed float dtypes, a bad argument type.
        ValueError: wrong ranks or channel counts, an empty output (``O < 1``), a kernel larger
            than a ``valid`` input, non-positive stride or dilation, negative pads, a
            padding_mode that cannot fill the pads (a reflect pad not smaller than the input
            side, a circular pad larger than it).

    >>> conv(np.ones((1, 1, 5)), np.ones((1, 1, 3))).tolist()
    [[[3.0, 3.0, 3.0]]]
    """
    spec = ConvSpec(padding, stride, dilation, groups, flip, padding_mode)
    arrays, arithmetic, resolved, out_spatial = _prepare(x, w, b, {}, spec)
    x, w, b = arrays["x"], arrays["w"], arrays.get("b")
    terms = w.shape[1] * prod(w.shape[2:])
    dtype = _compute_dtype(arithmetic, [(x, w, terms)], () if b is None else (b,))
    impl = _arithmetic(method, arrays, arithmetic)
    xc, wc = _operands.cast(x, arithmetic, dtype), _operands.cast(w, arithmetic, dtype)
    if flip:
        wc = _flipped(wc)
    if padding_mode != "zeros":
        xc, resolved = _padding.pad(xc, resolved.padding, padding_mode), _unpadded(resolved)
    y = impl.forward(xc, wc, resolved, out_spatial)
    return _add_bias(y, b, dtype)


def conv_backward(
    x,
    w,
    grad_y,
    *,
    b=None,
    padding="valid",
    stride=1,
    dilation=1,
    groups: int | str = 1,
    flip: bool = False,
    padding_mode: str = "zeros",
    method: str = "auto",
) -> Grads:
    """Gradients of ``L = sum(grad_y * conv(x, w, b, ...))`` with respect to x, w and b.

    grad_input is the transposed convolution of grad_y (`conv_transpose`); grad_weight is the
    valid correlation of the padded x with the stride-dilated grad_y (rotated back when
    ``flip``); grad_bias sums grad_y over batch and space. With a padding_mode other than
    "zeros", grad_input is the gradient of the padded input folded back onto x (each pad's
    gradient added to the element it copies, `convgrad.reference.padding.fold`) and
    grad_weight correlates the filled padded x.

    Args:
        x: the forward's input, ``(N, C_in, *S)``.
        w: the forward's kernel, ``(C_out, C_in // groups, *K)``.
        grad_y: dL/dy, exactly the forward output's shape ``(N, C_out, *O)``.
        b: the forward's bias, ``(C_out,)``, or None (only its shape is checked).
        padding: "valid", "same", "same_lower", "full", an int, one int per spatial dim, or
            one ``(lo, hi)`` pair per spatial dim (`convgrad.ConvSpec`; docs/design.md).
        stride: an int >= 1 or one per spatial dim.
        dilation: an int >= 1 or one per spatial dim.
        groups: C_in and C_out must both be divisible by it; "depthwise": groups = C_in, w
            ``(multiplier * C_in, 1, *K)`` (output channel c * multiplier + m filters input
            channel c, as torch and ``tf.nn.depthwise_conv2d``).
        flip: False for cross-correlation (as torch.nn.functional.conv2d), True for true
            convolution (the kernel rotated 180°, as scipy.signal.convolve).
        padding_mode: "zeros", "reflect", "replicate" or "circular", as `conv`.
        method: "auto", "direct" (the definition by summation) or "fast" (blocks and BLAS).

    Returns:
        `Grads` ``(input, weight, bias)``: shapes ``(N, C_in, *S)``, ``(C_out, C_in // groups,
        *K)`` and ``(C_out,)``; float64 for float inputs, exact for integer and object inputs.

    Raises:
        TypeError: as `conv`.
        ValueError: as `conv`, and a grad_y whose shape is not the forward output's.
    """
    spec = ConvSpec(padding, stride, dilation, groups, flip, padding_mode)
    arrays, arithmetic, resolved, out_spatial = _prepare(x, w, b, {"grad_y": grad_y}, spec)
    x, w, gy = arrays["x"], arrays["w"], arrays["grad_y"]
    expected = (x.shape[0], w.shape[0], *out_spatial)
    if gy.shape != expected:
        raise ValueError(
            f"grad_y has shape {gy.shape}; it must have the forward output's shape {expected}"
        )
    per_weight = x.shape[0] * prod(expected[2:])
    copies = _padding.fold_count(padding_mode, resolved.padding, x.shape[2:])
    dtype = _compute_dtype(
        arithmetic,
        [
            (gy, w, (w.shape[0] // resolved.groups) * prod(w.shape[2:]) * copies),
            (x, gy, per_weight),
        ],
        sums=((gy, per_weight),),
    )
    impl = _arithmetic(method, arrays, arithmetic)
    xc, wc, gyc = [_operands.cast(a, arithmetic, dtype) for a in (x, w, gy)]
    if flip:
        wc = _flipped(wc)
    if padding_mode == "zeros":
        grad_x = impl.grad_input(gyc, wc, resolved, x.shape[2:])
    else:
        pads, resolved = resolved.padding, _unpadded(resolved)
        xc = _padding.pad(xc, pads, padding_mode)
        grad_x = _padding.fold(impl.grad_input(gyc, wc, resolved, xc.shape[2:]), pads, padding_mode)
    grad_w = impl.grad_weight(xc, gyc, resolved, w.shape[2:])
    return Grads(grad_x, _flipped(grad_w) if flip else grad_w, direct.grad_bias(gyc))


def _transpose_spec(
    spec: ConvSpec, output_padding, x_spatial, kernel_spatial
) -> tuple[ResolvedSpec, tuple[int, ...], tuple[int, ...]]:
    """The resolved spec of the conv this transposes, the spatial size it computes, and the
    zero rows appended after it (the transposed output's size is their sum)."""
    resolved = spec.resolve(x_spatial, kernel_spatial)
    if spec.mode in ("same", "same_lower") and any(s != 1 for s in resolved.stride):
        raise ValueError(
            f"padding={spec.mode!r} with stride={spec.stride!r}: the pads of 'same' depend on the"
            " forward input's size, which a strided transposed convolution does not fix; pass"
            " explicit pads (ConvSpec(...).resolve(input_spatial, kernel_spatial).padding)"
        )
    extra = check_output_padding(output_padding, resolved.stride, resolved.dilation)
    out_spatial = tuple(
        transpose_output_size(i, k, lo, hi, s, d, op)
        for i, k, (lo, hi), s, d, op in zip(
            x_spatial,
            kernel_spatial,
            resolved.padding,
            resolved.stride,
            resolved.dilation,
            extra,
            strict=True,
        )
    )
    for j, size in enumerate(out_spatial):
        if size < 1:
            raise ValueError(
                f"padding={spec.padding!r} crops the transposed output to {size} along spatial"
                f" dim {j}; it must be >= 1"
            )
    # The conv this is the adjoint of (shapes.transpose_as_conv): it leaves fewer than s rows
    # unreached, as every conv does; the tail past every input's reach is zeros, added after.
    adjoint = [
        transpose_as_conv(lo, hi, s, op)
        for (lo, hi), s, op in zip(resolved.padding, resolved.stride, extra, strict=True)
    ]
    pads = tuple((lo, hi_c) for (lo, _), (hi_c, _) in zip(resolved.padding, adjoint, strict=True))
    tails = tuple(tail for _, tail in adjoint)
    computed = tuple(size - tail for size, tail in zip(out_spatial, tails, strict=True))
    resolved = replace(resolved, padding=pads)
    reach = _within_reach(resolved, direct.padded_sizes(computed, resolved.padding), kernel_spatial)
    return reach, computed, tails


def _transpose_operands(x, w, b, spec: ConvSpec, output_padding):
    """conv_transpose's operands checked: (arrays, arithmetic, the resolved spec, the computed
    spatial size and the zero rows after it as `_transpose_spec`, the output shape
    ``(N, C_in, *O_t)``). Raises as `conv_transpose`."""
    if spec.groups == DEPTHWISE:
        raise ValueError(
            f"conv_transpose: groups={DEPTHWISE!r} does not fix the conv's C_in (w.shape[1] is 1"
            " for every channel multiplier); pass its group count, C_in"
        )
    arrays, arithmetic = _operands.as_arrays({"x": x, "w": w, "b": b})
    x, w, b = arrays["x"], arrays["w"], arrays.get("b")
    _operand("x", x)
    _operand("w", w, x.ndim)
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x has {x.shape[1]} channels but w.shape[0] = {w.shape[0]}; conv_transpose takes the"
            " conv's weight (C_out, C_in // groups, *K) and an input with C_out channels"
        )
    c_in = w.shape[1] * spec.groups
    check_channels(c_in, w.shape, spec.groups)
    resolved, computed, tails = _transpose_spec(spec, output_padding, x.shape[2:], w.shape[2:])
    out_shape = (x.shape[0], c_in, *(c + t for c, t in zip(computed, tails, strict=True)))
    _check_size("y", out_shape)
    _check_bias(b, c_in)
    return arrays, arithmetic, resolved, computed, tails, out_shape


def conv_transpose(
    x,
    w,
    b=None,
    *,
    padding=0,
    stride=1,
    dilation=1,
    groups: int = 1,
    output_padding: int | Sequence[int] = 0,
    method: str = "auto",
) -> np.ndarray:
    """Transposed convolution: the adjoint of `conv` with respect to its input.

    ``conv_transpose(grad_y, w, padding=p, ...)`` equals ``conv_backward(x, w, grad_y,
    padding=p, ...).input`` when output_padding is the rows the forward left unreached.

    Args:
        x: ``(N, C_out, *I_t)``, a conv's output layout.
        w: ``(C_out, C_in // groups, *K)``, the same weight as the conv (which is
            torch.nn.functional.conv_transpose's layout).
        b: ``(C_in,)`` or None.
        padding: the pads of the conv this transposes: explicit pads, "valid" or "full";
            "same"/"same_lower" only with stride 1.
        stride: an int >= 1 or one per spatial dim.
        dilation: an int >= 1 or one per spatial dim.
        groups: C_in and C_out must both be divisible by it.
        output_padding: rows added at the end of each spatial dim, each smaller than that dim's
            stride or dilation (as torch.nn.ConvTranspose).
        method: "auto", "direct" or "fast".

    Returns:
        ``(N, C_in, *O_t)``, ``O_t = (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1``.

    Raises:
        TypeError: as `conv`.
        ValueError: as `conv`; x's channels not w.shape[0]; output_padding too large; a
            strided "same"; pads that crop the output to nothing.
    """
    arrays, arithmetic, resolved, computed, tails, _ = _transpose_operands(
        x, w, b, ConvSpec(padding, stride, dilation, groups), output_padding
    )
    x, w, b = arrays["x"], arrays["w"], arrays.get("b")
    terms = (w.shape[0] // groups) * prod(w.shape[2:])
    dtype = _compute_dtype(arithmetic, [(x, w, terms)], () if b is None else (b,))
    impl = _arithmetic(method, arrays, arithmetic)
    y = impl.grad_input(
        _operands.cast(x, arithmetic, dtype),
        _operands.cast(w, arithmetic, dtype),
        resolved,
        computed,
    )
    if any(tails):
        y = np.pad(y, [(0, 0), (0, 0), *((0, t) for t in tails)])
    return _add_bias(y, b, dtype)


def conv_transpose_backward(
    x,
    w,
    grad_y,
    *,
    padding=0,
    stride=1,
    dilation=1,
    groups: int = 1,
    output_padding: int | Sequence[int] = 0,
    method: str = "auto",
) -> Grads:
    """Gradients of ``L = sum(grad_y * conv_transpose(x, w, b, ...))`` for x, w and b.

    The transpose T is the adjoint of the conv C with pads ``(lo, hi_c)``
    (`convgrad.shapes.transpose_as_conv`) on grad_y without its last ``tail`` rows (T's rows
    past every input's reach): grad_input is ``C(grad_y)``, grad_weight is C's weight gradient
    with input grad_y and output gradient x, grad_bias sums grad_y over batch and space.

    Args:
        x, w, padding, stride, dilation, groups, output_padding, method: as `conv_transpose`
            (x ``(N, C_out, *I_t)``, w ``(C_out, C_in // groups, *K)``).
        grad_y: dL/dy, exactly the transpose's output shape ``(N, C_in, *O_t)``.

    Returns:
        `Grads` ``(input, weight, bias)``: shapes ``(N, C_out, *I_t)``, w's and ``(C_in,)``.

    Raises:
        TypeError, ValueError: as `conv_transpose`; grad_y not of the transpose's output shape.

    >>> g = conv_transpose_backward(np.ones((1, 1, 2)), np.ones((1, 1, 3)), np.ones((1, 1, 7)),
    ...                             dilation=2, output_padding=1)
    >>> g.input.tolist(), g.weight.tolist(), g.bias.tolist()
    ([[[3.0, 3.0]]], [[[2.0, 2.0, 2.0]]], [7.0])
    """
    # The forward's checks and output shape, without computing the forward.
    *_, expected = _transpose_operands(
        x, w, None, ConvSpec(padding, stride, dilation, groups), output_padding
    )
    _check_method(method)
    gy = np.asarray(grad_y)
    if gy.shape != expected:
        raise ValueError(
            f"grad_y has shape {gy.shape}; it must have the transpose's output shape"
            f" {expected} (O_t = (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1)"
        )
    x_spatial = np.shape(x)[2:]
    resolved = ConvSpec(padding, stride, dilation, groups).resolve(expected[2:], np.shape(w)[2:])
    extra = per_dim_ints("output_padding", output_padding, len(x_spatial), 0)
    pads, crop = [], []
    for (lo, hi), s, op, n in zip(
        resolved.padding, resolved.stride, extra, gy.shape[2:], strict=True
    ):
        hi_c, tail = transpose_as_conv(lo, hi, s, op)
        pads.append((lo, hi_c))
        crop.append(slice(0, n - tail))
    kw = {"padding": tuple(pads), "stride": stride, "dilation": dilation, "groups": groups}
    a = gy[(..., *crop)]
    # grad_y's per-channel sum, with conv_backward's dtype rules: a 1x1 conv's bias gradient
    ones = (1,) * len(x_spatial)
    carrier = np.zeros((gy.shape[1], 1, *ones), dtype=gy.dtype)
    bias = conv_backward(np.zeros_like(gy[:, :1]), carrier, gy, method=method).bias
    return Grads(
        conv(a, w, method=method, **kw), conv_backward(a, w, x, method=method, **kw).weight, bias
    )


__all__ = ["Grads", "conv", "conv_backward", "conv_transpose", "conv_transpose_backward"]
