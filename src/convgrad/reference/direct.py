"""Convolution by definition: a sum over kernel taps of shifted, strided slices.

Cross-correlation, channels first, groups as a grouped channel mix. For a kernel tap ``k``
(one index per spatial dim) the window of the padded input that meets it is the slice
``xp[..., k*d : k*d + (O-1)*s + 1 : s]`` of shape (N, C_in, *O). Then

    y[n, o]        = sum_k  sum_c  w[o, c, k] * window_k[n, c]          (forward)
    grad_xp[n, c] += sum_o  w[o, c, k] * grad_y[n, o]  at window_k       (grad_input)
    grad_w[o, c, k] = sum_n sum_O  grad_y[n, o] * window_k[n, c]          (grad_weight)

and grad_input is grad_xp with the pads cropped. Each gradient sits next to the forward it
differentiates. Works on float64, int64 and object (Python int / Fraction) arrays; on the
last two it is exact. Arguments are validated by `convgrad.reference.api`; the spec is resolved
and ``flip`` is applied by the caller (these functions always correlate).
"""

from __future__ import annotations

import itertools
from math import prod

import numpy as np

from convgrad.spec import ResolvedSpec


def zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Zeros; for object arrays Python int 0 (NumPy scalars would overflow like int64)."""
    return np.full(shape, 0, dtype=dtype)


def pad(x: np.ndarray, padding: tuple[tuple[int, int], ...]) -> np.ndarray:
    """x: (N, C, *S) -> (N, C, *(S + lo + hi)) with zeros around (works for object arrays)."""
    out = zeros(x.shape[:2] + padded_sizes(x.shape[2:], padding), x.dtype)
    out[(..., *crop_slices(x.shape[2:], padding))] = x
    return out


def padded_sizes(spatial, padding) -> tuple[int, ...]:
    """Spatial sizes ``spatial`` after padding by ``(lo, hi)`` pairs: S + lo + hi per dim."""
    return tuple(i + lo + hi for i, (lo, hi) in zip(spatial, padding, strict=True))


def crop_slices(spatial: tuple[int, ...], padding) -> tuple[slice, ...]:
    """The slices of a padded array that hold the unpadded ``spatial`` region."""
    return tuple(slice(lo, lo + i) for i, (lo, _) in zip(spatial, padding, strict=True))


def window(tap: tuple[int, ...], out_spatial: tuple[int, ...], spec: ResolvedSpec):
    """Slices of the padded input that kernel tap ``tap`` meets, one per output position."""
    return tuple(
        slice(k * d, k * d + (o - 1) * s + 1, s)
        for k, o, s, d in zip(tap, out_spatial, spec.stride, spec.dilation, strict=True)
    )


def _grouped(a: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, *S) -> (N, groups, C // groups, *S)."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def _taps(kernel_spatial: tuple[int, ...]):
    return itertools.product(*(range(k) for k in kernel_spatial))


def forward(x: np.ndarray, w: np.ndarray, spec: ResolvedSpec, out_spatial) -> np.ndarray:
    """x: (N, C_in, *S), w: (C_out, C_in // g, *K) -> y: (N, C_out, *O), no bias."""
    g = spec.groups
    xp = pad(x, spec.padding)
    wg = w.reshape(g, w.shape[0] // g, *w.shape[1:])
    y = zeros((x.shape[0], g, w.shape[0] // g, *out_spatial), x.dtype)
    for tap in _taps(w.shape[2:]):
        x_tap = _grouped(xp[(..., *window(tap, out_spatial, spec))], g)
        y += np.einsum("goc,ngc...->ngo...", wg[(..., *tap)], x_tap)
    return y.reshape(x.shape[0], w.shape[0], *out_spatial)


def grad_input(grad_y: np.ndarray, w: np.ndarray, spec: ResolvedSpec, in_spatial) -> np.ndarray:
    """grad_y: (N, C_out, *O), w: (C_out, C_in // g, *K) -> grad_x: (N, C_in, *S).

    The adjoint of `forward`: every product w*x there sends w*grad_y back to x's position.
    Positions of x no window reaches get exactly 0.
    """
    g, out_spatial = spec.groups, grad_y.shape[2:]
    padded = padded_sizes(in_spatial, spec.padding)
    gxp = zeros((grad_y.shape[0], g, w.shape[1], *padded), grad_y.dtype)
    wg = w.reshape(g, w.shape[0] // g, *w.shape[1:])
    gyg = _grouped(grad_y, g)
    for tap in _taps(w.shape[2:]):
        gxp[(..., *window(tap, out_spatial, spec))] += np.einsum(
            "goc,ngo...->ngc...", wg[(..., *tap)], gyg
        )
    gxp = gxp.reshape(grad_y.shape[0], g * w.shape[1], *padded)
    return gxp[(..., *crop_slices(in_spatial, spec.padding))]


def grad_weight(
    x: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec, kernel_spatial
) -> np.ndarray:
    """x: (N, C_in, *S), grad_y: (N, C_out, *O) -> grad_w: (C_out, C_in // g, *K)."""
    g, out_spatial = spec.groups, grad_y.shape[2:]
    xp = pad(x, spec.padding)
    gyg = _grouped(grad_y, g).reshape(*grad_y.shape[:1], g, -1, prod(out_spatial))
    c_out, c_group = grad_y.shape[1], x.shape[1] // g
    gw = zeros((c_out, c_group, *kernel_spatial), x.dtype)
    for tap in _taps(kernel_spatial):
        x_tap = _grouped(xp[(..., *window(tap, out_spatial, spec))], g)
        x_tap = x_tap.reshape(*x_tap.shape[:3], prod(out_spatial))
        gw[(..., *tap)] = np.einsum("ngop,ngcp->goc", gyg, x_tap).reshape(c_out, c_group)
    return gw


def grad_bias(grad_y: np.ndarray) -> np.ndarray:
    """grad_y: (N, C_out, *O) -> (C_out,): the sum over batch and every spatial dim."""
    return grad_y.sum(axis=(0, *range(2, grad_y.ndim)))
