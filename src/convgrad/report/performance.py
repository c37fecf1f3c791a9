"""The benchmark's results for the report's Performance section.

``python -m benchmarks.run`` writes ``reports/bench.json`` (``schema_version`` 1). `load_bench`
reads and validates one and keeps the parts the page shows; they go into ``report.json`` under
``performance`` as ``{"source": path, "bench": {...}}`` (``null`` when no file was found):

- ``schema_version``, ``date`` (UTC), ``command``;
- ``machine``: ``cpu``, ``cores`` (null when unknown), ``threads``, ``python``, ``numpy``,
  ``torch``, and optionally ``blas`` (``library``: the BLAS and its kernel; ``threads``: per
  BLAS library; ``dropped_env``: the variables the benchmark removed to let it pick that
  kernel, name -> value; files written before it was recorded have none);
  ``load_average_before``, ``load_average_after``; ``peak_gflops`` (float64 GEMM);
- ``speed``: ``rows`` (per layer and dtype: ``layer``, ``dtype``, ``ours_ms``, ``torch_ms``,
  ``ratio``, ``best_ratio``, ``spread``, ``gflops``, ``peak_fraction``, ``large``),
  ``geomean`` and ``best_geomean`` (per dtype);
- ``targets``: ``target``, ``ratio``, ``limit`` (null: an aim, not a limit), ``inputs``, ``met``
  (null exactly when ``limit`` is).

`performance_view` derives what the template needs besides: the load warning (the benchmark's
own rule), the version differences from the report's run, and the plot's reference lines (1 and
the limits the file's targets state). Every number shown comes from the file; the only one
derived is the load threshold, half the cores, as benchmarks/run.py computes it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

BENCH_SCHEMA_VERSION = 1
BENCH_NAME = "bench.json"
BENCH_COMMAND = "python -m benchmarks.run"
LOAD_FRACTION = 0.5
"""benchmarks/run.py's warning rule: the larger load average above half the cores."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# Each field: (rule for the message, test).
_STR = ("a string", lambda v: isinstance(v, str))
_NUMBER = ("a finite number", _is_number)
_INT = ("an integer >= 1", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1)
_OPTIONAL_INT = ("an integer >= 1 or null", lambda v: v is None or _INT[1](v))
_BOOL = ("true or false", lambda v: isinstance(v, bool))
_OPTIONAL_NUMBER = ("a finite number or null", lambda v: v is None or _is_number(v))
_OPTIONAL_BOOL = ("true, false or null", lambda v: v is None or isinstance(v, bool))

_TOP = {
    "date": _STR,
    "command": _STR,
    "load_average_before": _NUMBER,
    "load_average_after": _NUMBER,
    "peak_gflops": _NUMBER,
}
_MACHINE = {
    "cpu": _STR,
    "cores": _OPTIONAL_INT,
    "threads": _INT,
    "python": _STR,
    "numpy": _STR,
    "torch": _STR,
}
_BLAS = {
    "library": _STR,
    "threads": (
        "a list of integers >= 1",
        lambda v: isinstance(v, list) and all(_INT[1](n) for n in v),
    ),
    "dropped_env": (
        "an object of strings",
        lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    ),
}
_ROW = {
    "layer": _STR,
    "dtype": _STR,
    "ours_ms": _NUMBER,
    "torch_ms": _NUMBER,
    "ratio": _NUMBER,
    "best_ratio": _NUMBER,
    "spread": _NUMBER,
    "gflops": _NUMBER,
    "peak_fraction": _NUMBER,
    "large": _BOOL,
}
_TARGET = {
    "target": _STR,
    "ratio": _NUMBER,
    "limit": _OPTIONAL_NUMBER,
    "inputs": _STR,
    "met": _OPTIONAL_BOOL,
}
DTYPES = ("float64", "float32")


class _Reader:
    """Reads typed fields out of the parsed file; every error names the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, text: str) -> ValueError:
        return ValueError(f"bench file {str(self.path)!r}: {text}")

    def container(self, data, where: str, kind: type):
        if not isinstance(data, kind):
            noun = "an object" if kind is dict else "a list"
            raise self.error(f"{where} is {type(data).__name__}, expected {noun}")
        return data

    def get(self, data: dict, key: str, where: str):
        if key not in data:
            name = f"{where}.{key}" if where else key
            raise self.error(f"required key {name!r} is missing")
        return data[key]

    def fields(self, data, where: str, spec: dict[str, tuple[str, Callable]]) -> dict:
        self.container(data, where or "the top level", dict)
        found = {}
        for key, (rule, test) in spec.items():
            name = f"{where}.{key}" if where else key
            self.get(data, key, where)
            if not test(data[key]):
                raise self.error(f"{name}={data[key]!r} must be {rule}")
            found[key] = data[key]
        return found

    def by_dtype(self, data, where: str) -> dict:
        return self.fields(data, where, dict.fromkeys(DTYPES, _NUMBER))

    def rows(self, data, where: str, spec: dict) -> list[dict]:
        self.container(data, where, list)
        if not data:
            raise self.error(f"{where} is empty")
        return [self.fields(row, f"{where}[{j}]", spec) for j, row in enumerate(data)]


def _parse(path: Path, data) -> dict:
    reader = _Reader(path)
    reader.container(data, "the top level", dict)
    if "schema_version" not in data:
        raise reader.error(
            f"no schema_version: not a benchmark result of {BENCH_COMMAND} (keys"
            f" {sorted(data)[:6]})"
        )
    version = data["schema_version"]
    if version != BENCH_SCHEMA_VERSION or isinstance(version, bool):
        raise reader.error(
            f"schema_version={version!r}; this convgrad reads version {BENCH_SCHEMA_VERSION}"
        )
    bench = {"schema_version": version, **reader.fields(data, "", _TOP)}
    machine = reader.get(data, "machine", "")
    bench["machine"] = reader.fields(machine, "machine", _MACHINE)
    if "blas" in machine:
        bench["machine"]["blas"] = reader.fields(machine["blas"], "machine.blas", _BLAS)
    speed = reader.container(reader.get(data, "speed", ""), "speed", dict)
    bench["speed"] = {
        "rows": reader.rows(reader.get(speed, "rows", "speed"), "speed.rows", _ROW),
        "geomean": reader.by_dtype(reader.get(speed, "geomean", "speed"), "speed.geomean"),
        "best_geomean": reader.by_dtype(
            reader.get(speed, "best_geomean", "speed"), "speed.best_geomean"
        ),
    }
    bench["targets"] = reader.rows(reader.get(data, "targets", ""), "targets", _TARGET)
    for j, row in enumerate(bench["targets"]):
        if (row["limit"] is None) != (row["met"] is None):
            raise reader.error(
                f"targets[{j}] has limit={row['limit']!r} and met={row['met']!r}: met must be"
                " null exactly when limit is"
            )
    return bench


def load_bench(path: str | os.PathLike) -> dict:
    """The validated contents of a ``bench.json`` written by ``python -m benchmarks.run``: the
    keys listed in this module's docstring, nothing else.

    ValueError (one line, naming the file and what is wrong) for a missing file, a folder, a
    file that is not UTF-8 JSON, another schema version, a missing key or a value of the wrong
    type; TypeError for a path that is not str or PathLike.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path={path!r} must be a str or os.PathLike")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"bench file {str(path)!r} is a folder; give the bench.json file")
    if not path.exists():
        raise ValueError(
            f"bench file {str(path)!r} does not exist; {BENCH_COMMAND} --json {path} writes it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"bench file {str(path)!r} is not UTF-8 text ({err.reason})") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"bench file {str(path)!r} is not JSON ({err})") from err
    return _parse(path, data)


def load_performance(path: str | os.PathLike, *, required: bool) -> dict | None:
    """report.json's ``performance``: ``{"source": path, "bench": load_bench(path)}``; None
    when the file does not exist and is not ``required`` (the default location)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"bench={path!r} must be a str or os.PathLike")
    if not required and not Path(path).exists():
        return None
    return {"source": str(path), "bench": load_bench(path)}


def _lines(targets: list[dict]) -> dict[float, str]:
    """The plot's reference lines: 1 (torch's time) and each dtype's geomean limit, read from
    the targets named "speed <dtype> ..." (lines at one position share a label)."""
    labels: dict[float, list[str]] = {1.0: ["1 = torch's time"]}
    for row in targets:
        for dtype in DTYPES:
            if row["target"].startswith(f"speed {dtype}") and row["limit"] is not None:
                limit = float(row["limit"])
                labels.setdefault(limit, []).append(f"{dtype} geomean limit {limit:g}")
    return {x: "; ".join(names) for x, names in labels.items()}


def _version_notes(machine: dict, meta: dict) -> list[str]:
    notes = []
    for key, label in (("python", "Python"), ("numpy", "NumPy"), ("torch", "PyTorch")):
        ran = meta.get(key)
        if ran is not None and ran != machine[key]:
            notes.append(f"{label} {machine[key]} (this report ran {label} {ran})")
    return notes


def performance_view(performance: dict | None, meta: dict) -> dict | None:
    """What the template shows beside the file's values: ``load`` (the load average before the
    run — the one after counts the benchmark's own threads —, the cores, whether it exceeds
    `LOAD_FRACTION` of them), ``lines`` (the plot's reference
    lines, x -> label) and ``version_notes`` (the benchmark's versions that differ from the
    report's ``meta``)."""
    if performance is None:
        return None
    bench = performance["bench"]
    machine = bench["machine"]
    busy = bench["load_average_before"]
    cores = machine["cores"] or 1
    return {
        **performance,
        "load": {"max": busy, "cores": cores, "high": busy > LOAD_FRACTION * cores},
        "lines": _lines(bench["targets"]),
        "version_notes": _version_notes(machine, meta),
    }


__all__ = [
    "BENCH_COMMAND",
    "BENCH_NAME",
    "BENCH_SCHEMA_VERSION",
    "DTYPES",
    "LOAD_FRACTION",
    "load_bench",
    "load_performance",
    "performance_view",
]
