"""Shape algebra: the table of every mode, strided/dilated sizes, and each DimAlgebra quantity
against a brute-force count over positions; checked via `output_shape` and via real arrays."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convgrad as cg
from convgrad.shapes import (
    DimAlgebra,
    check_channels,
    dim_algebra,
    output_shape,
    output_shape_of,
    output_sizes,
    resolve,
    transpose_output_size,
)
from convgrad.spec import ConvSpec


@pytest.mark.parametrize(
    ("padding", "rule"),
    [
        ("valid", lambda i, k: i - k + 1),
        ("same", lambda i, k: i),
        ("same_lower", lambda i, k: i),
        ("full", lambda i, k: i + k - 1),
        (((1, 2),), lambda i, k: i + 3 - k + 1),
    ],
)
@pytest.mark.parametrize(("i", "k"), [(7, 3), (6, 4), (5, 5), (4, 1), (3, 2)])
def test_shape_table_at_unit_stride_and_dilation(padding, rule, i, k):
    x, w = np.ones((2, 3, i)), np.ones((4, 3, k))
    expected = (2, 4, rule(i, k))
    assert cg.output_shape(x.shape, w.shape, padding=padding) == expected
    y = cg.conv(x, w, padding=padding)
    assert y.shape == expected
    grads = cg.conv_backward(x, w, np.ones(expected), padding=padding)
    assert grads.input.shape == x.shape
    assert grads.weight.shape == w.shape
    assert grads.bias.shape == (4,)


def _count_windows(i, k, lo, hi, s, d):
    """Output positions by brute force: window starts 0, s, 2s, ... whose last tap fits."""
    return sum(1 for start in range(0, i + lo + hi, s) if start + d * (k - 1) < i + lo + hi)


@st.composite
def _dims(draw):
    """One spatial dim with an output of at least 1 (sizes built, not filtered)."""
    k, d, s = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    lo, hi = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    smallest = max(1, d * (k - 1) + 1 - lo - hi)
    i = draw(st.integers(smallest, smallest + 12))
    return DimAlgebra(0, i, k, lo, hi, s, d)


@given(_dims())
def test_dim_algebra_matches_brute_force(a):
    padded = a.input + a.lo + a.hi
    assert a.extent == a.dilation * (a.kernel - 1) + 1
    assert a.padded == padded
    assert a.output == _count_windows(a.input, a.kernel, a.lo, a.hi, a.stride, a.dilation)
    last_reached = (a.output - 1) * a.stride + a.extent
    assert a.unreached == padded - last_reached
    starts = [t for t in range(padded) if t % a.stride == 0 and t + a.extent <= padded]
    assert a.dilated_grad == starts[-1] + 1
    raw = sum(1 for t in range(padded) if t * a.dilation + a.dilated_grad <= padded)
    assert a.grad_weight_raw == raw >= a.kernel
    assert (a.grad_weight_raw == a.kernel) == (a.unreached < a.dilation)
    assert a.grad_input_full == padded - a.unreached
    assert a.grad_input == a.input


@given(_dims())
def test_strided_dilated_output_size_matches_arrays(a):
    x = np.zeros((1, 1, a.input, 2))
    w = np.zeros((1, 1, a.kernel, 1))
    kwargs = {
        "padding": ((a.lo, a.hi), (0, 0)),
        "stride": (a.stride, 1),
        "dilation": (a.dilation, 1),
    }
    expected = (1, 1, a.output, 2)
    assert cg.output_shape(x.shape, w.shape, **kwargs) == expected
    assert cg.conv(x, w, **kwargs).shape == expected
    grads = cg.conv_backward(x, w, np.ones(expected), **kwargs)
    assert grads.input.shape == x.shape
    assert grads.weight.shape == w.shape


def test_unreached_rows_get_zero_gradient():
    x, w = np.ones((1, 1, 9)), np.ones((1, 1, 2))
    (a,) = resolve(x.shape, w.shape, ConvSpec(stride=3))[1]
    assert (a.output, a.unreached) == (3, 1)
    grads = cg.conv_backward(x, w, np.ones((1, 1, 3)), stride=3)
    assert grads.input.ravel().tolist() == [1, 1, 0, 1, 1, 0, 1, 1, 0]


def test_output_shape_examples_from_the_docstring():
    assert cg.output_shape((1, 3, 128, 128), (32, 3, 3, 3)) == (1, 32, 126, 126)
    assert cg.output_shape((1, 3, 128, 128), (32, 3, 3, 3), padding="full") == (1, 32, 130, 130)
    assert cg.output_shape((1, 4, 9, 9, 9), (8, 2, 3, 3, 3), stride=2, dilation=2, groups=2) == (
        1,
        8,
        3,
        3,
        3,
    )


def test_output_shape_accepts_numpy_integers_and_returns_python_ints():
    shape = cg.output_shape(tuple(np.array([1, 2, 7])), tuple(np.array([3, 2, 2])), padding="same")
    assert shape == (1, 3, 7)
    assert all(type(n) is int for n in shape)


@pytest.mark.parametrize(
    ("input_shape", "weight_shape", "error", "message"),
    [
        ((1, 1, 5.0), (1, 1, 2), TypeError, r"input_shape=\(1, 1, 5.0\) must hold ints"),
        ((1, 1, 5), (1, 1, True), TypeError, r"weight_shape=\(1, 1, True\) must hold ints"),
        ((1, 1, 0), (1, 1, 1), ValueError, r"input_shape=\(1, 1, 0\): every size must be >= 1"),
        ((1, 5), (1, 1), ValueError, r"input_shape=\(1, 5\) has 2 dims; expected \(N, C_in, \*S\)"),
        ((1, 1, 5), (1, 1, 2, 2), ValueError, r"weight_shape=\(1, 1, 2, 2\) has 4 dims but input"),
        ((1, 3, 5), (1, 2, 2), ValueError, r"weight_shape\[1\]=2 must equal C_in // groups = 3"),
    ],
)
def test_output_shape_rejects_bad_shapes(input_shape, weight_shape, error, message):
    with pytest.raises(error, match=message):
        cg.output_shape(input_shape, weight_shape)


def test_dim_algebra_rejects_empty_output_naming_the_dim():
    spec = ConvSpec(padding=((0, 1), (1, 1)), stride=2).resolve((4, 2), (2, 5))
    with pytest.raises(
        ValueError, match=r"\(5 = 1\*\(5-1\)\+1\).*\(4 = 2\+1\+1\) along spatial dim 1"
    ):
        dim_algebra((1, 1, 4, 2), (1, 1, 2, 5), spec)


@given(_dims(), _dims())
def test_output_sizes_equal_the_dim_algebra_outputs(a, b):
    x_shape, w_shape = (1, 1, a.input, b.input), (1, 1, a.kernel, b.kernel)
    spec = ConvSpec(
        padding=((a.lo, a.hi), (b.lo, b.hi)),
        stride=(a.stride, b.stride),
        dilation=(a.dilation, b.dilation),
    ).resolve(x_shape[2:], w_shape[2:])
    assert output_sizes(x_shape, w_shape, spec) == (a.output, b.output)


def test_output_sizes_reject_an_empty_output_as_dim_algebra_does():
    spec = ConvSpec(padding="valid", dilation=(1, 3)).resolve((6, 5), (2, 3))
    with pytest.raises(
        ValueError,
        match=r"padding='valid' needs the dilated kernel \(7 = 3\*\(3-1\)\+1\) to fit in the"
        r" padded input \(5 = 5\+0\+0\) along spatial dim 1",
    ):
        output_sizes((1, 1, 6, 5), (1, 1, 2, 3), spec)


def test_check_channels_messages():
    check_channels(4, (6, 2, 3), 2)
    with pytest.raises(ValueError, match=r"input channels C_in=5 must be divisible by groups=2"):
        check_channels(5, (6, 2, 3), 2)
    with pytest.raises(ValueError, match=r"C_out=weight_shape\[0\]=5 must be divisible by groups"):
        check_channels(4, (5, 2, 3), 2)
    with pytest.raises(ValueError, match=r"weight_shape\[1\]=1 must equal C_in // groups = 4 // 2"):
        check_channels(4, (6, 1, 3), 2)


@given(_dims(), st.integers(0, 3))
def test_transpose_output_size_inverts_the_forward(a, extra):
    """Dumoulin & Visin relationship 14: the transposed conv of an O-sized input returns I when
    output_padding is the unreached rows."""
    size = transpose_output_size(a.output, a.kernel, a.lo, a.hi, a.stride, a.dilation, a.unreached)
    assert size == a.input
    grown = transpose_output_size(a.output, a.kernel, a.lo, a.hi, a.stride, a.dilation, extra)
    assert grown == a.input - a.unreached + extra


def test_output_shape_of_a_spec_equals_output_shape_of_its_keywords():
    spec = ConvSpec(((1, 0), (0, 2)), stride=(2, 3), dilation=(1, 2), groups=2)
    keywords = {k: getattr(spec, k) for k in ("padding", "stride", "dilation", "groups")}
    expected = output_shape((2, 4, 7, 8), (6, 2, 2, 3), **keywords)
    assert expected == (2, 6, 4, 2)
    assert output_shape_of((2, 4, 7, 8), (6, 2, 2, 3), spec) == expected
    resolved = spec.resolve((7, 8), (2, 3))
    assert output_shape_of((2, 4, 7, 8), (6, 2, 2, 3), resolved) == expected
    assert output_shape_of((1, 3, 5), (6, 1, 3), ConvSpec("same", groups="depthwise")) == (1, 6, 5)


def test_output_shape_of_bad_input():
    with pytest.raises(TypeError, match="spec='same' must be a ConvSpec or a ResolvedSpec"):
        output_shape_of((1, 1, 5), (1, 1, 3), "same")
    with pytest.raises(ValueError, match="groups"):
        output_shape_of((1, 3, 5), (2, 3, 3), ConvSpec(groups=2))
