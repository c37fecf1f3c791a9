"""The oracle against PyTorch autograd (torch.nn.functional.conv{1,2,3}d): forward, grad_input,
grad_weight and grad_bias, values and shapes, on a fixed grid and on hypothesis draws."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from oracles import iter_layers, torch_layer

import convgrad as cg
from convgrad.spec import ConvSpec
from convgrad.strategies import conv_problems
from convgrad.verification.problem import ConvProblem

LAYERS = list(iter_layers())


def _integer_data(shape, seed):
    return np.random.default_rng(seed).integers(-3, 4, size=shape).astype(np.float64)


def _integer_valued(problem: ConvProblem) -> bool:
    arrays = [a for a in (problem.x, problem.w, problem.b, problem.grad_y) if a is not None]
    return all(np.array_equal(a, np.round(a)) for a in arrays)


def _assert_matches_torch(problem: ConvProblem, method: str, exact: bool) -> None:
    x, w, b, gy = problem.x, problem.w, problem.b, problem.grad_y
    y = cg.conv(x, w, b, method=method, **problem.kwargs)
    grads = cg.conv_backward(x, w, gy, b=b, method=method, **problem.kwargs)
    t_y, t_gx, t_gw, t_gb = torch_layer(x, w, b, gy, problem.resolved)
    pairs = [("forward", y, t_y), ("grad_input", grads.input, t_gx)]
    pairs.append(("grad_weight", grads.weight, t_gw))
    if b is not None:
        pairs.append(("grad_bias", grads.bias, t_gb))
    call = f"{problem.describe()}, method={method!r}"
    for name, ours, theirs in pairs:
        assert ours.shape == theirs.shape, f"{name}: {ours.shape} vs torch {theirs.shape} [{call}]"
        assert ours.dtype == np.float64
        if exact:
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{name} [{call}]")
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize(("seed", "layer"), list(enumerate(LAYERS)))
def test_grid_matches_torch_exactly_on_integer_data(seed, layer):
    _, x_shape, w_shape, kwargs = layer
    x, w = _integer_data(x_shape, seed), _integer_data(w_shape, seed + 1)
    b = _integer_data(w_shape[:1], seed + 2)
    y_shape = cg.output_shape(x_shape, w_shape, **{k: v for k, v in kwargs.items() if k != "flip"})
    problem = ConvProblem(x, w, b, _integer_data(y_shape, seed + 3), ConvSpec(**kwargs))
    _assert_matches_torch(problem, "auto", exact=True)


@settings(max_examples=60)
@given(conv_problems(data="integer"))
@example(
    ConvProblem(
        np.arange(5.0).reshape(1, 1, 5),
        np.array([[[1.0, 10.0]]]),
        np.array([2.0]),
        np.ones((1, 1, 3)),
        ConvSpec(padding=((0, 1),), stride=2),
    )
)
def test_integer_draws_match_torch_exactly(problem):
    _assert_matches_torch(problem, "fast", exact=True)


@settings(max_examples=30)
@given(conv_problems(data="real", ndim=(1, 2)))
def test_real_draws_match_torch_within_roundoff(problem):
    _assert_matches_torch(problem, "fast", exact=_integer_valued(problem))


@settings(max_examples=25)
@given(conv_problems(data=("integer", "real"), ndim=(1, 2), max_channels=2, max_side=7))
def test_direct_method_matches_torch(problem):
    _assert_matches_torch(problem, "direct", exact=_integer_valued(problem))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_low_precision_inputs_are_computed_in_float64(dtype):
    x = _integer_data((1, 2, 6, 5), 0).astype(dtype)
    w = _integer_data((4, 1, 3, 2), 1).astype(dtype)
    spec = {"padding": (1, 0), "stride": (2, 1), "groups": 2}
    gy = _integer_data(cg.output_shape(x.shape, w.shape, **spec), 2).astype(dtype)
    problem = ConvProblem(x, w, None, gy, ConvSpec(**spec))
    _assert_matches_torch(problem, "auto", exact=True)
