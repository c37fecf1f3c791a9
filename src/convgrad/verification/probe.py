"""The capability probe: before the search, each feature axis of the requested space is tried
on one tiny problem with integer data (exact in every dtype, so a right answer is bit-exact) and
classified.

- **supported**: every check passed;
- **unsupported**: a call raised NotImplementedError, or a ValueError/TypeError from a ``raise``
  statement of the user's own package (`convgrad.verification.source.declines`): the
  implementation says it does not do this;
- **wrong**: it ran and a check failed (or it crashed otherwise): a bug, searched like any other.

The rows are a baseline (the simplest problem of the space: first ndim, first padding, first
padding_mode, stride, dilation and groups 1 when allowed, flip False when allowed, the requested
dtype) and one row per other allowed value of each axis, changing only that axis: each padding (even
kernel, so 'same' and 'same_lower' differ), each stride > 1 with a remainder (the last rows reached
by no window), each dilation, each group count and its depthwise form (one input channel per group),
groups "depthwise" (C_in 2, channel multiplier 2), each ndim, flip, each padding_mode (on the first
padding of the space that pads, so the pads hold what the mode copies). Unsigned data take the
magnitudes of the nonzero values. When the baseline is not supported (a 2-D-only conv asked for
``ndim=(1, 2)``), the first of its rows that is becomes the baseline and the rows are probed
around it, so the 1-D problem is one row (`_probe_rows`). verify leaves unsupported values out
of the search (`Capabilities.restrict`) unless ``strict=True``, which counts them as failures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from convgrad.schema import json_value
from convgrad.shapes import resolve
from convgrad.spec import DEPTHWISE, ConvSpec
from convgrad.verification.bounds import Precision
from convgrad.verification.calls import CallFailed, UserFunction
from convgrad.verification.checks import BACKWARD_OUTPUT, CheckResult
from convgrad.verification.isolation import RemoteError
from convgrad.verification.problem import ConvProblem
from convgrad.verification.result import Failure, failure_of
from convgrad.verification.runner import ProblemChecks, ProblemReport
from convgrad.verification.sizes import kernel_within
from convgrad.verification.source import declines

SUPPORTED, UNSUPPORTED, WRONG = "supported", "unsupported", "wrong"
AXES = ("padding", "stride", "dilation", "groups", "ndim", "flip", "padding_mode")
"""The axes of the space the probe varies (verify's keyword arguments of the same names)."""

_VALUES = (-3, -2, -1, 1, 2, 3)
"""Nonzero integers: no operand is blank, so a term dropped or doubled changes the result."""


@dataclass(frozen=True)
class Capability:
    """One probed feature: ``axis`` (an `AXES` entry, "depthwise" or "baseline"), ``value`` (the
    value of that axis it tried), ``feature`` (in words), ``status`` (`SUPPORTED`, `UNSUPPORTED`
    or `WRONG`), ``detail`` (the exception, or the checks that failed), ``problem`` (its
    `ConvProblem.describe`) and ``hint``: for a row that raised, how the function that raised
    receives the spec when that is the likely cause (`convgrad.verification.calls.
    spec_parameter_hint`), else ""."""

    axis: str
    value: object
    feature: str
    status: str
    detail: str
    problem: dict
    hint: str = ""

    def to_dict(self) -> dict:
        """JSON-ready (the value as a plain str, int or bool, NumPy scalars converted)."""
        return json_value({k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass(frozen=True)
class Capabilities:
    """The probe's table, baseline first; ``failures``: one "unsupported" `Failure` per
    unsupported row (what ``strict=True`` reports)."""

    rows: tuple[Capability, ...]
    failures: tuple[Failure, ...] = ()

    def unsupported(self) -> tuple[Capability, ...]:
        """The rows that raised, baseline excluded (the baseline is always searched)."""
        return tuple(r for r in self.rows if r.status == UNSUPPORTED and r.axis != "baseline")

    def restrict(self, space: dict[str, tuple]) -> dict[str, tuple]:
        """``space`` without the unsupported values (a depthwise failure drops its group count:
        the strategies cannot draw grouped convolutions without depthwise ones)."""
        drop = {
            (("groups" if r.axis == "depthwise" else r.axis), r.value) for r in self.unsupported()
        }
        return {
            axis: tuple(v for v in values if (axis, v) not in drop)
            for axis, values in space.items()
        }


def _baseline(space: dict[str, tuple]) -> dict:
    """The simplest problem's settings: first ndim, padding and padding_mode; stride, dilation
    and groups 1 and flip False where allowed."""
    return {
        "ndim": space["ndim"][0],
        "padding": space["padding"][0],
        "stride": 1 if 1 in space["stride"] else space["stride"][0],
        "dilation": 1 if 1 in space["dilation"] else space["dilation"][0],
        "groups": 1 if 1 in space["groups"] else space["groups"][0],
        "flip": False if False in space["flip"] else space["flip"][0],
        "padding_mode": space["padding_mode"][0],
        "depthwise": False,
    }


def _features(space: dict[str, tuple], base: dict) -> list[tuple[str, object, dict]]:
    """(axis, value, the problem's settings) for the baseline ``base`` and every row."""
    # A padding mode is seen only where there are pads: "valid" would pass any mode.
    pads = next((p for p in (base["padding"], *space["padding"]) if p != "valid"), "valid")
    rows = [("baseline", None, base)]
    for axis in AXES:
        for value in space[axis]:
            if value != base[axis]:
                changed = (
                    {axis: value, "padding": pads} if axis == "padding_mode" else {axis: value}
                )
                rows.append((axis, value, {**base, **changed}))
            if axis == "groups" and value != DEPTHWISE and value > 1:
                rows.append(("depthwise", value, {**base, "groups": value, "depthwise": True}))
    return rows


def _spec(settings: dict) -> ConvSpec:
    rank, padding = settings["ndim"], settings["padding"]
    if padding == "explicit":
        padding = ((1, 2),) * rank
    return ConvSpec(
        padding=padding,
        stride=(settings["stride"],) * rank,
        dilation=(settings["dilation"],) * rank,
        groups=settings["groups"],
        flip=settings["flip"],
        padding_mode=settings["padding_mode"],
    )


def _problem(settings: dict, dtype: str, rng: np.random.Generator) -> tuple[ConvProblem, str]:
    """The row's problem, and "with a remainder" when its stride leaves the last rows reached
    by no window in every dim (else "")."""
    rank, g, s = settings["ndim"], settings["groups"], settings["stride"]
    kernel = kernel_within((2, 3, 2)[:rank], (settings["dilation"],) * rank)
    if g == DEPTHWISE:
        # Two input channels with multiplier 2: output channel c * 2 + m filters channel c,
        # an order that c + m * C_in would get wrong.
        g, settings = 2, {**settings, "groups": 2}
        c_in, c_out = 2, 4
    else:
        c_in, c_out = (g, g) if settings["depthwise"] else (2 * g, 2 * g)
    spec = _spec(settings)
    w_shape = (c_out, c_in // g, *kernel)

    def algebra(size: int):
        return resolve((1, c_in, *(size,) * rank), w_shape, spec)[1]

    # Per dim, the smallest input past the dilated kernel whose padded extent the stride does
    # not divide (the last rows reached by no window), where one exists.
    first = settings["dilation"] * (max(kernel) - 1) + 2
    sizes = []
    for dim in range(rank):
        tried = range(first, first + 2 * s)
        sizes.append(next((n for n in tried if algebra(n)[dim].unreached), first))
    x_shape = (1, c_in, *sizes)
    _, dims = resolve(x_shape, w_shape, spec)
    remainder = s > 1 and all(a.unreached for a in dims)
    y_shape = (1, c_out, *(a.output for a in dims))
    # Unsigned data take the values' magnitudes (a negative one would wrap to near 255).
    magnitude = np.dtype(dtype).kind == "u"
    x, w, grad_y = (
        (np.abs(v) if magnitude else v).astype(dtype)
        for v in (rng.choice(_VALUES, shape) for shape in (x_shape, w_shape, y_shape))
    )
    return ConvProblem(x, w, None, grad_y, spec), "with a remainder" if remainder else ""


def _feature(axis: str, value: object, settings: dict, dtype: str, note: str) -> str:
    if axis == "baseline":
        return (
            f"baseline: {settings['ndim']}-D, padding={settings['padding']!r}, stride"
            f" {settings['stride']}, {dtype}"
        )
    if axis == "depthwise":
        return f"depthwise (groups {value} = C_in)"
    if value == DEPTHWISE:
        return "groups 'depthwise' (groups = C_in = 2, channel multiplier 2)"
    if axis == "ndim":
        return f"{value}-D"
    if axis in ("padding", "flip"):
        return f"{axis}={value!r}"
    if axis == "padding_mode":
        return f"padding_mode={value!r}" + (
            "" if settings["padding"] == "valid" else f" (padding={settings['padding']!r})"
        )
    return f"{axis} {value}" + (f" {note}" if note else "")


class _Recorded(UserFunction):
    """A `UserFunction` that keeps the exceptions its calls raised: the exception itself when
    the call ran in this process, a `RemoteError` when it ran in a child process
    (``isolation="process"``), the failure's message for a timeout or a crash."""

    def __init__(self, fn: Callable, name: str, timeout: float | None, **options) -> None:
        super().__init__(fn, name, timeout, **options)
        self.errors: list[BaseException | RemoteError | str] = []

    def __call__(self, arrays, spec) -> object:
        try:
            return super().__call__(arrays, spec)
        except CallFailed as failed:
            self.errors.append(failed.result.message if failed.error is None else failed.error)
            raise


def _declines(error: BaseException | RemoteError | str, fn: Callable) -> bool:
    if isinstance(error, str):
        return False  # a timeout or a crash
    if isinstance(error, RemoteError):
        return error.declined
    return declines(error, fn)


def _described(error: BaseException | RemoteError | str, name: str) -> str:
    if isinstance(error, str):
        return error
    if isinstance(error, RemoteError):
        return f"{name} raised {error.text}"
    return f"{name} raised {type(error).__name__}: {error}"


def probe(
    forward: Callable,
    backward: Callable | None,
    space: dict[str, tuple],
    *,
    dtype: str,
    precision: Precision,
    exact: bool,
    seed: int,
    timeout: float | None,
    located: tuple[str | None, str | None] = (None, None),
    errstate: dict | None = None,
    isolation: str = "thread",
    hints: dict[str, str | None] | None = None,
) -> Capabilities:
    """Each row of the space (see the module) run through the checks of the first calls of
    `convgrad.verification.runner.ProblemChecks` (``extra=False``).

    space: validated tuples for each of `AXES`; located: where the functions live, for the
    reproduce snippets; errstate, isolation: as `convgrad.verification.calls.UserFunction`
    (the probe's calls run where the search's do); hints: per output, the words on how each
    function receives the spec (`convgrad.verification.calls.spec_parameter_hint`), added to the
    rows where it raised; the rest as `convgrad.verify`'s arguments.
    """
    # One pair for every row: after a call hangs, later ones fail at once instead of waiting.
    hints = hints or {}
    options = {"errstate": errstate, "isolation": isolation}
    calls = [_Recorded(forward, "forward", timeout, hint=hints.get("forward"), **options)]
    if backward is not None:
        hint = hints.get(BACKWARD_OUTPUT)
        calls.append(_Recorded(backward, "backward", timeout, hint=hint, **options))
    try:
        return _probe_rows(calls, backward, space, dtype, precision, exact, seed, located)
    finally:
        for call in calls:
            call.close()


def _probe_rows(calls, backward, space, dtype, precision, exact, seed, located) -> Capabilities:
    """`probe`'s rows with its calls made. When the simplest problem is not supported (a
    2-D-only conv asked for ``ndim=(1, 2)`` raises or crashes on 1-D), the first row that
    changes one axis and is supported becomes the baseline (when the simplest problem raised:
    the first that runs, supported before wrong) and the rows are probed again around it, so
    that one value does not take every other feature down with it."""
    rng = np.random.default_rng(seed)
    run = partial(_classified, calls, backward, dtype, precision, exact, seed, located, rng)
    features = _features(space, _baseline(space))
    rows, failures = run(features)
    if rows[0].status != SUPPORTED:
        runs = [
            (row.status, settings)
            for row, (axis, _, settings) in zip(rows, features, strict=True)
            if axis not in ("baseline", "depthwise")
        ]
        better = (SUPPORTED, WRONG) if rows[0].status == UNSUPPORTED else (SUPPORTED,)
        base = next(
            (settings for status in better for s, settings in runs if s == status),
            None,
        )
        if base is not None:
            rows, failures = run(_features(space, base))
    baseline = rows[0].status == UNSUPPORTED
    return Capabilities(tuple(rows), tuple(failures[1:] if baseline else failures))


def _classified(
    calls, backward, dtype, precision, exact, seed, located, rng, features
) -> tuple[list[Capability], list[Failure]]:
    """Each feature's row, and the "unsupported" failure of each row that raised."""
    rows, failures = [], []
    for axis, value, settings in features:
        problem, note = _problem(settings, dtype, rng)
        for call in calls:
            call.errors, call.mutations = [], {}
        # The first calls classify the row; the extra checks run on the fixed problems next.
        report = ProblemChecks(
            problem,
            calls[0],
            calls[-1] if backward else None,
            precision,
            exact=exact,
            seed=seed,
            extra=False,
        ).run()
        declined = [(c, e) for c in calls for e in c.errors if _declines(e, c.fn)]
        feature = _feature(axis, value, settings, dtype, note)
        if declined:
            call, error = declined[0]
            status, detail = UNSUPPORTED, _described(error, call.name)
            failures.append(_unsupported(problem, report, call, detail, feature, backward, located))
        elif report.failures:
            status = WRONG
            named = dict.fromkeys(f"{r.check} on {r.output}" for r in report.failures)
            crashed = [_described(e, c.name) for c in calls for e in c.errors]
            detail = "failed: " + ", ".join(named) + "".join(f"; {c}" for c in crashed[:1])
        else:
            status, detail = SUPPORTED, ""
        hint = next((c.hint for c in calls if c.errors and c.hint), "")
        row = Capability(axis, value, feature, status, detail, problem.describe(), hint)
        rows.append(row)
    return rows, failures


def _unsupported(
    problem: ConvProblem,
    report: ProblemReport,
    call: UserFunction,
    detail: str,
    feature: str,
    backward: Callable | None,
    located: tuple[str | None, str | None],
) -> Failure:
    """The failure ``strict=True`` reports for an unsupported feature."""
    result = CheckResult("unsupported", call.output, False, detail)
    failure = failure_of(problem, report, result, backward is not None, located)
    return replace(
        failure,
        diagnosis=(
            f"{call.name} does not support {feature}: it raised on the problem below. Implement"
            " it, or leave it out of the requested space (without strict=True verify leaves"
            " unsupported features out by itself)" + (f"; {call.hint}" if call.hint else "")
        ),
    )


__all__ = [
    "AXES",
    "SUPPORTED",
    "UNSUPPORTED",
    "WRONG",
    "Capabilities",
    "Capability",
    "probe",
]
