"""The report's data: ``report.json`` for a sweep, and the page's view of any result dict.

`build_report` assembles the sweep's problems and records into the ``report.json`` layout
(schema `convgrad.schema.REPORT_SCHEMA`, its version; the optional ``performance`` key holds the
benchmark's results, `convgrad.report.performance`, or null). `as_report` turns that, a
`convgrad.VerifyResult.to_dict` or a pytest ``--convgrad-report`` session into what the
template shows: the summary, the shape table, the accuracy tables and the failures. Pages
never parse their own text: every number comes from these dicts.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from convgrad.schema import (
    OUTPUTS,
    REPORT_SCHEMA,
    REPORT_SCHEMA_VERSION,
    SOURCES,
    VERIFY_SOURCES,
    check_record,
    failure_record,
    problem_record,
    read_float,
)
from convgrad.verification import causes

WORST_SHOWN = 12

# Per spatial dim: I input, K kernel, lo/hi pads, s stride, d dilation (docs/design.md "Output size"
# and "Padding modes"; Dumoulin & Visin, arXiv 1603.07285, relationships 1-6 and 15).
SHAPE_FORMS = {
    "valid": {
        "pads": "lo = hi = 0",
        "simple": "I − K + 1",
        "general": "⌊(I − d(K−1) − 1) / s⌋ + 1",
    },
    "same": {
        "pads": "T = max((⌈I/s⌉−1)·s + d(K−1) + 1 − I, 0); lo = ⌊T/2⌋, hi = T − lo",
        "simple": "I",
        "general": "⌈I / s⌉",
    },
    "same_lower": {
        "pads": "T as for same; lo = T − ⌊T/2⌋, hi = ⌊T/2⌋",
        "simple": "I",
        "general": "⌈I / s⌉",
    },
    "full": {
        "pads": "lo = hi = d(K−1)",
        "simple": "I + K − 1",
        "general": "⌊(I + d(K−1) − 1) / s⌋ + 1",
    },
    "explicit": {
        "pads": "lo, hi as given",
        "simple": "I + lo + hi − K + 1",
        "general": "⌊(I + lo + hi − d(K−1) − 1) / s⌋ + 1",
    },
}
GRADIENT_FORMS = {
    "forward": "(N, C_out, O…)",
    "grad_input": "(N, C_in, I…) — x's shape",
    "grad_weight": "(C_out, C_in/g, K…) — w's shape",
    "grad_bias": "(C_out,)",
}


def _general_output(mode: str, i: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    """The ``general`` column of `SHAPE_FORMS`, evaluated; the page checks it against the
    output sizes the reference produced."""
    if mode in ("same", "same_lower"):
        return -(-i // s)
    if mode == "full":
        return (i + d * (k - 1) - 1) // s + 1
    if mode == "valid":
        lo = hi = 0
    return (i + lo + hi - d * (k - 1) - 1) // s + 1


def shape_table(problems: Sequence[dict]) -> list[dict]:
    """One row per padding mode that occurs: its symbolic forms and how many checked problems
    (and spatial dims) agree with the ``general`` form."""
    rows = []
    for mode, forms in SHAPE_FORMS.items():
        chosen = [p for p in problems if p["spec"]["mode"] == mode]
        if not chosen:
            continue
        dims = agree = 0
        for p in chosen:
            spec = p["spec"]
            for j, (i, k, o) in enumerate(zip(p["x"][2:], p["w"][2:], p["y"][2:], strict=True)):
                lo, hi = spec["padding"][j]
                dims += 1
                s, d = spec["stride"][j], spec["dilation"][j]
                agree += _general_output(mode, i, k, s, d, lo, hi) == o
        rows.append({"mode": mode, **forms, "problems": len(chosen), "dims": dims, "agree": agree})
    return rows


def _count(records: Sequence[dict], key: str, order: Sequence[str]) -> list[dict]:
    names = [n for n in order if any(r[key] == n for r in records)]
    names += sorted({r[key] for r in records} - set(names))
    return [
        {
            "name": name,
            "passed": sum(r["passed"] for r in records if r[key] == name),
            "failed": sum(not r["passed"] for r in records if r[key] == name),
        }
        for name in names
    ]


def accuracy(records: Sequence[dict]) -> list[dict]:
    """Per output and source, the error/bound ratios of the comparisons that have one: count,
    how many were exactly 0, median and max ratio, max abs and max rel error, and the problem
    of the worst ratio."""
    rows = []
    sources = [s for s in SOURCES if any(r["source"] == s for r in records)]
    sources += sorted({r["source"] for r in records} - set(sources))
    for output in OUTPUTS:
        for source in sources:
            chosen = [
                r
                for r in records
                if r["output"] == output and r["source"] == source and r["ratio"] is not None
            ]
            if not chosen:
                continue
            ratios = [read_float(r["ratio"]) for r in chosen]
            worst = max(range(len(chosen)), key=lambda j: ratios[j])
            errors = [read_float(r.get("abs_error")) for r in chosen]
            relative = [read_float(r.get("rel_error")) for r in chosen]
            rows.append(
                {
                    "output": output,
                    "source": source,
                    "count": len(chosen),
                    "exact": sum(q == 0 for q in ratios),
                    "median_ratio": statistics.median(ratios),
                    "max_ratio": ratios[worst],
                    "max_abs": max((e for e in errors if e is not None), default=None),
                    "max_rel": max((e for e in relative if e is not None), default=None),
                    "worst_problem": chosen[worst]["problem"],
                }
            )
    return rows


def worst_cases(records: Sequence[dict], problems: Sequence[dict], limit: int = WORST_SHOWN):
    """The records of largest error/bound ratio (ratio > 0), with their problem's shapes."""
    by_id = {p["id"]: p for p in problems}
    rated = [r for r in records if r["ratio"] is not None and read_float(r["ratio"]) > 0]
    rated.sort(key=lambda r: read_float(r["ratio"]), reverse=True)
    return [{**r, "case": by_id.get(r["problem"])} for r in rated[:limit]]


def _reproduce(meta: dict, problem: str) -> str:
    return (
        f"convgrad report --profile {meta.get('profile', 'quick')} --seed {meta.get('seed', 0)}"
        f" --case {problem}"
    )


def build_report(
    problems: list[dict], records: list[dict], meta: dict, performance: dict | None = None
) -> dict:
    """The ``report.json`` of a sweep (`convgrad.report.sweep.run_sweep`'s problems and records;
    meta: versions, seed, profile, date, command, seconds; performance:
    `convgrad.report.performance.load_performance`'s dict, or None when there is no bench
    file)."""
    failures = [
        failure_record(
            r,
            diagnosis=(
                f"The reference and the evidence of {r['source']} ({SOURCES.get(r['source'], '')})"
                f" disagree on {r['output']}; the {r['check']} check failed. The case's shapes"
                " and spec are listed with it; the command below re-runs this case alone."
            ),
            reproduce=_reproduce(meta, r["problem"]),
        )
        for r in records
        if not r["passed"]
    ]
    return {
        "schema": REPORT_SCHEMA,
        "schema_version": REPORT_SCHEMA_VERSION,
        "kind": "sweep",
        "ok": not failures,
        "meta": meta,
        "sources": dict(SOURCES),
        "summary": {
            "problems": len(problems),
            "checks": len(records),
            "failed": len(failures),
            "by_source": _count(records, "source", list(SOURCES)),
            "by_check": _count(records, "check", ()),
        },
        "shape_table": shape_table(problems),
        "accuracy": accuracy(records),
        "failures": failures,
        "performance": performance,
        "problems": problems,
        "records": records,
    }


def _problem_key(p: dict) -> str:
    return repr((p["x"], p["w"], p["y"], p["dtype"], p["spec"]))


def _from_runs(runs: Sequence[dict], meta: dict, kind: str) -> dict:
    """A report dict (as `build_report`'s) from verify results: problems from the ratios and the
    failures, one record per ratio and per failure; each run's capability table
    (``capabilities``: ``{test, rows}``) and its failures grouped by cause (``causes``:
    `convgrad.verification.causes.group` records with ``test``, ``failures`` numbered from 1
    over the report's failure list)."""
    problems: dict[str, dict] = {}

    def problem_id(p: dict) -> str:
        key = _problem_key(p)
        if key not in problems:
            problem_id = f"V{len(problems) + 1:04d}"
            problems[key] = problem_record(problem_id, p, mode=p["spec"]["mode"], data=p["dtype"])
        return problems[key]["id"]

    records, failures, capabilities, grouped, notes = [], [], [], [], []
    for run in runs:
        notes += [{**n, "test": run.get("test")} for n in run.get("notes", ())]
        if run.get("capabilities"):
            capabilities.append({"test": run.get("test"), "rows": run["capabilities"]})
        first = len(failures)
        for cause in causes.group(run.get("failures", ())):
            numbers = [first + j + 1 for j in cause["failures"]]
            grouped.append({"test": run.get("test"), **cause, "failures": numbers})
        for r in run.get("ratios", ()):
            records.append(
                check_record(
                    problem_id(r),
                    VERIFY_SOURCES.get(r["check"], r["check"]),
                    r["check"],
                    r["output"],
                    passed=True,
                    ratio=r["ratio"],
                    abs_error=None,
                )
            )
        for f in run.get("failures", ()):
            record = check_record(
                problem_id(f["problem"]),
                VERIFY_SOURCES.get(f["check"], f["check"]),
                f["check"],
                f["output"],
                passed=False,
                ratio=f.get("bound_ratio"),
                abs_error=f.get("worst_error"),
                message=f.get("message", ""),
            )
            records.append(record)
            failures.append(
                failure_record(
                    record,
                    diagnosis=f.get("diagnosis", ""),
                    reproduce=f.get("reproduce", ""),
                    test=run.get("test"),
                )
            )
    problem_list = list(problems.values())
    return {
        "schema": REPORT_SCHEMA,
        "schema_version": REPORT_SCHEMA_VERSION,
        "kind": kind,
        "ok": all(run.get("ok", not run.get("failures")) for run in runs),
        "meta": meta,
        "sources": {},
        "summary": {
            "problems": sum(int(run.get("examples", 0)) for run in runs),
            "checks": len(records),
            "failed": len(failures),
            "by_source": _count(records, "source", list(VERIFY_SOURCES.values())),
            "by_check": _count(records, "check", ()),
        },
        "shape_table": shape_table(problem_list),
        "accuracy": accuracy(records),
        "capabilities": capabilities,
        "causes": grouped,
        "failures": failures,
        "notes": notes,
        "problems": problem_list,
        "records": records,
        "runs": []
        if kind != "pytest-session"
        else [
            {
                "test": run.get("test", ""),
                "kind": run.get("kind", "verify"),
                "ok": run.get("ok", not run.get("failures")),
                "examples": run.get("examples", 0),
                "failures": len(run.get("failures", ())),
            }
            for run in runs
        ],
    }


def as_report(data: dict) -> dict:
    """Any result dict as a report dict: a sweep's ``report.json`` as it is; a
    `convgrad.VerifyResult.to_dict` or a pytest ``--convgrad-report`` session converted.

    TypeError unless ``data`` is a dict; ValueError when it is none of these layouts.
    """
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict (a result's to_dict()), got {type(data).__name__}")
    if data.get("schema") == REPORT_SCHEMA:
        if data.get("schema_version") != REPORT_SCHEMA_VERSION:
            raise ValueError(
                f"data has schema_version={data.get('schema_version')!r}; this convgrad renders"
                f" version {REPORT_SCHEMA_VERSION}"
            )
        return data
    if data.get("kind") == "pytest-session" and isinstance(data.get("records"), list):
        meta = {"convgrad": data.get("version"), "command": "pytest --convgrad-report"}
        return _from_runs(data["records"], meta, "pytest-session")
    if "failures" in data and "ok" in data:
        settings = data.get("settings", {})
        meta = {"settings": settings, "command": None}
        return _from_runs([data], meta, "verify")
    raise ValueError(
        "data is not a convgrad result: expected a report.json (schema"
        f" {REPORT_SCHEMA!r}), a VerifyResult.to_dict() (keys 'ok' and 'failures') or a pytest"
        f" --convgrad-report session (kind 'pytest-session'); got keys {sorted(data)[:8]}"
    )
