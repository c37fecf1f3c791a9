import json
import math

import numpy as np
import pytest

from convgrad.verification.bounds import Precision
from convgrad.verification.checks import (
    CheckResult,
    ScalarIdentity,
    check_determinism,
    check_dtype,
    check_exact,
    check_finite,
    check_identity,
    check_linearity,
    check_shape,
    check_value,
)


def test_check_result_to_dict_is_json_ready():
    r = CheckResult("shape", "grad_weight", False, "bad", (1, 2), (2, 1), index=(0, 1))
    data = r.to_dict()
    assert data["expected_shape"] == [1, 2] and data["got_shape"] == [2, 1]
    assert json.loads(json.dumps(data))["index"] == [0, 1]


def test_check_dtype_rules():
    assert check_dtype(np.zeros(2, np.float64), "forward", np.float32).passed
    assert check_dtype(np.zeros(2, np.float32), "forward", np.float32).passed
    low = check_dtype(np.zeros(2, np.float16), "forward", np.float32)
    assert not low.passed and "less precise" in low.message
    integer = check_dtype(np.zeros(2, np.int64), "grad_weight", np.float64)
    assert not integer.passed and "real floating" in integer.message
    assert not check_dtype(np.zeros(2, np.complex128), "forward", np.float64).passed


def test_check_shape_message_names_both_shapes_and_context():
    r = check_shape(np.zeros((3, 3)), (2, 2), "grad_weight", "backward(x=(1, 1, 4))")
    assert not r.passed and r.got_shape == (3, 3) and r.expected_shape == (2, 2)
    assert r.message == "grad_weight.shape=(3, 3), but should be (2, 2) [backward(x=(1, 1, 4))]"
    assert check_shape(np.zeros((2, 2)), (2, 2), "forward").passed


def test_check_finite_points_at_the_first_non_finite_element():
    got = np.zeros((2, 3))
    got[1, 2] = np.inf
    got[1, 1] = np.nan
    r = check_finite(got, "forward")
    assert not r.passed and r.index == (1, 1) and r.mismatched == 2
    assert check_finite(np.ones(3), "forward").passed


def test_check_value_passes_within_bound_and_reports_fraction_when_not():
    expected = np.arange(10.0)
    bound = np.full(10, 0.1)
    assert check_value(expected + 0.05, expected, bound, "forward", Precision(), 3).passed
    got = expected.copy()
    got[[2, 7]] += [0.5, 1.0]
    r = check_value(got, expected, bound, "grad_input", Precision(), 3)
    assert not r.passed and r.mismatched == 2 and r.index == (7,)
    assert r.bound_ratio == pytest.approx(10.0) and r.worst_error == pytest.approx(1.0)
    assert "2 / 10 (20%)" in r.message and "n = 3" in r.message and "got 8, expected 7" in r.message


def test_check_value_without_a_worst_case_bound_passes_and_says_so():
    r = check_value(
        np.ones(2), np.zeros(2), np.full(2, np.inf), "forward", Precision("float16"), 4096
    )
    assert r.passed and "no worst-case bound" in r.message


def test_check_exact_requires_bit_equality():
    assert check_exact(np.array([1.0, 2.0]), np.array([1.0, 2.0]), "forward").passed
    r = check_exact(np.array([1.0, 2.0 + 2**-51]), np.array([1.0, 2.0]), "grad_bias")
    assert not r.passed and r.index == (1,) and "exact equality" in r.message


def test_scalar_identity_ratio():
    assert ScalarIdentity(1.0, 1.0, 0.0, "a", "b").ratio == 0.0
    assert ScalarIdentity(1.0, 2.0, 0.0, "a", "b").ratio == math.inf
    assert ScalarIdentity(1.0, 1.5, 1.0, "a", "b").ratio == 0.5
    assert ScalarIdentity(math.nan, 1.0, 1.0, "a", "b").ratio == math.inf


def test_check_identity_message_shows_both_sides():
    r = check_identity(
        "adjoint", "grad_input", ScalarIdentity(3.0, 5.0, 0.0, "<y, g>", "<x, gx>"), "n"
    )
    assert not r.passed and r.bound_ratio == math.inf
    assert "<y, g> = 3 but <x, gx> = 5" in r.message and "exact: integer data" in r.message
    ok = check_identity("adjoint", "grad_input", ScalarIdentity(3.0, 3.1, 0.2, "a", "b"), "n")
    assert ok.passed and ok.bound_ratio == pytest.approx(0.5)


def test_check_linearity():
    parts = np.array([1.0, 2.0])
    assert check_linearity("forward", parts.copy(), parts, np.zeros(2), "x").passed
    r = check_linearity("forward", parts + np.array([0.0, 1.0]), parts, np.zeros(2), "w")
    assert not r.passed and "not linear in w" in r.message and r.index == (1,)


def test_check_determinism():
    a = np.array([1.0, 2.0])
    assert check_determinism(a, a.copy(), "forward").passed
    r = check_determinism(a, a + np.array([0.0, 2**-50]), "grad_weight")
    assert not r.passed and "differ in 1 of 2" in r.message
    r = check_determinism(a, a.astype(np.float32), "grad_weight")
    assert not r.passed and "float32" in r.message


def test_scaled_identity_reports_natural_units_where_float64_holds_them():
    big = ScalarIdentity(0.5, 0.75, 2.0**-60, "<y, g>", "<x, gx>", exponent=1100)
    r = check_identity("adjoint", "grad_input", big, "n")
    assert big.ratio == 2.0**58 and r.bound_ratio == 2.0**58
    assert r.worst_error == math.inf  # 0.25 * 2**1100 is beyond float64
    assert "<y, g> = 0.5*2**1100 but <x, gx> = 0.75*2**1100" in r.message
    assert "|difference| = 0.25*2**1100, tolerance 8.67362e-19*2**1100" in r.message
    plain = ScalarIdentity(0.5, 0.75, 2.0**-60, "a", "b", exponent=3)
    r = check_identity("adjoint", "grad_input", plain, "n")
    assert r.worst_error == 2.0 and "a = 4 but b = 6" in r.message
    # Subnormal in natural units: shown scaled rather than with its lost bits.
    assert ScalarIdentity(0.0, 0.0, 0.0, "a", "b", exponent=-1070).text(0.7) == "0.7*2**-1070"
    assert ScalarIdentity(0.0, 0.0, 0.0, "a", "b", exponent=-1070).text(0.0) == "0"


def test_check_determinism_within_the_bound_passes_with_a_note():
    reference = np.array([1.0, 2.0])
    first, second = reference.copy(), reference + np.array([0.0, 2**-50])
    r = check_determinism(first, second, "grad_weight", reference, np.full(2, 2**-40))
    assert r.passed and r.mismatched == 1 and r.index == (1,)
    assert "within the error bound" in r.message and "deterministic=True" in r.message


def test_check_determinism_beyond_the_bound_fails_with_its_ratio():
    reference = np.array([1.0, 2.0])
    r = check_determinism(reference, reference + 2**-30, "forward", reference, 2**-40)
    assert not r.passed
    assert r.bound_ratio == 2.0**10
    assert "beyond the error bound" in r.message


def test_check_determinism_with_a_zero_tolerance_is_bitwise():
    reference = np.array([3.0])
    r = check_determinism(reference, np.nextafter(reference, 4), "forward", reference, 0.0)
    assert not r.passed and r.bound_ratio == math.inf
