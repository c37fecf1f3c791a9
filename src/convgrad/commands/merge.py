"""``convgrad merge``: join the shards of one ``convgrad report --shard i/n`` or ``convgrad
audit --shard i/n`` run into the whole run's JSON and page.

    convgrad report --shard 1/2 --out s1 & convgrad report --shard 2/2 --out s2
    convgrad merge site s1 s2              # site/report.json and site/index.html
    convgrad merge site a1/audit.json a2/audit.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from convgrad.cli import UsageError

_KINDS = {"report.json": "report", "audit.json": "audit"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``merge``."""
    parser = subparsers.add_parser(
        "merge",
        help="join the shards of a report or audit run (--shard i/n) into one page and JSON",
        description=(
            "Join the JSON files of every shard of one `convgrad report --shard i/n` or"
            " `convgrad audit --shard i/n` run into the report (OUT/report.json and"
            " OUT/index.html) or audit (OUT/audit.json and OUT/audit.html) of the whole run:"
            " the same content as the run without --shard, in the same order. The shards must"
            " be all n of one run (same count, each index once, the same seed, settings and"
            " versions); anything else is refused with the rule it breaks."
        ),
        epilog=(
            "exit status: 0 every check passed, 1 a check failed or a finding, 2 usage or I/O"
            " error (shards that do not make one run)"
        ),
    )
    parser.add_argument("out", metavar="OUT", help="folder for the merged files")
    parser.add_argument(
        "shards",
        nargs="+",
        metavar="SHARD",
        help="a shard's report.json or audit.json, or the folder its run wrote (--out)",
    )
    parser.set_defaults(run=run)
    return parser


def _shard_file(text: str) -> Path:
    """The JSON file a SHARD argument names: the file itself, or the one shard file in a
    folder."""
    path = Path(text)
    if not path.is_dir():
        if not path.is_file():
            raise UsageError(f"shard {text!r} does not exist")
        return path
    found = [path / name for name in _KINDS if (path / name).is_file()]
    if len(found) != 1:
        what = (
            "neither report.json nor audit.json" if not found else "both report.json and audit.json"
        )
        raise UsageError(f"shard folder {text!r} holds {what}; name the shard's JSON file")
    return found[0]


def _kind(name: str, data: object) -> str:
    from convgrad.audit import SCHEMA as AUDIT_SCHEMA
    from convgrad.schema import REPORT_SCHEMA

    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == REPORT_SCHEMA:
        return "report"
    if schema == AUDIT_SCHEMA:
        return "audit"
    raise UsageError(f"{name!r} is neither a convgrad report.json nor an audit.json")


def run(args: argparse.Namespace) -> int:
    """Read the shards, merge, write, print where; 0 pass, 1 fail, 2 usage or I/O error."""
    shards, kinds = [], {}
    for text in args.shards:
        path = _shard_file(text)
        try:
            data = json.loads(path.read_bytes())
        except (ValueError, RecursionError) as err:
            raise UsageError(f"shard {str(path)!r} is not JSON ({err})") from None
        kinds[str(path)] = _kind(str(path), data)
        shards.append((str(path), data))
    if len(set(kinds.values())) > 1:
        report = next(name for name, kind in kinds.items() if kind == "report")
        audit = next(name for name, kind in kinds.items() if kind == "audit")
        raise UsageError(
            f"{report!r} is a report shard and {audit!r} an audit shard; merge one kind at a time"
        )
    try:
        if "audit" in kinds.values():
            from convgrad.audit import write_merged_audit
            from convgrad.commands.audit import print_audit

            return print_audit(write_merged_audit(args.out, shards))
        from convgrad.commands.report import print_report
        from convgrad.report import write_merged_report

        return print_report(write_merged_report(args.out, shards))
    except ImportError as err:
        raise UsageError(
            f"convgrad merge needs the report extra ({err.name} is missing): pip install"
            " 'convgrad[report]'"
        ) from err
    except (FileExistsError, IsADirectoryError, NotADirectoryError) as err:
        raise UsageError(str(err)) from err
    except (KeyError, AttributeError, IndexError) as err:
        # The rules of one run (`convgrad.sharding`) are checked field by field; a shard
        # lacking a field they do not name is a file convgrad did not write as it is.
        raise UsageError(
            f"the shards {', '.join(map(repr, kinds))} are not files convgrad wrote as they"
            f" are ({type(err).__name__}: {err})"
        ) from err
