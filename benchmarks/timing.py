"""Timing helpers: interleaved medians (so machine noise hits both sides alike) and peaks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call of each side: medians and fastest rounds over ``repeats`` rounds.

    ``spread`` is (max - min) / median of the ours/peer ratio over the rounds: the noise of
    the measurement, reported next to the ratio. ``best_ratio`` compares each side's fastest
    round: on a shared machine it is the less disturbed estimate (bursts of load slow torch's
    worker threads more than single-threaded Python).
    """

    ours: float
    peer: float
    ours_best: float
    peer_best: float
    repeats: int
    spread: float

    @property
    def ratio(self) -> float:
        return self.ours / self.peer

    @property
    def best_ratio(self) -> float:
        return self.ours_best / self.peer_best


def _per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def calls_for(fn: Callable[[], object], target_s: float) -> int:
    """How many back-to-back calls make one timed round of about ``target_s`` seconds."""
    fn()
    once = _per_call(fn, 1)
    return max(1, min(10_000, round(target_s / max(once, 1e-7))))


SETTLE_S = 0.3
"""Pause before each side's round. Idle BLAS and OpenMP worker threads spin for a while after
their last task before they sleep (OpenBLAS's THREAD_TIMEOUT, the OpenMP runtime's blocktime):
without the pause one side's spinning threads take the cores from the other side's next round.
Measured on the 8x16x64x64 float32 layer: torch alone 3.9 ms per call, right after convgrad
16 ms, after a 0.3 s pause 3.9 ms again (with the warm-up call below)."""


def _settled_round(fn: Callable[[], object], calls: int) -> float:
    """One round of ``calls`` back-to-back calls after the pause and one untimed call."""
    time.sleep(SETTLE_S)
    fn()
    return _per_call(fn, calls)


def interleaved(
    ours: Callable[[], object],
    peer: Callable[[], object],
    *,
    repeats: int = 9,
    round_s: float = 0.02,
) -> Timing:
    """Time ``ours`` and ``peer`` alternately, ``repeats`` settled rounds each.

    Alternating rounds means a burst of load from another process slows both sides rather than
    one whole column; the settling pause keeps each side's idle threads out of the other's
    round, so each is timed as a caller looping over it alone sees it.
    """
    calls_ours, calls_peer = calls_for(ours, round_s), calls_for(peer, round_s)
    ours_s, peer_s = [], []
    for _ in range(repeats):
        ours_s.append(_settled_round(ours, calls_ours))
        peer_s.append(_settled_round(peer, calls_peer))
    ratios = [a / b for a, b in zip(ours_s, peer_s, strict=True)]
    median_ratio = statistics.median(ratios)
    return Timing(
        ours=statistics.median(ours_s),
        peer=statistics.median(peer_s),
        ours_best=min(ours_s),
        peer_best=min(peer_s),
        repeats=repeats,
        spread=(max(ratios) - min(ratios)) / median_ratio,
    )


def mean_call(fn: Callable[[], object], round_s: float = 0.2) -> float:
    """Seconds per call averaged over back-to-back calls for about ``round_s`` seconds: the
    cost a caller that loops over ``fn`` (as gradcheck does) actually sees."""
    return _per_call(fn, calls_for(fn, round_s))


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` single calls after one warm-up, in seconds (for peaks)."""
    fn()
    return min(_per_call(fn, 1) for _ in range(repeats))
