"""``convgrad report``: exit codes, what it prints, the progress display, usage errors."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from convgrad.cli import main
from convgrad.commands.report import Progress
from convgrad.report.sweep import default_cases
from convgrad.schema import REPORT_SCHEMA_VERSION

from .htmltree import parse

BENCH = Path(__file__).parent / "data" / "bench.json"


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
    assert report["performance"] is None and report["meta"]["bench"] == str(out / "bench.json")
    assert f"performance: none ({out / 'bench.json'} does not exist;" in captured.out
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
        (["--seed", "1,2"], "--seed '1,2' must be one integer >= 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(["report", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bench_option_puts_the_benchmark_into_report_json_and_the_page(tmp_path, capsys):
    argv = ["report", "--out", str(tmp_path), "--case", "P0003", "--bench", str(BENCH)]
    assert main(argv) == 0
    assert f"performance: from {BENCH}" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    raw = json.loads(BENCH.read_text())
    assert report["performance"]["source"] == str(BENCH)
    assert report["performance"]["bench"]["targets"] == raw["targets"]
    assert report["performance"]["bench"]["speed"]["rows"] == raw["speed"]["rows"]
    assert report["meta"]["command"].endswith(f"--case P0003 --bench {BENCH}")
    root = parse((tmp_path / "index.html").read_text(encoding="utf-8"))
    assert len(root.by_id("perf-targets").find("tr")) == 1 + len(raw["targets"])


def test_a_bench_json_in_the_out_folder_is_read_by_default(tmp_path, capsys):
    shutil.copy(BENCH, tmp_path / "bench.json")
    assert main(["report", "--out", str(tmp_path), "--case", "P0003"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["performance"]["source"] == str(tmp_path / "bench.json")
    assert "--bench" not in report["meta"]["command"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "does not exist; python -m benchmarks.run --json"),
        ("{", "is not JSON (Expecting property name enclosed in double quotes"),
        ('{"schema_version": 7}', "schema_version=7; this convgrad reads version 1"),
        ('{"schema_version": 1}', "required key 'date' is missing"),
    ],
)
def test_a_bad_bench_file_exits_2_before_the_sweep(tmp_path, capsys, text, message):
    bench = tmp_path / "given.json"
    if text is not None:
        bench.write_text(text)
    out = tmp_path / "site"
    assert main(["report", "--out", str(out), "--bench", str(bench)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "Traceback" not in err
    assert f"convgrad report: error: bench file {str(bench)!r}" in err and message in err
    assert not out.exists()


def _make_file(path: Path, text: str) -> None:
    path.write_text(text)


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("index.html", lambda p: _make_file(p, "<p>my homepage</p>"), "is not a convgrad report"),
        (
            # The marker string in the first 4 KiB of a hand-written page made it ours.
            "index.html",
            lambda p: _make_file(p, "<html><!-- made like a convgrad-report --><p>mine</p>"),
            "is not a convgrad report",
        ),
        ("report.json", lambda p: _make_file(p, '{"mine": 1}'), "is not a convgrad report"),
        ("report.json", lambda p: _make_file(p, "convgrad-report"), "is not a convgrad report"),
        ("index.html", lambda p: p.mkdir(), "index.html' is a folder; give a file name"),
        ("report.json", lambda p: p.mkdir(), "report.json' is a folder; give a file name"),
    ],
)
def test_a_file_in_the_way_is_refused_before_the_sweep_writing_nothing(
    tmp_path, capsys, name, make, message
):
    make(tmp_path / name)
    before = {p.name: p.is_dir() or p.read_text() for p in tmp_path.iterdir()}
    assert main(["report", "--out", str(tmp_path), "--case", "P0001"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert "checked" not in captured.err  # no case was run
    assert {p.name: p.is_dir() or p.read_text() for p in tmp_path.iterdir()} == before


def test_an_out_that_is_a_file_is_refused_before_the_sweep(tmp_path, capsys):
    (tmp_path / "site").write_text("mine")
    assert main(["report", "--out", str(tmp_path / "site"), "--case", "P0001"]) == 2
    err = capsys.readouterr().err
    assert f"error: {str(tmp_path / 'site')!r} is a file, not a folder; give a folder" in err
    assert "checked" not in err
    assert (tmp_path / "site").read_text() == "mine"


def test_the_page_written_beside_report_json_names_its_digest(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--case", "P0001"]) == 0
    page = (tmp_path / "index.html").read_text()
    digest = hashlib.sha256((tmp_path / "report.json").read_bytes()).hexdigest()
    assert (
        f'<meta name="generator" content="convgrad-report {REPORT_SCHEMA_VERSION}"'
        f' data-report-json="sha256:{digest}">' in page
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "report.json"]
    assert main(["report", "--out", str(tmp_path), "--case", "P0002"]) == 0
    assert json.loads((tmp_path / "report.json").read_text())["meta"]["cases"] == ["P0002"]


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
