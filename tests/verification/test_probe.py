"""The capability probe: each feature of the requested space classified supported, unsupported
(NotImplementedError, or the user's own ValueError/TypeError) or wrong (ran, wrong values, or
crashed otherwise); unsupported features left out of the search unless strict."""

from dataclasses import replace

import numpy as np
import pytest

import convgrad as cg
from convgrad.verification.probe import SUPPORTED, UNSUPPORTED, WRONG

from . import strided_conv
from .implementations import (
    FAST,
    fixed_problem,
    raising_on_groups,
    ref_backward,
    ref_forward,
    spec_kwargs,
)


def _table(result) -> list[tuple[str, str]]:
    return [(row["feature"], row["status"]) for row in result.capabilities]


def test_the_table_of_a_conv_without_dilation_or_groups():
    result = cg.verify(strided_conv.forward, strided_conv.backward, **FAST)
    assert _table(result) == [
        ("baseline: 2-D, padding='valid', stride 1, float64", SUPPORTED),
        ("padding='same'", SUPPORTED),
        ("padding='full'", SUPPORTED),
        ("padding='explicit'", SUPPORTED),
        ("stride 2 with a remainder", SUPPORTED),
        ("dilation 2", UNSUPPORTED),
        ("groups 2", UNSUPPORTED),
        ("depthwise (groups 2 = C_in)", UNSUPPORTED),
    ]
    dilation = result.capabilities[5]
    assert dilation["detail"] == (
        "forward raised NotImplementedError: dilation (2, 2) is not supported"
    )
    assert dilation["problem"]["spec"]["dilation"] == [2, 2]
    assert result.capabilities[7]["problem"]["x"][1] == 2  # C_in = groups
    assert result.ok, str(result)
    text = str(result)
    assert text.index("capabilities (each probed") < text.index("dilation 2  ")
    assert (
        "left out of the search (unsupported): dilation 2, groups 2, depthwise (groups 2 = C_in);"
        " strict=True (CLI --strict) searches them and counts them as failures"
    ) in text
    assert result.to_dict()["capabilities"] == list(result.capabilities)


def test_unsupported_features_are_left_out_of_the_search():
    calls = []

    def forward(x, w, spec):
        calls.append((x.shape, spec.dilation, spec.groups))
        return strided_conv.forward(x, w, spec)

    result = cg.verify(forward, strided_conv.backward, **FAST)
    probed = {
        (tuple(row["problem"]["x"]), tuple(row["problem"]["spec"]["dilation"]))
        for row in result.capabilities
    }
    # Every call with dilation or groups is one of the probe's own problems.
    unusual = {(shape, dilation) for shape, dilation, groups in calls if dilation != (1, 1)}
    assert unusual and unusual <= probed
    assert all(g == 1 for shape, d, g in calls if (shape, d) not in probed)
    assert len(calls) > 100  # the search ran


def test_strict_counts_unsupported_features_as_failures():
    result = cg.verify(strided_conv.forward, strided_conv.backward, strict=True, **FAST)
    assert not result.ok
    unsupported = [f for f in result.failures if f.check == "unsupported"]
    assert [f.problem["spec"]["dilation"] for f in unsupported] == [[2, 2], [1, 1], [1, 1]]
    assert [f.problem["spec"]["groups"] for f in unsupported] == [1, 2, 2]
    assert unsupported[0].diagnosis.startswith("forward does not support dilation 2: it raised")
    assert result.settings["strict"] is True
    assert "strict: unsupported features count as failures: dilation 2" in str(result)


def test_a_wrong_feature_stays_in_the_search():
    def ignores_dilation(x, w, spec):
        return cg.conv(x, w, **spec_kwargs(spec, dilation=1))

    result = cg.verify(ignores_dilation, groups=1, **FAST)
    row = dict(_table(result))
    assert row["dilation 2"] == WRONG
    assert result.capabilities[-1]["detail"].startswith("failed: shape on forward")
    shape = next(f for f in result.failures if f.check == "shape")
    assert max(shape.problem["spec"]["dilation"]) == 2  # found by the search, minimal
    assert "dilation ignored" in shape.diagnosis


def _einsum_ignoring_groups(x, w, spec):
    # groups ignored: einsum meets C_in against C_in // groups and NumPy raises ValueError
    return np.einsum("nc...,oc->no...", x[..., :1, :1], w[..., 0, 0])


def test_a_value_error_raised_inside_numpy_is_wrong_not_unsupported():
    result = cg.verify(_einsum_ignoring_groups, dilation=1, padding="valid", **FAST)
    row = dict(_table(result))
    assert row["groups 2"] == WRONG
    assert row["baseline: 2-D, padding='valid', stride 1, float64"] == WRONG


@pytest.mark.parametrize("error", [ValueError, TypeError])
def test_the_users_own_value_or_type_error_is_unsupported(error):
    result = cg.verify(raising_on_groups(error), ref_backward, dilation=1, **FAST)
    row = dict(_table(result))
    assert row["groups 2"] == UNSUPPORTED
    assert result.ok, str(result)


@pytest.mark.parametrize("error", [ValueError, NotImplementedError])
def test_a_refusal_in_a_child_process_is_unsupported_as_in_this_one(error):
    result = cg.verify(
        raising_on_groups(error),
        dilation=1,
        padding="valid",
        isolation="process",
        layers=(),
        max_examples=3,
    )
    groups = result.capabilities[2]
    assert (groups["feature"], groups["status"]) == ("groups 2", UNSUPPORTED)
    assert groups["detail"] == f"forward raised {error.__name__}: groups=2: not supported here"
    assert result.ok, str(result)


def test_a_numpy_value_error_in_a_child_process_is_still_wrong():
    result = cg.verify(
        _einsum_ignoring_groups,
        dilation=1,
        padding="valid",
        isolation="process",
        layers=(),
        max_examples=3,
    )
    assert dict(_table(result))["groups 2"] == WRONG


def test_a_backward_that_declines_groups_leaves_them_out_though_forward_does_them():
    def backward(x, w, grad_y, spec):
        if spec.groups != 1:
            raise NotImplementedError("grouped backward")
        return ref_backward(x, w, grad_y, spec)

    result = cg.verify(ref_forward, backward, dilation=1, **FAST)
    rows = {row["feature"]: row for row in result.capabilities}
    assert rows["groups 2"]["status"] == UNSUPPORTED
    assert rows["groups 2"]["detail"] == "backward raised NotImplementedError: grouped backward"
    assert rows["depthwise (groups 2 = C_in)"]["status"] == UNSUPPORTED
    assert result.ok, str(result)


def test_a_baseline_that_raises_is_searched_and_fails():
    def forward(x, w, spec):
        raise NotImplementedError("nothing yet")

    result = cg.verify(forward, **FAST)
    assert result.capabilities[0]["status"] == UNSUPPORTED
    assert not result.ok
    assert {f.check for f in result.failures} == {"raised"}
    assert "left out of the search (unsupported): padding='same'" in str(result)


def _crashes_at_stride_2(x, w, spec):
    if spec.stride[0] == 2:
        rows = np.zeros(1)
        rows[x.shape[2]] = 1.0  # an off-by-one past the end: IndexError, a bug
    return strided_conv.forward(x, w, spec)


def _asserts_no_dilation(x, w, spec):
    assert spec.dilation == (1, 1), "dilation not implemented"
    return strided_conv.forward(x, w, spec)


def test_a_crash_is_wrong_and_reported_never_unsupported():
    result = cg.verify(_crashes_at_stride_2, dilation=1, groups=1, **FAST)
    row = result.capabilities[4]
    assert (row["feature"], row["status"]) == ("stride 2 with a remainder", WRONG)
    assert row["detail"].startswith("failed: raised on forward; forward raised IndexError: index")
    assert not result.ok
    crash = next(f for f in result.failures if f.check == "raised")
    assert crash.problem["spec"]["stride"][0] == 2
    assert "forward raised IndexError" in crash.message


def test_a_failed_assert_is_wrong_with_a_hint_to_raise_not_implemented():
    result = cg.verify(_asserts_no_dilation, groups=1, **FAST)
    row = dict(_table(result))
    assert row["dilation 2"] == WRONG
    assert (
        "forward raised AssertionError: dilation not implemented"
        in (result.capabilities[-1]["detail"])
    )
    (crash,) = [f for f in result.failures if f.check == "raised"]
    assert crash.diagnosis.endswith(
        "if the assert says a feature is not implemented, raise NotImplementedError instead:"
        " verify then reports the feature unsupported and leaves it out of the search"
    )


def _two_d_only(x, w, spec):
    if x.ndim != 4:
        raise ValueError(f"x.ndim={x.ndim}: only 2-D convolution is supported")
    return strided_conv.forward(x, w, spec)


def test_a_first_ndim_the_conv_declines_does_not_take_the_others_down():
    result = cg.verify(_two_d_only, ndim=(1, 2, 3), dilation=1, groups=1, **FAST)
    assert _table(result) == [
        ("baseline: 2-D, padding='valid', stride 1, float64", SUPPORTED),
        ("padding='same'", SUPPORTED),
        ("padding='full'", SUPPORTED),
        ("padding='explicit'", SUPPORTED),
        ("stride 2 with a remainder", SUPPORTED),
        ("1-D", UNSUPPORTED),
        ("3-D", UNSUPPORTED),
    ]
    assert result.capabilities[5]["detail"] == (
        "forward raised ValueError: x.ndim=3: only 2-D convolution is supported"
    )
    assert result.ok, str(result)
    assert "left out of the search (unsupported): 1-D, 3-D; strict=True" in str(result)


def _crashes_on_1d(x, w, spec):
    _n, _c, _h, _w = x.shape  # a 2-D conv's unpacking: a ValueError from Python on 1-D
    return strided_conv.forward(x, w, spec)


def test_a_first_ndim_the_conv_crashes_on_is_one_wrong_row_around_a_supported_baseline():
    result = cg.verify(_crashes_on_1d, ndim=(1, 2), dilation=1, groups=1, **FAST)
    assert _table(result) == [
        ("baseline: 2-D, padding='valid', stride 1, float64", SUPPORTED),
        ("padding='same'", SUPPORTED),
        ("padding='full'", SUPPORTED),
        ("padding='explicit'", SUPPORTED),
        ("stride 2 with a remainder", SUPPORTED),
        ("1-D", WRONG),
    ]
    assert (
        "forward raised ValueError: not enough values to unpack"
        in (result.capabilities[-1]["detail"])
    )
    assert not result.ok
    assert (
        "  forward raises even on the plainest 1-D problem ('valid', stride 1, no dilation or"
        " groups): 1 failure [1]"
    ) in str(result).splitlines()


def test_with_no_value_that_runs_the_first_baseline_stays_and_fails():
    def forward(x, w, spec):
        raise TypeError(f"dtype={x.dtype}: only float64 is supported")

    result = cg.verify(forward, dtype="float32", ndim=(1, 2), dilation=1, groups=1, **FAST)
    assert result.capabilities[0]["feature"] == "baseline: 1-D, padding='valid', stride 1, float32"
    assert {row["status"] for row in result.capabilities} == {UNSUPPORTED}
    assert not result.ok
    assert (
        "\nthe baseline raised too, with every one-axis change: nothing requested runs (a dtype"
        " or rank your code declines?); verify searches the baseline and reports it failing\n"
    ) in str(result)
    assert {f.check for f in result.failures} == {"raised"}


def test_every_requested_axis_gets_a_row():
    result = cg.verify(
        ref_forward,
        ref_backward,
        ndim=(2, 1, 3),
        padding=("valid", "same_lower", "explicit"),
        stride=(1, 3),
        dilation=1,
        groups=(1, 3),
        flip=(False, True),
        dtype="float32",
        max_examples=5,
    )
    assert _table(result) == [
        ("baseline: 2-D, padding='valid', stride 1, float32", SUPPORTED),
        ("padding='same_lower'", SUPPORTED),
        ("padding='explicit'", SUPPORTED),
        ("stride 3 with a remainder", SUPPORTED),
        ("groups 3", SUPPORTED),
        ("depthwise (groups 3 = C_in)", SUPPORTED),
        ("1-D", SUPPORTED),
        ("3-D", SUPPORTED),
        ("flip=True", SUPPORTED),
    ]
    assert result.capabilities[2]["problem"]["spec"]["padding"] == [[1, 2], [1, 2]]
    assert len(result.capabilities[7]["problem"]["x"]) == 5
    assert result.capabilities[0]["problem"]["dtype"] == "float32"


def test_a_padding_mode_the_conv_does_not_implement_is_left_out_with_a_hint():
    modes = []

    def forward(x, w, spec):
        modes.append((spec.padding_mode, x.shape))
        return strided_conv.forward(x, w, spec)

    result = cg.verify(
        forward,
        strided_conv.backward,
        dilation=1,
        groups=1,
        padding_mode=("zeros", "reflect", "circular"),
        **FAST,
    )
    rows = {row["feature"]: row for row in result.capabilities}
    reflect = rows["padding_mode='reflect' (padding='same')"]
    assert reflect["status"] == UNSUPPORTED
    assert reflect["detail"] == (
        "forward raised NotImplementedError: padding_mode='reflect' is not supported"
    )
    assert reflect["problem"]["spec"]["padding_mode"] == "reflect"
    assert rows["padding_mode='circular' (padding='same')"]["status"] == UNSUPPORTED
    assert result.ok, str(result)
    assert (
        "left out of the search (unsupported): padding_mode='reflect' (padding='same'),"
        " padding_mode='circular' (padding='same'); strict=True (CLI --strict)"
    ) in str(result)
    # The search called the conv with zero padding only; the other modes once each, probed.
    assert [mode for mode, _ in modes].count("reflect") <= 3
    assert sum(mode == "zeros" for mode, _ in modes) > 50


def test_a_padding_mode_row_without_pads_in_the_space_is_probed_unpadded():
    result = cg.verify(
        ref_forward,
        padding="valid",
        padding_mode=("replicate", "circular"),
        ndim=1,
        stride=1,
        dilation=1,
        groups=1,
        layers=(),
        max_examples=3,
    )
    assert _table(result) == [
        ("baseline: 1-D, padding='valid', stride 1, float64", SUPPORTED),
        ("padding_mode='circular'", SUPPORTED),
    ]
    assert result.capabilities[1]["problem"]["spec"]["padding"] == [[0, 0]]
    assert result.capabilities[0]["problem"]["spec"]["padding_mode"] == "replicate"


def _symmetric_for_reflect(x, w, spec):
    """A NumPy conv whose reflect pads repeat the edge (numpy.pad "symmetric", not "reflect")."""
    numpy_mode = {"reflect": "symmetric", "replicate": "edge", "circular": "wrap"}
    if spec.padding_mode == "zeros":
        return strided_conv.forward(x, w, spec)
    padded = np.pad(x, ((0, 0), (0, 0), *spec.padding), mode=numpy_mode[spec.padding_mode])
    valid = replace(spec, padding=((0, 0),) * spec.ndim, padding_mode="zeros")
    return strided_conv.forward(padded, w, valid)


def test_a_padding_mode_computed_wrong_is_searched_and_its_failure_reported():
    result = cg.verify(
        _symmetric_for_reflect,
        dilation=1,
        groups=1,
        padding=("valid", "explicit"),
        padding_mode=("zeros", "replicate", "reflect"),
        ndim=1,
        layers=(),
        max_examples=10,
        max_failures=1,
    )
    row = dict(_table(result))
    assert row["padding_mode='replicate' (padding='explicit')"] == SUPPORTED
    assert row["padding_mode='reflect' (padding='explicit')"] == WRONG
    reflect = result.capabilities[-1]
    assert reflect["detail"].startswith("failed: exact on forward")
    assert not result.ok
    failure = next(f for f in result.failures if (f.check, f.output) == ("exact", "forward"))
    assert failure.problem["spec"]["padding_mode"] == "reflect"  # found by the search
    assert "padding_mode='reflect'" in failure.reproduce


def test_fixed_problems_skip_the_probe():
    result = cg.verify(ref_forward, ref_backward, problems=[fixed_problem()])
    assert result.capabilities == ()
    assert "capabilities" not in str(result)


def test_strict_must_be_a_bool():
    with pytest.raises(TypeError, match=r"strict=1 must be a bool"):
        cg.verify(ref_forward, strict=1)
