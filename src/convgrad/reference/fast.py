"""Vectorized convolution: sliding windows gathered into column blocks, then batched matmul.

The same arithmetic as `convgrad.reference.direct`, arranged for BLAS. The padded input's
windows (a strided view, no copy) are gathered block by block into a column matrix
``cols: (groups, M, C_in // groups * prod(K))`` with ``M`` output positions; then

    forward:      y_block  = cols @ w_mat                 w_mat: (groups, C_in//g*prod(K), C_out//g)
    grad_weight:  grad_w  += grad_y_block^T @ cols
    grad_input:   d_cols   = grad_y_block @ w_mat^T, scattered back tap by tap (col2im)

Blocks run over the batch and over the first output dim, so a column block never exceeds
``budget_bytes`` (default `CHUNK_BYTES`) unless a single output row alone is larger; a 3-D conv
whose whole im2col matrix would be gigabytes runs in bounded temporary memory.
Arguments are validated by `convgrad.reference.api`; the caller applies ``flip``.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import prod

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convgrad.reference.direct import crop_slices, pad, window, zeros
from convgrad.spec import ResolvedSpec

CHUNK_BYTES = 32 * 2**20
"""Default bound on one temporary column block, in bytes."""


def _blocks(
    batch: int, rows: int, row_bytes: int, budget_bytes: int
) -> Iterator[tuple[slice, slice]]:
    """(batch slice, first-output-dim slice) blocks whose column matrix fits the budget."""
    rows_per_block = max(1, budget_bytes // max(row_bytes, 1))
    if rows_per_block >= rows:
        per_batch = max(1, rows_per_block // rows)
        for n0 in range(0, batch, per_batch):
            yield slice(n0, n0 + per_batch), slice(0, rows)
        return
    for n0 in range(batch):
        for r0 in range(0, rows, rows_per_block):
            yield slice(n0, n0 + 1), slice(r0, min(r0 + rows_per_block, rows))


def _windows(xp: np.ndarray, kernel_spatial, spec: ResolvedSpec, out_spatial) -> np.ndarray:
    """The padded input xp: (N, C, *P) as a view (N, C, *O, *K) of every window's taps."""
    nd = len(kernel_spatial)
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel_spatial, spec.dilation, strict=True))
    view = sliding_window_view(xp, extent, axis=tuple(range(2, 2 + nd)))
    positions = tuple(
        slice(0, (o - 1) * s + 1, s) for o, s in zip(out_spatial, spec.stride, strict=True)
    )
    taps = tuple(slice(None, None, d) for d in spec.dilation)
    return view[(slice(None), slice(None), *positions, *taps)]


def _columns(windows: np.ndarray, groups: int) -> np.ndarray:
    """windows: (n, C, *O, *K) -> cols: (groups, n*prod(O), C//groups*prod(K)), one copy."""
    n, c = windows.shape[:2]
    nd = (windows.ndim - 2) // 2
    split = windows.reshape(n, groups, c // groups, *windows.shape[2:])
    order = (1, 0, *range(3, 3 + nd), 2, *range(3 + nd, 3 + 2 * nd))
    cols = np.ascontiguousarray(split.transpose(order))
    return cols.reshape(groups, -1, (c // groups) * prod(windows.shape[2 + nd :]))


def _grad_rows(grad_y_block: np.ndarray, groups: int) -> np.ndarray:
    """grad_y block (n, C_out, *O) -> (groups, n*prod(O), C_out//groups)."""
    n, c_out = grad_y_block.shape[:2]
    split = grad_y_block.reshape(n, groups, c_out // groups, -1)
    return np.ascontiguousarray(split.transpose(1, 0, 3, 2)).reshape(groups, -1, c_out // groups)


def _weight_matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """w: (C_out, C_in//g, *K) -> (groups, C_in//g*prod(K), C_out//g)."""
    return w.reshape(groups, w.shape[0] // groups, -1).transpose(0, 2, 1)


def _row_bytes(x_channels: int, kernel_spatial, out_spatial, itemsize: int) -> int:
    return x_channels * prod(kernel_spatial) * prod(out_spatial[1:]) * itemsize


def forward(
    x: np.ndarray, w: np.ndarray, spec: ResolvedSpec, out_spatial, budget_bytes=CHUNK_BYTES
) -> np.ndarray:
    """x: (N, C_in, *S), w: (C_out, C_in // g, *K) -> y: (N, C_out, *O), no bias."""
    g, kernel_spatial = spec.groups, w.shape[2:]
    windows = _windows(pad(x, spec.padding), kernel_spatial, spec, out_spatial)
    w_mat = _weight_matrix(w, g)
    y = np.empty((x.shape[0], w.shape[0], *out_spatial), dtype=x.dtype)
    row_bytes = _row_bytes(x.shape[1], kernel_spatial, out_spatial, x.itemsize)
    for nb, rb in _blocks(x.shape[0], out_spatial[0], row_bytes, budget_bytes):
        block = windows[nb, :, rb]
        y_rows = np.matmul(_columns(block, g), w_mat)  # (g, M, C_out//g)
        n = block.shape[0]
        y_rows = y_rows.reshape(g, n, -1, w.shape[0] // g).transpose(1, 0, 3, 2)
        y[nb, :, rb] = y_rows.reshape(n, w.shape[0], *block.shape[2 : 2 + len(out_spatial)])
    return y


def grad_weight(
    x: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec, kernel_spatial, budget_bytes=CHUNK_BYTES
) -> np.ndarray:
    """x: (N, C_in, *S), grad_y: (N, C_out, *O) -> grad_w: (C_out, C_in // g, *K)."""
    g, out_spatial = spec.groups, grad_y.shape[2:]
    windows = _windows(pad(x, spec.padding), kernel_spatial, spec, out_spatial)
    c_out, c_group = grad_y.shape[1], x.shape[1] // g
    gw = zeros((g, c_out // g, c_group * prod(kernel_spatial)), x.dtype)
    row_bytes = _row_bytes(x.shape[1], kernel_spatial, out_spatial, x.itemsize)
    for nb, rb in _blocks(x.shape[0], out_spatial[0], row_bytes, budget_bytes):
        gy_rows = _grad_rows(grad_y[nb, :, rb], g)  # (g, M, C_out//g)
        gw += np.matmul(gy_rows.transpose(0, 2, 1), _columns(windows[nb, :, rb], g))
    return gw.reshape(c_out, c_group, *kernel_spatial)


def grad_input(
    grad_y: np.ndarray, w: np.ndarray, spec: ResolvedSpec, in_spatial, budget_bytes=CHUNK_BYTES
) -> np.ndarray:
    """grad_y: (N, C_out, *O), w: (C_out, C_in // g, *K) -> grad_x: (N, C_in, *S).

    Column gradients ``grad_y @ w_mat^T`` scattered back onto the padded input, one strided add
    per kernel tap (col2im); positions no window reaches stay exactly 0.
    """
    g, out_spatial, kernel_spatial = spec.groups, grad_y.shape[2:], w.shape[2:]
    nd, c_group = len(out_spatial), w.shape[1]
    padded = tuple(i + lo + hi for i, (lo, hi) in zip(in_spatial, spec.padding, strict=True))
    gxp = zeros((grad_y.shape[0], g * c_group, *padded), grad_y.dtype)
    w_mat_t = _weight_matrix(w, g).transpose(0, 2, 1)  # (g, C_out//g, C_in//g*prod(K))
    row_bytes = _row_bytes(g * c_group, kernel_spatial, out_spatial, grad_y.itemsize)
    for nb, rb in _blocks(grad_y.shape[0], out_spatial[0], row_bytes, budget_bytes):
        gy_block = grad_y[nb, :, rb]
        n, block_out = gy_block.shape[0], gy_block.shape[2:]
        d_cols = np.matmul(_grad_rows(gy_block, g), w_mat_t)  # (g, M, C_in//g*prod(K))
        d_cols = d_cols.reshape(g, n, *block_out, c_group, *kernel_spatial)
        d_cols = d_cols.transpose(1, 0, nd + 2, *range(2, nd + 2), *range(nd + 3, 2 * nd + 3))
        d_cols = d_cols.reshape(n, g * c_group, *block_out, *kernel_spatial)
        for tap in np.ndindex(*kernel_spatial):
            rows = window(tap, block_out, spec)
            first = slice(
                rows[0].start + rb.start * spec.stride[0],
                rows[0].stop + rb.start * spec.stride[0],
                spec.stride[0],
            )
            gxp[(nb, slice(None), first, *rows[1:])] += d_cols[(..., *tap)]
    return gxp[(..., *crop_slices(in_spatial, spec.padding))]
