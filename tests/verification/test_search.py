"""The search's cost: the extra checks on one problem in four, failures found before the
search kept, and the checks of one problem without the extra calls."""

import numpy as np
from hypothesis import strategies as st

from convgrad.verification.bounds import Precision
from convgrad.verification.calls import UserFunction
from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import EXTRA_CHECKS, ProblemChecks, ProblemReport
from convgrad.verification.search import EXTRA_EVERY, Found, search, with_extras

from .implementations import fixed_problem, ref_backward, ref_forward


def _problem(seed: int) -> ConvProblem:
    base = fixed_problem()
    x = np.random.default_rng(seed).standard_normal(base.x.shape)
    return ConvProblem(x, base.w, None, base.grad_y, base.spec)


def test_one_problem_in_four_gets_the_extra_checks_the_same_each_time():
    problems = [_problem(seed) for seed in range(400)]
    chosen = [with_extras(p) for p in problems]
    assert EXTRA_EVERY == 4 and 60 <= sum(chosen) <= 140
    assert chosen == [with_extras(p) for p in problems]


def _counted(fn, calls: list, name: str):
    def counted(*args):
        calls.append(name)
        return fn(*args)

    return counted


def test_without_extras_a_problem_costs_one_forward_and_one_backward_call():
    calls: list[str] = []
    forward = UserFunction(_counted(ref_forward, calls, "forward"), "forward", None)
    backward = UserFunction(_counted(ref_backward, calls, "backward"), "backward", None)
    problem, precision = fixed_problem(), Precision("float64")
    lean = ProblemChecks(problem, forward, backward, precision, exact=True, seed=0, extra=False)
    report = lean.run()
    assert calls == ["forward", "backward"]
    assert not report.failures
    checks = {r.check for r in report.results}
    assert {"value", "adjoint", "no_mutation"} <= checks
    assert not checks & set(EXTRA_CHECKS)
    calls.clear()
    full = ProblemChecks(problem, forward, backward, precision, exact=True, seed=0).run()
    assert calls.count("forward") == 10 and calls.count("backward") == 2
    assert {"determinism", "linearity", "finite_difference"} <= {r.check for r in full.results}


def test_search_keeps_failures_found_before_and_asks_extras_for_one_in_four():
    asked: list[bool] = []

    def check(problem, extra):
        asked.append(extra)
        return ProblemReport()

    earlier = Found(fixed_problem(), ProblemReport(), None)
    strategy = st.builds(_problem, st.integers(0, 10**6))
    found, examples, _ = search(
        strategy,
        check,
        max_examples=40,
        seed=0,
        max_failures=8,
        found={("value", "forward"): earlier},
    )
    assert found == [earlier]
    assert examples == len(asked) > 0
    assert any(asked) and not all(asked)
