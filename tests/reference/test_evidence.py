"""The reference proves itself: `convgrad.conv` and `convgrad.conv_backward` against
torch.autograd (float64), finite differences (exact on integer data), the adjoint identity and the
error bounds, for every padding mode and 1, 2 and 3 spatial dims."""

import numpy as np
import pytest
import torch
from finite_differences import directional_derivative, exact_directional_derivative, jacobian
from hypothesis import given, settings

import convgrad as cg
from convgrad.adapters.torch import torch_conv
from convgrad.shapes import dim_algebra
from convgrad.strategies import conv_problems
from convgrad.verification.bounds import (
    Precision,
    compare,
    forward_bound,
    forward_magnitude,
    forward_terms,
    gamma,
    gradient_bounds,
)
from convgrad.verification.numeric import is_integer_valued, random_direction

MODES = ("valid", "same", "same_lower", "full", "explicit")
U64 = 2.0**-53


def _integer(problem) -> bool:
    return all(is_integer_valued(a) for a in (problem.x, problem.w, problem.grad_y))


def _autograd(problem):
    """y (with bias), grad_x, grad_w, grad_b by torch.autograd in float64."""
    x = torch.from_numpy(problem.x).requires_grad_()
    w = torch.from_numpy(problem.w).requires_grad_()
    y = torch_conv(x, w, problem.resolved)
    shape = (1, -1) + (1,) * problem.ndim
    b = None
    if problem.b is not None:
        b = torch.from_numpy(problem.b).requires_grad_()
        y = y + b.reshape(shape)
    inputs = (x, w) if b is None else (x, w, b)
    summed = (0, *range(2, y.ndim))
    grads = torch.autograd.grad(y, inputs, torch.from_numpy(problem.grad_y))
    grad_b = grads[2] if b is not None else torch.from_numpy(problem.grad_y).sum(summed)
    return y.detach().numpy(), grads[0].numpy(), grads[1].numpy(), grad_b.numpy()


def _check_against_torch(problem):
    kw = problem.kwargs
    y = cg.conv(problem.x, problem.w, problem.b, **kw)
    grads = cg.conv_backward(problem.x, problem.w, problem.grad_y, b=problem.b, **kw)
    t_y, t_gx, t_gw, t_gb = _autograd(problem)
    assert y.shape == problem.output_shape
    assert (grads.input.shape, grads.weight.shape) == (problem.x.shape, problem.w.shape)
    assert grads.bias.shape == (problem.w.shape[0],)
    if _integer(problem) and (problem.b is None or is_integer_valued(problem.b)):
        for ours, theirs in zip((y, *grads), (t_y, t_gx, t_gw, t_gb), strict=True):
            assert np.array_equal(ours, theirs)
        return
    # torch is a float64 implementation: within the bounds of the oracle's error model.
    precision = Precision("float64")
    y_bound = forward_bound(problem.x, problem.w, y, problem.b, precision=precision, **kw)
    assert compare(t_y, y, y_bound).passed
    bounds = gradient_bounds(problem.x, problem.w, problem.grad_y, grads, precision=precision, **kw)
    for ours, theirs, bound in zip(grads, (t_gx, t_gw, t_gb), bounds, strict=True):
        assert compare(theirs, ours, bound).passed


@pytest.mark.parametrize("mode", MODES)
def test_forward_and_gradients_match_torch_autograd(mode):
    @settings(max_examples=40)
    @given(conv_problems(ndim=(1, 2, 3), padding=mode))
    def run(problem):
        _check_against_torch(problem)

    run()


@settings(max_examples=30)
@given(conv_problems(ndim=(1, 2, 3), stride=1, dilation=1, groups=1, data="integer"))
def test_shapes_are_k_i_valid_and_full_sizes(problem):
    i, k = problem.x.shape[2:], problem.w.shape[2:]
    o = problem.output_shape[2:]
    expected_o = {
        "valid": tuple(a - b + 1 for a, b in zip(i, k, strict=True)),
        "full": tuple(a + b - 1 for a, b in zip(i, k, strict=True)),
        "same": i,
        "same_lower": i,
    }.get(problem.resolved.mode)
    if expected_o is not None:
        assert o == expected_o
    grads = cg.conv_backward(problem.x, problem.w, problem.grad_y, **problem.kwargs)
    assert grads.weight.shape[2:] == k and grads.input.shape[2:] == i
    dims = dim_algebra(problem.x.shape, problem.w.shape, problem.resolved)
    # grad_weight: a valid correlation of the padded x (P) with grad_y (O): P - O + 1 = K rows
    assert tuple(a.grad_weight_raw for a in dims) == k
    # grad_input: the full correlation of grad_y (O) with the kernel (K): O + K - 1 = P rows
    assert tuple(a.grad_input_full for a in dims) == tuple(a.padded for a in dims)


@settings(max_examples=30)
@given(conv_problems(ndim=(1, 2, 3), data="integer"))
def test_finite_differences_are_exact_on_integer_data(problem):
    kw, rng = problem.kwargs, np.random.default_rng(0)
    x, w, g = problem.x, problem.w, problem.grad_y
    grads = cg.conv_backward(x, w, g, **kw)
    v = random_direction(x.shape, rng, integer=True)
    dx = exact_directional_derivative(lambda z: cg.conv(z, w, **kw), x, v)
    assert np.sum(g * dx) == np.sum(v * grads.input)
    u = random_direction(w.shape, rng, integer=True)
    dw = exact_directional_derivative(lambda z: cg.conv(x, z, **kw), w, u)
    assert np.sum(g * dw) == np.sum(u * grads.weight)


@settings(max_examples=30)
@given(conv_problems(ndim=(1, 2, 3), data="real", bias=False))
def test_finite_differences_agree_within_bounds_on_real_data(problem):
    kw, rng, h = problem.kwargs, np.random.default_rng(1), 0.5
    x, w, g = problem.x, problem.w, problem.grad_y
    grads = cg.conv_backward(x, w, g, **kw)
    bounds = gradient_bounds(x, w, g, grads, precision=Precision(), **kw)
    v = random_direction(x.shape, rng, integer=False)
    d = directional_derivative(lambda z: cg.conv(z, w, **kw), x, v, h)
    # Each of conv(x ± h v) is within its bound of the exact value; so the quotient is within
    # bound / h, and the two dot products within their own float64 rounding.
    magnitude = forward_magnitude(np.abs(x) + h * np.abs(v), w, **kw)
    y_bound = Precision().bound(forward_terms(w.shape, False), magnitude, magnitude)
    lhs, rhs = np.sum(g * d), np.sum(v * grads.input)
    tolerance = (
        np.sum(np.abs(g) * y_bound) / h
        + U64 * np.sum(np.abs(g * d))
        + np.sum(np.abs(v) * bounds.input)
        + gamma(g.size, U64) * np.sum(np.abs(g * d))
        + gamma(x.size, U64) * np.sum(np.abs(v * grads.input))
    )
    assert abs(lhs - rhs) <= tolerance


@settings(max_examples=40)
@given(conv_problems(ndim=(1, 2, 3), bias=False))
def test_adjoint_identity_holds(problem):
    kw = problem.kwargs
    x, w, g = problem.x, problem.w, problem.grad_y
    y = cg.conv(x, w, **kw)
    grads = cg.conv_backward(x, w, g, **kw)
    lhs, via_x, via_w = np.sum(y * g), np.sum(x * grads.input), np.sum(w * grads.weight)
    if _integer(problem):
        assert lhs == via_x == via_w
        return
    precision = Precision()
    y_bound = forward_bound(x, w, y, precision=precision, **kw)
    bounds = gradient_bounds(x, w, g, grads, precision=precision, **kw)
    size = max(y.size, x.size, w.size)
    common = np.sum(np.abs(g) * y_bound) + gamma(size, U64) * np.sum(np.abs(y * g))
    assert abs(lhs - via_x) <= common + np.sum(np.abs(x) * bounds.input) + gamma(
        size, U64
    ) * np.sum(np.abs(x * grads.input))
    assert abs(lhs - via_w) <= common + np.sum(np.abs(w) * bounds.weight) + gamma(
        size, U64
    ) * np.sum(np.abs(w * grads.weight))


@settings(max_examples=20)
@given(conv_problems(ndim=(1, 2), data="integer", max_side=5, max_channels=2, max_batch=1))
def test_full_jacobian_transposed_is_grad_input_and_grad_weight(problem):
    kw = problem.kwargs
    x, w, g = problem.x, problem.w, problem.grad_y
    grads = cg.conv_backward(x, w, g, **kw)
    jx = jacobian(lambda z: cg.conv(z, w, **kw), x, h=1.0)
    assert np.array_equal((jx.T @ g.ravel()).reshape(x.shape), grads.input)
    jw = jacobian(lambda z: cg.conv(x, z, **kw), w, h=1.0)
    assert np.array_equal((jw.T @ g.ravel()).reshape(w.shape), grads.weight)
