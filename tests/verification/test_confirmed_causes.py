"""Diagnoses that are right or silent: a cause is named only when its variant reproduces the
user's output on the minimal problem and on a larger one (`diagnosis.widen`); otherwise the
message states which elements differ and in which pattern (`patterns.describe`, tested in
test_patterns.py).

The first three tests are the confident wrong causes issue 13 met, each as a buggy layer on the
minimal problem that misled the old diagnosis."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.shapes import dim_algebra
from convgrad.verification.checks import CheckResult
from convgrad.verification.diagnosis import diagnose, widen
from convgrad.verification.problem import ConvProblem

from .implementations import (
    integer_problem,
    ref_backward,
    ref_forward,
    reference_grads,
    spec_kwargs,
)

HONEST = "no known mistake reproduces them on this problem and on a larger one"


def _problem(x, w, grad_y, **spec) -> ConvProblem:
    x, w, gy = (np.asarray(a, dtype=np.float64) for a in (x, w, grad_y))
    return ConvProblem(x, w, None, gy, cg.ConvSpec(**spec))


def _diagnosis(forward, backward, problem, output) -> str:
    result = cg.verify(forward, backward, problems=[problem])
    return next(f.diagnosis for f in result.failures if f.output == output and f.check != "state")


def _bias_from_first_sample(x, w, grad_y, spec):
    g = reference_grads(x, w, grad_y, spec)
    return g.input, g.weight, grad_y[0].sum(axis=tuple(range(1, grad_y.ndim - 1)))


def _equal_samples_problem() -> ConvProblem:
    # The minimal problem shrinking left: two batch elements with equal data, so the first
    # sample's sum is exactly the batch sum divided by N.
    return _problem(np.ones((2, 1, 3)), np.ones((1, 1, 2)), np.full((2, 1, 2), 2.0))


def test_bias_of_the_first_sample_is_named_not_averaged_when_shrinking_made_samples_equal():
    why = _diagnosis(ref_forward, _bias_from_first_sample, _equal_samples_problem(), "grad_bias")
    assert why.startswith("likely cause: grad_bias holds the first batch element's")
    assert "averaged" not in why


def test_without_a_larger_problem_no_cause_is_named_only_the_pattern():
    problem = _equal_samples_problem()
    got = _bias_from_first_sample(problem.x, problem.w, problem.grad_y, problem.resolved)[2]
    result = CheckResult("exact", "grad_bias", False, "")
    why = diagnose(problem, result, got, np.zeros(1))
    assert HONEST in why and "likely cause" not in why
    # The ratio is stated with the problem's sizes it equals: facts, not a cause.
    assert (
        "every element is the right answer times 0.5 = 1/2, and 2 is N and prod(O) and prod(K)"
        " here (a constant ratio)"
    ) in why


def _forward_accumulating_in_float16(x, w, spec):
    # Each channel's and tap's contribution added into a float16 accumulator.
    acc = np.zeros(cg.conv(x, w, **spec_kwargs(spec)).shape, dtype=np.float16)
    for tap in np.ndindex(*w.shape[2:]):
        one = np.zeros_like(w)
        one[(..., *tap)] = w[(..., *tap)]
        for c in range(x.shape[1]):
            xc = np.zeros_like(x)
            xc[:, c] = x[:, c]
            acc = (acc + cg.conv(xc, one, **spec_kwargs(spec))).astype(np.float16)
    return acc.astype(x.dtype)


def test_half_precision_accumulation_is_not_a_stray_scale_factor():
    # One product: the float16 result is the reference times 0.999939..., a "ratio" that holds
    # on this problem only.
    problem = _problem([[[0.12345671]]], [[[1.0]]], [[[1.0]]])
    why = _diagnosis(_forward_accumulating_in_float16, ref_backward, problem, "forward")
    assert why.startswith("likely cause: forward holds only float16 values")
    assert "scale" not in why and "float32" not in why


def _grad_input_edge_filled(x, w, grad_y, spec):
    # The rows no window reaches filled with a copy of the last reached row (np.pad "edge"
    # habit) where their gradient is 0.
    g = reference_grads(x, w, grad_y, spec)
    gx = g.input.copy()
    for j, a in enumerate(dim_algebra(x.shape, w.shape, spec)):
        u = max(a.unreached - a.hi, 0)
        if u:
            src, dst = [slice(None)] * gx.ndim, [slice(None)] * gx.ndim
            src[2 + j], dst[2 + j] = slice(a.input - u - 1, a.input - u), slice(a.input - u, None)
            gx[tuple(dst)] = gx[tuple(src)]
    return gx, g.weight, g.bias


def test_a_stride_remainder_bug_is_described_not_called_undilated():
    # I=4, K=1, s=2: O=2 and the last row is reached by no window.
    problem = integer_problem((1, 1, 4), (1, 1, 1), stride=2)
    why = _diagnosis(ref_forward, _grad_input_edge_filled, problem, "grad_input")
    assert HONEST in why
    assert "only in the last (1,) positions per spatial dim, those no window reaches" in why
    assert "not dilated" not in why


def test_grad_y_not_dilated_is_still_named_when_it_is_the_cause():
    def backward(x, w, grad_y, spec):
        full = cg.conv_transpose(grad_y, w)  # the stride ignored
        gx = np.zeros(x.shape)
        n = min(full.shape[2], x.shape[2])
        gx[..., :n] = full[..., :n]
        return gx, reference_grads(x, w, grad_y, spec).weight

    problem = integer_problem((1, 2, 7), (2, 2, 3), stride=2)
    why = _diagnosis(ref_forward, backward, problem, "grad_input")
    assert "likely cause: grad_y was not dilated by the stride" in why


def test_grad_weight_keeping_the_last_batch_element_only_is_named():
    def backward(x, w, grad_y, spec):
        g = reference_grads(x, w, grad_y, spec)
        last = reference_grads(x[-1:], w, grad_y[-1:], spec)
        return g.input, last.weight, g.bias

    why = _diagnosis(ref_forward, backward, integer_problem((2, 1, 5), (1, 1, 2)), "grad_weight")
    assert "grad_weight holds the last batch element's contribution only" in why
    assert "'=' where the batch loop needs '+='" in why


def test_grad_weight_with_the_remainder_cut_from_the_start_is_named():
    def backward(x, w, grad_y, spec):
        g = reference_grads(x, w, grad_y, spec)
        r = (x.shape[2] - w.shape[2]) % 2
        shifted = reference_grads(x[..., r:], w, grad_y, spec)
        return g.input, shifted.weight, g.bias

    problem = integer_problem((1, 1, 6), (1, 1, 3), stride=2)
    why = _diagnosis(ref_forward, backward, problem, "grad_weight")
    assert "likely cause: the (1,) rows of the padded x no window reaches" in why
    assert "cut from the start" in why


def test_forward_with_the_padded_windows_left_at_zero_is_named():
    def forward(x, w, spec):
        y = cg.conv(x, w, **spec_kwargs(spec))
        y[..., :1], y[..., -1:] = 0, 0  # pads 1, K=3, stride 1: the windows over a pad
        return y

    problem = integer_problem((1, 1, 6), (1, 1, 3), padding=1)
    why = _diagnosis(forward, ref_backward, problem, "forward")
    assert "likely cause: every output whose window overlaps the padding was left at 0" in why


def test_a_channel_block_tail_left_out_is_described_as_the_last_channels():
    def forward(x, w, spec):
        # Output channels in blocks of 4; the tail of C_out % 4 is never computed.
        y = cg.conv(x, w, **spec_kwargs(spec))
        y[:, 4 * (w.shape[0] // 4) :] = 0
        return y

    why = _diagnosis(forward, ref_backward, integer_problem((1, 1, 4), (6, 1, 2)), "forward")
    assert HONEST in why
    assert "only the last 2 output channels of 6 (4-5)" in why
    assert "they are 0 where the reference is not" in why


def test_widen_keeps_the_spec_family_on_fresh_distinct_data():
    problem = integer_problem((1, 2, 6), (2, 1, 3), groups=2, stride=2, padding="same")
    larger = widen(problem)
    (a,), (b,) = (dim_algebra(p.x.shape, p.w.shape, p.resolved) for p in (problem, larger))
    assert larger.x.shape == (3, 2, 10) and larger.w.shape == (4, 1, 3)  # still depthwise
    assert (b.lo, b.hi, b.unreached) == (a.lo, a.hi, a.unreached)
    assert larger.resolved.groups == 2 and larger.x.dtype == problem.x.dtype
    assert np.all(np.isin(np.abs(larger.x), (1, 2, 3)))
    assert not np.array_equal(larger.x[0], larger.x[1])
    real = widen(_problem(np.full((1, 1, 3), 0.5), np.ones((1, 1, 2)), np.ones((1, 1, 2))))
    assert real.x.shape == (3, 2, 5) and real.w.shape == (2, 2, 2)
    assert not np.all(real.x == np.round(real.x))
    with pytest.raises(TypeError, match="problem must be a ConvProblem"):
        widen(np.ones(3))


def test_a_cause_that_fits_only_the_minimal_problem_is_not_named():
    def backward(x, w, grad_y, spec):
        g = reference_grads(x, w, grad_y, spec)
        # Wrong on single-sample batches only: a larger problem's grad_weight is right.
        return g.input, 3 * g.weight if x.shape[0] == 1 else g.weight

    why = _diagnosis(ref_forward, backward, integer_problem((1, 1, 4), (1, 1, 2)), "grad_weight")
    assert HONEST in why and "likely cause" not in why
    assert "every element is the right answer times 3 (a constant ratio)" in why


def test_no_cause_is_named_when_the_larger_problem_raises():
    def backward(x, w, grad_y, spec):
        if x.shape[0] > 1:
            raise RuntimeError("batches are not supported")
        g = reference_grads(x, w, grad_y, spec)
        return g.input, -g.weight

    why = _diagnosis(ref_forward, backward, integer_problem((1, 1, 4), (1, 1, 2)), "grad_weight")
    assert HONEST in why and "sign" not in why
