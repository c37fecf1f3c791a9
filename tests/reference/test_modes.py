"""The padding modes against the libraries whose conventions they follow: ``same`` is PyTorch's
``padding="same"``; ``same_lower`` is ``scipy.signal.correlate(..., "same")``, and with
``flip=True`` ``scipy.signal.convolve(..., "same")``; ``full`` and ``valid`` are scipy's."""

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given
from hypothesis import strategies as st
from oracles import TORCH_CONV

import convgrad as cg

# torch warns that it copies the input to pad an even kernel asymmetrically; that is its cost.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

X = np.arange(1.0, 6.0).reshape(1, 1, 5)
W = np.array([1.0, 10.0]).reshape(1, 1, 2)


def test_readme_example_same_is_torch_and_same_lower_is_scipy():
    assert cg.conv(X, W, padding="same").ravel().tolist() == [21, 32, 43, 54, 5]
    assert cg.conv(X, W, padding="same_lower").ravel().tolist() == [10, 21, 32, 43, 54]
    torch_same = torch.nn.functional.conv1d(torch.tensor(X), torch.tensor(W), padding="same")
    assert torch_same.numpy().ravel().tolist() == [21, 32, 43, 54, 5]
    assert scipy.signal.correlate(X.ravel(), W.ravel(), "same").tolist() == [10, 21, 32, 43, 54]


@st.composite
def _single_channel(draw, ndim_max=3, max_side=6):
    """Integer-valued single-channel x: (1, 1, *S) and w: (1, 1, *K), any K vs S."""
    ndim = draw(st.integers(1, ndim_max))
    spatial = tuple(draw(st.integers(1, max_side)) for _ in range(ndim))
    kernel = tuple(draw(st.integers(1, max_side)) for _ in range(ndim))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(1, 1, *spatial)).astype(np.float64)
    w = rng.integers(-3, 4, size=(1, 1, *kernel)).astype(np.float64)
    return x, w


@given(_single_channel())
def test_same_lower_equals_scipy_correlate_same(xw):
    x, w = xw
    expected = scipy.signal.correlate(x[0, 0], w[0, 0], mode="same", method="direct")
    np.testing.assert_array_equal(cg.conv(x, w, padding="same_lower")[0, 0], expected)


@given(_single_channel())
def test_same_lower_with_flip_equals_scipy_convolve_same(xw):
    x, w = xw
    expected = scipy.signal.convolve(x[0, 0], w[0, 0], mode="same", method="direct")
    np.testing.assert_array_equal(cg.conv(x, w, padding="same_lower", flip=True)[0, 0], expected)


@pytest.mark.parametrize("mode", ["full", "valid"])
@given(xw=_single_channel())
def test_full_and_valid_with_flip_equal_scipy_convolve(mode, xw):
    x, w = xw
    if mode == "valid" and any(k > i for k, i in zip(w.shape, x.shape, strict=True)):
        with pytest.raises(ValueError, match="needs the dilated kernel"):
            cg.conv(x, w, padding=mode, flip=True)
        return
    expected = scipy.signal.convolve(x[0, 0], w[0, 0], mode=mode, method="direct")
    np.testing.assert_array_equal(cg.conv(x, w, padding=mode, flip=True)[0, 0], expected)


@given(
    st.integers(1, 3),
    st.integers(1, 9),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(0, 2**16),
)
def test_same_equals_torch_padding_same_with_gradients(ndim, side, k, d, groups, seed):
    rng = np.random.default_rng(seed)
    spatial = (side, max(1, side - 1), 3)[:ndim]
    kernel = (k, k + 1, 2)[:ndim]
    x = rng.integers(-3, 4, size=(2, 2 * groups, *spatial)).astype(np.float64)
    w = rng.integers(-3, 4, size=(groups, 2, *kernel)).astype(np.float64)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = TORCH_CONV[ndim](xt, wt, padding="same", dilation=d, groups=groups)
    gy = rng.integers(-3, 4, size=yt.shape).astype(np.float64)
    yt.backward(torch.tensor(gy))
    kwargs = {"padding": "same", "dilation": d, "groups": groups}
    np.testing.assert_array_equal(cg.conv(x, w, **kwargs), yt.detach().numpy())
    grads = cg.conv_backward(x, w, gy, **kwargs)
    np.testing.assert_array_equal(grads.input, xt.grad.numpy())
    np.testing.assert_array_equal(grads.weight, wt.grad.numpy())


@pytest.mark.parametrize(
    ("stride", "expected"),
    [(1, [21, 32, 43, 54, 5]), (2, [21, 43, 5]), (3, [21, 54])],
)
def test_strided_same_keeps_ceil_of_input_over_stride(stride, expected):
    assert cg.conv(X, W, padding="same", stride=stride).ravel().tolist() == expected
