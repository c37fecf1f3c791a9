"""``convgrad report``: verify the reference over the default sweep; write the HTML page and
report.json.

    convgrad report                       # quick profile, into reports/
    convgrad report --profile thorough --out site/
    convgrad report --ndim 2 --dtype float32,integer
    convgrad report --case P0017          # one case again, as a failure's reproduce line says
    convgrad report --bench bench.json    # the Performance section from this benchmark file
    convgrad report --shard 1/2 --out s1  # half the cases; `convgrad merge site s1 s2` joins
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from convgrad.cli import UsageError
from convgrad.commands import _parse

_PROFILES = ("quick", "thorough")
_DATA = ("float64", "float32", "integer")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``report``."""
    parser = subparsers.add_parser(
        "report",
        help="verify the reference over a default sweep; write an HTML report and report.json",
        description=(
            "Verify convgrad's reference convolution and its gradients over a default sweep"
            " (every padding mode, odd and even kernels, stride, dilation, groups, flip, 1/2/3-D,"
            " float64, float32 and integer data) against PyTorch autograd, finite differences,"
            " the adjoint identity, exact integer arithmetic and rigorous error bounds; write"
            " OUT/index.html (a self-contained page) and OUT/report.json (the same facts). The"
            " page's Performance section shows the benchmark's results (python -m"
            " benchmarks.run) when OUT/bench.json or --bench exists."
        ),
        epilog="exit status: 0 every check passed, 1 a check failed, 2 usage error",
    )
    parser.add_argument("--out", default="reports", metavar="DIR", help="folder (default reports)")
    parser.add_argument(
        "--profile",
        choices=_PROFILES,
        default="quick",
        help="quick: about a minute on 2 cores (default); thorough: the full product of variants",
    )
    parser.add_argument("--ndim", default="1,2,3", metavar="N", help="spatial dims, e.g. 2 or 1,2")
    parser.add_argument(
        "--dtype",
        default=",".join(_DATA),
        metavar="KINDS",
        help=f"data kinds, from {', '.join(_DATA)} (default all)",
    )
    parser.add_argument("--seed", default="0", metavar="S", help="the data's seed (default 0)")
    parser.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="ID",
        help="check only this case (repeatable), e.g. P0017",
    )
    parser.add_argument(
        "--bench",
        metavar="PATH",
        help="benchmark results (bench.json of python -m benchmarks.run) for the Performance"
        " section; default OUT/bench.json when it exists",
    )
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="check only shard I of N of the cases (case j goes to shard j %% N + 1); join the"
        " N folders with convgrad merge OUT DIR...",
    )
    parser.set_defaults(run=run)
    return parser


class Progress:
    """A one-line bar on a terminal; otherwise one line per stage and per quarter of the cases.

    stream: where to write (stderr); tty: draw the bar (default: ``stream.isatty()``).
    """

    WIDTH = 30

    def __init__(self, stream: TextIO, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.start = time.perf_counter()
        self.quarter = -1

    def stage(self, text: str) -> None:
        """A stage begins (its own line in both modes)."""
        self.stream.write(f"convgrad report: {text}\n")
        self.stream.flush()

    def __call__(self, done: int, total: int, case) -> None:
        elapsed = time.perf_counter() - self.start
        if self.tty:
            filled = self.WIDTH * done // total
            bar = "#" * filled + "." * (self.WIDTH - filled)
            where = "done" if done == total else f"{case.id} ({case.ndim}-D {case.mode})"
            self.stream.write(f"\r[{bar}] {done}/{total} {where} {elapsed:5.1f}s\x1b[K")
            if done == total:
                self.stream.write("\n")
        else:
            quarter = 4 * done // total
            if quarter == self.quarter:
                return
            self.quarter = quarter
            self.stream.write(f"convgrad report: checked {done}/{total} cases ({elapsed:.1f}s)\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    """Run the sweep, write the report, print where it is; 0 pass, 1 fail, 2 usage error."""
    try:
        from convgrad.report import write_report
    except ImportError as err:
        raise UsageError(
            f"convgrad report needs the report extra ({err.name} is missing): pip install"
            " 'convgrad[report,torch]'"
        ) from err
    ndim = _parse.ints("--ndim", args.ndim, 1)
    dtype = _parse.words("--dtype", args.dtype, _DATA)
    seed = _parse.one_int("--seed", args.seed, 0)
    shard = None if args.shard is None else _parse.shard("--shard", args.shard)
    progress = Progress(sys.stderr)
    part = "" if shard is None else f", shard {shard}"
    progress.stage(f"profile {args.profile}, seed {seed}{part}: building the sweep")
    files = write_report(
        args.out,
        profile=args.profile,
        ndim=ndim,
        dtype=dtype,
        seed=seed,
        cases=args.case,
        bench=args.bench,
        shard=shard,
        progress=progress,
    )
    return print_report(files)


def print_report(files) -> int:
    """Print where a report's files are and its verdict; 0 all passed, 1 a check failed."""
    from convgrad.report.performance import BENCH_COMMAND

    summary = files.report["summary"]
    verdict = "all passed" if files.report["ok"] else f"{summary['failed']} FAILED"
    bench = files.report["meta"]["bench"]
    performance = (
        f"from {bench}"
        if files.report["performance"]
        else f"none ({bench} does not exist; {BENCH_COMMAND} writes it)"
    )
    print(
        f"convgrad report: {summary['checks']} checks on {summary['problems']} problems,"
        f" {verdict}\n  page: {files.html}\n  data: {files.json}\n  performance: {performance}"
    )
    return 0 if files.report["ok"] else 1
