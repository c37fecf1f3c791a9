"""HTML reports: the verified reference (`write_report`, ``convgrad report``) and any verify
result (`render_html`, used by `convgrad.VerifyResult.to_html`, ``convgrad verify --html`` and the
pytest plugin's ``--convgrad-report``).

Needs the ``report`` extra (Jinja2, matplotlib): ``pip install 'convgrad[report]'``.

Modules: `sweep` (the default sweep's evidence), `model` (report.json and the page's view of any
result), `merge` (a sweep's shards joined), `performance` (the benchmark's section), `plots`
(inline SVG), `render` (the page), `audit_page` (the audit's page and JSON) and `atomic`
(writing files without losing anyone's).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from convgrad import sharding
from convgrad.report import atomic
from convgrad.report.merge import merge_sweeps
from convgrad.report.model import build_report
from convgrad.report.performance import BENCH_NAME, load_performance
from convgrad.report.render import render_html, render_page
from convgrad.report.sweep import (
    DATA,
    NDIMS,
    PROFILES,
    Case,
    default_cases,
    run_sweep,
    select_cases,
    versions,
)

HTML_NAME = "index.html"
JSON_NAME = "report.json"
_OWNERS = {JSON_NAME: atomic.is_result_json, HTML_NAME: atomic.is_page}
"""What may be replaced in a report folder: convgrad's own report.json and page."""


class ReportFiles(NamedTuple):
    """What `write_report` wrote: the page, the JSON and the report dict itself."""

    html: Path
    json: Path
    report: dict


def _command(
    profile: str,
    ndim: Sequence[int],
    dtype: Sequence[str],
    seed: int,
    cases: Sequence[str],
    out: Path,
    bench: str | os.PathLike | None,
    shard: sharding.Shard | None = None,
) -> str:
    parts = ["convgrad report", f"--out {out}", f"--profile {profile}"]
    if tuple(ndim) != NDIMS:
        parts.append("--ndim " + ",".join(map(str, ndim)))
    if tuple(dtype) != DATA:
        parts.append("--dtype " + ",".join(dtype))
    parts.append(f"--seed {seed}")
    parts += [f"--case {case}" for case in cases]
    if bench is not None:
        parts.append(f"--bench {bench}")
    if shard is not None:
        parts.append(f"--shard {shard}")
    return " ".join(parts)


def _write(out: Path, report: dict) -> ReportFiles:
    data = json.dumps(report, indent=1, allow_nan=False) + "\n"
    page = render_page(report, atomic.sha256_text(data))
    json_path, html_path = atomic.write_pair(out, {JSON_NAME: data, HTML_NAME: page}, _OWNERS)
    return ReportFiles(html_path, json_path, report)


def write_report(
    out: str | os.PathLike = "reports",
    *,
    profile: str = "quick",
    ndim: Sequence[int] = NDIMS,
    dtype: Sequence[str] = DATA,
    seed: int = 0,
    cases: Sequence[str] = (),
    bench: str | os.PathLike | None = None,
    shard: sharding.Shard | tuple[int, int] | str | None = None,
    progress: Callable[[int, int, Case], None] | None = None,
) -> ReportFiles:
    """Verify the reference over the default sweep and write ``out/index.html`` and
    ``out/report.json`` as one pair (`convgrad.report.atomic.write_pair`: concurrent runs take
    turns, a run killed mid-write is completed by the next; the page names report.json's
    SHA-256). Before the sweep, refuses a file that is not convgrad's in the way
    (FileExistsError; IsADirectoryError for a folder named index.html or report.json,
    NotADirectoryError when ``out`` is a file), writing nothing.

    profile: "quick" (about a minute on 2 cores) or "thorough" (the full product of the
    sweep's variants); ndim: spatial dims to keep (1, 2, 3); dtype: data kinds to keep
    ("float64", "float32", "integer"); seed: the data's seed (an int >= 0); cases: only these
    case ids (e.g. "P0017", as a failure's reproduce command names them); bench: the
    benchmark's results (``python -m benchmarks.run``) for the Performance section, validated
    before the sweep runs (ValueError for a bad or missing file); None: ``out/bench.json`` when
    it exists; shard: check only shard ``(i, n)`` of the selected cases (`convgrad.sharding`:
    case j goes to shard j % n + 1; ``meta["shard"]`` records it, and `write_merged_report`
    joins the n shards' report.json into the whole run's); progress: ``progress(done, total,
    case)`` before each case.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out={out!r} must be a str or os.PathLike")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed={seed!r} must be an int")
    if seed < 0:
        raise ValueError(f"seed={seed!r} must be >= 0")
    shard = None if shard is None else sharding.check_shard(shard)
    out = atomic.check_pair(out, _OWNERS)
    bench_path = out / BENCH_NAME if bench is None else bench
    performance = load_performance(bench_path, required=bench is not None)
    chosen = select_cases(default_cases(profile), ndim=ndim, data=dtype, ids=cases)
    if shard is not None:
        chosen = sharding.take(chosen, shard)
    problems, records, seconds = run_sweep(chosen, seed=seed, progress=progress)
    meta = {
        **versions(),
        "profile": profile,
        "seed": seed,
        "ndim": list(ndim),
        "dtype": list(dtype),
        "cases": list(cases),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(seconds, 2),
        "command": _command(profile, ndim, dtype, seed, cases, out, bench, shard),
        "bench": str(bench_path),
    }
    if shard is not None:
        meta["shard"] = shard.record()
    return _write(out, build_report(problems, records, meta, performance))


def write_merged_report(out: str | os.PathLike, shards: Sequence[tuple[str, dict]]) -> ReportFiles:
    """Join the report.json of every shard of one ``convgrad report --shard i/n`` run into
    the report of the whole run, written as `write_report` writes it into ``out``: the same
    problems, records, failures and tables as an unsharded run with the same settings
    (`convgrad.report.merge.merge_sweeps`; ``date`` is the last shard's, ``seconds`` their
    sum; the Performance section and ``meta["bench"]`` come from ``out/bench.json``).

    shards: ``(name, report dict)`` pairs (name: the file, for messages). ValueError naming
    the rule when they are not the complete set of one run (`convgrad.sharding`); the
    file errors of `write_report`.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out={out!r} must be a str or os.PathLike")
    out = atomic.check_pair(out, _OWNERS)
    report = merge_sweeps(shards)
    meta = report["meta"]
    bench_path = out / BENCH_NAME
    meta["command"] = _command(
        meta["profile"], meta["ndim"], meta["dtype"], meta["seed"], meta["cases"], out, None
    )
    meta["bench"] = str(bench_path)
    report["performance"] = load_performance(bench_path, required=False)
    return _write(out, report)


__all__ = [
    "DATA",
    "HTML_NAME",
    "JSON_NAME",
    "NDIMS",
    "PROFILES",
    "ReportFiles",
    "render_html",
    "write_merged_report",
    "write_report",
]
