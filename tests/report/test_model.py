"""report.json's layout and the conversion of verify results and pytest sessions."""

from __future__ import annotations

import itertools

import pytest

import convgrad as cg
from convgrad.report import model
from convgrad.schema import REPORT_SCHEMA as SCHEMA
from convgrad.schema import REPORT_SCHEMA_VERSION as SCHEMA_VERSION


def _problem(pid, x, w, mode="valid", stride=1, dilation=1, padding=None):
    spec = cg.ConvSpec(padding if mode == "explicit" else mode, stride, dilation)
    resolved = spec.resolve(x[2:], w[2:])
    y = list(cg.output_shape(x, w, padding=spec.padding, stride=stride, dilation=dilation))
    return {
        "id": pid,
        "ndim": len(x) - 2,
        "mode": mode,
        "data": "float64",
        "seed_case": False,
        "x": list(x),
        "w": list(w),
        "y": y,
        "grad_input": list(x),
        "grad_weight": list(w),
        "grad_bias": [w[0]],
        "dtype": "float64",
        "spec": resolved.to_dict(),
    }


def _record(problem, source, output, ratio, passed=True, abs_error=None, rel_error=None):
    return {
        "problem": problem,
        "source": source,
        "check": "value",
        "output": output,
        "passed": passed,
        "ratio": ratio,
        "abs_error": abs_error,
        "rel_error": rel_error,
        "message": "" if passed else "too far",
    }


@pytest.mark.parametrize(
    ("mode", "simple"),
    [("valid", "I − K + 1"), ("same", "I"), ("same_lower", "I"), ("full", "I + K − 1")],
)
def test_symbolic_forms_name_the_textbook_sizes(mode, simple):
    assert model.SHAPE_FORMS[mode]["simple"] == simple


def test_general_output_form_equals_the_shape_algebra_on_a_grid():
    grid = itertools.product(model.SHAPE_FORMS, (5, 6, 7), (1, 2, 3), (1, 2, 3), (1, 2))
    for mode, i, k, s, d in grid:
        padding = ((2, 1),) if mode == "explicit" else mode
        resolved = cg.ConvSpec(padding, s, d).resolve((i,), (k,))
        ((lo, hi),) = resolved.padding
        if i + lo + hi < d * (k - 1) + 1:
            continue
        expected = cg.output_shape((1, 1, i), (1, 1, k), padding=padding, stride=s, dilation=d)[2]
        assert model._general_output(mode, i, k, s, d, lo, hi) == expected, (mode, i, k, s, d)


def test_shape_table_counts_the_problems_and_dims_that_agree():
    problems = [
        _problem("P1", (1, 3, 128, 128), (32, 3, 3, 3)),
        _problem("P2", (2, 1, 9), (1, 1, 2), "same", stride=2),
        _problem(
            "P3", (2, 1, 9, 8), (1, 1, 3, 2), "explicit", dilation=2, padding=((1, 2), (0, 1))
        ),
    ]
    rows = {row["mode"]: row for row in model.shape_table(problems)}
    assert set(rows) == {"valid", "same", "explicit"}
    assert (rows["valid"]["problems"], rows["valid"]["dims"], rows["valid"]["agree"]) == (1, 2, 2)
    assert rows["explicit"]["agree"] == rows["explicit"]["dims"] == 2
    problems[1]["y"][2] += 1
    assert model.shape_table(problems)[1]["agree"] == 0


def test_accuracy_aggregates_per_output_and_source():
    records = [
        _record("P1", "torch.autograd", "forward", 0.0, abs_error=0.0, rel_error=0.0),
        _record("P2", "torch.autograd", "forward", 0.25, abs_error=1e-9, rel_error=1e-7),
        _record("P3", "torch.autograd", "forward", 0.5, abs_error=2e-9, rel_error=3e-8),
        _record("P3", "adjoint identity", "grad_input", 0.125),
        {**_record("P3", "invariants", "forward", None), "check": "shape"},
    ]
    rows = model.accuracy(records)
    assert [(r["output"], r["source"]) for r in rows] == [
        ("forward", "torch.autograd"),
        ("grad_input", "adjoint identity"),
    ]
    torch_row = rows[0]
    assert (torch_row["count"], torch_row["exact"]) == (3, 1)
    assert (torch_row["median_ratio"], torch_row["max_ratio"]) == (0.25, 0.5)
    assert (torch_row["max_abs"], torch_row["max_rel"], torch_row["worst_problem"]) == (
        2e-9,
        1e-7,
        "P3",
    )
    assert rows[1]["max_abs"] is None


def test_accuracy_reads_infinity_back_from_json():
    rows = model.accuracy([_record("P1", "s", "forward", "Infinity", passed=False)])
    assert rows[0]["max_ratio"] == float("inf")


def test_worst_cases_are_sorted_and_skip_exact_results():
    problems = [_problem("P1", (1, 1, 5), (1, 1, 3)), _problem("P2", (1, 1, 6), (1, 1, 2))]
    records = [
        _record("P1", "s", "forward", 0.0),
        _record("P1", "s", "forward", 0.1),
        _record("P2", "s", "forward", 0.7),
    ]
    worst = model.worst_cases(records, problems, limit=5)
    assert [(r["problem"], r["ratio"]) for r in worst] == [("P2", 0.7), ("P1", 0.1)]
    assert worst[0]["case"]["x"] == [1, 1, 6]


def test_build_report_lists_failures_with_a_reproduce_command():
    problems = [_problem("P0004", (1, 1, 5), (1, 1, 3))]
    records = [
        _record("P0004", "torch.autograd", "forward", 0.5),
        _record("P0004", "torch.autograd", "grad_input", 3.0, passed=False, abs_error=1e-3),
    ]
    report = model.build_report(problems, records, {"profile": "thorough", "seed": 5})
    assert report["schema"] == SCHEMA and report["schema_version"] == SCHEMA_VERSION
    assert not report["ok"]
    assert report["summary"]["checks"] == 2 and report["summary"]["failed"] == 1
    (failure,) = report["failures"]
    assert failure["reproduce"] == "convgrad report --profile thorough --seed 5 --case P0004"
    assert "torch.autograd" in failure["diagnosis"] and failure["message"] == "too far"
    by_source = report["summary"]["by_source"]
    assert by_source == [{"name": "torch.autograd", "passed": 1, "failed": 1}]


def _verify_dict():
    problem = cg.ConvSpec("same").resolve((5,), (2,)).to_dict()
    described = {
        "x": [1, 1, 5],
        "w": [2, 1, 2],
        "b": None,
        "y": [1, 2, 5],
        "dtype": "float64",
        "spec": problem,
    }
    return {
        "schema_version": 1,
        "ok": False,
        "examples": 7,
        "settings": {"ndim": 1, "padding": ["same"], "seed": 3},
        "failures": [
            {
                "check": "value",
                "output": "grad_weight",
                "problem": described,
                "expected_shape": [2, 1, 2],
                "got_shape": [2, 1, 2],
                "worst_error": 0.5,
                "bound_ratio": None,
                "index": [0, 0, 1],
                "message": "grad_weight: differs <by> a lot",
                "diagnosis": "the kernel is rotated",
                "reproduce": "import convgrad as cg",
            }
        ],
        "ratios": [{"check": "adjoint", "output": "grad_input", "ratio": 0.01, **described}],
    }


def test_verify_result_dict_becomes_a_report():
    report = model.as_report(_verify_dict())
    assert report["kind"] == "verify" and not report["ok"]
    assert report["summary"]["problems"] == 7
    assert len(report["problems"]) == 1 and report["problems"][0]["mode"] == "same"
    (failure,) = report["failures"]
    assert (failure["check"], failure["output"], failure["problem"]) == (
        "value",
        "grad_weight",
        "V0001",
    )
    assert failure["diagnosis"] == "the kernel is rotated"
    assert report["accuracy"][0]["source"] == "adjoint identity"
    assert report["meta"]["settings"]["seed"] == 3
    assert report["runs"] == []


def test_pytest_session_becomes_a_report_with_its_runs():
    run = {"test": "t.py::test_a", "kind": "verify", **_verify_dict()}
    passing = {
        "test": "t.py::test_b",
        "kind": "verify",
        "ok": True,
        "examples": 2,
        "failures": [],
        "ratios": [],
    }
    data = {
        "tool": "convgrad",
        "version": "0.1.0",
        "kind": "pytest-session",
        "summary": {"checks": 2, "failed": 1},
        "records": [run, passing],
    }
    report = model.as_report(data)
    assert report["kind"] == "pytest-session" and not report["ok"]
    assert [r["test"] for r in report["runs"]] == ["t.py::test_a", "t.py::test_b"]
    assert report["failures"][0]["test"] == "t.py::test_a"
    assert report["summary"]["problems"] == 9


def test_as_report_rejects_other_data():
    with pytest.raises(TypeError, match="data must be a dict"):
        model.as_report([1, 2])
    with pytest.raises(ValueError, match="not a convgrad result"):
        model.as_report({"hello": 1})
    with pytest.raises(ValueError, match="schema_version=99"):
        model.as_report({"schema": SCHEMA, "schema_version": 99})


CAPABILITIES = [
    {
        "axis": "baseline",
        "value": None,
        "feature": "baseline: 1-D, padding='same', stride 1, float64",
        "status": "supported",
        "detail": "",
        "problem": {},
    },
    {
        "axis": "dilation",
        "value": 2,
        "feature": "dilation 2",
        "status": "unsupported",
        "detail": "forward raised NotImplementedError: no <dilation>",
        "problem": {},
    },
]


def test_a_verify_report_carries_the_capability_table_and_the_causes():
    data = {**_verify_dict(), "capabilities": CAPABILITIES}
    report = model.as_report(data)
    assert report["capabilities"] == [{"test": None, "rows": CAPABILITIES}]
    assert report["causes"] == [
        {
            "test": None,
            "summary": "grad_weight wrong whenever padding='same': 1 failure",
            "count": 1,
            "failures": [1],
        }
    ]


def test_session_causes_number_failures_across_runs():
    first = {"test": "t.py::test_a", "kind": "verify", **_verify_dict()}
    second = {"test": "t.py::test_b", "kind": "verify", **_verify_dict()}
    second["failures"] = [{**second["failures"][0], "check": "shape", "output": "forward"}] * 2
    data = {"kind": "pytest-session", "version": "0.1.0", "records": [first, second]}
    report = model.as_report(data)
    assert [(c["test"], c["summary"], c["failures"]) for c in report["causes"]] == [
        ("t.py::test_a", "grad_weight wrong whenever padding='same': 1 failure", [1]),
        ("t.py::test_b", "forward has the wrong shape whenever padding='same': 2 failures", [2, 3]),
    ]
    assert report["capabilities"] == []  # records without a probe (older files, fixed problems)
