"""The sizes verify draws (`convgrad.verification.sizes`): presets, limits, dense data."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.verification.sizes import (
    REALISTIC_COST,
    SIZES,
    dense,
    kernel_within,
    resolve_sizes,
)
from convgrad.verification.space import MAX_EXTENT

from .implementations import fixed_problem, ref_backward, ref_forward


def test_small_preset_is_the_old_space_and_realistic_widens_one_axis_per_branch():
    assert resolve_sizes("small", {}) == SIZES["small"]
    small, *wide = resolve_sizes("realistic", {})
    assert (small.max_batch, small.max_channels, small.max_kernel, small.max_side) == (2, 4, 4, 10)
    assert [(b.max_batch, b.max_channels, b.max_kernel, b.max_side) for b in wide] == [
        (2, 64, 4, 10),
        (2, 4, 11, 24),
        (2, 4, 4, 70),
        (8, 4, 4, 10),
    ]
    assert all(b.max_cost == REALISTIC_COST for b in wide) and small.max_cost is None


def test_a_limit_replaces_the_widest_and_caps_the_others():
    branches = resolve_sizes("realistic", {"max_channels": 16, "max_side": 5})
    assert [b.max_channels for b in branches] == [4, 16, 4, 4, 4]
    assert {b.max_side for b in branches} == {5}
    assert [b.max_kernel for b in resolve_sizes("small", {"max_kernel": 7})] == [7]


@pytest.mark.parametrize(
    ("sizes", "limits", "error", "match"),
    [
        ("huge", {}, ValueError, r"sizes='huge' must be one of \('small', 'realistic'\)"),
        ("small", {"max_channels": 0}, ValueError, r"max_channels=0 must be >= 1"),
        ("small", {"max_kernel": 2.5}, TypeError, r"max_kernel=2.5 must be an int or None"),
        ("small", {"max_batch": True}, TypeError, r"max_batch=True must be an int"),
    ],
)
def test_resolve_sizes_rejects_bad_settings(sizes, limits, error, match):
    with pytest.raises(error, match=match):
        resolve_sizes(sizes, limits)


def test_verify_rejects_a_bad_limit_before_calling_anything():
    def forward(x, w, spec):
        raise AssertionError("called")

    with pytest.raises(ValueError, match=r"max_side=0 must be >= 1"):
        cg.verify(forward, max_side=0)


def test_dense_refills_integer_data_with_integers_and_real_data_with_reals():
    integer = fixed_problem()
    integer = cg.ConvProblem(
        np.round(integer.x), np.round(integer.w), None, np.round(integer.grad_y), integer.spec
    )
    a = dense(integer, 3)
    for got, was in ((a.x, integer.x), (a.w, integer.w), (a.grad_y, integer.grad_y)):
        assert got.shape == was.shape and got.dtype == was.dtype
        assert np.all(got == np.round(got)) and np.abs(got).max() <= 3
        assert np.count_nonzero(got) > got.size // 2
    b = dense(fixed_problem(), 3)
    assert np.abs(b.x).max() <= 1 and not np.all(b.x == np.round(b.x))
    np.testing.assert_array_equal(dense(integer, 3).x, a.x)
    ones = dense(fixed_problem(), 0)
    assert np.all(ones.x == 1) and np.all(ones.grad_y == 1) and ones.w.dtype == np.float64


def test_verify_records_the_sizes_it_drew_from():
    result = cg.verify(ref_forward, ref_backward, max_examples=10, sizes="small", max_side=6)
    assert result.ok
    assert result.settings["sizes"] == "small" and result.settings["max_side"] == 6
    assert cg.verify(ref_forward, max_examples=5).settings["max_channels"] == 64


def test_kernel_within_cuts_only_sizes_whose_dilated_extent_passes_max_extent():
    assert MAX_EXTENT == 64
    # d * (k - 1) + 2 <= 64 keeps k: 31 * 2 + 2 = 64; 32 * 2 + 2 = 66 is cut to one tap.
    assert kernel_within((3, 3, 3), (31, 32, 1)) == (3, 1, 3)
    assert kernel_within((2, 11), (10**30, 6)) == (1, 11)
