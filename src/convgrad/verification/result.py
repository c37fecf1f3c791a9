"""What verify returns: `Failure` (one failed check on its minimal problem, with its diagnosis
and a snippet that reproduces it), `VerifyResult` (text, JSON, HTML) and `VerificationError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convgrad.schema import VERIFY_SCHEMA_VERSION, json_float, json_shape, json_value, read_float
from convgrad.verification import causes
from convgrad.verification.checks import CheckResult
from convgrad.verification.diagnosis import diagnose
from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import ProblemReport
from convgrad.verification.source import import_lines

"""Version of the `VerifyResult.to_dict` layout; bumped on any incompatible change."""

INLINE_LIMIT = 4096
"""Arrays up to this many elements are written literally into the reproduce snippet."""


class VerificationError(AssertionError):
    """Raised by `VerifyResult.raise_for_failures`; its message is the readable report."""


@dataclass(frozen=True)
class Failure:
    """One failed check on its minimal problem.

    problem: `ConvProblem.describe()` (shapes, dtype, resolved spec); the rest as in
    `convgrad.CheckResult`, plus a ``diagnosis`` (why it failed, `convgrad.verification.diagnosis`)
    and a ``reproduce`` snippet.
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
    diagnosis: str
    reproduce: str

    def to_dict(self) -> dict:
        """A JSON-ready dict (shapes as lists; non-finite floats as `convgrad.schema.json_float`
        strings)."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("expected_shape", "got_shape", "index"):
            data[key] = json_shape(data[key])
        for key in ("worst_error", "bound_ratio"):
            data[key] = json_float(data[key])
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
            + _indent(self.diagnosis, "  why: ", "       ")
        )


def _indent(text: str, first: str, rest: str | None = None) -> str:
    rest = first if rest is None else rest
    lines = text.splitlines() or [""]
    return "\n".join([first + lines[0], *(rest + line for line in lines[1:])])


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `convgrad.verify` or `convgrad.check_outputs`.

    ok: no check failed; failures: one `Failure` per (check, output), on its minimal problem;
    examples: problems checked in the final search; ratios: error/bound ratios of passing value
    comparisons, records ``{check, output, ratio, x, w, y, dtype, spec}`` (for accuracy plots);
    settings: the arguments verify ran with; capabilities: the capability probe's table
    (`convgrad.verification.probe.Capability.to_dict` records, baseline first; empty when
    verify was given fixed problems); notes: records ``{check, output, message, x, w, y, dtype,
    spec}`` of checks that passed with something to say (two calls that differ within the error
    bound), the first per (check, output).
    """

    failures: tuple[Failure, ...]
    examples: int
    ratios: tuple[dict, ...] = ()
    settings: dict = field(default_factory=dict)
    capabilities: tuple[dict, ...] = ()
    notes: tuple[dict, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures

    def to_dict(self) -> dict:
        """JSON-ready: ``schema_version``, ``ok``, ``examples``, ``settings``,
        ``capabilities``, ``causes`` (`convgrad.verification.causes.group`: indices into
        ``failures``), ``failures``, ``ratios``, ``notes``."""
        failures = [f.to_dict() for f in self.failures]
        return {
            "schema_version": VERIFY_SCHEMA_VERSION,
            "ok": self.ok,
            "examples": self.examples,
            "settings": json_value(dict(self.settings)),
            "capabilities": [dict(c) for c in self.capabilities],
            "causes": causes.group(failures),
            "failures": failures,
            "ratios": [dict(r) for r in self.ratios],
            "notes": [dict(n) for n in self.notes],
        }

    def to_json(self, **dumps_kwargs) -> str:
        """`to_dict` as JSON (strict: no NaN or Infinity)."""
        return json.dumps(self.to_dict(), allow_nan=False, **dumps_kwargs)

    def raise_for_failures(self) -> None:
        """Raise `VerificationError` (an AssertionError) with the report if any check failed."""
        __tracebackhide__ = True  # pytest shows the caller's line, not this one
        if not self.ok:
            raise VerificationError(str(self))

    def to_html(self, path: str | Path) -> Path:
        """Write the HTML report (`convgrad.report.render_html`) to ``path``; returns it."""
        from convgrad.report import render_html

        return render_html(self.to_dict(), path)

    def __str__(self) -> str:
        capabilities = capability_table(self.capabilities, bool(self.settings.get("strict")))
        top = [capabilities] if capabilities else []
        if self.ok:
            worst = max((read_float(r["ratio"]) for r in self.ratios), default=0.0)
            return "\n\n".join(
                [
                    f"convgrad.verify: all checks passed on {self.examples} problem(s); worst"
                    f" error/bound {worst:.3g}"
                    + "".join(f"\n  note: {n['message']}" for n in self.notes),
                    *top,
                ]
            )
        head = f"convgrad.verify: {len(self.failures)} failure(s) in {self.examples} problem(s)"
        groups = causes.group([f.to_dict() for f in self.failures])
        lines = ["causes (most specific first; failure numbers in brackets):"]
        lines += [f"  {c['summary']} {_numbers(c['failures'])}" for c in groups]
        blocks = [head, *top, "\n".join(lines)]
        for j in (j for c in groups for j in c["failures"]):
            failure = self.failures[j]
            blocks.append(
                f"[{j + 1}] {failure}\n  reproduce:\n" + _indent(failure.reproduce, "    ")
            )
        blocks += [f"note: {n['message']}" for n in self.notes]
        return "\n\n".join(blocks)


def _numbers(indices: Sequence[int]) -> str:
    return "[" + ", ".join(str(j + 1) for j in indices) + "]"


def capability_table(rows: Sequence[dict], strict: bool) -> str:
    """The capability table as text, from `Capability.to_dict` records, with the likely cause
    of its raised rows once (their ``hint``) and the line saying what was left out of the
    search and how to include it."""
    if not rows:
        return ""
    width = max(len(r["feature"]) for r in rows)
    lines = ["capabilities (each probed on one tiny integer problem):"]
    for r in rows:
        detail = f"  {r['detail']}" if r["detail"] else ""
        lines.append(f"  {r['feature']:<{width}}  {r['status']:<11}{detail}".rstrip())
    hints = dict.fromkeys(r.get("hint") for r in rows if r["status"] != "supported")
    lines += [f"the rows that raised, likely cause: {hint}" for hint in hints if hint]
    left = [r["feature"] for r in rows if r["status"] == "unsupported" and r["axis"] != "baseline"]
    if rows[0]["status"] == "unsupported":
        lines.append(
            "the baseline raised too, with every one-axis change: nothing requested runs (a dtype"
            " or rank your code declines?); verify searches the baseline and reports it failing"
        )
    if left and strict:
        lines.append(f"strict: unsupported features count as failures: {', '.join(left)}")
    elif left:
        lines.append(
            f"left out of the search (unsupported): {', '.join(left)}; strict=True (CLI --strict)"
            " searches them and counts them as failures"
        )
    return "\n".join(lines)


def _literal(name: str, array: np.ndarray | None) -> str:
    if array is None:
        return f"{name} = None"
    if array.size > INLINE_LIMIT:
        return (
            f"{name} = ...  # your {array.dtype} array of shape {array.shape} (too large to inline)"
        )
    return f"{name} = np.array({array.tolist()!r}, dtype={str(array.dtype)!r})"


def reproduce_snippet(
    problem: ConvProblem,
    backward: bool,
    located: tuple[str | None, str | None] = (None, None),
    options: dict | None = None,
) -> str:
    """Python that rebuilds the problem from literal arrays and re-runs verify on it.

    located: where forward and backward live (`convgrad.verification.source.locate`); the
    snippet imports those it knows and says in a comment what to define for the others.
    options: verify's keyword arguments that the run set away from their defaults, passed on.
    """
    s = problem.spec
    names = ("forward", "backward") if backward else ("forward",)
    extra = "".join(f", {k}={v!r}" for k, v in (options or {}).items())
    call = f"cg.verify({', '.join(names)}, problems=[problem]{extra})"
    imports, missing = [], []
    for name, path in zip(names, located, strict=False):
        if path is None:
            missing.append(name)
        else:
            imports += import_lines(path, name)
    signatures = {
        "forward": "forward(x, w, spec) -> y",
        "backward": "backward(x, w, grad_y, spec) -> (grad_x, grad_w[, grad_b])",
    }
    define = (
        [
            f"# define {' and '.join(signatures[n] for n in missing)} here: verify could not"
            f" import {'them' if len(missing) > 1 else 'it'} back (a script's __main__ or a"
            " local function)"
        ]
        if missing
        else []
    )
    return "\n".join(
        [
            "import numpy as np",
            "import convgrad as cg",
            *imports,
            *define,
            "",
            _literal("x", problem.x),
            _literal("w", problem.w),
            _literal("grad_y", problem.grad_y),
            f"spec = cg.ConvSpec(padding={s.padding!r}, stride={s.stride!r},"
            f" dilation={s.dilation!r}, groups={s.groups!r}, flip={s.flip!r}"
            + ("" if s.padding_mode == "zeros" else f", padding_mode={s.padding_mode!r}")
            + ")",
            "problem = cg.ConvProblem(x, w, None, grad_y, spec)",
            f"print({call})",
        ]
    )


def failure_of(
    problem: ConvProblem,
    report: ProblemReport,
    result: CheckResult,
    has_backward: bool,
    located: tuple[str | None, str | None] = (None, None),
    options: dict | None = None,
    rerun: Callable[[ConvProblem], ProblemReport] | None = None,
    hints: dict[str, str | None] | None = None,
) -> Failure:
    """The `Failure` of ``result``, one of ``report``'s failed checks on ``problem``: diagnosed
    from the user's output and its bound (``rerun``: the user's functions checked on another
    problem, which confirms a cause on a larger one; ``hints``: per output, the words
    `convgrad.verification.calls.spec_parameter_hint` has on how the function whose whole call
    is reported there receives the spec), with a reproduce snippet (``located`` and ``options``
    as in `reproduce_snippet`)."""
    diagnosis = diagnose(
        problem,
        result,
        report.outputs.get(result.output),
        report.bounds.get(result.output),
        rerun,
        (hints or {}).get(result.output),
    )
    return Failure(
        check=result.check,
        output=result.output,
        problem=problem.describe(),
        expected_shape=result.expected_shape,
        got_shape=result.got_shape,
        worst_error=result.worst_error,
        bound_ratio=result.bound_ratio,
        index=result.index,
        message=result.message,
        diagnosis=diagnosis,
        reproduce=reproduce_snippet(problem, has_backward, located, options),
    )


__all__ = [
    "Failure",
    "VerificationError",
    "VerifyResult",
    "capability_table",
    "failure_of",
    "reproduce_snippet",
]
