"""`verify`: prove a user's convolution forward and backward right, or name the mistake.

Problems are drawn with `convgrad.strategies.conv_problems` restricted to the declared space;
every check of `convgrad.checks` runs on each. When a check fails, hypothesis shrinks the
problem to a minimal one failing that same check on that same output (its own shrinker: the
search raises only for that (check, output), so shrinking keeps the failure); then the search
runs again, ignoring failures already found, until no new one appears, ``max_failures`` is
reached, or the examples are spent. Each failure carries an explanation (`convgrad._diagnose`)
and a snippet that reproduces it.

The implementation under test follows DESIGN.md: ``forward(x, w, spec) -> y`` and
``backward(x, w, grad_y, spec) -> (grad_x, grad_w)`` or ``(grad_x, grad_w, grad_b)``, with
``spec`` a `convgrad.ResolvedSpec`. The forward takes no bias (``grad_b`` is checked against
grad_y summed over batch and space).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky

from convgrad import _diagnose
from convgrad._problem_checks import ProblemChecks, ProblemReport, judge_outputs
from convgrad.bounds import FLOAT_DTYPES, Precision
from convgrad.checks import OUTPUTS, CheckResult, UserFunction
from convgrad.problem import ConvProblem

SCHEMA_VERSION = 1
"""Version of the `VerifyResult.to_dict` layout; bumped on any incompatible change."""

SHRINK_BUDGET = 400
"""Problems checked while shrinking one failure; past it the smallest found so far stands."""

_INLINE_LIMIT = 4096
"""Arrays up to this many elements are written literally into the reproduce snippet."""


class VerificationError(AssertionError):
    """Raised by `VerifyResult.raise_for_failures`; its message is the readable report."""


@dataclass(frozen=True)
class Failure:
    """One failed check on its minimal problem.

    problem: `ConvProblem.describe()` (shapes, dtype, resolved spec); the rest as in
    `convgrad.CheckResult`, plus an ``explanation`` and a ``reproduce`` snippet.
    """

    check: str
    output: str
    problem: dict
    expected_shape: tuple[int, ...] | None
    got_shape: tuple[int, ...] | None
    worst_error: float | None
    bound_ratio: float | None
    index: tuple[int, ...] | None
    message: str
    explanation: str
    reproduce: str

    def to_dict(self) -> dict:
        """A JSON-ready dict (non-finite floats become None)."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("expected_shape", "got_shape", "index"):
            if data[key] is not None:
                data[key] = list(data[key])
        for key in ("worst_error", "bound_ratio"):
            if data[key] is not None and not math.isfinite(data[key]):
                data[key] = None
        return data

    def __str__(self) -> str:
        p = self.problem
        spec = p["spec"]
        ratio = "" if self.bound_ratio is None else f" (error/bound {self.bound_ratio:.3g})"
        return (
            f"FAILED {self.check} on {self.output}{ratio}\n"
            f"  minimal problem: x {tuple(p['x'])}, w {tuple(p['w'])}, y {tuple(p['y'])},"
            f" {p['dtype']}, mode={spec['mode']!r} padding={spec['padding']}"
            f" stride={spec['stride']} dilation={spec['dilation']} groups={spec['groups']}"
            f" flip={spec['flip']}\n"
            + _indent(self.message, "  ")
            + "\n"
            + _indent(self.explanation, "  why: ", "       ")
        )


def _indent(text: str, first: str, rest: str | None = None) -> str:
    rest = first if rest is None else rest
    lines = text.splitlines() or [""]
    return "\n".join([first + lines[0], *(rest + line for line in lines[1:])])


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `verify`.

    ok: no check failed; failures: one `Failure` per (check, output), on its minimal problem;
    examples: problems checked in the final search; ratios: error/bound ratios of passing value
    comparisons, records ``{check, output, ratio, x, w, y, dtype, spec}`` (for accuracy plots);
    settings: the arguments verify ran with.
    """

    failures: tuple[Failure, ...]
    examples: int
    ratios: tuple[dict, ...] = ()
    settings: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures

    def to_dict(self) -> dict:
        """JSON-ready: ``schema_version``, ``ok``, ``examples``, ``settings``, ``failures``,
        ``ratios``."""
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": self.ok,
            "examples": self.examples,
            "settings": dict(self.settings),
            "failures": [f.to_dict() for f in self.failures],
            "ratios": [dict(r) for r in self.ratios],
        }

    def to_json(self, **dumps_kwargs) -> str:
        """`to_dict` as JSON (strict: no NaN or Infinity)."""
        return json.dumps(self.to_dict(), allow_nan=False, **dumps_kwargs)

    def raise_for_failures(self) -> None:
        """Raise `VerificationError` (an AssertionError) with the report if any check failed."""
        if not self.ok:
            raise VerificationError(str(self))

    def to_html(self, path: str | Path) -> Path:
        """Write the HTML report (`convgrad.report.render_html`) to ``path``; returns it."""
        from convgrad.report import render_html

        return render_html(self.to_dict(), path)

    def __str__(self) -> str:
        head = f"convgrad.verify: {len(self.failures)} failure(s) in {self.examples} problem(s)"
        if self.ok:
            worst = max((r["ratio"] or 0.0 for r in self.ratios), default=0.0)
            return (
                f"convgrad.verify: all checks passed on {self.examples} problem(s); worst"
                f" error/bound {worst:.3g}"
            )
        blocks = [head]
        for failure in self.failures:
            blocks.append(str(failure) + "\n  reproduce:\n" + _indent(failure.reproduce, "    "))
        return "\n\n".join(blocks)


def _literal(name: str, array: np.ndarray | None) -> str:
    if array is None:
        return f"{name} = None"
    if array.size > _INLINE_LIMIT:
        return (
            f"{name} = ...  # your {array.dtype} array of shape {array.shape} (too large to inline)"
        )
    return f"{name} = np.array({array.tolist()!r}, dtype={str(array.dtype)!r})"


def reproduce_snippet(problem: ConvProblem, backward: bool) -> str:
    """Python that rebuilds the problem from literal arrays and re-runs verify on it."""
    s = problem.spec
    call = (
        "cg.verify(forward, backward, problems=[problem])"
        if backward
        else ("cg.verify(forward, problems=[problem])")
    )
    return "\n".join(
        [
            "import numpy as np",
            "import convgrad as cg",
            "from convgrad.problem import ConvProblem",
            "",
            _literal("x", problem.x),
            _literal("w", problem.w),
            _literal("grad_y", problem.grad_y),
            f"spec = cg.ConvSpec(padding={s.padding!r}, stride={s.stride!r},"
            f" dilation={s.dilation!r}, groups={s.groups!r}, flip={s.flip!r})",
            "problem = ConvProblem(x, w, None, grad_y, spec)",
            f"print({call})",
        ]
    )


class _Falsified(Exception):
    """Raised inside the hypothesis search for the target (check, output)."""


@dataclass
class _Found:
    problem: ConvProblem
    report: ProblemReport
    result: CheckResult


def _failure(found: _Found, has_backward: bool) -> Failure:
    r, p = found.result, found.problem
    explanation = _diagnose.explain(
        p, r, found.report.outputs.get(r.output), found.report.bounds.get(r.output)
    )
    return Failure(
        check=r.check,
        output=r.output,
        problem=p.describe(),
        expected_shape=r.expected_shape,
        got_shape=r.got_shape,
        worst_error=r.worst_error,
        bound_ratio=r.bound_ratio,
        index=r.index,
        message=r.message,
        explanation=explanation,
        reproduce=reproduce_snippet(p, has_backward),
    )


def check_outputs(
    problem: ConvProblem,
    *,
    forward: object = None,
    grad_input: object = None,
    grad_weight: object = None,
    grad_bias: object = None,
    safety: float = 1.0,
) -> VerifyResult:
    """Judge results computed for one problem as `verify` judges them; never raises on wrong
    results, which become the returned `VerifyResult`'s failures.

    forward: y = conv(problem.x, problem.w, problem.b), (N, C_out, *O); grad_input (x's shape),
    grad_weight (w's shape), grad_bias ((C_out,)): the gradients of ``sum(problem.grad_y * y)``
    (DESIGN.md); array-likes, omitted ones not checked. Each given result must be a numeric
    array of a real float dtype at least as precise as the data, of the convention's shape and
    finite; then it must equal the reference bit for bit on integer-valued data in exact range,
    else lie within the rigorous elementwise bound of `convgrad.bounds` (Higham's gamma_n).
    safety (>= 1) scales the implementation's share of the bound, as in `verify`.

    Only the problem's own results are compared: no adjoint, finite-difference, linearity,
    determinism or mutation checks (they need callables; use `verify`). Raises TypeError when
    ``problem`` is not a `convgrad.problem.ConvProblem`, ValueError when no result is given,
    and as `verify` for a bad ``safety``.
    """
    if not isinstance(problem, ConvProblem):
        raise TypeError(
            f"problem={problem!r} is a {type(problem).__name__}; expected a"
            " convgrad.problem.ConvProblem"
        )
    results = dict(
        zip(OUTPUTS, (forward, grad_input, grad_weight, grad_bias), strict=True),
    )
    given = {name: value for name, value in results.items() if value is not None}
    if not given:
        raise ValueError(
            "check_outputs needs at least one of forward, grad_input, grad_weight, grad_bias;"
            " all are None"
        )
    data = problem.x.dtype.name if problem.x.dtype.kind == "f" else "float64"
    precision = Precision(data, safety=safety)
    report = judge_outputs(problem, given, precision)
    has_backward = bool(given.keys() - {"forward"})
    failures = tuple(
        _failure(_Found(problem, report, result), has_backward) for result in report.failures
    )
    settings_record = {"dtype": precision.dtype, "safety": precision.safety, "checked": list(given)}
    return VerifyResult(failures, 1, tuple(report.ratios), settings_record)


def _problem_key(problem: ConvProblem) -> tuple:
    arrays = (problem.x, problem.w, problem.grad_y)
    return (repr(problem.resolved), *((a.dtype.str, a.shape, a.tobytes()) for a in arrays))


def _family(result: CheckResult) -> tuple[str, str]:
    """The (check, output) a failure is reported under; "exact" is the value check on integer
    data, so both count as one."""
    return ("value" if result.check == "exact" else result.check, result.output)


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be an int")
    if value < minimum:
        raise ValueError(f"{name}={value!r} must be >= {minimum}")
    return int(value)


def _timeout(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout={value!r} must be a number of seconds or None")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"timeout={value!r} must be finite and > 0 (or None for no limit)")
    return float(value)


def verify(
    forward: Callable,
    backward: Callable | None = None,
    *,
    ndim: int | Sequence[int] = 2,
    padding: str | Sequence[str] = ("valid", "same", "full"),
    stride: int | Sequence[int] = (1, 2),
    dilation: int | Sequence[int] = (1, 2),
    groups: int | Sequence[int] = (1, 2),
    dtype: str = "float64",
    flip: bool | Sequence[bool] = (False,),
    max_examples: int = 100,
    seed: int = 0,
    safety: float = 1.0,
    accumulate: str | None = None,
    data: str | Sequence[str] = ("integer", "real"),
    problems: Sequence[ConvProblem] | None = None,
    timeout: float | None = 60.0,
    exact: bool = True,
    max_failures: int = 8,
) -> VerifyResult:
    """Check a convolution implementation against the oracle; never raises on user errors.

    forward(x, w, spec) -> y: (N, C_out, *O); backward(x, w, grad_y, spec) -> (grad_x, grad_w)
    or (grad_x, grad_w, grad_b); spec is a `convgrad.ResolvedSpec`. ``backward=None`` checks the
    forward only. ndim, padding, stride, dilation, groups, flip, data: the values problems are
    drawn from (as `convgrad.strategies.conv_problems`); dtype: the data dtype (float16/32/64).

    Extras: safety (>= 1) scales the implementation's share of the error bound; accumulate: the
    dtype its sums are carried in (default: the data dtype, the strictest that is fair);
    problems: check these `ConvProblem` instead of drawing (no shrinking); timeout: seconds per
    call (None: no limit); exact: False skips bit-exact comparison on integer data (FFT or
    Winograd algorithms round even there); max_failures: stop after this many distinct failures.

    seed fixes the search, with one caveat: hypothesis also draws numeric constants found in the
    caller's loaded non-test modules, so importing another module of your project can change the
    problems drawn. A failure's reproduce snippet is always exact.
    """
    if not callable(forward):
        raise TypeError(f"forward={forward!r} must be callable: forward(x, w, spec) -> y")
    if backward is not None and not callable(backward):
        raise TypeError(f"backward={backward!r} must be callable or None")
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype={dtype!r} must be one of {FLOAT_DTYPES}")
    precision = Precision(dtype, accumulate, None, safety)
    max_examples = _positive_int("max_examples", max_examples)
    max_failures = _positive_int("max_failures", max_failures)
    seed = _positive_int("seed", seed, 0)
    timeout = _timeout(timeout)
    if not isinstance(exact, bool):
        raise TypeError(f"exact={exact!r} must be a bool")
    settings_record = {
        "ndim": ndim,
        "padding": padding,
        "stride": stride,
        "dilation": dilation,
        "groups": groups,
        "dtype": dtype,
        "flip": flip,
        "data": data,
        "max_examples": max_examples,
        "seed": seed,
        "safety": precision.safety,
        "accumulate": precision.accumulate,
        "exact": exact,
        "timeout": timeout,
    }
    settings_record = {
        k: list(v) if isinstance(v, tuple) else v for k, v in settings_record.items()
    }
    user_forward = UserFunction(forward, "forward", timeout)
    user_backward = None if backward is None else UserFunction(backward, "backward", timeout)

    cache: dict[tuple, ProblemReport] = {}

    def check(problem: ConvProblem) -> ProblemReport:
        # Each search replays the previous ones' problems (same seed) and shrinking revisits
        # problems: the user's functions run once per distinct problem.
        key = _problem_key(problem)
        if key not in cache:
            user_forward.mutations = {}
            if user_backward is not None:
                user_backward.mutations = {}
            cache[key] = ProblemChecks(
                problem, user_forward, user_backward, precision, exact=exact, seed=seed
            ).run()
        return cache[key]

    if problems is not None:
        return _check_given(problems, check, backward is not None, settings_record)
    from convgrad.strategies import conv_problems

    strategy = conv_problems(
        ndim=ndim,
        padding=padding,
        stride=stride,
        dilation=dilation,
        groups=groups,
        flip=flip,
        dtype=dtype,
        data=data,
        bias=(False,),
    )
    return _search(
        strategy, check, backward is not None, max_examples, seed, max_failures, settings_record
    )


def _check_given(problems, check, has_backward: bool, settings_record: dict) -> VerifyResult:
    items = list(problems)
    for j, problem in enumerate(items):
        if not isinstance(problem, ConvProblem):
            raise TypeError(f"problems[{j}] is a {type(problem).__name__}; expected ConvProblem")
    found: dict[tuple[str, str], _Found] = {}
    ratios: list[dict] = []
    for problem in items:
        report = check(problem)
        ratios += report.ratios
        for result in report.failures:
            found.setdefault(_family(result), _Found(problem, report, result))
    failures = tuple(_failure(f, has_backward) for f in found.values())
    return VerifyResult(failures, len(items), tuple(ratios), settings_record)


def _search_once(strategy, check, done: dict, run_settings, seed: int):
    """One hypothesis search raising only for the first (check, output) not in ``done``;
    hypothesis shrinks that failure. Returns (the minimal `_Found` or None, problems checked,
    ratios recorded)."""
    target: dict[str, object] = {}
    ratios: list[dict] = []
    count, shrinking = [0], [0]

    @run_settings
    @hypothesis_seed(seed)
    @given(strategy)
    def search(problem: ConvProblem) -> None:
        if "key" in target:
            shrinking[0] += 1
            if shrinking[0] > SHRINK_BUDGET and _problem_key(problem) != target["best"]:
                # Budget spent: report no smaller failure, so the shrinker ends quickly; the
                # current minimal problem still fails when hypothesis replays it.
                return
        report = check(problem)
        count[0] += 1
        ratios.extend(report.ratios)
        for result in report.failures:
            key = _family(result)
            if key in done:
                continue
            target.setdefault("key", key)
            if key == target["key"]:
                # The last raise is hypothesis' final replay of the minimal example.
                target["found"] = _Found(problem, report, result)
                target["best"] = _problem_key(problem)
                raise _Falsified

    # Flaky: a user function that fails only sometimes; the last failing problem still stands.
    with contextlib.suppress(_Falsified, Flaky):
        search()
    return target.get("found"), count[0], ratios


def _search(strategy, check, has_backward, max_examples, seed, max_failures, settings_record):
    """Repeated searches, each shrinking the first new (check, output) failure, until a search
    finds nothing new or ``max_failures`` are found."""
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
    done: dict[tuple[str, str], _Found] = {}
    ratios: list[dict] = []
    examples = 0
    while len(done) < max_failures:
        found, examples, run_ratios = _search_once(strategy, check, done, run_settings, seed)
        if found is None:
            ratios = run_ratios
            break
        done[_family(found.result)] = found
    failures = tuple(_failure(f, has_backward) for f in done.values())
    return VerifyResult(failures, examples, tuple(ratios), settings_record)


__all__ = [
    "SCHEMA_VERSION",
    "Failure",
    "VerificationError",
    "VerifyResult",
    "check_outputs",
    "verify",
]
