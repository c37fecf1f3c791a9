"""`method="direct"` (the definition) against `method="fast"` (column blocks and matmul) on the
same draws: bit-identical on integer-valued data, within roundoff on real data, and the fast
path's memory blocking (``budget_bytes``) invisible in the result."""

import numpy as np
import pytest
from hypothesis import given, settings

import convgrad as cg
from convgrad.reference import direct, fast
from convgrad.strategies import conv_problems


def _both(problem):
    x, w, b, gy = problem.x, problem.w, problem.b, problem.grad_y
    results = {}
    for method in ("direct", "fast"):
        grads = cg.conv_backward(x, w, gy, b=b, method=method, **problem.kwargs)
        results[method] = (cg.conv(x, w, b, method=method, **problem.kwargs), *grads)
    return results["direct"], results["fast"]


@given(conv_problems(dtype=("float64", "int64"), data="integer"))
def test_direct_equals_fast_exactly_on_integer_data(problem):
    for name, d, f in zip(("forward", "input", "weight", "bias"), *_both(problem), strict=True):
        assert d.dtype == f.dtype, name
        np.testing.assert_array_equal(d, f, err_msg=f"{name} [{problem.describe()}]")


@settings(max_examples=30)
@given(conv_problems(dtype=("float64", "float32"), data="real", ndim=(1, 2)))
def test_direct_matches_fast_within_roundoff_on_real_data(problem):
    for name, d, f in zip(("forward", "input", "weight", "bias"), *_both(problem), strict=True):
        np.testing.assert_allclose(d, f, rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("budget_bytes", [1, 200])
@settings(max_examples=25)
@given(problem=conv_problems(dtype="int64", data="integer", max_batch=3, max_side=8))
def test_fast_blocking_does_not_change_the_result(budget_bytes, problem):
    x, w, gy, spec = problem.x, problem.w, problem.grad_y, problem.resolved
    out_spatial, kernel = gy.shape[2:], w.shape[2:]
    np.testing.assert_array_equal(
        fast.forward(x, w, spec, out_spatial, budget_bytes=budget_bytes),
        direct.forward(x, w, spec, out_spatial),
    )
    np.testing.assert_array_equal(
        fast.grad_input(gy, w, spec, x.shape[2:], budget_bytes=budget_bytes),
        direct.grad_input(gy, w, spec, x.shape[2:]),
    )
    np.testing.assert_array_equal(
        fast.grad_weight(x, gy, spec, kernel, budget_bytes=budget_bytes),
        direct.grad_weight(x, gy, spec, kernel),
    )


def test_fast_handles_a_layer_larger_than_its_block_budget():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(3, 4, 9, 8, 7))
    w = rng.integers(-3, 4, size=(6, 2, 3, 2, 3))
    kwargs = {"padding": ((1, 2), (0, 1), (2, 0)), "stride": (2, 1, 3), "dilation": (1, 2, 1)}
    spec = cg.ConvSpec(groups=2, **kwargs).resolve(x.shape[2:], w.shape[2:])
    out_spatial = cg.output_shape(x.shape, w.shape, groups=2, **kwargs)[2:]
    expected = direct.forward(x, w, spec, out_spatial)
    gy = rng.integers(-3, 4, size=expected.shape)
    for budget in (1, 64, 10_000):
        np.testing.assert_array_equal(fast.forward(x, w, spec, out_spatial, budget), expected)
        np.testing.assert_array_equal(
            fast.grad_input(gy, w, spec, x.shape[2:], budget),
            direct.grad_input(gy, w, spec, x.shape[2:]),
        )
        np.testing.assert_array_equal(
            fast.grad_weight(x, gy, spec, w.shape[2:], budget),
            direct.grad_weight(x, gy, spec, w.shape[2:]),
        )
