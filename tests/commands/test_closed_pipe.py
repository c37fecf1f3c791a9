"""A reader that goes away (``convgrad ... | head -1``) and Ctrl-C: the command stops quietly with
its own exit code (141, 130), never 1, which means a check failed, and never a traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import pytest

from convgrad.cli import CLOSED_PIPE, INTERRUPTED, main
from convgrad.commands import explain
from convgrad.commands.verify import Progress

MODULE = "convgrad_pipe_user_conv"
SOURCE = """
    import convgrad as cg

    def forward(x, w, spec):
        return cg.conv(x, w, padding=spec.padding, stride=spec.stride,
                       dilation=spec.dilation, groups=spec.groups, flip=spec.flip)
    """


def _into_a_closed_pipe(argv: list[str], cwd) -> subprocess.CompletedProcess:
    """Run ``python -m convgrad *argv`` with stdout a pipe whose read end is already closed:
    its first write to stdout fails, as after ``| head`` has exited."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "convgrad", *argv],
            cwd=cwd,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(write_end)


def test_explain_into_a_closed_pipe_exits_141_without_a_traceback(tmp_path):
    result = _into_a_closed_pipe(["explain", "--input", "1x3x8x8", "--kernel", "4x3x3x3"], tmp_path)
    assert result.returncode == CLOSED_PIPE == 141
    assert result.stderr == ""


def test_verify_into_a_closed_pipe_exits_141_and_still_writes_its_json(tmp_path):
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE))
    argv = ["verify", f"{MODULE}:forward", "--max-examples", "2", "--json", "r.json"]
    result = _into_a_closed_pipe(argv, tmp_path)
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr and "error" not in result.stderr
    assert '"ok": true' in (tmp_path / "r.json").read_text()


def test_progress_into_a_closed_stream_stops_instead_of_failing_the_users_call():
    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    progress = Progress(4, Closed(), delay=0.0, interval=0.0)
    calls = []
    counted = progress.wrap(lambda *args: calls.append(args) or 7, "m:f")
    # The tick runs inside the user's call: an exception there would count as the function's.
    assert counted(1, 2, "spec-a") == 7 and counted(1, 2, "spec-b") == 7
    assert len(calls) == 2 and progress.stream is None
    progress.close()


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(explain, "run", interrupted)
    assert main(["explain", "--input", "1x3x8x8", "--kernel", "4x3x3x3"]) == INTERRUPTED == 130
    assert capsys.readouterr().err == "convgrad explain: interrupted\n"
    with pytest.raises(KeyboardInterrupt):
        main(["--debug", "explain", "--input", "1x3x8x8", "--kernel", "4x3x3x3"])
