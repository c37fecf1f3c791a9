"""The audit's page and JSON (``convgrad audit``): the matrix of `convgrad.audit` rendered with
the report package's Jinja2 environment and written atomically beside its JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

from convgrad.report import atomic
from convgrad.report.render import template_environment

_SYMBOLS = {"pass": "✓", "fail": "✗", "unsupported": "–"}


def render_audit(report: dict) -> str:
    """The self-contained HTML page of a `convgrad.audit.run_audit` report."""
    from markupsafe import Markup  # with Jinja2, in the optional report extra

    if not isinstance(report, dict) or report.get("schema") != "convgrad-report/audit":
        raise ValueError("report must be the dict convgrad.audit.run_audit returns")
    cells = {(c["feature"], c["configuration"]): c for c in report["cells"]}
    failing = [c for c in report["cells"] if c["status"] == "fail"]
    return (
        template_environment()
        .get_template("audit.html.j2")
        .render(
            report=report,
            cells=cells,
            failing=failing,
            symbols=_SYMBOLS,
            generator=Markup(atomic.generator_tag(report["schema_version"])),
        )
    )


def write_audit_files(
    report: dict, html_path: str | os.PathLike, json_path: str | os.PathLike
) -> tuple[Path, Path]:
    """Write the JSON and the page atomically; returns their paths."""
    # The generator key marks the JSON as convgrad's, so a later audit may replace it.
    data = {"generator": atomic.MARKER, **report}
    written_json = atomic.write_text(
        json_path, json.dumps(data, indent=1, allow_nan=False) + "\n", atomic.is_result_json
    )
    return atomic.write_text(html_path, render_audit(report), atomic.is_page), written_json


__all__ = ["render_audit", "write_audit_files"]
