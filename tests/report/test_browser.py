"""The quick report in headless Chromium: no console errors; the summary, the shape table and
the plots are visible at desktop and phone widths; sorting works. Screenshots are saved to
reports/ (CI keeps them as artifacts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cdp import Page, find_chromium

pytestmark = pytest.mark.browser

CHROMIUM = find_chromium()
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports"

VISIBLE = """
(() => {
  const shown = (el) => {
    if (!el) return false;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" &&
      style.display !== "none";
  };
  const plots = [...document.querySelectorAll("figure.plot svg")];
  return {
    summary: shown(document.getElementById("summary")),
    verdict: shown(document.getElementById("verdict")),
    shapes: shown(document.getElementById("shape-table")),
    plots: plots.filter(shown).length,
    plotWidth: plots.length ? Math.round(plots[0].getBoundingClientRect().width) : 0,
    pageWidth: document.documentElement.scrollWidth,
  };
})()
"""


@pytest.fixture(scope="module")
def page_file(quick_report):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    return quick_report[0].html


@pytest.mark.parametrize(("width", "name"), [(1280, "report.png"), (400, "report-phone.png")])
def test_page_renders_without_errors_and_shows_its_parts(page_file, width, name):
    with Page(CHROMIUM) as page:
        page.open(page_file, width, 2400)
        seen = page.evaluate(VISIBLE)
        shot = page.screenshot(ARTIFACTS / name)
        assert page.errors == []
    assert seen["summary"] and seen["verdict"] and seen["shapes"]
    assert seen["plots"] == 4 and seen["plotWidth"] > 0.4 * min(width, 1120)
    # Nothing wider than the viewport: wide tables scroll inside their own box.
    assert seen["pageWidth"] <= width
    assert shot.stat().st_size > 20_000


def test_sorting_a_column_reorders_the_rows(page_file):
    with Page(CHROMIUM) as page:
        page.open(page_file, 1280, 1600)
        column = """[...document.querySelectorAll('#accuracy-table tbody tr')]
                    .map(r => parseFloat(r.cells[5].dataset.value))"""
        page.evaluate("document.querySelectorAll('#accuracy-table th')[5].click()")
        ascending = page.evaluate(column)
        page.evaluate("document.querySelectorAll('#accuracy-table th')[5].click()")
        descending = page.evaluate(column)
        assert page.errors == []
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
    assert ascending[0] < ascending[-1]


def test_console_errors_are_caught(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><title>t</title><script>console.error('bad'); x.y;</script>")
    with Page(CHROMIUM) as page:
        page.open(broken, 400, 300)
        errors = list(page.errors)
    assert errors[0] == "bad" and "ReferenceError" in errors[1]


PERFORMANCE = """
(() => {
  const svg = document.querySelector("figure.perf-plot svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {
    targets: document.querySelectorAll("#perf-targets tbody tr").length,
    plotWidth: Math.round(box.width),
    plotHeight: Math.round(box.height),
    pageWidth: document.documentElement.scrollWidth,
  };
})()
"""


@pytest.mark.parametrize("width", [1280, 400])
def test_performance_section_renders_and_sorts(tmp_path, width):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    from convgrad.report import render_html
    from convgrad.report.model import build_report
    from convgrad.report.performance import load_performance

    bench = Path(__file__).parent / "data" / "bench.json"
    report = build_report([], [], {}, load_performance(bench, required=True))
    page_file = render_html(report, tmp_path / "index.html")
    column = """[...document.querySelectorAll('#perf-speed tbody tr')]
                .map(r => parseFloat(r.cells[4].dataset.value))"""
    with Page(CHROMIUM) as page:
        page.open(page_file, width, 1600)
        seen = page.evaluate(PERFORMANCE)
        page.evaluate("document.querySelectorAll('#perf-speed th')[4].click()")
        ascending = page.evaluate(column)
        assert page.errors == []
    assert seen["targets"] == 9 and seen["pageWidth"] <= width
    assert seen["plotWidth"] > 0.6 * min(width, 820) and seen["plotHeight"] > 150
    assert ascending == sorted(ascending) and len(ascending) == 16
