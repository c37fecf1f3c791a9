"""check_outputs: results computed elsewhere judged as verify judges them."""

from dataclasses import replace

import numpy as np
import pytest

import convgrad as cg
from convgrad.schema import OUTPUTS

from .implementations import (
    bias_problem,
    fixed_problem,
    ref_forward,
    reference_grads,
)


def test_check_outputs_passes_the_reference_exactly_on_integer_data_with_bias():
    p = bias_problem()
    grads = cg.conv_backward(p.x, p.w, p.grad_y, b=p.b, **p.kwargs)
    result = cg.check_outputs(
        p,
        forward=cg.conv(p.x, p.w, p.b, **p.kwargs),
        grad_input=grads.input,
        grad_weight=grads.weight.tolist(),
        grad_bias=grads.bias,
    )
    assert result.ok and result.examples == 1, str(result)
    assert [(r["check"], r["output"], r["ratio"]) for r in result.ratios] == [
        ("exact", output, 0.0) for output in ("forward", "grad_input", "grad_weight", "grad_bias")
    ]
    assert result.settings == {
        "dtype": "float64",
        "safety": 1.0,
        "subnormals": "ftz",
        "precision": None,
        "checked": list(OUTPUTS),
    }


def test_check_outputs_judges_a_wrong_gradient_exactly_as_verify_does():
    p = fixed_problem(padding="same", stride=2)
    g = reference_grads(p.x, p.w, p.grad_y, p.resolved)

    def backward(x, w, grad_y, spec):
        return g.input, 2 * g.weight

    found = cg.verify(ref_forward, backward, problems=[p]).failures
    from_verify = next(f for f in found if f.check == "value")
    (failure,) = cg.check_outputs(p, grad_input=g.input, grad_weight=2 * g.weight).failures
    # The same failure; only the snippet's head differs: verify knows where ref_forward lives.
    assert replace(failure, reproduce="") == replace(from_verify, reproduce="")
    assert failure.reproduce.split("\n\n")[1] == from_verify.reproduce.split("\n\n")[1]
    assert "import ref_forward as forward\n# define backward(" in from_verify.reproduce
    assert "# define forward(x, w, spec) -> y and backward(" in failure.reproduce
    assert (failure.check, failure.output) == ("value", "grad_weight")
    assert "right answer times 2" in failure.diagnosis
    assert "cg.verify(forward, backward, problems=[problem])" in failure.reproduce


@pytest.mark.parametrize(
    ("output", "damage", "check"),
    [
        ("forward", lambda a: a.astype(np.float32), "dtype"),
        ("grad_input", lambda a: a[..., :-1], "shape"),
        ("grad_weight", lambda a: np.where(a == a.flat[0], np.inf, a), "finite"),
        ("grad_bias", lambda a: {"not": "an array"}, "raised"),
        ("forward", lambda a: a + 1, "exact"),
    ],
)
def test_check_outputs_reports_the_first_failing_check_of_each_output(output, damage, check):
    p = bias_problem()
    grads = cg.conv_backward(p.x, p.w, p.grad_y, b=p.b, **p.kwargs)
    right = {
        "forward": cg.conv(p.x, p.w, p.b, **p.kwargs),
        "grad_input": grads.input,
        "grad_weight": grads.weight,
        "grad_bias": grads.bias,
    }
    result = cg.check_outputs(p, **{**right, output: damage(right[output])})
    assert [(f.check, f.output) for f in result.failures] == [(check, output)]
    assert result.failures[0].problem == p.describe()


def test_check_outputs_holds_real_data_to_the_rounding_bound_scaled_by_safety():
    p = fixed_problem()
    y = cg.conv(p.x, p.w, **p.kwargs)
    assert cg.check_outputs(p, forward=y * (1 + 2.0**-52)).ok
    off = y + np.where(np.abs(y) == np.abs(y).max(), 2e-14 * np.abs(y).max(), 0.0)
    (failure,) = cg.check_outputs(p, forward=off).failures
    assert failure.check == "value" and 1 < failure.bound_ratio < 64
    assert cg.check_outputs(p, forward=off, safety=64).ok


def test_check_outputs_judges_exact_integer_data_as_float64():
    p = bias_problem(dtype=np.int64)
    y = cg.conv(p.x, p.w, p.b, **p.kwargs)
    assert y.dtype == np.int64
    assert cg.check_outputs(p, forward=y.astype(np.float64)).ok
    (failure,) = cg.check_outputs(p, forward=y).failures
    assert failure.check == "dtype" and "for float64 data" in failure.message


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.ones((1, 1, 3)),), {"forward": np.ones((1, 1, 3))}, TypeError, "problem=.*ndarray"),
        ((), {}, ValueError, "needs at least one of forward, .*; all are None"),
        ((), {"forward": np.ones(1), "safety": 0.5}, ValueError, "safety=0.5 must be .*>= 1"),
        ((), {"forward": np.ones(1), "safety": "2"}, TypeError, "safety='2' must be a real"),
    ],
)
def test_check_outputs_bad_arguments_raise(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        cg.check_outputs(*(args or (fixed_problem(),)), **kwargs)
