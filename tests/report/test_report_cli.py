"""``convgrad report``: exit codes, what it prints, the progress display, usage errors."""

from __future__ import annotations

import io
import json

import pytest

from convgrad.cli import main
from convgrad.commands.report import Progress
from convgrad.report.sweep import default_cases


def test_report_command_writes_the_page_and_json(tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["report", "--out", str(out), "--ndim", "1", "--dtype", "integer"]) == 0
    captured = capsys.readouterr()
    assert f"page: {out / 'index.html'}" in captured.out and "all passed" in captured.out
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] and {p["ndim"] for p in report["problems"]} == {1}
    assert {p["data"] for p in report["problems"]} == {"integer"}
    assert report["meta"]["command"] == (
        f"convgrad report --out {out} --profile quick --ndim 1 --dtype integer --seed 0"
    )
    # Not a terminal: one line per stage and per quarter of the cases, no carriage returns.
    assert "\r" not in captured.err
    assert "convgrad report: profile quick, seed 0: building the sweep" in captured.err
    assert captured.err.count("convgrad report: checked") == 5


def test_report_command_reruns_one_case(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--case", "P0003", "--seed", "2"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert [p["id"] for p in report["problems"]] == ["P0003"]
    assert report["meta"]["seed"] == 2 and report["meta"]["command"].endswith("--case P0003")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ndim", "4"], "ndim=(4,)"),
        (["--ndim", "x"], "--ndim 'x': expected integers >= 1"),
        (["--dtype", "float16"], "'float16' is not one of float64, float32, integer"),
        (["--case", "P9999"], "case 'P9999' is not in this profile's sweep"),
        (["--seed", "-1"], "--seed '-1': expected integers >= 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(["report", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_refuses_to_overwrite_a_foreign_index_html(tmp_path, capsys):
    (tmp_path / "index.html").write_text("<p>my homepage</p>")
    argv = ["report", "--out", str(tmp_path), "--case", "P0001"]
    assert main(argv) == 2
    assert "is not a convgrad report; refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / "index.html").read_text() == "<p>my homepage</p>"


def test_progress_bar_on_a_terminal_is_one_rewritten_line():
    stream = io.StringIO()
    progress = Progress(stream, tty=True)
    cases = default_cases("quick")[:4]
    for done, case in enumerate(cases):
        progress(done, len(cases), case)
    progress(len(cases), len(cases), cases[-1])
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 5
    assert "[###############...............] 2/4 P0002 (1-D valid)" in text
    assert "[" + "#" * 30 + "] 4/4 done" in text
