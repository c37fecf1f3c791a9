"""HTML rendering: a report dict (`convgrad.report.model`) through the Jinja2 templates of
``templates/`` into one self-contained page (inline CSS, SVG and a few lines of script; no
network), written atomically."""

from __future__ import annotations

import math
import os
from pathlib import Path

from convgrad.report import atomic
from convgrad.report.model import GRADIENT_FORMS, as_report, worst_cases
from convgrad.report.performance import BENCH_COMMAND, BENCH_NAME, performance_view
from convgrad.report.plots import ratio_bars, strip_plot
from convgrad.schema import OUTPUTS, read_float

_TITLES = {
    "sweep": "convgrad report: the reference verified",
    "verify": "convgrad verify report",
    "pytest-session": "convgrad pytest session report",
}
_META_LABELS = (
    ("convgrad", "convgrad"),
    ("numpy", "NumPy"),
    ("torch", "PyTorch"),
    ("python", "Python"),
    ("matplotlib", "matplotlib"),
    ("jinja2", "Jinja2"),
    ("platform", "platform"),
    ("profile", "profile"),
    ("seed", "seed"),
    ("ndim", "spatial dims"),
    ("dtype", "data"),
    ("date", "date (UTC)"),
    ("seconds", "run time (s)"),
)


def template_environment():
    """The Jinja2 environment of ``templates/`` (autoescaped, strict about undefined names) with
    the ``num`` and ``shape`` filters; the report and the audit page render through it."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("convgrad.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["shape"] = format_shape
    return env


def format_number(value) -> str:
    """3 significant digits; "—" for None; "∞" for infinity (a float or JSON's "Infinity")."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return {"Infinity": "∞", "-Infinity": "−∞", "NaN": "NaN"}.get(value, value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    return f"{value:.3g}"


def format_shape(shape) -> str:
    """``[1, 3, 128, 128]`` as ``(1, 3, 128, 128)``."""
    if shape is None:
        return "—"
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def plots(report: dict) -> list[dict]:
    """One strip plot per output with at least one ratio: {"output", "svg"}."""
    found = []
    for j, output in enumerate(OUTPUTS):
        chosen = [r for r in report["records"] if r["output"] == output and r["ratio"] is not None]
        sources = list(dict.fromkeys(r["source"] for r in chosen))
        rows = [(s, [read_float(r["ratio"]) for r in chosen if r["source"] == s]) for s in sources]
        svg = strip_plot(output, rows, prefix=f"fig{j}")
        if svg is not None:
            found.append({"output": output, "svg": svg})
    return found


def _performance(report: dict) -> dict | None:
    """The Performance section's data with its plot (None: no bench file was read)."""
    from markupsafe import Markup

    view = performance_view(report.get("performance"), report["meta"])
    if view is None:
        return None
    rows = [(r["layer"], r["dtype"], r["ratio"]) for r in view["bench"]["speed"]["rows"]]
    return {**view, "svg": Markup(ratio_bars(rows, view["lines"], prefix="perf"))}


def _meta_rows(meta: dict) -> list[tuple[str, str]]:
    rows = []
    for key, label in _META_LABELS:
        value = meta.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        rows.append((label, str(value)))
    for key, value in sorted(meta.get("settings", {}).items()):
        rows.append((key, ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return rows


def render_page(data: dict, json_sha256: str | None = None) -> str:
    """The page's HTML for any result dict accepted by `convgrad.report.model.as_report`;
    ``json_sha256``: the SHA-256 of the report.json the page is paired with, named in its
    generator tag (`convgrad.report.atomic.generator_tag`)."""
    from markupsafe import Markup

    report = as_report(data)
    problems = report["problems"]
    seed_cases = [p for p in problems if p.get("seed_case")]
    by_mode = {}
    for p in problems:
        by_mode.setdefault(p["spec"]["mode"], []).append(p)
    failing = {f["problem"] for f in report["failures"]}
    figures = [{**f, "svg": Markup(f["svg"])} for f in plots(report)]
    return (
        template_environment()
        .get_template("report.html.j2")
        .render(
            title=_TITLES[report["kind"]],
            report=report,
            meta_rows=_meta_rows(report["meta"]),
            seed_cases=seed_cases,
            by_mode=by_mode,
            failing=failing,
            problem_of={p["id"]: p for p in problems},
            figures=figures,
            worst=worst_cases(report["records"], problems),
            gradient_forms=GRADIENT_FORMS,
            performance=_performance(report),
            bench_command=BENCH_COMMAND,
            bench_name=BENCH_NAME,
            generator=Markup(atomic.generator_tag(report["schema_version"], json_sha256)),
        )
    )


def render_html(data: dict, path: str | os.PathLike) -> Path:
    """Write the self-contained HTML page of a result dict to ``path``, atomically; returns the
    path.

    data: a sweep's report.json, a `convgrad.VerifyResult.to_dict()` or a pytest
    ``--convgrad-report`` session (TypeError for a non-dict, ValueError for another layout).
    Refuses (FileExistsError) to overwrite a file that is not a convgrad page.
    """
    return atomic.write_text(path, render_page(data), atomic.is_page)
