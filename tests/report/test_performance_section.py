"""The Performance section: bench.json validation, the view's derived facts, the ratio plot,
and the page with a benchmark file, without one, and for results that are not sweeps."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from convgrad.report import render_html
from convgrad.report.model import build_report
from convgrad.report.performance import (
    BENCH_COMMAND,
    load_bench,
    load_performance,
    performance_view,
)
from convgrad.report.plots import ratio_bars
from convgrad.report.render import format_number

from .htmltree import parse
from .test_model import _problem, _record, _verify_dict

FIXTURE = Path(__file__).parent / "data" / "bench.json"
"""A bench.json of ``python -m benchmarks.run`` (copied from reports/, which is regenerated), its
``machine.blas`` from a later run (files older than that field have none)."""
RAW = json.loads(FIXTURE.read_text())
_SVG = "{http://www.w3.org/2000/svg}"


def _write(tmp_path: Path, data, name: str = "bench.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _edited(path: str):
    """A copy of RAW, the container holding ``path`` ("speed.rows.0.ratio": list indices as
    numbers) and the last key."""
    data = copy.deepcopy(RAW)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return data, node, int(last) if isinstance(node, list) else last


def _without(path: str) -> dict:
    data, node, last = _edited(path)
    del node[last]
    return data


def _with(path: str, value) -> dict:
    data, node, last = _edited(path)
    node[last] = value
    return data


def _page(tmp_path: Path, performance, meta=None, name="index.html"):
    meta = {"bench": str(FIXTURE), **(meta or {})}
    report = build_report(
        [_problem("P0001", (1, 1, 5), (1, 1, 3))],
        [_record("P0001", "torch.autograd", "forward", 0.25)],
        meta,
        performance,
    )
    return report, parse(render_html(report, tmp_path / name).read_text(encoding="utf-8"))


# --- load_bench -------------------------------------------------------------------------------


def test_load_bench_keeps_the_shown_keys_with_the_files_values():
    bench = load_bench(FIXTURE)
    assert set(bench) == {
        "schema_version",
        "date",
        "command",
        "machine",
        "load_average_before",
        "load_average_after",
        "peak_gflops",
        "speed",
        "targets",
    }
    assert bench["machine"] == RAW["machine"]
    assert bench["speed"]["rows"] == RAW["speed"]["rows"] and len(bench["speed"]["rows"]) == 16
    assert bench["speed"]["geomean"] == RAW["speed"]["geomean"]
    assert bench["targets"] == RAW["targets"] and len(bench["targets"]) == 9
    # The parts the page does not show stay in bench.json (they may hold NaN, which
    # report.json, written with allow_nan=False, cannot).
    assert "overhead" not in bench and "suite" not in bench


REQUIRED = [
    "date",
    "command",
    "machine",
    "load_average_before",
    "load_average_after",
    "peak_gflops",
    "speed",
    "targets",
    *(f"machine.{k}" for k in ("cpu", "cores", "threads", "python", "numpy", "torch")),
    "speed.rows",
    "speed.geomean",
    "speed.best_geomean",
    "speed.geomean.float32",
    *(
        f"speed.rows.3.{k}"
        for k in (
            "layer",
            "dtype",
            "ours_ms",
            "torch_ms",
            "ratio",
            "best_ratio",
            "spread",
            "gflops",
            "peak_fraction",
            "large",
        )
    ),
    *(f"targets.2.{k}" for k in ("target", "ratio", "limit", "inputs", "met")),
]


@pytest.mark.parametrize("key", REQUIRED)
def test_each_required_key_missing_is_named(tmp_path, key):
    path = _write(tmp_path, _without(key))
    shown = re.sub(r"\.(\d+)\.", r"[\1].", key)
    with pytest.raises(ValueError, match=re.escape(f"required key {shown!r} is missing")) as err:
        load_bench(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("speed.rows.0.ratio", "fast", "speed.rows[0].ratio='fast' must be a finite number"),
        ("speed.rows.0.ratio", True, "speed.rows[0].ratio=True must be a finite number"),
        ("speed.rows.1.large", 1, "speed.rows[1].large=1 must be true or false"),
        ("machine.cores", 0, "machine.cores=0 must be an integer >= 1 or null"),
        ("machine.threads", None, "machine.threads=None must be an integer >= 1"),
        ("targets.0.met", "yes", "targets[0].met='yes' must be true, false or null"),
        ("targets.0.limit", "1", "targets[0].limit='1' must be a finite number or null"),
        ("date", 20261125, "date=20261125 must be a string"),
        ("speed.rows", [], "speed.rows is empty"),
        ("speed.rows", {}, "speed.rows is dict, expected a list"),
        ("machine", [], "machine is list, expected an object"),
        ("machine.blas", [], "machine.blas is list, expected an object"),
        ("machine.blas.library", 3, "machine.blas.library=3 must be a string"),
        ("machine.blas.threads", [0], "machine.blas.threads=[0] must be a list of integers"),
        (
            "machine.blas.dropped_env",
            {"OPENBLAS_CORETYPE": 1},
            "machine.blas.dropped_env={'OPENBLAS_CORETYPE': 1} must be an object of strings",
        ),
        ("targets.2.met", True, "targets[2] has limit=None and met=True"),
        ("schema_version", 2, "schema_version=2; this convgrad reads version 1"),
        ("schema_version", "1", "schema_version='1'; this convgrad reads version 1"),
    ],
)
def test_a_wrong_value_is_named_with_the_rule(tmp_path, key, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_bench(_write(tmp_path, _with(key, value)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not JSON (Expecting property name"),
        ("", "is not JSON (Expecting value: line 1 column 1"),
        ("[1, 2]", "the top level is list, expected an object"),
        ('{"schema": "convgrad-report", "ok": true}', "no schema_version: not a benchmark"),
        (
            json.dumps(_with("speed.rows.0.ratio", float("nan"))),
            "speed.rows[0].ratio=nan must be a finite number",
        ),
    ],
)
def test_a_foreign_or_broken_file_is_refused_in_one_line(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        load_bench(path)
    assert f"bench file {str(path)!r}" in str(err.value) and "\n" not in str(err.value)


def test_missing_folder_binary_and_bad_type_paths(tmp_path):
    with pytest.raises(
        ValueError, match=re.escape("does not exist; python -m benchmarks.run --json")
    ):
        load_bench(tmp_path / "none.json")
    with pytest.raises(ValueError, match="is a folder"):
        load_bench(tmp_path)
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        load_bench(binary)
    with pytest.raises(TypeError, match=re.escape("path=3 must be a str or os.PathLike")):
        load_bench(3)


def test_a_file_from_before_the_blas_was_recorded_still_loads(tmp_path):
    bench = load_bench(_write(tmp_path, _without("machine.blas")))
    assert "blas" not in bench["machine"] and bench["targets"] == RAW["targets"]


def test_load_performance_is_optional_only_where_asked(tmp_path):
    assert load_performance(tmp_path / "bench.json", required=False) is None
    with pytest.raises(ValueError, match="does not exist"):
        load_performance(tmp_path / "bench.json", required=True)
    found = load_performance(str(FIXTURE), required=False)
    assert found["source"] == str(FIXTURE) and found["bench"]["date"] == RAW["date"]
    with pytest.raises(TypeError, match=re.escape("bench=None must be a str or os.PathLike")):
        load_performance(None, required=False)


# --- performance_view -------------------------------------------------------------------------


def _view(data: dict, meta: dict | None = None) -> dict:
    return performance_view({"source": "b.json", "bench": data}, meta or {})


def test_load_warning_follows_the_benchmarks_rule_half_the_cores_before_the_run():
    bench = load_bench(FIXTURE)
    assert _view(bench)["load"] == {"max": RAW["load_average_before"], "cores": 2, "high": False}
    assert not _view({**bench, "load_average_after": 1.9})["load"]["high"], "own threads"
    assert _view({**bench, "load_average_before": 1.01})["load"]["high"]
    unknown = {**bench, "machine": {**bench["machine"], "cores": None}}
    assert _view({**unknown, "load_average_before": 0.6, "load_average_after": 0.2})["load"] == {
        "max": 0.6,
        "cores": 1,
        "high": True,
    }
    assert performance_view(None, {}) is None


def test_reference_lines_come_from_the_targets_limits():
    bench = load_bench(FIXTURE)
    assert _view(bench)["lines"] == {
        1.0: "1 = torch's time; float64 geomean limit 1",
        1.5: "float32 geomean limit 1.5",
    }
    no_limits = [t for t in bench["targets"] if not t["target"].startswith("speed")]
    assert _view({**bench, "targets": no_limits})["lines"] == {1.0: "1 = torch's time"}


def test_version_notes_name_what_differs_from_the_reports_run():
    bench = load_bench(FIXTURE)
    same = {"python": "3.11.7", "numpy": "2.4.6", "torch": "2.13.0+cpu"}
    assert _view(bench, same)["version_notes"] == []
    assert _view(bench, {**same, "numpy": "2.5.0"})["version_notes"] == [
        "NumPy 2.4.6 (this report ran NumPy 2.5.0)"
    ]


# --- the plot ---------------------------------------------------------------------------------


def test_ratio_bars_draw_one_bar_per_row_with_its_value_and_the_lines():
    rows = [("layer a", "float64", 0.5), ("layer a", "float32", 1.75), ("layer b", "float64", 2)]
    svg = ratio_bars(rows, {1.0: "torch", 1.5: "f32 limit"}, "pp")
    root = ElementTree.fromstring(svg)
    ids = re.findall(r'id="([^"]+)"', svg)
    assert ids and all(i.startswith("pp-") for i in ids)
    text = [t.text for t in root.iter(f"{_SVG}text") if t.text]
    for word in ("layer a", "layer b", "0.50", "1.75", "2.00", "torch", "f32 limit", "float32"):
        assert word in text, word
    # One value label per bar, in dtype order (float64 bars first): three bars, no more.
    assert [t for t in text if re.fullmatch(r"\d\.\d\d", t)] == ["0.50", "2.00", "1.75"]
    assert ratio_bars([], {1.0: "torch"}, "pp") is None


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("perf")
    meta = {"python": "3.11.7", "numpy": "2.4.6", "torch": "2.13.0+cpu"}
    return _page(tmp, load_performance(FIXTURE, required=True), meta)


def test_page_with_bench_parses_and_links_the_section(with_bench):
    report, root = with_bench
    assert report["performance"]["bench"]["date"] == RAW["date"]
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert "#performance" in [a.attrs["href"] for a in root.find("nav")[0].find("a")]
    section = root.by_id("performance")
    assert RAW["date"] in section.text and "python -m benchmarks.run" in section.text
    assert not root.find(id="load-warning") and not root.find(id="version-warning")
    assert not root.find(id="performance-missing")


def test_targets_table_shows_every_target_and_its_verdict_in_words(with_bench):
    _, root = with_bench
    rows = root.by_id("perf-targets").find("tr")[1:]
    assert len(rows) == len(RAW["targets"])
    for row, target in zip(rows, RAW["targets"], strict=True):
        cells = row.find("td")
        assert cells[0].text == target["target"] and cells[4].text == target["inputs"]
        assert float(cells[1].attrs["data-value"]) == target["ratio"]
        assert cells[1].text == format_number(target["ratio"])
        verdict = {True: "✓ met", False: "✗ NOT met", None: "— no limit"}[target["met"]]
        assert cells[3].text == verdict
        assert ("failed" in row.attrs.get("class", "")) == (target["met"] is False)
        if target["limit"] is None:
            assert cells[2].text == "—"
        else:
            assert float(cells[2].attrs["data-value"]) == target["limit"]
    assert [r.attrs["data-met"] for r in rows].count("NOT met") == 2


def test_speed_table_equals_the_files_rows_and_is_sortable(with_bench):
    _, root = with_bench
    table = root.by_id("perf-speed")
    assert "sortable" in table.attrs["class"]
    assert [th.text for th in table.find("th")] == [
        "layer",
        "dtype",
        "ours ms",
        "torch ms",
        "ratio",
        "fastest-round ratio",
        "spread",
        "GFLOP/s",
        "fraction of peak",
    ]
    rows = table.find("tr")[1:]
    assert len(rows) == len(RAW["speed"]["rows"])
    keys = ("ours_ms", "torch_ms", "ratio", "best_ratio", "spread", "gflops", "peak_fraction")
    for row, entry in zip(rows, RAW["speed"]["rows"], strict=True):
        cells = row.find("td")
        assert (cells[0].text, cells[1].text) == (entry["layer"], entry["dtype"])
        assert [float(c.attrs["data-value"]) for c in cells[2:]] == [entry[k] for k in keys]
        assert [c.text for c in cells[2:]] == [format_number(entry[k]) for k in keys]
    geomeans = {e.attrs["data-dtype"]: e.text for e in root.by_id("performance").find("strong")}
    assert geomeans == {d: format_number(v) for d, v in RAW["speed"]["geomean"].items()}


def test_plot_and_provenance_are_on_the_page(with_bench):
    _, root = with_bench
    (figure,) = root.find("figure", class_="perf-plot")
    (svg,) = figure.find("svg")
    labels = [t.text for t in svg.iter("text")]
    assert {r["layer"] for r in RAW["speed"]["rows"]} <= set(labels)
    assert "float32 geomean limit 1.5" in labels
    rows = {
        r.find("th")[0].text: r.find("td")[0].text for r in root.by_id("perf-provenance").find("tr")
    }
    machine = RAW["machine"]
    assert rows["file"] == str(FIXTURE) and rows["command"] == RAW["command"].strip()
    assert (rows["CPU"], rows["cores"], rows["threads (BLAS and torch)"]) == (
        machine["cpu"],
        str(machine["cores"]),
        str(machine["threads"]),
    )
    assert (rows["NumPy"], rows["PyTorch"], rows["Python"]) == (
        machine["numpy"],
        machine["torch"],
        machine["python"],
    )
    blas = machine["blas"]
    assert rows["BLAS"].startswith(blas["library"])
    for name, value in blas["dropped_env"].items():
        assert f"{name}={value}" in rows["BLAS"]
    assert rows["load average after"] == format_number(RAW["load_average_after"])
    assert rows["float64 GEMM peak (GFLOP/s)"] == format_number(RAW["peak_gflops"])


def test_a_busy_machine_and_other_versions_are_warned_about(tmp_path):
    performance = {
        "source": "b.json",
        "bench": {**load_bench(FIXTURE), "load_average_before": 1.75},
    }
    _, root = _page(tmp_path, performance, {"torch": "2.14.0"})
    warning = root.by_id("load-warning").text
    assert "load average was 1.75 on 2 cores before" in warning and "unreliable" in warning
    assert root.by_id("version-warning").text == (
        "Note: measured with PyTorch 2.13.0+cpu (this report ran PyTorch 2.14.0)."
    )


def test_without_a_bench_file_the_section_names_the_command(tmp_path):
    report, root = _page(tmp_path, None, {"bench": "reports/bench.json"})
    assert report["performance"] is None
    missing = root.by_id("performance-missing").text
    assert "reports/bench.json does not exist" in missing and BENCH_COMMAND in missing
    assert not root.find(id="perf-targets") and not root.find("figure", class_="perf-plot")


def test_an_older_report_json_without_the_key_still_renders(tmp_path):
    report, _ = _page(tmp_path, None)
    del report["performance"], report["meta"]["bench"]
    root = parse(render_html(report, tmp_path / "old.html").read_text(encoding="utf-8"))
    assert root.by_id("performance-missing").text.startswith("No benchmark results. In a")


def test_verify_and_pytest_pages_have_no_performance_section(tmp_path):
    root = parse(render_html(_verify_dict(), tmp_path / "v.html").read_text(encoding="utf-8"))
    assert not root.find(id="performance")
    assert "#performance" not in [a.attrs["href"] for a in root.find("nav")[0].find("a")]


def test_provenance_has_no_blas_row_for_a_file_without_it(tmp_path):
    path = _write(tmp_path, _without("machine.blas"))
    _, root = _page(tmp_path, load_performance(path, required=True))
    names = [r.find("th")[0].text for r in root.by_id("perf-provenance").find("tr")]
    assert "BLAS" not in names and "NumPy" in names
