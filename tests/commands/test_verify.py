import importlib.util
import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convgrad.cli import main
from convgrad.commands.verify import Progress
from convgrad.verification.space import DEFAULT_SPACE

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

    def two_arguments(x, w):
        return x

    def three_argument_backward(grad_y, x, w):
        return x, w

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


def test_integer_dtype_accumulate_and_depthwise_reach_verify(user_module, capsys):
    # cg.conv computes integer data exactly (int64): a correct int8 -> int32 convolution.
    argv = ["--dtype", "int8", "--accumulate", "int32", "--groups", "depthwise", "--json", "r.json"]
    code, _, _ = _run(capsys, f"{MODULE}:forward", "--max-examples", "4", *argv)
    assert code == 0
    settings = json.loads((user_module / "r.json").read_text())["settings"]
    assert settings["dtype"] == "int8" and settings["accumulate"] == "int32"
    assert settings["groups"] == ["depthwise"]


def test_padding_mode_is_drawn_and_recorded(user_module, capsys):
    # The user's forward ignores padding_mode: zero padding where reflect is declared.
    argv = [f"{MODULE}:forward", "--mode", "same", "--max-examples", "10", "--json", "r.json"]
    code, out, _ = _run(capsys, *argv, "--padding-mode", "reflect")
    assert code == 1
    assert "padding_mode='zeros' puts there; the spec says padding_mode='reflect'" in out
    data = json.loads((user_module / "r.json").read_text())
    assert data["settings"]["padding_mode"] == ["reflect"]
    assert _run(capsys, *argv)[0] == 0  # the default, zeros, is what it computes


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
        ([f"{MODULE}:forward", "--padding-mode", "mirror"], "'mirror' is not one of"),
        ([f"{MODULE}:forward", "--stride", "0"], "--stride '0': expected integers >= 1"),
        ([f"{MODULE}:forward", "--ndim", "4"], "--ndim '4': spatial dims must be 1, 2 or 3"),
        ([f"{MODULE}:forward", "--max-examples", "1,2"], "--max-examples '1,2' must be one"),
        ([f"{MODULE}:forward", "--seed", "-1"], "--seed '-1': expected integers >= 0"),
        ([f"{MODULE}:forward", "--dtype", "int8"], "dtype='int8' needs accumulate="),
        ([f"{MODULE}:forward", "--groups", "1,depth"], "--groups 'depth': expected integers"),
        (
            [f"{MODULE}:two_arguments"],
            f"forward={MODULE}:two_arguments(x, w) cannot be called as forward(x, w, spec)",
        ),
        (
            [f"{MODULE}:forward", "--backward", f"{MODULE}:three_argument_backward"],
            f"backward={MODULE}:three_argument_backward(grad_y, x, w) cannot be called as"
            " backward(x, w, grad_y, spec)",
        ),
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
    progress.wrap(lambda x, w, spec: None, "mylib:forward")(1, 2, "spec")
    progress.close()
    assert stream.getvalue() == ""


def test_progress_lines_when_not_a_tty_count_problems_by_spec():
    stream = _Stream(tty=False)
    progress = Progress(4, stream, delay=0.0, interval=0.0)
    forward = progress.wrap(lambda x, w, spec: spec, "mylib:forward")
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
    progress.wrap(lambda x, w, spec: None, "mylib:forward")(1, 2, object())
    progress.close()
    text = stream.getvalue()
    assert text.startswith("\rconvgrad verify [" + "#" * 15 + "-" * 15 + "] 1/2 problems")
    assert text.endswith("\n")


def _one_error_line(err: str, command: str = "verify") -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"convgrad {command}: error: ")
    return err


def test_json_refuses_to_overwrite_a_file_it_did_not_write(user_module, capsys):
    victim = user_module / "victim.py"
    victim.write_text("print('my code')\n")
    code, out, err = _run(capsys, f"{MODULE}:forward", "--max-examples", "2", "--json", "victim.py")
    assert code == 2
    assert out == ""  # refused before the run
    assert "path='victim.py' exists and is not a convgrad report" in _one_error_line(err)
    assert victim.read_text() == "print('my code')\n"


def test_json_replaces_an_earlier_result_and_creates_missing_folders(user_module, capsys):
    argv = (f"{MODULE}:forward", "--max-examples", "2", "--mode", "valid")
    assert _run(capsys, *argv, "--json", "new/deeper/r.json")[0] == 0
    path = user_module / "new" / "deeper" / "r.json"
    first = json.loads(path.read_text())["examples"]
    path.write_text(path.read_text().replace(f'"examples": {first}', '"examples": 99'))
    assert _run(capsys, *argv, "--seed", "1", "--json", str(path))[0] == 0
    data = json.loads(path.read_text())
    assert data["examples"] == first and data["settings"]["seed"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


@pytest.mark.parametrize(
    ("flag", "make", "message"),
    [
        ("--json", lambda p: p.mkdir(), "path='out' is a folder; give a file name"),
        ("--html", lambda p: p.mkdir(), "path='out' is a folder; give a file name"),
        ("--json", lambda p: p.write_text("{}"), "path='out' exists and is not a convgrad"),
        ("--html", lambda p: p.write_text("convgrad-report"), "path='out' exists and is not"),
    ],
)
def test_an_output_in_the_way_is_one_line_exit_2_before_the_run(
    user_module, capsys, flag, make, message
):
    make(user_module / "out")
    code, out, err = _run(capsys, f"{MODULE}:forward", "--max-examples", "2", flag, "out")
    assert (code, out) == (2, "")
    assert message in _one_error_line(err)


def test_an_unwritable_json_path_is_one_line_exit_2(user_module, capsys, monkeypatch):
    # A file the earlier check could not foresee (here: the folder vanishes into a file
    # between the check and the write) is an OSError: one line naming the path, exit 2.
    from convgrad.report import atomic

    real = atomic.write_text

    def replaced_by_a_file(path, text, owned=atomic.is_report):
        (user_module / "gone").write_text("a file now")
        return real(path, text, owned)

    monkeypatch.setattr(atomic, "write_text", replaced_by_a_file)
    code, _, err = _run(capsys, f"{MODULE}:forward", "--max-examples", "2", "--json", "gone/r.json")
    assert code == 2
    assert "'gone' is not a folder" in _one_error_line(err)


@pytest.mark.parametrize("status", [0, 3, None, "bye"])
def test_a_module_calling_sys_exit_on_import_is_exit_2_not_a_pass(user_module, capsys, status):
    (user_module / "convgrad_cli_exits.py").write_text(
        f"import sys\nsys.exit({status!r})\ndef forward(x, w, spec):\n    return x\n"
    )
    try:
        code, out, err = _run(capsys, "convgrad_cli_exits:forward", "--max-examples", "2")
    finally:
        sys.modules.pop("convgrad_cli_exits", None)
    assert (code, out) == (2, "")
    message = f"'convgrad_cli_exits:forward': importing it called sys.exit({status!r})"
    assert message in _one_error_line(err)
    assert "nothing was verified" in err


def test_the_current_directory_is_on_the_path_only_while_the_module_is_imported(
    user_module, capsys
):
    # The module imports a sibling (found through the current directory) and adds a folder of
    # its own to sys.path, which stays.
    (user_module / "convgrad_cli_sibling.py").write_text("SCALE = 1\n")
    (user_module / "convgrad_cli_uses_sibling.py").write_text(
        "import sys\nimport convgrad_cli_sibling\nsys.path.append('/convgrad-vendored')\n" + SOURCE
    )
    before = list(sys.path)
    try:
        code, _, _ = _run(capsys, "convgrad_cli_uses_sibling:forward", "--max-examples", "2")
        after = list(sys.path)
    finally:
        for name in ("convgrad_cli_sibling", "convgrad_cli_uses_sibling"):
            sys.modules.pop(name, None)
        sys.path[:] = before
    assert code == 0
    assert after == [*before, "/convgrad-vendored"]


@pytest.mark.parametrize(
    "command",
    [[str(Path(sys.executable).parent / "convgrad")], [sys.executable, "-m", "convgrad"]],
    ids=["console-script", "python-m"],
)
def test_a_module_in_the_current_directory_does_not_shadow_convgrads_imports(tmp_path, command):
    # A real process: in this one jinja2 is already imported. --html imports Jinja2 lazily;
    # with the current directory left first on sys.path, this jinja2.py ran instead.
    (tmp_path / f"{MODULE}.py").write_text(SOURCE)
    (tmp_path / "jinja2.py").write_text(
        "import pathlib\npathlib.Path('SHADOWED').write_text('ran')\nraise SystemExit(0)\n"
    )
    result = subprocess.run(
        [*command, "verify", f"{MODULE}:forward", "--max-examples", "2", "--html", "r.html"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "SHADOWED").exists()
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_a_stride_beyond_every_input_verifies_a_correct_implementation(user_module, capsys):
    # The oracle's fast path used to overflow on stride 10**30 and report the correct
    # forward as failed.
    code, out, _ = _run(
        capsys,
        f"{MODULE}:forward",
        "--backward",
        f"{MODULE}:backward",
        "--stride",
        str(10**30),
        "--max-examples",
        "5",
    )
    assert code == 0, out
    # 5 drawn problems, then the fixed boundary problems of the declared space.
    passed = re.match(r"convgrad\.verify: all checks passed on (\d+) problem\(s\)", out)
    assert passed and int(passed.group(1)) >= 5, out


@pytest.mark.parametrize(
    "flags",
    [["--dilation", str(2**31)], ["--dilation", str(10**30), "--mode", "same,full,valid"]],
    ids=["2**31", "10**30-padded"],
)
def test_a_dilation_beyond_every_input_verifies_a_correct_implementation(
    user_module, capsys, flags
):
    # The probe and the fixed problems widened their inputs to the dilated kernel (numpy's
    # "array is too big", or an OverflowError traceback), and 'same' pads drew kernels whose
    # padded input the correct forward could not compute within its timeout.
    code, out, err = _run(
        capsys,
        f"{MODULE}:forward",
        "--backward",
        f"{MODULE}:backward",
        *flags,
        "--max-examples",
        "5",
    )
    assert code == 0, out + err
    assert out.startswith("convgrad.verify: all checks passed on ")


STRIDED_CONV = Path(__file__).parents[1] / "verification" / "strided_conv.py"
"""A hand-written NumPy conv supporting stride and padding only (NotImplementedError otherwise)."""

CAPABILITY_TABLE = """\
capabilities (each probed on one tiny integer problem):
  baseline: 2-D, padding='valid', stride 1, float64  supported
  padding='same'                                     supported
  padding='full'                                     supported
  padding='explicit'                                 supported
  stride 2 with a remainder                          supported
  dilation 2                                         unsupported  forward raised NotImplementedError: dilation (2, 2) is not supported
  groups 2                                           unsupported  forward raised NotImplementedError: groups=2 is not supported
  depthwise (groups 2 = C_in)                        unsupported  forward raised NotImplementedError: groups=2 is not supported
"""  # noqa: E501


@pytest.fixture
def strided_module(user_module):
    (user_module / "convgrad_cli_strided.py").write_text(STRIDED_CONV.read_text())
    yield "convgrad_cli_strided"
    sys.modules.pop("convgrad_cli_strided", None)


def test_a_conv_without_dilation_or_groups_passes_by_default(strided_module, user_module, capsys):
    code, out, _ = _run(
        capsys,
        f"{strided_module}:forward",
        "--backward",
        f"{strided_module}:backward",
        "--max-examples",
        "20",
        "--json",
        "result.json",
    )
    assert code == 0, out
    assert CAPABILITY_TABLE in out
    assert (
        "left out of the search (unsupported): dilation 2, groups 2, depthwise (groups 2 = C_in);"
        " strict=True (CLI --strict) searches them and counts them as failures"
    ) in out
    data = json.loads((user_module / "result.json").read_text())
    # The default space, defined once, is what the command ran with.
    for name in ("ndim", "padding", "stride", "dilation", "groups", "flip", "data"):
        default = DEFAULT_SPACE[name]
        assert data["settings"][name] == (list(default) if isinstance(default, tuple) else default)
    assert [row["status"] for row in data["capabilities"]].count("unsupported") == 3


def test_strict_makes_unsupported_features_failures(strided_module, capsys):
    code, out, _ = _run(
        capsys,
        f"{strided_module}:forward",
        "--backward",
        f"{strided_module}:backward",
        "--max-examples",
        "20",
        "--strict",
    )
    assert code == 1
    assert CAPABILITY_TABLE in out
    assert re.search(r"\n  forward does not support dilation > 1: \d failures? \[1[,\]]", out)
    assert "[1] FAILED unsupported on forward" in out
    # The snippet imports the functions the command was given.
    assert (
        f"    import convgrad as cg\n    from {strided_module} import forward\n"
        f"    from {strided_module} import backward\n"
    ) in out


def _readme_verify_example() -> tuple[list[str], str]:
    """The command the README's "Verify your own convolution" section opens with, and the
    output it shows."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Verify your own convolution") :]
    block = section[section.index("```text\n") + len("```text\n") :]
    block = block[: block.index("```")]
    command, _, shown = block.partition("\n")
    return command.removeprefix("$ convgrad ").split(), shown


def test_the_readme_shows_what_its_verify_command_prints_today(user_module, capsys):
    argv, shown = _readme_verify_example()
    assert argv == ["verify", "mylib:forward", "--backward", "mylib:backward"]
    (user_module / "mylib.py").write_text(STRIDED_CONV.read_text())
    sys.modules.pop("mylib", None)
    try:
        code, out, _ = _run(capsys, *argv[1:])
    finally:
        sys.modules.pop("mylib", None)
    assert code == 0
    assert out == shown
    assert shown.index(CAPABILITY_TABLE) < shown.index("left out of the search")
