"""convgrad.adapters.torch: torch functions in the verify protocol, autograd gradients and the
double-backward check."""

import dataclasses
import importlib
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import convgrad as cg
from convgrad.adapters.torch import check_double_backward, from_torch, torch_conv
from convgrad.strategies import conv_problems
from convgrad.verification.bounds import Precision, forward_bound, gradient_bounds
from convgrad.verification.problem import ConvProblem

FORWARD, BACKWARD = from_torch(torch_conv)


def _reference(problem: ConvProblem):
    y = cg.conv(problem.x, problem.w, **problem.kwargs)
    return y, cg.conv_backward(problem.x, problem.w, problem.grad_y, **problem.kwargs)


@given(conv_problems(data="integer", bias=False))
def test_torch_conv_equals_the_oracle_exactly_on_integer_data(problem):
    y, grads = _reference(problem)
    spec = problem.resolved
    got_x, got_w = BACKWARD(problem.x, problem.w, problem.grad_y, spec)
    np.testing.assert_array_equal(FORWARD(problem.x, problem.w, spec), y)
    np.testing.assert_array_equal(got_x, grads.input)
    np.testing.assert_array_equal(got_w, grads.weight)


@settings(max_examples=15)
@given(conv_problems(ndim=2, data="real", bias=False))
def test_torch_conv_is_within_the_error_bounds_on_real_data(problem):
    y, grads = _reference(problem)
    spec, kw, precision = problem.resolved, problem.kwargs, Precision()
    got_x, got_w = BACKWARD(problem.x, problem.w, problem.grad_y, spec)
    bounds = gradient_bounds(problem.x, problem.w, problem.grad_y, grads, precision=precision, **kw)
    assert np.all(
        np.abs(FORWARD(problem.x, problem.w, spec) - y)
        <= forward_bound(problem.x, problem.w, y, precision=precision, **kw)
    )
    assert np.all(np.abs(got_x - grads.input) <= bounds.input)
    assert np.all(np.abs(got_w - grads.weight) <= bounds.weight)


def test_verify_accepts_torch_conv_in_every_mode():
    result = cg.verify(
        FORWARD,
        BACKWARD,
        ndim=(1, 2, 3),
        padding=("valid", "same", "same_lower", "full", "explicit"),
        flip=(False, True),
        max_examples=60,
    )
    assert result.ok, str(result)


def test_verify_catches_a_torch_layer_that_forgets_the_flip():
    def no_flip(x, w, spec):
        return torch_conv(x, w, dataclasses.replace(spec, flip=False))

    result = cg.verify(*from_torch(no_flip), flip=(True,), max_failures=1)
    assert [(f.check, f.output) for f in result.failures] == [("exact", "forward")]
    assert "cross-correlation computed where convolution (flip=True)" in (
        result.failures[0].diagnosis
    )


def _small_problem(dtype="float64", spec=None, seed=0) -> ConvProblem:
    rng = np.random.default_rng(seed)
    spec = spec or cg.ConvSpec(padding=((1, 0), (0, 2)), stride=(2, 1), dilation=(1, 2))
    x = rng.integers(-3, 4, (2, 2, 6, 5)).astype(dtype)
    w = rng.integers(-3, 4, (3, 2 // spec.groups, 2, 3)).astype(dtype)
    y = cg.conv(
        x,
        w,
        padding=spec.padding,
        stride=spec.stride,
        dilation=spec.dilation,
        groups=spec.groups,
        flip=spec.flip,
    )
    return ConvProblem(x, w, None, rng.integers(-3, 4, y.shape).astype(dtype), spec)


def test_results_keep_the_arrays_dtype():
    p = _small_problem("float32")
    y = FORWARD(p.x, p.w, p.resolved)
    grad_x, grad_w = BACKWARD(p.x, p.w, p.grad_y, p.resolved)
    assert (y.dtype, grad_x.dtype, grad_w.dtype) == (np.float32,) * 3
    np.testing.assert_array_equal(y, cg.conv(p.x, p.w, **p.kwargs))


def test_explicit_pads_go_to_the_right_dims_and_sides():
    # F.pad lists the last dim first: ((1, 0), (0, 2)) must pad H by (1, 0) and W by (0, 2).
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    w = np.ones((1, 1, 1, 1))
    spec = cg.ConvSpec(padding=((1, 0), (0, 2))).resolve((2, 3), (1, 1))
    expected = np.zeros((1, 1, 3, 5))
    expected[0, 0, 1:, :3] = x[0, 0]
    np.testing.assert_array_equal(FORWARD(x, w, spec), expected)


def test_flip_rotates_the_kernel():
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    w = np.array([[[1.0, 10.0]]])
    flipped = cg.ConvSpec(flip=True).resolve((5,), (2,))
    np.testing.assert_array_equal(FORWARD(x, w, flipped)[0, 0], [12.0, 23.0, 34.0, 45.0])


def test_an_unused_operand_gets_a_zero_gradient():
    forward, backward = from_torch(lambda x, w, spec: 2 * x)
    p = _small_problem()
    grad_x, grad_w = backward(p.x, p.w, p.x, p.resolved)
    np.testing.assert_array_equal(grad_x, 2 * p.x)
    np.testing.assert_array_equal(grad_w, np.zeros_like(p.w))
    np.testing.assert_array_equal(forward(p.x, p.w, p.resolved), 2 * p.x)


def test_in_place_writes_reach_the_caller_as_in_torch():
    def zeroes_input(x, w, spec):
        x.zero_()
        return torch_conv(x, w, spec)

    forward, _ = from_torch(zeroes_input)
    p = _small_problem()
    x = p.x.copy()
    forward(x, p.w, p.resolved)
    assert not x.any()


def test_non_tensor_result_is_a_type_error():
    forward, backward = from_torch(lambda x, w, spec: x.detach().numpy())
    p = _small_problem()
    with pytest.raises(TypeError, match=r"fn\(x, w, spec\) is a ndarray.*torch\.Tensor"):
        forward(p.x, p.w, p.resolved)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        backward(p.x, p.w, p.grad_y, p.resolved)


def test_non_callable_fn_is_a_type_error():
    with pytest.raises(TypeError, match=r"fn=3 must be callable as fn\(x, w, spec\)"):
        from_torch(3)


def test_integer_arrays_cannot_be_differentiated():
    p = _small_problem()
    with pytest.raises(TypeError, match="x has dtype int64; autograd needs floating-point"):
        BACKWARD(p.x.astype(np.int64), p.w, p.grad_y, p.resolved)


def test_torch_conv_rejects_four_spatial_dims():
    spec = cg.ConvSpec().resolve((2, 2, 2, 2), (1, 1, 1, 1))
    with pytest.raises(ValueError, match="spec has 4 spatial dims; torch_conv handles 1, 2 or 3"):
        torch_conv(torch.zeros(1, 1, 2, 2, 2, 2), torch.zeros(1, 1, 1, 1, 1, 1), spec)


def test_missing_torch_raises_import_error_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "convgrad.adapters.torch")
    module = importlib.import_module("convgrad.adapters.torch")  # importing needs no torch
    with pytest.raises(ImportError, match=r"needs PyTorch.*pip install convgrad\[torch\]"):
        module.from_torch(module.torch_conv)


@settings(max_examples=10)
@given(conv_problems(ndim=(1, 2), data="integer", bias=False, max_side=6))
def test_double_backward_of_torch_conv_passes(problem):
    result = check_double_backward(torch_conv, problem)
    assert result.passed, result.message
    assert result.check == "double_backward"
    assert result.bound_ratio == 0.0  # integer data: every second derivative is exact


class _DetachedBackward(torch.autograd.Function):
    """A conv whose first derivatives are right but computed off the graph: second
    derivatives through them are silently zero (a classic custom-Function mistake)."""

    @staticmethod
    def forward(ctx, x, w, spec):
        ctx.save_for_backward(x, w)
        ctx.spec = spec
        return torch_conv(x, w, spec)

    @staticmethod
    def backward(ctx, grad_y):
        x, w = ctx.saved_tensors
        with torch.enable_grad():
            xd, wd = x.detach().requires_grad_(), w.detach().requires_grad_()
            grad_x, grad_w = torch.autograd.grad(torch_conv(xd, wd, ctx.spec), (xd, wd), grad_y)
        return grad_x, grad_w, None


def _detached(x, w, spec):
    return _DetachedBackward.apply(x, w, spec)


def test_double_backward_catches_first_order_gradients_computed_off_the_graph():
    p = _small_problem()
    _, backward = from_torch(_detached)
    _, grads = _reference(p)
    first = backward(p.x, p.w, p.grad_y, p.resolved)
    np.testing.assert_array_equal(first[0], grads.input)  # first order is right
    result = check_double_backward(_detached, p)
    assert not result.passed
    assert result.output == "grad_input"
    assert "d/dw <v, grad_input>" in result.message
    assert "grad_weight(v, grad_y)" in result.message
    assert result.bound_ratio > 1e12  # integer data: the bound is only the subnormal slack


def test_double_backward_rejects_a_non_problem():
    with pytest.raises(TypeError, match=r"must be a convgrad\.ConvProblem"):
        check_double_backward(torch_conv, {"x": 1})


def test_double_backward_needs_float_data():
    p = _small_problem()
    ints = ConvProblem(
        p.x.astype(np.int64), p.w.astype(np.int64), None, p.grad_y.astype(np.int64), p.spec
    )
    with pytest.raises(TypeError, match="autograd needs floating-point"):
        check_double_backward(torch_conv, ints)
