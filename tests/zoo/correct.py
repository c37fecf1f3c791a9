"""A correct convolution layer written independently of `convgrad.reference`.

The textbook route (Dumoulin & Visin, arXiv 1603.07285, section 4; cs231n notes), built from
three NumPy steps that the bug zoo reuses and gets wrong one at a time:

- forward: pad x, then the valid correlation of the padded x with w (stride s, dilation d).
- grad_input: dilate grad_y by the stride, pad it "full" (d*(K-1) each side), correlate it with
  the 180°-rotated, in/out-swapped kernel (dilation d): the padded input's gradient, whose ``r``
  trailing rows that no window reaches (stride not dividing) get zeros; then fold the pads back:
  crop them (zero padding) or add each pad's gradient onto the input entry it holds (the other
  padding modes: numpy.pad's "reflect", "edge", "wrap" say which entry, `pad_sources`).
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


NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
"""spec.padding_mode -> numpy.pad's mode (torch.nn.Conv2d(padding_mode=...) pads the same way)."""


def pad_sources(spatial, pads, padding_mode: str) -> np.ndarray:
    """For each position of the padded spatial grid (S + lo + hi), the flat index of the input
    entry it holds, or -1 for a zero: numpy.pad applied to the grid of indices."""
    index = np.arange(int(np.prod(spatial))).reshape(spatial)
    widths = tuple(tuple(p) for p in pads)
    if padding_mode == "zeros":
        return np.pad(index, widths, constant_values=-1)
    return np.pad(index, widths, mode=NUMPY_PAD_MODES[padding_mode])


def fill_pads(a: np.ndarray, pads, padding_mode: str, sources=pad_sources) -> np.ndarray:
    """(N, C, *S) -> (N, C, *(S + lo + hi)): each position takes the entry ``sources`` names."""
    src = sources(a.shape[2:], pads, padding_mode)
    flat = np.concatenate([a.reshape(*a.shape[:2], -1), np.zeros((*a.shape[:2], 1))], axis=-1)
    return flat[..., src]  # -1 reads the zero appended last


def fold_pads(grad_padded: np.ndarray, spatial, pads, padding_mode: str, sources=pad_sources):
    """The adjoint of `fill_pads`: (N, C, *(S + lo + hi)) -> (N, C, *S), each position's
    gradient added onto the entry it holds (a zero's dropped)."""
    src = sources(tuple(spatial), pads, padding_mode)
    n, c = grad_padded.shape[:2]
    out = np.zeros((n, c, int(np.prod(spatial)) + 1))
    np.add.at(out, (slice(None), slice(None), src.ravel()), grad_padded.reshape(n, c, -1))
    return out[..., :-1].reshape(n, c, *spatial)


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
    xp = fill_pads(x, spec.padding, spec.padding_mode)
    return correlate(xp, effective_kernel(w, spec), spec.stride, spec.dilation, spec.groups)


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
    padded = tuple(i + lo + hi for i, (lo, hi) in zip(x.shape[2:], spec.padding, strict=True))
    grad_padded = crop_to_input(full, padded, ((0, 0),) * len(padded))
    return fold_pads(grad_padded, x.shape[2:], spec.padding, spec.padding_mode)


def grad_weight(x, w, grad_y, spec) -> np.ndarray:
    """grad_w: (C_out, C_in // g, *K): valid correlation of the padded x with the stride-dilated
    grad_y, every d-th row, the first K rows (rotated back when ``spec.flip``)."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    gy = np.asarray(grad_y, dtype=np.float64)
    g = spec.groups
    xp, gyd = fill_pads(x, spec.padding, spec.padding_mode), dilate(gy, spec.stride)
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
