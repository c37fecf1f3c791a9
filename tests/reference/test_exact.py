"""Exact arithmetic: int64, object arrays of Python ints and Fractions, and int64 data large
enough to need Python ints, against a brute-force sum over every index in Python arithmetic."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import brute_layer

import convgrad as cg
from convgrad.strategies import conv_problems
from convgrad.verification.problem import ConvProblem

SMALL = {"max_batch": 2, "max_channels": 2, "max_kernel": 3, "max_side": 5}


def _assert_exact(problem: ConvProblem, method: str) -> None:
    x, w, b, gy = problem.x, problem.w, problem.b, problem.grad_y
    y_ref, gx_ref, gw_ref = brute_layer(x, w, gy, problem.resolved)
    if b is not None:
        y_ref = y_ref + np.asarray(b, dtype=object).reshape((1, -1) + (1,) * problem.ndim)
    y = cg.conv(x, w, b, method=method, **problem.kwargs)
    grads = cg.conv_backward(x, w, gy, b=b, method=method, **problem.kwargs)
    gb_ref = np.asarray(gy, dtype=object).sum(axis=(0, *range(2, gy.ndim)))
    for name, ours, ref in [
        ("forward", y, y_ref),
        ("grad_input", grads.input, gx_ref),
        ("grad_weight", grads.weight, gw_ref),
        ("grad_bias", grads.bias, gb_ref),
    ]:
        assert ours.dtype.kind in "iO", f"{name} is {ours.dtype}, not exact"
        assert ours.shape == ref.shape, name
        assert ours.tolist() == ref.tolist(), f"{name} [{problem.describe()}, {method}]"


@pytest.mark.parametrize("method", ["direct", "fast"])
@settings(max_examples=25)
@given(problem=conv_problems(dtype="int64", data="integer", **SMALL))
def test_int64_is_exact(method, problem):
    _assert_exact(problem, method)


@settings(max_examples=25)
@given(conv_problems(dtype="object", data=("integer", "real"), **SMALL))
def test_object_ints_and_fractions_are_exact(problem):
    _assert_exact(problem, "direct")
    _assert_exact(problem, "auto")


@settings(max_examples=20)
@given(
    conv_problems(dtype="int64", data="integer", **SMALL),
    st.sampled_from([2**40, 2**62, -(2**63)]),
)
def test_int64_large_enough_to_overflow_falls_back_to_python_ints(problem, big):
    x = problem.x.copy()
    x.flat[0] = big
    w = problem.w * 2**30
    large = ConvProblem(x, w, problem.b, problem.grad_y * 2**20, problem.spec)
    _assert_exact(large, "direct")
    _assert_exact(large, "fast")


def test_int64_result_stays_int64_when_nothing_can_overflow():
    x = np.full((1, 1, 4), 3, dtype=np.int64)
    w = np.full((1, 1, 2), 2, dtype=np.int64)
    assert cg.conv(x, w).dtype == np.int64
    np.testing.assert_array_equal(cg.conv(x, w), [[[12, 12, 12]]])


def test_int64_products_beyond_int64_are_python_ints():
    x = np.full((1, 1, 3), 2**40, dtype=np.int64)
    w = np.full((1, 1, 2), 2**40, dtype=np.int64)
    y = cg.conv(x, w)
    assert y.dtype == object
    assert y.tolist() == [[[2**81, 2**81]]]


def test_grad_bias_of_huge_grad_y_does_not_wrap_when_x_is_zero():
    x = np.zeros((1, 1, 4), dtype=np.int64)
    w = np.ones((1, 1, 1), dtype=np.int64)
    grad_y = np.full((1, 1, 4), 2**62, dtype=np.int64)
    assert cg.conv_backward(x, w, grad_y).bias.tolist() == [2**64]


def test_object_arrays_of_numpy_integers_do_not_wrap():
    x = np.empty((1, 1, 2), dtype=object)
    x[0, 0] = [np.int64(2**40), np.int64(3)]
    w = np.empty((1, 1, 1), dtype=object)
    w[0, 0, 0] = np.int64(2**40)
    y = cg.conv(x, w)
    assert y.tolist() == [[[2**80, 3 * 2**40]]]
    assert all(type(v) is int for v in y.flat)


def test_fractions_are_kept_exact():
    third, half = Fraction(1, 3), Fraction(1, 2)
    x = np.array([[[third, third, 1, -third]]], dtype=object)
    w = np.array([[[half, 1]]], dtype=object)
    y = cg.conv(x, w, np.array([Fraction(1, 6)], dtype=object), padding="valid")
    assert y.tolist() == [[[Fraction(2, 3), Fraction(4, 3), Fraction(1, 3)]]]
    grads = cg.conv_backward(x, w, np.array([[[1, 1, 1]]], dtype=object))
    assert grads.input.tolist() == [[[half, Fraction(3, 2), Fraction(3, 2), 1]]]
    assert grads.weight.tolist() == [[[Fraction(5, 3), 1]]]


def test_object_and_int64_operands_mix():
    x = np.array([[[1, 2, 3]]], dtype=np.int64)
    w = np.array([[[Fraction(1, 2)]]], dtype=object)
    assert cg.conv(x, w).tolist() == [[[Fraction(1, 2), 1, Fraction(3, 2)]]]


def test_fast_method_rejects_object_arrays():
    x = np.array([[[1, 2, 3]]], dtype=object)
    with pytest.raises(ValueError, match=r"method='fast' cannot compute object arrays"):
        cg.conv(x, x[..., :1], method="fast")


@given(conv_problems(dtype="int64", data="integer", ndim=1, **SMALL))
def test_float64_of_integer_data_equals_the_exact_result(problem):
    exact = cg.conv(problem.x, problem.w, problem.b, **problem.kwargs)
    b = None if problem.b is None else problem.b.astype(np.float64)
    floats = cg.conv(problem.x.astype(np.float64), problem.w.astype(float), b, **problem.kwargs)
    np.testing.assert_array_equal(floats, exact.astype(np.float64))
