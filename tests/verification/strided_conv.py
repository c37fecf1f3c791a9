"""A hand-written NumPy convolution that supports stride and zero padding only, as most first
convs do: dilation, groups, flip and a padding_mode other than "zeros" raise NotImplementedError.
The fixture of the capability probe's tests (and the README's example): every padding, every
stride, 1-3 spatial dims.

``forward(x, w, spec) -> y`` with x ``(N, C_in, *S)``, w ``(C_out, C_in, *K)``, y
``(N, C_out, *O)``; ``backward(x, w, grad_y, spec) -> (grad_x, grad_w)``.
"""

from __future__ import annotations

import itertools

import numpy as np


def _supported(spec) -> None:
    if any(d != 1 for d in spec.dilation):
        raise NotImplementedError(f"dilation {spec.dilation} is not supported")
    if spec.groups != 1:
        raise NotImplementedError(f"groups={spec.groups} is not supported")
    if spec.flip:
        raise NotImplementedError("flip=True is not supported")
    if spec.padding_mode != "zeros":
        raise NotImplementedError(f"padding_mode={spec.padding_mode!r} is not supported")


def _windows(x, w, spec):
    """Every kernel offset k with the strided slice of the padded x it multiplies."""
    xp = np.pad(x, ((0, 0), (0, 0), *spec.padding))
    kernel = w.shape[2:]
    out = tuple((p - k) // s + 1 for p, k, s in zip(xp.shape[2:], kernel, spec.stride, strict=True))
    for k in itertools.product(*(range(n) for n in kernel)):
        index = tuple(
            slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(k, spec.stride, out, strict=True)
        )
        yield k, index, xp


def forward(x, w, spec):
    _supported(spec)
    y = None
    for k, index, xp in _windows(x, w, spec):
        term = np.einsum("nc...,oc->no...", xp[(slice(None), slice(None), *index)], w[(..., *k)])
        y = term if y is None else y + term
    return y


def backward(x, w, grad_y, spec):
    _supported(spec)
    grad_w = np.zeros_like(w)
    grad_xp = None
    for k, index, xp in _windows(x, w, spec):
        if grad_xp is None:
            grad_xp = np.zeros_like(xp)
        window = (slice(None), slice(None), *index)
        axes = [0, *range(2, x.ndim)]
        grad_w[(..., *k)] = np.tensordot(grad_y, xp[window], axes=(axes, axes))
        grad_xp[window] += np.einsum("no...,oc->nc...", grad_y, w[(..., *k)])
    crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(spec.padding, x.shape[2:], strict=True))
    return grad_xp[(slice(None), slice(None), *crop)], grad_w
