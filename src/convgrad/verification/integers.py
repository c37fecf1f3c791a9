"""Integer data (quantized convolution): the accumulator rule, the value range that keeps every
exact sum inside the declared accumulator, and the results a wrong integer arithmetic gives.

A quantized kernel multiplies int8/int16/int32/int64 or uint8 operands and carries the sums in a
wider signed accumulator (int32 for int8 data: ONNX ``ConvInteger``, oneDNN's s8s8s32, TFLite's
int8 kernels before requantization). The result under test is those sums: every output is an
exact integer, so the comparison is equality with the exact reference (`convgrad.conv` computes
integer data in int64, or Python ints where int64 could overflow). The data are drawn so that
every sum of |products| of every output (forward and gradients) fits the accumulator: then no
summation order overflows, and a result that wraps is wrong.

Two wrong arithmetics are named (`integer_cause`): sums carried in a narrower integer type (the
result is the exact sums wrapped modulo ``2**bits``, whatever the summation order, since
wrapping is a ring homomorphism) and sums carried in floating point (the result lies within
float32's or float64's rounding bound of the exact sums).
"""

from __future__ import annotations

import math
from math import prod

import numpy as np

__all__ = [
    "ACCUMULATORS",
    "INTEGER_DTYPES",
    "check_accumulate",
    "integer_cause",
    "products_per_output",
    "value_range",
    "wrapped",
]

INTEGER_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
"""Integer data dtypes verify and the strategies draw (with a declared accumulator)."""

ACCUMULATORS = ("int8", "int16", "int32", "int64")
"""Accumulator dtypes: signed, at least as wide as the data (uint8 data: int16 or wider)."""


def check_accumulate(dtype: str, accumulate: object) -> str:
    """The accumulator's name for integer data of ``dtype``; ValueError when it is missing, not
    one of `ACCUMULATORS`, or cannot hold every value of ``dtype`` (narrower than the data)."""
    if accumulate is None:
        raise ValueError(
            f"dtype={dtype!r} needs accumulate=: the signed integer dtype the sums are carried"
            f" in, one of {ACCUMULATORS} and at least as wide as the data (e.g. dtype='int8',"
            " accumulate='int32')"
        )
    if not isinstance(accumulate, str) or accumulate not in ACCUMULATORS:
        raise ValueError(
            f"accumulate={accumulate!r} with integer data must be one of {ACCUMULATORS}"
        )
    if not np.can_cast(dtype, accumulate, "safe"):
        raise ValueError(
            f"accumulate={accumulate!r} is narrower than dtype={dtype!r}: the accumulator must"
            f" hold every {dtype} value (use {_widest_needed(dtype)!r} or wider)"
        )
    return accumulate


def _widest_needed(dtype: str) -> str:
    return next(a for a in ACCUMULATORS if np.can_cast(dtype, a, "safe"))


def products_per_output(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    y_shape: tuple[int, ...],
    groups: int,
    copies: int = 1,
) -> int:
    """The most products any output sums: the forward ``C_in/g * prod(K)``, grad_input
    ``C_out/g * prod(K) * copies`` (copies: input elements a padding mode copies into the pads)
    and grad_weight ``N * prod(O)``."""
    kernel = prod(w_shape[2:])
    return max(
        w_shape[1] * kernel,
        (w_shape[0] // groups) * kernel * copies,
        x_shape[0] * prod(y_shape[2:]),
    )


def value_range(dtype: str, accumulate: str, terms: int) -> tuple[int, int]:
    """(lo, hi): the widest range of ``dtype`` values whose products, ``terms`` of them in a
    sum, fit ``accumulate``: ``max(|lo|, hi)**2 * terms <= iinfo(accumulate).max``; the whole
    type's range when it fits. Every partial sum of every output then fits too (each is at
    most the sum of |products|)."""
    info, limit = np.iinfo(dtype), np.iinfo(accumulate).max
    largest = math.isqrt(limit // max(terms, 1))
    return max(int(info.min), -largest), min(int(info.max), largest)


def wrapped(values: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """``values`` (integers) reduced modulo ``2**bits`` into the signed or unsigned range of a
    ``bits``-wide integer, as Python ints: what an accumulator of that width holds."""
    modulus = 1 << bits
    offset = modulus >> 1 if signed else 0
    exact = np.asarray(values).astype(object)
    return (exact + offset) % modulus - offset


def _narrower_accumulator(got: np.ndarray, expected: np.ndarray) -> str | None:
    """The narrowest integer type whose wrap of ``expected`` is ``got`` and differs from it."""
    got = got.astype(object)
    for bits in (8, 16, 32, 64):
        for signed in (True, False):
            wrap = wrapped(expected, bits, signed)
            if np.array_equal(wrap, got) and not np.array_equal(wrap, expected):
                name = f"{'' if signed else 'u'}int{bits}"
                return (
                    f"accumulated in {name}: the exact sums wrap modulo 2**{bits} (the result is"
                    f" the exact sums reduced to {name}'s range); carry the sums in the declared"
                    " accumulator and widen each product before adding it"
                )
    return None


def _other_signedness(dtype: np.dtype) -> np.dtype | None:
    """The integer dtype of the same width and the other signedness (int8 <-> uint8)."""
    if dtype.kind not in "iu":
        return None
    return np.dtype(f"{'u' if dtype.kind == 'i' else ''}int{dtype.itemsize * 8}")


def _signedness_slip(problem, output: str, got: np.ndarray, compute) -> str | None:
    """The operand whose bits read as the other signedness (uint8 as int8: values >= 128 turn
    negative) give ``got``."""
    other = _other_signedness(problem.x.dtype)
    if other is None:
        return None
    operands = {"x": problem.x, "w": problem.w, "grad_y": problem.grad_y}
    for name, a in operands.items():
        if output == "forward" and name == "grad_y":
            continue
        slipped = {**operands, name: a.view(other)}
        if np.array_equal(compute(**slipped), got.astype(object)):
            return (
                f"{name} was read as {other.name} instead of {problem.x.dtype.name} (the same"
                f" bits, the other signedness: a signedness slip in the quantized kernel)"
            )
    return None


def integer_cause(problem, output: str, got: np.ndarray, expected: np.ndarray) -> str | None:
    """Why ``got`` (the user's integer ``output``) differs from the exact ``expected``: an
    operand read with the other signedness, a wrapping narrower accumulator (on a problem too
    small to tell them apart, both are named), or float32/float64 arithmetic (within its
    rounding bound of the exact sums); None when nothing explains it."""
    from convgrad.reference import conv, conv_backward
    from convgrad.verification.bounds import Precision, forward_bound, gradient_bounds

    if got.shape != expected.shape or got.dtype.kind not in "iuf":
        return None
    kw = problem.kwargs
    index = ("forward", "grad_input", "grad_weight", "grad_bias").index(output)

    def compute(x, w, grad_y):
        if index == 0:
            return conv(x, w, **kw).astype(object)
        return conv_backward(x, w, grad_y, **kw)[index - 1].astype(object)

    if got.dtype.kind in "iu":
        causes = [
            cause
            for cause in (
                _signedness_slip(problem, output, got, compute),
                _narrower_accumulator(got, expected),
            )
            if cause
        ]
        if causes:
            return "; or ".join(causes)
    x, w, gy = (np.asarray(a, np.float64) for a in (problem.x, problem.w, problem.grad_y))
    for dtype in ("float32", "float64"):
        precision = Precision(dtype)
        reference = np.asarray(expected, np.float64)
        if index == 0:
            bound = forward_bound(x, w, reference, precision=precision, **kw)
        else:
            grads = conv_backward(x, w, gy, **kw)
            bound = gradient_bounds(x, w, gy, grads, precision=precision, **kw)[index - 1]
        if np.all(np.abs(got.astype(np.float64) - reference) <= bound):
            return (
                f"computed in {dtype}: the result is within {dtype}'s rounding of the exact"
                f" sums ({dtype} holds integers exactly only up to 2**"
                f"{np.finfo(dtype).nmant + 1}); carry integer data in an integer accumulator"
            )
    return None
