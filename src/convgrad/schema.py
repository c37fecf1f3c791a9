"""The JSON layouts shared by verify's results, the report's sweep and the report model: output
and source names, record builders, and one encoding of non-finite floats.

JSON has no infinity or NaN, and every file convgrad writes is strict JSON: a non-finite float
is written as the string "Infinity", "-Infinity" or "NaN" (`json_float`) and read back with
`read_float`. A record is a plain dict so that pages and tools never parse convgrad's text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

OUTPUTS = ("forward", "grad_input", "grad_weight", "grad_bias")
"""The four results of a convolution layer under test, in this order everywhere."""

SOURCES = {
    "torch.autograd": "PyTorch conv{1,2,3}d (padded by F.pad in the padding mode) and"
    " conv_transpose{1,2,3}d, and autograd, in the data's dtype vs the reference,"
    " within the rigorous error bound (bit-exact on integer data)",
    "direct vs fast": "the reference's definition-by-summation vs its BLAS arithmetic, within"
    " the error bound",
    "adjoint identity": "<conv(x, w), g> = <x, grad_input(g)> = <w, grad_weight(g)> for the"
    " reference's own forward and backward",
    "finite differences": "central difference of the reference's forward along a random"
    " direction vs its gradient (exact on integer data)",
    "exact integer": "int64 and Python-int (object) reference arithmetic vs torch float64 and"
    " vs each other on integer data, bit for bit",
    "invariants": "shape, dtype, finiteness, linearity, determinism, no mutation of the inputs",
}
"""The evidence sources of the report's sweep (`convgrad.report.sweep`): a record's ``source``,
with what it compares."""

VERIFY_SOURCES = {
    "value": "error bound vs reference",
    "exact": "exact vs reference",
    "adjoint": "adjoint identity",
    "finite_difference": "finite differences",
    "linearity": "invariants",
}
"""The source a verify result's ratio or failure is counted under in a report, by its check
(other checks count under their own name)."""

VERIFY_SCHEMA_VERSION = 2
"""Version of `convgrad.VerifyResult.to_dict`; bumped on any incompatible change
(2: a failure's ``explanation`` is now ``diagnosis``; non-finite floats as strings)."""

REPORT_SCHEMA = "convgrad-report"
REPORT_SCHEMA_VERSION = 2
"""Version of ``report.json`` (2: a failure's ``explanation`` is now ``diagnosis``)."""

_NON_FINITE = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


def json_float(value: float | None) -> float | str | None:
    """``value`` for strict JSON: None and finite floats as they are, inf / -inf / NaN as the
    strings "Infinity" / "-Infinity" / "NaN"."""
    if value is None:
        return None
    value = float(value)
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def read_float(value: float | int | str | None) -> float | None:
    """The inverse of `json_float` (ValueError for any other string)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in _NON_FINITE:
            raise ValueError(f"value={value!r} is not a number nor one of {sorted(_NON_FINITE)}")
        return _NON_FINITE[value]
    return float(value)


def json_shape(shape: Sequence[int] | None) -> list[int] | None:
    """A shape (or index) tuple as a JSON list of ints; None stays None."""
    return None if shape is None else [int(n) for n in shape]


def json_value(value: object) -> object:
    """A settings value as plain JSON types: tuples as lists, NumPy scalars as Python ones
    (``stride=np.int64(1)``), dtypes by name; other values unchanged."""
    if isinstance(value, (tuple, list)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype):
        return value.name
    return value


def problem_record(
    problem_id: str, description: dict, *, mode: str, data: str, seed_case: bool = False
) -> dict:
    """A problem as the report lists it: its id, rank, mode, data kind, the shapes of every
    operand and result, dtype and resolved spec.

    description: `convgrad.ConvProblem.describe` (keys x, w, y, dtype, spec); mode: the padding
    mode as the report groups it ("explicit" for explicit pads); data: the data kind.
    """
    d = description
    return {
        "id": problem_id,
        "ndim": len(d["x"]) - 2,
        "mode": mode,
        "data": data,
        "seed_case": seed_case,
        "x": d["x"],
        "w": d["w"],
        "y": d["y"],
        "grad_input": d["x"],
        "grad_weight": d["w"],
        "grad_bias": [d["w"][0]],
        "dtype": d["dtype"],
        "spec": d["spec"],
    }


def _problem_shapes(description: dict) -> dict:
    d = description
    return {"x": d["x"], "w": d["w"], "y": d["y"], "dtype": d["dtype"], "spec": d["spec"]}


def ratio_record(check: str, output: str, ratio: float, description: dict) -> dict:
    """A passing value comparison's error/bound ratio as `convgrad.VerifyResult.ratios` holds
    it: ``{check, output, ratio, x, w, y, dtype, spec}`` (description: the problem's
    `convgrad.ConvProblem.describe`; the ratio through `json_float`)."""
    return {
        "check": check,
        "output": output,
        "ratio": json_float(ratio),
        **_problem_shapes(description),
    }


def note_record(check: str, output: str, message: str, description: dict) -> dict:
    """A passing check with something to say, as `convgrad.VerifyResult.notes` holds it:
    ``{check, output, message, x, w, y, dtype, spec}``."""
    return {"check": check, "output": output, "message": message, **_problem_shapes(description)}


def check_record(
    problem_id: str,
    source: str,
    check: str,
    output: str,
    *,
    passed: bool,
    ratio: float | str | None,
    abs_error: float | str | None,
    rel_error: float | str | None = None,
    message: str = "",
) -> dict:
    """One check's outcome on one problem as the report counts it (floats through
    `json_float`, so a record is strict JSON)."""
    return {
        "problem": problem_id,
        "source": source,
        "check": check,
        "output": output,
        "passed": bool(passed),
        "ratio": json_float(read_float(ratio)),
        "abs_error": json_float(read_float(abs_error)),
        "rel_error": json_float(read_float(rel_error)),
        "message": message,
    }


def failure_record(record: dict, *, diagnosis: str, reproduce: str, **extra: object) -> dict:
    """A failed `check_record` as the report's failure list shows it: with the diagnosis (why)
    and the command or snippet that reproduces it; ``extra`` keys (e.g. the pytest test) join."""
    keys = ("problem", "source", "check", "output", "ratio", "abs_error", "message")
    return {
        **{key: record[key] for key in keys},
        "diagnosis": diagnosis,
        "reproduce": reproduce,
        **extra,
    }


__all__ = [
    "OUTPUTS",
    "REPORT_SCHEMA",
    "REPORT_SCHEMA_VERSION",
    "SOURCES",
    "VERIFY_SCHEMA_VERSION",
    "VERIFY_SOURCES",
    "check_record",
    "failure_record",
    "json_float",
    "json_shape",
    "json_value",
    "note_record",
    "problem_record",
    "ratio_record",
    "read_float",
]
