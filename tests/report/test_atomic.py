"""Atomic writing: whole files or none, and never over a file that is not a report."""

from __future__ import annotations

import os

import pytest

from convgrad.report import atomic as _atomic


def test_writes_creates_folders_and_overwrites_its_own_reports(tmp_path):
    path = tmp_path / "a" / "b" / "index.html"
    _atomic.write_text(path, f"<meta name=generator content={_atomic.MARKER}> one")
    _atomic.write_text(path, f"<meta name=generator content={_atomic.MARKER}> two")
    assert path.read_text().endswith("two")
    assert [p.name for p in path.parent.iterdir()] == ["index.html"]


def test_refuses_to_overwrite_a_file_that_is_not_a_report(tmp_path):
    path = tmp_path / "notes.html"
    path.write_text("<p>my own page</p>")
    with pytest.raises(FileExistsError, match=r"notes\.html. exists and is not a convgrad report"):
        _atomic.write_text(path, _atomic.MARKER)
    assert path.read_text() == "<p>my own page</p>"


def test_refuses_a_folder_and_a_bad_path_type(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        _atomic.write_text(tmp_path, _atomic.MARKER)
    with pytest.raises(TypeError, match=r"path=3 must be a str or os\.PathLike"):
        _atomic.write_text(3, _atomic.MARKER)


def test_a_failed_write_leaves_the_old_page_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "index.html"
    path.write_text(f"{_atomic.MARKER} old")

    def fail(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        _atomic.write_text(path, f"{_atomic.MARKER} new")
    assert path.read_text() == f"{_atomic.MARKER} old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_is_report_reads_only_the_head(tmp_path):
    path = tmp_path / "late.html"
    path.write_text("x" * 5000 + _atomic.MARKER)
    assert not _atomic.is_report(path)
    path.write_text(_atomic.MARKER + "x" * 5000)
    assert _atomic.is_report(path)
