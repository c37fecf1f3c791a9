"""``convgrad audit --quick`` as CI runs it, its page loaded in headless Chromium: no console
errors, the findings and the matrix visible, every installed framework a column. The
screenshot is saved to reports/audit.png (CI keeps it as an artifact)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convgrad import audit, cli

from .cdp import Page, find_chromium

pytestmark = pytest.mark.browser

CHROMIUM = find_chromium()
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports"

SEEN = """
(() => {
  const shown = (el) => {
    if (!el) return false;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).display !== "none";
  };
  const matrix = document.getElementById("matrix");
  return {
    findings: shown(document.getElementById("findings")),
    matrix: shown(matrix),
    columns: matrix.querySelectorAll("thead th").length - 1,
    cells: matrix.querySelectorAll("td.cell").length,
    pageWidth: document.documentElement.scrollWidth,
  };
})()
"""


@pytest.fixture(scope="module")
def quick_audit(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    code = cli.main(["audit", "--quick", "--out", str(out)])
    return code, out


def test_quick_audit_exits_by_its_findings_and_covers_every_installed_framework(quick_audit):
    code, out = quick_audit
    report = json.loads((out / audit.JSON_NAME).read_text())
    assert code == (0 if report["ok"] else 1)
    columns, skipped = audit.configurations()
    installed = {c.framework for c in columns}
    assert {c["framework"] for c in report["configurations"]} == installed
    assert set(report["meta"]["skipped"]) == set(skipped)
    assert [f["id"] for f in report["features"]] == list(audit.QUICK_FEATURES)
    assert len(report["cells"]) == len(audit.QUICK_FEATURES) * len(report["configurations"])


def test_quick_audit_page_renders_the_matrix_without_errors(quick_audit):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    _, out = quick_audit
    report = json.loads((out / audit.JSON_NAME).read_text())
    with Page(CHROMIUM) as page:
        page.open(out / audit.HTML_NAME, 1280, 1600)
        seen = page.evaluate(SEEN)
        shot = page.screenshot(ARTIFACTS / "audit.png")
        assert page.errors == []
    assert seen["findings"] and seen["matrix"]
    assert seen["columns"] == len(report["configurations"])
    assert seen["cells"] == len(report["cells"])
    assert seen["pageWidth"] <= 1280
    assert shot.stat().st_size > 20_000
