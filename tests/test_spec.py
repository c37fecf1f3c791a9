"""ConvSpec: argument forms, validation messages, and the pads each padding mode resolves to."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convgrad.spec import ConvSpec, ResolvedSpec, per_dim_ints, same_pads


def test_defaults_are_valid_cross_correlation():
    spec = ConvSpec()
    assert (spec.padding, spec.stride, spec.dilation, spec.groups, spec.flip) == (
        "valid",
        1,
        1,
        1,
        False,
    )
    assert spec.mode == "valid"


@pytest.mark.parametrize(
    ("padding", "stored"),
    [
        (2, 2),
        (np.int64(2), 2),
        ([1, 2], (1, 2)),
        ([(0, 1), [2, 3]], ((0, 1), (2, 3))),
        ("same_lower", "same_lower"),
    ],
)
def test_padding_forms_are_normalised(padding, stored):
    spec = ConvSpec(padding=padding)
    assert spec.padding == stored
    assert spec.mode == (stored if isinstance(stored, str) else "explicit")


def test_stride_and_dilation_keep_int_or_tuple_form():
    spec = ConvSpec(stride=[2, 1], dilation=np.int32(3))
    assert spec.stride == (2, 1)
    assert spec.dilation == 3
    assert type(spec.dilation) is int


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("valid", ((0, 0), (0, 0))),
        ("full", ((4, 4), (3, 3))),
        ("same", ((2, 2), (1, 2))),
        ("same_lower", ((2, 2), (2, 1))),
        (1, ((1, 1), (1, 1))),
        ((0, 2), ((0, 0), (2, 2))),
        (((1, 0), (0, 3)), ((1, 0), (0, 3))),
    ],
)
def test_resolve_gives_per_dim_pads(mode, expected):
    resolved = ConvSpec(padding=mode, dilation=(2, 1)).resolve((5, 6), (3, 4))
    assert resolved.padding == expected
    assert resolved.stride == (1, 1)
    assert resolved.dilation == (2, 1)
    assert resolved.ndim == 2
    assert resolved.mode == (mode if isinstance(mode, str) else "explicit")


def test_resolve_rejects_kernel_of_other_rank():
    with pytest.raises(ValueError, match=r"kernel spatial shape \(3,\) has 1 dims but the input"):
        ConvSpec().resolve((5, 5), (3,))


def test_resolve_rejects_per_dim_values_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"stride=\(1, 2, 3\) has 3 entries but the input has 2"):
        ConvSpec(stride=(1, 2, 3)).resolve((5, 5), (3, 3))
    with pytest.raises(
        ValueError, match=r"padding=\(\(0, 1\),\) has 1 entries but the input has 2"
    ):
        ConvSpec(padding=((0, 1),)).resolve((5, 5), (3, 3))


@given(
    st.integers(1, 40),
    st.integers(1, 9),
    st.integers(1, 5),
    st.integers(1, 4),
)
def test_same_pads_follow_tensorflow_formula(i, k, s, d):
    """TF's documented SAME rule: pad = max(E - s, 0) if I % s == 0 else max(E - I % s, 0),
    with the odd pad at the bottom/right; same_lower (ONNX SAME_LOWER) swaps the two."""
    extent = d * (k - 1) + 1
    total = max(extent - s, 0) if i % s == 0 else max(extent - i % s, 0)
    assert same_pads(i, k, s, d) == (total // 2, total - total // 2)
    assert same_pads(i, k, s, d, lower=True) == (total - total // 2, total // 2)
    lo, hi = same_pads(i, k, s, d)
    assert (i + lo + hi - extent) // s + 1 == -(-i // s)


def test_to_dict_is_json_ready():
    resolved = ConvSpec(padding="same", stride=(2, 1), groups=2, flip=True).resolve((5, 4), (2, 3))
    data = json.loads(json.dumps(resolved.to_dict()))
    assert data == {
        "mode": "same",
        "padding": [[0, 1], [1, 1]],
        "stride": [2, 1],
        "dilation": [1, 1],
        "groups": 2,
        "flip": True,
    }
    assert isinstance(resolved, ResolvedSpec)
    assert resolved.padding_mode == "zeros"


def test_padding_mode_is_resolved_and_recorded_when_not_zeros():
    spec = ConvSpec(padding=((1, 1), (2, 0)), padding_mode="circular")
    resolved = spec.resolve((3, 4), (3, 1))
    assert resolved.padding_mode == "circular"
    assert resolved.to_dict() == {
        "mode": "explicit",
        "padding": [[1, 1], [2, 0]],
        "stride": [1, 1],
        "dilation": [1, 1],
        "groups": 1,
        "flip": False,
        "padding_mode": "circular",
    }
    assert "padding_mode" not in ConvSpec(padding=1).resolve((3,), (3,)).to_dict()


def test_numpy_integers_are_stored_as_python_ints_and_stay_json_ready():
    spec = ConvSpec(
        padding=np.int64(1), stride=np.int32(2), dilation=(np.int64(1),), groups=np.int64(1)
    )
    assert (spec.padding, spec.stride, spec.dilation, spec.groups) == (1, 2, (1,), 1)
    assert all(type(v) is int for v in (spec.padding, spec.stride, spec.dilation[0], spec.groups))
    assert json.loads(json.dumps(spec.resolve((5,), (3,)).to_dict()))["groups"] == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"padding": "same_upper"}, ValueError, r"padding='same_upper' is not a mode"),
        ({"padding": [1, -2]}, ValueError, r"padding=\[1, -2\]: every pad must be >= 0"),
        ({"padding": None}, TypeError, r"padding=None must be a mode name"),
        ({"padding": [(1, 2), (3,)]}, TypeError, r"int pairs, one per spatial dim; got \(3,\)"),
        ({"padding": [("a", "b")]}, TypeError, r"got \('a', 'b'\)"),
        ({"padding": ["ab"]}, TypeError, r"got 'ab'"),
        ({"stride": [1, 0]}, ValueError, r"stride=\[1, 0\]: every entry must be >= 1"),
        ({"stride": None}, TypeError, r"stride=None must be an int or a sequence of ints"),
        ({"dilation": -1}, ValueError, r"dilation=-1 must be >= 1"),
        ({"groups": (1,)}, TypeError, r"groups=\(1,\) must be an int"),
        ({"groups": -3}, ValueError, r"groups=-3 must be >= 1"),
        ({"flip": "yes"}, TypeError, r"flip='yes' must be a bool"),
    ],
)
def test_invalid_arguments_raise_on_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        ConvSpec(**kwargs)


def test_spec_is_frozen():
    spec = ConvSpec()
    with pytest.raises(AttributeError):
        spec.stride = 2


def test_per_dim_ints_expands_and_checks():
    assert per_dim_ints("output_padding", 1, 3, 0) == (1, 1, 1)
    assert per_dim_ints("output_padding", (0, 1), 2, 0) == (0, 1)
    with pytest.raises(ValueError, match=r"output_padding=\(0, 1\) has 2 entries but the input"):
        per_dim_ints("output_padding", (0, 1), 3, 0)
    with pytest.raises(ValueError, match=r"output_padding=-1 must be >= 0"):
        per_dim_ints("output_padding", -1, 3, 0)
