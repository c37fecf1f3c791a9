import json
import math
import re

import numpy as np
import pytest
import scipy.signal
from hypothesis import assume, example, given
from hypothesis import strategies as st

import convgrad as cg
from convgrad.explanation import (
    LAYOUTS,
    Diagnosis,
    diagnose_input_grad,
    diagnose_weight_grad,
    explain,
    parse_layout,
)
from convgrad.explanation.formatting import WIDTH
from convgrad.spec import MODES


def _evaluate(expression: str) -> int:
    """Evaluate a substituted step: numbers, + - * / //, floor, ceil, max and mod."""
    assert re.fullmatch(r"[\d\s()+\-*/,]*|.*\b(floor|ceil|max|mod)\b.*", expression)
    assert not re.search(r"\b(?!floor|ceil|max|mod)[A-Za-z_]\w*", expression), expression
    python = expression.replace(" mod ", " % ")
    return eval(python, {"__builtins__": {}}, {"floor": math.floor, "ceil": math.ceil, "max": max})


@st.composite
def layers(draw):
    """(x shape NCHW-like, w shape OIHW-like, keyword arguments) of a layer with an output."""
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim))
    spatial = draw(st.lists(st.integers(1, 12), min_size=ndim, max_size=ndim))
    mode = draw(st.sampled_from((*MODES, "explicit")))
    padding = (
        tuple(draw(st.tuples(st.integers(0, 3), st.integers(0, 3))) for _ in range(ndim))
        if mode == "explicit"
        else mode
    )
    kwargs = {
        "padding": padding,
        "stride": tuple(draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim))),
        "dilation": tuple(draw(st.lists(st.integers(1, 2), min_size=ndim, max_size=ndim))),
        "groups": groups,
    }
    x, w = (draw(st.integers(1, 2)), c_in, *spatial), (c_out, c_in // groups, *kernel)
    try:
        cg.output_shape(x, w, **kwargs)
    except ValueError:
        assume(False)
    return x, w, kwargs


def _channels_last(x, w):
    """NCHW / OIHW shapes as NHWC / HWIO."""
    return (x[0], *x[2:], x[1]), (*w[2:], w[1], w[0])


def _layout_name(ndim: int, batch: bool, last: bool) -> str:
    spatial = "DHW"[3 - ndim :]
    return ("N" if batch else "") + (spatial + "C" if last else "C" + spatial)


def test_hwc_example_derives_the_learners_shapes():
    e = explain((128, 128, 3), (3, 3, 3, 32), layout="HWC", padding="valid")
    assert e.record("forward").shape == (126, 126, 32)
    assert e.record("grad_input").shape == (128, 128, 3)
    assert e.record("grad_weight").shape == (3, 3, 3, 32)
    assert e.record("grad_bias").shape == (32,)
    assert e.layout.kernel == "HWIO"
    text = str(e)
    for needed in ("126x126x32", "3x3x3x32", "128x128x3", "valid", "full"):
        assert needed in text
    assert "H: grad_weight = I + lo + hi - O + 1 = 128 + 0 + 0 - 126 + 1 = 3 = K" in text
    assert "W: O = I + lo + hi - K + 1 = 128 + 0 + 0 - 3 + 1 = 126" in text
    assert "grad_input = F - lo - hi = 128 - 0 - 0 = 128 = I" in text


def test_same_mode_shows_the_pad_derivation_with_the_odd_pad_at_the_end():
    e = explain((1, 1, 5), (1, 1, 2), padding="same", layout="NCW")
    steps = {s.quantity: s for s in e.padding_steps}
    assert steps["total"].substituted == "max((5-1)*1 + 1*(2-1) + 1 - 5, 0)"
    assert (steps["total"].value, steps["lo"].value, steps["hi"].value) == (1, 0, 1)
    lower = {
        s.quantity: s.value
        for s in explain((1, 1, 5), (1, 1, 2), padding="same_lower", layout="NCW").padding_steps
    }
    assert (lower["lo"], lower["hi"]) == (1, 0)


def test_strided_layer_names_the_unreached_rows_and_extra_lags():
    # I=8, K=3, s=3: P - E = 5, so r = 2 rows are never reached; with d=1, K + r lags exist.
    e = explain((1, 1, 8), (1, 1, 3), stride=3, layout="NCW")
    weight = {s.quantity: s for s in e.record("grad_weight").steps}
    assert weight["lags"].value == 5
    assert weight["grad_weight"].value == 3
    assert "2 lie in the r unreached rows" in weight["grad_weight"].note
    grad_input = {s.quantity: s for s in e.record("grad_input").steps}
    assert grad_input["r"].value == 2
    assert grad_input["grad_input"].substituted == "6 - 0 - (0 - 2)"


@given(layers())
@example(
    ((1, 1, 8), (1, 1, 3), {"padding": "valid", "stride": (3,), "dilation": (1,), "groups": 1})
)
def test_every_step_evaluates_to_its_value(layer):
    x, w, kwargs = layer
    e = explain(x, w, layout=_layout_name(len(x) - 2, True, False), **kwargs)
    steps = [*e.padding_steps, *(s for r in e.outputs for s in r.steps)]
    assert steps
    for step in steps:
        assert _evaluate(step.substituted) == step.value, step
        if step.equals == "K":
            assert step.value == w[2 + "DHW"[3 - len(x) + 2 :].index(step.axis)]


@given(layers())
def test_shapes_match_the_reference_and_follow_the_layout(layer):
    x, w, kwargs = layer
    ndim = len(x) - 2
    y = cg.conv(np.zeros(x), np.zeros(w), **kwargs)
    first = explain(x, w, layout=_layout_name(ndim, True, False), **kwargs)
    assert first.record("forward").shape == y.shape
    assert first.record("grad_input").shape == x
    assert first.record("grad_weight").shape == w
    assert first.record("grad_bias").shape == (w[0],)
    xl, wl = _channels_last(x, w)
    last = explain(xl, wl, layout=_layout_name(ndim, True, True), **kwargs)
    assert last.record("forward").shape == (y.shape[0], *y.shape[2:], y.shape[1])
    assert last.record("grad_weight").shape == wl
    unbatched = explain(xl[1:], wl, layout=_layout_name(ndim, False, True), **kwargs)
    assert unbatched.record("forward").shape == last.record("forward").shape[1:]
    assert [s.to_dict() for s in unbatched.record("grad_input").steps] == [
        s.to_dict() for s in first.record("grad_input").steps
    ]
    assert max(len(line) for line in str(last).splitlines()) <= WIDTH


def test_forward_shape_agrees_with_torch_for_a_strided_dilated_grouped_3d_layer():
    torch = pytest.importorskip("torch")
    x, w = torch.zeros(2, 4, 7, 9, 6), torch.zeros(6, 2, 3, 2, 3)
    y = torch.nn.functional.conv3d(x, w, stride=(2, 1, 3), padding=1, dilation=(1, 2, 1), groups=2)
    e = explain(
        tuple(x.shape),
        tuple(w.shape),
        padding=1,
        stride=(2, 1, 3),
        dilation=(1, 2, 1),
        groups=2,
        layout="NCDHW",
    )
    assert e.record("forward").shape == tuple(y.shape)


def test_to_dict_is_json_ready_and_structured():
    e = explain((2, 3, 10, 10), (4, 3, 3, 3), padding="full")
    data = json.loads(json.dumps(e.to_dict()))
    assert data["layout"] == "NCHW" and data["kernel_layout"] == "OIHW"
    assert data["spec"]["padding"] == [[2, 2], [2, 2]]
    outputs = {o["name"]: o for o in data["outputs"]}
    assert outputs["forward"]["shape"] == [2, 4, 12, 12]
    assert outputs["forward"]["axes"] == ["N", "C_out", "H_out", "W_out"]
    step = outputs["grad_weight"]["steps"][0]
    assert step == {
        "axis": "H",
        "quantity": "grad_weight",
        "formula": "I + lo + hi - O + 1",
        "substituted": "10 + 2 + 2 - 12 + 1",
        "value": 3,
        "equals": "K",
        "note": "",
    }


def test_markdown_has_one_table_row_per_step():
    e = explain((5, 3), (2, 3, 4), layout="WC", padding="same")
    md = e.to_markdown()
    assert md.startswith("## 1-D convolution, layout WC (kernel WIO)")
    assert "### grad_weight: grad_w `2x3x4` (K_W, C_in/g, C_out)" in md
    assert "| W | grad_weight | `I + lo + hi - O + 1` | `5 + 0 + 1 - 5 + 1` | 2 = K |  |" in md


def test_colour_only_when_asked():
    e = explain((1, 1, 4, 4), (1, 1, 3, 3))
    assert "\033[" not in str(e)
    assert "\033[1m" in e.to_text(color=True)


def test_layouts_cover_one_to_three_dims_with_and_without_batch():
    assert set(LAYOUTS) == {
        "NCW",
        "NWC",
        "CW",
        "WC",
        "NCHW",
        "NHWC",
        "CHW",
        "HWC",
        "NCDHW",
        "NDHWC",
        "CDHW",
        "DHWC",
    }
    assert parse_layout("nhwc").kernel == "HWIO"
    assert parse_layout("NCDHW").kernel == "OIDHW"


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (
            ((128, 128), (3, 3, 3, 32)),
            {"layout": "HWC"},
            ValueError,
            r"input_shape=\(128, 128\) has 2 dims; layout 'HWC' needs 3 \(H, W, C\)",
        ),
        (
            ((128, 128, 3), (3, 3, 32)),
            {"layout": "HWC"},
            ValueError,
            r"weight_shape=.* layout 'HWC' takes a HWIO kernel with 4 dims",
        ),
        (
            ((128, 128, 3), (3, 3, 3, 32)),
            {"layout": "HWCN"},
            ValueError,
            "layout='HWCN' is not one",
        ),
        (((128, 128, 3), (3, 3, 3, 32)), {"layout": 4}, TypeError, "layout=4 must be a str"),
        (((128, 0, 3), (3, 3, 3, 32)), {"layout": "HWC"}, ValueError, "every size must be >= 1"),
        (((128, 1.5, 3), (3, 3, 3, 32)), {"layout": "HWC"}, TypeError, "must hold ints"),
        (("128x3", (3, 3, 3, 32)), {"layout": "HWC"}, TypeError, "must be a sequence of ints"),
        (
            ((128, 128, 4), (3, 3, 3, 32)),
            {"layout": "HWC"},
            ValueError,
            r"weight_shape\[1\]=3 must equal C_in // groups.*\[layout HWC: x is \(H, W, C\)",
        ),
        (
            ((4, 4, 3), (5, 5, 3, 32)),
            {"layout": "HWC"},
            ValueError,
            "does not fit|output would be empty",
        ),
        (((1, 3, 8, 8), (4, 3, 3, 3)), {"padding": "sideways"}, ValueError, "is not a mode"),
    ],
)
def test_bad_input_names_the_argument_and_rule(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        explain(*args, **kwargs)


def test_numpy_integer_sizes_are_accepted():
    e = explain(tuple(np.int32(n) for n in (1, 3, 8, 8)), tuple(np.int64(n) for n in (4, 3, 3, 3)))
    assert e.record("forward").shape == (1, 4, 6, 6)
    assert all(type(n) is int for n in e.record("forward").shape)


def test_weight_grad_of_input_size_is_a_same_mode_correlation():
    d = diagnose_weight_grad((128, 128, 3), (3, 3, 3, 32), (128, 128), layout="HWC")
    assert not d.ok
    assert d.expected == (3, 3)
    assert [c.operation for c in d.matches] == ["same correlation of x with grad_y"]
    assert d.matches[0].changes == ("correlate in 'valid' mode, not 'same'",)
    text = str(d)
    assert "128x128 is what these operations give" in text
    assert "change: correlate in 'valid' mode, not 'same'" in text


def test_weight_grad_candidates_agree_with_scipy_for_a_1d_layer():
    x, gy = np.ones(128), np.ones(126)
    d = diagnose_weight_grad((1, 1, 128), (1, 1, 3), (1,), layout="NCW")
    sizes = {c.operation: c.shape[0] for c in d.candidates}
    for mode in ("valid", "same", "full"):
        actual = scipy.signal.correlate(x, gy, mode=mode).shape[0]
        assert sizes[f"{mode} correlation of x with grad_y"] == actual
    assert (
        sizes["same correlation of grad_y with x"] == scipy.signal.correlate(gy, x, "same").shape[0]
    )


@given(layers())
def test_the_unchanged_candidate_is_the_right_gradient_shape(layer):
    x, w, kwargs = layer
    for diagnose in (diagnose_weight_grad, diagnose_input_grad):
        d = diagnose(x, w, x[2:], layout=_layout_name(len(x) - 2, True, False), **kwargs)
        right = [c for c in d.candidates if not c.changes]
        assert len(right) == 1
        assert right[0].shape == d.expected
        assert d.expected == (w[2:] if diagnose is diagnose_weight_grad else x[2:])


def test_input_grad_short_by_the_unreached_rows_needs_output_padding():
    # I=8, K=3, s=3, valid: O=2, r=2; cropping hi instead of hi - r gives 6.
    d = diagnose_input_grad((1, 1, 8), (1, 1, 3), (6,), stride=3, layout="NCW")
    assert d.expected == (8,)
    lost = {c.operation: c.changes for c in d.matches}[
        "full correlation of the stride-dilated grad_y with the rotated kernel, cropped by lo and"
        " hi (the r unreached rows lost)"
    ]
    assert len(lost) == 1
    assert "output_padding = r" in lost[0]


def test_input_grad_from_a_valid_correlation():
    d = diagnose_input_grad((1, 3, 128, 128), (32, 3, 3, 3), (124, 124))
    assert [c.operation for c in d.matches] == [
        "valid correlation of grad_y with the rotated kernel"
    ]


def test_right_shape_is_reported_ok():
    d = diagnose_weight_grad((1, 3, 10, 10), (4, 3, 3, 3), (4, 3, 3, 3))
    assert d.ok
    assert "The spatial shape is right." in str(d)


def test_whole_shape_notes_a_batch_axis_and_swapped_channels():
    batch = diagnose_weight_grad((8, 3, 10, 10), (4, 3, 3, 3), (8, 4, 3, 3, 3))
    assert batch.observed == (3, 3)
    assert not batch.ok
    assert "sum grad_weight over the batch" in batch.notes[0]
    swapped = diagnose_weight_grad((10, 10, 3), (3, 3, 3, 4), (3, 3, 4, 3), layout="HWC")
    assert swapped.notes == (
        "C_out and C_in/groups are swapped: HWIO puts them as (C_in/g, C_out)",
    )
    channels = diagnose_input_grad((2, 3, 10, 10), (4, 3, 3, 3), (2, 4, 10, 10))
    assert channels.notes[0].startswith("channels 4; expected C_in = 3")


def test_no_match_lists_every_candidate_and_marks_the_right_one():
    d = diagnose_weight_grad((1, 3, 10, 10), (4, 3, 3, 3), (7, 7))
    assert d.matches == ()
    text = str(d)
    assert "No candidate operation gives 7x7" in text
    assert "valid correlation of x with grad_y -> 3x3 (the right operation)" in text
    assert json.loads(json.dumps(d.to_dict()))["matches"] == []
    assert isinstance(d, Diagnosis) and d.to_markdown().startswith(
        "grad_weight: spatial shape `7x7`"
    )


@pytest.mark.parametrize(
    ("observed", "error", "message"),
    [
        ((3, 3, 3), ValueError, r"observed=\(3, 3, 3\) has 3 dims; give the 2 spatial sizes"),
        ((3, 0), ValueError, "every size must be >= 1"),
        ((3.0, 3), TypeError, "must hold ints"),
        (None, TypeError, "must be a sequence of ints"),
    ],
)
def test_diagnosis_rejects_a_malformed_observed_shape(observed, error, message):
    with pytest.raises(error, match=message):
        diagnose_weight_grad((1, 3, 10, 10), (4, 3, 3, 3), observed)


def test_candidates_are_structured_with_mode_and_operands():
    d = diagnose_weight_grad((1, 1, 8), (1, 1, 3), (8,), padding=1, layout="NCW")
    best = d.matches[0]
    assert (best.mode, best.operands) == ("same", "of x (unpadded) with grad_y")
    assert best.operation == "same correlation of x (unpadded) with grad_y"
    assert best.to_dict()["mode"] == "same" and best.to_dict()["operands"] == best.operands
    right = next(c for c in d.candidates if not c.changes)
    assert (right.mode, right.shape) == ("valid", (3,))
