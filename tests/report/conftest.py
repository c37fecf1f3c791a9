"""Fixtures: the quick profile's report, generated once per session (the page the browser test
and the content tests read), and a small report with failures."""

from __future__ import annotations

import json

import pytest

from convgrad.report import write_report


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """The default ``convgrad report`` (quick profile): (files, report.json parsed back)."""
    files = write_report(tmp_path_factory.mktemp("quick"))
    return files, json.loads(files.json.read_text())
