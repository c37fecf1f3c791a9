"""A wrong implementation fails the check that catches its mistake, on the right output."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.verification.problem import ConvProblem

from .implementations import (
    FAST,
    UNIT_OPERANDS,
    failure_keys,
    ref_backward,
    ref_forward,
    reference_grads,
    spec_kwargs,
)


def test_flipped_forward_fails_value_on_forward_with_rotation_explained():
    def forward(x, w, spec):
        return cg.conv(x, w, **spec_kwargs(spec, flip=not spec.flip))

    result = cg.verify(forward, max_examples=25, max_failures=1)
    assert not result.ok
    (failure,) = result.failures
    assert failure.output == "forward" and failure.check in ("value", "exact")
    assert "rotated 180°" in failure.diagnosis
    # shrunk: a kernel of 2 taps along one dim is the smallest that shows a rotation
    assert np.prod(failure.problem["w"]) == 2


def test_averaged_bias_gradient_is_named():
    def backward(x, w, grad_y, spec):
        g = reference_grads(x, w, grad_y, spec)
        return g.input, g.weight, g.bias / grad_y[:, 0].size

    result = cg.verify(ref_forward, backward, **FAST)
    assert failure_keys(result) == {("exact", "grad_bias")}
    assert "averaged instead of summed" in result.failures[0].diagnosis


def test_grad_weight_with_x_shape_fails_shape_with_derivation():
    def backward(x, w, grad_y, spec):
        g = reference_grads(x, w, grad_y, spec)
        return g.input, np.zeros((w.shape[0], w.shape[1], *x.shape[2:]))

    result = cg.verify(ref_forward, backward, padding="valid", max_examples=25)
    # Where K = I the shapes agree and the zeros are wrong values (dense data shows it first).
    assert {f.output for f in result.failures} == {"grad_weight"}
    failure = next(f for f in result.failures if f.check == "shape")
    assert tuple(failure.got_shape[2:]) != tuple(failure.expected_shape[2:])
    assert "x's spatial shape" in failure.diagnosis
    assert "valid correlation of the padded x" in failure.diagnosis


def test_grad_input_with_flipped_kernel_fails_value_and_an_identity_on_grad_input():
    def backward(x, w, grad_y, spec):
        flipped = reference_grads(x, w, grad_y, spec, flip=not spec.flip)
        return flipped.input, reference_grads(x, w, grad_y, spec).weight

    result = cg.verify(ref_forward, backward, max_examples=25, max_failures=2)
    assert {f.output for f in result.failures} == {"grad_input"}
    checks = {f.check for f in result.failures}
    assert checks & {"value", "exact"} and checks & {"adjoint", "finite_difference"}


@pytest.mark.parametrize(
    ("forward", "key"),
    [
        (lambda x, w, s: None, ("raised", "forward")),
        (lambda x, w, s: cg.conv(x, w, **spec_kwargs(s)).astype(np.float32), ("dtype", "forward")),
        (lambda x, w, s: cg.conv(x, w, **spec_kwargs(s)) * np.nan, ("finite", "forward")),
        (lambda x, w, s: cg.conv(x, w, **spec_kwargs(s)) + 1.0, ("linearity", "forward")),
        (
            lambda x, w, s: (
                cg.conv(x, w, **spec_kwargs(s)) + np.random.default_rng().random() * 1e-9
            ),
            ("determinism", "forward"),
        ),
    ],
    ids=["none", "float32", "nan", "affine", "random"],
)
def test_forward_mistakes_are_named(forward, key):
    result = cg.verify(forward, **FAST)
    assert key in failure_keys(result), str(result)


def test_in_place_mutation_is_caught():
    def forward(x, w, spec):
        x /= 1.0 + np.abs(x).max()
        return cg.conv(x, w, **spec_kwargs(spec))

    result = cg.verify(forward, **FAST)
    assert ("no_mutation", "forward") in failure_keys(result)


def test_backward_writing_into_grad_y_is_caught_under_grad_input():
    def backward(x, w, grad_y, spec):
        grads = ref_backward(x, w, grad_y, spec)
        grad_y[...] = 0
        return grads

    result = cg.verify(ref_forward, backward, **FAST)
    assert failure_keys(result) == {("no_mutation", "grad_input")}
    # Found on the canonical problem (nonzero grad_y), where the write changes the caller's copy.
    assert "backward modified its input array(s) in place: grad_y" in result.failures[0].message


def test_forward_only_checks_no_gradients():
    result = cg.verify(ref_forward, **FAST)
    assert result.ok
    assert {r["output"] for r in result.ratios} == {"forward"}


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # _diagnose's variants
def test_adjoint_failure_far_out_of_range_is_reported_in_powers_of_two():
    x, w, grad_y = (np.ldexp(a, 500) for a in UNIT_OPERANDS)

    def backward(x, w, grad_y, spec):
        g = reference_grads(x, w, grad_y, spec)
        return 3 * g.input, g.weight

    problem = ConvProblem(x, w, None, grad_y, cg.ConvSpec())
    failure = next(
        f
        for f in cg.verify(ref_forward, backward, problems=[problem]).failures
        if f.check == "adjoint"
    )
    assert failure.output == "grad_input" and failure.bound_ratio > 1e10
    assert "= 0.706126*2**1503 but" in failure.message and "inf" not in failure.message
