"""Run `convgrad.verify` over the bug zoo: which bugs it catches, how, and the detection rate.

``python -m tests.zoo`` prints the table and the rate (the README's number).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import convgrad as cg

from .bugs import BUGS, Bug


@dataclass(frozen=True)
class Detection:
    """verify's verdict on one bug: caught when some failure names one of the bug's outputs."""

    bug: Bug
    result: cg.VerifyResult
    seconds: float

    @property
    def matching(self) -> list:
        """The failures that name an output the bug corrupts."""
        return [f for f in self.result.failures if f.output in self.bug.outputs]

    @property
    def caught(self) -> bool:
        return bool(self.matching)


def detect(bug: Bug, **overrides) -> Detection:
    """``convgrad.verify`` of the bug in its space (``overrides`` replace verify keywords)."""
    start = time.perf_counter()
    result = cg.verify(bug.forward, bug.backward, **{**bug.space, **overrides})
    return Detection(bug, result, time.perf_counter() - start)


def detection_rate(bugs: tuple[Bug, ...] = BUGS, **overrides) -> tuple[int, int, list[Detection]]:
    """(caught, total, one `Detection` per bug) at verify's defaults unless overridden."""
    detections = [detect(bug, **overrides) for bug in bugs]
    return sum(d.caught for d in detections), len(detections), detections


def table(detections: list[Detection]) -> str:
    """One line per bug: verdict, the first matching (check, output), time, the explanation's
    first line."""
    lines = []
    for d in detections:
        first = d.matching[0] if d.caught else None
        found = f"{first.check} on {first.output}" if first else "MISSED"
        why = first.diagnosis.splitlines()[-1] if first and first.diagnosis else ""
        lines.append(f"{d.bug.name:36} {found:30} {d.seconds:6.2f}s  {why[:110]}")
    return "\n".join(lines)
