"""VerifyResult and Failure: reproduce snippets, JSON, text, HTML."""

import json
import sys
import types

import pytest

import convgrad as cg
from convgrad.schema import VERIFY_SCHEMA_VERSION
from convgrad.verification.result import Failure, VerifyResult

from .implementations import (
    failure_keys,
    ref_forward,
    reference_grads,
)


def test_reproduce_snippet_rebuilds_the_failing_problem():
    def backward(x, w, grad_y, spec):
        g = reference_grads(x, w, grad_y, spec)
        return g.input, g.weight / x.shape[0]

    result = cg.verify(ref_forward, backward, max_examples=25, max_failures=1)
    (failure,) = result.failures
    namespace = {"forward": ref_forward, "backward": backward, "print": lambda r: None}
    exec(failure.reproduce.replace("print(", "result = ("), namespace)
    again = namespace["result"]
    assert (failure.check, failure.output) in failure_keys(again)
    assert "averaged over the batch" in failure.diagnosis
    assert failure.problem["x"][0] == 2  # the smallest batch that shows a batch mean
    assert failure.reproduce.splitlines()[:2] == ["import numpy as np", "import convgrad as cg"]
    assert "problem = cg.ConvProblem(x, w, None, grad_y, spec)" in failure.reproduce.splitlines()


def test_result_serialises_with_schema_version():
    def backward(x, w, grad_y, spec):
        return reference_grads(x, w, grad_y, spec, flip=not spec.flip)[:2]

    result = cg.verify(ref_forward, backward, max_examples=10, max_failures=1)
    data = json.loads(result.to_json())
    assert data["schema_version"] == VERIFY_SCHEMA_VERSION and data["ok"] is False
    assert data["failures"][0]["output"] == "grad_input"
    assert data["failures"][0]["bound_ratio"] == "Infinity"  # inf under an exact (zero) bound
    assert data["settings"]["max_examples"] == 10
    with pytest.raises(cg.VerificationError, match="FAILED") as info:
        result.raise_for_failures()
    assert isinstance(info.value, AssertionError)
    assert "grad_input" in str(result) and "reproduce:" in str(result)


def test_ok_result_does_not_raise_and_says_so():
    result = VerifyResult((), 3, ({"check": "value", "output": "forward", "ratio": 0.25},))
    result.raise_for_failures()
    assert str(result) == (
        "convgrad.verify: all checks passed on 3 problem(s); worst error/bound 0.25"
    )


def test_ok_result_reads_its_ratio_records_in_the_schemas_float_encoding():
    records = (
        {"check": "value", "output": "forward", "ratio": 0.25},
        {"check": "value", "output": "grad_input", "ratio": "Infinity"},
    )
    assert str(VerifyResult((), 2, records)) == (
        "convgrad.verify: all checks passed on 2 problem(s); worst error/bound inf"
    )


def test_to_html_hands_the_dict_to_the_report(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("convgrad.report")
    fake.render_html = lambda data, path: calls.append((data, path)) or path
    monkeypatch.setitem(sys.modules, "convgrad.report", fake)
    result = VerifyResult((), 1)
    assert result.to_html(tmp_path / "r.html") == tmp_path / "r.html"
    assert calls[0][0]["schema_version"] == VERIFY_SCHEMA_VERSION


def test_failure_to_dict_replaces_non_finite_numbers():
    f = Failure("exact", "forward", {}, (1,), (1,), 1.0, float("inf"), (0,), "m", "e", "r")
    assert f.to_dict()["bound_ratio"] == "Infinity" and f.to_dict()["index"] == [0]
