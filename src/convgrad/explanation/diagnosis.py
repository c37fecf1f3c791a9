"""Diagnoses of a wrong gradient shape: `diagnose_weight_grad` and `diagnose_input_grad` take
the shape a user got, compute the shape of every candidate operation
(`convgrad.explanation.candidates`) and report which of them produce it and what to change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from convgrad.explanation.candidates import Candidate, input_candidates, weight_candidates
from convgrad.explanation.derivation import explain
from convgrad.explanation.formatting import format_shape, wrapped
from convgrad.explanation.observed import observed_spatial


@dataclass(frozen=True)
class Diagnosis:
    """How a gradient of the observed spatial shape arises; ``matches`` are the candidate
    operations that give exactly that shape, fewest changes first."""

    gradient: str
    observed: tuple[int, ...]
    expected: tuple[int, ...]
    candidates: tuple[Candidate, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the observed shape is the right one."""
        return self.observed == self.expected and not self.notes

    @property
    def matches(self) -> tuple[Candidate, ...]:
        """Candidates giving the observed spatial shape, fewest changes first."""
        found = [c for c in self.candidates if c.shape == self.observed]
        return tuple(sorted(found, key=lambda c: len(c.changes)))

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {
            "gradient": self.gradient,
            "observed": list(self.observed),
            "expected": list(self.expected),
            "ok": self.ok,
            "notes": list(self.notes),
            "matches": [c.to_dict() for c in self.matches],
            "candidates": [c.to_dict() for c in self.candidates],
        }

    def _lines(self, bullet: str, code: str) -> list[str]:
        got, want = format_shape(self.observed), format_shape(self.expected)
        lines = [f"{self.gradient}: spatial shape {code}{got}{code}, expected {code}{want}{code}."]
        lines += [f"{bullet}{note}" for note in self.notes]
        if self.observed == self.expected:
            return [*lines, "The spatial shape is right."]
        if not self.matches:
            lines.append(f"No candidate operation gives {got}; the candidates and their shapes:")
            lines += [
                f"{bullet}{c.operation} -> {code}{format_shape(c.shape)}{code}"
                + ("" if c.changes else " (the right operation)")
                for c in self.candidates
            ]
            return lines
        lines.append(f"{got} is what these operations give:")
        for c in self.matches:
            lines.append(f"{bullet}{c.operation} -> {code}{got}{code}")
            lines += [f"    change: {change}" for change in c.changes]
        return lines

    def __str__(self) -> str:
        out = []
        for line in self._lines("  - ", ""):
            out += wrapped(line, "", "      ") if line.startswith("  ") else wrapped(line, "", "  ")
        return "\n".join(out)

    def to_markdown(self) -> str:
        """The diagnosis as Markdown."""
        return "\n".join(self._lines("- ", "`")) + "\n"


def _diagnose(gradient: str, input_shape, weight_shape, observed, spec_args: dict) -> Diagnosis:
    e = explain(input_shape, weight_shape, **spec_args)
    got, notes = observed_spatial(gradient, observed, e)
    if gradient == "grad_weight":
        expected = tuple(a.kernel for a in e.dims)
        candidates = weight_candidates(e.dims)
    else:
        expected = tuple(a.grad_input for a in e.dims)
        candidates = input_candidates(e.dims)
    return Diagnosis(gradient, got, expected, tuple(candidates), tuple(notes))


def diagnose_weight_grad(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    observed: Sequence[int],
    *,
    padding="valid",
    stride=1,
    dilation=1,
    groups: int = 1,
    layout: str = "NCHW",
) -> Diagnosis:
    """How a grad_weight of spatial shape ``observed`` arises, and what to change.

    observed: the spatial sizes (e.g. ``(128, 128)``), or the whole gradient shape in the kernel
    layout (optionally with a leading batch axis, which is itself a mistake); other arguments as
    `explain`.

    >>> d = diagnose_weight_grad((128, 128, 3), (3, 3, 3, 32), (128, 128), layout="HWC")
    >>> d.matches[0].operation
    'same correlation of x with grad_y'
    """
    args = {"padding": padding, "stride": stride, "dilation": dilation, "groups": groups}
    return _diagnose("grad_weight", input_shape, weight_shape, observed, {**args, "layout": layout})


def diagnose_input_grad(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    observed: Sequence[int],
    *,
    padding="valid",
    stride=1,
    dilation=1,
    groups: int = 1,
    layout: str = "NCHW",
) -> Diagnosis:
    """How a grad_input of spatial shape ``observed`` arises, and what to change.

    observed: the spatial sizes or the whole gradient shape in the input layout; other
    arguments as `explain`.
    """
    args = {"padding": padding, "stride": stride, "dilation": dilation, "groups": groups}
    return _diagnose("grad_input", input_shape, weight_shape, observed, {**args, "layout": layout})


__all__ = ["Diagnosis", "diagnose_input_grad", "diagnose_weight_grad"]
