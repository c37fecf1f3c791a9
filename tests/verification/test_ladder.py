"""The fixed problems beside the search (`convgrad.verification.ladder`): layers and size
boundaries inside the declared space, deterministic, and shrunk when only they fail."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.spec import ConvSpec
from convgrad.verification import space
from convgrad.verification.ladder import (
    BOUNDARIES,
    DEFAULT_LAYERS,
    Plan,
    boundary_plans,
    layer_plans,
    shrink,
)

from .implementations import failure_keys, ref_backward, ref_forward

DEFAULT = {k: v if isinstance(v, tuple) else (v,) for k, v in space.DEFAULT_SPACE.items()}


def test_default_layers_are_inside_the_space_and_rotate_with_the_seed():
    first, second = layer_plans(None, DEFAULT, 0), layer_plans(None, DEFAULT, 1)
    assert len(first) == len(second) == DEFAULT_LAYERS
    assert {p.name for p in first} != {p.name for p in second}
    for plan in first + second:
        assert len(plan.side) == 2 and set(plan.spec.stride) <= {1, 2}
    assert layer_plans(None, DEFAULT, 0) == first


def test_named_layers_are_checked_outside_the_space_and_none_with_an_empty_tuple():
    (alexnet,) = layer_plans(("alexnet",), DEFAULT, 0)
    assert alexnet.spec.stride == (4, 4)
    assert layer_plans((), DEFAULT, 0) == []
    one_d = dict(DEFAULT, ndim=(1,), stride=(1, 5))
    assert [p.name for p in layer_plans(None, one_d, 0)] == ["wav2vec2:conv0"]


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_boundary_plans_build_inside_the_space(ndim):
    plans = boundary_plans(dict(DEFAULT, ndim=(ndim,)), 0)
    assert [p.name for p in plans] == [f"boundary {s}={v}" for s, v in BOUNDARIES]
    for j, plan in enumerate(plans):
        problem = plan.build(0, "float64", integer=True)
        assert problem is not None and problem.ndim == ndim
        assert np.all(problem.x == np.round(problem.x)) and np.count_nonzero(problem.w)
        if j % 2:
            assert plan.spec == ConvSpec(padding="valid", stride=(1,) * ndim, dilation=(1,) * ndim)
    sizes = {p.name: p for p in plans}
    assert sizes["boundary c_out=11"].c_out == 11 and sizes["boundary batch=7"].batch == 7
    assert sizes["boundary side=67"].side[-1] == 67


def test_shrink_lowers_every_size_the_failure_does_not_need():
    plan = Plan("t", 5, 6, 11, (5, 5), (9, 21), ConvSpec())

    def build(p):
        return p.build(0, "float64", integer=True)

    small = shrink(plan, build, lambda problem: problem.w.shape[0] > 8)
    assert small.x.shape == (1, 1, 1, 1) and small.w.shape == (9, 1, 1, 1)


def test_a_bug_only_a_named_layer_reaches_is_found_and_shrunk():
    def forward(x, w, spec):
        y = ref_forward(x, w, spec)
        return y * 2 if max(spec.stride) >= 4 else y

    result = cg.verify(forward, max_examples=10, layers=("alexnet",))
    assert failure_keys(result) == {("exact", "forward")}
    failure = result.failures[0]
    assert "found on the fixed problem 'alexnet:conv1', then shrunk" in failure.message
    assert failure.problem["x"] == [1, 1, 1, 1] and failure.problem["spec"]["stride"] == [4, 4]


def test_verify_rejects_an_unknown_layer():
    with pytest.raises(ValueError, match=r"'resnet18' is not in the layer table"):
        cg.verify(ref_forward, ref_backward, max_examples=5, layers=("resnet18",))
