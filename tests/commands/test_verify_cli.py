import importlib.util
import io
import json
import sys
import textwrap

import pytest

from convgrad.cli import main
from convgrad.commands.verify import Progress

MODULE = "convgrad_cli_user_conv"
SOURCE = textwrap.dedent(
    """
    import convgrad as cg

    def _kw(spec):
        return dict(padding=spec.padding, stride=spec.stride, dilation=spec.dilation,
                    groups=spec.groups, flip=spec.flip)

    def forward(x, w, spec):
        return cg.conv(x, w, **_kw(spec))

    def backward(x, w, grad_y, spec):
        grads = cg.conv_backward(x, w, grad_y, **_kw(spec))
        return grads.input, grads.weight

    def doubled_backward(x, w, grad_y, spec):
        grads = cg.conv_backward(x, w, grad_y, **_kw(spec))
        return grads.input, 2 * grads.weight

    class Holder:
        forward = staticmethod(forward)

    NOT_CALLABLE = 3
    """
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / f"{MODULE}.py").write_text(SOURCE)
    (tmp_path / "convgrad_cli_broken.py").write_text("import convgrad_no_such_dependency\n")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in (MODULE, "convgrad_cli_broken"):
        sys.modules.pop(name, None)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])


def _run(capsys, *argv):
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_correct_implementation_exits_0_and_writes_json(user_module, capsys):
    code, out, _ = _run(
        capsys,
        f"{MODULE}:forward",
        "--backward",
        f"{MODULE}:backward",
        "--max-examples",
        "8",
        "--mode",
        "valid,same",
        "--json",
        "result.json",
    )
    assert code == 0
    assert out.startswith("convgrad.verify: all checks passed on")
    data = json.loads((user_module / "result.json").read_text())
    assert data["ok"] is True
    assert data["settings"]["padding"] == ["valid", "same"]
    assert data["settings"]["max_examples"] == 8
    assert data["settings"]["subnormals"] == "ftz" and data["settings"]["deterministic"] is False


def test_arithmetic_flags_reach_verify(user_module, capsys):
    code, _, _ = _run(
        capsys,
        f"{MODULE}:forward",
        "--max-examples",
        "3",
        "--dtype",
        "float32",
        "--subnormals",
        "ieee",
        "--precision",
        "tf32",
        "--deterministic",
        "--isolation",
        "process",
        "--json",
        "r.json",
    )
    assert code == 0
    settings = json.loads((user_module / "r.json").read_text())["settings"]
    assert settings["subnormals"] == "ieee" and settings["precision"] == "tf32"
    assert settings["deterministic"] is True and settings["isolation"] == "process"


def test_a_wrong_gradient_exits_1_with_the_minimal_case(user_module, capsys):
    code, out, _ = _run(
        capsys,
        f"{MODULE}:Holder.forward",
        "--backward",
        f"{MODULE}:doubled_backward",
        "--max-examples",
        "10",
        "--stride",
        "1",
        "--dilation",
        "1",
        "--groups",
        "1",
        "--json",
        "result.json",
    )
    assert code == 1
    assert "FAILED exact on grad_weight" in out
    assert "minimal problem: x (1, 1, 1, 1), w (1, 1, 1, 1)" in out
    assert "grad_weight is the right answer times 2" in out
    data = json.loads((user_module / "result.json").read_text())
    assert data["ok"] is False
    assert {f["output"] for f in data["failures"]} == {"grad_weight"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["convgrad_no_such_module:forward"],
            "MODULE:FORWARD 'convgrad_no_such_module:forward': no module named",
        ),
        ([f"{MODULE}:nothing"], f"'{MODULE}' has no attribute 'nothing'"),
        ([f"{MODULE}:NOT_CALLABLE"], "is a int, not callable"),
        ([MODULE], "write MODULE:FUNCTION"),
        (["convgrad_cli_broken:forward"], "importing it raised ModuleNotFoundError"),
        ([f"{MODULE}:forward", "--backward", f"{MODULE}:nope"], "--backward"),
        ([f"{MODULE}:forward", "--mode", "valid,sideways"], "'sideways' is not one of"),
        ([f"{MODULE}:forward", "--stride", "0"], "--stride '0': expected integers >= 1"),
        ([f"{MODULE}:forward", "--ndim", "4"], "--ndim '4': spatial dims must be 1, 2 or 3"),
        ([f"{MODULE}:forward", "--max-examples", "1,2"], "--max-examples '1,2' must be one"),
        ([f"{MODULE}:forward", "--seed", "-1"], "--seed '-1': expected integers >= 0"),
    ],
)
def test_usage_errors_are_one_line_exit_2(user_module, capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("convgrad verify: error: ")
    assert message in err


def test_html_report_is_written_or_needs_the_report_extra(user_module, capsys):
    if importlib.util.find_spec("convgrad.report") is not None:
        from convgrad import report

        if hasattr(report, "render_html"):
            code, _, _ = _run(
                capsys, f"{MODULE}:forward", "--max-examples", "3", "--html", "r.html"
            )
            assert code == 0
            assert (user_module / "r.html").read_text().lstrip().lower().startswith("<!doctype")
            return
    code, _, err = _run(capsys, f"{MODULE}:forward", "--html", "r.html")
    assert code == 2
    assert "--html 'r.html' needs the report extra" in err


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_is_silent_during_the_first_second():
    stream = _Stream(tty=False)
    progress = Progress(10, stream)
    progress.wrap(lambda x, w, spec: None)(1, 2, "spec")
    progress.close()
    assert stream.getvalue() == ""


def test_progress_lines_when_not_a_tty_count_problems_by_spec():
    stream = _Stream(tty=False)
    progress = Progress(4, stream, delay=0.0, interval=0.0)
    forward = progress.wrap(lambda x, w, spec: spec)
    first, second = object(), object()
    assert forward(1, 2, first) is first
    forward(1, 2, first)
    forward(1, 2, second)
    lines = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "convgrad verify: 1/4 problems",
        "convgrad verify: 1/4 problems",
        "convgrad verify: 2/4 problems",
    ]
    assert "3 calls" in lines[-1]


def test_progress_bar_on_a_tty_ends_its_line():
    stream = _Stream(tty=True)
    progress = Progress(2, stream, delay=0.0)
    progress.wrap(lambda x, w, spec: None)(1, 2, object())
    progress.close()
    text = stream.getvalue()
    assert text.startswith("\rconvgrad verify [" + "#" * 15 + "-" * 15 + "] 1/2 problems")
    assert text.endswith("\n")
