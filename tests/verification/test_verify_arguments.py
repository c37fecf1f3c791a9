"""verify's argument validation."""

import pytest

import convgrad as cg

from .implementations import (
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
