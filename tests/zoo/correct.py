"""A correct convolution layer written independently of `convgrad.reference`.

The textbook route (Dumoulin & Visin, arXiv 1603.07285, section 4; cs231n notes), built from
three NumPy steps that the bug zoo reuses and gets wrong one at a time:

- forward: pad x, then the valid correlation of the padded x with w (stride s, dilation d).
- grad_input: dilate grad_y by the stride, pad it "full" (d*(K-1) each side), correlate it with
  the 180°-rotated, in/out-swapped kernel (dilation d), then crop the pads; the ``r`` trailing
  input rows that no window reaches (stride not dividing) get zeros.
- grad_weight: the valid correlation of the padded x with the stride-dilated grad_y, sampled every
  d rows, first K rows kept.

Layout as the verify protocol: ``x: (N, C_in, *S)``, ``w: (C_out, C_in // g, *K)``,
``grad_y: (N, C_out, *O)``; ``spec`` a `convgrad.ResolvedSpec`. Nothing here imports the
reference arithmetic, so agreeing with it is evidence, not tautology.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def spatial_axes(a: np.ndarray) -> tuple[int, ...]:
    """The spatial axes of a channels-first array (N, C, *S)."""
    return tuple(range(2, a.ndim))


def rot180(w: np.ndarray) -> np.ndarray:
    """The kernel rotated 180° in every spatial dim (scipy.signal.convolve's flip)."""
    return np.flip(w, axis=spatial_axes(w))


def pad(a: np.ndarray, pads) -> np.ndarray:
    """(N, C, *S) -> (N, C, *(S + lo + hi)), zeros around, a new array."""
    return np.pad(a, ((0, 0), (0, 0), *(tuple(p) for p in pads)))


def dilate(a: np.ndarray, factors) -> np.ndarray:
    """Insert ``f - 1`` zeros between neighbours along each spatial dim: O -> (O-1)*f + 1."""
    shape = a.shape[:2] + tuple((o - 1) * f + 1 for o, f in zip(a.shape[2:], factors, strict=True))
    out = np.zeros(shape, dtype=a.dtype)
    out[(..., *(slice(None, None, f) for f in factors))] = a
    return out


def grouped_windows(a: np.ndarray, k: np.ndarray, step, kdil, groups: int = 1):
    """The operands of `correlate` as products to sum: (windows, kernel, out_spatial) with
    windows (N, G, C // G, prod(Q), T) and kernel (G, M // G, C // G, T), T = prod(K) taps."""
    nd = a.ndim - 2
    extent = tuple(d * (n - 1) + 1 for n, d in zip(k.shape[2:], kdil, strict=True))
    windows = sliding_window_view(a, extent, axis=tuple(range(2, 2 + nd)))
    positions = (slice(None, None, s) for s in step)
    taps = (slice(None, None, d) for d in kdil)
    windows = windows[(slice(None), slice(None), *positions, *taps)]
    n, m = a.shape[0], k.shape[0]
    out_spatial = windows.shape[2 : 2 + nd]
    wg = windows.reshape(n, groups, a.shape[1] // groups, *windows.shape[2:])
    kg = k.reshape(groups, m // groups, *k.shape[1:])
    flat_taps = int(np.prod(k.shape[2:]))
    wg = wg.reshape(n, groups, a.shape[1] // groups, -1, flat_taps)
    kg = kg.reshape(groups, m // groups, a.shape[1] // groups, flat_taps)
    return wg, kg, out_spatial


def correlate(a: np.ndarray, k: np.ndarray, step, kdil, groups: int = 1) -> np.ndarray:
    """Valid grouped correlation. a: (N, C, *P), k: (M, C // groups, *K) -> (N, M, *Q) with
    ``Q = floor((P - kdil*(K-1) - 1) / step) + 1``."""
    wg, kg, out_spatial = grouped_windows(a, k, step, kdil, groups)
    out = np.einsum("ngcpt,goct->ngop", wg, kg)
    return out.reshape(a.shape[0], k.shape[0], *out_spatial)


def swap_in_out(w: np.ndarray, groups: int) -> np.ndarray:
    """(C_out, C_in // g, *K) -> (C_in, C_out // g, *K): the transpose of each group's block."""
    c_out, c_group = w.shape[:2]
    blocks = w.reshape(groups, c_out // groups, c_group, *w.shape[2:])
    return blocks.swapaxes(1, 2).reshape(groups * c_group, c_out // groups, *w.shape[2:])


def effective_kernel(w: np.ndarray, spec) -> np.ndarray:
    """The kernel the correlation uses: rotated when the spec asks for true convolution."""
    return rot180(w) if spec.flip else w


def forward(x, w, spec) -> np.ndarray:
    """y: (N, C_out, *O) = correlate(pad(x), w) (w rotated first when ``spec.flip``)."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    return correlate(
        pad(x, spec.padding), effective_kernel(w, spec), spec.stride, spec.dilation, spec.groups
    )


def crop_to_input(full: np.ndarray, in_spatial, pads) -> np.ndarray:
    """The rows of a ``P - r``-row full correlation that are input rows: pad the ``r`` rows no
    window reached with zeros, then drop ``lo`` at the start and ``hi`` at the end."""
    widths = [(0, 0), (0, 0)]
    slices = []
    for size, i, (lo, hi) in zip(full.shape[2:], in_spatial, pads, strict=True):
        widths.append((0, i + lo + hi - size))
        slices.append(slice(lo, lo + i))
    return np.pad(full, widths)[(..., *slices)]


def grad_input(x, w, grad_y, spec) -> np.ndarray:
    """grad_x: (N, C_in, *S): full correlation of the stride-dilated grad_y with the rotated,
    in/out-swapped kernel, cropped by the pads."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    gy = np.asarray(grad_y, dtype=np.float64)
    k = effective_kernel(w, spec)
    full_pads = [(d * (n - 1),) * 2 for n, d in zip(k.shape[2:], spec.dilation, strict=True)]
    gyp = pad(dilate(gy, spec.stride), full_pads)
    kt = rot180(swap_in_out(k, spec.groups))
    full = correlate(gyp, kt, (1,) * len(spec.stride), spec.dilation, spec.groups)
    return crop_to_input(full, x.shape[2:], spec.padding)


def grad_weight(x, w, grad_y, spec) -> np.ndarray:
    """grad_w: (C_out, C_in // g, *K): valid correlation of the padded x with the stride-dilated
    grad_y, every d-th row, the first K rows (rotated back when ``spec.flip``)."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    gy = np.asarray(grad_y, dtype=np.float64)
    g = spec.groups
    xp, gyd = pad(x, spec.padding), dilate(gy, spec.stride)
    c_group, o_group = x.shape[1] // g, gy.shape[1] // g
    blocks = []
    for j in range(g):
        xj = xp[:, j * c_group : (j + 1) * c_group].swapaxes(0, 1)
        gj = gyd[:, j * o_group : (j + 1) * o_group].swapaxes(0, 1)
        raw = correlate(xj, gj, spec.dilation, (1,) * len(spec.stride))
        blocks.append(raw.swapaxes(0, 1)[(..., *(slice(0, n) for n in w.shape[2:]))])
    gw = np.concatenate(blocks, axis=0)
    return rot180(gw) if spec.flip else gw


def grad_bias(grad_y) -> np.ndarray:
    """(C_out,): grad_y summed over the batch and every spatial dim."""
    gy = np.asarray(grad_y, dtype=np.float64)
    return gy.sum(axis=(0, *spatial_axes(gy)))


def backward(x, w, grad_y, spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad_x, grad_w, grad_b) of ``L = sum(grad_y * y)``."""
    return grad_input(x, w, grad_y, spec), grad_weight(x, w, grad_y, spec), grad_bias(grad_y)
