"""Integer data with a declared accumulator (quantized convolution): exact comparison, the
value range that keeps every sum inside the accumulator, and the wrong arithmetics named."""

import numpy as np
import pytest
from hypothesis import given, settings
from tests.zoo import correct
from tests.zoo.correct import correlate, effective_kernel, pad

import convgrad as cg
from convgrad.strategies import conv_problems
from convgrad.verification.bounds import Precision, compare_integers
from convgrad.verification.checks import check_dtype, check_exact, check_integer
from convgrad.verification.integers import (
    check_accumulate,
    products_per_output,
    value_range,
    wrapped,
)


def _conv_in(accumulator, out=None):
    """A NumPy integer forward with products and sums carried in ``accumulator`` (einsum keeps
    the operands' dtype, wrapping like a C accumulator), the result cast to ``out``."""

    def forward(x, w, spec):
        xa, wa = np.asarray(x).astype(accumulator), np.asarray(w).astype(accumulator)
        y = correlate(
            pad(xa, spec.padding),
            effective_kernel(wa, spec),
            spec.stride,
            spec.dilation,
            spec.groups,
        )
        return y if out is None else np.rint(y).astype(out)

    return forward


def _backward_int32(x, w, grad_y, spec):
    # float64 holds every int8 gradient sum exactly (< 2**31): rounding back is exact.
    return tuple(np.rint(g).astype(np.int32) for g in correct.backward(x, w, grad_y, spec))


def test_value_range_fits_the_accumulator():
    assert value_range("int8", "int32", 9) == (-128, 127)  # the whole type fits
    lo, hi = value_range("int16", "int32", 18)
    assert hi == -lo == 10922 and hi**2 * 18 <= 2**31 - 1 < (hi + 1) ** 2 * 18
    assert value_range("uint8", "int16", 2) == (0, 127)  # 128 * 128 * 2 > 32767
    assert value_range("int8", "int8", 200) == (0, 0)  # no nonzero product fits


def test_products_per_output_takes_the_largest_of_forward_and_gradients():
    # forward 2*3*3 = 18, grad_input (8 // 2)*9 = 36, grad_weight 2*5*5 = 50
    assert products_per_output((2, 4, 7, 7), (8, 2, 3, 3), (2, 8, 5, 5), 2) == 50
    assert products_per_output((1, 4, 7, 7), (8, 2, 3, 3), (1, 8, 5, 5), 2, copies=2) == 72


def test_wrapped_reduces_into_the_signed_or_unsigned_range():
    values = np.array([127, 128, -129, 40000, -40000])
    assert wrapped(values, 8, True).tolist() == [127, -128, 127, 64, -64]
    assert wrapped(values, 16, True).tolist() == [127, 128, -129, -25536, 25536]
    assert wrapped(values, 8, False).tolist() == [127, 128, 127, 64, 192]


@pytest.mark.parametrize(
    ("dtype", "accumulate", "words"),
    [
        ("int8", None, "dtype='int8' needs accumulate="),
        ("int16", "int8", "accumulate='int8' is narrower than dtype='int16'"),
        ("uint8", "int8", "use 'int16' or wider"),
        ("int8", "float32", "with integer data must be one of"),
        ("int8", "uint16", "with integer data must be one of"),
    ],
)
def test_bad_accumulators_name_the_rule(dtype, accumulate, words):
    with pytest.raises(ValueError, match=words):
        check_accumulate(dtype, accumulate)
    with pytest.raises(ValueError, match=words):
        cg.verify(_conv_in(np.int32), dtype=dtype, accumulate=accumulate)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"exact": False}, "integer data are always compared exactly"),
        ({"safety": 2.0}, "integer data are compared exactly; safety must be 1"),
        ({"precision": "tf32"}, "is integer data"),
    ],
)
def test_float_only_options_are_refused_for_integer_data(options, words):
    with pytest.raises(ValueError, match=words):
        cg.verify(_conv_in(np.int32), dtype="int8", accumulate="int32", **options)


def test_an_integer_precision_has_a_zero_bound_and_the_accumulator_limit():
    p = Precision("int8", "int32")
    assert p.integer and p.out == "int32" and p.exact_limit == 2**31 - 1
    assert not p.bound(9, np.array([5.0, 7.0]), np.array([1.0, 2.0])).any()
    assert p.fits(np.array([2.0**31 - 2])) and not p.fits(np.array([2.0**31]))
    assert Precision("float32").fits(np.array([1e300]))


def test_integer_results_must_hold_the_accumulator():
    int32 = np.dtype("int32")
    assert check_dtype(np.zeros(2, np.int64), "forward", int32).passed
    assert check_dtype(np.zeros(2, np.int32), "forward", int32).passed
    narrow = check_dtype(np.zeros(2, np.int16), "forward", int32)
    assert not narrow.passed and "as int32 or a wider integer dtype" in narrow.message
    assert not check_dtype(np.zeros(2, np.float64), "forward", int32).passed


def test_sums_beyond_the_accumulator_pass_saying_they_were_not_compared():
    p = Precision("int8", "int16")
    got, expected = np.array([1], np.int16), np.array([64516])
    beyond = check_integer(got, expected, np.array([64516.0]), "forward", p)
    assert beyond.passed and "exceed the int16 accumulator" in beyond.message
    assert "not compared" in beyond.message
    inside = check_integer(got, np.array([2]), np.array([2.0]), "forward", p)
    assert not inside.passed and inside.check == "exact"


def test_integer_comparison_is_exact_beyond_float64():
    big = np.array([2**62 + 1], dtype=np.int64)
    c = compare_integers(big, np.array([2**62], dtype=np.int64))
    assert c.mismatched == 1 and c.worst_error == 1.0  # float64 would see two equal values
    assert not check_exact(big, np.array([2**62], dtype=object), "forward").passed
    assert compare_integers(big, big.astype(object)).passed


@settings(max_examples=20)
@given(conv_problems(dtype="int8", accumulate="int16", data="integer", max_channels=3))
def test_drawn_int8_data_keep_every_sum_in_the_accumulator(problem):
    p = problem
    assert p.x.dtype == np.int8
    terms = products_per_output(p.x.shape, p.w.shape, p.grad_y.shape, p.resolved.groups)
    largest = max(int(np.abs(a.astype(np.int64)).max()) for a in (p.x, p.w, p.grad_y))
    assert largest**2 * terms <= 2**15 - 1


def test_integer_strategies_need_an_accumulator_except_int64():
    with pytest.raises(ValueError, match="dtype='uint8' needs accumulate="):
        conv_problems(dtype="uint8")
    with pytest.raises(ValueError, match="integer dtypes hold only 'integer' data"):
        conv_problems(dtype="int64", data="real")
    conv_problems(dtype="int64")  # [-3, 3] as before


def test_a_correct_int8_to_int32_convolution_passes():
    result = cg.verify(
        _conv_in(np.int32),
        _backward_int32,
        dtype="int8",
        accumulate="int32",
        max_examples=15,
        layers=(),
    )
    assert result.ok, str(result)
    assert result.settings["dtype"] == "int8" and result.settings["accumulate"] == "int32"
    assert {c["status"] for c in result.capabilities} == {"supported"}
    # Every output compared exactly; the float identities do not run on integer data.
    assert {r["check"] for r in result.ratios} == {"exact"}
    assert {r["output"] for r in result.ratios} == {
        "forward",
        "grad_input",
        "grad_weight",
        "grad_bias",
    }


def _problem(dtype: str, lo: int, hi: int, x_shape=(1, 4, 3, 3), w_shape=(2, 4, 2, 2)):
    rng = np.random.default_rng(0)
    y_shape = cg.output_shape(x_shape, w_shape)
    x, w, gy = (rng.integers(lo, hi + 1, s).astype(dtype) for s in (x_shape, w_shape, y_shape))
    return cg.ConvProblem(x, w, None, gy, cg.ConvSpec())


def test_int16_accumulation_fails_with_the_wrap_named():
    # 16 products of int8 values across the range: the sums pass int16's 32767.
    problem = _problem("int8", -128, 127)
    result = cg.verify(
        _conv_in(np.int16, np.int32), dtype="int8", accumulate="int32", problems=[problem]
    )
    failure = next(f for f in result.failures if f.check == "exact")
    assert failure.output == "forward"
    assert "accumulated in int16: the exact sums wrap modulo 2**16" in failure.diagnosis
    assert "accumulate='int32'" in failure.reproduce and "dtype='int8'" in failure.reproduce


def test_float32_sums_of_large_int32_values_fail_with_float32_named():
    # Products near 2**40: float32 keeps 24 bits of each sum.
    problem = _problem("int32", -(2**20), 2**20)
    result = cg.verify(
        _conv_in(np.float32, np.int64), dtype="int32", accumulate="int64", problems=[problem]
    )
    failure = next(f for f in result.failures if f.check == "exact")
    assert failure.output == "forward"
    assert "computed in float32" in failure.diagnosis


def test_sums_beyond_the_accumulator_are_not_compared():
    # 127 * 127 * 4 = 64516 > int16's 32767: no one right int16 answer exists.
    x = np.full((1, 1, 2, 2), 127, np.int8)
    problem = cg.ConvProblem(x, x.copy(), None, np.ones((1, 1, 1, 1), np.int8), cg.ConvSpec())
    wrong = _conv_in(np.int16)
    result = cg.verify(wrong, dtype="int8", accumulate="int16", problems=[problem])
    assert result.ok


def test_float_problems_given_under_an_integer_dtype_are_judged_as_floats():
    problem = _problem("int8", -3, 3)
    as_float = cg.ConvProblem(
        *(a.astype(np.float32) for a in (problem.x, problem.w)),
        None,
        problem.grad_y.astype(np.float32),
        problem.spec,
    )
    result = cg.verify(correct.forward, dtype="int8", accumulate="int32", problems=[as_float])
    assert result.ok, str(result)
