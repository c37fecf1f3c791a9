"""Every check on one problem (`runner.ProblemChecks`): what a problem costs in calls of the
user's functions with and without the extra checks."""

from convgrad.verification.bounds import Precision
from convgrad.verification.calls import UserFunction
from convgrad.verification.runner import EXTRA_CHECKS, ProblemChecks

from .implementations import fixed_problem, ref_backward, ref_forward


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
