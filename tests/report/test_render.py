"""The page, parsed: structure, every mode, the learner's shapes, numbers equal to report.json,
escaping, failures, and the other result layouts."""

from __future__ import annotations

import math

import pytest

from convgrad.report import render_html
from convgrad.report.model import build_report
from convgrad.report.render import format_number, format_shape
from convgrad.report.sweep import MODES
from convgrad.schema import SOURCES

from .htmltree import parse
from .test_model import CAPABILITIES, _problem, _record, _verify_dict


@pytest.fixture(scope="module")
def page(quick_report):
    files, report = quick_report
    return parse(files.html.read_text(encoding="utf-8")), report


def _value(cell) -> float:
    return float(cell.attrs["data-value"])


def test_page_is_well_formed_and_self_contained(page):
    root, _ = page
    assert root.find("html")[0].attrs["lang"] == "en"
    assert root.find("meta", name="viewport")
    assert root.find("meta", name="generator")[0].attrs["content"].startswith("convgrad-report")
    assert not root.find("link") and not root.find("img") and not root.find("iframe")
    assert all("src" not in s.attrs for s in root.find("script"))
    for element in root.iter():
        for name in ("src", "href"):
            target = element.attrs.get(name) or ""
            assert not target.startswith(("http:", "https:", "//")), (element.tag, target)


def test_summary_matches_report_json(page):
    root, report = page
    s = report["summary"]
    assert report["ok"] and s["failed"] == 0
    assert s["problems"] == 66 and s["checks"] > 2000
    cards = {
        e.attrs["data-key"]: e.text for e in root.find(class_="value") if "data-key" in e.attrs
    }
    assert cards == {"problems": "66", "checks": f"{s['checks']:,}", "failed": "0"}
    assert root.by_id("verdict").text.startswith("PASS All")
    rows = root.by_id("by-source").find("tr")[1:]
    assert [r.find("strong")[0].text for r in rows] == [b["name"] for b in s["by_source"]]
    assert {b["name"] for b in s["by_source"]} == set(SOURCES)
    for row, entry in zip(rows, s["by_source"], strict=True):
        cells = row.find("td")
        assert (_value(cells[1]), _value(cells[2])) == (entry["passed"], entry["failed"])
    assert root.by_id("command").text == report["meta"]["command"]


def test_run_table_names_versions_seed_profile_and_date(page):
    root, report = page
    rows = {r.find("th")[0].text: r.find("td")[0].text for r in root.by_id("meta").find("tr")}
    meta = report["meta"]
    for label, key in (
        ("convgrad", "convgrad"),
        ("NumPy", "numpy"),
        ("PyTorch", "torch"),
        ("Python", "python"),
        ("seed", "seed"),
        ("profile", "profile"),
        ("date (UTC)", "date"),
    ):
        assert rows[label] == str(meta[key])


def test_shape_table_names_every_mode_with_its_forms(page):
    root, report = page
    rows = root.by_id("shape-table").find("tr")[1:]
    assert [r.attrs["data-mode"] for r in rows] == list(MODES)
    valid = rows[0].find("td")
    assert [c.text for c in valid[2:7]] == [
        "I − K + 1",
        "⌊(I − d(K−1) − 1) / s⌋ + 1",
        "I",
        "K",
        "C_out",
    ]
    assert [r.find("td")[2].text for r in rows] == [
        "I − K + 1",
        "I",
        "I",
        "I + K − 1",
        "I + lo + hi − K + 1",
    ]
    for row, entry in zip(rows, report["shape_table"], strict=True):
        assert entry["agree"] == entry["dims"]
        assert f"{entry['problems']} problems" in row.text and "✓" in row.text


def test_learners_shapes_are_on_the_page(page):
    root, _ = page
    cells = [c.text for c in root.by_id("seed-table").find("td")]
    assert cells == [
        "P0000",
        "valid",
        "(1, 3, 128, 128)",
        "(32, 3, 3, 3)",
        "(1, 32, 126, 126)",
        "(1, 3, 128, 128)",
        "(32, 3, 3, 3)",
        "(32,)",
    ]


def test_every_checked_problem_is_listed_under_its_mode(page):
    root, report = page
    listed = {}
    for table in root.find("table", class_="problems"):
        for row in table.find("tr")[1:]:
            listed[row.find("td")[0].text] = table.attrs["data-mode"]
    assert listed == {p["id"]: p["spec"]["mode"] for p in report["problems"]}


def test_padding_modes_and_transposes_are_listed_with_their_settings(page):
    root, report = page
    rows = {
        row.find("td")[0].text: row
        for table in root.find("table", class_="problems")
        for row in table.find("tr")[1:]
    }
    modes = {p["id"]: p["spec"].get("padding_mode") for p in report["problems"]}
    copying = {i: m for i, m in modes.items() if m}
    assert sorted(copying.values()) == ["circular", "reflect", "replicate"]
    for problem_id, mode in copying.items():
        assert rows[problem_id].find(class_="padding-mode")[0].text == mode
    transposed = [p for p in report["problems"] if p["spec"]["mode"] == "conv_transpose"]
    assert [p["ndim"] for p in transposed] == [1, 2]
    # The transpose's own shapes: x (N, C_in_t, *I_t), y (N, C_out_t, *O_t).
    one = transposed[0]
    assert (one["x"], one["w"], one["y"], one["grad_bias"]) == (
        [2, 3, 4],
        [3, 2, 2],
        [2, 2, 11],
        [2],
    )
    assert one["spec"]["output_padding"] == [2]
    cell = rows[one["id"]].find(class_="output-padding")[0]
    assert cell.text == "output_padding 2"
    table = next(
        t for t in root.find("table", class_="problems") if t.attrs["data-mode"] == "conv_transpose"
    )
    assert len(table.find("tr")) == 1 + 2
    outputs = {r["output"] for r in report["records"] if r["problem"] == one["id"]}
    assert outputs == {"forward", "grad_input", "grad_weight", "grad_bias"}


def test_accuracy_table_numbers_equal_report_json(page):
    root, report = page
    rows = root.by_id("accuracy-table").find("tr")[1:]
    assert len(rows) == len(report["accuracy"]) > 10
    for row, entry in zip(rows, report["accuracy"], strict=True):
        assert (row.attrs["data-output"], row.attrs["data-source"]) == (
            entry["output"],
            entry["source"],
        )
        cells = row.find("td")
        assert _value(cells[2]) == entry["count"]
        assert _value(cells[5]) == entry["max_ratio"] <= 1
        assert cells[5].text == format_number(entry["max_ratio"])
        if entry["max_abs"] is not None:
            assert _value(cells[6]) == entry["max_abs"]
    worst = [_value(r.find("td")[0]) for r in root.by_id("worst-table").find("tr")[1:]]
    assert worst == sorted(worst, reverse=True) and 0 < worst[0] <= 1


def test_one_plot_per_output(page):
    root, _ = page
    figures = root.find("figure", class_="plot")
    assert [f.attrs["data-output"] for f in figures] == [
        "forward",
        "grad_input",
        "grad_weight",
        "grad_bias",
    ]
    assert all(f.find("svg") for f in figures)


def test_failing_sweep_shows_each_failure_with_its_case_and_command(tmp_path):
    problems = [_problem("P0004", (2, 1, 9), (3, 1, 2), "same")]
    records = [
        _record("P0004", "torch.autograd", "forward", 0.5),
        _record("P0004", "finite differences", "grad_input", "Infinity", passed=False),
    ]
    report = build_report(problems, records, {"profile": "quick", "seed": 0})
    root = parse(render_html(report, tmp_path / "index.html").read_text(encoding="utf-8"))
    assert root.by_id("verdict").text.startswith("FAIL 1 of 2 checks failed")
    (article,) = root.find("article", class_="failure")
    assert "finite differences" in article.text and "Minimal case P0004" in article.text
    assert "x (2, 1, 9), w (3, 1, 2) → y (2, 3, 9)" in article.text
    assert "convgrad report --profile quick --seed 0 --case P0004" in article.text
    assert article.find("h3")[0].text.endswith("error/bound ∞")
    assert root.find("tr", class_="failed")


def test_verify_result_page_escapes_user_text(tmp_path):
    data = _verify_dict()
    data["failures"][0]["message"] = "<script>alert('x')</script> & <b>bold</b>"
    text = render_html(data, tmp_path / "verify.html").read_text(encoding="utf-8")
    root = parse(text)
    assert len(root.find("script")) == 1 and not root.find("b")
    assert "<script>alert('x')</script> & <b>bold</b>" in root.find("article")[0].text
    assert "&lt;script&gt;" in text
    assert root.find("title")[0].text == "convgrad verify report — FAIL"


def test_pytest_session_page_lists_its_runs(tmp_path):
    run = {"test": "tests/t.py::test_a", "kind": "verify", **_verify_dict()}
    data = {
        "tool": "convgrad",
        "version": "0.1.0",
        "kind": "pytest-session",
        "summary": {"checks": 1, "failed": 1},
        "records": [run],
    }
    root = parse(render_html(data, tmp_path / "s.html").read_text(encoding="utf-8"))
    assert [r.find("code")[0].text for r in root.by_id("runs").find("tr")[1:]] == [
        "tests/t.py::test_a"
    ]


def test_render_html_refuses_a_foreign_file_and_bad_data(tmp_path):
    mine = tmp_path / "index.html"
    mine.write_text("<html>someone's page</html>")
    with pytest.raises(FileExistsError, match="not a convgrad report"):
        render_html(_verify_dict(), mine)
    with pytest.raises(TypeError, match="data must be a dict"):
        render_html("report", tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0, "0"),
        (0.0, "0"),
        (1234, "1,234"),
        (0.000123456, "0.000123"),
        (math.inf, "∞"),
        ("Infinity", "∞"),
        (2.5e-17, "2.5e-17"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_format_shape():
    assert format_shape([32]) == "(32,)"
    assert format_shape([1, 3, 128, 128]) == "(1, 3, 128, 128)"
    assert format_shape(None) == "—"


def test_verify_page_shows_the_capability_table_and_the_causes(tmp_path):
    data = {**_verify_dict(), "capabilities": CAPABILITIES}
    text = render_html(data, tmp_path / "verify.html").read_text(encoding="utf-8")
    root = parse(text)
    rows = root.by_id("capabilities").find("tr")[1:]
    assert [[cell.text for cell in row.find("td")] for row in rows] == [
        ["baseline: 1-D, padding='same', stride 1, float64", "supported", ""],
        ["dilation 2", "unsupported", "forward raised NotImplementedError: no <dilation>"],
    ]
    assert rows[1].attrs["class"] == "failed"
    (cause,) = root.by_id("causes").find("li")
    assert cause.text.startswith("grad_weight wrong whenever padding='same': 1 failure")
    assert cause.find("a")[0].attrs["href"] == "#failure-1"
    assert root.by_id("failure-1").find("h3")
    # The page opens with the verdict, then the capability table, then the failures; the
    # evidence tables come after them.
    order = [text.index(f'<section id="{name}"') for name in SECTION_ORDER]
    assert order == sorted(order)


SECTION_ORDER = ("summary", "capabilities", "failures", "evidence", "shapes")


def test_verify_result_notes_are_listed_and_escaped(tmp_path):
    data = _verify_dict()
    data["notes"] = [
        {"check": "determinism", "output": "grad_weight", "message": "differ <within> the bound"}
    ]
    text = render_html(data, tmp_path / "notes.html").read_text(encoding="utf-8")
    items = parse(text).by_id("notes").find("li")
    assert len(items) == 1
    assert "grad_weight" in items[0].text and "differ <within> the bound" in items[0].text
    assert "&lt;within&gt;" in text


def test_page_without_notes_has_no_notes_section(tmp_path):
    root = parse(render_html(_verify_dict(), tmp_path / "v.html").read_text(encoding="utf-8"))
    assert root.find(id="notes") == []
