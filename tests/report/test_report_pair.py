"""``convgrad report --out DIR`` run as real processes, at once and killed mid-write: index.html
and report.json always end as one pair (the page names report.json's SHA-256 and shows the same
seed), and a run killed between its two renames is completed by the next run before its sweep.

A wrapper script starts the command line with two hooks: a barrier after the sweep (so that the
runs reach their writes together) and, at each ``os.replace``, a delay and optionally a SIGKILL,
to hold the writes in the order that broke the pair before it was written under a lock."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convgrad.report import atomic, write_report

from .pairs import pair_consistent

WRAPPER = textwrap.dedent(
    """
    import os, signal, sys, time
    import convgrad.report as report
    from convgrad.cli import main

    role, barrier = os.environ["PAIR_ROLE"], os.environ["PAIR_BARRIER"]
    delays = {name: float(s) for name, s in
              (d.split("=") for d in os.environ.get("PAIR_DELAYS", "").split(",") if d)}
    kill = os.environ.get("PAIR_KILL", "")
    real_build, real_replace = report.build_report, os.replace

    def build(*args, **kwargs):
        result = real_build(*args, **kwargs)
        open(os.path.join(barrier, role), "w").close()
        deadline = time.monotonic() + 120
        while len(os.listdir(barrier)) < int(os.environ["PAIR_COUNT"]):
            if time.monotonic() > deadline:
                sys.exit("barrier timed out")
            time.sleep(0.01)
        return result

    def replace(source, target):
        name = os.path.basename(target)
        if kill == "before " + name:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(delays.get(name, 0.0))
        real_replace(source, target)
        if kill == "after " + name:
            os.kill(os.getpid(), signal.SIGKILL)

    report.build_report = build
    os.replace = replace
    sys.exit(main(sys.argv[1:]))
    """
)


def _start(tmp_path: Path, out: Path, seed: int, count: int, **hooks: str) -> subprocess.Popen:
    script = tmp_path / "wrapper.py"
    if not script.exists():
        # Written once: rewriting it while an earlier run's interpreter reads it can hand that
        # run an empty script (exit 0), leaving the others waiting at the barrier.
        script.write_text(WRAPPER)
    barrier = tmp_path / f"barrier-{count}-{hooks.get('group', '')}"
    barrier.mkdir(exist_ok=True)
    env = os.environ | {
        "PAIR_ROLE": str(seed),
        "PAIR_BARRIER": str(barrier),
        "PAIR_COUNT": str(count),
        "PAIR_DELAYS": hooks.get("delays", ""),
        "PAIR_KILL": hooks.get("kill", ""),
    }
    argv = [sys.executable, str(script), "report", "--out", str(out), "--case", "P0001"]
    return subprocess.Popen(
        [*argv, "--seed", str(seed)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _seeds(out: Path) -> tuple[int, int]:
    """(seed of report.json, seed the page shows)."""
    data = json.loads((out / "report.json").read_text())
    page = (out / "index.html").read_text()
    shown = re.findall(r"--seed (\d+) --case P0001", page)
    assert len(set(shown)) == 1, shown
    return data["meta"]["seed"], int(shown[0])


def _assert_one_pair(out: Path) -> int:
    json_seed, page_seed = _seeds(out)
    assert json_seed == page_seed
    assert pair_consistent(out, "index.html", "report.json")
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "report.json"]
    return json_seed


def _wait(process: subprocess.Popen) -> int:
    _, err = process.communicate(timeout=300)
    assert "Traceback" not in err, err
    return process.returncode


@pytest.mark.slow
def test_two_runs_at_once_leave_one_whole_pair(tmp_path):
    # Without the lock: run 1 replaces report.json, run 2 replaces both, run 1 replaces
    # index.html a second later: report.json of run 2 beside the page of run 1.
    out = tmp_path / "out"
    first = _start(tmp_path, out, 1, 2, delays="index.html=1.5")
    second = _start(tmp_path, out, 2, 2, delays="report.json=0.4")
    assert [_wait(first), _wait(second)] == [0, 0]
    assert _assert_one_pair(out) in (1, 2)


@pytest.mark.slow
def test_runs_killed_mid_write_are_made_whole_before_the_next_sweep(tmp_path):
    out = tmp_path / "out"
    assert _wait(_start(tmp_path, out, 1, 1, group="a")) == 0
    # Killed before its journal is committed: the old pair stands (its temporaries go later).
    killed = _start(tmp_path, out, 2, 1, group="b", kill="before .convgrad-report.commit")
    assert _wait(killed) == -signal.SIGKILL
    assert _seeds(out) == (1, 1)
    assert pair_consistent(out, "index.html", "report.json")
    assert any(p.name.endswith(".tmp") for p in out.iterdir())
    # Killed between the renames: the new report.json beside the old page, and the journal
    # with which the next run completes the new pair before its sweep.
    killed = _start(tmp_path, out, 3, 1, group="c", kill="after report.json")
    assert _wait(killed) == -signal.SIGKILL
    assert _seeds(out) == (3, 1)
    assert (out / atomic.JOURNAL).exists()
    seen = []

    def progress(done, total, case):
        if not seen:
            seen.append(_assert_one_pair(out))

    write_report(out, cases=["P0001"], seed=4, progress=progress)
    assert seen == [3]
    assert _assert_one_pair(out) == 4


@pytest.mark.slow
def test_a_kill_among_concurrent_runs_still_ends_in_one_pair(tmp_path):
    out = tmp_path / "out"
    runs = [
        _start(tmp_path, out, 1, 3, kill="after report.json", delays="report.json=0.2"),
        _start(tmp_path, out, 2, 3, delays="index.html=0.5"),
        _start(tmp_path, out, 3, 3, delays="report.json=0.1"),
    ]
    assert [_wait(run) for run in runs] == [-signal.SIGKILL, 0, 0]
    if (out / atomic.JOURNAL).exists():
        # The killed run 1 was the last to take the lock: the next check completes its pair.
        atomic.check_pair(out, {"report.json": atomic.is_result_json, "index.html": atomic.is_page})
        assert _assert_one_pair(out) == 1
    assert _assert_one_pair(out) in (1, 2, 3)
