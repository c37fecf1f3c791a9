import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import convgrad as cg
from convgrad.adapters.torch import from_torch, torch_conv
from convgrad.reference import conv, conv_backward
from convgrad.strategies import conv_problems
from convgrad.verification.bounds import (
    Precision,
    abs_dot,
    adjoint_sides,
    binary_exponent,
    compare,
    dot,
    dot_rounding,
    exact_within,
    finite_difference_tolerance,
    flushed_operands,
    forward_bound,
    forward_flushed,
    forward_magnitude,
    forward_terms,
    free_forward_magnitude,
    free_magnitudes,
    gamma,
    gradient_bounds,
    gradient_flushed,
    gradient_magnitudes,
    gradient_terms,
    linearity_bound,
    scaled,
    unit_roundoff,
)

from .simulations import round_tf32


def test_unit_roundoff_of_ieee_formats():
    assert unit_roundoff("float16") == 2.0**-11
    assert unit_roundoff(np.float32) == 2.0**-24
    assert unit_roundoff("float64") == 2.0**-53


def test_unit_roundoff_rejects_non_float_dtypes():
    with pytest.raises(ValueError, match="dtype='int32'"):
        unit_roundoff("int32")
    with pytest.raises(TypeError, match="is not a dtype"):
        unit_roundoff("nonsense")


def test_gamma_matches_higham_definition():
    assert gamma(10, 2.0**-24) == pytest.approx(10 * 2.0**-24 / (1 - 10 * 2.0**-24), rel=1e-15)
    assert gamma(0, 0.1) == 0.0


def test_gamma_rejects_n_u_at_least_one_and_bad_arguments():
    with pytest.raises(ValueError, match="n\\*u < 1"):
        gamma(2048, 2.0**-11)
    with pytest.raises(ValueError, match="n=-1"):
        gamma(-1, 0.1)
    with pytest.raises(TypeError, match=r"n=2\.5"):
        gamma(2.5, 0.1)
    with pytest.raises(ValueError, match="u="):
        gamma(1, math.nan)


@pytest.mark.parametrize("safety", [0.5, math.nan, math.inf, -1.0])
def test_precision_rejects_bad_safety(safety):
    with pytest.raises(ValueError, match="safety="):
        Precision(safety=safety)


def test_precision_rejects_bad_types_and_dtypes():
    with pytest.raises(TypeError, match="safety=True"):
        Precision(safety=True)
    with pytest.raises(ValueError, match="accumulate='int8'"):
        Precision(accumulate="int8")


def test_precision_defaults_accumulate_and_out_to_the_data_dtype():
    p = Precision("float16")
    assert (p.accumulate, p.out, p.safety) == ("float16", "float16", 1.0)
    assert p.exact_limit == 2.0**11
    assert Precision("float16", accumulate="float32", out="float32").exact_limit == 2.0**24


def test_bound_is_infinite_when_no_worst_case_bound_exists():
    p = Precision("float16")
    assert not p.has_bound(4096)
    assert np.all(np.isinf(p.bound(4096, np.ones(3), np.ones(3))))


def test_bound_of_a_single_rounding_to_float32_covers_it():
    # One float64 value rounded to float32: error <= u_32 * |y|, which the u_o |ref| term covers.
    y = np.array([1 / 3, 2 / 3, 1e-3])
    got = y.astype(np.float32).astype(np.float64)
    bound = Precision("float32").bound(1, np.abs(y), y)
    assert np.all(np.abs(got - y) <= bound)
    assert np.all(bound < 3 * 2.0**-24 * np.abs(y) + 1e-40)


def test_float16_sequential_sums_stay_within_gamma_bound():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.uniform(-1, 1, 300).astype(np.float16)
        b = rng.uniform(-1, 1, 300).astype(np.float16)
        got = np.cumsum((a * b).astype(np.float16), dtype=np.float16)[-1]
        exact = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
        magnitude = float(np.dot(np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64))))
        bound = Precision("float16").bound(300, np.array(magnitude), np.array(exact))
        assert abs(float(got) - exact) <= bound


def test_torch_float32_conv_is_within_bound_and_perturbation_is_not():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    y = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), groups=2).numpy()
    ref = cg.conv(x, w, groups=2)
    bound = forward_bound(x, w, ref, precision=Precision("float32"), groups=2)
    c = compare(y, ref, bound)
    assert c.passed and 0 < c.worst_ratio < 1
    bad = y.astype(np.float64)
    bad[1, 2, 3, 4] += 1e-3
    c = compare(bad, ref, bound)
    assert not c.passed and c.index == (1, 2, 3, 4) and c.mismatched == 1


@settings(max_examples=25)
@given(conv_problems(dtype=("float64", "float32"), data="real", bias=False))
def test_torch_gradients_never_exceed_their_bounds(problem):
    forward, backward = from_torch(torch_conv)
    spec, kw = problem.resolved, problem.kwargs
    precision = Precision(str(problem.x.dtype))
    ref_y = cg.conv(problem.x, problem.w, **kw)
    y_bound = forward_bound(problem.x, problem.w, ref_y, precision=precision, **kw)
    assert compare(forward(problem.x, problem.w, spec), ref_y, y_bound).passed
    ref = cg.conv_backward(problem.x, problem.w, problem.grad_y, **kw)
    bounds = gradient_bounds(problem.x, problem.w, problem.grad_y, ref, precision=precision, **kw)
    gx, gw = backward(problem.x, problem.w, problem.grad_y, spec)
    assert compare(gx, ref.input, bounds.input).passed
    assert compare(gw, ref.weight, bounds.weight).passed


def test_terms_count_products_per_output():
    assert forward_terms((8, 3, 3, 3), False) == 27
    assert forward_terms((8, 3, 3, 3), True) == 28
    assert gradient_terms((8, 3, 3, 3), (2, 8, 5, 5), 2) == (36, 50, 50)


def test_compare_counts_nan_as_infinite_and_zero_over_zero_as_match():
    c = compare(np.array([0.0, np.nan, 1.0]), np.zeros(3), np.array([0.0, 1.0, 2.0]))
    assert c.worst_ratio == math.inf and c.index == (1,) and c.mismatched == 1
    assert c.worst_error == math.inf
    c = compare(np.array([1.0]), np.array([0.0]), 0.0)
    assert c.worst_ratio == math.inf and c.worst_relative == math.inf


def test_compare_reports_worst_ratio_not_worst_error():
    c = compare(np.array([1.0, 10.0]), np.array([0.0, 0.0]), np.array([0.5, 100.0]))
    assert c.worst_ratio == 2.0 and c.index == (0,) and c.worst_error == 10.0
    assert c.size == 2 and c.mismatched == 1 and not c.passed


def test_compare_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="got has shape"):
        compare(np.zeros(3), np.zeros(4), 1.0)


def test_underflowing_products_are_covered_by_the_subnormal_term():
    # 1e-300 * 1e-300 underflows to 0 in float64: an absolute error no relative bound covers.
    bound = Precision().bound(1, np.array([0.0]), np.array([0.0]))
    assert bound[0] >= float(np.finfo(np.float64).smallest_subnormal) > 0


def test_free_magnitudes_bound_every_convention():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    grad_y = rng.standard_normal((2, 4, 4, 4))
    free = free_magnitudes(x, w, grad_y)
    for flip in (False, True):
        kw = {"flip": flip}
        assert forward_magnitude(x, w, **kw).max() <= free["forward"]
        grads = gradient_magnitudes(x, w, grad_y, **kw)
        assert grads.input.max() <= free["grad_input"]
        assert grads.weight.max() <= free["grad_weight"]
    assert free["forward"] == free_forward_magnitude(x, w)


def test_linearity_bound_is_zero_on_exact_data_and_positive_otherwise():
    precision = Precision("float64")
    parts = np.array([1.0, -2.0])
    assert not linearity_bound(precision, 9, 40.0, parts, integer=True).any()
    real = linearity_bound(precision, 9, 40.0, parts, integer=False)
    assert np.all(real > 0)
    assert real[1] > real[0]  # the rounding of the larger sum of parts counts


def test_adjoint_sides_agree_exactly_for_the_reference_on_integer_data():
    rng = np.random.default_rng(4)
    x = rng.integers(-3, 4, (1, 2, 6)).astype(float)
    w = rng.integers(-3, 4, (3, 2, 3)).astype(float)
    grad_y = rng.integers(-3, 4, (1, 3, 4)).astype(float)
    y = conv(x, w)
    grad_x = conv_backward(x, w, grad_y).input
    free = free_magnitudes(x, w, grad_y)
    lhs, rhs, tolerance, e = adjoint_sides(
        y,
        grad_y,
        x,
        grad_x,
        precision=Precision("float64"),
        n_forward=6,
        n_grad=9,
        m_y=free["forward"],
        m_g=free["grad_input"],
        integer=True,
    )
    assert tolerance == 0.0 and lhs == rhs
    assert np.ldexp(lhs, e) == float(np.sum(y * grad_y))


def test_adjoint_sides_scale_huge_operands_without_overflow():
    x, w, grad_y = np.full((1, 1, 2), 1e200), np.full((1, 1, 1), 1e100), np.full((1, 1, 2), 1e10)
    y = conv(x, w)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sum(y * grad_y))
    free = free_magnitudes(x, w, grad_y)
    lhs, rhs, tolerance, e = adjoint_sides(
        y,
        grad_y,
        x,
        conv_backward(x, w, grad_y).input,
        precision=Precision("float64"),
        n_forward=1,
        n_grad=1,
        m_y=free["forward"],
        m_g=free["grad_input"],
        integer=False,
    )
    assert np.isfinite(lhs) and abs(lhs - rhs) <= tolerance and e > 1000


def test_finite_difference_tolerance_is_zero_when_exact_and_grows_as_h_shrinks():
    ones = np.ones((1, 1, 3))
    kw = dict(precision=Precision("float32"), n_forward=3, n_grad=3, m_pm=2.0, m_g=2.0)
    assert finite_difference_tolerance(ones, ones, ones, ones, h=1.0, exact=True, **kw) == 0.0
    big = finite_difference_tolerance(ones, ones, ones, ones, h=1.0, exact=False, **kw)
    small = finite_difference_tolerance(ones, ones, ones, ones, h=0.25, exact=False, **kw)
    assert 0 < big < small


def test_dot_helpers_and_power_of_two_scaling():
    a, b = np.array([1.0, -2.0]), np.array([3.0, 4.0])
    assert dot(a, b) == -5.0 and abs_dot(a, b) == 11.0
    assert binary_exponent(8.0) == 4 and binary_exponent(0.0) == 0
    assert binary_exponent(float("inf")) == 0
    assert scaled(np.array([8.0]), 4).tolist() == [0.5]
    assert dot_rounding(2, 11.0) > 0
    assert exact_within(Precision("float32"), True, 2.0**24)
    assert not exact_within(Precision("float32"), True, 2.0**25)
    assert not exact_within(Precision("float64"), False, 1.0)


TINY64 = float(np.finfo(np.float64).tiny)
ETA64 = float(np.finfo(np.float64).smallest_subnormal)


def test_ftz_allows_the_smallest_normal_per_product_addition_and_rounding():
    # n = 3: 3 products, 2 additions, 1 output rounding may each flush less than tiny.
    zero = np.zeros(1)
    ftz = float(Precision("float64").bound(3, zero, zero)[0])
    assert 6 * TINY64 <= ftz <= 6 * TINY64 * (1 + 1e-12) + 3 * ETA64
    ieee = float(Precision("float64", subnormals="ieee").bound(3, zero, zero)[0])
    assert ieee == pytest.approx(7 * ETA64, abs=ETA64)
    # A product of 1e-160 * 1e-160 flushed to 0 is within the FTZ bound only.
    m = np.array([1e-320])
    assert abs(0 - 1e-320) <= Precision("float64").bound(1, m, m)[0]
    assert abs(0 - 1e-320) > Precision("float64", subnormals="ieee").bound(1, m, m)[0]


def test_precision_rejects_bad_subnormals_and_presets():
    with pytest.raises(ValueError, match="subnormals='gradual'"):
        Precision(subnormals="gradual")
    with pytest.raises(ValueError, match="precision='fp8'"):
        Precision("float32", operands="fp8")
    with pytest.raises(ValueError, match="dtype is float64"):
        Precision("float64", operands="tf32")


@pytest.mark.parametrize(
    ("preset", "bits", "smallest"),
    [("tf32", 11, 2.0**-126), ("bf16", 8, 2.0**-126), ("fp16", 11, 2.0**-14)],
)
def test_presets_round_operands_and_accumulate_in_float32(preset, bits, smallest):
    p = Precision("float32", operands=preset)
    assert p.accumulate == "float32" and p.out == "float32"
    assert p.operand_roundoff == 2.0**-bits and p.smallest_normal == smallest
    assert p.exact_limit == 2.0**bits and p.flushes_operands


def test_flushed_operands_only_where_an_operand_is_below_the_smallest_normal():
    x, w = np.array([[[1.0, 3e-310, -2.0]]]), np.array([[[0.5, 4.0]]])
    assert flushed_operands(Precision(), x, w) is not None
    assert flushed_operands(Precision(subnormals="ieee"), x, w) is None
    assert flushed_operands(Precision(), np.ones((1, 1, 3)), w) is None
    # y[0] = x0 w0 + x1 w1, y[1] = x1 w0 + x2 w1: only the x1 products are flushed.
    got = forward_flushed(Precision(), x, w)
    assert got.tolist() == [[[3e-310 * 4.0, 3e-310 * 0.5]]]
    assert forward_flushed(Precision(subnormals="ieee"), x, w) == 0.0


def test_denormals_read_as_zero_stay_within_the_bound():
    x, w = np.array([[[3e-310, 1e-309, -2e-310]]]), np.array([[[0.5, 4.0]]])
    daz = np.where(np.abs(x) < TINY64, 0.0, x)
    ref = cg.conv(x, w)
    for precision, within in ((Precision(), True), (Precision(subnormals="ieee"), False)):
        bound = forward_bound(x, w, ref, precision=precision)
        assert compare(cg.conv(daz, w), ref, bound).passed == within


def test_gradient_flushed_reads_each_gradients_two_operands():
    x = np.array([[[1.0, 3e-310, 1.0]]])
    w = np.array([[[1.0, 1.0]]])
    grad_y = np.array([[[2e-310, 1.0]]])
    got = gradient_flushed(Precision(), x, w, grad_y)
    # grad_input reads (w, grad_y): grad_y[0] is flushed, at x positions 0 and 1.
    assert got.input.tolist() == [[[2e-310, 2e-310, 0.0]]]
    # grad_weight reads (x, grad_y): k=0 sums x0 g0 + x1 g1, both flushed; k=1 sums x1 g0
    # (a product of two subnormals: 0 in float64) + x2 g1 (normal).
    assert got.weight.tolist() == [[[2e-310 + 3e-310, 0.0]]]
    assert got.bias.tolist() == [2e-310]


def test_tf32_and_fp16_operand_rounding_is_within_the_preset_bound_and_not_without():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (2, 3, 9)).astype(np.float32)
    x[0, 0, :3] = [3e-6, -1e-7, 2e-5]  # below float16's smallest normal
    w = rng.uniform(-1, 1, (4, 3, 3)).astype(np.float32)
    ref = cg.conv(x, w)
    tf32 = cg.conv(round_tf32(x), round_tf32(w)).astype(np.float32)
    fp16 = cg.conv(x.astype(np.float16), w.astype(np.float16)).astype(np.float32)
    for got, preset in ((tf32, "tf32"), (fp16, "fp16")):
        bound = forward_bound(x, w, ref, precision=Precision("float32", operands=preset))
        c = compare(got, ref, bound)
        assert c.passed and c.worst_ratio > 0.01
        assert not compare(
            got, ref, forward_bound(x, w, ref, precision=Precision("float32"))
        ).passed
