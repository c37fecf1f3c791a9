"""The audit's page and JSON (``convgrad audit``): the matrix of `convgrad.audit` rendered with
the report package's Jinja2 environment and written with its JSON as one pair."""

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


def _owners(html_name: str, json_name: str) -> dict[str, atomic.Owned]:
    return {json_name: atomic.is_result_json, html_name: atomic.is_page}


def check_audit_folder(out: str | os.PathLike, html_name: str, json_name: str) -> Path:
    """``out`` as a Path when the page and the JSON may be written there, checked before an
    audit runs (`convgrad.report.atomic.check_pair`: a file in the way or a folder that
    cannot be written raises, and nothing is written)."""
    return atomic.check_pair(out, _owners(html_name, json_name))


def write_audit_files(
    report: dict, out: str | os.PathLike, html_name: str, json_name: str
) -> tuple[Path, Path]:
    """Write the page and the JSON into ``out`` as one pair (`convgrad.report.atomic.write_pair`:
    both or neither); returns their paths."""
    # The generator key marks the JSON as convgrad's, so a later audit may replace it.
    data = json.dumps({"generator": atomic.MARKER, **report}, indent=1, allow_nan=False) + "\n"
    texts = {json_name: data, html_name: render_audit(report)}
    json_path, html_path = atomic.write_pair(out, texts, _owners(html_name, json_name))
    return html_path, json_path


__all__ = ["check_audit_folder", "render_audit", "write_audit_files"]
