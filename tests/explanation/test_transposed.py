"""explain_transpose and `convgrad explain --transpose`: the transposed convolution's output
size and each gradient's shape derived step by step, every step evaluating to its value, each
shape equal to the reference's, and the forward conv whose adjoint it is named."""

import math
import re

import numpy as np
import pytest

import convgrad as cg
from convgrad.cli import main
from convgrad.explanation.transposed import explain_transpose

LAYERS = [
    # (x shape, w shape, keywords): NCHW unless a layout is given
    ((1, 4, 5, 5), (4, 3, 3, 3), {"padding": 1, "stride": 2, "output_padding": 1}),
    ((2, 2, 3), (2, 1, 3), {"dilation": 2, "output_padding": 1, "layout": "NCW"}),  # tail 1
    (
        (1, 2, 4),
        (2, 2, 2),
        {"padding": ((1, 3),), "dilation": 3, "output_padding": 2, "layout": "NCW"},
    ),
    ((1, 4, 3, 2), (4, 1, 2, 3), {"stride": (2, 3), "groups": 2, "output_size": (7, 8)}),
    ((5, 4, 2), (3, 3, 1, 2), {"stride": 2, "padding": 1, "output_padding": 1, "layout": "HWC"}),
]


def _evaluate(expression: str) -> int:
    python = expression.replace(" mod ", " % ")
    assert not re.search(r"\b(?!floor|max|min)[A-Za-z_]\w*", python), expression
    return eval(python, {"__builtins__": {}}, {"floor": math.floor, "max": max, "min": min})


def _channels_first(x_shape, w_shape, kw):
    """The layer's x and w in NC... / (C_in, C_out/g, *K) order, and the reference keywords."""
    kw = dict(kw)
    layout = kw.pop("layout", "NCHW")
    if layout == "HWC":
        x_shape = (1, x_shape[-1], *x_shape[:-1])
        w_shape = (w_shape[-1], w_shape[-2], *w_shape[:-2])
    return x_shape, w_shape, kw


@pytest.mark.parametrize(("x_shape", "w_shape", "kw"), LAYERS)
def test_every_shape_is_the_references_and_every_step_evaluates(x_shape, w_shape, kw):
    e = explain_transpose(x_shape, w_shape, **kw)
    x_cf, w_cf, ref_kw = _channels_first(x_shape, w_shape, kw)
    size = ref_kw.pop("output_size", None)
    ref_kw["output_padding"] = e.output_padding
    x, w = np.ones(x_cf), np.ones(w_cf)
    y = cg.conv_transpose(x, w, **ref_kw)
    grads = cg.conv_transpose_backward(x, w, np.ones(y.shape), **ref_kw)
    layout = kw.get("layout", "NCHW")
    forward = e.record("forward").shape
    if layout == "HWC":
        forward = (1, forward[-1], *forward[:-1])
    assert forward == y.shape
    if size is not None:
        assert y.shape[2:] == size
    assert e.record("grad_input").shape == tuple(x_shape)
    assert (
        e.record("grad_weight").shape
        == tuple(w_shape)
        == tuple(
            np.moveaxis(grads.weight, (0, 1), (-1, -2)).shape
            if layout == "HWC"
            else grads.weight.shape
        )
    )
    assert e.record("grad_bias").shape == grads.bias.shape
    for record in e.outputs:
        for step in record.steps:
            assert _evaluate(step.substituted) == step.value, step


def test_the_text_derives_the_output_size_and_names_the_adjoint_conv(capsys):
    code = main(
        [
            "explain",
            "--transpose",
            "--input",
            "1x4x5x5",
            "--kernel",
            "4x3x3x3",
            "--stride",
            "2",
            "--padding",
            "1",
            "--output-padding",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "2-D transposed convolution, layout NCHW (kernel OIHW: C_in, C_out/groups)" in out
    assert "pads (1, 1), stride 2, dilation 1, groups 1, output_padding 1" in out
    assert "adjoint of: conv2d with the same w (read as C_out = 4 output channels, C_in = 3" in out
    assert "forward      y = 1x3x10x10  (N=1, C_out=3, H_out=10, W_out=10)" in out
    assert "  H: Z = (I-1)*s + 1 = (5-1)*2 + 1 = 9 (x with s-1 zeros between entries)" in out
    assert "     O = F - lo - hi + op = 11 - 1 - 1 + 1 = 10" in out
    assert "     grad_input = floor((P - K) / s) + 1 = floor((12 - 3) / 2) + 1 = 5 = I" in out
    assert "     r = (P - K) mod s = (12 - 3) mod 2 = 1 (rows the conv leaves unreached)" in out
    assert "grad_bias    grad_b = 3  (C_out=3)" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_output_padding_past_the_stride_and_output_size_are_derived(capsys):
    code = main(
        [
            "explain",
            "--transpose",
            "--input",
            "1x2x3",
            "--kernel",
            "2x1x3",
            "--dilation",
            "2",
            "--output-size",
            "8",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert (
        "op = 8 - (F - lo - hi) = 8 - (7 - 0 - 0) = 1 (from output_size; reachable 7 to 8)" in out
    )
    assert "t = max(0, op - hi - s + 1) = max(0, 1 - 0 - 1 + 1) = 1" in out
    assert "y's last 1 rows lie past every input's reach" in " ".join(out.split())
    prose = " ".join(line.strip() for line in out.splitlines())
    assert "on inputs of spatial size 7: it maps (N, 1, 7) to x's shape (N, 2, 3)" in prose
    assert "grad_weight = floor((P - I) / d) + 1 = floor((7 - 3) / 2) + 1 = 3 = K" in out


def test_json_carries_the_spec_and_the_adjoint(capsys):
    import json

    main(
        [
            "explain",
            "--transpose",
            "--input",
            "1x2x3",
            "--kernel",
            "2x1x3",
            "--stride",
            "2",
            "--output-padding",
            "1",
            "--format",
            "json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert data["op"] == "conv_transpose"
    assert data["spec"]["output_padding"] == [1] and data["spec"]["output_size"] is None
    assert data["outputs"][0]["shape"] == [1, 1, 8]
    assert data["adjoint"].startswith("adjoint of: conv1d with the same w")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--output-size", "13,12"],
            r"output_size=\(13, 12\): along spatial dim 0 it is 13, but"
            r" from input size 5, .* reaches 11 to 12",
        ),
        (
            ["--output-padding", "2"],
            r"output_padding=2: along spatial dim 0 it is 2, but it must"
            r" be smaller than stride \(2\) or dilation \(1\)",
        ),
        (["--output-padding", "-1"], r"--output-padding"),
        (["--mode", "same"], r"--mode does not apply with --transpose"),
        (["--format", "markdown"], r"--format markdown does not apply with --transpose"),
    ],
)
def test_bad_transposed_arguments_exit_2_naming_the_rule(capsys, argv, message):
    base = ["explain", "--transpose", "--input", "1x4x5x5", "--kernel", "4x3x3x3", "--stride", "2"]
    assert main([*base, *argv]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_output_padding_needs_transpose(capsys):
    argv = ["explain", "--input", "1x4x5x5", "--kernel", "4x3x3x3", "--output-padding", "1"]
    assert main(argv) == 2
    assert "--output-padding and --output-size need --transpose" in capsys.readouterr().err


def test_explain_transpose_bad_input_names_the_argument():
    with pytest.raises(ValueError, match=r"padding='same': a transposed convolution takes"):
        explain_transpose((1, 1, 4), (1, 1, 2), padding="same", layout="NCW")
    with pytest.raises(ValueError, match=r"weight_shape=\(3, 1, 2\) has 3 input channels but"):
        explain_transpose((1, 2, 4), (3, 1, 2), layout="NCW")
    with pytest.raises(ValueError, match=r"groups=2 must divide C_in = 3"):
        explain_transpose((1, 3, 4), (3, 1, 2), groups=2, layout="NCW")
    with pytest.raises(ValueError, match=r"crops the transposed output along spatial dim 0"):
        explain_transpose(
            (1, 1, 1), (1, 1, 1), padding=1, dilation=3, output_padding=2, layout="NCW"
        )
    with pytest.raises(TypeError, match=r"input_shape=\(1, 2.0, 4\) must hold ints"):
        explain_transpose((1, 2.0, 4), (2, 1, 2), layout="NCW")
