"""ConvProblem: validated on construction; its properties drive conv and conv_backward."""

import json
from fractions import Fraction

import numpy as np
import pytest

import convgrad as cg
from convgrad.spec import ConvSpec
from convgrad.verification.problem import ConvProblem

X = np.ones((2, 4, 6, 5))
W = np.ones((6, 2, 3, 2))
SPEC = ConvSpec(padding=((1, 0), (0, 2)), stride=(2, 1), groups=2, flip=True)
GY = np.ones((2, 6, 3, 6))


def test_properties_describe_the_layer():
    problem = ConvProblem(X, W, np.zeros(6), GY, SPEC)
    assert problem.ndim == 2
    assert problem.output_shape == (2, 6, 3, 6)
    assert problem.resolved.padding == ((1, 0), (0, 2))
    assert problem.resolved.stride == (2, 1)
    assert problem.kwargs == {
        "padding": ((1, 0), (0, 2)),
        "stride": (2, 1),
        "dilation": 1,
        "groups": 2,
        "flip": True,
        "padding_mode": "zeros",
    }
    assert problem.input_copies == 1
    y = cg.conv(problem.x, problem.w, problem.b, **problem.kwargs)
    assert y.shape == problem.output_shape


def test_describe_is_json_ready_and_has_no_data():
    problem = ConvProblem(X.astype(np.float32), W.astype(np.float32), None, GY.astype("f4"), SPEC)
    data = json.loads(json.dumps(problem.describe()))
    assert data == {
        "x": [2, 4, 6, 5],
        "w": [6, 2, 3, 2],
        "b": None,
        "y": [2, 6, 3, 6],
        "dtype": "float32",
        "spec": {
            "mode": "explicit",
            "padding": [[1, 0], [0, 2]],
            "stride": [2, 1],
            "dilation": [1, 1],
            "groups": 2,
            "flip": True,
        },
    }


def test_exact_operands_may_mix_int_and_object():
    b = np.array([Fraction(1, 2)] * 6, dtype=object)
    problem = ConvProblem(X.astype(np.int64), W.astype(np.int64), b, GY.astype(np.int64), SPEC)
    assert problem.describe()["b"] == [6]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"grad_y": np.ones((2, 6, 3, 5))},
            ValueError,
            r"grad_y has shape \(2, 6, 3, 5\); it must",
        ),
        ({"b": np.ones(4)}, ValueError, r"b has shape \(4,\); expected \(C_out,\) = \(6,\)"),
        (
            {"w": np.ones((6, 4, 3, 2))},
            ValueError,
            r"weight_shape\[1\]=4 must equal C_in // groups",
        ),
        (
            {"w": np.ones((6, 2, 9, 2))},
            ValueError,
            r"needs the dilated kernel \(9 = 1\*\(9-1\)\+1\)",
        ),
        ({"x": X.tolist()}, TypeError, r"x must be a numpy.ndarray, got list"),
        ({"b": [1.0] * 6}, TypeError, r"b must be a numpy.ndarray, got list"),
        ({"w": W.astype(np.float32)}, TypeError, r"mismatched float dtypes"),
        ({"grad_y": GY.astype(np.int64)}, TypeError, r"mixed float and exact operands"),
        ({"x": X.astype(complex)}, TypeError, r"x has dtype complex128"),
        ({"spec": "valid"}, TypeError, r"spec must be a convgrad.ConvSpec, got str"),
        (
            {"grad_y": np.where(np.arange(GY.size).reshape(GY.shape) >= 7, np.nan, GY)},
            ValueError,
            r"grad_y holds nan at index \(0, 0, 1, 1\) \(209 non-finite values\); a ConvProblem"
            " needs finite data",
        ),
        (
            {"w": np.where(np.arange(W.size).reshape(W.shape) == 3, -np.inf, W)},
            ValueError,
            r"w holds -inf at index \(0, 0, 1, 1\) \(1 non-finite values\)",
        ),
        (
            {"b": np.array([1.0, 2.0, np.inf, 0.0, 0.0, 0.0])},
            ValueError,
            r"b holds inf at index \(2,\)",
        ),
    ],
)
def test_construction_rejects_inconsistent_problems(kwargs, error, message):
    fields = {"x": X, "w": W, "b": None, "grad_y": GY, "spec": SPEC, **kwargs}
    with pytest.raises(error, match=message):
        ConvProblem(**fields)
