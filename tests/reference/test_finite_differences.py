"""The finite-difference helpers the evidence tests use."""

import numpy as np
import pytest
from finite_differences import (
    central_step,
    directional_derivative,
    exact_directional_derivative,
    jacobian,
)

import convgrad as cg
from convgrad.verification.numeric import random_direction


def test_central_step_is_cube_root_of_eps_times_scale():
    eps = float(np.finfo(np.float64).eps)
    assert central_step() == pytest.approx(np.cbrt(eps))
    assert central_step(100.0) == pytest.approx(100 * np.cbrt(eps))
    assert central_step(0.5) == pytest.approx(np.cbrt(eps))  # scale below 1 counts as 1
    assert central_step(1.0, eps=1e-6) == pytest.approx(1e-2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"scale": -1.0}, "scale=-1.0"), ({"scale": np.inf}, "scale=inf"), ({"eps": 0.0}, "eps=0.0")],
)
def test_central_step_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        central_step(**kwargs)


def test_directional_derivative_of_linear_map_is_the_map_of_the_direction():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 5))
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    got = directional_derivative(lambda z: a @ z, x, v, 1e-3)
    np.testing.assert_allclose(got, a @ v, rtol=1e-10)


def test_directional_derivative_of_a_cubic_has_small_truncation_error():
    x, v = np.array([2.0]), np.array([1.0])
    got = directional_derivative(lambda z: z**3, x, v, central_step(2.0))
    assert got[0] == pytest.approx(12.0, rel=1e-9)


@pytest.mark.parametrize("h", [0.0, -1.0, np.nan, np.inf])
def test_directional_derivative_rejects_bad_steps(h):
    with pytest.raises(ValueError, match="h="):
        directional_derivative(lambda z: z, np.ones(2), np.ones(2), h)


def test_directional_derivative_rejects_bad_types_and_shapes():
    with pytest.raises(TypeError, match="h=True"):
        directional_derivative(lambda z: z, np.ones(2), np.ones(2), True)
    with pytest.raises(ValueError, match="v has shape"):
        directional_derivative(lambda z: z, np.ones(2), np.ones(3), 1.0)


def test_exact_directional_derivative_of_conv_equals_conv_of_direction_bitwise():
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (2, 3, 7, 6)).astype(float)
    w = rng.integers(-3, 4, (4, 3, 3, 2)).astype(float)
    v = random_direction(x.shape, rng, integer=True)
    got = exact_directional_derivative(lambda z: cg.conv(z, w, padding="same"), x, v)
    assert np.array_equal(got, cg.conv(v, w, padding="same"))


def test_exact_directional_derivative_rejects_non_integers():
    with pytest.raises(ValueError, match="x must be integer-valued"):
        exact_directional_derivative(lambda z: z, np.array([0.5]), np.array([1.0]))
    with pytest.raises(ValueError, match="v must be integer-valued"):
        exact_directional_derivative(lambda z: z, np.array([1.0]), np.array([0.25]))
    with pytest.raises(ValueError, match="not integer-valued"):
        exact_directional_derivative(lambda z: z / 3, np.array([1.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="h=0"):
        exact_directional_derivative(lambda z: z, np.array([1.0]), np.array([1.0]), h=0)


def test_jacobian_of_a_matrix_is_the_matrix():
    a = np.arange(12.0).reshape(3, 4) - 5
    np.testing.assert_allclose(jacobian(lambda z: a @ z, np.ones(4)), a, atol=1e-8)


def test_jacobian_transposed_times_grad_y_is_grad_input_exactly_on_integers():
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, (1, 2, 5)).astype(float)
    w = rng.integers(-3, 4, (3, 2, 2)).astype(float)
    g = rng.integers(-3, 4, (1, 3, 3)).astype(float)
    j = jacobian(lambda z: cg.conv(z, w, stride=2, padding="full"), x, h=1.0)
    assert j.shape == (g.size, x.size)
    expected = cg.conv_backward(x, w, g, stride=2, padding="full").input
    assert np.array_equal((j.T @ g.ravel()).reshape(x.shape), expected)


def test_jacobian_rejects_empty_input():
    with pytest.raises(ValueError, match="at least one element"):
        jacobian(lambda z: z, np.zeros(0))
