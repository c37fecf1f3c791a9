"""The fast path's blocking: the block planner tiles batch x output rows within the budget, and
fast equals the definition bit for bit however the blocks fall — whole multi-sample blocks,
runs of rows that do not divide the output, row blocks whose windows see only padding — and
whatever the memory layout of the caller's arrays."""

from math import prod

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import convgrad as cg
from convgrad.reference import direct, fast
from convgrad.strategies import conv_problems

pytestmark = pytest.mark.usefixtures("blocks_only")


@given(
    batch=st.integers(1, 6),
    rows=st.integers(1, 12),
    row_bytes=st.integers(0, 100),
    budget=st.integers(0, 2000),
)
@example(batch=5, rows=3, row_bytes=10, budget=60).via("two whole samples per block")
@example(batch=2, rows=7, row_bytes=10, budget=30).via("runs of 3 rows, the last of 1")
def test_blocks_tile_batch_and_rows_once_within_the_budget(batch, rows, row_bytes, budget):
    blocks = list(fast._blocks(batch, rows, row_bytes, budget))
    seen = np.zeros((batch, rows), dtype=int)
    for nb, rb in blocks:
        seen[nb, rb] += 1
        sample_rows = (nb.stop - nb.start) * (rb.stop - rb.start)
        assert sample_rows == 1 or sample_rows * row_bytes <= budget, (nb, rb)
        assert nb.stop - nb.start == 1 or (rb.start, rb.stop) == (0, rows), (nb, rb)
    assert (seen == 1).all(), seen
    per_block = max(1, budget // max(row_bytes, 1))
    assert len(blocks) == (
        -(-batch // (per_block // rows)) if per_block >= rows else batch * -(-rows // per_block)
    )


def _assert_fast_is_direct(x, w, gy, spec, budget):
    out_spatial, in_spatial, kernel = gy.shape[2:], x.shape[2:], w.shape[2:]
    pairs = {
        "forward": (
            fast.forward(x, w, spec, out_spatial, budget),
            direct.forward(x, w, spec, out_spatial),
        ),
        "grad_input": (
            fast.grad_input(gy, w, spec, in_spatial, budget),
            direct.grad_input(gy, w, spec, in_spatial),
        ),
        "grad_weight": (
            fast.grad_weight(x, gy, spec, kernel, budget),
            direct.grad_weight(x, gy, spec, kernel),
        ),
    }
    for name, (got, expected) in pairs.items():
        assert got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected, err_msg=f"{name}, budget {budget} B")


def _budget_for(sample_rows, x, w, gy, spec):
    """The budget that gives blocks of ``sample_rows`` (batch x first-dim output rows)."""
    row = fast._row_bytes(x.shape[1], w.shape[2:], x.shape[2:], gy.shape[2:], spec, x.itemsize)
    return sample_rows * row


@settings(max_examples=30)
@given(
    problem=conv_problems(dtype=("int64", "float64"), data="integer", max_batch=3, max_side=9),
    data=st.data(),
)
def test_fast_equals_direct_for_every_block_size(problem, data):
    x, w, gy, spec = problem.x, problem.w, problem.grad_y, problem.resolved
    total = gy.shape[0] * gy.shape[2]
    sample_rows = data.draw(st.integers(1, total), label="sample-rows per block")
    _assert_fast_is_direct(x, w, gy, spec, _budget_for(sample_rows, x, w, gy, spec))


@pytest.mark.parametrize(
    ("kwargs", "sample_rows"),
    [
        ({"padding": ((4, 5), (0, 1)), "stride": 1}, 1),  # rows 0-1 and 10+ read only padding
        ({"padding": ((4, 5), (0, 1)), "stride": 2}, 2),
        ({"padding": ((3, 3), (1, 1)), "stride": (3, 1), "dilation": 2}, 2),  # x rows skipped
        ({"padding": "same", "stride": 2, "groups": 2}, 5),  # blocks of 2 samples + 1 row
        ({"padding": "full", "dilation": (2, 1)}, 3),
        ({"padding": "valid", "stride": (1, 2)}, 4),  # no padding: x's rows used in place
    ],
)
def test_fast_equals_direct_on_row_blocks_with_padding_and_strides(kwargs, sample_rows):
    rng = np.random.default_rng(sum(map(ord, repr(kwargs))))
    x = rng.integers(-4, 5, size=(3, 4, 7, 6))
    w = rng.integers(-4, 5, size=(4, 4 // kwargs.get("groups", 1), 3, 2))
    spec = cg.ConvSpec(**kwargs).resolve(x.shape[2:], w.shape[2:])
    gy = rng.integers(-4, 5, size=cg.output_shape(x.shape, w.shape, **kwargs))
    _assert_fast_is_direct(x, w, gy, spec, _budget_for(sample_rows, x, w, gy, spec))


def test_grad_input_is_exactly_zero_where_no_window_reaches():
    """Stride 3 with a 1-tap kernel reads every third input; the rest get +0.0 exactly."""
    x_shape, w = (2, 2, 10), np.ones((3, 2, 1))
    spec = cg.ConvSpec(stride=3).resolve(x_shape[2:], w.shape[2:])
    gy = np.ones((2, 3, 4))
    for budget in (1, 10**6):
        gx = fast.grad_input(gy, w, spec, x_shape[2:], budget)
        np.testing.assert_array_equal(gx[..., 0::3], np.full((2, 2, 4), 3.0))
        for gap in (1, 2):
            assert (gx[..., gap::3] == 0).all() and not np.signbit(gx[..., gap::3]).any()


@pytest.mark.parametrize("layout", ["fortran", "strided", "negative_strides"])
def test_fast_reads_arrays_of_any_memory_layout(layout):
    """The window view is built from the array's own strides: non-C-contiguous x, w and grad_y
    give the same bits as the definition."""
    rng = np.random.default_rng(1)
    kwargs = {"padding": 1, "stride": (1, 2), "dilation": (1, 2)}
    x = rng.integers(-4, 5, size=(2, 3, 8, 9)).astype(np.float64)
    w = rng.integers(-4, 5, size=(4, 3, 3, 3)).astype(np.float64)
    gy = rng.integers(-4, 5, size=cg.output_shape(x.shape, w.shape, **kwargs)).astype(np.float64)
    relayout = {
        "fortran": np.asfortranarray,
        "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
        "negative_strides": lambda a: a[..., ::-1].copy()[..., ::-1],
    }[layout]
    x, w, gy = (relayout(a) for a in (x, w, gy))
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or gy.flags.c_contiguous)
    spec = cg.ConvSpec(**kwargs).resolve(x.shape[2:], w.shape[2:])
    for budget in (1, 10**6):
        _assert_fast_is_direct(x, w, gy, spec, budget)


def test_fast_leaves_inputs_unchanged_and_returns_fresh_arrays():
    """Without padding x's rows are viewed in place: nothing may write through that view."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 6, 6))
    w = rng.standard_normal((2, 2, 3, 3))
    gy = rng.standard_normal((2, 2, 4, 4))
    spec = cg.ConvSpec().resolve((6, 6), (3, 3))
    copies = [a.copy() for a in (x, w, gy)]
    for budget in (1, 10**6):
        results = (
            fast.forward(x, w, spec, (4, 4), budget),
            fast.grad_input(gy, w, spec, (6, 6), budget),
            fast.grad_weight(x, gy, spec, (3, 3), budget),
        )
        for a, before in zip((x, w, gy), copies, strict=True):
            np.testing.assert_array_equal(a, before)
            assert not any(np.shares_memory(r, a) for r in results)


def test_one_block_scratch_is_its_columns_and_padded_rows():
    """_row_bytes counts a sample-row's columns plus the stride's worth of padded input rows."""
    spec = cg.ConvSpec(padding=((1, 1), (2, 0)), stride=(2, 1)).resolve((9, 7), (3, 2))
    out = cg.output_shape((1, 5, 9, 7), (4, 5, 3, 2), padding=((1, 1), (2, 0)), stride=(2, 1))
    columns = 5 * prod((3, 2)) * out[3]
    padded_rows = 2 * 5 * (7 + 2)
    assert fast._row_bytes(5, (3, 2), (9, 7), out[2:], spec, 8) == (columns + padded_rows) * 8


@settings(max_examples=25)
@given(
    problem=conv_problems(stride=1, dtype="int64", data="integer", max_batch=3, max_side=9),
    data=st.data(),
)
def test_both_grad_input_arrangements_equal_the_definition(problem, data):
    """Stride 1 with pads within the kernel's reach: col2im and the correlation of grad_y with
    the rotated kernel give the definition's bits, for any blocking; beyond the reach, or with
    a stride, only col2im applies."""
    gy, w, spec, in_spatial = problem.grad_y, problem.w, problem.resolved, problem.x.shape[2:]
    budget = _budget_for(data.draw(st.integers(1, 4), label="rows"), problem.x, w, gy, spec)
    expected = direct.grad_input(gy, w, spec, in_spatial)
    got = fast._grad_input_by_col2im(gy, w, spec, in_spatial, budget)
    np.testing.assert_array_equal(got, expected)
    correlation = fast._correlation_spec(spec, w.shape[2:])
    reach = [d * (k - 1) for k, d in zip(w.shape[2:], spec.dilation, strict=True)]
    within = all(max(p) <= r for p, r in zip(spec.padding, reach, strict=True))
    assert (correlation is not None) == within
    if correlation is not None:
        got = fast._grad_input_by_correlation(gy, w, correlation, in_spatial, budget)
        np.testing.assert_array_equal(got, expected)


def test_grad_input_by_correlation_needs_stride_one():
    spec = cg.ConvSpec(padding="same", stride=(1, 2)).resolve((8, 8), (3, 3))
    assert fast._correlation_spec(spec, (3, 3)) is None
    spec = cg.ConvSpec(padding=((1, 1), (2, 2))).resolve((8, 8), (3, 3))
    assert fast._correlation_spec(spec, (3, 3)).padding == ((1, 1), (0, 0))


@pytest.mark.parametrize(
    ("c_out", "c_in_per_group", "groups", "takes_correlation"),
    [(16, 8, 1, True), (17, 8, 1, False), (32, 4, 4, True), (33, 4, 4, False)],
)
def test_grad_input_takes_the_correlation_up_to_twice_c_in_output_channels(
    c_out, c_in_per_group, groups, takes_correlation
):
    spec = cg.ConvSpec(padding="same", groups=groups).resolve((8, 8), (3, 3))
    chosen = fast.grad_input_correlation(spec, (c_out, c_in_per_group, 3, 3))
    assert (chosen is not None) == takes_correlation
    if takes_correlation:
        assert chosen.padding == ((1, 1), (1, 1)) and chosen.stride == (1, 1)


def test_grad_input_takes_col2im_with_a_stride_whatever_the_channels():
    spec = cg.ConvSpec(padding="same", stride=2).resolve((8, 8), (3, 3))
    assert fast.grad_input_correlation(spec, (1, 8, 3, 3)) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(60.0).reshape(3, 4, 5),  # C-contiguous: an ndarray on its buffer
        lambda: np.arange(120.0).reshape(3, 4, 10)[..., ::2],  # a strided view: as_strided
        lambda: np.array([[1, 2, 3, 4, 5]] * 3, dtype=object).reshape(3, 1, 5),  # references
    ],
)
def test_window_view_is_a_read_only_overlapping_view_of_the_same_memory(make):
    a = make()
    step = a.strides[-1]
    windows = fast._window_view(a, (*a.shape[:-1], 2, a.shape[-1] - 1), (*a.strides, step))
    np.testing.assert_array_equal(windows[..., 0, :], a[..., :-1])
    np.testing.assert_array_equal(windows[..., 1, :], a[..., 1:])
    assert np.shares_memory(windows, a) and not windows.flags.writeable


@pytest.mark.parametrize("size", [6, 64])  # 2x3x6x6 floats fill whole; 2x3x64x64 by slabs
def test_zero_around_zeroes_outside_the_box_and_leaves_the_box(size):
    a = np.full((2, 3, size, size), 7.0)
    assert (a.nbytes <= fast.ZERO_ALL_BYTES) == (size == 6)
    interior = (slice(1, size - 2), slice(2, size - 1))
    fast._zero_around(a, interior)
    box = np.zeros(a.shape, dtype=bool)
    box[(slice(None), slice(None), *interior)] = True
    assert (a[~box] == 0).all()
    if size == 64:
        assert (a[box] == 7.0).all(), "slabs leave the box as it was"
