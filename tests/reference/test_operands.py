"""`_operands.as_arrays`: arrays passed through uncopied, the arithmetic they call for, and the
agreement rules (one float dtype, or all exact)."""

from fractions import Fraction

import numpy as np
import pytest

from convgrad.reference import operands as _operands


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_one_float_dtype_is_float_arithmetic_without_copies(dtype):
    x, w = np.ones((1, 2, 3), dtype), np.ones((2, 2, 1), dtype)
    arrays, arithmetic = _operands.as_arrays({"x": x, "w": w, "b": None})
    assert arithmetic == "float"
    assert list(arrays) == ["x", "w"]
    assert arrays["x"] is x and arrays["w"] is w


def test_array_likes_become_arrays():
    arrays, arithmetic = _operands.as_arrays({"x": [[[1.0, 2.0]]], "w": [[[0.5]]]})
    assert arithmetic == "float"
    assert arrays["x"].shape == (1, 1, 2) and arrays["x"].dtype == np.float64


@pytest.mark.parametrize(
    "w",
    [np.ones((2, 2, 1), np.int64), np.array([[[Fraction(1, 3)]] * 2] * 2, dtype=object)],
)
def test_integer_and_object_operands_are_exact(w):
    arrays, arithmetic = _operands.as_arrays({"x": np.ones((1, 2, 3), np.int32), "w": w})
    assert arithmetic == "exact"
    assert arrays["w"] is w


@pytest.mark.parametrize(
    ("operands", "error", "message"),
    [
        (
            {"x": np.ones(3), "w": np.ones(3, np.float32)},
            TypeError,
            r"mismatched float dtypes \{'x': 'float64', 'w': 'float32'\}",
        ),
        (
            {"x": np.ones(3), "w": np.ones(3, np.int64)},
            TypeError,
            r"mixed float and exact operands: \{'w': 'int64'\} with float \{'x': 'float64'\}",
        ),
        ({"x": np.ones(3, complex)}, TypeError, r"x has dtype complex128"),
        ({"x": np.ones(3, bool)}, TypeError, r"x has dtype bool"),
    ],
)
def test_disagreeing_or_unsupported_operands_are_type_errors(operands, error, message):
    with pytest.raises(error, match=message):
        _operands.as_arrays(operands)
