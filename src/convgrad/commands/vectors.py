"""``convgrad vectors export DIR [--set core|full] [--format npz|json]`` and
``convgrad vectors check DIR --results RESULTS``.

check exits 0 when every case passes, 1 when any fails (mismatch, wrong shape, missing case),
2 on a usage error or an unreadable or tampered vector set.
"""

from __future__ import annotations

import argparse

from convgrad.vectors import FORMATS, SETS, check, export, load


def add_parser(subparsers) -> None:
    """Register ``vectors`` and its ``export`` and ``check`` actions."""
    parser = subparsers.add_parser(
        "vectors",
        help="export conformance vectors, or check another implementation's results",
        description="Conformance vectors: exact expected outputs for any implementation to read.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export_parser = actions.add_parser(
        "export",
        help="write a vector set to DIR",
        description="Write a vector set (manifest.json and cases/) to DIR, atomically; DIR must"
        " be new, empty, or an earlier vector set.",
    )
    export_parser.add_argument("directory", metavar="DIR")
    export_parser.add_argument("--set", dest="set_name", choices=SETS, default="core")
    export_parser.add_argument("--format", dest="file_format", choices=FORMATS, default="npz")
    check_parser = actions.add_parser(
        "check",
        help="compare RESULTS with the vector set in DIR",
        description="Compare an implementation's results (RESULTS/<case id>.npz or .json holding"
        " y, grad_input, grad_weight, grad_bias) with the vector set in DIR.",
    )
    check_parser.add_argument("directory", metavar="DIR")
    check_parser.add_argument("--results", required=True, metavar="RESULTS")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Export or check; the exit code."""
    if args.action == "export":
        manifest = export(args.directory, set_name=args.set_name, file_format=args.file_format)
        vector_set = load(manifest.parent)
        print(f"wrote {len(vector_set.cases)} cases to {manifest.parent}: {vector_set.label}")
        return 0
    report = check(args.directory, args.results)
    print(report.table())
    return 0 if report.ok else 1
