"""Sharded runs: ``--shard i/n`` of ``convgrad report`` and ``convgrad audit``, and ``convgrad
merge``: the merged files equal the unsharded run's, and shards that do not make one run are
refused (exit 2, one line naming the rule)."""

from __future__ import annotations

import json
import re

import pytest

from convgrad import audit, sharding
from convgrad.cli import main
from convgrad.report import atomic
from convgrad.report.audit_page import render_audit

from .htmltree import parse
from .pairs import pair_consistent
from .test_audit import _columns

CASES = ["--case", "P0005", "--case", "P0007"]
"""Two small 1-D ``same`` cases of the quick sweep (float32, float64)."""


# ------------------------------------------------------------------------------- the module


@pytest.mark.parametrize(("text", "shard"), [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3 / 3 ", (3, 3))])
def test_parse_shard_reads_i_of_n(text, shard):
    assert sharding.parse_shard(text) == shard
    assert str(sharding.parse_shard(text)) == f"{shard[0]}/{shard[1]}"


@pytest.mark.parametrize("text", ["3/2", "0/2", "a/b", "1/0", "1", "-1/2", "1/2/3", ""])
def test_parse_shard_refuses_anything_but_i_of_n_with_i_at_most_n(text):
    with pytest.raises(ValueError, match=r"write i/n with 1 <= i <= n"):
        sharding.parse_shard(text)


def test_check_shard_takes_pairs_and_text_and_names_bad_types():
    assert sharding.check_shard((2, 3)) == sharding.check_shard("2/3") == (2, 3)
    with pytest.raises(ValueError, match=r"shard='4/3'"):
        sharding.check_shard((4, 3))
    with pytest.raises(TypeError, match=r"shard=\[1, 2\] must be an \(index, count\) pair"):
        sharding.check_shard([1, 2])
    with pytest.raises(TypeError, match="must be an"):
        sharding.check_shard((True, 2))


def test_take_is_a_round_robin_that_covers_every_item_once():
    items = list(range(7))
    parts = [sharding.take(items, sharding.Shard(i, 3)) for i in (1, 2, 3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(i for part in parts for i in part) == items
    with pytest.raises(ValueError, match="shard 3/3 selects nothing: the run has 2 item"):
        sharding.take([0, 1], sharding.Shard(3, 3))


def _meta(index, count, seed=0):
    return {"shard": {"index": index, "count": count}, "seed": seed, "date": str(index)}


@pytest.mark.parametrize(
    ("shards", "message"),
    [
        ([("a", _meta(1, 2))], r"shard\(s\) 2/2 missing \(given: 1/2\); merge needs all 2"),
        ([("a", _meta(1, 2)), ("b", _meta(1, 2))], r"shard 1/2 is given twice \('a' and 'b'\)"),
        ([("a", _meta(1, 2)), ("b", _meta(2, 3))], "shards of different counts"),
        (
            [("a", _meta(1, 2)), ("b", _meta(2, 2, seed=1))],
            r"shards disagree on seed: 0 in 'a', 1 in 'b'",
        ),
        ([("a", {"seed": 0})], r"'a' was not written with --shard i/n"),
        ([], "at least one shard"),
    ],
)
def test_check_complete_names_the_rule_broken(shards, message):
    with pytest.raises(ValueError, match=message):
        sharding.check_complete(shards, ["seed"])


def test_check_complete_accepts_the_whole_set_in_any_order():
    assert sharding.check_complete([("b", _meta(2, 2)), ("a", _meta(1, 2))], ["seed"]) == 2


# ------------------------------------------------------------------------------- report


def _page_without_times(folder) -> str:
    """``folder``'s page without what differs between two runs of the same report: the date,
    the run time, report.json's digest and matplotlib's SVG timestamps."""
    page = (folder / "index.html").read_text()
    meta = json.loads((folder / "report.json").read_text())["meta"]
    page = page.replace(meta["date"], "DATE")
    page = page.replace(atomic.sha256_text((folder / "report.json").read_text()), "DIGEST")
    page = re.sub(r"(run time \(s\)</th><td class=\"mono\">)[^<]*", r"\1TIME", page)
    return re.sub(r"<dc:date>[^<]*</dc:date>", "<dc:date/>", page)


@pytest.mark.slow
def test_report_shards_merge_into_the_unsharded_report(tmp_path, capsys):
    whole, merged = tmp_path / "whole", tmp_path / "merged"
    assert main(["report", "--out", str(whole), *CASES]) == 0
    for i in (1, 2):
        argv = ["report", "--out", str(tmp_path / f"s{i}"), *CASES, "--shard", f"{i}/2"]
        assert main(argv) == 0
    shard2 = json.loads((tmp_path / "s2" / "report.json").read_text())
    assert [p["id"] for p in shard2["problems"]] == ["P0007"]
    assert shard2["meta"]["shard"] == {"index": 2, "count": 2}
    assert shard2["meta"]["command"].endswith("--shard 2/2")
    capsys.readouterr()
    assert main(["merge", str(merged), str(tmp_path / "s2"), str(tmp_path / "s1")]) == 0
    expected = json.loads((whole / "report.json").read_text())
    checks = expected["summary"]["checks"]
    assert f"{checks} checks on 2 problems, all passed" in capsys.readouterr().out
    found = json.loads((merged / "report.json").read_text())
    assert "shard" not in found["meta"]
    # What differs from the unsharded run: when it ran, and the folder it names.
    for key in ("date", "seconds"):
        expected["meta"][key] = found["meta"][key]
    for key in ("command", "bench"):
        expected["meta"][key] = expected["meta"][key].replace(str(whole), str(merged))
    assert found == expected
    assert list(found["meta"]) == list(expected["meta"])
    page = _page_without_times(merged).replace(str(merged), str(whole))
    assert page == _page_without_times(whole)
    assert pair_consistent(merged, "index.html", "report.json")


def test_report_shard_of_more_shards_than_cases_exits_2(tmp_path, capsys):
    argv = ["report", "--out", str(tmp_path), "--case", "P0003", "--shard", "2/2"]
    assert main(argv) == 2
    assert "shard 2/2 selects nothing: the run has 1 item(s)" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["3/2", "0/2", "a/b"])
@pytest.mark.parametrize("command", ["report", "audit"])
def test_bad_shard_exits_2_with_the_rule(command, text, tmp_path, capsys):
    assert main([command, "--out", str(tmp_path), "--shard", text]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"convgrad {command}: error: --shard {text!r}: write i/n with 1 <= i <= n (shard i of"
        " n), e.g. 1/4\n"
    )
    assert list(tmp_path.iterdir()) == []


def _variant(tmp_path, source: dict, name: str, change) -> str:
    """A copy of the shard ``source`` changed by ``change(data)``, written to ``name``."""
    data = json.loads(json.dumps(source))
    change(data)
    (tmp_path / name).write_text(json.dumps(data))
    return str(tmp_path / name)


def _other_half(data: dict, **meta) -> None:
    data["meta"]["shard"]["index"] = 2
    data["problems"], data["records"] = [], []
    data["meta"].update(meta)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _other_half(d, seed=7), "shards disagree on seed: 0 in"),
        (lambda d: _other_half(d, numpy="0.1"), "shards disagree on numpy: "),
        (lambda d: _other_half(d, profile="thorough"), "shards disagree on profile: 'quick' in"),
        (lambda d: _other_half(d, cases=["P0004"]), "shards disagree on cases: ['P0003'] in"),
        (lambda d: d["meta"]["shard"].update(count=3), "shards of different counts"),
        (lambda d: None, "shard 1/2 is given twice"),
        (lambda d: d["meta"].pop("shard"), "was not written with --shard i/n; merge takes shards"),
        (lambda d: d.update(schema_version=1), "has schema_version=1; this convgrad merges"),
        (lambda d: d.update(kind="verify"), "is a 'verify' report; merge takes the shards"),
        (lambda d: d["meta"]["shard"].update(index=2), "case P0003 is in two shards"),
    ],
    ids=[
        "seed",
        "version",
        "profile",
        "cases",
        "count",
        "twice",
        "unsharded",
        "schema",
        "kind",
        "overlap",
    ],
)
def test_merge_refuses_shards_that_are_not_one_run(shard_a, tmp_path, capsys, change, message):
    folder, data = shard_a
    other = _variant(tmp_path, data, "b.json", change)
    out = tmp_path / "merged"
    assert main(["merge", str(out), str(folder), other]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("convgrad merge: error:")
    assert not out.exists()


def test_merge_refuses_a_missing_shard(shard_a, tmp_path, capsys):
    folder, _ = shard_a
    assert main(["merge", str(tmp_path / "m"), str(folder)]) == 2
    assert "shard(s) 2/2 missing (given: 1/2); merge needs all 2" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "m"), str(folder), str(tmp_path / "nowhere")]) == 2
    assert "nowhere' does not exist" in capsys.readouterr().err


@pytest.fixture(scope="module")
def shard_a(tmp_path_factory):
    """Shard 1/2 of the report of case P0003 (its folder, its report.json)."""
    folder = tmp_path_factory.mktemp("shard") / "a"
    assert main(["report", "--out", str(folder), "--case", "P0003", "--shard", "1/2"]) == 0
    return folder, json.loads((folder / "report.json").read_text())


def test_merge_refuses_a_foreign_file_and_mixed_kinds(tmp_path, capsys):
    (tmp_path / "x.json").write_text('{"a": 1}')
    assert main(["merge", str(tmp_path / "m"), str(tmp_path / "x.json")]) == 2
    assert "is neither a convgrad report.json nor an audit.json" in capsys.readouterr().err
    (tmp_path / "y.json").write_text("not json")
    assert main(["merge", str(tmp_path / "m"), str(tmp_path / "y.json")]) == 2
    assert "is not JSON" in capsys.readouterr().err
    (tmp_path / "r.json").write_text(json.dumps({"schema": "convgrad-report", "kind": "sweep"}))
    (tmp_path / "a.json").write_text(json.dumps({"schema": audit.SCHEMA}))
    assert main(["merge", str(tmp_path / "m"), str(tmp_path / "r.json"), str(tmp_path / "a.json")])
    assert "a report shard and" in capsys.readouterr().err


def test_merge_never_overwrites_a_foreign_file(shard_a, tmp_path, capsys):
    folder, data = shard_a
    other = _variant(tmp_path, data, "b.json", _other_half)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("precious")
    assert main(["merge", str(out), str(folder), other]) == 2
    assert "is not a convgrad report; refusing to overwrite it" in capsys.readouterr().err
    assert (out / "report.json").read_text() == "precious"


# -------------------------------------------------------------------------------- audit


@pytest.mark.slow
def test_audit_shards_merge_into_the_unsharded_audit(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(audit, "configurations", _columns)
    base = ["--features", "valid,stride,depthwise", "--max-examples", "2"]
    assert main(["audit", "--out", str(tmp_path / "whole"), *base]) == 1
    for i in (1, 2, 3):
        argv = ["audit", "--out", str(tmp_path / f"s{i}"), *base, "--shard", f"{i}/3"]
        main(argv)
    shard2 = json.loads((tmp_path / "s2" / "audit.json").read_text())
    # Cells (good, bad) x (valid, stride, depthwise) in order; shard 2 takes cells 1 and 4.
    assert [(c["configuration"], c["feature"]) for c in shard2["cells"]] == [
        ("good", "stride"),
        ("bad", "stride"),
    ]
    page2 = parse((tmp_path / "s2" / audit.HTML_NAME).read_text())
    statuses = [td.attrs["data-status"] for td in page2.by_id("matrix").find("td")]
    assert statuses.count("other-shard") == 4 and statuses.count("pass") == 1
    assert "Shard 2 of 3" in page2.by_id("shard-note").text
    capsys.readouterr()
    folders = [str(tmp_path / f"s{i}") for i in (3, 1, 2)]
    assert main(["merge", str(tmp_path / "merged"), *folders]) == 1
    assert "4 pass, 1 fail, 1 unsupported" in capsys.readouterr().out
    whole = json.loads((tmp_path / "whole" / "audit.json").read_text())
    merged = json.loads((tmp_path / "merged" / "audit.json").read_text())
    assert merged["meta"]["command"] == whole["meta"]["command"] == "convgrad audit"
    for key in ("date", "seconds"):
        whole["meta"][key] = merged["meta"][key]
    assert merged == whole
    assert list(merged) == list(whole)
    page = (tmp_path / "merged" / "audit.html").read_text()
    assert page == render_audit({k: v for k, v in whole.items() if k != "generator"})
    # A shard of another seed is refused.
    main(["audit", "--out", str(tmp_path / "other"), *base, "--seed", "1", "--shard", "3/3"])
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "m2"), *folders[1:], str(tmp_path / "other")]) == 2
    assert "shards disagree on seed: 0 in" in capsys.readouterr().err


def test_merge_audits_refuses_a_cell_in_two_shards():
    shard = {
        "schema": audit.SCHEMA,
        "schema_version": audit.SCHEMA_VERSION,
        "meta": {"seed": 0, "shard": {"index": 1, "count": 2}},
        "features": [{"id": "valid"}],
        "configurations": [{"id": "c"}],
        "cells": [{"configuration": "c", "feature": "valid", "status": "pass"}],
        "findings": [],
    }
    other = json.loads(json.dumps(shard))
    other["meta"]["shard"]["index"] = 2
    with pytest.raises(ValueError, match=r"cell c x valid is in two shards \('a' and 'b'\)"):
        audit.merge_audits([("a", shard), ("b", other)])


def test_merged_meta_takes_the_latest_date_the_summed_seconds_and_every_platform():
    metas = [
        {"seed": 0, "date": "2026-01-02", "seconds": 1.25, "platform": "A", "shard": {}},
        {"seed": 0, "date": "2026-01-03", "seconds": 2.5, "platform": "B", "shard": {}},
        {"seed": 0, "date": "2026-01-01", "seconds": 0.5, "platform": "A", "shard": {}},
    ]
    assert sharding.merged_meta(metas) == {
        "seed": 0,
        "date": "2026-01-03",
        "seconds": 4.25,
        "platform": "A | B",
    }
    assert sharding.merged_meta(metas[:1])["platform"] == "A"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: (_other_half(d), d.pop("meta")),
        lambda d: (_other_half(d), d.update(meta=None)),
        lambda d: (_other_half(d), d.pop("records")),
        lambda d: (_other_half(d), d.update(problems=5)),
        lambda d: (_other_half(d), d.update(problems=[5])),
    ],
    ids=["no-meta", "meta-null", "no-records", "problems-int", "problems-of-ints"],
)
def test_merge_of_a_malformed_shard_is_one_line_exit_2(shard_a, tmp_path, capsys, change):
    folder, data = shard_a
    other = _variant(tmp_path, data, "b.json", change)
    out = tmp_path / "merged"
    assert main(["merge", str(out), str(folder), other]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convgrad merge: error: ") and err.count("\n") == 1, err
    assert not out.exists()


def test_merge_of_json_nested_beyond_the_parser_is_one_line_exit_2(tmp_path, capsys):
    # json.loads raised RecursionError, a traceback and exit 1.
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["merge", str(tmp_path / "m"), str(tmp_path / "deep.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convgrad merge: error: shard ") and "is not JSON" in err
    assert err.count("\n") == 1 and not (tmp_path / "m").exists()
