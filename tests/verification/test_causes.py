"""Failures grouped by root cause: the output and kind of failure, and the features its minimal
problem needs; most specific first."""

import convgrad as cg
from convgrad.verification import causes

from .implementations import FAST


def _failure(check, output, *, x=(1, 1, 5), w=(1, 1, 2), message="", **spec):
    rank = len(x) - 2
    full = {
        "mode": "valid",
        "padding": [[0, 0]] * rank,
        "stride": [1] * rank,
        "dilation": [1] * rank,
        "groups": 1,
        "flip": False,
        **spec,
    }
    problem = {"x": list(x), "w": list(w), "dtype": "float64", "spec": full}
    return {"check": check, "output": output, "message": message, "problem": problem}


def test_features_of_a_problem():
    def features(**kw):
        return causes.features(_failure("value", "forward", **kw)["problem"])

    assert features() == ()
    # (5 - 2) % 2 = 1: the last input row is reached by no window.
    assert features(stride=[2]) == ("stride > 1 with a remainder",)
    assert features(stride=[3]) == ("stride > 1",)
    assert features(stride=[2], mode="same", padding=[[0, 1]]) == (
        "padding='same'",
        "stride > 1",
    )
    assert features(dilation=[2], flip=True) == ("dilation > 1", "flip=True")
    assert features(x=(1, 4, 5), w=(2, 2, 2), groups=2) == ("groups > 1",)
    assert features(x=(1, 2, 5), w=(2, 1, 2), groups=2) == ("depthwise",)
    assert features(mode="same", padding=[[0, 1]], padding_mode="reflect") == (
        "padding='same'",
        "padding_mode='reflect'",
    )


def test_subjects_name_the_output_or_the_call():
    assert causes.subject(_failure("value", "grad_input")) == "grad_input wrong"
    assert causes.subject(_failure("adjoint", "grad_weight")) == "grad_weight wrong"
    assert causes.subject(_failure("shape", "forward")) == "forward has the wrong shape"
    assert causes.subject(_failure("raised", "grad_input")) == "backward raises"
    assert causes.subject(_failure("no_mutation", "forward")) == "forward modifies its input arrays"
    assert causes.subject(_failure("determinism", "grad_bias")) == "grad_bias is nondeterministic"
    assert causes.subject(_failure("layout", "forward")) == (
        "forward wrong or raises on other memory layouts (views, Fortran order, read-only)"
    )
    assert causes.subject(_failure("state", "grad_weight")) == (
        "grad_weight depends on an earlier call (a cached input or a reused buffer)"
    )


def test_layout_failures_are_one_cause_whatever_the_spec_their_layout_was_drawn_on():
    strided = _failure("layout", "forward", stride=[2], message="with negative-stride views")
    plain = _failure("layout", "forward", message="with Fortran-order arrays")
    assert causes.group([strided, plain]) == [
        {
            "summary": "forward wrong or raises on other memory layouts (views, Fortran order,"
            " read-only) (the layout each problem drew; see each failure): 2 failures",
            "count": 2,
            "failures": [0, 1],
        }
    ]


def test_a_search_failure_raising_not_implemented_is_a_feature_not_supported():
    raised = _failure(
        "raised",
        "grad_input",
        dilation=[2],
        x=(1, 1, 7),
        message="backward raised NotImplementedError: no dilation",
    )
    crashed = _failure(
        "raised", "forward", stride=[2], message="forward raised IndexError: index 3 is out"
    )
    assert [c["summary"] for c in causes.group([raised, crashed])] == [
        "backward does not support dilation > 1: 1 failure",
        "forward raises whenever stride > 1 with a remainder: 1 failure",
    ]


def test_failures_sharing_output_and_features_are_one_cause_most_specific_first():
    failures = [
        _failure("value", "forward"),
        _failure("value", "grad_input", stride=[2]),
        _failure("adjoint", "grad_input", stride=[2]),
        _failure("finite_difference", "grad_input", stride=[2]),
        _failure("value", "grad_weight", stride=[2], dilation=[2], x=(1, 1, 7)),
        _failure("unsupported", "forward", x=(1, 2, 5), w=(2, 1, 2), groups=2),
    ]
    assert causes.group(failures) == [
        {
            "summary": "grad_weight wrong whenever stride > 1 and dilation > 1: 1 failure",
            "count": 1,
            "failures": [4],
        },
        {
            "summary": "grad_input wrong whenever stride > 1 with a remainder: 3 failures",
            "count": 3,
            "failures": [1, 2, 3],
        },
        {"summary": "forward does not support depthwise: 1 failure", "count": 1, "failures": [5]},
        {
            "summary": "forward wrong even on the plainest 1-D problem ('valid', stride 1, no"
            " dilation or groups): 1 failure",
            "count": 1,
            "failures": [0],
        },
    ]
    assert causes.group([]) == []


def test_verify_prints_the_causes_before_the_details():
    from tests.zoo.bugs import BUGS

    bug = next(b for b in BUGS if b.name == "grad_input_drops_unreached_rows")
    result = cg.verify(bug.forward, bug.backward, **FAST)
    text = str(result)
    line = "  grad_input has the wrong shape whenever stride > 1 with a remainder: 1 failure [1]"
    assert line in text.splitlines()
    assert text.index(line) < text.index("[1] FAILED shape on grad_input")
    assert result.to_dict()["causes"] == [
        {
            "summary": "grad_input has the wrong shape whenever stride > 1 with a remainder:"
            " 1 failure",
            "count": 1,
            "failures": [0],
        }
    ]


def test_an_unsupported_rank_or_padding_mode_is_named():
    one_d = _failure("unsupported", "forward", message="forward raised ValueError: 2-D only")
    reflect = _failure(
        "unsupported",
        "forward",
        x=(1, 1, 5, 5),
        w=(1, 1, 2, 2),
        mode="same",
        padding=[[0, 1], [0, 1]],
        padding_mode="reflect",
    )
    assert [c["summary"] for c in causes.group([one_d, reflect])] == [
        "forward does not support padding='same' and padding_mode='reflect': 1 failure",
        "forward does not support even the plainest 1-D float64 problem: 1 failure",
    ]
