"""Transposed convolution as an op under test: `verify_transpose`, in the transpose's own terms.

The transposed convolution T with weight ``W: (C_in, C_out // groups, *K)`` (PyTorch's
ConvTranspose layout), pads ``(lo, hi)``, stride s, dilation d and ``output_padding`` is the
adjoint, with respect to its input, of the convolution C that reads the same W as its
``(C_out_c, C_in_c // groups, *K)`` weight, with the same pads, on an input of T's output size.
With ``L = <grad_y, T(x, W)>`` and C's gradients at (input a, output gradient b):

    forward      T(x, W)      = C.grad_input(grad_y=x)             (conv_transpose)
    grad_input   dL/dx        = C(grad_y, W)                       (C's forward)
    grad_weight  dL/dW        = C.grad_weight(input=grad_y, grad_y=x)
    grad_bias    dL/db        = grad_y summed over batch and space, (C_out,)

so the transposed problem ``(x, W, grad_y)`` is the conv problem ``(x=grad_y, w=W,
grad_y=x)``: the user's transpose, wrapped as a conv (`_AsConv`), runs through every check of
`convgrad.verify` (exact, bound, adjoint, finite difference, linearity, determinism, mutation,
shrinking and diagnosis), and the failures come back with the outputs, shapes, spec and
reproduce snippet of the transpose (`_translate`).

output_padding: C's output size is T's input size exactly when ``output_padding < stride``
(the conv's windows leave the last ``output_padding`` input rows unreached); a drawn conv
problem gives every such value (``r = (O_t + lo + hi - d(K-1) - 1) mod s``). PyTorch also
accepts ``stride <= output_padding < dilation`` (its rule is ``< max(stride, dilation)``);
such a transpose is the adjoint of a conv whose output is cropped, which this mapping does not
express: `TransposeSpec` refuses it with the rule. ONNX ConvTranspose states no bound on
output_padding (onnx/onnx#2333): any value reachable through ``output_shape`` is allowed there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from convgrad.shapes import output_sizes, transpose_output_size
from convgrad.spec import DEPTHWISE, ConvSpec, ResolvedSpec, per_dim_ints
from convgrad.verification.api import verify
from convgrad.verification.calls import split_gradients
from convgrad.verification.problem import ConvProblem
from convgrad.verification.result import Failure, VerifyResult

TRANSPOSED_OUTPUTS = {
    "forward": "grad_input",
    "grad_input": "forward",
    "grad_weight": "grad_weight",
    "grad_bias": "grad_bias",
}
"""The conv's output name -> the transpose's: C's forward is T's grad_input and C's grad_input
T's forward."""


@dataclass(frozen=True)
class TransposeSpec:
    """What an implementation of a transposed convolution under test receives.

    padding: one ``(lo, hi)`` per spatial dim (the pads of the conv it transposes, cropped from
    T's output); stride, dilation, output_padding: one int per spatial dim; groups: an int.
    ``O_t = (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1`` (torch.nn.ConvTranspose).
    Construction validates every field (ValueError/TypeError naming it, its value and the rule):
    ``0 <= output_padding < stride`` (see the module docstring for PyTorch's and ONNX's rules).
    """

    padding: tuple[tuple[int, int], ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    output_padding: tuple[int, ...]

    def __post_init__(self) -> None:
        if isinstance(self.padding, str) or not isinstance(self.padding, Sequence):
            raise TypeError(
                f"padding={self.padding!r} must hold one int or (lo, hi) pair per spatial dim"
            )
        ndim = len(self.padding)
        if self.groups == DEPTHWISE:
            raise ValueError(
                f"groups={DEPTHWISE!r}: a transposed layer's kernel does not fix the conv's C_in;"
                " pass the group count (C_in of the convolution it transposes)"
            )
        conv = ConvSpec(self.padding, self.stride, self.dilation, self.groups)
        pads = tuple(p if isinstance(p, tuple) else (p, p) for p in conv.padding)
        object.__setattr__(self, "padding", pads)
        for name, minimum in (("stride", 1), ("dilation", 1), ("output_padding", 0)):
            object.__setattr__(self, name, per_dim_ints(name, getattr(self, name), ndim, minimum))
        object.__setattr__(self, "groups", conv.groups)
        for j, (op, s, d) in enumerate(
            zip(self.output_padding, self.stride, self.dilation, strict=True)
        ):
            if op >= max(s, d):
                raise ValueError(
                    f"output_padding={self.output_padding!r}: along spatial dim {j} it is {op},"
                    f" but it must be smaller than stride ({s}) or dilation ({d}) (as"
                    " torch.nn.ConvTranspose)"
                )
            if op >= s:
                raise ValueError(
                    f"output_padding={self.output_padding!r}: along spatial dim {j} it is {op} >="
                    f" stride ({s}); PyTorch accepts it below dilation ({d}), but such a"
                    " transpose is the adjoint of a cropped conv, which verify_transpose does"
                    " not check: use output_padding < stride"
                )

    @property
    def ndim(self) -> int:
        """The number of spatial dims."""
        return len(self.padding)

    @property
    def conv_spec(self) -> ConvSpec:
        """The spec of the convolution this transposes."""
        return ConvSpec(self.padding, self.stride, self.dilation, self.groups)

    def to_dict(self) -> dict:
        """A JSON-ready description (mode "explicit" and flip False, as a conv's record)."""
        return {
            "mode": "explicit",
            "padding": [list(p) for p in self.padding],
            "stride": list(self.stride),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "flip": False,
            "output_padding": list(self.output_padding),
        }


def _unreached(input_spatial, kernel_spatial, padding, stride, dilation) -> tuple[int, ...]:
    """Per dim, the conv input rows no window reaches: the transpose's output_padding."""
    return tuple(
        (i + lo + hi - d * (k - 1) - 1) % s
        for i, k, (lo, hi), s, d in zip(
            input_spatial, kernel_spatial, padding, stride, dilation, strict=True
        )
    )


def transpose_spec_of(resolved: ResolvedSpec, conv_input_spatial, kernel_spatial) -> TransposeSpec:
    """The `TransposeSpec` of the transpose of this conv on an input of these spatial sizes."""
    return TransposeSpec(
        resolved.padding,
        resolved.stride,
        resolved.dilation,
        resolved.groups,
        _unreached(
            conv_input_spatial, kernel_spatial, resolved.padding, resolved.stride, resolved.dilation
        ),
    )


@dataclass(frozen=True, eq=False)
class TransposeProblem:
    """One transposed-convolution problem: x ``(N, C_in, *S)``, w ``(C_in, C_out // groups,
    *K)``, grad_y ``(N, C_out, *O_t)`` (the transpose's output shape), spec a `TransposeSpec`.

    `as_conv` is the conv problem it is the adjoint of; construction validates it (ValueError
    where grad_y's shape is not the transpose's output shape)."""

    x: np.ndarray
    w: np.ndarray
    grad_y: np.ndarray
    spec: TransposeSpec

    def __post_init__(self) -> None:
        if not isinstance(self.spec, TransposeSpec):
            raise TypeError(f"spec must be a TransposeSpec, got {type(self.spec).__name__}")
        for name in ("x", "w", "grad_y"):
            if not isinstance(getattr(self, name), np.ndarray):
                raise TypeError(f"{name} must be a numpy.ndarray")
        x, w, s = self.x, self.w, self.spec
        if x.ndim != w.ndim or x.ndim != s.ndim + 2 or x.shape[1] != w.shape[0]:
            raise ValueError(
                f"x has shape {x.shape} and w {w.shape} for a spec of {s.ndim} spatial dims;"
                " expected x (N, C_in, *S) and w (C_in, C_out // groups, *K)"
            )
        spatial = tuple(
            transpose_output_size(i, k, lo, hi, st, d, op)
            for i, k, (lo, hi), st, d, op in zip(
                x.shape[2:],
                w.shape[2:],
                s.padding,
                s.stride,
                s.dilation,
                s.output_padding,
                strict=True,
            )
        )
        expected = (x.shape[0], w.shape[1] * s.groups, *spatial)
        if self.grad_y.shape != expected:
            raise ValueError(
                f"grad_y has shape {self.grad_y.shape}; it must have the transpose's output"
                f" shape {expected} (O_t = (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1)"
            )
        self.as_conv()

    def as_conv(self) -> ConvProblem:
        """The conv problem ``(x=grad_y, w=w, grad_y=x)`` this transposes."""
        return ConvProblem(self.grad_y, self.w, None, self.x, self.spec.conv_spec)


class _AsConv:
    """A transpose's ``forward(x, w, spec)`` and ``backward(x, w, grad_y, spec)`` as the conv
    protocol (module docstring): ``forward_c(a, w) = backward_t(zeros, w, a)[0]`` (the
    transpose's grad_input does not depend on its x, which gets zeros) and ``backward_c(a, w, b)
    = (forward_t(b, w), backward_t(b, w, a)[1])``."""

    def __init__(self, forward: Callable, backward: Callable) -> None:
        self.forward_t, self.backward_t = forward, backward

    @staticmethod
    def _spec(a: np.ndarray, w: np.ndarray, spec: ResolvedSpec) -> TransposeSpec:
        return transpose_spec_of(spec, a.shape[2:], w.shape[2:])

    def forward(self, a: np.ndarray, w: np.ndarray, spec: ResolvedSpec):
        x_t = np.zeros((a.shape[0], w.shape[0], *output_sizes(a.shape, w.shape, spec)), a.dtype)
        grads = _call("backward", self.backward_t, x_t, w, a, self._spec(a, w, spec))
        return split_gradients(grads)[0]

    def backward(self, a: np.ndarray, w: np.ndarray, b: np.ndarray, spec: ResolvedSpec):
        tspec = self._spec(a, w, spec)
        y_t = _call("forward", self.forward_t, b, w, tspec)
        return y_t, split_gradients(_call("backward", self.backward_t, b, w, a, tspec))[1]


class TransposeCallError(Exception):
    """The user's transposed forward or backward raised inside the conv-protocol wrapper; the
    message names which (the wrapper's own name is the conv's)."""


def _call(name: str, fn: Callable, *args):
    try:
        return fn(*args)
    except Exception as err:
        raise TransposeCallError(
            f"your transposed {name} raised {type(err).__name__}: {err}"
        ) from err


_SWAP_LINES = {"x = ": "grad_y = ", "grad_y = ": "x = "}


def _translate(failure: Failure) -> Failure:
    """A conv failure in the transpose's terms: output names, shapes, spec, message, snippet."""
    p = failure.problem
    spec = p["spec"]
    tspec = TransposeSpec(
        tuple(tuple(pair) for pair in spec["padding"]),
        tuple(spec["stride"]),
        tuple(spec["dilation"]),
        spec["groups"],
        _unreached(p["x"][2:], p["w"][2:], spec["padding"], spec["stride"], spec["dilation"]),
    )
    output = TRANSPOSED_OUTPUTS[failure.output]
    problem = {"x": p["y"], "w": p["w"], "b": None, "y": p["x"], "dtype": p["dtype"]}
    problem["spec"] = tspec.to_dict()
    message = re.sub(r"^\w+ raised TransposeCallError: your transposed", "your", failure.message)
    message = re.sub(r"^(forward|grad_input)\b", lambda m: TRANSPOSED_OUTPUTS[m.group(1)], message)
    diagnosis = (
        f"(conv_transpose with output_padding={tspec.output_padding}; the diagnosis speaks of the"
        " convolution it transposes, whose forward is your grad_input and whose grad_input is"
        f" your forward) {failure.diagnosis}"
    )
    lines = []
    for line in failure.reproduce.splitlines():
        prefix = next((k for k in _SWAP_LINES if line.startswith(k)), None)
        if prefix is not None:
            line = _SWAP_LINES[prefix] + line[len(prefix) :]
        elif line.startswith("spec = "):
            line = (
                f"spec = cg.TransposeSpec(padding={tspec.padding!r}, stride={tspec.stride!r},"
                f" dilation={tspec.dilation!r}, groups={tspec.groups!r},"
                f" output_padding={tspec.output_padding!r})"
            )
        elif line.startswith("problem = "):
            line = "problem = cg.TransposeProblem(x, w, grad_y, spec)"
        elif line.startswith("print("):
            line = "print(cg.verify_transpose(forward, backward, problems=[problem]))"
        lines.append(line)
    return replace(
        failure,
        output=output,
        problem=problem,
        message=message,
        diagnosis=diagnosis,
        reproduce="\n".join(lines),
    )


def verify_transpose(
    forward: Callable,
    backward: Callable,
    *,
    ndim: int | Sequence[int] = 2,
    padding: str | Sequence[str] = ("valid", "full", "explicit"),
    stride: int | Sequence[int] = (1, 2, 3),
    dilation: int | Sequence[int] = (1, 2),
    groups: int | Sequence[int] = (1, 2),
    dtype: str = "float64",
    max_examples: int = 100,
    seed: int = 0,
    safety: float = 1.0,
    accumulate: str | None = None,
    data: str | Sequence[str] = ("integer", "real"),
    problems: Sequence[TransposeProblem] | None = None,
    timeout: float | None = 60.0,
    exact: bool = True,
    max_failures: int = 8,
) -> VerifyResult:
    """Check a transposed-convolution implementation against the oracle, in its own terms.

    Args:
        forward: ``forward(x, w, spec) -> y``: x ``(N, C_in, *S)``, w ``(C_in, C_out // groups,
            *K)`` (torch.nn.ConvTranspose's layout), y ``(N, C_out, *O_t)`` with ``O_t = (S -
            1)*s - lo - hi + d*(K-1) + output_padding + 1``; spec a `TransposeSpec`.
        backward: ``backward(x, w, grad_y, spec) -> (grad_x, grad_w)`` or ``(grad_x, grad_w,
            grad_b)`` (a grad_b is not checked yet), the gradients of ``sum(grad_y * y)``.
        ndim, stride, dilation, groups, dtype, max_examples, seed, safety, accumulate, data,
            timeout, exact, max_failures: as `convgrad.verify`.
        padding: the padding of the conv each drawn transpose is the adjoint of ("valid",
            "same", "same_lower", "full", "explicit"); the spec always holds explicit pads.
            output_padding is drawn from 0 to stride - 1 with the input sizes.
        problems: check these `TransposeProblem` instead of drawing (no shrinking).

    Returns:
        A `convgrad.VerifyResult` whose failures name the transpose's outputs (forward,
        grad_input, grad_weight), shapes (x, w, y of the transpose) and `TransposeSpec`, with a
        reproduce snippet calling verify_transpose.

    Raises:
        TypeError, ValueError: as `convgrad.verify`; a backward that is None.
    """
    if not callable(forward):
        raise TypeError(f"forward={forward!r} must be callable: forward(x, w, spec) -> y")
    if not callable(backward):
        raise TypeError(
            f"backward={backward!r} must be callable: backward(x, w, grad_y, spec) -> (grad_x,"
            " grad_w); the transpose's forward is checked as its conv's grad_input, which"
            " needs both"
        )
    if problems is not None:
        for problem in problems:
            if not isinstance(problem, TransposeProblem):
                raise TypeError(
                    f"problems holds a {type(problem).__name__}; expected TransposeProblem"
                )
    wrapped = _AsConv(forward, backward)
    result = verify(
        wrapped.forward,
        wrapped.backward,
        ndim=ndim,
        padding=padding,
        stride=stride,
        dilation=dilation,
        groups=groups,
        dtype=dtype,
        flip=(False,),
        max_examples=max_examples,
        seed=seed,
        safety=safety,
        accumulate=accumulate,
        data=data,
        problems=None if problems is None else [p.as_conv() for p in problems],
        timeout=timeout,
        exact=exact,
        max_failures=max_failures,
    )
    settings = {**result.settings, "op": "conv_transpose"}
    settings.pop("flip", None)
    ratios = tuple(
        {**r, "output": TRANSPOSED_OUTPUTS[r["output"]], "x": r["y"], "y": r["x"]}
        for r in result.ratios
    )
    return VerifyResult(
        tuple(_translate(f) for f in result.failures),
        result.examples,
        ratios,
        settings,
        notes=result.notes,
    )


__all__ = [
    "TRANSPOSED_OUTPUTS",
    "TransposeProblem",
    "TransposeSpec",
    "transpose_spec_of",
    "verify_transpose",
]
