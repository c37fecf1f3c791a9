"""The verification entry points: `verify` (prove a user's convolution right, or name the
mistake on a minimal problem) and `check_outputs` (judge results already computed for one
problem).

The implementation under test follows docs/design.md: ``forward(x, w, spec) -> y`` and
``backward(x, w, grad_y, spec) -> (grad_x, grad_w)`` or ``(grad_x, grad_w, grad_b)``, with
``spec`` a `convgrad.ResolvedSpec`. The forward takes no bias (``grad_b`` is checked against
grad_y summed over batch and space).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import numpy as np

from convgrad.schema import OUTPUTS, json_value
from convgrad.verification.bounds import Precision
from convgrad.verification.calls import UserFunction, spec_parameter_hint
from convgrad.verification.checks import BACKWARD_OUTPUT
from convgrad.verification.ladder import (
    boundary_plans,
    canonical_plans,
    layer_plans,
    run_ladder,
    search_budget,
)
from convgrad.verification.layout import check_layouts, layout_for
from convgrad.verification.probe import AXES, probe
from convgrad.verification.problem import ConvProblem
from convgrad.verification.result import VerifyResult
from convgrad.verification.runner import (
    ProblemChecks,
    ProblemReport,
    first_notes,
    judge_outputs,
)
from convgrad.verification.search import Found, check_given, problem_key, search
from convgrad.verification.sizes import problem_strategy, resolve_sizes
from convgrad.verification.source import locate
from convgrad.verification.space import DEFAULT_SPACE
from convgrad.verification.state import check_state


def check_outputs(
    problem: ConvProblem,
    *,
    forward: object = None,
    grad_input: object = None,
    grad_weight: object = None,
    grad_bias: object = None,
    safety: float = 1.0,
    subnormals: str = "ftz",
    precision: str | None = None,
) -> VerifyResult:
    """Judge results computed for one problem as `verify` judges them.

    Each given result must be a numeric array of a real float dtype at least as precise as the
    data, of the convention's shape and finite; then it must equal the reference bit for bit on
    integer-valued data in exact range, else lie within the rigorous elementwise bound of
    `convgrad.verification.bounds` (Higham's gamma_n). Only the problem's own results are
    compared: no adjoint, finite-difference, linearity, determinism or mutation checks (they
    need callables; use `verify`).

    Args:
        problem: the `convgrad.ConvProblem` the results were computed for.
        forward: y = conv(problem.x, problem.w, problem.b), ``(N, C_out, *O)``.
        grad_input: the gradient of ``sum(problem.grad_y * y)`` for x (x's shape).
        grad_weight: the gradient for w (w's shape).
        grad_bias: the gradient for the bias, ``(C_out,)``.
        safety: a factor >= 1 on the implementation's share of the bound, as in `verify`.
        subnormals: "ftz" or "ieee", as in `verify`.
        precision: None, "tf32", "bf16" or "fp16", as in `verify`.

    Returns:
        A `VerifyResult` of one problem; wrong results are its failures (never raised).

    Raises:
        TypeError: ``problem`` is not a `convgrad.ConvProblem`, or ``safety`` is not a number.
        ValueError: no result is given, or ``safety`` is below 1 or not finite.
    """
    if not isinstance(problem, ConvProblem):
        raise TypeError(
            f"problem={problem!r} is a {type(problem).__name__}; expected a convgrad.ConvProblem"
        )
    results = dict(zip(OUTPUTS, (forward, grad_input, grad_weight, grad_bias), strict=True))
    given = {name: value for name, value in results.items() if value is not None}
    if not given:
        raise ValueError(
            "check_outputs needs at least one of forward, grad_input, grad_weight, grad_bias;"
            " all are None"
        )
    data = problem.x.dtype.name if problem.x.dtype.kind == "f" else "float64"
    arithmetic = Precision(data, safety=safety, subnormals=subnormals, operands=precision)
    has_backward = bool(given.keys() - {"forward"})
    with np.errstate(all="ignore"):
        report = judge_outputs(problem, given, arithmetic)
        failures = tuple(
            Found(problem, report, result).failure(has_backward) for result in report.failures
        )
    settings_record = {
        "dtype": arithmetic.dtype,
        "safety": arithmetic.safety,
        "subnormals": arithmetic.subnormals,
        "precision": arithmetic.operands,
        "checked": list(given),
    }
    return VerifyResult(
        failures, 1, tuple(report.ratios), settings_record, notes=tuple(report.notes)
    )


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


ISOLATIONS = ("thread", "process")
_REPRODUCED = {
    "dtype": "float64",
    "safety": 1.0,
    "exact": True,
    "subnormals": "ftz",
    "precision": None,
    "deterministic": False,
    "isolation": "thread",
}
"""verify's arguments that change how a given problem is judged, with their defaults: a
reproduce snippet passes those the run changed."""


@contextlib.contextmanager
def _closing(*functions: UserFunction | None) -> Iterator[None]:
    """Ends the functions' worker processes however the run ends."""
    try:
        yield
    finally:
        for function in functions:
            if function is not None:
                function.close()


def _arithmetic_of(problem: ConvProblem, declared: Precision, accumulate) -> Precision:
    """The precision a problem is judged in: the declared one, or for a given problem whose
    float data has another dtype (float32 problems under the default dtype="float64") the same
    settings in the problem's dtype; the reproduce snippet then needs no dtype argument."""
    data = problem.x.dtype
    if data.kind != "f" or data.name == declared.dtype:
        return declared
    if declared.integer:
        # Float data given under an integer dtype: the float defaults of its own dtype.
        return Precision(data.name, subnormals=declared.subnormals)
    return dataclasses.replace(declared, dtype=data.name, accumulate=accumulate, out=None)


def verify(
    forward: Callable,
    backward: Callable | None = None,
    *,
    ndim: int | Sequence[int] = DEFAULT_SPACE["ndim"],
    padding: str | Sequence[str] = DEFAULT_SPACE["padding"],
    stride: int | Sequence[int] = DEFAULT_SPACE["stride"],
    dilation: int | Sequence[int] = DEFAULT_SPACE["dilation"],
    groups: int | str | Sequence[int | str] = DEFAULT_SPACE["groups"],
    dtype: str = DEFAULT_SPACE["dtype"],
    flip: bool | Sequence[bool] = DEFAULT_SPACE["flip"],
    max_examples: int = 100,
    seed: int = 0,
    safety: float = 1.0,
    accumulate: str | None = None,
    data: str | Sequence[str] = DEFAULT_SPACE["data"],
    problems: Sequence[ConvProblem] | None = None,
    timeout: float | None = 60.0,
    exact: bool = True,
    max_failures: int = 8,
    strict: bool = False,
    padding_mode: str | Sequence[str] = DEFAULT_SPACE["padding_mode"],
    sizes: str = "realistic",
    max_batch: int | None = None,
    max_channels: int | None = None,
    max_kernel: int | None = None,
    max_side: int | None = None,
    layers: str | Sequence[str] | None = None,
    subnormals: str = "ftz",
    precision: str | None = None,
    deterministic: bool = False,
    isolation: str = "thread",
) -> VerifyResult:
    """Check a convolution implementation against the oracle; never raises on user errors.

    First the capability probe (`convgrad.verification.probe`) tries each feature of the
    declared space (defaults: `convgrad.verification.space.DEFAULT_SPACE`) on one tiny integer
    problem and classifies it supported, unsupported (the implementation raised
    NotImplementedError, or a ValueError/TypeError of its own) or wrong; unsupported features
    are left out of the search unless ``strict``. Problems are then drawn with
    `convgrad.strategies.conv_problems`; every check of `convgrad.verification.checks` runs on
    each; each failing (check, output) is shrunk to a minimal problem, diagnosed
    (`convgrad.verification.diagnosis`) and given a reproduce snippet, which imports forward
    and backward when they can be imported back (`convgrad.verification.source.locate`).

    Args:
        forward: ``forward(x, w, spec) -> y``, x ``(N, C_in, *S)``, w
            ``(C_out, C_in // groups, *K)``, y ``(N, C_out, *O)``; spec a `convgrad.ResolvedSpec`.
        backward: ``backward(x, w, grad_y, spec) -> (grad_x, grad_w)`` or
            ``(grad_x, grad_w, grad_b)``; None checks the forward only.
        ndim: spatial dims drawn (1, 2, 3), one value or a tuple.
        padding: padding modes drawn ("valid", "same", "same_lower", "full", "explicit": one
            (lo, hi) pair per dim, each side 0 to 2, symmetric or not).
            The defaults of ndim, padding, stride, dilation, groups and flip are
            `convgrad.verification.space`'s.
        stride: strides drawn.
        dilation: dilations drawn.
        groups: group counts drawn; "depthwise" draws groups = C_in with C_out = multiplier *
            C_in, multiplier >= 1 (output channel c * multiplier + m filters input channel c,
            as ``torch.nn.Conv2d(groups=in_channels)`` and ``tf.nn.depthwise_conv2d``), the
            spec's ``groups`` then being C_in.
        dtype: the data dtype: "float16", "float32", "float64", or integer data "int8",
            "int16", "int32", "int64", "uint8" (quantized convolution; needs ``accumulate``):
            values drawn in the dtype's range as far as every sum fits the accumulator, each
            result compared exactly with the exact reference; results must be the
            accumulator's integers (its dtype or a wider integer one); adjoint, finite
            differences and linearity are not run (each output is already compared exactly).
        flip: False (cross-correlation), True (true convolution), or both.
        max_examples: problems drawn per search (a tenth of them once the fixed problems
            before the search failed: `convgrad.verification.ladder.search_budget`).
        seed: fixes the search: the same problems and verdict in any process, whatever
            modules are loaded (`convgrad.verification.reproducible`).
        safety: a factor >= 1 on the implementation's share of the error bound, for FFT or
            Winograd algorithms or TF32 hardware.
        accumulate: the dtype the implementation's sums are carried in (default: the data
            dtype, the strictest that is fair); for integer data required, a signed integer
            dtype at least as wide ("int32" for int8 data). A result equal to the exact sums
            wrapped to a narrower integer type is diagnosed as such.
        data: "integer" (exact regime) and/or "real" data.
        problems: check these `convgrad.ConvProblem` instead of drawing (no shrinking).
        timeout: seconds per call of the user's functions (None: no limit).
        exact: False skips bit-exact comparison on integer data (FFT or Winograd algorithms
            round even there).
        max_failures: stop after this many distinct (check, output) failures.
        strict: True searches unsupported features too and reports each as an "unsupported"
            failure; False (default) leaves them out of the search, saying so.
        padding_mode: what the pads hold, drawn from "zeros", "reflect", "replicate",
            "circular" (``torch.nn.Conv2d(padding_mode=...)``; the spec's
            ``padding_mode``); inputs are drawn large enough for reflect and circular pads.
        sizes: "realistic" (small problems, and problems with one axis widened: up to 64
            channels, kernels up to 11, sides up to 70 or batches up to 8, within a cost
            budget: `convgrad.verification.sizes`) or "small" (batch 2, 4 channels, kernel 4,
            side 10).
        max_batch, max_channels, max_kernel, max_side: the largest sizes drawn (None: the
            preset's); they cap the smaller draws too.
        layers: layers of real networks checked beside the search
            (`convgrad.verification.layers`): names of layers or networks
            (``("resnet50", "alexnet:conv1")``), "all", or () for none; None checks 3 of those
            inside the declared space (rotated by seed). Small canonical problems and boundary
            problems (11 and 19 output channels, kernels 5 and 7, 21 and 67 columns, batches
            5 and 7) are checked too, all before the search; a failure they show is shrunk
            greedily (`convgrad.verification.ladder`).

        subnormals: "ftz" (default) lets results below the smallest normal be flushed to zero
            and such operands be read as zero (XLA on CPU, GPUs, oneDNN, SIMD kernels with
            FTZ/DAZ); "ieee" requires gradual underflow (strict).
        precision: None (operands used as given), or "tf32", "bf16", "fp16": every operand
            rounded to that format (10, 7 and 10 significand bits) before its product, sums in
            float32 (TF32 tensor cores, bf16/fp16 autocast); float32 or float16 data only.
        deterministic: True requires two calls on the same inputs to return identical bits;
            False (default) lets a second result that differs within the error bound pass
            with a note in ``.notes`` (a summation order that varies between calls).
        isolation: "thread" (default: the user's functions run in this process; a timeout
            abandons a call it cannot stop) or "process" (each runs in a child process,
            `convgrad.verification.isolation`: a native crash is a failed check, "crashed:
            signal 6 (SIGABRT)", and a timeout kills the child, even in code that holds the
            GIL; arguments and results are pickled, the function too where it can be).


    Returns:
        A `VerifyResult`: ``.capabilities`` (the probe's table; empty with ``problems``),
        ``.ok``, ``.failures`` (each on its minimal problem, with diagnosis and reproduce
        snippet, grouped by cause in the text and JSON), ``.notes``, ``.raise_for_failures()``,
        ``.to_json()``, ``.to_html(path)``.

    Raises:
        TypeError: a non-callable forward/backward, one whose signature cannot take verify's
            arguments by position (`convgrad.verification.calls.spec_parameter_hint`: the message
            shows a wrapper), or an argument of the wrong type.
        ValueError: an argument outside its range (named in the message), or an empty
            ``problems``.
        KeyboardInterrupt: raised by the user's function (Ctrl-C); verify stops.

    verify's own arithmetic ignores NumPy floating-point errors (`numpy.seterr`); the user's
    functions run under the caller's settings.
    """
    if not callable(forward):
        raise TypeError(f"forward={forward!r} must be callable: forward(x, w, spec) -> y")
    if backward is not None and not callable(backward):
        raise TypeError(f"backward={backward!r} must be callable or None")
    # Each function's calling convention, checked before any call (TypeError when it cannot
    # take verify's arguments); the hints explain its failed calls.
    hints = {
        "forward": spec_parameter_hint(forward, "forward"),
        BACKWARD_OUTPUT: None if backward is None else spec_parameter_hint(backward, "backward"),
    }
    arithmetic = Precision(dtype, accumulate, None, safety, subnormals, precision)
    dtype = arithmetic.dtype
    if arithmetic.integer and not exact:
        raise ValueError(
            f"exact=False with dtype={dtype!r}: integer data are always compared exactly"
        )
    max_examples = _positive_int("max_examples", max_examples)
    max_failures = _positive_int("max_failures", max_failures)
    seed = _positive_int("seed", seed, 0)
    timeout = _timeout(timeout)
    limits = {
        "max_batch": max_batch,
        "max_channels": max_channels,
        "max_kernel": max_kernel,
        "max_side": max_side,
    }
    branches = resolve_sizes(sizes, limits)
    if not isinstance(strict, bool):
        raise TypeError(f"strict={strict!r} must be a bool")
    for name, flag in (("exact", exact), ("deterministic", deterministic)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name}={flag!r} must be a bool")
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation={isolation!r} must be one of {ISOLATIONS}")
    if problems is not None:
        problems = list(problems)
        if not problems:
            raise ValueError("problems=[] is empty: give at least one ConvProblem, or None to draw")
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
        "safety": arithmetic.safety,
        "accumulate": arithmetic.accumulate,
        "exact": bool(exact),
        "timeout": timeout,
        "strict": strict,
        "padding_mode": padding_mode,
        "sizes": sizes,
        **{name: max(getattr(b, name) for b in branches) for name in limits},
        "subnormals": arithmetic.subnormals,
        "precision": arithmetic.operands,
        "deterministic": bool(deterministic),
        "isolation": isolation,
    }
    settings_record = {k: json_value(v) for k, v in settings_record.items()}
    errstate = np.geterr()
    user_forward = UserFunction(forward, "forward", timeout, errstate, isolation, hints["forward"])
    user_backward = (
        None
        if backward is None
        else UserFunction(
            backward, "backward", timeout, errstate, isolation, hints[BACKWARD_OUTPUT]
        )
    )

    cache: dict[tuple, tuple[ProblemReport, bool]] = {}

    def check(problem: ConvProblem, extra: bool) -> ProblemReport:
        # Each search replays the previous ones' problems (same seed) and shrinking revisits
        # problems: the user's functions run once per distinct problem (again for its extra
        # checks when it had none).
        key = problem_key(problem)
        if key not in cache or (extra and not cache[key][1]):
            user_forward.mutations = {}
            if user_backward is not None:
                user_backward.mutations = {}
            report = ProblemChecks(
                problem,
                user_forward,
                user_backward,
                _arithmetic_of(problem, arithmetic, accumulate),
                exact=bool(exact),
                seed=seed,
                deterministic=bool(deterministic),
                extra=extra,
            ).run()
            if extra:
                check_state(problem, user_forward, user_backward, report)
                # One memory layout per problem, fixed by its shapes: a reproduce snippet
                # meets it.
                layouts = (layout_for(problem),)
                check_layouts(problem, user_forward, user_backward, report, layouts)
            cache[key] = report, extra
        return cache[key][0]

    located = (locate(forward), locate(backward))
    capabilities: tuple[dict, ...] = ()
    declined: tuple = ()
    with np.errstate(all="ignore"), _closing(user_forward, user_backward):
        if problems is not None:
            found, examples, ratios = check_given(problems, check)
        else:
            axes = (padding, stride, dilation, groups, ndim, flip, padding_mode)
            space = dict(zip(AXES, axes, strict=True))
            draw = {
                "dtype": dtype,
                "data": data,
                "bias": DEFAULT_SPACE["bias"],
                "accumulate": arithmetic.accumulate if arithmetic.integer else None,
            }
            # Building the strategy validates the space before the probe calls user code.
            strategy = problem_strategy(branches, **space, **draw)
            space = {
                k: tuple(v) if isinstance(v, (tuple, list)) else (v,) for k, v in space.items()
            }
            probed = probe(
                forward,
                backward,
                space,
                dtype=dtype,
                precision=arithmetic,
                exact=exact,
                seed=seed,
                timeout=timeout,
                located=located,
                errstate=errstate,
                isolation=isolation,
                hints=hints,
            )
            capabilities = tuple(row.to_dict() for row in probed.rows)
            if strict:
                declined = probed.failures
            elif probed.unsupported():
                space = probed.restrict(space)
                strategy = problem_strategy(branches, **space, **draw)
            # The probe's restriction (padding_mode included) reaches the fixed problems too.
            ladder_space = {k: space[k] for k in AXES}
            kinds = (data,) if isinstance(data, str) else tuple(data)
            plans = (
                canonical_plans(ladder_space, real="integer" in kinds and "real" in kinds)
                + layer_plans(layers, ladder_space, seed)
                + boundary_plans(ladder_space, seed)
            )
            by_family: dict = {}
            fixed = run_ladder(
                plans,
                check,
                by_family,
                seed=seed,
                dtype=dtype,
                integer="integer" in kinds,
                max_failures=max_failures,
            )
            found, examples, ratios = search(
                strategy,
                check,
                max_examples=search_budget(max_examples, failed=bool(by_family)),
                seed=seed,
                max_failures=max_failures,
                found=by_family,
            )
            examples += fixed
        defaults = {**_REPRODUCED, "accumulate": "float32" if precision else dtype}
        options = {k: settings_record[k] for k, v in defaults.items() if settings_record[k] != v}
        failures = (
            *declined,
            # A cause is confirmed on a larger problem by its values alone: no extra checks.
            *(
                f.failure(
                    backward is not None, located, options, partial(check, extra=False), hints
                )
                for f in found
            ),
        )
    notes = first_notes(note for report, _ in cache.values() for note in report.notes)
    return VerifyResult(
        failures,
        examples,
        tuple(ratios),
        settings_record,
        capabilities=capabilities,
        notes=notes,
    )


__all__ = ["check_outputs", "verify"]
