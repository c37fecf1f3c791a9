"""The transposed-convolution zoo: each mistake really is wrong (against `convgrad.conv_transpose`
and `convgrad.conv_transpose_backward`, directly), the textbook layer is right, and
`convgrad.verify_transpose` rejects each bug naming the output it corrupts, with the right cause
in its diagnosis or none (never a wrong one)."""

import numpy as np
import pytest

import convgrad as cg

from .transposed import TRANSPOSED_BUGS, TransposeBug, backward, forward

IDS = [bug.name for bug in TRANSPOSED_BUGS]
OUTPUTS = ("forward", "grad_input", "grad_weight", "grad_bias")
KNOWN_CAUSES = (
    "rotated 180°",
    "were put at the start of each spatial dim instead of the end",
    "averaged instead of summed",
    "in/out channels were not swapped",
    "H and W are transposed",
    "not dilated by the stride",
    "zeros were inserted before each input entry",
    "ignored",
    "output_padding mis-derived from output_size",
)
"""Causes verify's diagnosis can name; a transposed bug's diagnosis may name only its own."""


def _witness(bug: TransposeBug) -> cg.TransposeProblem:
    spec, x_shape, w_shape = bug.witness
    return cg.TransposeProblem.random(spec, x_shape, w_shape, seed=1, data="real")


def _differences(fwd, bwd, problem: cg.TransposeProblem) -> set[tuple[str, str]]:
    """(output, "shape" | "value") wherever the layer departs from the reference."""
    p, s = problem, problem.spec
    kw = {
        "padding": s.padding,
        "stride": s.stride,
        "dilation": s.dilation,
        "groups": s.groups,
        "output_padding": s.output_padding,
    }
    expected = (
        cg.conv_transpose(p.x, p.w, **kw),
        *cg.conv_transpose_backward(p.x, p.w, p.grad_y, **kw),
    )
    got = (fwd(p.x.copy(), p.w.copy(), s), *bwd(p.x.copy(), p.w.copy(), p.grad_y.copy(), s))
    found = set()
    for name, g, e in zip(OUTPUTS, got, expected, strict=True):
        g = np.asarray(g)
        if g.shape != e.shape:
            found.add((name, "shape"))
        elif not np.allclose(g, e, rtol=1e-12, atol=1e-12):
            found.add((name, "value"))
    return found


def test_the_zoo_has_eight_distinct_transposed_mistakes():
    assert len(TRANSPOSED_BUGS) == len(set(IDS)) == 8


@pytest.mark.parametrize("bug", TRANSPOSED_BUGS, ids=IDS)
def test_the_textbook_transpose_matches_the_reference_and_each_bug_differs(bug):
    problem = _witness(bug)
    assert _differences(forward, backward, problem) == set()
    found = _differences(bug.forward, bug.backward, problem)
    assert {(output, bug.symptom) for output in bug.outputs} & found, found


@pytest.mark.slow
@pytest.mark.parametrize("bug", TRANSPOSED_BUGS, ids=IDS)
def test_verify_transpose_rejects_the_bug_naming_its_output_and_no_wrong_cause(bug):
    result = cg.verify_transpose(
        bug.forward, bug.backward, ndim=1, max_examples=25, max_failures=1, **bug.space
    )
    assert not result.ok
    failure = result.failures[0]
    checks = {"value": {"value", "exact"}, "shape": {"shape"}}[bug.symptom]
    if bug.crashes:
        checks = checks | {"raised"}
    assert failure.output in bug.outputs and failure.check in checks, str(result)
    if bug.cause is not None:
        assert bug.cause in failure.diagnosis, failure.diagnosis
    if bug.cause is None:  # no cause is named but an honest "none of the known mistakes"
        assert not [c for c in KNOWN_CAUSES if c in failure.diagnosis], failure.diagnosis


@pytest.mark.slow
def test_the_textbook_transpose_passes_verify_transpose():
    result = cg.verify_transpose(forward, backward, ndim=1, max_examples=15)
    assert result.ok, str(result)
