"""Padding modes: the pads against numpy.pad and torch.nn.functional.pad, fold as their adjoint,
the layer's forward and gradients against torch autograd, exact arithmetic, and the size rules."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convgrad as cg
from convgrad.reference.padding import fold, fold_count, pad, source
from convgrad.spec import ConvSpec

NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
COPY_MODES = tuple(NUMPY_MODES)
# (x spatial, w spatial, pads, stride, dilation): 1-3 D, asymmetric pads, stride and dilation.
LAYERS = [
    ((7,), (3,), ((2, 1),), (2,), (1,)),
    ((5, 6), (3, 2), ((2, 1), (0, 3)), (2, 1), (1, 2)),
    ((4, 3, 5), (2, 2, 3), ((1, 2), (2, 1), (0, 2)), (1, 2, 1), (2, 1, 1)),
]


def _torch_pads(pads):
    return tuple(p for pair in reversed(pads) for p in pair)


def _ints(rng, shape):
    return rng.integers(-3, 4, size=shape).astype(np.float64)


def test_source_lists_the_copied_index_of_each_padded_position():
    assert source("reflect", 4, 2, 3).tolist() == [2, 1, 0, 1, 2, 3, 2, 1, 0]
    assert source("replicate", 4, 2, 3).tolist() == [0, 0, 0, 1, 2, 3, 3, 3, 3]
    assert source("circular", 4, 2, 3).tolist() == [2, 3, 0, 1, 2, 3, 0, 1, 2]
    with pytest.raises(ValueError, match="padding_mode='zeros' copies no input"):
        source("zeros", 4, 1, 1)


@pytest.mark.parametrize("mode", COPY_MODES)
@pytest.mark.parametrize("layer", LAYERS, ids=["1d", "2d", "3d"])
def test_pad_equals_numpy_pad_and_torch_pad(mode, layer):
    spatial, _, pads, _, _ = layer
    x = _ints(np.random.default_rng(0), (2, 3, *spatial))
    got = pad(x, pads, mode)
    assert np.array_equal(got, np.pad(x, ((0, 0), (0, 0), *pads), mode=NUMPY_MODES[mode]))
    torch_padded = F.pad(torch.from_numpy(x), _torch_pads(pads), mode=mode).numpy()
    assert np.array_equal(got, torch_padded)


def test_zeros_pad_and_fold_are_zero_fill_and_crop():
    x = np.arange(1.0, 4.0).reshape(1, 1, 3)
    assert pad(x, ((1, 2),), "zeros").tolist() == [[[0, 1, 2, 3, 0, 0]]]
    assert fold(np.arange(6.0).reshape(1, 1, 6), ((1, 2),), "zeros").tolist() == [[[1, 2, 3]]]


@pytest.mark.parametrize("mode", COPY_MODES)
@pytest.mark.parametrize("layer", LAYERS, ids=["1d", "2d", "3d"])
def test_fold_is_the_adjoint_of_pad_exactly(mode, layer):
    spatial, _, pads, _, _ = layer
    rng = np.random.default_rng(1)
    x = rng.integers(-9, 10, size=(2, 2, *spatial))
    g = rng.integers(-9, 10, size=pad(x, pads, mode).shape)
    assert int(np.sum(pad(x, pads, mode) * g)) == int(np.sum(x * fold(g, pads, mode)))


def test_fold_adds_each_pad_onto_the_element_it_copies():
    g = np.array([[[10.0, 20.0, 1.0, 2.0, 3.0, 30.0]]])  # pads (2, 1) around 3 elements
    assert fold(g, ((2, 1),), "reflect").tolist() == [[[1.0, 2 + 20 + 30, 3 + 10]]]
    assert fold(g, ((2, 1),), "replicate").tolist() == [[[1 + 10 + 20, 2.0, 3 + 30]]]
    assert fold(g, ((2, 1),), "circular").tolist() == [[[1 + 30, 2 + 10, 3 + 20]]]


def test_fold_count_is_the_most_copies_of_one_element():
    assert fold_count("zeros", ((5, 5),), (3,)) == 1
    assert fold_count("reflect", ((2, 1),), (3,)) == 3  # element 1: itself, -1 and 3
    assert fold_count("reflect", ((1, 0),), (3,)) == 2
    assert fold_count("replicate", ((2, 1),), (3,)) == 3
    assert fold_count("circular", ((3, 3),), (3,)) == 3
    assert fold_count("replicate", ((2, 1), (0, 3)), (5, 6)) == 3 * 4


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("mode", COPY_MODES)
@pytest.mark.parametrize("layer", LAYERS, ids=["1d", "2d", "3d"])
def test_conv_and_gradients_equal_torch_pad_then_conv_autograd(mode, layer, flip):
    spatial, kernel, pads, stride, dilation = layer
    rng = np.random.default_rng(2)
    x, w = _ints(rng, (2, 4, *spatial)), _ints(rng, (6, 2, *kernel))
    kw = {"padding": pads, "stride": stride, "dilation": dilation, "groups": 2, "flip": flip}
    y = cg.conv(x, w, padding_mode=mode, **kw)
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(spatial)]
    w_used = torch.flip(wt, dims=tuple(range(2, wt.ndim))) if flip else wt
    yt = conv(F.pad(xt, _torch_pads(pads), mode=mode), w_used, None, stride, 0, dilation, 2)
    assert np.array_equal(y, yt.detach().numpy())  # integer data: bit-exact
    gy = _ints(rng, y.shape)
    gx, gw = torch.autograd.grad(yt, (xt, wt), torch.from_numpy(gy))
    grads = cg.conv_backward(x, w, gy, padding_mode=mode, **kw)
    assert np.array_equal(grads.input, gx.numpy())
    assert np.array_equal(grads.weight, gw.numpy())
    assert np.array_equal(grads.bias, gy.sum(axis=(0, *range(2, gy.ndim))))
    # The pads' copies make a real difference here: zero padding gives another gradient.
    assert not np.array_equal(grads.input, cg.conv_backward(x, w, gy, **kw).input)


@pytest.mark.parametrize("mode", COPY_MODES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_same_padding_equals_torch_conv_module_with_padding_mode(mode, ndim):
    # torch.nn.Conv*d(padding="same", padding_mode=...) pads the even kernel's extra at the end.
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, *(5,) * ndim)), rng.standard_normal((3, 2, *(4,) * ndim))
    module = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[ndim](
        2, 3, 4, padding="same", padding_mode=mode, bias=False, dtype=torch.float64
    )
    expected = module._conv_forward(torch.from_numpy(x), torch.from_numpy(w), None)
    got = cg.conv(x, w, padding="same", padding_mode=mode)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", COPY_MODES)
def test_exact_arithmetic_matches_float_and_direct_matches_fast(mode):
    spatial, kernel, pads, stride, dilation = LAYERS[1]
    rng = np.random.default_rng(4)
    x, w = rng.integers(-3, 4, (2, 2, *spatial)), rng.integers(-3, 4, (3, 2, *kernel))
    kw = {"padding": pads, "stride": stride, "dilation": dilation, "padding_mode": mode}
    gy = rng.integers(-3, 4, cg.conv(x, w, **kw).shape)
    as_float = cg.conv_backward(x.astype(float), w.astype(float), gy.astype(float), **kw)
    for arrays, method in (((x, w, gy), "fast"), ((x, w, gy), "direct")):
        grads = cg.conv_backward(*arrays, method=method, **kw)
        assert grads.input.dtype == np.int64
        assert np.array_equal(grads.input, as_float.input)
        assert np.array_equal(grads.weight, as_float.weight)
    objects = cg.conv_backward(*(a.astype(object) for a in (x, w, gy)), **kw)
    assert objects.input.dtype == object
    assert np.array_equal(objects.input.astype(float), as_float.input)


def test_folded_gradient_too_large_for_int64_is_computed_in_python_ints():
    # The border element collects 5 copies of 2 * 2**61: one fits int64, their sum does not.
    x, w = np.ones((1, 1, 1), np.int64), np.full((1, 1, 1), 2**61, np.int64)
    gy = np.full((1, 1, 5), 2, np.int64)
    grads = cg.conv_backward(x, w, gy, padding=2, padding_mode="replicate")
    assert grads.input.dtype == object
    assert grads.input.tolist() == [[[5 * 2**62]]]
    assert grads.weight.tolist() == [[[10]]]


def test_zero_padding_mode_is_the_default_and_unchanged():
    x, w = np.arange(5.0).reshape(1, 1, 5), np.ones((1, 1, 3))
    assert (
        cg.conv(x, w, padding=1).tolist() == cg.conv(x, w, padding=1, padding_mode="zeros").tolist()
    )
    assert cg.conv(x, w, padding=1).tolist() == [[[1.0, 3.0, 6.0, 9.0, 7.0]]]
    assert cg.conv(x, w, padding=1, padding_mode="reflect").tolist() == [[[2.0, 3, 6, 9, 10]]]


def test_valid_padding_ignores_the_mode():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 1, 4, 4)), rng.standard_normal((1, 1, 3, 3))
    for mode in COPY_MODES:
        assert np.array_equal(cg.conv(x, w, padding_mode=mode), cg.conv(x, w))


@pytest.mark.parametrize(
    ("mode", "pads", "size", "rule"),
    [
        ("reflect", ((3, 0),), 3, "smaller than"),
        ("reflect", ((0, 1),), 1, "smaller than"),
        ("circular", ((0, 4),), 3, "at most"),
    ],
)
def test_pads_the_mode_cannot_fill_raise_naming_the_rule(mode, pads, size, rule):
    x, w = np.ones((1, 1, size)), np.ones((1, 1, 1))
    message = (
        rf"padding_mode='{mode}' with pads \({pads[0][0]}, {pads[0][1]}\) along spatial dim 0"
        rf" of input size {size}: each {mode} pad must be {rule} the input size"
    )
    with pytest.raises(ValueError, match=message):
        cg.conv(x, w, padding=pads, padding_mode=mode)
    with pytest.raises(ValueError, match=message):
        ConvSpec(padding=pads, padding_mode=mode).resolve((size,), (1,))


def test_largest_pads_the_mode_can_fill_match_torch():
    x, w = np.arange(1.0, 4.0).reshape(1, 1, 3), np.ones((1, 1, 1))
    reflect = cg.conv(x, w, padding=2, padding_mode="reflect")
    assert reflect.tolist() == [[[3.0, 2, 1, 2, 3, 2, 1]]]
    circular = cg.conv(x, w, padding=3, padding_mode="circular")
    expected = F.pad(torch.from_numpy(x), (3, 3), mode="circular").numpy()
    assert np.array_equal(circular, expected)
    assert cg.conv(x, w, padding=9, padding_mode="replicate").shape == (1, 1, 21)


def test_full_padding_takes_a_mode_under_the_same_rule():
    x, w = np.arange(1.0, 5.0).reshape(1, 1, 4), np.ones((1, 1, 3))
    assert cg.conv(x, w, padding="full", padding_mode="reflect").tolist() == [
        [[6.0, 5.0, 6.0, 9.0, 10.0, 9.0]]
    ]
    with pytest.raises(ValueError, match="each reflect pad must be smaller than"):
        cg.conv(x, np.ones((1, 1, 5)), padding="full", padding_mode="reflect")


@pytest.mark.parametrize(
    ("padding", "mode", "kernel", "size", "pads", "rule"),
    [
        ("full", "reflect", 5, 4, (4, 4), "smaller than"),
        ("full", "circular", 5, 3, (4, 4), "at most"),
        ("same", "reflect", 3, 1, (1, 1), "smaller than"),
        ("same_lower", "circular", 6, 2, (3, 2), "at most"),
    ],
)
def test_pads_of_a_named_padding_the_mode_cannot_fill_name_that_padding(
    padding, mode, kernel, size, pads, rule
):
    message = (
        rf"padding_mode='{mode}' with pads \({pads[0]}, {pads[1]}\) \(from padding='{padding}'\)"
        rf" along spatial dim 0 of input size {size}: each {mode} pad must be {rule} the input"
        " size"
    )
    with pytest.raises(ValueError, match=message):
        cg.conv(np.ones((1, 1, size)), np.ones((1, 1, kernel)), padding=padding, padding_mode=mode)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("mirror", ValueError, r"padding_mode='mirror' must be one of \('zeros', 'reflect'"),
        ("Reflect", ValueError, "padding_mode='Reflect' must be one of"),
        (None, TypeError, "padding_mode=None must be a str"),
    ],
)
def test_unknown_padding_mode_raises(value, error, message):
    with pytest.raises(error, match=message):
        ConvSpec(padding=1, padding_mode=value)
    with pytest.raises(error, match=message):
        cg.conv(np.ones((1, 1, 3)), np.ones((1, 1, 1)), padding_mode=value)
