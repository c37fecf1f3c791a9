"""The per-call resolution of `conv` / `conv_backward`: reused for a repeated layer, keyed by the
normalised spec and both shapes, errors raised on every call."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.reference import api

RNG = np.random.default_rng(0)
X = RNG.standard_normal((1, 4, 7, 6))
W = RNG.standard_normal((6, 2, 3, 2))


def test_a_repeated_layer_reuses_its_resolution():
    cg.conv(X, W, padding="same", groups=2, stride=(2, 1))
    hits = api._resolve.cache_info().hits
    y = cg.conv(X, W, padding="same", groups=2, stride=(2, 1))
    assert api._resolve.cache_info().hits == hits + 1
    assert y.shape == (1, 6, 4, 6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": (1, 1), "groups": np.int64(2)},
        {"padding": ((1, 1), (1, 1)), "groups": 2},
        {"padding": [1, 1], "groups": 2, "stride": (1, 1), "dilation": [1, 1]},
    ],
)
def test_equal_specs_in_other_forms_give_the_same_result(kwargs):
    expected = cg.conv(X, W, padding=1, groups=2)
    np.testing.assert_array_equal(cg.conv(X, W, **kwargs), expected)


def test_each_shape_is_resolved_for_its_own_sizes():
    """'same' with stride 2 gives ceil(I / 2) rows: 4 for I = 7, 3 for I = 5 and I = 6."""
    for rows, out_rows in [(7, 4), (5, 3), (6, 3), (7, 4)]:
        x = X[:, :, :rows]
        assert cg.conv(x, W, padding="same", stride=2, groups=2).shape == (1, 6, out_rows, 3)
    with pytest.raises(ValueError, match=r"grad_y has shape \(1, 6, 3, 3\); it must have the"):
        cg.conv_backward(X, W, np.ones((1, 6, 3, 3)), padding="same", stride=2, groups=2)


def test_errors_are_raised_on_every_call():
    for _ in range(2):
        with pytest.raises(ValueError, match=r"weight_shape\[1\]=2 must equal C_in // groups"):
            cg.conv(X, W, padding="same")
        with pytest.raises(ValueError, match=r"needs the dilated kernel \(9 = 4\*\(3-1\)\+1\)"):
            cg.conv(X, W, groups=2, dilation=4)
