"""convgrad.audit and ``convgrad audit``: the matrix of verify over framework configurations,
its findings, its page (parsed strictly) and JSON, and the exit codes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from convgrad import audit, cli
from convgrad.adapters.torch import from_torch, torch_conv
from convgrad.report import atomic

from .htmltree import parse

FEATURES = ("valid", "stride", "depthwise")


def _no_stride(x, w, spec):
    """A planted bug: the stride is ignored."""
    return torch_conv(x, w, dataclasses.replace(spec, stride=(1,) * spec.ndim))


def _columns(frameworks=audit.FRAMEWORKS):
    good = audit.Configuration(
        "good",
        "torch",
        "torch correct",
        "float64",
        lambda: from_torch(torch_conv),
        lambda: {"torch": "x"},
    )
    bad = audit.Configuration(
        "bad",
        "torch",
        "torch without stride",
        "float64",
        lambda: from_torch(_no_stride),
        lambda: {"torch": "y"},
        unsupported={"depthwise": "not offered"},
    )
    return [good, bad], {"jax": "not installed (test)"}


@pytest.fixture
def planted(monkeypatch):
    monkeypatch.setattr(audit, "configurations", _columns)


def test_run_audit_finds_the_planted_stride_bug_and_nothing_else(planted):
    report = audit.run_audit(features=FEATURES, max_examples=3)
    status = {(c["feature"], c["configuration"]): c["status"] for c in report["cells"]}
    assert status == {
        ("valid", "good"): "pass",
        ("stride", "good"): "pass",
        ("depthwise", "good"): "pass",
        ("valid", "bad"): "pass",
        ("stride", "bad"): "fail",
        ("depthwise", "bad"): "unsupported",
    }
    assert report["summary"] == {"pass": 4, "fail": 1, "unsupported": 1}
    assert not report["ok"] and report["findings"]
    assert {(f["configuration"], f["feature"]) for f in report["findings"]} == {("bad", "stride")}
    first = report["findings"][0]["text"]
    assert first.startswith("torch without stride (torch y) fails the")
    assert "for stride 2-3 with remainder" in first
    failing = next(c for c in report["cells"] if c["status"] == "fail")
    assert "cg.verify(forward, backward, problems=[problem])" in failing["failures"][0]["reproduce"]
    passing = next(c for c in report["cells"] if c["configuration"] == "good")
    assert 0 <= passing["worst_ratio"] <= 1 and passing["examples"] >= 2
    assert report["meta"]["skipped"] == {"jax": "not installed (test)"}
    json.dumps(report, allow_nan=False)


def test_cli_writes_a_page_with_the_matrix_and_exits_1_on_a_finding(planted, tmp_path, capsys):
    code = cli.main(
        ["audit", "--out", str(tmp_path), "--features", ",".join(FEATURES), "--max-examples", "3"]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert (
        "convgrad audit: 4 pass, 1 fail, 1 unsupported" in out
        and "finding: torch without stride" in out
    )
    assert "convgrad audit: 6/6 bad x depthwise: unsupported" in err
    page = parse((tmp_path / audit.HTML_NAME).read_text())
    matrix = page.by_id("matrix")
    header = [th.text for th in matrix.find("thead")[0].find("th")]
    assert header == ["feature", "torch correct", "torch without stride"]
    rows = matrix.find("tbody")[0].find("tr")
    assert [r.find("th")[0].text for r in rows] == [
        "padding valid",
        "stride 2-3 with remainder",
        "depthwise (groups = C_in, multiplier 1 and 2)",
    ]
    statuses = [[td.attrs["data-status"] for td in r.find("td")] for r in rows]
    assert statuses == [["pass", "pass"], ["pass", "fail"], ["pass", "unsupported"]]
    link = rows[1].find("td")[1].find("a")[0].attrs["href"]
    assert page.by_id(link[1:]).find("details")
    assert "torch without stride" in page.by_id("finding-list").text
    assert "not offered" in page.by_id("unsupported").text
    saved = json.loads((tmp_path / audit.JSON_NAME).read_text())
    assert saved["schema"] == audit.SCHEMA and saved["summary"]["fail"] == 1


def test_cli_exits_0_when_every_cell_passes_or_is_unsupported(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(audit, "configurations", lambda frameworks: (_columns()[0][:1], {}))
    assert (
        cli.main(["audit", "--out", str(tmp_path), "--features", "valid", "--max-examples", "2"])
        == 0
    )
    assert "1 pass, 0 fail, 0 unsupported" in capsys.readouterr().out
    assert parse((tmp_path / audit.HTML_NAME).read_text()).by_id("finding-list").text == (
        "No disagreement with the oracle."
    )


def test_a_second_audit_replaces_the_first_ones_files(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(audit, "configurations", lambda frameworks: (_columns()[0][:1], {}))
    argv = ["audit", "--out", str(tmp_path), "--features", "valid", "--max-examples", "2"]
    assert cli.main(argv) == 0
    (tmp_path / audit.JSON_NAME).write_text(
        (tmp_path / audit.JSON_NAME).read_text().replace('"seed": 0', '"seed": 99')
    )
    assert cli.main([*argv, "--seed", "1"]) == 0
    assert '"seed": 99' not in (tmp_path / audit.JSON_NAME).read_text()
    page = (tmp_path / audit.HTML_NAME).read_text()
    assert '<meta name="generator" content="convgrad-report 1">' in page


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--frameworks", "mxnet"], "--frameworks 'mxnet': 'mxnet' is not one of"),
        (["--features", "winograd"], "--features 'winograd': 'winograd' is not one of"),
        (["--max-examples", "0"], "--max-examples '0': expected integers >= 1"),
    ],
)
def test_cli_usage_errors_exit_2(argv, message, tmp_path, capsys):
    assert cli.main(["audit", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_to_overwrite_a_foreign_file_exit_2(planted, tmp_path, capsys):
    (tmp_path / audit.JSON_NAME).write_text("precious")
    assert (
        cli.main(["audit", "--out", str(tmp_path), "--features", "valid", "--max-examples", "1"])
        == 2
    )
    assert "is not a convgrad report; refusing to overwrite it" in capsys.readouterr().err
    assert (tmp_path / audit.JSON_NAME).read_text() == "precious"


def test_run_audit_bad_arguments():
    with pytest.raises(ValueError, match=r"features=\['x'\]: 'x' is not one of"):
        audit.run_audit(features=["x"])
    with pytest.raises(ValueError, match="max_examples=0 must be an int >= 1"):
        audit.run_audit(max_examples=0)
    with pytest.raises(ValueError, match="seed=-1 must be an int >= 0"):
        audit.run_audit(seed=-1)
    with pytest.raises(ValueError, match="'mxnet' is not one of"):
        audit.configurations(["mxnet"])


def test_real_configurations_cover_every_installed_framework():
    columns, skipped = audit.configurations()
    frameworks = {c.framework for c in columns} | set(skipped)
    assert frameworks == set(audit.FRAMEWORKS)
    assert {"torch-f64", "torch-f32-cl", "torch-T-f32"} <= {c.id for c in columns}
    assert len({c.id for c in columns}) == len(columns)


@pytest.mark.parametrize("name", [audit.HTML_NAME, audit.JSON_NAME])
def test_a_file_in_the_way_is_refused_before_the_audit_runs_writing_nothing(
    monkeypatch, tmp_path, capsys, name
):
    # The audit used to run for minutes, write audit.json, then refuse a foreign audit.html.
    ran = []
    monkeypatch.setattr(audit, "run_audit", lambda **kwargs: ran.append(kwargs))
    (tmp_path / name).write_text("precious")
    assert cli.main(["audit", "--out", str(tmp_path), "--features", "valid"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convgrad audit: error: path=") and err.count("\n") == 1
    assert "is not a convgrad report; refusing to overwrite it" in err
    assert ran == [] and [p.name for p in tmp_path.iterdir()] == [name]


def test_audit_files_are_written_as_one_pair(monkeypatch, tmp_path):
    monkeypatch.setattr(audit, "configurations", lambda frameworks: (_columns()[0][:1], {}))
    written = []
    real = atomic.write_pair
    monkeypatch.setattr(atomic, "write_pair", lambda *a: written.append(a[1]) or real(*a))
    assert cli.main(["audit", "--out", str(tmp_path), "--features", "valid"]) == 0
    assert [sorted(texts) for texts in written] == [sorted([audit.HTML_NAME, audit.JSON_NAME])]


def test_cli_max_examples_is_one_integer(monkeypatch, tmp_path, capsys):
    # "1,2" used to run the audit with 1.
    monkeypatch.setattr(audit, "run_audit", lambda **kwargs: pytest.fail("the audit ran"))
    assert cli.main(["audit", "--out", str(tmp_path), "--max-examples", "1,2"]) == 2
    assert "--max-examples '1,2' must be one integer >= 1" in capsys.readouterr().err
