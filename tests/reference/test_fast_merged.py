"""The fast path's merged rows: with stride 1 in the last two dims, the columns run over the
padded width and the positions past each row's end are thrown away. The results equal the
definition bit for bit however the blocks fall, whatever the memory layout, and grad_weight
never lets a thrown-away position meet an inf or NaN of x."""

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convgrad as cg
from convgrad.reference import direct, fast
from convgrad.strategies import conv_problems

pytestmark = pytest.mark.usefixtures("blocks_only")


@pytest.mark.parametrize(
    ("kwargs", "weight_shape", "out_last", "merged"),
    [
        ({"padding": "same"}, (32, 16, 3, 3), 64, True),  # 16*9 = 144 >= 2*32
        ({"padding": "same"}, (73, 16, 3, 3), 64, False),  # 144 < 2*73
        ({"padding": "same", "groups": 4}, (32, 4, 3, 3), 32, True),  # per group 36 >= 16
        ({"padding": "same", "stride": (1, 2)}, (8, 16, 3, 3), 32, False),  # stride in a row
        ({"padding": "same", "stride": (2, 1)}, (8, 16, 3, 3), 32, False),  # rows skipped
        ({"padding": "same", "stride": (2, 1, 1)}, (8, 16, 3, 3, 3), 32, True),  # 3-D: last two
        ({"padding": "same"}, (8, 16, 3, 3), 15, False),  # 2 wasted of 15 > 1/8
        ({"padding": "same"}, (8, 16, 3, 3), 16, True),  # 2 of 16 = 1/8
        ({"padding": "same", "dilation": 2}, (8, 16, 3, 3), 31, False),  # 4 of 31
        ({"padding": "full"}, (4, 8, 7), 1030, False),  # 1-D: its rows already are one run
    ],
)
def test_merges_rows_where_stride_one_columns_outweigh_the_output_and_waste_is_small(
    kwargs, weight_shape, out_last, merged
):
    ndim = len(weight_shape) - 2
    spec = cg.ConvSpec(**kwargs).resolve((out_last,) * ndim, weight_shape[2:])
    assert fast._merges_rows(spec, weight_shape, out_last) is merged


def _stride_one_rows(spec, weight_shape, out_last):
    """Merge rows wherever the layout allows it, whether or not it pays."""
    return len(weight_shape) > 3 and spec.stride[-2] == spec.stride[-1] == 1


@settings(max_examples=40)
@given(
    problem=conv_problems(
        ndim=(2, 3), stride=(1, 2), dtype=("int64", "float64"), data="integer", max_batch=3
    ),
    data=st.data(),
)
def test_merged_rows_equal_the_definition_for_every_shape_and_block_size(problem, data):
    """Merging forced wherever stride allows (also where the rule would not merge: kernels as
    wide as the rows, dilation, groups), for any blocking."""
    x, w, gy, spec = problem.x, problem.w, problem.grad_y, problem.resolved
    rows = data.draw(st.integers(1, gy.shape[0] * gy.shape[2]), label="sample-rows per block")
    channels = max(x.shape[1], w.shape[0])
    budget = rows * fast._row_bytes(
        channels, w.shape[2:], x.shape[2:], gy.shape[2:], spec, 8, channels
    )
    with patch.object(fast, "_merges_rows", _stride_one_rows):
        got = {
            "forward": fast.forward(x, w, spec, gy.shape[2:], budget),
            "grad_weight": fast.grad_weight(x, gy, spec, w.shape[2:], budget),
            "grad_input": fast.grad_input(gy, w, spec, x.shape[2:], budget),
        }
    expected = {
        "forward": direct.forward(x, w, spec, gy.shape[2:]),
        "grad_weight": direct.grad_weight(x, gy, spec, w.shape[2:]),
        "grad_input": direct.grad_input(gy, w, spec, x.shape[2:]),
    }
    for name, value in got.items():
        np.testing.assert_array_equal(value, expected[name], err_msg=f"{name}, {budget} B")


def _merging_layer(padding="valid"):
    rng = np.random.default_rng(5)
    x = rng.integers(-4, 5, size=(2, 6, 7, 9)).astype(np.float64)
    w = rng.integers(-4, 5, size=(2, 6, 2, 2)).astype(np.float64)
    spec = cg.ConvSpec(padding=padding).resolve(x.shape[2:], w.shape[2:])
    gy = rng.integers(-4, 5, size=cg.output_shape(x.shape, w.shape, padding=padding))
    assert fast._merges_rows(spec, w.shape, gy.shape[-1])
    return x, w, gy.astype(np.float64), spec


@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_merged_rows_copy_an_unpadded_x_whose_rows_are_not_one_run(layout):
    """Without padding the columns view x in place, which needs each plane's rows to follow
    one another in memory; other layouts are copied first, and give the same bits."""
    x, w, gy, spec = _merging_layer()
    relaid = {
        "fortran": np.asfortranarray,
        "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
    }[layout](x)
    for budget in (1, 10**6):
        np.testing.assert_array_equal(
            fast.forward(relaid, w, spec, gy.shape[2:], budget),
            direct.forward(x, w, spec, gy.shape[2:]),
        )
        np.testing.assert_array_equal(
            fast.grad_weight(relaid, gy, spec, w.shape[2:], budget),
            direct.grad_weight(x, gy, spec, w.shape[2:]),
        )


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_grad_weight_with_an_inf_or_nan_in_x_equals_the_definition(bad, padding):
    """Unpadded, x's last column is read by the positions thrown away past the first row's
    end, which meet it with a 0 of grad_y (0 * inf = NaN): the merged result is not finite,
    and grad_weight recomputes without merging. Either way: the definition's infs and NaNs,
    and finite values for the taps that never meet the bad element."""
    x, w, gy, spec = _merging_layer(padding)
    x[0, 1, 0, -1] = bad
    got = fast.grad_weight(x, gy, spec, w.shape[2:])
    expected = direct.grad_weight(x, gy, spec, w.shape[2:])
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(expected).any() and not np.isfinite(expected).all()


def test_merged_grad_weight_alone_would_turn_a_finite_tap_into_nan():
    """The recomputation above is needed: merged alone pairs the thrown-away positions with
    x's inf and gives NaN where the definition is finite."""
    x, w, gy, spec = _merging_layer("valid")
    x[0, 1, 0, -1] = np.inf
    with np.errstate(invalid="ignore"):
        merged = fast._grad_weight(x, gy, spec, w.shape[2:], fast.CHUNK_BYTES, merged=True)
    expected = direct.grad_weight(x, gy, spec, w.shape[2:])
    assert (np.isnan(merged) & np.isfinite(expected)).any()


def test_valid_positions_view_skips_the_positions_past_each_row_end():
    """Merged positions of a 2-row, 3-output block over a padded width of 5: 0 1 2 (3 4) 5 6 7."""
    wide = np.arange(2 * 8, dtype=np.float64).reshape(1, 2, 8)
    view = fast._valid_positions(wide, (2, 3), 5)
    np.testing.assert_array_equal(view[0, 0], [[0, 1, 2], [5, 6, 7]])
    np.testing.assert_array_equal(view[0, 1], [[8, 9, 10], [13, 14, 15]])
    view[0, 1, 1, 0] = -1  # writable: grad_y is copied into its merged layout through it
    assert wide[0, 1, 5] == -1
