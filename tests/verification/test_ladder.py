"""The fixed problems beside the search (`convgrad.verification.ladder`): layers and size
boundaries inside the declared space, deterministic, and shrunk when only they fail."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.shapes import resolve
from convgrad.spec import ConvSpec
from convgrad.verification import space
from convgrad.verification.ladder import (
    BOUNDARIES,
    DEFAULT_LAYERS,
    Plan,
    _shrunk,
    boundary_plans,
    canonical_plans,
    layer_plans,
    search_budget,
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


def test_canonical_plans_change_one_axis_of_the_baseline_at_a_time():
    plans = canonical_plans(DEFAULT, real=True)
    assert [p.name for p in plans] == [
        "canonical baseline",
        "canonical baseline, real data",
        "canonical padding='same'",
        "canonical padding='full'",
        "canonical padding='explicit'",
        "canonical stride=2",
        "canonical dilation=2",
        "canonical groups=2",
    ]
    base = plans[0]
    assert base.spec == ConvSpec(padding="valid", stride=(1, 1), dilation=(1, 1))
    assert (base.batch, base.c_in, base.c_out, base.kernel, base.side) == (2, 2, 3, (2, 3), (5, 6))
    assert plans[1].real and not base.real
    assert plans[4].spec.padding == ((1, 2), (2, 0))
    assert plans[7].spec.groups == 2 and (plans[7].c_in, plans[7].c_out) == (4, 6)
    stride = plans[5].build(0, "float64", integer=True)
    assert all(a.unreached for a in resolve(stride.x.shape, stride.w.shape, stride.spec)[1])
    real = plans[1].build(0, "float64", integer=True)
    assert not np.all(real.x == np.round(real.x))
    assert all(p.build(0, "float64", integer=True) is not None for p in plans)
    assert [p.name for p in canonical_plans(DEFAULT, real=False)][:2] == [
        "canonical baseline",
        "canonical padding='same'",
    ]


def test_fixed_problems_stay_inside_the_declared_flip_and_padding_mode():
    space = dict(DEFAULT, flip=(True,), padding_mode=("reflect",))
    plans = canonical_plans(space, real=False) + boundary_plans(space, 0)
    assert {(p.spec.flip, p.spec.padding_mode) for p in plans} == {(True, "reflect")}
    # The layer table's layers are cross-correlations with zero pads: none fits.
    assert layer_plans(None, space, 0) == []
    one_side = dict(DEFAULT, flip=(False, True))
    assert [p.name for p in canonical_plans(one_side, real=False)][-1] == "canonical flip=True"


def test_the_search_after_failed_fixed_problems_draws_a_tenth():
    assert search_budget(100, failed=False) == 100
    assert search_budget(100, failed=True) == 10
    assert search_budget(9, failed=True) == 1
    with pytest.raises(TypeError):
        search_budget(100, True)


def test_a_bug_on_the_canonical_baseline_is_reported_without_the_full_search():
    def forward(x, w, spec):
        return ref_forward(x, w, spec) + 1

    result = cg.verify(forward, max_examples=40, max_failures=1)
    (failure,) = result.failures
    assert (failure.check, failure.output) == ("exact", "forward")
    assert "found on the fixed problem 'canonical baseline', then shrunk" in failure.message
    assert failure.problem["x"] == [1, 1, 1, 1] and failure.problem["w"] == [1, 1, 1, 1]
    # Only the fixed problems before the first failure ran: no random search at all.
    assert result.examples == 1


def test_shrink_tries_a_passing_candidate_again_with_other_data():
    plan = Plan("t", 1, 1, 4, (1, 1), (1, 1), ConvSpec())
    rebuilt: set[int] = set()

    def build(p):
        return p.build(0, "float64", integer=True)

    def rebuild(p):
        problem = p.build(1, "float64", integer=True)
        rebuilt.add(id(problem))
        return problem

    def fails(problem):
        # As a mistake that equal data hides: only the first data and the other data show it.
        return problem.w.shape[0] == 4 or id(problem) in rebuilt

    end, problem = _shrunk(plan, build, fails, rebuild)
    assert end.c_out == 1 and id(problem) in rebuilt
    assert _shrunk(plan, build, fails)[0].c_out == 4
