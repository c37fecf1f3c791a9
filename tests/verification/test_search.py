"""The search's cost: the extra checks on one problem in four, and failures found before the
search kept."""

import numpy as np
from hypothesis import strategies as st

from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import ProblemReport
from convgrad.verification.search import EXTRA_EVERY, Found, search, with_extras

from .implementations import fixed_problem


def _problem(seed: int) -> ConvProblem:
    base = fixed_problem()
    x = np.random.default_rng(seed).standard_normal(base.x.shape)
    return ConvProblem(x, base.w, None, base.grad_y, base.spec)


def test_one_problem_in_four_gets_the_extra_checks_the_same_each_time():
    problems = [_problem(seed) for seed in range(400)]
    chosen = [with_extras(p) for p in problems]
    assert EXTRA_EVERY == 4 and 60 <= sum(chosen) <= 140
    assert chosen == [with_extras(p) for p in problems]


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
