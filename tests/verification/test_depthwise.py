"""groups="depthwise": groups = C_in, C_out = multiplier * C_in, output channel c * multiplier
+ m filtering input channel c (torch.nn.Conv2d(groups=C_in), tf.nn.depthwise_conv2d)."""

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from tests.zoo import correct

import convgrad as cg
from convgrad.shapes import depthwise_groups
from convgrad.strategies import conv_problems, conv_specs
from convgrad.verification.probe import probe


def fw_depthwise_only(x, w, spec):
    """A depthwise-only kernel: one single-channel correlation per (input channel, filter);
    anything else is refused, as a library's depthwise entry point does."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    c_in = x.shape[1]
    if spec.groups != c_in:
        raise ValueError(f"depthwise only: groups={spec.groups} but C_in={c_in}")
    single = dataclasses.replace(spec, groups=1)
    multiplier = w.shape[0] // c_in
    columns = [
        correct.forward(x[:, c : c + 1], w[o : o + 1], single)
        for c in range(c_in)
        for o in range(c * multiplier, (c + 1) * multiplier)
    ]
    return np.concatenate(columns, axis=1)


def bw_depthwise_only(x, w, grad_y, spec):
    if spec.groups != np.shape(x)[1]:
        raise ValueError(f"depthwise only: groups={spec.groups} but C_in={np.shape(x)[1]}")
    return correct.backward(x, w, grad_y, spec)


def test_depthwise_groups_is_c_in_for_any_multiplier():
    assert depthwise_groups(3, (3, 1, 2, 2)) == 3
    assert depthwise_groups(3, (12, 1, 2, 2)) == 3


@pytest.mark.parametrize(
    ("c_in", "w_shape", "words"),
    [
        (2, (5, 1, 3, 3), "C_out = 5 (not a multiple of C_in)"),
        (2, (4, 2, 3, 3), "and 2 input channel(s) per group"),
    ],
)
def test_depthwise_groups_names_the_rule(c_in, w_shape, words):
    with pytest.raises(ValueError, match=r"multiplier \* C_in, 1, \*K") as error:
        depthwise_groups(c_in, w_shape)
    assert words in str(error.value)


@settings(max_examples=25)
@given(conv_problems(groups="depthwise", max_channels=6))
def test_depthwise_problems_have_one_group_per_input_channel(problem):
    c_in, c_out = problem.x.shape[1], problem.w.shape[0]
    assert problem.spec.groups == c_in
    assert problem.w.shape[1] == 1 and c_out % c_in == 0 and c_out <= 6


_FIRST = settings(max_examples=200, database=None, phases=[Phase.generate])
"""find's settings that return the first match unshrunk (shrinking costs seconds here)."""


def test_depthwise_draws_a_multiplier_above_one():
    found = find(
        conv_problems(groups="depthwise", max_channels=4),
        lambda p: p.x.shape[1] > 1 and p.w.shape[0] > p.x.shape[1],
        settings=_FIRST,
    )
    assert (found.x.shape[1], found.w.shape[0], found.spec.groups) == (2, 4, 2)


def test_a_depthwise_spec_resolves_with_the_input_channels():
    spec = cg.ConvSpec(groups="depthwise")
    assert spec.resolve((4, 4), (2, 2), channels=3).groups == 3
    with pytest.raises(ValueError, match="resolve it with the input's channel count"):
        spec.resolve((4, 4), (2, 2))
    drawn = find(conv_specs(groups="depthwise"), lambda s: True, settings=_FIRST)
    assert drawn.groups == "depthwise"


def test_the_reference_takes_depthwise_as_groups_c_in():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 3, 5, 5)), rng.standard_normal((6, 1, 2, 2))
    y = cg.conv(x, w, groups="depthwise")
    np.testing.assert_array_equal(y, cg.conv(x, w, groups=3))
    # output channel c * 2 + m reads input channel c only
    np.testing.assert_allclose(y[:, 3:4], cg.conv(x[:, 1:2], w[3:4]))
    grads = cg.conv_backward(x, w, np.ones_like(y), groups="depthwise")
    assert grads.weight.shape == w.shape
    problem = cg.ConvProblem(x, w, None, np.ones_like(y), cg.ConvSpec(groups="depthwise"))
    assert problem.spec.groups == 3


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (
            lambda: cg.conv(np.ones((1, 2, 3, 3)), np.ones((5, 1, 2, 2)), groups="depthwise"),
            "C_out = 5 (not a multiple of C_in)",
        ),
        (
            lambda: cg.conv_transpose(
                np.ones((1, 4, 3, 3)), np.ones((4, 1, 2, 2)), groups="depthwise"
            ),
            "does not fix the conv's C_in",
        ),
        (
            lambda: cg.TransposeSpec(((0, 0),), (1,), (1,), "depthwise", (0,)),
            "pass the group count",
        ),
        (lambda: cg.ConvSpec(groups="grouped"), "must be an int >= 1 or 'depthwise'"),
    ],
)
def test_depthwise_is_refused_where_c_in_is_not_known_or_the_kernel_breaks_the_rule(call, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        call()


def test_translation_needs_the_number():
    from convgrad import translate

    with pytest.raises(ValueError, match="has no torch keyword: it is groups = C_in"):
        translate.to_torch(cg.ConvSpec(groups="depthwise"))
    resolved = cg.ConvSpec(groups="depthwise").resolve((4, 4), (2, 2), channels=3)
    assert translate.to_torch(resolved)["groups"] == 3


@pytest.mark.parametrize("groups", ["dw", ("depthwise", "grouped")])
def test_other_group_words_are_refused(groups):
    with pytest.raises(ValueError, match="must be an int >= 1 or 'depthwise'"):
        conv_problems(groups=groups)


def test_the_probe_tries_a_channel_multiplier_of_two():
    rows = probe(
        correct.forward,
        None,
        {
            "padding": ("valid",),
            "stride": (1,),
            "dilation": (1,),
            "groups": (1, "depthwise"),
            "ndim": (2,),
            "flip": (False,),
            "padding_mode": ("zeros",),
        },
        dtype="float64",
        precision=cg.verification.bounds.Precision(),
        exact=True,
        seed=0,
        timeout=None,
    ).rows
    row = next(r for r in rows if r.value == "depthwise")
    assert row.status == "supported"
    assert row.problem["x"][1] == 2 and row.problem["w"][:2] == [4, 1]
    assert row.problem["spec"]["groups"] == 2


def test_a_depthwise_only_implementation_passes_without_raised_noise():
    result = cg.verify(
        fw_depthwise_only, bw_depthwise_only, groups="depthwise", max_examples=20, layers=()
    )
    assert result.ok, str(result)
    assert [c["status"] for c in result.capabilities] == ["supported"] * len(result.capabilities)
    assert result.capabilities[0]["problem"]["spec"]["groups"] == 2


def test_without_depthwise_the_same_implementation_is_unsupported_at_groups_1():
    result = cg.verify(fw_depthwise_only, None, max_examples=1, layers=())
    assert result.capabilities[0]["status"] == "unsupported"


def test_explain_resolves_depthwise_groups():
    e = cg.explain((1, 3, 6, 6), (6, 1, 3, 3), groups="depthwise")
    assert e.record("forward").shape == (1, 6, 4, 4)
    assert "output channel c * 2 + m" in str(e)
    with pytest.raises(ValueError, match="w has C_out = 4 \\(not a multiple of C_in\\)"):
        cg.explain((1, 3, 6, 6), (4, 1, 3, 3), groups="depthwise")
