import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from convgrad.cli import main

EXAMPLE = ["explain", "--input", "128x128x3", "--kernel", "3x3x3x32", "--layout", "HWC"]


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_verbatim_example_through_the_console_script():
    script = Path(sys.executable).with_name("convgrad")
    done = subprocess.run(
        [str(script), *EXAMPLE, "--mode", "valid"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    for needed in ("126x126x32", "3x3x3x32", "128x128x3", "valid", "full"):
        assert needed in done.stdout
    assert "grad_weight = I + lo + hi - O + 1 = 128 + 0 + 0 - 126 + 1 = 3 = K" in done.stdout
    assert "\033[" not in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 100


def test_strided_padded_grouped_1d_without_batch(capsys):
    code, out, _ = _run(
        capsys,
        "explain",
        "--input",
        "4x9",
        "--kernel",
        "6x2x3",
        "--padding",
        "1:2",
        "--stride",
        "2",
        "--groups",
        "2",
    )
    assert code == 0
    assert "1-D convolution, layout CW (kernel OIW)" in out
    assert "forward      y = 6x5  (C_out=6, W_out=5)" in out
    assert "W: O = floor((I + lo + hi - K) / s) + 1 = floor((9 + 1 + 2 - 3) / 2) + 1 = 5" in out


def test_3d_channels_last_with_per_dim_stride_and_dilation(capsys):
    code, out, _ = _run(
        capsys,
        "explain",
        "--input",
        "2x7x9x6x4",
        "--kernel",
        "3x2x3x4x8",
        "--layout",
        "NDHWC",
        "--stride",
        "2,1,3",
        "--dilation",
        "1,2,1",
        "--mode",
        "same",
    )
    assert code == 0
    assert "layout NDHWC (kernel DHWIO)" in out
    assert "y = 2x4x9x2x8" in out


def test_depthwise_groups_are_c_in_with_the_channel_order(capsys):
    argv = ["explain", "--input", "1x2x5x5", "--kernel", "6x1x3x3", "--groups", "depthwise"]
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    assert "Depthwise: groups = C_in = 2, multiplier C_out/C_in = 3" in out
    assert "output channel c * 3 + m" in out
    code, out, err = _run(capsys, *argv[:4], "5x1x3x3", "--groups", "depthwise")
    assert code == 2 and out == ""
    assert "C_in = 2, w has C_out = 5 (not a multiple of C_in)" in err


def test_json_is_the_explanation_dict_with_diagnoses(capsys):
    code, out, _ = _run(capsys, *EXAMPLE, "--format", "json", "--diagnose-weight-grad", "128x128")
    assert code == 0
    data = json.loads(out)
    assert data["layout"] == "HWC"
    assert [o["shape"] for o in data["outputs"]] == [
        [126, 126, 32],
        [128, 128, 3],
        [3, 3, 3, 32],
        [32],
    ]
    (diagnosis,) = data["diagnoses"]
    assert diagnosis["observed"] == [128, 128]
    assert diagnosis["matches"][0]["operation"] == "same correlation of x with grad_y"


def test_markdown_format(capsys):
    code, out, _ = _run(
        capsys, *EXAMPLE, "--format", "markdown", "--diagnose-input-grad", "124x124"
    )
    assert code == 0
    assert out.startswith("## 2-D convolution, layout HWC (kernel HWIO)")
    assert "### diagnosis of grad_input" in out
    assert "valid correlation of grad_y with the rotated kernel -> `124x124`" in out


def test_text_diagnosis_follows_the_derivation(capsys):
    code, out, _ = _run(capsys, *EXAMPLE, "--diagnose-weight-grad", "128x128")
    assert code == 0
    tail = out.split("grad_weight: spatial shape 128x128, expected 3x3.")[1]
    assert "same correlation of x with grad_y -> 128x128" in tail
    assert "change: correlate in 'valid' mode, not 'same'" in tail


def test_colour_only_on_a_tty(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, out, _ = _run(capsys, *EXAMPLE)
    assert "\033[1m" in out
    monkeypatch.setenv("NO_COLOR", "1")
    _, out, _ = _run(capsys, *EXAMPLE)
    assert "\033[" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--input", "128x128", "--kernel", "3x3x3x32", "--layout", "HWC"],
            "--input 128x128 has 2 dims but --layout HWC has 3 (H, W, C)",
        ),
        (
            ["--input", "128x128x3", "--kernel", "3x3x-1"],
            "--kernel '3x3x-1': every size must be an integer >= 1, got '-1'",
        ),
        (
            ["--input", "128x128x3", "--kernel", "3x3x3x32", "--layout", "HWCN"],
            "--layout 'HWCN' is not one of NCW, NWC",
        ),
        (
            ["--input", "128x128x3", "--kernel", "3x3x32", "--layout", "HWC"],
            "--kernel 3x3x32 has 3 dims but --layout HWC takes a HWIO kernel with 4 (H, W, I, O)",
        ),
        (["--input", "128x128x3", "--kernel", "3x3"], "--kernel 3x3 has 2 dims"),
        (["--input", "3", "--kernel", "3x3x3x32"], "--input 3 has 1 dims; a 4-dim kernel needs 3"),
        (
            ["--input", "128x128x3", "--kernel", "3x3x3x32"],
            "channels last? with --layout HWC these shapes fit",
        ),
        ([*EXAMPLE[1:], "--stride", "0"], "--stride '0': expected integers >= 1"),
        ([*EXAMPLE[1:], "--groups", "1,2"], "--groups '1,2' must be one integer >= 1"),
        ([*EXAMPLE[1:], "--padding", "1:x"], "--padding '1:x': write lo:hi pairs >= 0"),
        ([*EXAMPLE[1:], "--stride", "1,2,3"], "stride=(1, 2, 3) has 3 entries"),
        ([*EXAMPLE[1:], "--diagnose-weight-grad", "3x3x3"], "observed=(3, 3, 3) has 3 dims"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    code, out, err = _run(capsys, "explain", *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("convgrad explain: error: ")
    assert message in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback():
    with pytest.raises(Exception, match=re.escape("--kernel '3x3x-1'")):
        main(["--debug", "explain", "--input", "128x128x3", "--kernel", "3x3x-1"])
