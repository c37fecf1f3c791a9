"""``convgrad audit``: verify every installed framework configuration (torch, JAX, ONNX Runtime,
TensorFlow) over a fixed list of convolution features; write OUT/audit.html (the matrix) and
OUT/audit.json.

    convgrad audit                         # every configuration, into reports/
    convgrad audit --quick                 # one configuration per framework, for CI
    convgrad audit --frameworks torch,jax --features valid,stride --out site/
    convgrad audit --shard 1/2 --out s1    # half the cells; `convgrad merge site s1 s2` joins
"""

from __future__ import annotations

import argparse
import sys

from convgrad.cli import UsageError
from convgrad.commands import _parse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``audit``."""
    parser = subparsers.add_parser(
        "audit",
        help="verify every installed framework's convolution; write a conformance matrix",
        description=(
            "Run convgrad.verify over every installed framework configuration (torch functional,"
            " channels_last, deterministic, oneDNN off, nn.Conv modules, conv_transpose; JAX"
            " float64 and float32, default and highest precision, conv_transpose; ONNX Runtime"
            " Conv and ConvTranspose; TensorFlow) and a fixed list of features (padding modes,"
            " stride with"
            " remainder, dilation, groups, depthwise, 1-D, 3-D). Writes OUT/audit.html and"
            " OUT/audit.json; progress on stderr."
        ),
        epilog=(
            "exit status: 0 every cell passes or is unsupported, 1 a finding, 2 usage or I/O error"
        ),
    )
    parser.add_argument("--out", default="reports", metavar="DIR", help="folder (default reports)")
    parser.add_argument(
        "--quick", action="store_true", help="one configuration per framework, few examples (CI)"
    )
    parser.add_argument(
        "--frameworks", default=None, metavar="LIST", help="e.g. torch,jax (default: all installed)"
    )
    parser.add_argument(
        "--features",
        default=None,
        metavar="LIST",
        help="feature ids, e.g. valid,stride (default all)",
    )
    parser.add_argument("--max-examples", default=None, metavar="N", help="drawn problems per cell")
    parser.add_argument("--seed", default="0", metavar="S", help="the search's seed (default 0)")
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only shard I of N of the cells (cell j goes to shard j %% N + 1); join the"
        " N folders with convgrad merge OUT DIR...",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the audit, write the files, print where they are and the findings."""
    try:
        from convgrad.audit import FEATURES, FRAMEWORKS, write_audit
    except ImportError as err:
        raise UsageError(f"convgrad audit needs the report extra ({err.name} is missing)") from err
    frameworks = (
        FRAMEWORKS
        if args.frameworks is None
        else _parse.words("--frameworks", args.frameworks, FRAMEWORKS)
    )
    ids = tuple(f.id for f in FEATURES)
    features = None if args.features is None else _parse.words("--features", args.features, ids)
    max_examples = (
        None
        if args.max_examples is None
        else _parse.one_int("--max-examples", args.max_examples, 1)
    )
    seed = _parse.one_int("--seed", args.seed, 0)
    shard = None if args.shard is None else _parse.shard("--shard", args.shard)

    def progress(done: int, total: int, name: str) -> None:
        sys.stderr.write(f"convgrad audit: {done}/{total} {name}\n")
        sys.stderr.flush()

    files = write_audit(
        args.out,
        quick=args.quick,
        frameworks=frameworks,
        features=features,
        max_examples=max_examples,
        seed=seed,
        shard=shard,
        progress=progress,
    )
    return print_audit(files)


def print_audit(files) -> int:
    """Print the counts, where the files are and the findings; 1 when there is a finding."""
    summary, findings = files.report["summary"], files.report["findings"]
    print(
        f"convgrad audit: {summary['pass']} pass, {summary['fail']} fail,"
        f" {summary['unsupported']} unsupported\n  page: {files.html}\n  data: {files.json}"
    )
    for finding in findings:
        print(f"  finding: {finding['text']}")
    return 1 if findings else 0
