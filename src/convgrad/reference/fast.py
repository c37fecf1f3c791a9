"""Vectorized convolution: im2col column blocks in channels-first order, then one batched GEMM.

The same arithmetic as `convgrad.reference.direct`, arranged for BLAS. For a block of ``n``
samples and output positions ``M = prod(block_out)`` the input's windows are gathered, one
strided slice per kernel tap, into a column matrix

    cols: (n, groups, C_in//g * prod(K), M)        rows ordered (channel, tap), as w's last dims

whose layout matches both NCHW and the weight, so every product is a plain matmul with no
transpose copies (w_mat = w viewed as (groups, C_out//g, C_in//g * prod(K))):

    forward:      y_block  = w_mat @ cols           written straight into y (a view)
    grad_weight:  grad_w  += sum_n grad_y_block @ cols^T
    grad_input:   d_cols   = w_mat^T @ grad_y_block, added back tap by tap (col2im)

Padding is never materialized: a tap's slice is clipped to the output positions whose input
index lies inside x, and the columns of the others stay zero (col2im drops them), so no
padded copy of x or of grad_x is made. Blocks run over the batch and over the first output dim
so a column block stays within ``budget_bytes`` (default `CHUNK_BYTES`) unless one output row
alone is larger; peak extra memory is one block plus the outputs, which lets a 3-D conv whose
whole im2col matrix would be gigabytes run in bounded memory. This is the classic im2col
lowering (Chellapilla, Puri & Simard 2006, "High performance convolutional neural networks for
document processing"). Arguments are validated by `convgrad.reference.api`; the caller casts
and applies ``flip``. Any dtype with a matmul works (float64 uses BLAS; int64 is exact).
"""

from __future__ import annotations

from collections.abc import Iterator
from math import prod

import numpy as np

from convgrad.spec import ResolvedSpec

CHUNK_BYTES = 32 * 2**20
"""Default bound on one temporary column block, in bytes."""

_Slices = tuple[slice, ...]


def _blocks(
    batch: int, rows: int, row_bytes: int, budget_bytes: int
) -> Iterator[tuple[slice, slice]]:
    """(batch slice, first-output-dim slice) blocks whose column matrix fits the budget."""
    rows_per_block = max(1, budget_bytes // max(row_bytes, 1))
    if rows_per_block >= rows:
        per_batch = max(1, rows_per_block // rows)
        for n0 in range(0, batch, per_batch):
            yield slice(n0, min(n0 + per_batch, batch)), slice(0, rows)
        return
    for n0 in range(batch):
        for r0 in range(0, rows, rows_per_block):
            yield slice(n0, n0 + 1), slice(r0, min(r0 + rows_per_block, rows))


def _span(first: int, stop: int, shift: int, size: int, stride: int) -> tuple[slice, slice] | None:
    """Output positions o in [first, stop) whose input index ``o*stride + shift`` lies in
    [0, size), as (slice of the block, slice of the input); None when there are none."""
    lo = max(first, -(shift // stride))
    hi = min(stop, (size - 1 - shift) // stride + 1)
    if lo >= hi:
        return None
    return slice(lo - first, hi - first), slice(
        lo * stride + shift, (hi - 1) * stride + shift + 1, stride
    )


def _tap_slices(
    tap: tuple[int, ...],
    in_spatial: tuple[int, ...],
    block_out: tuple[int, ...],
    row0: int,
    spec: ResolvedSpec,
) -> tuple[_Slices, _Slices] | None:
    """Where kernel tap ``tap`` meets x inside this block: (block slices, input slices), or None
    when it sees only padding.

    Tap ``k`` at output position ``o`` reads input index ``o*s + k*d - lo`` (DESIGN.md); the
    block covers output rows [row0, row0 + block_out[0]) of the first dim and all of the rest.
    """
    firsts = (row0,) + (0,) * (len(block_out) - 1)
    spans = []
    for k, first, count, size, (lo, _), s, d in zip(
        tap, firsts, block_out, in_spatial, spec.padding, spec.stride, spec.dilation, strict=True
    ):
        span = _span(first, first + count, k * d - lo, size, s)
        if span is None:
            return None
        spans.append(span)
    return tuple(o for o, _ in spans), tuple(i for _, i in spans)


def _outside(inside: _Slices, block_out: tuple[int, ...]) -> Iterator[_Slices]:
    """Boxes that tile the block minus the box ``inside`` (a tap's padding positions)."""
    nd = len(block_out)
    for j, (sl, size) in enumerate(zip(inside, block_out, strict=True)):
        rest = (slice(None),) * (nd - j - 1)
        if sl.start > 0:
            yield (*inside[:j], slice(0, sl.start), *rest)
        if sl.stop < size:
            yield (*inside[:j], slice(sl.stop, size), *rest)


def _columns(
    x_block: np.ndarray, kernel_spatial, block_out, row0: int, spec: ResolvedSpec
) -> np.ndarray:
    """x_block: (n, C, *S) -> cols: (n, groups, C//groups * prod(K), prod(block_out)).

    Each tap's plane is one strided copy of x; only its padding positions are zeroed.
    """
    n, c = x_block.shape[:2]
    cols = np.empty((n, c, *kernel_spatial, *block_out), x_block.dtype)
    for tap in np.ndindex(*kernel_spatial):
        plane = cols[(slice(None), slice(None), *tap)]
        slices = _tap_slices(tap, x_block.shape[2:], block_out, row0, spec)
        if slices is None:
            plane[...] = 0
            continue
        inside, source = slices
        plane[(slice(None), slice(None), *inside)] = x_block[(slice(None), slice(None), *source)]
        for box in _outside(inside, block_out):
            plane[(slice(None), slice(None), *box)] = 0
    return cols.reshape(n, spec.groups, -1, prod(block_out))


def _flat_rows(a: np.ndarray, groups: int) -> np.ndarray:
    """A block of an (N, C, *O) array, (n, C, rows, *rest) -> (n, groups, C//groups, M).

    A view: the block spans whole trailing dims, so rows and the rest merge without a copy.
    """
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, -1)


def _weight_matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """w: (C_out, C_in//g, *K) -> (groups, C_out//g, C_in//g * prod(K)), a view."""
    return w.reshape(groups, w.shape[0] // groups, -1)


def _row_bytes(channels: int, kernel_spatial, out_spatial, itemsize: int) -> int:
    """Bytes of the column block of one sample and one output row."""
    return channels * prod(kernel_spatial) * prod(out_spatial[1:]) * itemsize


def forward(
    x: np.ndarray, w: np.ndarray, spec: ResolvedSpec, out_spatial, budget_bytes=CHUNK_BYTES
) -> np.ndarray:
    """x: (N, C_in, *S), w: (C_out, C_in // g, *K) -> y: (N, C_out, *O), no bias."""
    g, kernel_spatial, out_spatial = spec.groups, w.shape[2:], tuple(out_spatial)
    w_mat = _weight_matrix(w, g)
    y = np.empty((x.shape[0], w.shape[0], *out_spatial), dtype=x.dtype)
    row_bytes = _row_bytes(x.shape[1], kernel_spatial, out_spatial, x.itemsize)
    for nb, rb in _blocks(x.shape[0], out_spatial[0], row_bytes, budget_bytes):
        block_out = (rb.stop - rb.start, *out_spatial[1:])
        cols = _columns(x[nb], kernel_spatial, block_out, rb.start, spec)
        np.matmul(w_mat, cols, out=_flat_rows(y[nb, :, rb], g))
    return y


def grad_weight(
    x: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec, kernel_spatial, budget_bytes=CHUNK_BYTES
) -> np.ndarray:
    """x: (N, C_in, *S), grad_y: (N, C_out, *O) -> grad_w: (C_out, C_in // g, *K)."""
    g, out_spatial, kernel_spatial = spec.groups, grad_y.shape[2:], tuple(kernel_spatial)
    c_out, c_group = grad_y.shape[1], x.shape[1] // g
    gw = np.zeros((g, c_out // g, c_group * prod(kernel_spatial)), x.dtype)
    row_bytes = _row_bytes(x.shape[1], kernel_spatial, out_spatial, x.itemsize)
    for nb, rb in _blocks(x.shape[0], out_spatial[0], row_bytes, budget_bytes):
        block_out = (rb.stop - rb.start, *out_spatial[1:])
        cols = _columns(x[nb], kernel_spatial, block_out, rb.start, spec)
        per_sample = np.matmul(_flat_rows(grad_y[nb, :, rb], g), cols.swapaxes(-1, -2))
        gw += per_sample.sum(axis=0)
    return gw.reshape(c_out, c_group, *kernel_spatial)


def grad_input(
    grad_y: np.ndarray, w: np.ndarray, spec: ResolvedSpec, in_spatial, budget_bytes=CHUNK_BYTES
) -> np.ndarray:
    """grad_y: (N, C_out, *O), w: (C_out, C_in // g, *K) -> grad_x: (N, C_in, *S).

    Column gradients ``w_mat^T @ grad_y`` added back onto x, one strided add per kernel tap
    (col2im); the columns that fall in the padding are dropped, and positions of x no window
    reaches stay exactly 0.
    """
    g, out_spatial, kernel_spatial = spec.groups, grad_y.shape[2:], w.shape[2:]
    in_spatial, c_in = tuple(in_spatial), g * w.shape[1]
    gx = np.zeros((grad_y.shape[0], c_in, *in_spatial), grad_y.dtype)
    w_mat_t = _weight_matrix(w, g).swapaxes(-1, -2)  # (g, C_in//g * prod(K), C_out//g)
    row_bytes = _row_bytes(c_in, kernel_spatial, out_spatial, grad_y.itemsize)
    for nb, rb in _blocks(grad_y.shape[0], out_spatial[0], row_bytes, budget_bytes):
        block_out = (rb.stop - rb.start, *out_spatial[1:])
        d_cols = np.matmul(w_mat_t, _flat_rows(grad_y[nb, :, rb], g))
        d_cols = d_cols.reshape(-1, c_in, *kernel_spatial, *block_out)
        for tap in np.ndindex(*kernel_spatial):
            slices = _tap_slices(tap, in_spatial, block_out, rb.start, spec)
            if slices is not None:
                inside, target = slices
                gx[(nb, slice(None), *target)] += d_cols[(slice(None), slice(None), *tap, *inside)]
    return gx
