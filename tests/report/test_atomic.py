"""Atomic writing: whole files or none, never over a file convgrad did not write, and a report
folder's page and report.json replaced as one pair."""

from __future__ import annotations

import json
import os

import pytest

from convgrad.report import atomic

from .pairs import pair_consistent

HEAD = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'


def _page(text: str, digest: str | None = None) -> str:
    return f"{HEAD}{atomic.generator_tag(1, digest)}\n<title>t</title>\n</head>\n<p>{text}</p>\n"


OWNERS = {"report.json": atomic.is_result_json, "index.html": atomic.is_page}


def test_writes_creates_folders_and_overwrites_its_own_pages(tmp_path):
    path = tmp_path / "a" / "b" / "index.html"
    atomic.write_text(path, _page("one"))
    atomic.write_text(path, _page("two"), atomic.is_page)
    assert path.read_text() == _page("two")
    assert [p.name for p in path.parent.iterdir()] == ["index.html"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_refuses_to_overwrite_a_file_that_is_not_a_report(tmp_path):
    path = tmp_path / "notes.html"
    path.write_text("<p>my own page</p>")
    with pytest.raises(FileExistsError, match=r"notes\.html. exists and is not a convgrad report"):
        atomic.write_text(path, _page("new"))
    assert path.read_text() == "<p>my own page</p>"


@pytest.mark.parametrize(
    "text",
    [
        # The marker string alone, early in a hand-written page, no longer makes it ours.
        "<html><head><title>convgrad-report notes</title></head></html>",
        '<meta name="generator" content="convgrad-report 1">\n<p>mine</p>',
        HEAD + '<meta name="generator" content="convgrad-report">\n</head>',
        HEAD + "</head>\n" + atomic.generator_tag(1) + "\n",
        HEAD + '<meta name="generator" content="convgrad-report 1"> <!-- mine -->\n</head>',
    ],
)
def test_a_hand_written_page_holding_the_marker_is_not_overwritten(tmp_path, text):
    path = tmp_path / "index.html"
    path.write_text(text)
    assert atomic.page_generator(path) is None
    with pytest.raises(FileExistsError, match="is not a convgrad report"):
        atomic.write_text(path, _page("new"), atomic.is_page)
    assert path.read_text() == text


def test_the_generator_tag_carries_the_schema_version_and_the_json_digest(tmp_path):
    path = tmp_path / "index.html"
    path.write_text(_page("x"))
    assert atomic.page_generator(path) == (1, None)
    path.write_text(_page("x", "ab" * 32))
    assert atomic.page_generator(path) == (1, "ab" * 32)
    path.write_text("y" * 5000 + _page("late"))
    assert atomic.page_generator(path) is None


@pytest.mark.parametrize(
    ("document", "ours"),
    [
        ({"schema": "convgrad-report", "schema_version": 1, "ok": True}, True),
        ({"generator": "convgrad-report", "kind": "pytest-session"}, True),
        (
            {"schema_version": 1, "ok": True, "examples": 3, "settings": {}, "failures": []},
            True,
        ),
        ({"schema": "convgrad-report", "schema_version": "1"}, False),
        ({"note": "convgrad-report", "ok": True}, False),
        ([1, 2, 3], False),
        ("convgrad-report", False),
    ],
)
def test_a_json_file_is_ours_only_in_a_convgrad_layout(tmp_path, document, ours):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document))
    assert atomic.is_result_json(path) is ours
    assert atomic.is_report(path) is ours


def test_a_file_that_is_not_json_is_not_a_result(tmp_path):
    path = tmp_path / "victim.py"
    path.write_text("print('convgrad-report')\n")
    assert not atomic.is_result_json(path)
    path.write_text("[" * 100_000)
    assert not atomic.is_result_json(path)


def test_refuses_a_folder_a_file_as_parent_and_a_bad_path_type(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        atomic.write_text(tmp_path, _page("x"))
    (tmp_path / "file").write_text("mine")
    with pytest.raises(NotADirectoryError, match=r"file' is not a folder"):
        atomic.write_text(tmp_path / "file" / "index.html", _page("x"))
    with pytest.raises(TypeError, match=r"path=3 must be a str or os\.PathLike"):
        atomic.write_text(3, _page("x"))
    assert (tmp_path / "file").read_text() == "mine"


def test_a_failed_write_leaves_the_old_page_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "index.html"
    path.write_text(_page("old"))

    def fail(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_text(path, _page("new"))
    assert path.read_text() == _page("old")
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def _pair(tmp_path, seed: int) -> dict[str, str]:
    data = json.dumps({"schema": "convgrad-report", "schema_version": 1, "seed": seed})
    return {"report.json": data, "index.html": _page(f"seed {seed}", atomic.sha256_text(data))}


def test_write_pair_writes_both_files_the_page_naming_the_json_digest(tmp_path):
    out = tmp_path / "out"
    paths = atomic.write_pair(out, _pair(tmp_path, 1), OWNERS)
    assert paths == [out / "report.json", out / "index.html"]
    assert pair_consistent(out, "index.html", "report.json")
    atomic.write_pair(out, _pair(tmp_path, 2), OWNERS)
    assert json.loads((out / "report.json").read_text())["seed"] == 2
    assert "seed 2" in (out / "index.html").read_text()
    assert pair_consistent(out, "index.html", "report.json")
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "report.json"]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("report.json", lambda p: p.write_text('{"mine": true}')),
        ("index.html", lambda p: p.write_text("<p>convgrad-report</p>")),
        ("index.html", lambda p: p.mkdir()),
    ],
)
def test_write_pair_refuses_before_writing_either_file(tmp_path, name, make):
    make(tmp_path / name)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises((FileExistsError, IsADirectoryError)):
        atomic.check_pair(tmp_path, OWNERS)
    with pytest.raises((FileExistsError, IsADirectoryError)):
        atomic.write_pair(tmp_path, _pair(tmp_path, 1), OWNERS)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_check_pair_refuses_a_file_as_the_folder(tmp_path):
    (tmp_path / "out").write_text("mine")
    with pytest.raises(NotADirectoryError, match=r"out' is a file, not a folder"):
        atomic.check_pair(tmp_path / "out", OWNERS)
    assert (tmp_path / "out").read_text() == "mine"


def test_a_commit_killed_between_its_renames_is_completed_by_the_next_check(tmp_path):
    # The state a SIGKILL after the first rename leaves (tests/report/test_report_pair.py
    # makes it with a real kill): the new report.json, the old page, the journal and the new
    # page under its temporary name.
    atomic.write_pair(tmp_path, _pair(tmp_path, 1), OWNERS)
    new = _pair(tmp_path, 2)
    (tmp_path / "report.json").write_text(new["report.json"])
    temporary = tmp_path / ".convgrad-report.index.html.abc.tmp"
    temporary.write_text(new["index.html"])
    (tmp_path / ".convgrad-report.report.json.def.tmp").write_text("half")
    journal = {"renames": [[".convgrad-report.report.json.gone.tmp", "report.json"]]}
    journal["renames"].append([temporary.name, "index.html"])
    (tmp_path / atomic.JOURNAL).write_text(json.dumps(journal))
    assert not pair_consistent(tmp_path, "index.html", "report.json")
    atomic.check_pair(tmp_path, OWNERS)
    assert pair_consistent(tmp_path, "index.html", "report.json")
    assert "seed 2" in (tmp_path / "index.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "report.json"]


@pytest.mark.parametrize(
    "renames",
    [
        [["../victim.txt", "index.html"]],
        [[".convgrad-report.index.html.x.tmp", "../victim.txt"]],
        [[".convgrad-report.index.html.x.tmp", "notes.txt"]],
        "not a list",
    ],
)
def test_a_journal_renames_only_its_own_temporaries_onto_the_pair(tmp_path, renames):
    (tmp_path / "victim.txt").write_text("mine")
    (tmp_path / "notes.txt").write_text("mine too")
    (tmp_path / ".convgrad-report.index.html.x.tmp").write_text(_page("x"))
    (tmp_path / atomic.JOURNAL).write_text(json.dumps({"renames": renames}))
    atomic.check_pair(tmp_path, OWNERS)
    assert (tmp_path / "victim.txt").read_text() == "mine"
    assert (tmp_path / "notes.txt").read_text() == "mine too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "victim.txt"]
