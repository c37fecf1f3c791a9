"""Comparing an implementation's results with a vector set: exact cases must match every element
(as float64 values, so -0.0 equals 0.0), float cases must be within the stored per-element bound,
with the error computed in exact rational arithmetic (no rounding in the comparison itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from convgrad.vectors.formats import FORMATS, FormatError, read_arrays
from convgrad.vectors.generate import OUTPUTS
from convgrad.vectors.reading import VectorCase, load
from convgrad.vectors.results import result_files


@dataclass(frozen=True)
class OutputCheck:
    """One output of one case. status: "ok", "mismatch", "shape" (wrong shape) or "missing".

    worst_error: max |got - expected|; worst_ratio: max error/bound (float cases);
    index: where the worst element is; mismatched: how many elements fail.
    """

    output: str
    status: str
    worst_error: float | None = None
    worst_ratio: float | None = None
    index: tuple[int, ...] | None = None
    mismatched: int = 0
    message: str = ""

    @property
    def passed(self) -> bool:
        """Whether the output matches."""
        return self.status == "ok"


@dataclass(frozen=True)
class CaseCheck:
    """One case: its outputs' checks, or a message when its results file is missing or bad."""

    id: str
    kind: str
    outputs: tuple[OutputCheck, ...]
    message: str = ""

    @property
    def passed(self) -> bool:
        """Whether every output matches."""
        return not self.message and all(o.passed for o in self.outputs)

    @property
    def worst_error(self) -> float | None:
        """The largest worst_error among the outputs."""
        errors = [o.worst_error for o in self.outputs if o.worst_error is not None]
        return max(errors) if errors else None


@dataclass(frozen=True)
class CheckReport:
    """Every case's check against one vector set; ``ok`` when all pass."""

    label: str
    results: Path
    cases: tuple[CaseCheck, ...]
    unknown: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Whether every case passed."""
        return all(c.passed for c in self.cases)

    @property
    def failed(self) -> tuple[str, ...]:
        """The ids of the failing cases, in set order."""
        return tuple(c.id for c in self.cases if not c.passed)

    def to_dict(self) -> dict:
        """A JSON-ready form."""
        return {
            "vectors": self.label,
            "results": str(self.results),
            "ok": self.ok,
            "failed": list(self.failed),
            "unknown_files": list(self.unknown),
            "cases": [
                {
                    "id": c.id,
                    "kind": c.kind,
                    "passed": c.passed,
                    "message": c.message,
                    "outputs": [o.__dict__ | {"passed": o.passed} for o in c.outputs],
                }
                for c in self.cases
            ],
        }

    def table(self) -> str:
        """A per-case table (case, kind, each output's status, result, worst error), then the
        details of every failure and a summary line."""
        width = max(len("case"), *(len(c.id) for c in self.cases))
        head = [
            "case".ljust(width),
            "kind ",
            *(o.ljust(11) for o in OUTPUTS),
            "result",
            "worst error",
        ]
        lines = [f"vectors {self.label}; results {self.results}", "  ".join(head)]
        details = []
        for c in self.cases:
            cells = {o.output: o.status for o in c.outputs}
            worst = "-" if c.worst_error is None else f"{c.worst_error:.3g}"
            ratios = [o.worst_ratio for o in c.outputs if o.worst_ratio is not None]
            if ratios:
                worst += f" ({max(ratios):.2g} of bound)"
            row = [
                c.id.ljust(width),
                c.kind.ljust(5),
                *(cells.get(o, "missing").ljust(11) for o in OUTPUTS),
                ("pass" if c.passed else "FAIL").ljust(6),
                worst,
            ]
            lines.append("  ".join(row).rstrip())
            if c.message:
                details.append(f"{c.id}: {c.message}")
            details += [f"{c.id}: {o.output}: {o.message}" for o in c.outputs if not o.passed]
        if self.unknown:
            details.append(f"files matching no case (ignored): {', '.join(self.unknown)}")
        failed = self.failed
        summary = f"{len(self.cases)} cases: {len(self.cases) - len(failed)} passed"
        summary += f", {len(failed)} failed ({', '.join(failed)})" if failed else ", 0 failed"
        return "\n".join([*lines, *details, summary])


def _errors(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected| in float64, NaN counted as infinite."""
    with np.errstate(invalid="ignore", over="ignore"):
        errors = np.abs(got - expected)
    return np.where(np.isnan(errors), np.inf, errors)


def _beyond_bound(got: np.ndarray, expected: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """``|got - expected| > bound`` decided in exact rationals (every finite float64 is one), so
    the rounding of a float64 subtraction cannot let an error slip under its bound."""
    flags = [
        not np.isfinite(g) or abs(Fraction(g) - Fraction(e)) > Fraction(b)
        for g, e, b in zip(got.flat, expected.flat, bound.flat, strict=True)
    ]
    return np.array(flags, dtype=bool).reshape(got.shape)


def _compare(name: str, got: np.ndarray, expected: np.ndarray, bound: np.ndarray | None):
    """Exact equality (bound None) or the elementwise bound; the worst element and a message."""
    if got.shape != expected.shape:
        return OutputCheck(name, "shape", message=f"shape {got.shape}, expected {expected.shape}")
    errors = _errors(got, expected)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(errors)), errors.shape))
    worst_error = float(errors[worst])
    if bound is None:
        failing, worst_ratio = got != expected, None
    else:
        failing = _beyond_bound(got, expected, bound)
        with np.errstate(divide="ignore", invalid="ignore"):
            worst_ratio = float(np.max(np.where(errors == 0, 0.0, errors / bound), initial=0.0))
    count = int(np.count_nonzero(failing))
    if not count:
        return OutputCheck(name, "ok", worst_error, worst_ratio, worst)
    first = tuple(int(i) for i in np.argwhere(failing)[0])
    rule = "differ" if bound is None else "differ beyond their bound"
    message = (
        f"{count} of {got.size} elements {rule}; first at {list(first)}: got"
        f" {float(got[first])!r}, expected {float(expected[first])!r}"
        + ("" if bound is None else f", bound {float(bound[first]):.3g}")
        + f"; worst error {worst_error:.3g} at {list(worst)}"
    )
    return OutputCheck(name, "mismatch", worst_error, worst_ratio, worst, count, message)


def check_case(case: VectorCase, results: Path) -> CaseCheck:
    """Compare one case with its results file in the folder ``results``; a file that cannot
    be read (malformed, or declaring more values than the case's outputs hold) fails the case
    with a message naming it."""
    found = result_files(results, case.id)
    if not found:
        names = " or ".join(f"{case.id}.{ext}" for ext in FORMATS)
        return CaseCheck(case.id, case.kind, (), f"results file missing: {results / names}")
    if len(found) > 1:
        return CaseCheck(
            case.id, case.kind, (), f"several results files: {[p.name for p in found]}; keep one"
        )
    try:
        # Each output may hold as many values as its expected array, checked before reading.
        arrays = read_arrays(found[0], {name: case.arrays[name].size for name in OUTPUTS})
    except FormatError as error:
        return CaseCheck(case.id, case.kind, (), str(error))
    checks = []
    for name in OUTPUTS:
        if name not in arrays:
            checks.append(OutputCheck(name, "missing", message=f"{found[0].name} has no {name!r}"))
            continue
        bound = case.arrays[f"{name}_bound"] if case.kind == "float" else None
        checks.append(_compare(name, arrays[name], case.arrays[name], bound))
    return CaseCheck(case.id, case.kind, tuple(checks))


def check(vectors: str | Path, results: str | Path) -> CheckReport:
    """Check the results folder ``results`` against the vector set in ``vectors``.

    VectorsError (a ValueError) when the vector set is unreadable or tampered with, ValueError
    when ``results`` is not a folder; a missing or malformed results file fails its case.
    """
    vector_set = load(vectors)
    results = Path(results)
    if not results.is_dir():
        raise ValueError(f"results={str(results)!r} is not a folder of results files")
    ids = {c.id for c in vector_set.cases}
    unknown = tuple(
        sorted(
            p.name
            for p in results.iterdir()
            if p.suffix.lstrip(".") in FORMATS and p.stem not in ids
        )
    )
    return CheckReport(
        vector_set.label,
        results,
        tuple(check_case(case, results) for case in vector_set.cases),
        unknown,
    )
