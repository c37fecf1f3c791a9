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

output_padding: ``O_t`` depends on it through ``output_padding - hi`` only, and T's output rows
past ``(I_t - 1)*s - lo + d(K-1)`` (the transposed "full" result) are zero. PyTorch accepts
``0 <= output_padding < max(stride, dilation)`` (``torch.nn.ConvTranspose*d``; with a dilation
above the stride, output_padding may exceed it). ONNX ConvTranspose (onnx/defs/nn/defs.cc,
opset 11 on) says "Each padding value in output_padding must be less than the corresponding
stride/dilation dimension", which readers take as stride alone or as PyTorch's max (onnx/onnx#2333,
#4299), adds it to ``output_shape[i] = stride[i] * (input_size[i] - 1) + output_padding[i] +
((kernel_shape[i] - 1) * dilations[i] + 1) - pads[start_i] - pads[end_i]``, and, given an
explicit ``output_shape``, uses it only to derive the pads. convgrad follows PyTorch's bound, the
wider reading, which every ONNX model exported from PyTorch meets.
`TransposeSpec.conv_spec` is the conv whose adjoint T is: its pads ``(lo, hi - m)`` with ``m =
max(0, output_padding - s + 1)`` leave ``output_padding - m < s`` input rows unreached; where hi
is smaller than m the conv has ``hi = 0`` and T's last ``tail = output_padding - hi - s + 1``
rows (zero rows no input reaches) are left out of the conv's input: the wrapper appends them to
grad_y and checks that the user's forward gives zeros there.

output_size: ``TransposeSpec(output_size=...)`` (as ``nn.ConvTranspose2d(...)(x,
output_size=...)``) fixes output_padding once the input and kernel sizes are known
(`TransposeSpec.resolve`); a size outside `convgrad.shapes.transpose_output_range` is a
ValueError naming the reachable range.

Drawn problems: the search draws the conv and presents it as a transpose: where the conv's
input sizes sum to an even number the output_padding is the unreached rows r; where odd it is
raised to ``max(s, d) - 1``, with the conv's hi when hi > 0 (the same O_t) and with zero rows
appended (tail) when hi = 0. Problems drawn with "full" or explicit pads carry ``output_size``
too. grad_y's tail rows (which no output of T reads back) hold ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from convgrad.reference import conv_transpose
from convgrad.shapes import (
    check_output_padding,
    output_padding_for,
    transpose_as_conv,
    transpose_output_size,
    transpose_output_spatial,
)
from convgrad.spec import DEPTHWISE, ConvSpec, ResolvedSpec, per_dim_ints
from convgrad.verification.api import check_outputs, verify
from convgrad.verification.calls import spec_parameter_hint, split_gradients
from convgrad.verification.problem import ConvProblem
from convgrad.verification.result import Failure, VerifyResult, reproduce_snippet

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
    T's output); stride, dilation, output_padding: one int per spatial dim; groups: an int;
    output_size: None, or T's output spatial size (as ``nn.ConvTranspose2d(...)(x,
    output_size=...)``), which fixes output_padding once x and w are known (`resolve`; leave
    output_padding None). ``O_t = (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1``
    (torch.nn.ConvTranspose). Construction validates every field (ValueError/TypeError naming
    it, its value and the rule): ``0 <= output_padding < max(stride, dilation)`` (PyTorch's
    rule; the module docstring gives ONNX's).

    >>> TransposeSpec(((1, 1),), (2,), (1,), 1, (1,)).conv_spec.padding
    ((1, 1),)
    >>> TransposeSpec(((0, 0),), (1,), (2,), 1, (1,)).tail
    (1,)
    """

    padding: tuple[tuple[int, int], ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    output_padding: tuple[int, ...] | None = 0
    output_size: tuple[int, ...] | None = None

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
        for name in ("stride", "dilation"):
            object.__setattr__(self, name, per_dim_ints(name, getattr(self, name), ndim, 1))
        object.__setattr__(self, "groups", conv.groups)
        if self.output_size is not None:
            sizes = per_dim_ints("output_size", self.output_size, ndim, 1)
            object.__setattr__(self, "output_size", sizes)
        elif self.output_padding is None:
            raise ValueError(
                "output_padding=None needs an output_size to derive it from; give one of them"
            )
        if self.output_padding is None:
            return
        extra = check_output_padding(self.output_padding, self.stride, self.dilation)
        object.__setattr__(self, "output_padding", extra)

    @classmethod
    def from_torch(cls, module: object = None, /, **kwargs) -> TransposeSpec:
        """The spec of an ``nn.ConvTranspose{1,2,3}d`` module, or of
        ``torch.nn.functional.conv_transpose{1,2,3}d``'s keywords (padding, stride, dilation,
        groups, output_padding; `convgrad.translate.from_torch` reads them).

        Raises:
            ValueError: a module or keywords of a forward (not transposed) convolution.
        """
        from convgrad import translate  # translate builds on verification: imported here

        if module is None:
            kwargs = {**kwargs, "transposed": True}
        translation = translate.from_torch(module, **kwargs)
        if not translation.transposed:
            raise ValueError(
                f"module={module!r} is a forward convolution; TransposeSpec.from_torch takes an"
                " nn.ConvTranspose1d/2d/3d (use ConvSpec.from_torch)"
            )
        conv = translation.spec
        ndim = len(conv.stride) if isinstance(conv.stride, tuple) else None
        padding = conv.padding
        if ndim is None:
            for value in (conv.padding, conv.dilation, translation.output_padding):
                if isinstance(value, tuple):
                    ndim = len(value)
        if ndim is None:
            raise ValueError(
                "TransposeSpec.from_torch: give the number of spatial dims through a tuple"
                " (stride=(2, 2)) or pass the module"
            )
        padding = per_dim_ints("padding", padding, ndim, 0)
        return cls(
            tuple((p, p) for p in padding),
            conv.stride,
            conv.dilation,
            conv.groups,
            translation.output_padding,
        )

    @property
    def ndim(self) -> int:
        """The number of spatial dims."""
        return len(self.padding)

    def _extra(self) -> tuple[int, ...]:
        if self.output_padding is None:
            raise ValueError(
                f"output_size={self.output_size!r} fixes output_padding only with x's and w's"
                " sizes: call spec.resolve(input_spatial, kernel_spatial) (a TransposeProblem"
                " does)"
            )
        return self.output_padding

    @property
    def conv_spec(self) -> ConvSpec:
        """The spec of the convolution this transposes (`convgrad.shapes.transpose_as_conv`)."""
        pads = tuple(
            (lo, transpose_as_conv(lo, hi, s, op)[0])
            for (lo, hi), s, op in zip(self.padding, self.stride, self._extra(), strict=True)
        )
        return ConvSpec(pads, self.stride, self.dilation, self.groups)

    @property
    def tail(self) -> tuple[int, ...]:
        """Per dim, T's last output rows that no input reaches and the conv leaves out
        (`convgrad.shapes.transpose_as_conv`)."""
        return tuple(
            transpose_as_conv(lo, hi, s, op)[1]
            for (lo, hi), s, op in zip(self.padding, self.stride, self._extra(), strict=True)
        )

    def resolve(self, input_spatial: Sequence[int], kernel_spatial: Sequence[int]) -> TransposeSpec:
        """This spec with output_padding derived from output_size for x's spatial sizes
        ``input_spatial`` and w's ``kernel_spatial`` (itself when output_size is None).

        Raises:
            ValueError: output_size is not reachable (outside
                `convgrad.shapes.transpose_output_range`; the message gives the range), or
                output_padding was also given and disagrees with it.
        """
        if self.output_size is None:
            return self
        extra = output_padding_for(
            self.output_size,
            input_spatial,
            kernel_spatial,
            self.padding,
            self.stride,
            self.dilation,
        )
        if self.output_padding is not None and tuple(extra) != self.output_padding:
            raise ValueError(
                f"output_padding={self.output_padding!r} disagrees with"
                f" output_size={self.output_size!r}, which needs output_padding={tuple(extra)!r};"
                " give one of them"
            )
        return replace(self, output_padding=tuple(extra))

    def to_dict(self) -> dict:
        """A JSON-ready description (mode "explicit" and flip False, as a conv's record)."""
        record = {
            "mode": "explicit",
            "padding": [list(p) for p in self.padding],
            "stride": list(self.stride),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "flip": False,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
        }
        if self.output_size is not None:
            record["output_size"] = list(self.output_size)
        return record


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


def _presented(mode: str, padding, stride, dilation, groups, a_spatial, k_spatial) -> TransposeSpec:
    """The transpose a drawn conv is presented as (module docstring, "Drawn problems")."""
    raise_it = sum(a_spatial) % 2 == 1
    return present_transpose(
        padding,
        stride,
        dilation,
        groups,
        a_spatial,
        k_spatial,
        raise_it,
        mode in ("full", "explicit"),
    )


def present_transpose(
    padding, stride, dilation, groups, a_spatial, k_spatial, raise_padding: bool, with_size: bool
) -> TransposeSpec:
    """A `TransposeSpec` of the transpose of the conv with these resolved pads, stride,
    dilation and groups on an input of spatial sizes ``a_spatial`` (T's output without its
    tail): output_padding the unreached rows r, or (``raise_padding``) ``max(s, d) - 1`` with the
    conv's hi raised as much (hi > 0) or zero rows appended (hi = 0); ``with_size``: the
    output_size given too."""
    unreached = _unreached(a_spatial, k_spatial, padding, stride, dilation)
    pads, extra = [], []
    raise_it = raise_padding
    for (lo, hi), s, d, r in zip(padding, stride, dilation, unreached, strict=True):
        room = max(s, d) - 1 - r if raise_it else 0
        pads.append((lo, hi + room if hi else 0))
        extra.append(r + room)
    spec = TransposeSpec(tuple(pads), stride, dilation, groups, tuple(extra))
    if not with_size:
        return spec
    sizes = (
        transpose_output_size(i, k, lo, hi, s, d, op)
        for i, k, (lo, hi), s, d, op in zip(
            output_sizes_of(a_spatial, k_spatial, padding, stride, dilation),
            k_spatial,
            spec.padding,
            stride,
            dilation,
            extra,
            strict=True,
        )
    )
    return replace(spec, output_size=tuple(sizes))


def output_sizes_of(a_spatial, k_spatial, padding, stride, dilation) -> tuple[int, ...]:
    """The conv's output spatial sizes (T's input sizes)."""
    return tuple(
        (i + lo + hi - d * (k - 1) - 1) // s + 1
        for i, k, (lo, hi), s, d in zip(
            a_spatial, k_spatial, padding, stride, dilation, strict=True
        )
    )


@dataclass(frozen=True, eq=False)
class TransposeProblem:
    """One transposed-convolution problem: x ``(N, C_in, *S)``, w ``(C_in, C_out // groups,
    *K)``, grad_y ``(N, C_out, *O_t)`` (the transpose's output shape), spec a `TransposeSpec`
    (an output_size in it is resolved to output_padding on construction).

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
        s = s.resolve(x.shape[2:], w.shape[2:])
        object.__setattr__(self, "spec", s)
        expected = (x.shape[0], w.shape[1] * s.groups, *_output_spatial(s, x.shape, w.shape))
        if self.grad_y.shape != expected:
            raise ValueError(
                f"grad_y has shape {self.grad_y.shape}; it must have the transpose's output"
                f" shape {expected} (O_t = (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1)"
            )
        for j, (size, tail) in enumerate(zip(expected[2:], s.tail, strict=True)):
            if size <= tail:
                raise ValueError(
                    f"padding={s.padding!r} crops along spatial dim {j} every row an input"
                    f" reaches: the {size} output rows are all output_padding zeros, which no"
                    " conv is the adjoint of; verify_transpose needs at least one reached row"
                )
        self.as_conv()

    @classmethod
    def random(
        cls,
        spec: TransposeSpec,
        x_shape: Sequence[int],
        w_shape: Sequence[int],
        *,
        seed: int = 0,
        data: str = "integer",
    ) -> TransposeProblem:
        """A problem of this spec and these shapes with random data: x ``(N, C_in, *S)``, w
        ``(C_in, C_out // groups, *K)``, grad_y of the transpose's output shape; float64
        integers in [-3, 3] (data="integer": every correct implementation is exact) or standard
        normal ("real").

        >>> spec = TransposeSpec(((1, 1),), 2, 1, 1, 1)
        >>> TransposeProblem.random(spec, (1, 2, 4), (2, 3, 3)).grad_y.shape
        (1, 3, 8)
        """
        if data not in ("integer", "real"):
            raise ValueError(f"data={data!r} must be 'integer' or 'real'")
        rng = np.random.default_rng(seed)

        def draw(shape) -> np.ndarray:
            if data == "integer":
                return rng.integers(-3, 4, shape).astype(np.float64)
            return rng.standard_normal(shape)

        x, w = draw(tuple(x_shape)), draw(tuple(w_shape))
        if x.ndim != spec.ndim + 2 or w.ndim != spec.ndim + 2:
            raise ValueError(
                f"x_shape={tuple(x_shape)!r} and w_shape={tuple(w_shape)!r} must have"
                f" {spec.ndim + 2} dims for a spec of {spec.ndim} spatial dims"
            )
        resolved = spec.resolve(x.shape[2:], w.shape[2:])
        out = (x.shape[0], w.shape[1] * spec.groups, *_output_spatial(resolved, x.shape, w.shape))
        return cls(x, w, draw(out), spec)

    def as_conv(self) -> ConvProblem:
        """The conv problem ``(x=grad_y, w=w, grad_y=x)`` this transposes; grad_y's last
        ``spec.tail`` rows, which no output of the conv reads, are left out."""
        crop = tuple(
            slice(0, n - e) for n, e in zip(self.grad_y.shape[2:], self.spec.tail, strict=True)
        )
        a = np.ascontiguousarray(self.grad_y[(..., *crop)])
        return ConvProblem(a, self.w, None, self.x, self.spec.conv_spec)


def _output_spatial(spec: TransposeSpec, x_shape, w_shape) -> tuple[int, ...]:
    return transpose_output_spatial(
        x_shape[2:], w_shape[2:], spec.padding, spec.stride, spec.dilation, spec.output_padding
    )


def _key(padding, stride, dilation, groups, a_shape, w_shape) -> tuple:
    return (
        tuple(tuple(int(v) for v in p) for p in padding),
        tuple(stride),
        tuple(dilation),
        int(groups),
        tuple(a_shape),
        tuple(w_shape),
    )


def _conv_key(problem: ConvProblem) -> tuple:
    r = problem.resolved
    return _key(r.padding, r.stride, r.dilation, r.groups, problem.x.shape, problem.w.shape)


class _AsConv:
    """A transpose's ``forward(x, w, spec)`` and ``backward(x, w, grad_y, spec)`` as the conv
    protocol (module docstring): ``forward_c(a, w) = backward_t(zeros, w, a')[0]`` (the
    transpose's grad_input does not depend on its x, which gets zeros) and ``backward_c(a, w, b)
    = (forward_t(b, w) without its tail, backward_t(b, w, a')[1])``, where ``a'`` is a with the
    tail rows appended (the given problem's, else ones). A grad_b the backward returns is
    judged against grad_y summed over batch and space (`check_outputs`); the failure on the
    smallest grad_y is kept in ``bias_failure``. hints: per function name, the words
    `convgrad.verification.calls.spec_parameter_hint` has on how it receives the TransposeSpec;
    ``hinted`` maps the message of each failed call of such a function to them."""

    def __init__(
        self,
        forward: Callable,
        backward: Callable,
        safety: float,
        hints: dict[str, str | None] | None = None,
    ) -> None:
        self.forward_t, self.backward_t, self.safety = forward, backward, safety
        self.given: dict[tuple, tuple[TransposeSpec, np.ndarray]] = {}
        self.bias_failure: Failure | None = None
        self.tail_failures: dict[str, _TailFailure] = {}
        self.hints = hints or {}
        self.hinted: dict[str, str] = {}

    def _call(self, name: str, fn: Callable, *args):
        try:
            return fn(*args)
        except Exception as err:
            message = f"your transposed {name} raised {type(err).__name__}: {err}"
            if self.hints.get(name):
                self.hinted[message] = self.hints[name]
            raise TransposeCallError(message) from err

    def add(self, problem: TransposeProblem) -> ConvProblem:
        """Register a given problem (its spec and grad_y's tail) and return its conv problem."""
        conv = problem.as_conv()
        self.given.setdefault(_conv_key(conv), (problem.spec, problem.grad_y))
        return conv

    def transpose(self, padding, stride, dilation, groups, mode, a_shape, w_shape):
        """The TransposeSpec and grad_y template (tail rows) of a conv problem."""
        key = _key(padding, stride, dilation, groups, a_shape, w_shape)
        if key in self.given:
            return self.given[key]
        tspec = _presented(mode, padding, stride, dilation, groups, a_shape[2:], w_shape[2:])
        shape = (
            a_shape[0],
            w_shape[1] * groups,
            *_output_spatial(
                tspec, _x_shape(a_shape, w_shape, padding, stride, dilation, groups), w_shape
            ),
        )
        return tspec, np.ones(shape)

    def _operands(self, a: np.ndarray, w: np.ndarray, spec: ResolvedSpec):
        tspec, template = self.transpose(
            spec.padding, spec.stride, spec.dilation, spec.groups, spec.mode, a.shape, w.shape
        )
        grad_y = template.astype(a.dtype, copy=True)
        grad_y[(..., *(slice(0, n) for n in a.shape[2:]))] = a
        return tspec, grad_y

    def forward(self, a: np.ndarray, w: np.ndarray, spec: ResolvedSpec):
        tspec, grad_y = self._operands(a, w, spec)
        x_t = np.zeros(
            _x_shape(a.shape, w.shape, spec.padding, spec.stride, spec.dilation, spec.groups),
            a.dtype,
        )
        grads = split_gradients(self._call("backward", self.backward_t, x_t, w, grad_y, tspec))
        if len(grads) == 3:
            self._check_bias(grads[2], x_t, w, grad_y, tspec)
        return grads[0]

    def backward(self, a: np.ndarray, w: np.ndarray, b: np.ndarray, spec: ResolvedSpec):
        tspec, grad_y = self._operands(a, w, spec)
        y_t = self._call("forward", self.forward_t, b, w, tspec)
        grads = split_gradients(self._call("backward", self.backward_t, b, w, grad_y, tspec))
        return self._without_tail(y_t, b, w, tspec, grad_y.shape, a.shape), grads[1]

    def _without_tail(self, y_t, b, w, tspec: TransposeSpec, expected, conv_shape):
        """The user's forward without its tail rows, which must be zero; a wrong shape or a
        nonzero tail raises (recorded in ``tail_failures`` for `_translate`), where the conv's
        checks could not see it (the tail would hide an ignored output_padding)."""
        if expected == conv_shape:
            return y_t
        got = np.asarray(y_t)
        box = tuple(slice(0, n) for n in conv_shape[2:])
        if got.shape == expected:
            outside = got.copy()
            outside[(..., *box)] = 0
            if not np.any(outside):
                return got[(..., *box)]
        message, failure = _tail_failure(got, b, w, tspec, expected, conv_shape)
        self.tail_failures[message] = failure
        raise TransposeCallError(message)

    def _check_bias(self, grad_b, x_t, w, grad_y, tspec: TransposeSpec) -> None:
        if self.bias_failure is not None and grad_y.size >= _size(self.bias_failure):
            return
        ones = (1,) * tspec.ndim
        carrier = ConvProblem(
            np.zeros((grad_y.shape[0], 1, *grad_y.shape[2:]), grad_y.dtype),
            np.zeros((grad_y.shape[1], 1, *ones), grad_y.dtype),
            None,
            grad_y,
            ConvSpec(),
        )
        result = check_outputs(carrier, grad_bias=grad_b, safety=self.safety)
        if result.failures:
            self.bias_failure = _bias_failure(result.failures[0], x_t, w, grad_y, tspec)


def _size(failure: Failure) -> int:
    return int(np.prod(failure.problem["y"]))


def _x_shape(a_shape, w_shape, padding, stride, dilation, groups) -> tuple[int, ...]:
    """T's input shape (the conv's output shape) for the conv input shape a_shape."""
    return (
        a_shape[0],
        w_shape[0],
        *output_sizes_of(a_shape[2:], w_shape[2:], padding, stride, dilation),
    )


@dataclass(frozen=True)
class _TailFailure:
    """A forward wrong where the conv cannot see it (the tail rows past every input's reach):
    the check, shapes and index it is reported with, and its diagnosis."""

    check: str
    expected_shape: tuple[int, ...]
    got_shape: tuple[int, ...]
    index: tuple[int, ...] | None
    diagnosis: str


def _tail_failure(
    got: np.ndarray, b, w, tspec: TransposeSpec, expected, conv_shape
) -> tuple[str, _TailFailure]:
    """The message and `_TailFailure` of a forward whose shape or tail rows are wrong."""
    rule = "O_t = (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1"
    if got.shape != expected:
        short = tuple(n - op for n, op in zip(expected[2:], tspec.output_padding, strict=True))
        ignored = got.shape[2:] == short
        cause = (
            f"likely cause: output_padding={tspec.output_padding} ignored: it adds rows at the"
            f" end ({rule})"
            if ignored
            else f"the shape matches none of the known mistakes; {rule}"
        )
        message = f"your forward returned shape {got.shape}; expected {expected} ({rule})"
        return message, _TailFailure("shape", expected, got.shape, None, cause)
    reference = conv_transpose(
        b,
        w,
        padding=tspec.padding,
        stride=tspec.stride,
        dilation=tspec.dilation,
        groups=tspec.groups,
        output_padding=tspec.output_padding,
    )
    rolled = np.roll(reference, tspec.output_padding, axis=tuple(range(2, got.ndim)))
    shifted = [(op, s) for op, s in zip(tspec.output_padding, tspec.stride, strict=True) if op]
    insertion = (
        "; or the s - 1 zeros were inserted before each input entry instead of between entries"
        " (the same shift where s - 1 = output_padding)"
        if all(s - 1 == op for op, s in shifted)
        else ""
    )
    cause = (
        "likely cause: the output is shifted output_padding rows toward the end: the"
        " output_padding rows were put at the start of each spatial dim instead of the end"
        + insertion
        if np.allclose(got, rolled, rtol=1e-6, atol=1e-12)
        else "it matches none of the known mistakes (output_padding rows at the start)"
    )
    tails = tuple(n - c for n, c in zip(expected[2:], conv_shape[2:], strict=True))
    box = tuple(slice(0, n) for n in conv_shape[2:])
    outside = got.copy()
    outside[(..., *box)] = 0
    index = tuple(int(i) for i in np.argwhere(outside)[0])
    message = (
        f"your forward has {got[index]} at index {index}, in its last {tails} rows, which lie"
        " past every input's reach (output_padding beyond the kernel's reach): they must be 0"
    )
    diagnosis = (
        f"no input entry contributes to these rows, so every correct transpose gives 0; {cause}"
    )
    return message, _TailFailure("value", expected, got.shape, index, diagnosis)


class TransposeCallError(Exception):
    """The user's transposed forward or backward raised inside the conv-protocol wrapper; the
    message names which (the wrapper's own name is the conv's)."""


_SWAP_LINES = {"x = ": "grad_y = ", "grad_y = ": "x = "}


def _spec_source(tspec: TransposeSpec) -> str:
    size = "" if tspec.output_size is None else f", output_size={tspec.output_size!r}"
    return (
        f"cg.TransposeSpec(padding={tspec.padding!r}, stride={tspec.stride!r},"
        f" dilation={tspec.dilation!r}, groups={tspec.groups!r},"
        f" output_padding={tspec.output_padding!r}{size})"
    )


def _snippet(conv_snippet: str, tspec: TransposeSpec) -> str:
    """A conv problem's reproduce snippet rewritten for its transpose: x and grad_y swapped, the
    tail rows appended to grad_y (ones), the TransposeSpec, verify_transpose."""
    lines = []
    for line in conv_snippet.splitlines():
        prefix = next((k for k in _SWAP_LINES if line.startswith(k)), None)
        if prefix is not None:
            line = _SWAP_LINES[prefix] + line[len(prefix) :]
            if prefix == "x = " and any(tspec.tail):
                widths = [(0, 0), (0, 0), *((0, e) for e in tspec.tail)]
                line += f"\ngrad_y = np.pad(grad_y, {widths!r}, constant_values=1)"
        elif line.startswith("spec = "):
            line = f"spec = {_spec_source(tspec)}"
        elif line.startswith("problem = "):
            line = "problem = cg.TransposeProblem(x, w, grad_y, spec)"
        elif line.startswith("print("):
            line = "print(cg.verify_transpose(forward, backward, problems=[problem]))"
        lines.append(line)
    return "\n".join(lines)


def _described(x_shape, w_shape, y_shape, dtype: str, tspec: TransposeSpec) -> dict:
    return {
        "x": list(x_shape),
        "w": list(w_shape),
        "b": None,
        "y": list(y_shape),
        "dtype": dtype,
        "spec": tspec.to_dict(),
    }


def _note(tspec: TransposeSpec) -> str:
    return (
        f"(conv_transpose with output_padding={tspec.output_padding}; the diagnosis speaks of the"
        " convolution it transposes, whose forward is your grad_input and whose grad_input is"
        " your forward)"
    )


def _shape_cause(tspec: TransposeSpec, expected, got) -> str:
    """Why a transpose's forward has this shape, where output_padding explains it, else ""."""
    if len(got) != len(expected) or got[:2] != expected[:2]:
        return ""
    delta = tuple(g - e for g, e in zip(got[2:], expected[2:], strict=True))
    if any(delta) and delta == tuple(-op for op in tspec.output_padding):
        return (
            f"likely cause: output_padding={tspec.output_padding} ignored (it adds rows at the"
            " end). "
        )
    if any(delta) and tspec.output_size is not None:
        return (
            f"likely cause: output_padding mis-derived from output_size={tspec.output_size}:"
            f" the output has {got[2:]} where output_padding={tspec.output_padding} gives it"
            " (output_padding = output_size - ((I-1)*s - lo - hi + d*(K-1) + 1)). "
        )
    return ""


def _kept_for(kept: dict[str, object], message: str):
    """What ``kept`` holds under the call message ``message`` starts with, else None: a
    failure's message may carry a note after the call's (where it was found)."""
    return next((value for call, value in kept.items() if message.startswith(call)), None)


def _translate(failure: Failure, wrapped: _AsConv) -> Failure:
    """A conv failure in the transpose's terms: output names, shapes, spec, message, snippet."""
    p = failure.problem
    spec = p["spec"]
    tspec, template = wrapped.transpose(
        spec["padding"],
        spec["stride"],
        spec["dilation"],
        spec["groups"],
        spec["mode"],
        p["x"],
        p["w"],
    )
    message = re.sub(r"^\w+ raised TransposeCallError: your transposed", "your", failure.message)
    message = re.sub(r"^(forward|grad_input)\b", lambda m: TRANSPOSED_OUTPUTS[m.group(1)], message)
    described = _described(p["y"], p["w"], template.shape, p["dtype"], tspec)
    unraised = re.sub(r"^\w+ raised TransposeCallError: ", "", failure.message)
    tail = _kept_for(wrapped.tail_failures, unraised)
    if tail is not None:
        return replace(
            failure,
            check=tail.check,
            output="forward",
            problem=described,
            expected_shape=tail.expected_shape,
            got_shape=tail.got_shape,
            index=tail.index,
            message=unraised,
            diagnosis=f"(conv_transpose, output_padding={tspec.output_padding}) {tail.diagnosis}",
            reproduce=_snippet(failure.reproduce, tspec),
        )
    output = TRANSPOSED_OUTPUTS[failure.output]
    hint = _kept_for(wrapped.hinted, unraised)
    cause = f"likely cause: {hint}; otherwise " if hint else ""
    if (output, failure.check) == ("forward", "shape") and failure.got_shape is not None:
        cause = _shape_cause(tspec, failure.expected_shape, failure.got_shape)
    return replace(
        failure,
        output=output,
        problem=described,
        message=message,
        diagnosis=f"{_note(tspec)} {cause}{failure.diagnosis}",
        reproduce=_snippet(failure.reproduce, tspec),
    )


def _bias_failure(carried: Failure, x_t, w, grad_y, tspec: TransposeSpec) -> Failure:
    """check_outputs' grad_bias failure (on a 1x1 conv carrying grad_y) in the transpose's
    terms."""
    conv = TransposeProblem(x_t, w, grad_y, tspec).as_conv()
    return replace(
        carried,
        problem=_described(x_t.shape, w.shape, grad_y.shape, str(grad_y.dtype), tspec),
        diagnosis=(
            "(conv_transpose's bias gradient: grad_y (N, C_out, *O_t) summed over the batch and"
            f" every spatial dim, one value per output channel) {carried.diagnosis}"
        ),
        reproduce=_snippet(reproduce_snippet(conv, True), tspec),
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
            grad_b)``, the gradients of ``sum(grad_y * y)``; a grad_b ``(C_out,)`` (the
            gradient of a bias added per output channel: grad_y summed over the batch and every
            spatial dim) is checked as `convgrad.check_outputs` checks a conv's.
        ndim, stride, dilation, groups, dtype, max_examples, seed, safety, accumulate, data,
            timeout, exact, max_failures: as `convgrad.verify`.
        padding: the padding of the conv each drawn transpose is the adjoint of ("valid",
            "same", "same_lower", "full", "explicit"); the spec always holds explicit pads.
            output_padding ranges over ``0 .. max(stride, dilation) - 1`` (module docstring,
            "Drawn problems"), and problems drawn with pads carry the output_size.
        problems: check these `TransposeProblem` instead of drawing (no shrinking).

    Returns:
        A `convgrad.VerifyResult` whose failures name the transpose's outputs (forward,
        grad_input, grad_weight, grad_bias), shapes (x, w, y of the transpose) and
        `TransposeSpec`, with a reproduce snippet calling verify_transpose.

    Raises:
        TypeError, ValueError: as `convgrad.verify` (forward and backward must take their
            arguments and a `TransposeSpec` by position); a backward that is None.
    """
    if not callable(forward):
        raise TypeError(f"forward={forward!r} must be callable: forward(x, w, spec) -> y")
    if not callable(backward):
        raise TypeError(
            f"backward={backward!r} must be callable: backward(x, w, grad_y, spec) -> (grad_x,"
            " grad_w); the transpose's forward is checked as its conv's grad_input, which"
            " needs both"
        )
    hints = {
        name: spec_parameter_hint(fn, name, "TransposeSpec", "verify_transpose")
        for name, fn in (("forward", forward), ("backward", backward))
    }
    if problems is not None:
        for problem in problems:
            if not isinstance(problem, TransposeProblem):
                raise TypeError(
                    f"problems holds a {type(problem).__name__}; expected TransposeProblem"
                )
    wrapped = _AsConv(forward, backward, safety, hints)
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
        problems=None if problems is None else [wrapped.add(p) for p in problems],
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
    failures = tuple(_translate(f, wrapped) for f in result.failures)
    if wrapped.bias_failure is not None:
        failures += (wrapped.bias_failure,)
    return VerifyResult(failures, result.examples, ratios, settings, notes=result.notes)


__all__ = [
    "TRANSPOSED_OUTPUTS",
    "TransposeProblem",
    "TransposeSpec",
    "present_transpose",
    "transpose_spec_of",
    "verify_transpose",
]
