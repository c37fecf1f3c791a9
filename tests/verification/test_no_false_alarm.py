"""A correct implementation passes every check: the reference itself, torch, float16 bounds,
and data at the ends of float64's range (underflow, overflow)."""

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import convgrad as cg
from convgrad.adapters.torch import from_torch, torch_conv
from convgrad.verification.ladder import BOUNDARIES, DEFAULT_LAYERS
from convgrad.verification.problem import ConvProblem

from .implementations import (
    FAST,
    UNIT_OPERANDS,
    ref_backward,
    ref_forward,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_as_implementation_passes_every_check(seed):
    result = cg.verify(
        ref_forward, ref_backward, ndim=(1, 2), flip=(False, True), seed=seed, **FAST
    )
    assert result.ok, str(result)
    # The fixed problems: 10 canonical ones (the baseline, on real data, 3 other padding modes,
    # stride 2, dilation 2, groups 2, 2-D, flip), 3 layers of the table, one per size
    # boundary; then 25 drawn.
    assert result.examples == 10 + DEFAULT_LAYERS + len(BOUNDARIES) + 25
    checks = {r["check"] for r in result.ratios}
    assert {"exact", "value", "adjoint", "finite_difference", "linearity"} <= checks
    assert all(r["ratio"] is None or r["ratio"] <= 1 for r in result.ratios)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_passes_every_check(dtype):
    forward, backward = from_torch(torch_conv)
    result = cg.verify(
        forward,
        backward,
        ndim=(1, 2, 3),
        dtype=dtype,
        padding=("valid", "same", "full", "same_lower", "explicit"),
        stride=(1, 2, 3),
        seed=3,
        **FAST,
    )
    assert result.ok, str(result)


@pytest.mark.parametrize("grad_y", [0.0625, 0.077, 1.0])
def test_underflowing_products_with_a_small_grad_y_are_no_false_alarm(grad_y):
    # Found by the zoo's 20-seed run: x*w underflows to 0, so the central difference is 0 while
    # <v, grad_input> is about 1e-251; the tolerance once rounded to 0 when |grad_y| < 1.
    tiny = np.array([[[3.641165109815949e-250]]])
    problem = ConvProblem(tiny, tiny.copy(), None, np.array([[[grad_y]]]), cg.ConvSpec())
    result = cg.verify(ref_forward, ref_backward, problems=[problem])
    assert result.ok, str(result)


def test_float16_reference_passes_with_float16_bounds():
    result = cg.verify(ref_forward, ref_backward, dtype="float16", **FAST)
    assert result.ok, str(result)


def test_underflow_in_the_finite_difference_is_no_false_alarm():
    # Regression: x = w = 1e-300 make every forward product underflow to 0 while the gradient
    # (w * grad_y) does not; the tolerance must carry the underflow's absolute error.
    tiny = np.full((1, 1, 1), 1e-300)
    problem = ConvProblem(tiny, tiny.copy(), None, np.ones((1, 1, 1)), cg.ConvSpec())
    result = cg.verify(ref_forward, ref_backward, problems=[problem])
    assert result.ok, str(result)


@settings(max_examples=30)
@example(x_exp=-514, grad_y_exp=-38)
@example(x_exp=508, grad_y_exp=406)
@given(x_exp=st.integers(-1074, 508), grad_y_exp=st.integers(-1074, 1020))
def test_reference_passes_every_identity_across_the_float64_range(x_exp, grad_y_exp):
    # x, w scaled by 2**x_exp and grad_y by 2**grad_y_exp, kept where every output is finite
    # (|y| < 2**(2 x_exp + 6)) and sum|grad_y| too. The two examples failed the adjoint check
    # before its dot products were scaled: the sides underflowed differently under a tolerance
    # rounded to 0, or overflowed to inf - inf.
    assume(x_exp + grad_y_exp <= 1016)
    x, w, grad_y = (
        np.ldexp(a, e) for a, e in zip(UNIT_OPERANDS, (x_exp, x_exp, grad_y_exp), strict=True)
    )
    problem = ConvProblem(x, w, None, grad_y, cg.ConvSpec())
    result = cg.verify(ref_forward, ref_backward, problems=[problem])
    assert result.ok, str(result)


@pytest.mark.parametrize(
    ("x", "grad_y"),
    [(3.641165109815949e-250, 0.0625), (6.46799736851946e-162, 0.0625), (1e120, 1e120)],
)
def test_adjoint_identity_of_one_product_at_the_ends_of_the_range_is_no_false_alarm(x, grad_y):
    # x * w underflows (or x * w * grad_y overflows) while every output is finite.
    problem = ConvProblem(
        np.array([[[x]]]), np.array([[[x]]]), None, np.array([[[grad_y]]]), cg.ConvSpec()
    )
    result = cg.verify(ref_forward, ref_backward, problems=[problem])
    assert result.ok, str(result)
    assert {r["check"] for r in result.ratios} >= {"adjoint", "finite_difference"}


def _big_problem(rng):
    x = rng.standard_normal((1, 3, 128, 128))
    w = rng.standard_normal((32, 3, 3, 3))
    return ConvProblem(x, w, None, rng.standard_normal((1, 32, 126, 126)), cg.ConvSpec())


def test_fixed_problem_of_realistic_size_is_no_false_alarm():
    # Its time is the benchmark's business (benchmarks/verdict.py), not a unit test's.
    forward, backward = from_torch(torch_conv)
    result = cg.verify(forward, backward, problems=[_big_problem(np.random.default_rng(0))])
    assert result.ok, str(result)
    assert result.examples == 1
