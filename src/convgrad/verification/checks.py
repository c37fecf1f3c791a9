"""One function per check of an implementation under test; each returns a `CheckResult`.

Checks and what they catch:

- ``raised``: the call itself failed — it raised, did not return within the timeout, or
  returned something outside the protocol (backward must return ``(grad_x, grad_w)`` or
  ``(grad_x, grad_w, grad_b)``).
- ``dtype``: float data must give a real floating result at least as precise as the data
  (float32 data -> float32 or float64; an integer or complex result, or float16 for float32
  data, fails): the declared precision is what the error bounds assume.
- ``shape``: the result has the shape the convention fixes (y: (N, C_out, *O); gradients the
  shape of what they differentiate).
- ``finite``: no NaN or inf where every input is finite (the drawn data cannot overflow).
- ``value``: within the rigorous elementwise bound (`convgrad.verification.bounds`) of the
  reference.
- ``exact``: bit-equal to the reference, on integer-valued data whose every partial sum is an
  integer exactly representable in the declared precision (then any summation order is exact).
- ``adjoint``: ``<forward(x), g> = <x, grad_x(g)>`` and ``<forward(x), g> = <w, grad_w(g)>``
  with the user's own forward and backward only (the dot-product test of Claerbout; PyLops
  ``dottest``): ties the backward to the same user's forward whatever convention both follow.
- ``finite_difference``: the central difference of the user's forward along a random direction
  against the user's gradient along it (``jax.test_util.check_grads``' JVP test).
- ``linearity``: ``forward(x + x_m) = forward(x) + forward(x_m)`` with ``x_m`` a random subset
  of x's entries (exact in floating point; fails any affine or elementwise non-linear map), and
  the same in w.
- ``determinism``: two calls on the same inputs give identical bits; unless verify's
  ``deterministic=True``, a second result that differs but is also within the error bound
  passes with a note (the result's ``notes``), as a summation order varying between calls
  (GPU atomics, threaded reductions) is correct.
- ``no_mutation``: the caller's arrays are unchanged after the call.
- ``state``: a result is unchanged by later calls (no reused output buffer) and backward does not
  depend on what the last forward call saw (`convgrad.verification.state`).
- ``layout``: Fortran-order, strided, negative-stride and read-only arguments give the same
  result as C-contiguous ones (`convgrad.verification.layout`).

Output names: "forward", "grad_input", "grad_weight", "grad_bias". A check of the backward call
as a whole (it raised, hung, broke the protocol or modified an argument) is reported under
"grad_input", backward's first output, with a message that says "backward".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from convgrad.schema import json_float, json_shape
from convgrad.verification.bounds import Comparison, Precision, compare, compare_integers

if TYPE_CHECKING:
    from convgrad.verification.calls import UserFunction

CHECKS = (
    "raised",
    "dtype",
    "shape",
    "finite",
    "value",
    "exact",
    "adjoint",
    "finite_difference",
    "linearity",
    "determinism",
    "no_mutation",
    "state",
    "layout",
)
BACKWARD_OUTPUT = "grad_input"
"""The output that failures of the backward call as a whole are reported under (the protocol
has no separate name for the backward call)."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one output.

    check: one of `CHECKS`; output: one of `convgrad.schema.OUTPUTS`; message: the readable
    account (empty when passed); expected_shape / got_shape: for array results; worst_error: the
    largest absolute difference; bound_ratio: worst error / bound (<= 1 passes); index: where the
    worst element is; mismatched: how many elements exceed their bound.
    """

    check: str
    output: str
    passed: bool
    message: str = ""
    expected_shape: tuple[int, ...] | None = None
    got_shape: tuple[int, ...] | None = None
    worst_error: float | None = None
    bound_ratio: float | None = None
    index: tuple[int, ...] | None = None
    mismatched: int | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict (tuples become lists; non-finite floats as `convgrad.schema.json_float`
        strings, so the dict is strict JSON)."""
        data = asdict(self)
        for key in ("expected_shape", "got_shape", "index"):
            data[key] = json_shape(data[key])
        for key in ("worst_error", "bound_ratio"):
            data[key] = json_float(data[key])
        return data


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def check_dtype(got: np.ndarray, output: str, data_dtype: np.dtype) -> CheckResult:
    """A real floating result at least as precise as the float data (module docstring); for
    integer data ``data_dtype`` is the declared accumulator and the result must be an integer
    dtype holding its every value (the accumulator's sums, as ONNX ConvInteger's int32)."""
    data_dtype = np.dtype(data_dtype)
    if data_dtype.kind in "iu":
        if got.dtype.kind in "iu" and np.can_cast(data_dtype, got.dtype, "safe"):
            return CheckResult("dtype", output, True)
        return CheckResult(
            "dtype",
            output,
            False,
            f"{output} has dtype {got.dtype} for integer data accumulated in {data_dtype};"
            f" expected the accumulator's sums as {data_dtype} or a wider integer dtype",
        )
    if got.dtype.kind != "f":
        return CheckResult(
            "dtype",
            output,
            False,
            f"{output} has dtype {got.dtype} for {data_dtype} data; expected a real floating dtype",
        )
    if np.finfo(got.dtype).eps > np.finfo(data_dtype).eps:
        return CheckResult(
            "dtype",
            output,
            False,
            f"{output} has dtype {got.dtype}, less precise"
            f" than the {data_dtype} data; expected {data_dtype} or wider",
        )
    return CheckResult("dtype", output, True)


def check_shape(
    got: np.ndarray, expected_shape: tuple[int, ...], output: str, context: str = ""
) -> CheckResult:
    """``got.shape == expected_shape``; context (e.g. the call's shapes) joins the message."""
    expected_shape = tuple(expected_shape)
    if got.shape == expected_shape:
        return CheckResult(
            "shape", output, True, expected_shape=expected_shape, got_shape=got.shape
        )
    message = f"{output}.shape={got.shape}, but should be {expected_shape}"
    return CheckResult(
        "shape",
        output,
        False,
        message + (f" [{context}]" if context else ""),
        expected_shape=expected_shape,
        got_shape=got.shape,
    )


def check_finite(got: np.ndarray, output: str) -> CheckResult:
    """No NaN or inf (the inputs are finite)."""
    bad = ~np.isfinite(got)
    count = int(np.count_nonzero(bad))
    if not count:
        return CheckResult("finite", output, True)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return CheckResult(
        "finite",
        output,
        False,
        f"{output} has {count} non-finite element(s) of"
        f" {got.size} though every input is finite; first at index {first}:"
        f" {got[first]}",
        got_shape=got.shape,
        index=first,
        mismatched=count,
    )


def _mismatch_message(
    what: str, output: str, got: np.ndarray, expected: np.ndarray, c: Comparison, model: str
) -> str:
    fraction = 100.0 * c.mismatched / max(c.size, 1)
    return (
        f"{output}: {what}\n"
        f"  tolerance: {model}\n"
        f"  mismatched elements: {c.mismatched} / {c.size} ({fraction:.3g}%)\n"
        f"  max abs difference: {_fmt(c.worst_error)}; max rel difference:"
        f" {_fmt(c.worst_relative)}\n"
        f"  worst error/bound: {_fmt(c.worst_ratio)} at index {c.index}: got"
        f" {_fmt(float(got[c.index]))}, expected {_fmt(float(expected[c.index]))}\n"
        f"  shape: {expected.shape}"
    )


def _fields(got: np.ndarray, expected: np.ndarray, c: Comparison) -> dict:
    """The `CheckResult` fields of an elementwise comparison."""
    return {
        "expected_shape": expected.shape,
        "got_shape": got.shape,
        "worst_error": c.worst_error,
        "bound_ratio": c.worst_ratio,
        "index": c.index,
        "mismatched": c.mismatched,
    }


def check_value(
    got: np.ndarray,
    expected: np.ndarray,
    bound: np.ndarray,
    output: str,
    precision: Precision,
    n: int,
) -> CheckResult:
    """``|got - expected| <= bound`` elementwise; expected is the float64 reference."""
    c = compare(got, expected, bound)
    base = _fields(got, expected, c)
    if not precision.has_bound(n):
        return CheckResult(
            "value",
            output,
            True,
            f"{output}: no worst-case bound exists for sums"
            f" of n={n} terms in {precision.accumulate} (n*u >= 1); not compared",
            **base,
        )
    if c.passed:
        return CheckResult("value", output, True, **base)
    model = (
        f"|got - ref| <= {precision.safety:g} * gamma_n(u_{precision.accumulate}) * M + rounding"
        f" to {precision.out} + the float64 reference's own gamma_n * M, M the magnitude"
        f" (sum of |products|), n = {n}"
    )
    return CheckResult(
        "value",
        output,
        False,
        _mismatch_message(
            "differs from the reference beyond the error bound", output, got, expected, c, model
        ),
        **base,
    )


def check_exact(got: np.ndarray, expected: np.ndarray, output: str) -> CheckResult:
    """Bit equality with the reference (integer data in exact range: no rounding anywhere);
    integer arrays are compared as Python ints."""
    integral = got.dtype.kind in "iu" and expected.dtype.kind in "iuO"
    c = compare_integers(got, expected) if integral else compare(got, expected, 0.0)
    base = _fields(got, expected, c)
    if c.passed:
        return CheckResult("exact", output, True, **base)
    model = (
        "exact equality: integer-valued data whose every partial sum is exactly"
        " representable, so any correct summation order gives the reference's integers"
    )
    return CheckResult(
        "exact",
        output,
        False,
        _mismatch_message("differs from the exact reference", output, got, expected, c, model),
        **base,
    )


def check_integer(
    got: np.ndarray,
    expected: np.ndarray,
    magnitude: np.ndarray,
    output: str,
    precision: Precision,
) -> CheckResult:
    """Integer data (check "exact"): equality with the exact reference where every sum of
    |products| (``magnitude``) fits the declared accumulator; beyond it (a given or fixed
    problem: the search draws inside) a correct implementation may wrap, saturate or widen, so
    the result passes, saying it was not compared."""
    if precision.fits(magnitude):
        return check_exact(got, expected, output)
    return CheckResult(
        "exact",
        output,
        True,
        f"{output}: sums of |products| up to {float(np.max(magnitude)):.6g} exceed the"
        f" {precision.accumulate} accumulator, where a correct implementation may wrap,"
        " saturate or widen; not compared",
    )


_TINY = float(np.finfo(np.float64).tiny)
"""The smallest normal float64; below it a value has lost significant bits."""


@dataclass(frozen=True)
class ScalarIdentity:
    """Two float64 scalars that must agree within ``tolerance`` (0 in the exact regime).

    exponent: lhs, rhs and tolerance are in units of ``2**exponent``: the caller scales the
    operands of its dot products by powers of two (exactly) so that neither side overflows or
    underflows wholesale at the ends of float64's range; the ratio does not depend on it.
    """

    lhs: float
    rhs: float
    tolerance: float
    lhs_text: str
    rhs_text: str
    exponent: int = 0

    @property
    def error(self) -> float:
        """``|lhs - rhs|`` in units of ``2**exponent``; inf when not finite."""
        return abs(self.lhs - self.rhs) if math.isfinite(self.lhs - self.rhs) else math.inf

    @property
    def ratio(self) -> float:
        if self.error == 0:
            return 0.0
        return self.error / self.tolerance if self.tolerance > 0 else math.inf

    def unscaled(self, value: float) -> float:
        """``value * 2**exponent`` (0 or inf where that leaves float64's range)."""
        with np.errstate(over="ignore", under="ignore"):
            return float(np.ldexp(value, self.exponent))

    def text(self, value: float) -> str:
        """``value`` in natural units, or as ``m*2**e`` where float64 cannot hold it exactly
        (beyond its range, or subnormal)."""
        true = self.unscaled(value)
        if value == 0 or not math.isfinite(value) or _TINY <= abs(true) < math.inf:
            return _fmt(true)
        return f"{_fmt(value)}*2**{self.exponent}"


def check_identity(check: str, output: str, identity: ScalarIdentity, note: str) -> CheckResult:
    """An ``adjoint`` or ``finite_difference`` scalar identity within its tolerance."""
    ratio = identity.ratio
    error = identity.unscaled(identity.error)
    base = dict(worst_error=error, bound_ratio=ratio, mismatched=int(ratio > 1))
    if ratio <= 1:
        return CheckResult(check, output, True, **base)
    tolerance = (
        "0 (exact: integer data)" if identity.tolerance == 0 else identity.text(identity.tolerance)
    )
    message = (
        f"{output}: {check} identity fails: {identity.lhs_text} = {identity.text(identity.lhs)}"
        f" but {identity.rhs_text} = {identity.text(identity.rhs)}\n"
        f"  |difference| = {identity.text(identity.error)}, tolerance {tolerance} (from the"
        f" error bounds), error/bound {_fmt(ratio)}\n  {note}"
    )
    return CheckResult(check, output, False, message, **base)


def check_linearity(
    output: str, combined: np.ndarray, parts_sum: np.ndarray, bound: np.ndarray, operand: str
) -> CheckResult:
    """``forward(a + b) = forward(a) + forward(b)`` elementwise within ``bound``."""
    c = compare(combined, parts_sum, bound)
    base = _fields(combined, parts_sum, c)
    if c.passed:
        return CheckResult("linearity", output, True, **base)
    model = "0 (exact: integer data)" if not np.any(bound) else "the forward error bounds"
    return CheckResult(
        "linearity",
        output,
        False,
        _mismatch_message(
            f"not linear in {operand}: forward({operand} + {operand}_m) != forward({operand}) +"
            f" forward({operand}_m), {operand}_m a random subset of {operand}'s entries",
            output,
            combined,
            parts_sum,
            c,
            model,
        ),
        **base,
    )


def check_determinism(
    first: np.ndarray,
    second: np.ndarray,
    output: str,
    reference: np.ndarray | None = None,
    bound: np.ndarray | float | None = None,
) -> CheckResult:
    """Two calls on the same inputs give the same dtype and shape, and the same bits or, when
    ``reference`` and its elementwise ``bound`` are given, a second result that is also within
    the bound (a summation order that varies between calls: GPU atomics, threaded reductions).
    Such a difference passes with a note as its message; one beyond the bound fails."""
    same = (
        first.dtype == second.dtype
        and first.shape == second.shape
        and np.array_equal(first, second, equal_nan=True)
    )
    if same:
        return CheckResult("determinism", output, True)
    if first.shape != second.shape or first.dtype != second.dtype:
        detail = (
            f"first call {first.dtype}{list(first.shape)}, second"
            f" {second.dtype}{list(second.shape)}"
        )
        return CheckResult(
            "determinism",
            output,
            False,
            f"{output}: two calls on the same inputs differ: {detail}",
            expected_shape=first.shape,
            got_shape=second.shape,
        )
    c = compare(second, first, 0.0)
    text = (
        f"{output}: two calls on the same inputs differ in {c.mismatched} of {c.size} elements;"
        f" largest difference {_fmt(c.worst_error)} at index {c.index}"
    )
    base = {
        "expected_shape": first.shape,
        "got_shape": second.shape,
        "worst_error": c.worst_error,
        "index": c.index,
        "mismatched": c.mismatched,
    }
    if reference is None or bound is None:
        return CheckResult("determinism", output, False, text, **base)
    within = compare(second, reference, bound)
    if within.passed:
        return CheckResult(
            "determinism",
            output,
            True,
            text + "; both within the error bound of the reference (a varying summation"
            " order), so not a failure; pass deterministic=True to require identical bits",
            **base,
        )
    return CheckResult(
        "determinism",
        output,
        False,
        text + f"; the second call is beyond the error bound (worst error/bound"
        f" {_fmt(within.worst_ratio)} at index {within.index})",
        **{**base, "bound_ratio": within.worst_ratio},
    )


def check_no_mutation(function: UserFunction) -> CheckResult:
    """The function left every argument it was given unchanged."""
    if not function.mutations:
        return CheckResult("no_mutation", function.output, True)
    changed = ", ".join(f"{k} (in {n} call(s))" for k, n in function.mutations.items())
    return CheckResult(
        "no_mutation",
        function.output,
        False,
        f"{function.name} modified its"
        f" input array(s) in place: {changed}; copy before writing (np.pad, .copy())",
        mismatched=sum(function.mutations.values()),
    )


__all__ = [
    "BACKWARD_OUTPUT",
    "CHECKS",
    "CheckResult",
    "ScalarIdentity",
    "check_determinism",
    "check_dtype",
    "check_exact",
    "check_finite",
    "check_identity",
    "check_linearity",
    "check_no_mutation",
    "check_shape",
    "check_value",
]
