"""State checks: a result must not change after later calls, and must depend only on the
call's own arguments, never on what an earlier call left behind.

Run after `convgrad.verification.runner.ProblemChecks` on the same problem (whose report holds
each output's first result, the array the user returned, the reference and its bound):

1. forward on another problem's data (B: ``-x - 1``, ``-w - 1``; same shapes, every entry
   different), then backward on this problem's (A). Each gradient must match (within twice
   its error bound) the first backward call's, made after forward on A's x: a backward that
   reuses the x its forward saved (``ctx.save_for_backward`` done by hand, a layer object
   that caches its last input) computes part of B's gradient and fails.
2. backward on B, so that every function has been called on other data since its first
   result was returned.
3. aliasing: each array the first forward and backward calls returned must still hold the
   values it held when it was judged. A result that is a reused workspace (an ``out=`` buffer
   kept between calls) now holds B's values and fails.

Each failure is check "state" on the output concerned, at most one per output and none where
the problem's own checks failed already; a backward that raises in step 1 (and not after
forward on its own data) fails the same way.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convgrad.verification.bounds import compare
from convgrad.verification.calls import CallFailed, UserFunction, split_gradients
from convgrad.verification.checks import CheckResult
from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import GRADIENTS, ProblemReport

__all__ = ["check_state", "other_data"]


def other_data(a: np.ndarray) -> np.ndarray:
    """``-a - 1``: same shape and dtype, every entry different (exact on the integer data
    verify draws, and within its range)."""
    return -a - 1


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _differs(output: str, got: np.ndarray, earlier: np.ndarray, bound) -> CheckResult | None:
    """A "state" result (its message filled in by `_with_reason`) when ``got`` is not within
    ``bound`` of the ``earlier`` result, else None; equal bits (NaN included) always agree."""
    if got.shape != earlier.shape:
        return CheckResult(
            "state", output, False, expected_shape=earlier.shape, got_shape=got.shape
        )
    if np.array_equal(got, earlier, equal_nan=True):
        return None
    c = compare(got, earlier, bound)
    if c.passed:
        return None
    return CheckResult(
        "state",
        output,
        False,
        f"{c.mismatched} / {c.size} elements differ; worst at index {c.index}: now"
        f" {_fmt(float(got[c.index]))}, before {_fmt(float(earlier[c.index]))}",
        expected_shape=earlier.shape,
        got_shape=got.shape,
        worst_error=c.worst_error,
        bound_ratio=c.worst_ratio,
        index=c.index,
        mismatched=c.mismatched,
    )


def _with_reason(result: CheckResult, why: str) -> CheckResult:
    detail = f" ({result.message})" if result.message else ""
    return dataclasses.replace(result, message=f"{result.output}: {why}{detail}")


def _quietly(function: UserFunction, arrays: dict, spec) -> None:
    """A call made only to leave state behind (its failures are not this check's: the same
    call on other data may fail for reasons of its own)."""
    try:
        function(arrays, spec)
    except CallFailed:
        return


def _stale_backward(
    problem: ConvProblem,
    forward: UserFunction,
    backward: UserFunction,
    report: ProblemReport,
    other: dict[str, np.ndarray],
) -> list[CheckResult]:
    """Forward on B, then backward on A, each gradient against A's reference."""
    p, spec = problem, problem.resolved
    _quietly(forward, {"x": other["x"], "w": other["w"]}, spec)
    sequence = "right after forward on other data (-x - 1, -w - 1 of the same shapes)"
    try:
        value = backward({"x": p.x, "w": p.w, "grad_y": p.grad_y}, spec)
    except CallFailed as failed:
        message = (
            f"{failed.result.message.strip()}, called {sequence}; the same call after forward"
            " on this x did not: backward depends on state the last forward call left"
        )
        return [CheckResult("state", failed.result.output, False, message)]
    try:
        grads = split_gradients(value)
    except CallFailed:
        return []
    results = []
    for output, got in zip(GRADIENTS, grads, strict=False):
        if output not in report.outputs:
            continue
        try:
            array = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        # Two results each within the bound of the reference are within twice it of each other.
        bound = 2 * report.bounds[output]
        found = _differs(output, array, report.outputs[output].astype(np.float64), bound)
        if found is not None:
            why = (
                f"backward(x, w, grad_y) {sequence} differs from the same call made after"
                " forward on this x: backward reads state the last forward call left (an"
                " x or w cached in forward) instead of its own arguments"
            )
            results.append(_with_reason(found, why))
    return results


def _aliasing(report: ProblemReport) -> list[CheckResult]:
    """Each first result as returned against its copy made when it was judged."""
    results = []
    for output, returned in report.returned.items():
        kept = report.outputs[output]
        if returned.shape != kept.shape or np.array_equal(returned, kept, equal_nan=True):
            continue
        found = _differs(output, returned, kept, 0.0)
        if found is not None:
            call = "forward" if output == "forward" else "backward"
            why = (
                f"the array the first {call} call returned changed after later calls on other"
                " data: it aliases a buffer the implementation reuses (a workspace or out="
                " array kept between calls), so a caller's earlier result is overwritten;"
                " return a new array (or a copy) from each call"
            )
            results.append(_with_reason(found, why))
    return results


def check_state(
    problem: ConvProblem,
    forward: UserFunction,
    backward: UserFunction | None,
    report: ProblemReport,
) -> None:
    """The state checks of the module docstring on ``problem``, after `ProblemChecks.run`
    filled ``report``; failures are appended to ``report.results``."""
    if "forward" not in report.expected:
        return
    p, spec = problem, problem.resolved
    other = {"x": other_data(p.x), "w": other_data(p.w), "grad_y": other_data(p.grad_y)}
    found: list[CheckResult] = []
    if backward is None:
        _quietly(forward, {"x": other["x"], "w": other["w"]}, spec)
    else:
        found += _stale_backward(p, forward, backward, report, other)
        _quietly(backward, other, spec)
    found += _aliasing(report)
    # One failure per output, and none where the problem's own checks failed already.
    seen = {r.output for r in report.failures}
    for result in found:
        if result.output not in seen:
            seen.add(result.output)
            report.results.append(result)
