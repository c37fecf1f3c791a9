"""Deterministic data and exact expected values for one conformance case.

Data come from SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014) seeded by SHA-256 of ``"<case id>/<array name>"``: a few lines of
integer arithmetic whose stream no library upgrade can change (NumPy's `Generator` promises no
stream compatibility across versions, NEP 19).

- ``exact`` cases: integers in [-3, 3]. Expected values are computed in int64 by the oracle and
  stored as float64; every partial sum of every output is an integer below 2**53 (checked), so
  any summation order in float64 reproduces them bit for bit.
- ``float`` cases: multiples of 2**-52 in [-1, 1). Expected values are the exact results
  (computed in Python integers by the oracle) rounded to nearest float64. Beside each output
  ``<name>_bound`` holds ``gamma_{n+1} * A`` rounded up, where A is the output's absolute-value
  operator (``|x| conv |w| + |b|``, ``conv_backward(|x|, |w|, |grad_y|)``), ``n`` the number of
  terms each element sums and ``gamma_m = m*u / (1 - m*u)``, ``u = 2**-53`` (Higham, *Accuracy
  and Stability of Numerical Algorithms*, 2nd ed., eq. 3.5). Any float64 implementation that
  sums the n products in any order is within ``gamma_n * A`` of the exact result; one more
  ``u * A`` covers the rounding of the stored expected value, hence ``n + 1``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from math import nextafter, prod

import numpy as np

from convgrad.reference import conv, conv_backward, conv_transpose
from convgrad.reference.padding import fold_count
from convgrad.vectors.cases import Case, conv_shapes, resolved_spec
from convgrad.verification.bounds import forward_terms, gradient_terms

INPUTS = ("x", "w", "b", "grad_y")
OUTPUTS = ("y", "grad_input", "grad_weight", "grad_bias")
_MASK64 = (1 << 64) - 1
_FLOAT_SCALE_BITS = 52
_EXACT_LIMIT = 1 << 53
_INT_RANGE = 3


def _splitmix64(seed: int) -> Iterator[int]:
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        yield z ^ (z >> 31)


def _draw_integers(case_id: str, name: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """int64 array: values in [-3, 3] (exact) or multiples of 2**-52 in [-1, 1) scaled by 2**52
    (float)."""
    seed = int.from_bytes(hashlib.sha256(f"{case_id}/{name}".encode()).digest()[:8], "little")
    stream = _splitmix64(seed)
    if kind == "exact":
        values = [next(stream) % (2 * _INT_RANGE + 1) - _INT_RANGE for _ in range(prod(shape))]
    else:
        half = 1 << _FLOAT_SCALE_BITS
        values = [(next(stream) >> 11) - half for _ in range(prod(shape))]
    return np.array(values, dtype=np.int64).reshape(shape)


def _gamma_bound(terms: int, absolute: np.ndarray, scale_bits: int) -> np.ndarray:
    """``gamma_terms * absolute / 2**scale_bits`` elementwise, rounded up to float64.

    gamma_m = m*u/(1-m*u) with u = 2**-53 is m / (2**53 - m); the product is a ratio of Python
    ints, converted with correct rounding and then moved up one ulp when it fell below.
    """
    denominator = ((1 << 53) - terms) << scale_bits
    out = np.empty(absolute.shape, dtype=np.float64)
    for index, value in np.ndenumerate(absolute):
        numerator = terms * int(value)
        bound = numerator / denominator
        ratio = bound.as_integer_ratio()
        if ratio[0] * denominator < numerator * ratio[1]:
            bound = nextafter(bound, float("inf"))
        out[index] = bound
    return out


def _rounded(values: np.ndarray, scale_bits: int) -> np.ndarray:
    """Python-int array / 2**scale_bits, each correctly rounded to float64 (int true division
    is correctly rounded in CPython)."""
    divisor = 1 << scale_bits
    return np.array([int(v) / divisor for v in values.flat], dtype=np.float64).reshape(values.shape)


def term_counts(case: Case) -> dict[str, int]:
    """Terms summed into each element of each output, as `convgrad.verification.bounds` counts
    them (an upper bound where padding zeros stand in for some): forward ``C_in/g * prod(K)``
    (+1 with a bias), grad_input ``C_out/g * prod(K)`` times the most pads that copy one input
    entry (padding modes), grad_weight and grad_bias ``N * prod(O)``. A transposed case's
    forward is its conv's grad_input (+1 with a bias), its grad_input its conv's forward, its
    grad_weight its conv's, its grad_bias ``N * prod(O_t)``."""
    x_shape, w_shape, y_shape = conv_shapes(case)
    copies = fold_count(case.spec.padding_mode, resolved_spec(case).padding, x_shape[2:])
    n_input, n_weight, n_bias = gradient_terms(w_shape, y_shape, case.spec.groups, copies)
    if case.op == "conv_transpose":
        counts = (
            n_input + int(case.bias),
            forward_terms(w_shape, False),
            n_weight,
            x_shape[0] * prod(x_shape[2:]),
        )
    else:
        counts = (forward_terms(w_shape, case.bias), n_input, n_weight, n_bias)
    return dict(zip(OUTPUTS, counts, strict=True))


def case_outputs(
    arrays: dict[str, np.ndarray], op: str, output_padding: tuple[int, ...], kwargs: dict
) -> dict[str, np.ndarray]:
    """y, grad_input, grad_weight and grad_bias of a case by the oracle, from its x, w,
    grad_y and optional b; ``kwargs``: the reference's keyword arguments (for a transposed case
    padding, stride, dilation, groups and method only). A transposed case's gradients of
    ``sum(grad_y * y)``: grad_input is the conv of grad_y (the transpose's adjoint), grad_weight
    the conv's weight gradient with grad_y as its input and x as its output gradient."""
    x, w, b, grad_y = arrays["x"], arrays["w"], arrays.get("b"), arrays["grad_y"]
    if op == "conv_transpose":
        y = conv_transpose(x, w, b, output_padding=output_padding, **kwargs)
        grad_input = conv(grad_y, w, **kwargs)
        grad_weight = conv_backward(grad_y, w, x, **kwargs).weight
        grad_bias = grad_y.sum(axis=(0, *range(2, grad_y.ndim)))
        return dict(zip(OUTPUTS, (y, grad_input, grad_weight, grad_bias), strict=True))
    y = conv(x, w, b, **kwargs)
    grads = conv_backward(x, w, grad_y, **kwargs)
    return dict(zip(OUTPUTS, (y, grads.input, grads.weight, grads.bias), strict=True))


def _outputs(ints: dict[str, np.ndarray], case: Case) -> dict[str, np.ndarray]:
    """The four outputs computed exactly by the oracle on integer operands; ``b`` is already
    at the product scale."""
    spec = case.spec
    kwargs = {"stride": spec.stride, "dilation": spec.dilation, "groups": spec.groups}
    if case.op == "conv_transpose":
        kwargs["padding"] = resolved_spec(case).padding
    else:
        kwargs.update(padding=spec.padding, flip=spec.flip, padding_mode=spec.padding_mode)
    return case_outputs(ints, case.op, case.output_padding, kwargs)


def generate(case: Case) -> dict[str, np.ndarray]:
    """Every float64 array of a case: inputs x, w, grad_y (and b when the case has a bias),
    expected y, grad_input, grad_weight, grad_bias, and for float cases ``<output>_bound``.

    x: (N, C_in, *S); w: (C_out, C_in // groups, *K); b: (C_out,); grad_y, y: (N, C_out, *O).
    A transposed case: x (N, C_in_t, *S), w (C_in_t, C_out_t // groups, *K), b (C_out_t,),
    grad_y and y (N, C_out_t, *O_t) (`convgrad.vectors.cases.conv_shapes`).
    """
    conv_x, w_shape, conv_y = conv_shapes(case)
    out = conv_y if case.op == "conv" else conv_x
    shapes = {"x": case.x_shape, "w": w_shape, "b": (out[1],), "grad_y": out}
    names = [n for n in INPUTS if n != "b" or case.bias]
    ints = {n: _draw_integers(case.id, n, shapes[n], case.kind) for n in names}
    scale = 0 if case.kind == "exact" else _FLOAT_SCALE_BITS
    arrays = {n: _rounded(ints[n], scale) for n in names}
    # b is added to products of two scaled operands, so it enters at twice the scale.
    product_scale = {**ints, "b": ints["b"].astype(object) << scale} if case.bias else ints
    exact = _outputs(product_scale, case)
    absolute = _outputs({n: np.abs(v) for n, v in product_scale.items()}, case)
    output_scale = {"y": 2 * scale, "grad_input": 2 * scale, "grad_weight": 2 * scale}
    output_scale["grad_bias"] = scale
    for name in OUTPUTS:
        worst = int(np.max(absolute[name]))
        if case.kind == "exact" and worst >= _EXACT_LIMIT:
            raise ValueError(
                f"case {case.id!r}: {name} has a partial sum up to {worst} >= 2**53, so float64"
                " sums could round; use smaller shapes or values"
            )
        arrays[name] = _rounded(exact[name], output_scale[name])
    if case.kind == "float":
        counts = term_counts(case)
        for name in OUTPUTS:
            arrays[f"{name}_bound"] = _gamma_bound(
                counts[name] + 1, absolute[name], output_scale[name]
            )
    return arrays
