"""Where the oracle's time goes: a layer's ``conv`` + ``conv_backward`` split into phases.

Each phase is a set of the reference's own functions, timed from outside while the step runs:
`split` replaces them (module attributes, looked up at call time) with wrappers that add their
wall time to the phase, and restores them afterwards. NumPy calls the fast path makes through
its ``np`` name (``np.matmul``) are timed through a stand-in for that module. Nothing in the
oracle knows it is being timed. The phases are disjoint (no timed function calls another), so
"other" — the step's time outside every phase: Python between the calls, allocating and zeroing
outputs — is what is left of the total.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType

from convgrad.reference import api, fast, operands

PHASES: dict[str, tuple[tuple[object, str], ...]] = {
    "validation": ((api, "_prepare"),),
    "casts": ((operands, "cast"),),
    "padding": ((fast, "_padded_rows"), (fast, "_whole_padded")),
    "gathers": ((fast, "_columns"), (fast, "_whole_columns")),
    "products": ((fast, "np.matmul"),),
    "col2im": ((fast, "_col2im"),),
    "sums": ((fast, "_summed_samples"), (api.direct, "grad_bias")),
}
"""Phase -> the (module, attribute) pairs whose calls it counts; ``np.NAME`` is a NumPy
function as the module calls it."""


class _TimedNumpy(ModuleType):
    """NumPy as seen by one module: ``timed`` names go through the timer, the rest is NumPy."""

    def __init__(self, numpy: ModuleType, timed: dict[str, Callable]) -> None:
        super().__init__(numpy.__name__)
        self._numpy, self._timed = numpy, timed

    def __getattr__(self, name: str):
        return self._timed.get(name) or getattr(self._numpy, name)


def _timer(fn: Callable, totals: dict[str, float], phase: str) -> Callable:
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[phase] += time.perf_counter() - start

    return timed


@contextmanager
def _timing(totals: dict[str, float]) -> Iterator[None]:
    """Every function of `PHASES` timed into ``totals`` (phase -> seconds) inside the block."""
    saved: list[tuple[object, str, object]] = []
    numpy_names: dict[object, dict[str, Callable]] = {}
    try:
        for phase, targets in PHASES.items():
            for module, name in targets:
                if name.startswith("np."):
                    real = getattr(module.np, name[3:])
                    numpy_names.setdefault(module, {})[name[3:]] = _timer(real, totals, phase)
                    continue
                saved.append((module, name, getattr(module, name)))
                setattr(module, name, _timer(getattr(module, name), totals, phase))
        for module, timed in numpy_names.items():
            saved.append((module, "np", module.np))
            module.np = _TimedNumpy(module.np, timed)
        yield
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)


def split(step: Callable[[], object], calls: int) -> dict[str, float]:
    """Seconds per call of ``step`` in each phase of `PHASES`, "other", and "total", averaged
    over ``calls`` calls after one untimed call (which fills the caches and scratch)."""
    step()
    totals = dict.fromkeys(PHASES, 0.0)
    with _timing(totals):
        start = time.perf_counter()
        for _ in range(calls):
            step()
        total = time.perf_counter() - start
    per_call = {phase: seconds / calls for phase, seconds in totals.items()}
    per_call["other"] = total / calls - sum(per_call.values())
    per_call["total"] = total / calls
    return per_call
