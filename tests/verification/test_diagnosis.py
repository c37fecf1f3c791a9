"""Diagnoses of failed checks: value mistakes recognised by variants, shape mistakes by the
shape algebra."""

import numpy as np

import convgrad as cg
from convgrad.verification.diagnosis import diagnose
from convgrad.verification.problem import ConvProblem

from .implementations import (
    fixed_problem,
    ref_forward,
    reference_grads,
)


def _diagnosis(forward, backward, problem, output):
    result = cg.verify(forward, backward, problems=[problem])
    return next(f.diagnosis for f in result.failures if f.output == output)


def test_diagnosis_of_a_scaled_grad_weight():
    def backward(x, w, grad_y, spec):
        g = reference_grads(x, w, grad_y, spec)
        return g.input, 3 * g.weight

    why = _diagnosis(ref_forward, backward, fixed_problem(), "grad_weight")
    assert "right answer times 3" in why


def test_diagnosis_of_a_grad_input_without_stride_dilation():
    def backward(x, w, grad_y, spec):
        full = cg.conv_transpose(grad_y, w)  # stride ignored: grad_y used as is
        grad_x = np.zeros(x.shape)
        rows, cols = min(full.shape[2], x.shape[2]), min(full.shape[3], x.shape[3])
        grad_x[:, :, :rows, :cols] = full[:, :, :rows, :cols]
        return grad_x, reference_grads(x, w, grad_y, spec).weight

    problem = fixed_problem(stride=2, x_shape=(1, 3, 9, 9))
    why = _diagnosis(ref_forward, backward, problem, "grad_input")
    assert "not dilated by the stride" in why


def test_diagnosis_of_same_padded_on_the_wrong_side():
    def forward(x, w, spec):
        return cg.conv(x, w, padding="same_lower")

    why = _diagnosis(forward, None, fixed_problem("same", w_shape=(3, 3, 2, 2)), "forward")
    assert "padded on the wrong side" in why


def test_diagnosis_of_float32_rounding():
    def forward(x, w, spec):
        return cg.conv(x, w).astype(np.float32).astype(np.float64)

    assert "float32" in _diagnosis(forward, None, fixed_problem(), "forward")


def test_diagnosis_of_channels_not_swapped_in_grad_input():
    def backward(x, w, grad_y, spec):
        g = reference_grads(x, np.swapaxes(w, 0, 1), grad_y, spec)
        return g.input, reference_grads(x, w, grad_y, spec).weight

    why = _diagnosis(ref_forward, backward, fixed_problem(), "grad_input")
    assert "in/out channels were not swapped" in why


def _shape_diagnosis(output: str, got: tuple, x_shape, w_shape, **spec) -> str:
    x, w = np.ones(x_shape), np.ones(w_shape)
    y_shape = cg.output_shape(x.shape, w.shape, **{"padding": "valid", "stride": 1, **spec})
    problem = ConvProblem(x, w, None, np.ones(y_shape), cg.ConvSpec(**spec))
    expected = {
        "forward": y_shape,
        "grad_input": x.shape,
        "grad_weight": w.shape,
        "grad_bias": (w.shape[0],),
    }[output]
    result = cg.CheckResult("shape", output, False, "", expected, got)
    return diagnose(problem, result, None, None)


def test_shape_diagnosis_of_grad_input_losing_the_unreached_rows():
    # I=8, K=3, s=2, pads (1, 1): O=4 and the last r=1 row is reached by no window.
    why = _shape_diagnosis("grad_input", (1, 1, 7), (1, 1, 8), (1, 1, 3), padding=1, stride=2)
    assert "cropped by lo and hi (the r unreached rows lost)" in why
    assert "output_padding = r" in why
    assert "'valid' mode" not in why


def test_shape_diagnosis_of_a_full_mode_grad_weight_with_padding():
    # padded x 6+2=8, O=8-3+1=6: the 'full' correlation has 8+6-1=13 lags, not K=3.
    why = _shape_diagnosis("grad_weight", (2, 1, 13), (1, 1, 6), (2, 1, 3), padding=1)
    assert "a correlation in 'full' mode of the padded x with grad_y" in why
    assert "correlate in 'valid' mode, not 'full'" in why


def test_shape_diagnosis_of_a_forward_ignoring_dilation():
    # dilation 3, K=3: extent 7, O=10-7+1=4; ignoring it gives 10-3+1=8.
    why = _shape_diagnosis("forward", (1, 1, 8), (1, 1, 10), (1, 1, 3), dilation=3)
    assert (
        "this output size (8,) is what the correlation of x with w (padding 'valid', stride 1,"
        " dilation 1) gives: dilation ignored" in why
    )
    assert "stride ignored" not in why


def test_shape_diagnosis_of_a_forward_ignoring_stride_and_dilation_together():
    # dilation 2, stride 2, K=3, I=10: O=(10-5)//2+1=3; ignoring both gives 10-3+1=8, and no
    # single mistake gives 8 (stride 1: 6; dilation 1: 4; 'full': 7; 'same': 5).
    why = _shape_diagnosis("forward", (1, 1, 8), (1, 1, 10), (1, 1, 3), dilation=2, stride=2)
    assert "(padding 'valid', stride 1, dilation 1) gives: stride ignored" in why
    assert ", and dilation ignored" in why


def test_shape_diagnosis_of_a_forward_padded_in_another_mode():
    # 'same' with K=3, I=6: O=6; a 'valid' forward gives 4.
    why = _shape_diagnosis("forward", (1, 1, 4), (1, 1, 6), (1, 1, 3), padding="same")
    assert "padding 'valid' used where the spec says 'same'" in why


def test_shape_diagnosis_of_a_grad_bias_of_the_wrong_rank():
    x, w = np.ones((2, 1, 5, 5)), np.ones((3, 1, 2, 2))
    why = _shape_diagnosis("grad_bias", (2, 3), x.shape, w.shape)
    assert "grad_y.sum(axis=(0, 2, 3))" in why
    assert "keep the batch" not in why
