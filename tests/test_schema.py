"""The shared JSON layouts: one encoding of non-finite floats, and the record builders the
sweep, the report model and verify's results use."""

import json
import math

import numpy as np
import pytest

import convgrad as cg
from convgrad.schema import (
    OUTPUTS,
    SOURCES,
    VERIFY_SOURCES,
    check_record,
    failure_record,
    json_float,
    json_shape,
    note_record,
    problem_record,
    ratio_record,
    read_float,
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(None, None), (0.5, 0.5), (3, 3.0), (math.inf, "Infinity"), (-math.inf, "-Infinity")],
)
def test_json_float_round_trips(value, encoded):
    assert json_float(value) == encoded
    assert read_float(encoded) == (None if value is None else float(value))


def test_nan_is_written_as_a_string_and_read_back_as_nan():
    assert json_float(float("nan")) == "NaN"
    assert math.isnan(read_float("NaN"))


def test_read_float_refuses_other_strings():
    with pytest.raises(ValueError, match="value='inf' is not a number"):
        read_float("inf")


def test_json_shape_lists_ints():
    assert json_shape((np.int64(2), 3)) == [2, 3]
    assert json_shape(None) is None


def test_records_are_strict_json_and_carry_every_field():
    record = check_record(
        "P0001",
        "torch.autograd",
        "value",
        "grad_input",
        passed=False,
        ratio=math.inf,
        abs_error=2.0,
        rel_error="Infinity",
        message="too far",
    )
    assert record == {
        "problem": "P0001",
        "source": "torch.autograd",
        "check": "value",
        "output": "grad_input",
        "passed": False,
        "ratio": "Infinity",
        "abs_error": 2.0,
        "rel_error": "Infinity",
        "message": "too far",
    }
    failure = failure_record(record, diagnosis="why", reproduce="how", test="t::x")
    assert failure["diagnosis"] == "why" and failure["reproduce"] == "how"
    assert failure["test"] == "t::x" and "passed" not in failure
    json.dumps([record, failure], allow_nan=False)


def test_problem_record_lists_every_operand_and_result_shape():
    x, w = np.ones((2, 4, 5, 6)), np.ones((6, 2, 3, 3))
    y_shape = cg.output_shape(x.shape, w.shape, padding="same", groups=2)
    spec = cg.ConvSpec(padding="same", groups=2)
    problem = cg.ConvProblem(x, w, None, np.ones(y_shape), spec)
    record = problem_record("V0001", problem.describe(), mode="same", data="float64")
    assert record["ndim"] == 2 and record["seed_case"] is False
    assert record["y"] == list(y_shape) and record["grad_input"] == [2, 4, 5, 6]
    assert record["grad_weight"] == [6, 2, 3, 3] and record["grad_bias"] == [6]
    assert record["spec"]["padding"] == [[1, 1], [1, 1]]


def test_ratio_and_note_records_carry_the_problems_shapes_and_spec():
    x, w = np.ones((1, 2, 5)), np.ones((3, 2, 2))
    problem = cg.ConvProblem(x, w, None, np.ones((1, 3, 4)), cg.ConvSpec())
    shapes = {"x": [1, 2, 5], "w": [3, 2, 2], "y": [1, 3, 4], "dtype": "float64"}
    ratio = ratio_record("value", "grad_weight", math.inf, problem.describe())
    assert {k: ratio[k] for k in ("check", "output", "ratio", *shapes)} == {
        "check": "value",
        "output": "grad_weight",
        "ratio": "Infinity",
        **shapes,
    }
    note = note_record("determinism", "forward", "differs", problem.describe())
    assert note["message"] == "differs" and note["spec"] == ratio["spec"]
    assert set(note) == {"check", "output", "message", "x", "w", "y", "dtype", "spec"}
    json.dumps([ratio, note], allow_nan=False)


def test_verify_results_ratios_are_built_by_the_schema():
    def forward(x, w, spec):
        return cg.conv(x, w, padding=spec.padding, stride=spec.stride, dilation=spec.dilation)

    rng = np.random.default_rng(0)
    x, w, grad_y = rng.normal(size=(1, 1, 4)), rng.normal(size=(1, 1, 2)), np.ones((1, 1, 3))
    problem = cg.ConvProblem(x, w, None, grad_y, cg.ConvSpec())
    result = cg.verify(forward, problems=[problem])
    assert result.ok and {r["output"] for r in result.ratios} == {"forward"}
    for r in result.ratios:
        assert r == ratio_record(r["check"], "forward", read_float(r["ratio"]), problem.describe())


def test_outputs_are_the_four_results_in_order():
    assert OUTPUTS == ("forward", "grad_input", "grad_weight", "grad_bias")


def test_the_sweep_and_the_model_count_records_under_the_schemas_source_names():
    from convgrad.report import model, sweep

    assert model.SOURCES is SOURCES and not hasattr(sweep, "SOURCES")
    assert model.VERIFY_SOURCES is VERIFY_SOURCES
    assert VERIFY_SOURCES["value"] == "error bound vs reference"
    assert {"torch.autograd", "direct vs fast", "invariants"} <= set(SOURCES)
