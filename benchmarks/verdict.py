"""Time to verdict: how long `convgrad.verify` takes, at its default settings, to reject each
bug of the zoos (``tests/zoo``, ``tests/zoo_realistic``) and to pass correct layers.

    .venv/bin/python -m benchmarks.verdict [--quick]

Prints one row per bug (seconds, the first failure's check and output, or MISSED) and the
figures issue 12 asks for: the median over the zoo (target <= 1 s on 2 cores) and the default
verify of a correct ``from_torch`` conv (target <= 2 s), beside the independent NumPy layer of
``tests/zoo/correct.py`` measured in the same run, and beside `PREVIOUS`, the figures before
the speed work. The torch conv is timed twice: with torch's own thread count, and with one
thread (``torch.set_num_threads(1)``): on a machine whose cores are taken by other processes,
torch's OpenMP threads spin at each barrier waiting for one another and each call takes tens
of milliseconds (``OMP_WAIT_POLICY=PASSIVE`` has the same effect as one thread).
``--quick`` times five bugs of each zoo. Run from the repository root (the zoos are test
modules).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import convgrad as cg

PREVIOUS = {
    "zoo median": 5.22,
    "from_torch(torch_conv)": 15.47,
    "from_torch(torch_conv), 1 thread": 3.90,
    "tests/zoo/correct.py": 2.23,
}
"""Seconds before the speed work (commit 460ac95: a thread per call, every check on every
problem, the fixed problems after the search), by this benchmark on the shared 2-core machine
at load average 3-4, 2026-12-02 (at load 6-9 the same commit took 9.54, 58.93 and 3.90 s)."""


def time_verify(forward: Callable, backward: Callable | None, **settings) -> tuple[float, object]:
    """Seconds of one ``convgrad.verify`` call, and its result."""
    start = time.perf_counter()
    result = cg.verify(forward, backward, **settings)
    return time.perf_counter() - start, result


def zoo_rows(bugs: Sequence) -> list[dict]:
    """One row per bug: verify in the bug's own space (its ``space``), otherwise defaults."""
    rows = []
    for bug in bugs:
        seconds, result = time_verify(bug.forward, bug.backward, **bug.space)
        first = next((f for f in result.failures if f.output in bug.outputs), None)
        found = "MISSED" if first is None else f"{first.check} on {first.output}"
        rows.append({"bug": bug.name, "seconds": seconds, "found": found})
    return rows


_ONE_THREAD = """
import time
import torch
torch.set_num_threads(1)
import convgrad as cg
from convgrad.adapters.torch import from_torch, torch_conv
forward, backward = from_torch(torch_conv)
start = time.perf_counter()
result = cg.verify(forward, backward)
print(time.perf_counter() - start, result.ok)
"""
"""The one-thread torch figure, in a fresh process: a thread count set after torch's threads
started does not reach the thread verify calls the user's functions on."""


def correct_rows() -> list[dict]:
    """Default verify of correct layers: torch through ``from_torch`` (its own thread count,
    then one thread in a child process), and the NumPy layer."""
    from tests.zoo import correct

    from convgrad.adapters.torch import from_torch, torch_conv

    rows = []
    for name, (forward, backward) in (
        ("from_torch(torch_conv)", from_torch(torch_conv)),
        ("tests/zoo/correct.py", (correct.forward, correct.backward)),
    ):
        seconds, result = time_verify(forward, backward)
        rows.append({"layer": name, "seconds": seconds, "ok": result.ok})
    child = subprocess.run(
        [sys.executable, "-c", _ONE_THREAD], capture_output=True, text=True, check=True
    )
    seconds, ok = child.stdout.split()[-2:]
    rows.insert(
        1,
        {
            "layer": "from_torch(torch_conv), 1 thread",
            "seconds": float(seconds),
            "ok": ok == "True",
        },
    )
    return rows


def _previous(name: str) -> str:
    return f" (before: {PREVIOUS[name]:.2f} s)" if name in PREVIOUS else ""


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="benchmarks.verdict", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="five bugs of each zoo")
    args = parser.parse_args(argv)
    from tests.zoo.bugs import BUGS as CLASSIC
    from tests.zoo_realistic.bugs import BUGS as REALISTIC

    bugs = (*CLASSIC[:5], *REALISTIC[:5]) if args.quick else (*CLASSIC, *REALISTIC)
    rows = zoo_rows(bugs)
    for row in rows:
        print(f"{row['bug']:42} {row['found']:30} {row['seconds']:6.2f} s")
    median = statistics.median(row["seconds"] for row in rows)
    missed = sum(row["found"] == "MISSED" for row in rows)
    print(
        f"\nzoo: median time to verdict {median:.2f} s{_previous('zoo median')} (target <= 1 s),"
        f" {missed} missed"
    )
    correct = correct_rows()
    for row in correct:
        verdict = "passes" if row["ok"] else "FAILS"
        layer = row["layer"]
        print(f"default verify of {layer}: {row['seconds']:.2f} s{_previous(layer)}, {verdict}")
    return {"zoo": rows, "median_s": median, "correct": correct}


if __name__ == "__main__":
    main()
