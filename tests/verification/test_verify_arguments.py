"""verify's argument validation."""

import json

import numpy as np
import pytest

import convgrad as cg

from .implementations import (
    fixed_problem,
    ref_backward,
    ref_forward,
)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_examples": 0}, ValueError, "max_examples=0"),
        ({"timeout": -1}, ValueError, "timeout=-1"),
        ({"dtype": "int8"}, ValueError, "dtype='int8'"),
        ({"safety": 0.5}, ValueError, "safety=0.5"),
        ({"exact": 1}, TypeError, "exact=1"),
        ({"problems": [1]}, TypeError, r"problems\[0\]"),
        ({"padding": ("bogus",)}, ValueError, "bogus"),
        ({"problems": []}, ValueError, r"problems=\[\] is empty"),
        ({"subnormals": "daz"}, ValueError, "subnormals='daz'"),
        ({"precision": "fp8"}, ValueError, "precision='fp8'"),
        ({"precision": "tf32"}, ValueError, "dtype is float64"),
        ({"deterministic": "yes"}, TypeError, "deterministic='yes'"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        cg.verify(ref_forward, **kwargs)


def test_non_callable_implementations_raise_type_error():
    with pytest.raises(TypeError, match="forward="):
        cg.verify(3)
    with pytest.raises(TypeError, match="backward="):
        cg.verify(ref_forward, "nope")


@pytest.mark.parametrize("dtype", [np.dtype("float64"), np.float32, "float16"])
def test_dtype_is_accepted_as_a_numpy_dtype_or_type(dtype):
    result = cg.verify(ref_forward, ref_backward, dtype=dtype, max_examples=3)
    assert result.ok, str(result)
    assert result.settings["dtype"] == np.dtype(dtype).name


def test_numpy_integer_arguments_serialise():
    result = cg.verify(
        ref_forward,
        ref_backward,
        stride=np.int64(1),
        dilation=(np.int64(1), np.int32(2)),
        ndim=np.int64(1),
        max_examples=np.int64(3),
        seed=np.int64(2),
    )
    assert result.ok, str(result)
    settings = json.loads(result.to_json())["settings"]
    assert settings["stride"] == 1 and settings["dilation"] == [1, 2]
    assert settings["max_examples"] == 3 and settings["seed"] == 2


def test_new_settings_are_recorded_with_their_defaults():
    result = cg.verify(ref_forward, problems=[fixed_problem()])
    assert {k: result.settings[k] for k in ("subnormals", "precision", "deterministic")} == {
        "subnormals": "ftz",
        "precision": None,
        "deterministic": False,
    }
