"""Vectorized convolution: im2col column blocks in channels-first order, then one batched GEMM.

The same arithmetic as `convgrad.reference.direct`, arranged for BLAS. A block of ``n``
samples and ``M = prod(block_out)`` output positions is padded (only the input rows its
windows read), viewed as its windows, and copied once into a column matrix

    cols: (n, groups, C_in//g * prod(K), M)        rows ordered (channel, tap), as w's last dims

whose layout matches both NCHW and the weight, so every product is a plain matmul with no
transpose copies (w_mat = w viewed as (groups, C_out//g, C_in//g * prod(K))):

    forward:      y_block  = w_mat @ cols           written straight into y (a view)
    grad_weight:  grad_w  += sum_n grad_y_block @ cols^T
    grad_input:   d_cols   = w_mat^T @ grad_y_block, added back tap by tap (col2im), or, with
                  stride 1 when it writes fewer columns, `forward` of grad_y with the rotated,
                  channel-swapped kernel (the choice is made once per shape)

This is the classic im2col lowering (Chellapilla, Puri & Simard 2006, "High performance
convolutional neural networks for document processing"). With stride 1 in the last two dims
and columns that outweigh the product (`_merges_rows`), a row of columns spans the padded width
(the positions past each output row's end are computed and dropped), so each tap's columns are
one contiguous run of memory: the gather copies runs thousands of elements long instead of one
output row long. Copies of `PARALLEL_COPY_BYTES` or more run on as many threads as the cores
and the environment's BLAS thread limit allow (`_copy`: NumPy releases the GIL while copying
numbers). Blocks run over the batch and over the
first output dim, so one block's scratch (its columns and its padded input rows) stays within
``budget_bytes`` (default `CHUNK_BYTES`) unless a single output row alone is larger; the peak
extra memory is one block plus the outputs, which lets a 3-D conv whose whole im2col matrix
would be gigabytes run in bounded memory. With no padding, x's rows are used in place.
A block's temporaries come from one scratch buffer per thread (`_BlockScratch`), reused by the
next block and the next call, and kept between calls (at most `KEPT_SCRATCH_BYTES` a thread):
memory the allocator had handed back to the system costs a page fault per 4 KiB page on first
touch, which measured up to 10x the block's own arithmetic on small layers.
A problem whose whole column matrix and padded input fit `WHOLE_BYTES` skips all of this:
one padded copy, one gather, one product (`_whole_columns`), as planning blocks would cost
more than its arithmetic.
Arguments are validated by `convgrad.reference.api`; the caller casts and applies ``flip``.
Any dtype with a matmul works (float64 uses BLAS; int64 is exact).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import lru_cache
from itertools import pairwise, product
from math import prod
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convgrad.reference.direct import crop_slices, padded_sizes
from convgrad.spec import ResolvedSpec

CHUNK_BYTES = 8 * 2**20
"""Default bound on one block's scratch memory (columns + padded input rows), in bytes.

Also the fastest block size measured on 2 cores (benchmarks/): larger blocks leave the cache
between their gather and their product (the 8x16x64x64 layer ran 14% slower with 32 MiB)."""


KEPT_SCRATCH_BYTES = 2 * CHUNK_BYTES
"""The largest scratch buffer a thread keeps between blocks and calls (the default budget plus
room for a block's kernel halo); a block that needs more allocates its own, as once per call."""

_ALIGN = 64
"""Byte alignment of each temporary in the scratch buffer (a cache line)."""


PARALLEL_COPY_BYTES = 4 * 2**20
"""Copies (gathers, padding) of at least this many bytes are split across `_copy_workers`
threads. Below it the hand-over (waking a worker, tens of us on a loaded machine) cost more
than it saved: measured on 2 shared cores (fastest of 30 calls, load average 5-6), splitting
1.8-2.4 MiB gathers made the 1-D and grouped benchmark layers 25-30% slower, while the large
layers' blocks of up to 8 MiB gained 30-50%."""


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")
"""The environment's thread limits, in the order OpenBLAS reads them; the first set to a
positive number also limits the copies' threads, so a process that runs its BLAS on one
thread (shared machines, CI, ``BENCH_THREADS=1``) copies on one thread too."""


def _copy_workers() -> int:
    """Threads a large copy is split across: the cores this process may run on, at most 8,
    and at most the first positive limit of `THREAD_VARIABLES`."""
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    workers = min(8, len(cores) if cores else os.cpu_count() or 1)
    for variable in THREAD_VARIABLES:
        first = os.environ.get(variable, "").split(",")[0].strip()
        if first.isdigit() and int(first) >= 1:
            return min(workers, int(first))
    return workers


class _CopyPool:
    """The worker threads of `_copy`, started on first use and forgotten in a forked child
    (whose copy of the pool has no threads behind it)."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self, workers: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(workers, thread_name_prefix="convgrad-copy")
            return self._executor

    def forget(self) -> None:
        self._executor, self._lock = None, threading.Lock()


_COPY_POOL = _CopyPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_COPY_POOL.forget)


def _copy(dst: np.ndarray, src: np.ndarray) -> None:
    """``np.copyto(dst, src)`` (same shapes), split into one slab per worker thread along the
    first axis with a slab for each, when it moves `PARALLEL_COPY_BYTES` or more: NumPy
    releases the GIL while it copies numbers, so the slabs run on all cores at once."""
    workers = 1 if dst.nbytes < PARALLEL_COPY_BYTES or dst.dtype.hasobject else _copy_workers()
    axis = None if workers < 2 else next((j for j, n in enumerate(dst.shape) if n >= workers), None)
    if axis is None:
        np.copyto(dst, src)
        return
    bounds = [dst.shape[axis] * k // workers for k in range(workers + 1)]
    slabs = [(*(slice(None),) * axis, slice(start, stop)) for start, stop in pairwise(bounds)]
    pool = _COPY_POOL.executor(workers - 1)
    pending = [pool.submit(np.copyto, dst[slab], src[slab]) for slab in slabs[1:]]
    np.copyto(dst[slabs[0]], src[slabs[0]])
    for done in pending:
        done.result()


class _ThreadScratch(threading.local):
    """This thread's scratch buffer (uint8) and whether a block is using it."""

    def __init__(self) -> None:
        self.buffer = np.empty(0, np.uint8)
        self.in_use = False


_THREAD_SCRATCH = _ThreadScratch()


class _BlockScratch:
    """``with _BlockScratch() as take:`` hands out one block's temporaries, ``take(shape,
    dtype)``, from this thread's scratch buffer, one after another (each `_ALIGN`-aligned).

    Their contents are garbage: callers overwrite every element they read. Object arrays, and
    what does not fit, are allocated afresh; on exit the buffer grows to what the block needed
    (up to `KEPT_SCRATCH_BYTES`), so the next block and the next call fit, and the block's
    arrays must be gone by then (so the old and new buffers never coexist). A block inside a
    block of the same thread gets fresh allocations. Nothing taken may outlive the ``with``:
    results are always fresh arrays.
    """

    def __enter__(self):
        self._scratch = _THREAD_SCRATCH
        self._shared = not self._scratch.in_use
        self._scratch.in_use = True
        self._used = 0
        return self.take

    def take(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        if dtype.hasobject:  # Python ints (exact fallback): references, not raw bytes
            return np.empty(shape, dtype)
        nbytes = prod(shape) * dtype.itemsize
        start = self._used
        self._used = -(-(start + nbytes) // _ALIGN) * _ALIGN
        buffer = self._scratch.buffer
        if not self._shared or self._used > buffer.size:
            return np.empty(shape, dtype)
        return buffer[start : start + nbytes].view(dtype).reshape(shape)

    def __exit__(self, *exc) -> None:
        if self._shared:
            self._scratch.in_use = False
            if self._scratch.buffer.size < self._used <= KEPT_SCRATCH_BYTES:
                self._scratch.buffer = np.empty(self._used, np.uint8)


def _blocks(
    batch: int, rows: int, row_bytes: int, budget_bytes: int
) -> Iterator[tuple[slice, slice]]:
    """(batch slice, first-output-dim slice) blocks of at most ``budget_bytes // row_bytes``
    sample-rows: whole samples while one fits, else runs of rows of one sample."""
    rows_per_block = max(1, budget_bytes // max(row_bytes, 1))
    if rows_per_block >= rows:
        per_batch = rows_per_block // rows
        for n0 in range(0, batch, per_batch):
            yield slice(n0, min(n0 + per_batch, batch)), slice(0, rows)
        return
    for n0 in range(batch):
        for r0 in range(0, rows, rows_per_block):
            yield slice(n0, n0 + 1), slice(r0, min(r0 + rows_per_block, rows))


def _row_bytes(
    channels: int,
    kernel_spatial,
    in_spatial,
    out_spatial,
    spec: ResolvedSpec,
    itemsize: int,
    merged_channels: int | None = None,
) -> int:
    """Scratch bytes per sample and output row: its columns plus the ``stride`` padded input
    rows it adds to the block (the kernel's halo rows come on top, once per block). With
    merged rows (`_merges_rows`; ``merged_channels`` not None) a column row spans the padded
    width, and ``merged_channels`` rows of that width (the product, or grad_y, laid out like
    the columns) come on top."""
    padded_rest = _padded_extent(in_spatial, spec)
    if merged_channels is None:
        columns = channels * prod(kernel_spatial) * prod(out_spatial[1:])
    else:
        positions = prod(out_spatial[1:-1]) * padded_rest[-1]
        columns = (channels * prod(kernel_spatial) + merged_channels) * positions
    return (columns + channels * spec.stride[0] * prod(padded_rest)) * itemsize


def _columns_row_bytes(x, kernel_spatial, out_spatial, spec, c_out: int, merged: bool) -> int:
    """`_row_bytes` of the columns of x: (N, C_in, *S), with C_out rows laid out like them
    when ``merged``."""
    return _row_bytes(
        x.shape[1],
        kernel_spatial,
        x.shape[2:],
        out_spatial,
        spec,
        x.itemsize,
        c_out if merged else None,
    )


def _merges_rows(spec: ResolvedSpec, weight_shape, out_last: int) -> bool:
    """Whether blocks use merged rows. With stride 1 in the last two spatial dims, output
    positions ``(o, o')`` can be taken as ``j = o * P + o'`` over the padded width ``P``
    (the ``P - O`` positions past each row's end are computed and thrown away): every kernel
    tap's columns are then one contiguous run of the padded input instead of one short run
    per output row, and copy 2-3x faster (measured on 2 cores, 64-wide rows). The product
    (or grad_y) then needs one more copy, between that layout and y's, so merged rows pay
    only where the columns outweigh it: ``C_in/g * prod(K) >= 2 * C_out/g``, and rows that
    waste at most an eighth (``P - O <= O / 8``). weight_shape: (C_out, C_in // g, *K);
    out_last: O of the last spatial dim.
    """
    c_out, c_group, *kernel_spatial = weight_shape
    return (
        len(kernel_spatial) >= 2
        and spec.stride[-2] == spec.stride[-1] == 1
        and c_group * prod(kernel_spatial) >= 2 * (c_out // spec.groups)
        and 8 * spec.dilation[-1] * (kernel_spatial[-1] - 1) <= out_last
    )


def _halo_bytes(channels: int, kernel_first: int, in_spatial, spec: ResolvedSpec, itemsize: int):
    """Scratch bytes of the padded rows a block holds beyond ``stride`` per output row: its
    windows' reach into the rows after its last, ``d*(K-1) + 1 - s`` rows (none if negative).
    Blocks get the budget less this, so that one block's scratch stays within the budget."""
    extra = spec.dilation[0] * (kernel_first - 1) + 1 - spec.stride[0]
    return channels * max(extra, 0) * prod(_padded_extent(in_spatial, spec)) * itemsize


@lru_cache(maxsize=256)
def _padded_extent(in_spatial: tuple[int, ...], spec: ResolvedSpec) -> tuple[int, ...]:
    """Sizes of every spatial dim but the first after padding: S[1:] + lo + hi. Cached: asked
    several times a call (block sizes, halo, each block's padded rows)."""
    return padded_sizes(in_spatial[1:], spec.padding[1:])


def _padded_rows(
    a: np.ndarray, nb: slice, rb: slice, kernel_first: int, spec: ResolvedSpec, take, merged: bool
):
    """a: (N, C, *S) -> the padded input rows that output rows ``rb`` read:
    (n, C, R, *(S[1:] + lo + hi)), zeros in the padding, in scratch from ``take``.

    Output row ``o`` reads padded rows ``o*s .. o*s + d*(K-1)`` (docs/design.md). Without padding
    it is a view of ``a``, unless ``merged`` rows need the last two dims to be one run of
    memory and in ``a`` they are not (then a copy).
    """
    (lo, _), s, d = spec.padding[0], spec.stride[0], spec.dilation[0]
    first, stop = rb.start * s, (rb.stop - 1) * s + d * (kernel_first - 1) + 1
    if not any(before or after for before, after in spec.padding):
        rows = a[nb, :, first:stop]
        if not merged or rows.strides[-2] == rows.shape[-1] * rows.strides[-1]:
            return rows
        copied = take(rows.shape, a.dtype)
        _copy(copied, rows)
        return copied
    padded = take(
        (nb.stop - nb.start, a.shape[1], stop - first, *_padded_extent(a.shape[2:], spec)),
        a.dtype,
    )
    inner = slice(max(first - lo, 0), min(stop - lo, a.shape[2]))
    if inner.start >= inner.stop:  # the block's windows read only padding rows
        padded.fill(0)
        return padded
    rows = slice(inner.start + lo - first, inner.stop + lo - first)
    interior = (rows, *crop_slices(a.shape[3:], spec.padding[1:]))
    _zero_around(padded, interior)
    _copy(padded[(slice(None), slice(None), *interior)], a[nb, :, inner])
    return padded


ZERO_ALL_BYTES = 64 * 2**10
"""Padded blocks up to this size are zeroed whole before the input is copied in."""


def _zero_around(a: np.ndarray, interior: tuple[slice, ...]) -> None:
    """Zero every element of a: (n, C, *P) outside the box ``interior`` (one slice per spatial
    dim), leaving the box as it is: each dim's slabs before and after it, across the others
    (corners twice). Half the writes of zeroing all before the box is copied in; below
    `ZERO_ALL_BYTES` one fill of the whole array, which costs less than the slabs' indexing
    (0.2 against 2.8 us on a 1x2x7x7 block)."""
    if a.nbytes <= ZERO_ALL_BYTES:
        a.fill(0)
        return
    for j, inside in enumerate(interior):
        before = (slice(None),) * (2 + j)
        a[(*before, slice(0, inside.start))] = 0
        a[(*before, slice(inside.stop, None))] = 0


def _window_view(a: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """A read-only view of ``a``'s memory with other shape and strides (overlapping windows).

    Over a C-contiguous numeric array an ndarray on its buffer (0.4 us); otherwise (a view of
    the caller's x, object arrays) `as_strided` (2.8 us: a third of a tiny layer's forward).
    """
    if a.flags.c_contiguous and not a.dtype.hasobject:
        view = np.ndarray(shape, a.dtype, a, 0, strides)
        view.flags.writeable = False
        return view
    return as_strided(a, shape, strides, writeable=False)


def _windows(
    padded: np.ndarray, kernel_spatial, out_spatial, spec: ResolvedSpec, merged: bool
) -> np.ndarray:
    """padded: (n, C, *P) -> its read-only window view (n, C, *K, *positions): tap k of output
    position o is padded element ``o*s + k*d``; positions are ``out_spatial``, or with
    ``merged`` rows ``(*out_spatial[:-2], _merged_length(out_spatial, P[-1]))``
    (`_merges_rows`): the last two output dims are then one run with the last dim's step,
    which is the padded row length times the step of the one before (stride 1 in both)."""
    n, c, *steps = padded.strides
    positions = [t * s for t, s in zip(steps, spec.stride, strict=True)]
    out = tuple(out_spatial)
    if merged:
        out = (*out[:-2], _merged_length(out_spatial, padded.shape[-1]))
        positions = [*positions[:-2], positions[-1]]
    return _window_view(
        padded,
        (*padded.shape[:2], *kernel_spatial, *out),
        (n, c, *(t * d for t, d in zip(steps, spec.dilation, strict=True)), *positions),
    )


def _columns(
    padded: np.ndarray, kernel_spatial, block_out, spec: ResolvedSpec, take, merged: bool
) -> np.ndarray:
    """padded: (n, C, *P) -> cols: (n, groups, C//groups * prod(K), positions), in scratch
    from ``take``: one copy of the window view (`_windows`); ``padded`` holds exactly the rows
    the windows reach (`_padded_rows`)."""
    view = _windows(padded, kernel_spatial, block_out, spec, merged)
    cols = take(view.shape, view.dtype)
    _copy(cols, view)
    return cols.reshape(
        padded.shape[0], spec.groups, -1, prod(view.shape[2 + len(kernel_spatial) :])
    )


WHOLE_BYTES = 256 * 2**10
"""Problems whose whole column matrix and padded input take at most this many bytes (and
fit the caller's budget) are computed in one piece (`_whole_columns`), with no block planning
and no scratch buffer: on a 1x2x5x5 layer the planning cost more than the arithmetic
(fast.forward 47 against 21 us, 2 cores)."""


class _Whole(NamedTuple):
    """The geometry of computing an (N, C, *S) operand's columns in one piece (`_whole_plan`).

    padded_shape: (N, C, *(S + lo + hi)); interior: the index of the operand inside it, None
    without pads; windows: shape (N, C, *K, *O) and byte strides of the window view of a
    C-ordered padded array; columns: (N, groups, C//groups * prod(K), prod(O)); nbytes: the
    columns' and the padded array's bytes together.
    """

    padded_shape: tuple[int, ...]
    interior: tuple[slice, ...] | None
    windows: tuple[tuple[int, ...], tuple[int, ...]]
    columns: tuple[int, ...]
    nbytes: int

    def fits(self, budget_bytes: int) -> bool:
        """Whether the problem is small enough to compute in one piece (`WHOLE_BYTES`)."""
        return self.nbytes <= min(WHOLE_BYTES, budget_bytes)


@lru_cache(maxsize=256)
def _whole_plan(
    shape: tuple[int, ...], kernel_spatial, out_spatial, spec: ResolvedSpec, itemsize: int
) -> _Whole:
    """`_Whole` of an operand of ``shape`` (N, C, *S), a kernel (*K) and outputs (*O).
    Cached: a function of shapes and a frozen spec, asked by every call of the fast path."""
    (n, c), padded_spatial = shape[:2], padded_sizes(shape[2:], spec.padding)
    padded_shape = (n, c, *padded_spatial)
    n_step, c_step, *steps = _c_strides(padded_shape, itemsize)
    strides = (
        n_step,
        c_step,
        *(t * d for t, d in zip(steps, spec.dilation, strict=True)),
        *(t * s for t, s in zip(steps, spec.stride, strict=True)),
    )
    columns = (n, spec.groups, c // spec.groups * prod(kernel_spatial), prod(out_spatial))
    interior = (slice(None), slice(None), *crop_slices(shape[2:], spec.padding))
    return _Whole(
        padded_shape,
        interior if padded_shape != tuple(shape) else None,
        ((n, c, *kernel_spatial, *out_spatial), strides),
        columns,
        (prod(columns) + prod(padded_shape)) * itemsize,
    )


def _whole_padded(a: np.ndarray, plan: _Whole) -> np.ndarray:
    """a: (N, C, *S) -> (N, C, *(S + lo + hi)) of `_Whole` ``plan``, C-ordered, zeros in the
    pads; ``a`` itself when it has no pads and is C-ordered already."""
    if plan.interior is None:
        return np.ascontiguousarray(a)
    padded = np.zeros(plan.padded_shape, a.dtype)
    padded[plan.interior] = a
    return padded


def _whole_columns(padded: np.ndarray, plan: _Whole) -> np.ndarray:
    """padded: `_whole_padded` -> cols: (N, groups, C//groups * prod(K), prod(O)) of `_Whole`
    ``plan``: its window view, copied by the reshape."""
    return _window_view(padded, *plan.windows).reshape(plan.columns)


def _merged_length(block_out, padded_last: int) -> int:
    """Positions of merged rows (`_merges_rows`) in one plane: every row but the last spans
    the padded width; the last stops at its last output (its windows end at the plane's)."""
    return (block_out[-2] - 1) * padded_last + block_out[-1]


def _valid_positions(wide: np.ndarray, block_out, padded_last: int) -> np.ndarray:
    """wide: (n, C, prod(block_out[:-2]) * _merged_length(...)), C-contiguous -> the view
    (n, C, *block_out) of its outputs, without the positions past each row's end."""
    *lead, step = wide.strides
    length = _merged_length(block_out, padded_last)
    shape = (*wide.shape[:2], *block_out)
    strides = (*lead, *_c_strides(block_out[:-2], length * step), padded_last * step, step)
    return as_strided(wide, shape, strides)


def _c_strides(shape, innermost: int) -> tuple[int, ...]:
    """Strides of a C-ordered array of ``shape`` whose elements are ``innermost`` bytes."""
    strides = []
    for size in reversed(shape):
        strides.append(innermost)
        innermost *= size
    return tuple(reversed(strides))


def _tap_windows(kernel_spatial, block_out, spec: ResolvedSpec) -> Iterator[tuple[slice, ...]]:
    """For each kernel tap in C order, the slices of the padded block it meets at every output
    position: ``k*d : k*d + (O-1)*s + 1 : s`` per dim (`convgrad.reference.direct.window`)."""
    per_dim = [
        [slice(k * d, k * d + (o - 1) * s + 1, s) for k in range(kernel)]
        for kernel, o, s, d in zip(
            kernel_spatial, block_out, spec.stride, spec.dilation, strict=True
        )
    ]
    return product(*per_dim)


def _summed_samples(per_sample: np.ndarray) -> np.ndarray:
    """per_sample: (n, *rest) summed over its first (sample) axis -> (*rest)."""
    return per_sample.sum(axis=0)


def _col2im(d_cols: np.ndarray, d_padded: np.ndarray, kernel_spatial, block_out, spec) -> None:
    """d_cols: (n, C, prod(K), *block_out) -> d_padded: (n, C, *P), overwritten with the sum
    of each tap's column gradients at the padded positions it met (col2im)."""
    d_padded.fill(0)
    for tap, target in enumerate(_tap_windows(kernel_spatial, block_out, spec)):
        d_padded[(slice(None), slice(None), *target)] += d_cols[:, :, tap]


def _flat_rows(a: np.ndarray, groups: int) -> np.ndarray:
    """A block of an (N, C, *O) array, (n, C, rows, *rest) -> (n, groups, C//groups, M).

    A view: the block spans whole trailing dims, so rows and the rest merge without a copy.
    """
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, -1)


def _weight_matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """w: (C_out, C_in//g, *K) -> (groups, C_out//g, C_in//g * prod(K)), a view."""
    return w.reshape(groups, w.shape[0] // groups, -1)


def forward(
    x: np.ndarray, w: np.ndarray, spec: ResolvedSpec, out_spatial, budget_bytes=CHUNK_BYTES
) -> np.ndarray:
    """x: (N, C_in, *S), w: (C_out, C_in // g, *K) -> y: (N, C_out, *O), no bias."""
    g, kernel_spatial, out_spatial = spec.groups, w.shape[2:], tuple(out_spatial)
    w_mat = _weight_matrix(w, g)
    whole = _whole_plan(x.shape, kernel_spatial, out_spatial, spec, x.itemsize)
    if whole.fits(budget_bytes):
        return np.matmul(w_mat, _whole_columns(_whole_padded(x, whole), whole)).reshape(
            x.shape[0], w.shape[0], *out_spatial
        )
    merged = _merges_rows(spec, w.shape, out_spatial[-1])
    y = np.empty((x.shape[0], w.shape[0], *out_spatial), dtype=x.dtype)
    row_bytes = _columns_row_bytes(x, kernel_spatial, out_spatial, spec, w.shape[0], merged)
    halo = _halo_bytes(x.shape[1], kernel_spatial[0], x.shape[2:], spec, x.itemsize)
    for nb, rb in _blocks(x.shape[0], out_spatial[0], row_bytes, budget_bytes - halo):
        block_out = (rb.stop - rb.start, *out_spatial[1:])
        with _BlockScratch() as take:
            padded = _padded_rows(x, nb, rb, kernel_spatial[0], spec, take, merged)
            cols = _columns(padded, kernel_spatial, block_out, spec, take, merged)
            if merged:
                # The product over every merged position, then its outputs copied into y.
                wide = take((cols.shape[0], w.shape[0], cols.shape[-1]), y.dtype)
                np.matmul(w_mat, cols, out=_flat_rows(wide, g))
                _copy(y[nb, :, rb], _valid_positions(wide, block_out, padded.shape[-1]))
                del wide
            else:
                np.matmul(w_mat, cols, out=_flat_rows(y[nb, :, rb], g))
            del padded, cols  # freed before the scratch may grow: one block's memory at a time
    return y


def grad_weight(
    x: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec, kernel_spatial, budget_bytes=CHUNK_BYTES
) -> np.ndarray:
    """x: (N, C_in, *S), grad_y: (N, C_out, *O) -> grad_w: (C_out, C_in // g, *K).

    With merged rows (`_merges_rows`) grad_y is laid out like the columns, zero at the
    positions past each row's end, whose columns then add ``0 * x`` = 0 to every sum: exact
    unless x holds an inf or NaN (0 * inf is NaN). A result that is not all finite is
    therefore computed again without merged rows, which never pairs x with a position
    outside grad_y.
    """
    weight_shape = (grad_y.shape[1], x.shape[1] // spec.groups, *kernel_spatial)
    out_spatial = grad_y.shape[2:]
    whole = _whole_plan(x.shape, tuple(kernel_spatial), out_spatial, spec, x.itemsize)
    if whole.fits(budget_bytes):
        cols = _whole_columns(_whole_padded(x, whole), whole)
        per_sample = np.matmul(_flat_rows(grad_y, spec.groups), cols.swapaxes(-1, -2))
        return _summed_samples(per_sample).reshape(weight_shape)
    if _merges_rows(spec, weight_shape, grad_y.shape[-1]):
        with np.errstate(invalid="ignore"):  # 0 * inf: warned again below if it is real
            gw = _grad_weight(x, grad_y, spec, tuple(kernel_spatial), budget_bytes, merged=True)
        if gw.dtype.kind != "f" or np.isfinite(gw).all():
            return gw
    return _grad_weight(x, grad_y, spec, tuple(kernel_spatial), budget_bytes, merged=False)


def _grad_weight(
    x: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec, kernel_spatial, budget_bytes, merged
) -> np.ndarray:
    g, out_spatial = spec.groups, grad_y.shape[2:]
    c_out, c_group = grad_y.shape[1], x.shape[1] // g
    gw = np.zeros((g, c_out // g, c_group * prod(kernel_spatial)), x.dtype)
    row_bytes = _columns_row_bytes(x, kernel_spatial, out_spatial, spec, c_out, merged)
    halo = _halo_bytes(x.shape[1], kernel_spatial[0], x.shape[2:], spec, x.itemsize)
    for nb, rb in _blocks(x.shape[0], out_spatial[0], row_bytes, budget_bytes - halo):
        block_out = (rb.stop - rb.start, *out_spatial[1:])
        n = nb.stop - nb.start
        with _BlockScratch() as take:
            padded = _padded_rows(x, nb, rb, kernel_spatial[0], spec, take, merged)
            cols = _columns(padded, kernel_spatial, block_out, spec, take, merged)
            gy = grad_y[nb, :, rb]
            if merged:
                gy, block_gy = take((n, c_out, cols.shape[-1]), gw.dtype), gy
                gy.fill(0)
                _copy(_valid_positions(gy, block_out, padded.shape[-1]), block_gy)
            per_sample = take((n, *gw.shape), gw.dtype)
            np.matmul(_flat_rows(gy, g), cols.swapaxes(-1, -2), out=per_sample)
            gw += _summed_samples(per_sample)
            del padded, cols, gy, per_sample  # freed before the scratch may grow
    return gw.reshape(c_out, c_group, *kernel_spatial)


def _correlation_spec(spec: ResolvedSpec, kernel_spatial) -> ResolvedSpec | None:
    """The spec under which grad_input is a forward correlation of grad_y, or None.

    With stride 1, grad_x is the correlation of grad_y padded by ``d*(K-1) - lo`` before and
    ``d*(K-1) - hi`` after with the kernel rotated 180° and its channel axes swapped
    (docs/design.md, Gradients; Dumoulin & Visin 2016, relationship 8). None for strides above
    1 or pads beyond the kernel's reach (the new pads would be negative).
    """
    reach = [d * (k - 1) for k, d in zip(kernel_spatial, spec.dilation, strict=True)]
    if any(s != 1 for s in spec.stride) or any(
        max(lo, hi) > r for (lo, hi), r in zip(spec.padding, reach, strict=True)
    ):
        return None
    pads = tuple((r - lo, r - hi) for (lo, hi), r in zip(spec.padding, reach, strict=True))
    return replace(spec, mode="explicit", padding=pads)


def grad_input(
    grad_y: np.ndarray, w: np.ndarray, spec: ResolvedSpec, in_spatial, budget_bytes=CHUNK_BYTES
) -> np.ndarray:
    """grad_y: (N, C_out, *O), w: (C_out, C_in // g, *K) -> grad_x: (N, C_in, *S).

    Two arrangements of the same sums, chosen once per shape by the bytes of columns they
    move: with stride 1 and ``C_out <= 2 * C_in``, the forward correlation of
    `_correlation_spec` (columns of grad_y, C_out*K per input position, written once and read
    once by the product); otherwise col2im (C_in*K per output position written by the product,
    then read again by K strided adds). Measured on 2 cores, each wins on its side of the line.
    """
    correlation = grad_input_correlation(spec, w.shape)
    if correlation is not None:
        return _grad_input_by_correlation(grad_y, w, correlation, in_spatial, budget_bytes)
    return _grad_input_by_col2im(grad_y, w, spec, in_spatial, budget_bytes)


@lru_cache(maxsize=256)
def grad_input_correlation(spec: ResolvedSpec, weight_shape) -> ResolvedSpec | None:
    """The spec `grad_input` computes grad_x under as a forward correlation of grad_y, or None
    when it takes col2im (stride above 1, pads beyond the kernel's reach, or
    ``C_out > 2 * C_in``). weight_shape: (C_out, C_in // g, *K), a tuple. Cached: a function of
    a frozen spec and ints, asked once per grad_input call (dataclasses.replace alone took a
    quarter of a tiny layer's grad_input)."""
    correlation = _correlation_spec(spec, weight_shape[2:])
    if correlation is None or weight_shape[0] > 2 * weight_shape[1] * spec.groups:
        return None
    return correlation


def _grad_input_by_correlation(
    grad_y: np.ndarray, w: np.ndarray, correlation: ResolvedSpec, in_spatial, budget_bytes
) -> np.ndarray:
    """`forward` of grad_y with the rotated, channel-swapped kernel (C_in, C_out // g, *K)."""
    g, kernel_spatial = correlation.groups, w.shape[2:]
    grouped = w.reshape(g, w.shape[0] // g, w.shape[1], *kernel_spatial).swapaxes(1, 2)
    rotated = grouped[(..., *(slice(None, None, -1),) * len(kernel_spatial))]
    w_t = rotated.reshape(g * w.shape[1], w.shape[0] // g, *kernel_spatial)
    return forward(grad_y, w_t, correlation, tuple(in_spatial), budget_bytes)


def _grad_input_by_col2im(
    grad_y: np.ndarray, w: np.ndarray, spec: ResolvedSpec, in_spatial, budget_bytes
) -> np.ndarray:
    """Column gradients ``w_mat^T @ grad_y`` added onto the block's padded input rows, one
    strided add per kernel tap (col2im); then the rows inside x are added to grad_x (blocks of
    output rows share their halo rows). Positions of x no window reaches stay exactly 0.
    """
    g, out_spatial, kernel_spatial = spec.groups, grad_y.shape[2:], w.shape[2:]
    in_spatial, c_in = tuple(in_spatial), g * w.shape[1]
    w_mat_t = _weight_matrix(w, g).swapaxes(-1, -2)  # (g, C_in//g * prod(K), C_out//g)
    n = grad_y.shape[0]
    whole = _whole_plan((n, c_in, *in_spatial), kernel_spatial, out_spatial, spec, grad_y.itemsize)
    if whole.fits(budget_bytes):
        d_cols = np.matmul(w_mat_t, _flat_rows(grad_y, g))
        d_cols = d_cols.reshape(n, c_in, prod(kernel_spatial), *out_spatial)
        d_padded = np.empty(whole.padded_shape, grad_y.dtype)
        _col2im(d_cols, d_padded, kernel_spatial, out_spatial, spec)
        if whole.interior is None:
            return d_padded
        return np.ascontiguousarray(d_padded[whole.interior])
    gx = np.zeros((n, c_in, *in_spatial), grad_y.dtype)
    row_bytes = _row_bytes(c_in, kernel_spatial, in_spatial, out_spatial, spec, gx.itemsize)
    (lo, _), s = spec.padding[0], spec.stride[0]
    halo = _halo_bytes(c_in, kernel_spatial[0], in_spatial, spec, gx.itemsize)
    for nb, rb in _blocks(grad_y.shape[0], out_spatial[0], row_bytes, budget_bytes - halo):
        block_out = (rb.stop - rb.start, *out_spatial[1:])
        n, m = nb.stop - nb.start, prod(block_out)
        rows = (block_out[0] - 1) * s + spec.dilation[0] * (kernel_spatial[0] - 1) + 1
        with _BlockScratch() as take:
            d_cols = take((n, g, w_mat_t.shape[1], m), gx.dtype)
            np.matmul(w_mat_t, _flat_rows(grad_y[nb, :, rb], g), out=d_cols)
            d_cols = d_cols.reshape(n, c_in, prod(kernel_spatial), *block_out)
            d_padded = take((n, c_in, rows, *_padded_extent(in_spatial, spec)), gx.dtype)
            _col2im(d_cols, d_padded, kernel_spatial, block_out, spec)
            first = rb.start * s - lo
            inner = slice(max(first, 0), min(first + rows, in_spatial[0]))
            if inner.start < inner.stop:
                inside = slice(inner.start - first, inner.stop - first)
                crop = crop_slices(in_spatial[1:], spec.padding[1:])
                gx[nb, :, inner] += d_padded[(slice(None), slice(None), inside, *crop)]
            del d_cols, d_padded  # freed before the scratch may grow
    return gx
