"""Every check of `convgrad.verification.checks` run on one `ConvProblem`: `ProblemChecks`
against a user's forward and backward (what `convgrad.verify` and the report's sweep run), and
`judge_outputs` on results already computed (what `convgrad.check_outputs` and the pytest
plugin run).

Reference results and bounds are computed once per problem; a check whose prerequisites failed
(no array, wrong shape, non-finite values) is skipped rather than reported twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from convgrad.reference import conv, conv_backward
from convgrad.schema import note_record, ratio_record
from convgrad.verification import checks as ck
from convgrad.verification.bounds import (
    Precision,
    abs_dot,
    adjoint_sides,
    dot,
    exact_within,
    finite_difference_tolerance,
    forward_flushed,
    forward_magnitude,
    forward_terms,
    free_flushed,
    free_forward_magnitude,
    free_magnitudes,
    gradient_flushed,
    gradient_magnitudes,
    gradient_terms,
    linearity_bound,
)
from convgrad.verification.calls import CallFailed, UserFunction, as_array, split_gradients
from convgrad.verification.numeric import EXACT_LIMIT, is_integer_valued, random_direction
from convgrad.verification.problem import ConvProblem

GRADIENTS = ("grad_input", "grad_weight", "grad_bias")
_FAILED = object()
"""What `ProblemChecks._call` returns when the call failed (None is a value a user may return)."""
_VALUE_CHECKS = ("value", "exact", "adjoint", "finite_difference", "linearity")
EXTRA_CHECKS = ("determinism", "linearity", "finite_difference", "state", "layout")
"""The checks that call the user's functions beyond the first forward and backward calls
(`ProblemChecks`' ``extra``; `convgrad.verification.state`, `convgrad.verification.layout`)."""


@dataclass
class ProblemReport:
    """What the checks found on one problem: results in order, and value-check ratios.

    Per output name: ``outputs`` a copy of the first call's result made when it was judged (so
    later calls cannot change it), ``returned`` the array as the user's function returned it
    (for `convgrad.verification.state`'s aliasing check), ``expected`` the reference and
    ``bounds`` its elementwise error bound.
    ``notes``: records ``{check, output, message, x, w, y, dtype, spec}`` of passed checks
    that still have something to say, such as a nondeterminism within the bound.
    """

    results: list[ck.CheckResult] = field(default_factory=list)
    ratios: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    returned: dict[str, np.ndarray] = field(default_factory=dict)
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    bounds: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def failures(self) -> list[ck.CheckResult]:
        return [r for r in self.results if not r.passed]


def _call_text(problem: ConvProblem, call: str, grad_y: bool) -> str:
    """The call a shape failure is reported against: shapes and the resolved spec."""
    p, spec = problem, problem.resolved
    gy = f", grad_y={p.grad_y.shape}" if grad_y else ""
    return (
        f"{call}(x={p.x.shape}, w={p.w.shape}{gy}, mode={spec.mode!r}, padding="
        f"{spec.padding}, stride={spec.stride}, dilation={spec.dilation}, groups="
        f"{spec.groups}, flip={spec.flip})"
    )


class _Judge:
    """The checks of one result against the reference, shared by `ProblemChecks` (verify) and
    `judge_outputs` (`convgrad.check_outputs`): a numeric array, then dtype, shape and
    finiteness, then bit equality on integer-valued data in exact range, else the value within
    the rigorous bound of `convgrad.verification.bounds`.

    integer: every operand is integer-valued and the exact regime is allowed.
    """

    def __init__(self, problem: ConvProblem, precision: Precision, *, integer: bool) -> None:
        self.p, self.precision, self.integer = problem, precision, integer
        self.report = ProblemReport()
        self.tolerances: dict[str, tuple[np.ndarray, np.ndarray | float]] = {}
        """Per sound output: the reference and the tolerance it was judged with (0 when
        exact)."""
        # Exact (integer or object) data is judged as float64 data, the reference's precision,
        # unless an integer accumulator is declared: then results are its integer sums.
        kind = problem.x.dtype.kind
        self.data_dtype = problem.x.dtype if kind == "f" else np.dtype(np.float64)
        if precision.integer:
            self.data_dtype = np.dtype(precision.accumulate)

    def _exact(self, *magnitudes: np.ndarray) -> bool:
        limit = self.precision.exact_limit
        return self.integer and all(float(np.max(m)) <= limit for m in magnitudes)

    def add(self, result: ck.CheckResult) -> ck.CheckResult:
        self.report.results.append(result)
        if result.passed and result.check == "determinism" and result.message:
            self.report.notes.append(
                note_record(result.check, result.output, result.message, self.p.describe())
            )
        if result.passed and result.check in _VALUE_CHECKS and result.bound_ratio is not None:
            self.report.ratios.append(
                ratio_record(result.check, result.output, result.bound_ratio, self.p.describe())
            )
        return result

    def _array(self, value: object, output: str) -> np.ndarray | None:
        try:
            return as_array(value, output)
        except CallFailed as failed:
            self.add(failed.result)
            return None

    def _sound(self, got: np.ndarray, expected_shape, output: str, context: str) -> bool:
        """dtype, shape and finiteness in order; False at the first failure."""
        for result in (
            lambda: ck.check_dtype(got, output, self.data_dtype),
            lambda: ck.check_shape(got, expected_shape, output, context),
            lambda: ck.check_finite(got, output),
        ):
            if not self.add(result()).passed:
                return False
        return True

    def judge(
        self,
        output: str,
        value: object,
        reference: np.ndarray,
        magnitude: np.ndarray,
        n: int,
        context: str,
        flushed: np.ndarray | float = 0.0,
    ) -> np.ndarray | None:
        """Check ``value`` as ``output`` against ``reference`` (sums of n products of absolute
        sum ``magnitude``, ``flushed`` of it from operands below the smallest normal); its
        float64 array when sound, else None."""
        got = self._array(value, output)
        if got is None:
            return None
        bound = self.precision.bound(n, magnitude, reference, flushed)
        self.report.outputs[output], self.report.returned[output] = got.copy(), got
        self.report.expected[output], self.report.bounds[output] = reference, bound
        if not self._sound(got, reference.shape, output, context):
            return None
        g = got.astype(np.float64)
        if self.precision.integer:
            if not self.precision.fits(magnitude):
                # No one right answer: compared neither here nor in other memory layouts.
                del self.report.expected[output]
            self.tolerances[output] = (reference, 0.0)
            self.add(ck.check_integer(got, reference, magnitude, output, self.precision))
        elif self._exact(magnitude):
            self.tolerances[output] = (reference, 0.0)
            self.add(ck.check_exact(g, reference, output))
        else:
            self.tolerances[output] = (reference, bound)
            self.add(ck.check_value(g, reference, bound, output, self.precision, n))
        return g


def first_notes(notes: Iterable[dict]) -> tuple[dict, ...]:
    """The first note of each (check, output), in order: what a result reports."""
    first: dict[tuple[str, str], dict] = {}
    for note in notes:
        first.setdefault((note["check"], note["output"]), note)
    return tuple(first.values())


def judge_outputs(
    problem: ConvProblem, given: dict[str, object], precision: Precision
) -> ProblemReport:
    """`_Judge`'s checks on given results of ``problem``, keyed by output name (a subset of
    `convgrad.schema.OUTPUTS`, in that order): forward is y of (x, w, b), the gradients those of
    ``sum(grad_y * y)``."""
    p, kw = problem, problem.kwargs
    operands = [a for a in (p.x, p.w, p.b, p.grad_y) if a is not None]
    judge = _Judge(p, precision, integer=all(is_integer_valued(a) for a in operands))
    context = _call_text(p, "check_outputs", grad_y=True)
    if "forward" in given:
        judge.judge(
            "forward",
            given["forward"],
            conv(p.x, p.w, p.b, **kw),
            forward_magnitude(p.x, p.w, p.b, **kw),
            forward_terms(p.w.shape, p.b is not None),
            context,
            forward_flushed(precision, p.x, p.w, p.b, **kw),
        )
    if given.keys() & set(GRADIENTS):
        refs = conv_backward(p.x, p.w, p.grad_y, b=p.b, **kw)
        magnitudes = gradient_magnitudes(p.x, p.w, p.grad_y, **kw)
        flushed = gradient_flushed(precision, p.x, p.w, p.grad_y, **kw)
        terms = gradient_terms(p.w.shape, p.grad_y.shape, p.resolved.groups, p.input_copies)
        for j, output in enumerate(GRADIENTS):
            if output in given:
                judge.judge(
                    output, given[output], refs[j], magnitudes[j], terms[j], context, flushed[j]
                )
    return judge.report


class ProblemChecks(_Judge):
    """Runs the checks of one problem; ``run()`` returns a `ProblemReport`.

    exact: allow the exact (tolerance 0) regime on integer-valued data; False for algorithms
    that round even on integers (FFT, Winograd). deterministic: two calls must give identical
    bits; False lets a second result that differs within the error bound pass with a note.
    extra: False leaves out the checks that call the user's functions again (`EXTRA_CHECKS`
    but the state and layout checks, which run elsewhere): the first forward and backward
    calls only, judged by value, adjoint and mutation.
    """

    def __init__(
        self,
        problem: ConvProblem,
        forward: UserFunction,
        backward: UserFunction | None,
        precision: Precision,
        *,
        exact: bool,
        seed: int,
        deterministic: bool = False,
        extra: bool = True,
    ) -> None:
        integer = exact and all(
            is_integer_valued(a) for a in (problem.x, problem.w, problem.grad_y)
        )
        super().__init__(problem, precision, integer=integer)
        self.forward, self.backward = forward, backward
        self.deterministic, self.extra = deterministic, extra
        self.kw = problem.kwargs
        self.rng = np.random.default_rng(seed)
        self.n_forward = forward_terms(problem.w.shape, False)
        self.n_grads = gradient_terms(
            problem.w.shape, problem.grad_y.shape, problem.resolved.groups, problem.input_copies
        )
        self.free = free_magnitudes(problem.x, problem.w, problem.grad_y, problem.input_copies)
        self.free_flushed = free_flushed(precision, problem.x, problem.w, problem.grad_y)

    def _call(self, function: UserFunction, arrays: dict[str, np.ndarray]):
        try:
            return function(arrays, self.p.resolved)
        except CallFailed as failed:
            self.add(failed.result)
            return _FAILED

    def _forward_at(self, x, w) -> np.ndarray | None:
        """The user's forward at another point, for linearity and finite differences."""
        value = self._call(self.forward, {"x": x, "w": w})
        if value is _FAILED:
            return None
        got = self._array(value, "forward")
        if got is None or got.shape != self.p.output_shape or got.dtype.kind != "f":
            return None
        return got.astype(np.float64)

    def run(self) -> ProblemReport:
        y = self.check_forward()
        if self.backward is not None:
            self.check_backward(y)
        self.add(ck.check_no_mutation(self.forward))
        if self.backward is not None:
            self.add(ck.check_no_mutation(self.backward))
        return self.report

    def check_forward(self) -> np.ndarray | None:
        """The forward's checks; its float64 result when sound, else None."""
        p = self.p
        value = self._call(self.forward, {"x": p.x, "w": p.w})
        if value is _FAILED:
            return None
        y = self.judge(
            "forward",
            value,
            conv(p.x, p.w, **self.kw),
            forward_magnitude(p.x, p.w, **self.kw),
            self.n_forward,
            _call_text(p, "forward", grad_y=False),
            forward_flushed(self.precision, p.x, p.w, **self.kw),
        )
        if y is None or not self.extra:
            return y
        got = self.report.outputs["forward"]
        again = self._call(self.forward, {"x": p.x, "w": p.w})
        if again is not _FAILED and (second := self._array(again, "forward")) is not None:
            self.add(ck.check_determinism(got, second, "forward", *self._tolerance("forward")))
        if not self.precision.integer:
            # On integer data every output is compared exactly, and the perturbed data of
            # linearity and finite differences (2x, +-1) leave the range the accumulator holds.
            self._linearity(y, "x")
            self._linearity(y, "w")
        return y

    def _linearity(self, y: np.ndarray, operand: str) -> None:
        p = self.p
        base = p.x if operand == "x" else p.w
        mask = self.rng.random(base.shape) < 0.5
        part = np.where(mask, base, np.zeros_like(base))
        # base + part is base or 2*base entrywise: exact in any binary floating-point dtype.
        total = base + part
        at = {"x": (part, p.w), "w": (p.x, part)}[operand]
        at_total = {"x": (total, p.w), "w": (p.x, total)}[operand]
        y_part = self._forward_at(*at)
        y_total = self._forward_at(*at_total)
        if y_part is None or y_total is None:
            return
        parts = y + y_part
        # |part| <= |base| and |base + part| <= 2|base| entrywise, so the magnitudes are at
        # most M and 2M, M the convention-free magnitude at (x, w).
        bound = linearity_bound(
            self.precision,
            self.n_forward,
            self.free["forward"],
            parts,
            integer=self.integer,
            flushed=self.free_flushed["forward"],
        )
        self.add(ck.check_linearity("forward", y_total, parts, bound, operand))

    def check_backward(self, y: np.ndarray | None) -> None:
        p = self.p
        arrays = {"x": p.x, "w": p.w, "grad_y": p.grad_y}
        value = self._call(self.backward, arrays)
        if value is _FAILED:
            return
        try:
            grads = split_gradients(value)
        except CallFailed as failed:
            self.add(failed.result)
            return
        ref = conv_backward(p.x, p.w, p.grad_y, **self.kw)
        magnitudes = gradient_magnitudes(p.x, p.w, p.grad_y, **self.kw)
        flushed = gradient_flushed(self.precision, p.x, p.w, p.grad_y, **self.kw)
        context = _call_text(p, "backward", grad_y=True)
        sound: dict[str, np.ndarray] = {}
        for j, got_value in enumerate(grads):
            output = GRADIENTS[j]
            g = self.judge(
                output, got_value, ref[j], magnitudes[j], self.n_grads[j], context, flushed[j]
            )
            if g is not None:
                sound[output] = g
        if self.extra and (again := self._call(self.backward, arrays)) is not _FAILED:
            self._backward_determinism(grads, again)
        if y is None or self.precision.integer:
            return
        for output, operand in (("grad_input", "x"), ("grad_weight", "w")):
            if output in sound:
                self._adjoint(y, sound[output], output, operand)
                if self.extra:
                    self._finite_difference(sound[output], output, operand)

    def _tolerance(self, output: str) -> tuple:
        """(reference, tolerance) for `checks.check_determinism`; (None, None) when bits must
        match (deterministic=True) or the first result was not sound."""
        if self.deterministic or output not in self.tolerances:
            return None, None
        return self.tolerances[output]

    def _backward_determinism(self, first: tuple, again: object) -> None:
        """The second call's gradients against the first call's (``first``, as returned)."""
        try:
            second = split_gradients(again)
        except CallFailed as failed:
            self.add(failed.result)
            return
        if len(first) != len(second):
            self.add(
                ck.CheckResult(
                    "determinism",
                    ck.BACKWARD_OUTPUT,
                    False,
                    f"backward returned {len(first)} values on the first call and"
                    f" {len(second)} on a second call with the same inputs",
                )
            )
            return
        for j, b in enumerate(second):
            # The first call's results as copied when judged: a result that aliases a reused
            # buffer is compared with the second call's, not with itself.
            output = GRADIENTS[j]
            earlier = self.report.outputs.get(output)
            if earlier is not None and (later := self._array(b, output)) is not None:
                self.add(ck.check_determinism(earlier, later, output, *self._tolerance(output)))

    def _adjoint(self, y: np.ndarray, grad: np.ndarray, output: str, operand: str) -> None:
        p = self.p
        j = GRADIENTS.index(output)
        base = p.x if operand == "x" else p.w
        lhs, rhs, tolerance, e = adjoint_sides(
            y,
            p.grad_y,
            base,
            grad,
            precision=self.precision,
            n_forward=self.n_forward,
            n_grad=self.n_grads[j],
            m_y=self.free["forward"],
            m_g=self.free[output],
            integer=self.integer,
            f_y=self.free_flushed["forward"],
            f_g=self.free_flushed[output],
        )
        identity = ck.ScalarIdentity(
            lhs,
            rhs,
            tolerance,
            "<forward(x, w), grad_y>",
            f"<{operand}, {output}(grad_y)>",
            exponent=e,
        )
        note = (
            f"your forward and your {output} are not adjoint: {output} is not the gradient of"
            " your own forward (whatever convention the forward follows)"
        )
        self.add(ck.check_identity("adjoint", output, identity, note))

    def _finite_difference(self, grad: np.ndarray, output: str, operand: str) -> None:
        p = self.p
        j = GRADIENTS.index(output)
        base = p.x if operand == "x" else p.w
        v = random_direction(base.shape, self.rng, integer=self.integer)
        h = 1.0
        if not self.integer:
            # The forward is linear: no truncation error, so a step of the data's own scale
            # (a power of two, so x ± h v and the division by 2h add no rounding) is best.
            scale = float(np.max(np.abs(base))) or 1.0
            h = 2.0 ** round(math.log2(scale / max(float(np.max(np.abs(v))), 1e-300)))
        dtype = base.dtype
        plus = (base.astype(np.float64) + h * v).astype(dtype)
        minus = (base.astype(np.float64) - h * v).astype(dtype)
        v_eff = (plus.astype(np.float64) - minus.astype(np.float64)) / (2 * h)
        points = [(plus, p.w), (minus, p.w)] if operand == "x" else [(p.x, plus), (p.x, minus)]
        y_plus, y_minus = (self._forward_at(*pt) for pt in points)
        if y_plus is None or y_minus is None:
            return
        d = (y_plus - y_minus) / (2 * h)
        m_pm = max(free_forward_magnitude(*pt) for pt in points)
        f_pm = max(free_flushed(self.precision, *pt, p.grad_y)["forward"] for pt in points)
        m_g = self.free[output]
        exact = (
            exact_within(self.precision, self.integer, m_pm)
            and exact_within(self.precision, self.integer, m_g)
            and max(abs_dot(p.grad_y, d), abs_dot(v_eff, grad), abs_dot(p.grad_y, y_plus - y_minus))
            <= EXACT_LIMIT
        )
        tolerance = finite_difference_tolerance(
            p.grad_y,
            d,
            v_eff,
            grad,
            precision=self.precision,
            h=h,
            n_forward=self.n_forward,
            n_grad=self.n_grads[j],
            m_pm=m_pm,
            m_g=m_g,
            exact=exact,
            f_pm=f_pm,
            f_g=self.free_flushed[output],
        )
        identity = ck.ScalarIdentity(
            dot(p.grad_y, d),
            dot(v_eff, grad),
            tolerance,
            f"<grad_y, (forward({operand}+h*v) - forward({operand}-h*v)) / 2h> (h={h:g})",
            f"<v, {output}(grad_y)>",
        )
        note = (
            f"the derivative of your forward along a random direction v in {operand} disagrees"
            f" with your {output}"
        )
        self.add(ck.check_identity("finite_difference", output, identity, note))


__all__ = [
    "EXTRA_CHECKS",
    "GRADIENTS",
    "ProblemChecks",
    "ProblemReport",
    "first_notes",
    "judge_outputs",
]
