"""The layout check: the same problem passed in the memory layouts users' arrays come in must
give the same result.

verify's other checks pass fresh C-contiguous, writable arrays. Users pass transposed views,
Fortran-order arrays, slices with steps, negative strides and read-only arrays (a memory-mapped
file, a broadcast); an implementation that assumes C-contiguous strides (``as_strided`` with
strides computed from the shape, a reshape of the raw buffer, ``np.frombuffer``, a C extension
reading the pointer) or writes into its arguments as scratch space is wrong on them.

A layout is passed for every argument at once (x, w and, for backward, grad_y), and each
result is compared with the reference within its error bound (the bound of the value check:
exact agreement is not asked for, since a BLAS may sum in another order for another layout).
Failures are check "layout", at most one per output, naming the layout; a write into a read-only
argument is check "no_mutation", naming the arguments written (an in-place update the caller's
copy did not show: undone before returning, or writing the values already there).

verify tries one layout per problem (`layout_for`, a function of the problem's shapes and spec,
so the reproduce snippet meets the same one), to keep the check's cost at two calls; the search
meets every layout across its problems.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from convgrad.verification.bounds import compare
from convgrad.verification.calls import CallFailed, UserFunction, split_gradients
from convgrad.verification.checks import CheckResult
from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import GRADIENTS, ProblemReport

__all__ = ["LAYOUTS", "as_layout", "check_layouts", "layout_for"]

LAYOUTS = {
    "fortran": "Fortran-order arrays (np.asfortranarray)",
    "strided": (
        "strided slices (a[..., ::2] of a buffer twice as wide, NaN, -1 or an unsigned type's"
        " largest value in the gaps)"
    ),
    "negative_stride": "negative-stride views (a reversed copy reversed back, a[::-1, ::-1, ...])",
    "read_only": "read-only arrays (flags.writeable = False)",
}
"""Each layout and how `as_layout` makes it."""


def as_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """A new array equal to ``a`` (same shape, dtype and values) in ``layout``, one of
    `LAYOUTS`; ValueError for another name."""
    if layout == "fortran":
        return np.asfortranarray(a.copy())
    if layout == "strided":
        gap = np.nan if a.dtype.kind in "fc" else -1
        if a.dtype.kind == "u":
            gap = np.iinfo(a.dtype).max  # -1 does not fit; the largest value stands out too
        wide = np.full((*a.shape[:-1], 2 * a.shape[-1]), gap, dtype=a.dtype)
        view = wide[..., ::2]
        view[...] = a
        return view
    if layout == "negative_stride":
        reverse = (slice(None, None, -1),) * a.ndim
        return a[reverse].copy()[reverse]
    if layout == "read_only":
        frozen = a.copy()
        frozen.flags.writeable = False
        return frozen
    raise ValueError(f"layout={layout!r} is not one of {tuple(LAYOUTS)}")


def layout_for(problem: ConvProblem) -> str:
    """The layout verify's search tries on ``problem``: one of `LAYOUTS`, fixed by its shapes
    and resolved spec (the same in every process)."""
    key = repr((problem.x.shape, problem.w.shape, problem.resolved)).encode()
    names = tuple(LAYOUTS)
    return names[zlib.crc32(key) % len(names)]


def _mismatch(output: str, got: object, report: ProblemReport, layout: str) -> CheckResult | None:
    """A "layout" failure when ``got`` is not ``output``'s reference within its bound."""
    expected = report.expected[output]
    try:
        array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    why = (
        f"{output}: with {LAYOUTS[layout]} the result differs from the one for C-contiguous"
        " arrays of the same values: the implementation assumes C-contiguous, writable arrays"
        " (strides computed from the shape, as_strided or a reshape of the raw buffer,"
        " np.frombuffer); call np.ascontiguousarray on each argument first"
    )
    if array.shape != expected.shape:
        message = f"{why} (shape {array.shape}, expected {expected.shape})"
        return CheckResult(
            "layout", output, False, message, expected_shape=expected.shape, got_shape=array.shape
        )
    c = compare(array, expected, report.bounds[output])
    if c.passed:
        return None
    message = (
        f"{why} ({c.mismatched} / {c.size} elements beyond the error bound; worst at index"
        f" {c.index}: got {array[c.index]:.6g}, expected {expected[c.index]:.6g})"
    )
    return CheckResult(
        "layout",
        output,
        False,
        message,
        expected_shape=expected.shape,
        got_shape=array.shape,
        worst_error=c.worst_error,
        bound_ratio=c.worst_ratio,
        index=c.index,
        mismatched=c.mismatched,
    )


def _results(
    function: UserFunction, arrays: dict, problem: ConvProblem, layout: str
) -> dict[str, object] | CheckResult:
    """The call's results by output name in ``layout``, or its "layout" failure if it raised."""
    try:
        value = function(arrays, problem.resolved, lambda a: as_layout(a, layout))
        if function.name == "forward":
            return {"forward": value}
        return dict(zip(GRADIENTS, split_gradients(value), strict=False))
    except CallFailed as failed:
        text = failed.result.message.strip()
        if layout == "read_only" and "read-only" in text:
            return _writes(function, arrays, problem, failed.result.output, text)
        message = (
            f"with {LAYOUTS[layout]}: {text}\n  (it did not with C-contiguous arrays: accept"
            " any NumPy array, np.ascontiguousarray first, and never write into an argument)"
        )
        return CheckResult("layout", failed.result.output, False, message)


def _writes(
    function: UserFunction, arrays: dict, problem: ConvProblem, output: str, text: str
) -> CheckResult:
    """The "no_mutation" failure of a call that wrote into a read-only argument, naming the
    arguments written (each made read-only alone, the others writable)."""
    written = []
    for name in arrays:

        def copy(a: np.ndarray, target=arrays[name]) -> np.ndarray:
            return as_layout(a, "read_only") if a is target else a.copy()

        try:
            function(arrays, problem.resolved, copy)
        except CallFailed:
            written.append(name)
    # The caller's copies showed no change: the write was undone, or wrote values already there.
    message = (
        f"{function.name} writes into its input array(s) {', '.join(written) or '?'}: with"
        f" {LAYOUTS['read_only']}, {text}"
    )
    return CheckResult("no_mutation", output, False, message)


def check_layouts(
    problem: ConvProblem,
    forward: UserFunction,
    backward: UserFunction | None,
    report: ProblemReport,
    layouts: Sequence[str] = tuple(LAYOUTS),
) -> None:
    """Each of ``layouts`` (names of `LAYOUTS`) through forward and backward, after
    `ProblemChecks.run` filled ``report``; failures (one per output at most) are appended to
    ``report.results``. Outputs whose own checks failed are not compared."""
    p = problem
    calls = [(forward, {"x": p.x, "w": p.w})]
    if backward is not None:
        calls.append((backward, {"x": p.x, "w": p.w, "grad_y": p.grad_y}))
    failed = {r.output for r in report.failures}
    for function, arrays in calls:
        for layout in layouts:
            results = _results(function, arrays, p, layout)
            if isinstance(results, CheckResult):
                if results.output not in failed:
                    failed.add(results.output)
                    report.results.append(results)
                break
            for output, got in results.items():
                if output in failed or output not in report.expected:
                    continue
                found = _mismatch(output, got, report, layout)
                if found is not None:
                    failed.add(output)
                    report.results.append(found)
