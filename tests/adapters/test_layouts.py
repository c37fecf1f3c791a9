"""convgrad.adapters.layouts: channels-last NumPy functions under the channels-first protocol."""

import numpy as np
import pytest
from hypothesis import given, settings
from numpy.lib.stride_tricks import sliding_window_view

import convgrad as cg
from convgrad.adapters import INPUT_LAYOUTS, KERNEL_LAYOUTS, channels_last
from convgrad.strategies import conv_problems
from convgrad.verification.problem import ConvProblem
from zoo import correct

# Axis orders written out by hand (not derived from layout letters as the adapter does):
# channels-last -> channels-first for activations and kernels, per number of spatial dims.
TO_FIRST = {1: (0, 2, 1), 2: (0, 3, 1, 2), 3: (0, 4, 1, 2, 3)}
TO_LAST = {1: (0, 2, 1), 2: (0, 2, 3, 1), 3: (0, 2, 3, 4, 1)}
KERNEL_TO_OI = {1: (2, 1, 0), 2: (3, 2, 0, 1), 3: (4, 3, 0, 1, 2)}
KERNEL_FROM_OI = {1: (2, 1, 0), 2: (2, 3, 1, 0), 3: (2, 3, 4, 1, 0)}


def nhwc_forward(x, w, spec):
    """A channels-last layer: x (N, *S, C), w (*K, C_in // g, C_out) -> (N, *O, C_out)."""
    nd = x.ndim - 2
    first = correct.forward(np.transpose(x, TO_FIRST[nd]), np.transpose(w, KERNEL_TO_OI[nd]), spec)
    return np.transpose(first, TO_LAST[nd])


def nhwc_backward(x, w, grad_y, spec):
    nd = x.ndim - 2
    gx, gw, gb = correct.backward(
        np.transpose(x, TO_FIRST[nd]),
        np.transpose(w, KERNEL_TO_OI[nd]),
        np.transpose(grad_y, TO_FIRST[nd]),
        spec,
    )
    return np.transpose(gx, TO_LAST[nd]), np.transpose(gw, KERNEL_FROM_OI[nd]), gb


def native_nhwc_forward(x, w, spec):
    """Channels-last 2-D correlation written natively (groups 1): every window (N, O_h, O_w,
    C, K_h, K_w) against w (K_h, K_w, C, C_out)."""
    xp = np.pad(x, ((0, 0), *spec.padding, (0, 0)))
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    kh, kw = w.shape[:2]
    windows = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
    windows = windows[:, ::sh, ::sw, :, ::dh, ::dw]
    return np.einsum("nhwcij,ijco->nhwo", windows, w)


def _reference(problem: ConvProblem):
    y = cg.conv(problem.x, problem.w, **problem.kwargs)
    return y, cg.conv_backward(problem.x, problem.w, problem.grad_y, **problem.kwargs)


@pytest.mark.parametrize(
    ("ndim", "input_layout", "kernel_layout"),
    [(1, "NWC", "WIO"), (2, "NHWC", "HWIO"), (3, "NDHWC", "DHWIO")],
)
def test_channels_last_layers_give_the_oracle_in_channels_first(ndim, input_layout, kernel_layout):
    assert input_layout in INPUT_LAYOUTS and kernel_layout in KERNEL_LAYOUTS
    forward, backward = channels_last(
        nhwc_forward, nhwc_backward, input_layout=input_layout, kernel_layout=kernel_layout
    )

    @settings(max_examples=8)
    @given(conv_problems(ndim=ndim, data="integer", bias=False, max_side=6))
    def check(problem):
        y, grads = _reference(problem)
        np.testing.assert_array_equal(forward(problem.x, problem.w, problem.resolved), y)
        got = backward(problem.x, problem.w, problem.grad_y, problem.resolved)
        for g, expected in zip(got, grads, strict=True):
            np.testing.assert_array_equal(g, expected)

    check()


def _problem(x_shape=(2, 3, 5, 4), w_shape=(2, 3, 2, 3), spec=None) -> ConvProblem:
    rng = np.random.default_rng(0)
    spec = spec or cg.ConvSpec(padding=((1, 0), (0, 1)), stride=(2, 1))
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y = cg.conv(x, w, padding=spec.padding, stride=spec.stride, dilation=spec.dilation)
    return ConvProblem(x, w, None, rng.standard_normal(y.shape), spec)


def test_a_native_nhwc_hwio_forward_agrees_with_the_oracle():
    p = _problem()
    forward, backward = channels_last(native_nhwc_forward)
    assert backward is None
    np.testing.assert_allclose(forward(p.x, p.w, p.resolved), cg.conv(p.x, p.w, **p.kwargs))


def test_unbatched_hwc_functions_are_looped_over_the_batch():
    calls = []

    def hwc_forward(image, w, spec):
        calls.append(image.shape)
        return nhwc_forward(image[None], w, spec)[0]

    def hwc_backward(image, w, grad_y, spec):
        gx, gw, gb = nhwc_backward(image[None], w, grad_y[None], spec)
        return gx[0], gw, gb

    p = _problem()
    forward, backward = channels_last(hwc_forward, hwc_backward, input_layout="HWC")
    y, grads = _reference(p)
    np.testing.assert_allclose(forward(p.x, p.w, p.resolved), y, rtol=1e-13, atol=1e-13)
    assert calls == [(5, 4, 3), (5, 4, 3)]  # one (H, W, C) image per batch element
    got = backward(p.x, p.w, p.grad_y, p.resolved)
    for g, expected in zip(got, grads, strict=True):  # weight and bias summed over images
        np.testing.assert_allclose(g, expected, rtol=1e-13, atol=1e-13)


def test_channels_first_layouts_pass_arrays_through():
    p = _problem()
    seen = {}

    def forward(x, w, spec):
        seen["x"], seen["w"] = x, w
        return correct.forward(x, w, spec)

    wrapped, _ = channels_last(forward, input_layout="NCHW", kernel_layout="OIHW")
    wrapped(p.x, p.w, p.resolved)
    assert seen["x"].shape == p.x.shape and seen["w"].shape == p.w.shape
    np.testing.assert_array_equal(seen["x"], p.x)


def test_user_arrays_are_views_so_in_place_writes_reach_the_caller():
    p = _problem()

    def forward(x, w, spec):
        x[0, 0, 0, 0] = 99.0  # (n, h, w, c) in NHWC
        return nhwc_forward(x, w, spec)

    wrapped, _ = channels_last(forward)
    x = p.x.copy()
    wrapped(x, p.w, p.resolved)
    assert x[0, 0, 0, 0] == 99.0  # (n, c, h, w) in NCHW


def test_verify_accepts_a_correct_channels_last_layer():
    result = cg.verify(*channels_last(nhwc_forward, nhwc_backward), max_examples=30)
    assert result.ok, str(result)


def test_verify_catches_a_kernel_gradient_returned_in_the_wrong_layout():
    def oihw_gradient(x, w, grad_y, spec):
        gx, gw, gb = nhwc_backward(x, w, grad_y, spec)
        return gx, np.transpose(gw, KERNEL_TO_OI[2]), gb  # OIHW where HWIO is declared

    result = cg.verify(*channels_last(nhwc_forward, oihw_gradient), max_examples=30, max_failures=1)
    assert [(f.check, f.output) for f in result.failures] in (
        [("shape", "grad_weight")],
        [("exact", "grad_weight")],
        [("value", "grad_weight")],
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (
            {"input_layout": "NHCW"},
            ValueError,
            r"input_layout='NHCW' is not a supported layout; use one of \('NCW'",
        ),
        (
            {"kernel_layout": "HWOI"},
            ValueError,
            r"kernel_layout='HWOI' is not a supported layout; use one of \('OIW'",
        ),
        ({"input_layout": 4}, TypeError, r"input_layout=4 must be a layout string"),
        (
            {"input_layout": "NDHWC"},
            ValueError,
            r"input_layout='NDHWC' has 3 spatial dims but kernel_layout='HWIO' has 2",
        ),
    ],
)
def test_bad_layouts_are_rejected_naming_the_argument(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        channels_last(nhwc_forward, **kwargs)


def test_non_callables_are_type_errors():
    with pytest.raises(TypeError, match="forward=None must be callable"):
        channels_last(None)
    with pytest.raises(TypeError, match="backward=3 must be callable or None"):
        channels_last(nhwc_forward, 3)


def test_a_problem_of_another_rank_is_a_value_error_naming_the_layout():
    forward, _ = channels_last(nhwc_forward)
    spec = cg.ConvSpec().resolve((4,), (2,))
    with pytest.raises(
        ValueError,
        match=r"input_layout='NHWC' has 2 spatial dims but the problem"
        r" has 1; verify it with ndim=2",
    ):
        forward(np.zeros((1, 1, 4)), np.zeros((1, 1, 2)), spec)


def test_results_of_the_wrong_rank_and_non_tuples_are_reported():
    p = _problem()
    forward, backward = channels_last(
        lambda x, w, spec: np.zeros(3), lambda x, w, grad_y, spec: np.zeros(3)
    )
    with pytest.raises(
        ValueError,
        match=r"forward's result has shape \(3,\) \(1 dims\); in"
        r" layout 'NHWC' it must have 4 dims",
    ):
        forward(p.x, p.w, p.resolved)
    with pytest.raises(TypeError, match=r"backward returned a ndarray; expected a tuple"):
        backward(p.x, p.w, p.grad_y, p.resolved)
