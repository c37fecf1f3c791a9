"""The fast path's one-piece arithmetic for small problems (`fast.WHOLE_BYTES`): taken exactly
when the whole column matrix and padded input fit both it and the caller's budget, and equal
to the definition and to the blocks bit for bit on integer data."""

from math import prod
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings

import convgrad as cg
from convgrad.reference import direct, fast
from convgrad.strategies import PADDINGS, conv_problems


def _spec(padding=0, stride=1, dilation=1, x_spatial=(5, 5), k_spatial=(3, 3)):
    return cg.ConvSpec(padding=padding, stride=stride, dilation=dilation).resolve(
        x_spatial, k_spatial
    )


def test_whole_plan_counts_columns_and_padded_input_against_both_limits():
    spec = _spec(padding=((1, 2), (0, 1)))  # padded 8 x 6
    plan = fast._whole_plan((2, 3, 5, 5), (3, 3), (4, 5), spec, 8)
    assert plan.padded_shape == (2, 3, 8, 6)
    assert plan.columns == (2, 1, 3 * 9, 4 * 5)
    assert plan.nbytes == 2 * 3 * (9 * 4 * 5 + 8 * 6) * 8  # N * C * (prod(K) * prod(O) + prod(P))
    assert plan.fits(plan.nbytes) and not plan.fits(plan.nbytes - 1)
    with patch.object(fast, "WHOLE_BYTES", plan.nbytes - 1):
        assert not plan.fits(fast.CHUNK_BYTES)


def test_whole_plan_windows_step_by_stride_and_dilation_over_the_padded_array():
    spec = _spec(padding=((1, 0), (2, 2)), stride=(2, 3), dilation=(1, 2))
    plan = fast._whole_plan((1, 2, 6, 5), (2, 3), (3, 3), spec, 8)
    row, col = 9 * 8, 8  # padded 7 x 9, C-ordered
    assert plan.windows == (
        (1, 2, 2, 3, 3, 3),
        (2 * 7 * 9 * 8, 7 * 9 * 8, row, 2 * col, 2 * row, 3 * col),
    )
    assert plan.interior == (slice(None), slice(None), slice(1, 7), slice(2, 7))
    assert fast._whole_plan((1, 2, 6, 5), (2, 3), (5, 3), _spec(), 8).interior is None


def _calls_whole_columns(call) -> bool:
    with patch.object(fast, "_whole_columns", wraps=fast._whole_columns) as spy:
        call()
    return spy.called


def test_a_tiny_layer_is_computed_whole_and_a_large_one_in_blocks():
    rng = np.random.default_rng(0)
    tiny, large = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((8, 16, 64, 64))
    w = rng.standard_normal((3, 2, 3, 3))
    spec = _spec(padding=1)
    assert _calls_whole_columns(lambda: fast.forward(tiny, w, spec, (5, 5)))
    w16 = rng.standard_normal((4, 16, 3, 3))
    assert not _calls_whole_columns(lambda: fast.forward(large, w16, spec, (64, 64)))
    assert not _calls_whole_columns(lambda: fast.forward(tiny, w, spec, (5, 5), budget_bytes=64))


def _all_three(impl, x, w, gy, spec) -> dict[str, np.ndarray]:
    """forward, grad_input and grad_weight of ``impl`` (`fast` or `direct`, one signature)."""
    return {
        "forward": impl.forward(x, w, spec, gy.shape[2:]),
        "grad_input": impl.grad_input(gy, w, spec, x.shape[2:]),
        "grad_weight": impl.grad_weight(x, gy, spec, w.shape[2:]),
    }


@settings(max_examples=60)
@given(
    conv_problems(
        ndim=(1, 2, 3),
        padding=PADDINGS,
        stride=(1, 2, 3),
        dtype=("int64", "float64"),
        data="integer",
    )
)
def test_whole_equals_the_definition_and_the_blocks_exactly(problem):
    x, w, gy, spec = problem.x, problem.w, problem.grad_y, problem.resolved
    whole = _all_three(fast, x, w, gy, spec)
    with patch.object(fast, "WHOLE_BYTES", 0):
        blocks = _all_three(fast, x, w, gy, spec)
    expected = _all_three(direct, x, w, gy, spec)
    for name, value in whole.items():
        assert value.shape == expected[name].shape and value.dtype == expected[name].dtype, name
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
        np.testing.assert_array_equal(value, blocks[name], err_msg=name)


@pytest.mark.parametrize(
    ("padding", "stride", "dilation"), [(0, 1, 1), (1, 1, 1), (((2, 0), (1, 3)), (2, 3), (1, 2))]
)
def test_whole_results_are_fresh_contiguous_arrays_and_inputs_stay_unchanged(
    padding, stride, dilation
):
    rng = np.random.default_rng(1)
    x = np.asfortranarray(rng.integers(-4, 5, size=(2, 4, 7, 8)).astype(np.float64))
    w = rng.integers(-4, 5, size=(6, 2, 2, 3)).astype(np.float64)
    spec = cg.ConvSpec(padding=padding, stride=stride, dilation=dilation, groups=2).resolve(
        x.shape[2:], w.shape[2:]
    )
    out = cg.output_shape(
        x.shape, w.shape, padding=padding, stride=stride, dilation=dilation, groups=2
    )
    gy = rng.integers(-4, 5, size=out).astype(np.float64)
    before = [a.copy() for a in (x, w, gy)]
    results = [
        fast.forward(x, w, spec, out[2:]),
        fast._grad_input_by_col2im(gy, w, spec, x.shape[2:], fast.CHUNK_BYTES),
        fast.grad_weight(x, gy, spec, w.shape[2:]),
    ]
    for result, shape in zip(results, (out, x.shape, w.shape), strict=True):
        assert result.shape == shape and result.flags.c_contiguous
        assert not any(np.shares_memory(result, a) for a in (x, w, gy))
    for a, b in zip((x, w, gy), before, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(results[0], direct.forward(x, w, spec, out[2:]))
    np.testing.assert_array_equal(results[1], direct.grad_input(gy, w, spec, x.shape[2:]))
    assert prod(x.shape) * 8 < fast.WHOLE_BYTES
