"""The search for failing problems: hypothesis draws problems, every check runs on each
(`convgrad.verification.runner`), and each new failing (check, output) is shrunk to a minimal
problem.

Each problem gets the checks of its first forward and backward calls; one in `EXTRA_EVERY` (by
a hash of the problem) also gets `convgrad.verification.runner.EXTRA_CHECKS`, which call the
user's functions again (fifteen calls against two): the fixed problems checked before the
search (`convgrad.verification.ladder`) all get them, and a failure of one of them is shrunk
with them on every problem.

When a check fails, hypothesis shrinks the problem to a minimal one failing that same check on
that same output (its own shrinker: the search raises only for that (check, output), so
shrinking keeps the failure); then the search runs again, ignoring failures already found, until
no new one appears, ``max_failures`` is reached, or the examples are spent.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky
from hypothesis.strategies import SearchStrategy

from convgrad.verification.checks import CheckResult
from convgrad.verification.problem import ConvProblem
from convgrad.verification.reproducible import global_constants_only
from convgrad.verification.result import Failure, failure_of
from convgrad.verification.runner import EXTRA_CHECKS, ProblemReport

SHRINK_BUDGET = 400
"""Problems checked while shrinking one failure; past it the smallest found so far stands."""

EXTRA_EVERY = 4
"""One search problem in this many gets the `EXTRA_CHECKS` (`with_extras`)."""

CheckProblem = Callable[[ConvProblem, bool], ProblemReport]
"""The checks on one problem (the user's functions bound in), the `EXTRA_CHECKS` too when the
flag is True."""


class _Falsified(Exception):
    """Raised inside the hypothesis search for the target (check, output)."""


@dataclass
class Found:
    """A failed check on the problem it failed on, with that problem's whole report."""

    problem: ConvProblem
    report: ProblemReport
    result: CheckResult

    def failure(
        self,
        has_backward: bool,
        located: tuple[str | None, str | None] = (None, None),
        options: dict | None = None,
        rerun: CheckProblem | None = None,
        hints: dict[str, str | None] | None = None,
    ) -> Failure:
        """The reported `Failure` (diagnosed, a cause confirmed with ``rerun`` on a larger
        problem, ``hints`` as `failure_of`'s; with a reproduce snippet importing the functions
        from ``located``, `convgrad.verification.source.locate`'s paths, and passing
        ``options``)."""
        return failure_of(
            self.problem, self.report, self.result, has_backward, located, options, rerun, hints
        )


def problem_key(problem: ConvProblem) -> tuple:
    """Identifies a problem by spec, dtypes, shapes and bytes (for caching its checks)."""
    arrays = (problem.x, problem.w, problem.grad_y)
    return (repr(problem.resolved), *((a.dtype.str, a.shape, a.tobytes()) for a in arrays))


def with_extras(problem: ConvProblem) -> bool:
    """Whether the search gives ``problem`` the `EXTRA_CHECKS`: one problem in `EXTRA_EVERY`, by
    a CRC-32 of its spec and data (the same in every process)."""
    crc = zlib.crc32(repr(problem.resolved).encode())
    for array in (problem.x, problem.w, problem.grad_y):
        crc = zlib.crc32(array.tobytes(), crc)
    return crc % EXTRA_EVERY == 0


def family(result: CheckResult) -> tuple[str, str]:
    """The (check, output) a failure is reported under; "exact" is the value check on integer
    data, so both count as one."""
    return ("value" if result.check == "exact" else result.check, result.output)


def check_given(
    problems: Sequence[ConvProblem], check: CheckProblem
) -> tuple[list[Found], int, list[dict]]:
    """Every given problem checked, no shrinking: (the first failure of each (check, output),
    problems checked, ratios recorded). TypeError for an item that is not a `ConvProblem`."""
    items = list(problems)
    for j, problem in enumerate(items):
        if not isinstance(problem, ConvProblem):
            raise TypeError(f"problems[{j}] is a {type(problem).__name__}; expected ConvProblem")
    found: dict[tuple[str, str], Found] = {}
    ratios: list[dict] = []
    for problem in items:
        report = check(problem, True)
        ratios += report.ratios
        for result in report.failures:
            found.setdefault(family(result), Found(problem, report, result))
    return list(found.values()), len(items), ratios


def _search_once(strategy, check: CheckProblem, done: dict, run_settings, seed: int):
    """One hypothesis search raising only for the first (check, output) not in ``done``;
    hypothesis shrinks that failure. Returns (the minimal `Found` or None, problems checked,
    ratios recorded)."""
    target: dict[str, object] = {}
    ratios: list[dict] = []
    count, shrinking = [0], [0]
    # Set once the target is a family of the extra checks: every later problem gets them.
    extras = [False]

    @run_settings
    @hypothesis_seed(seed)
    @given(strategy)
    def search(problem: ConvProblem) -> None:
        if "key" in target:
            shrinking[0] += 1
            if shrinking[0] > SHRINK_BUDGET and problem_key(problem) != target["best"]:
                # Budget spent: report no smaller failure, so the shrinker ends quickly; the
                # current minimal problem still fails when hypothesis replays it.
                return
        report = check(problem, extras[0] or with_extras(problem))
        count[0] += 1
        ratios.extend(report.ratios)
        for result in report.failures:
            key = family(result)
            if key in done:
                continue
            target.setdefault("key", key)
            extras[0] = target["key"][0] in EXTRA_CHECKS
            if key == target["key"]:
                # The last raise is hypothesis' final replay of the minimal example.
                target["found"] = Found(problem, report, result)
                target["best"] = problem_key(problem)
                raise _Falsified

    # Flaky: a user function that fails only sometimes; the last failing problem still stands.
    with contextlib.suppress(_Falsified, Flaky):
        search()
    return target.get("found"), count[0], ratios


def search(
    strategy: SearchStrategy[ConvProblem],
    check: CheckProblem,
    *,
    max_examples: int,
    seed: int,
    max_failures: int,
    found: dict[tuple[str, str], Found] | None = None,
) -> tuple[list[Found], int, list[dict]]:
    """Repeated searches, each shrinking the first new (check, output) failure, until a search
    finds nothing new or ``max_failures`` are found: (the minimal failures, ``found``'s first
    (failures found before, by `family`), problems checked in the last search, ratios of the
    last search)."""
    run_settings = settings(
        max_examples=max_examples,
        derandomize=False,
        database=None,
        deadline=None,
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
    )
    done = dict(found or {})
    ratios: list[dict] = []
    examples = 0
    with global_constants_only():
        while len(done) < max_failures:
            new, examples, run_ratios = _search_once(strategy, check, done, run_settings, seed)
            if new is None:
                ratios = run_ratios
                break
            done[family(new.result)] = new
    return list(done.values()), examples, ratios


__all__ = [
    "EXTRA_EVERY",
    "SHRINK_BUDGET",
    "Found",
    "check_given",
    "family",
    "problem_key",
    "search",
    "with_extras",
]
