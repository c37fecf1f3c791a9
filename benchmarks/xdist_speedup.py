"""The speed-up of pytest-xdist on a test file driven by convgrad's pytest plugin.

    .venv/bin/python -m benchmarks.xdist_speedup [--workers 2] [--tests 8] [--examples 40]
                                                  [--rounds 3]

Writes a user project into a temporary folder (a convolution built on `convgrad.conv` and a
test file of ``--tests`` tests, each ``conv_oracle.verify`` with ``--examples`` drawn problems
and its own seed), then runs ``pytest --convgrad-report`` on it without xdist and with ``-n
WORKERS``, alternating round by round, and prints the median wall times, their ratio (the
speed-up; at most the number of free cores, less the workers' start-up) and the per-round
spread. Each run must pass and write one report holding every test's record; the benchmark
stops otherwise. The load average is printed beside the figures: on a machine whose cores are
busy with other work the workers gain nothing and only pay their start-up. Every process gets
one BLAS thread (OPENBLAS_NUM_THREADS=1 and the like), so
that the workers share the cores rather than oversubscribe them. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

USER_CONV = textwrap.dedent(
    """
    import convgrad as cg

    def _kw(spec):
        return dict(padding=spec.padding, stride=spec.stride, dilation=spec.dilation,
                    groups=spec.groups, flip=spec.flip)

    def my_forward(x, w, spec):
        return cg.conv(x, w, **_kw(spec))

    def my_backward(x, w, grad_y, spec):
        grads = cg.conv_backward(x, w, grad_y, **_kw(spec))
        return grads.input, grads.weight
    """
)

TEST_FILE = textwrap.dedent(
    """
    import pytest
    from mylib import my_backward, my_forward

    @pytest.mark.parametrize("seed", range({tests}))
    def test_my_conv(conv_oracle, seed):
        conv_oracle.verify(my_forward, my_backward, ndim=2, max_examples={examples}, seed=seed)
    """
)

_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _project(folder: Path, tests: int, examples: int) -> None:
    (folder / "mylib.py").write_text(USER_CONV)
    (folder / "test_user.py").write_text(TEST_FILE.format(tests=tests, examples=examples))


def _run(folder: Path, workers: int, tests: int) -> float:
    """One pytest run's wall time; SystemExit when it fails or its report is incomplete."""
    report = folder / f"report-{workers}"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += [f"--convgrad-report={report}", "test_user.py"]
    if workers > 1:
        command += ["-n", str(workers)]
    env = {**os.environ, **dict.fromkeys(_THREADS, "1")}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"pytest failed ({' '.join(command)}):\n{done.stdout}{done.stderr}")
    records = json.loads((report / "convgrad-report.json").read_text())["records"]
    if len(records) != tests:
        raise SystemExit(f"the report of {' '.join(command)} holds {len(records)} records")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="xdist workers (default 2)")
    parser.add_argument("--tests", type=int, default=8, help="tests in the file (default 8)")
    parser.add_argument("--examples", type=int, default=40, help="problems per verify")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args(argv)
    try:
        import xdist
    except ImportError:
        print("pytest-xdist is not installed: pip install 'convgrad[xdist]'")
        return 2
    serial, parallel = [], []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="convgrad-xdist-") as name:
        folder = Path(name)
        _project(folder, args.tests, args.examples)
        for _ in range(args.rounds):
            serial.append(_run(folder, 1, args.tests))
            parallel.append(_run(folder, args.workers, args.tests))
    ratios = [s / p for s, p in zip(serial, parallel, strict=True)]
    median = statistics.median(ratios)
    print(
        f"pytest-xdist {xdist.__version__}, {os.cpu_count()} CPUs, {args.tests} tests x"
        f" verify(max_examples={args.examples}), {args.rounds} rounds; load average before"
        f" {load[0]:.1f}, after {os.getloadavg()[0]:.1f} (other processes share the cores)"
    )
    print(f"  without xdist: {statistics.median(serial):7.2f} s (median)")
    print(f"  -n {args.workers}:         {statistics.median(parallel):7.2f} s (median)")
    print(
        f"  speed-up: {median:.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f}); one merged"
        " report per run, every test's record in it"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
