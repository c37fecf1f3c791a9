"""Step-by-step derivations of a convolution layer's shapes and its gradients' shapes.

`explain` works in the user's own layout (`convgrad.explanation.layouts`). Every number comes from
`convgrad.shapes.DimAlgebra`; a derivation step shows the formula, the formula with the numbers
substituted and the value, e.g. ``grad_weight = I + lo + hi - O + 1 = 128 + 0 + 0 - 126 + 1 =
3 = K``.

The diagnoses of a wrong gradient shape (`convgrad.explanation.diagnosis`) build on these
derivations.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from convgrad.explanation.formatting import WIDTH, compact, format_shape, wrapped
from convgrad.explanation.layouts import Layout, parse_layout
from convgrad.shapes import DimAlgebra, resolve
from convgrad.spec import DEPTHWISE, ConvSpec, ResolvedSpec, is_int

_BOLD, _CYAN, _RESET = "\033[1m", "\033[36m", "\033[0m"


_NAME = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Step:
    """One line of per-dim arithmetic.

    ``quantity = formula = substituted = value [= equals]``; ``substituted`` is ``formula`` with
    every name replaced by its number, so it evaluates (with ``floor``, ``ceil``, ``max`` and
    ``mod``) to ``value``.
    """

    axis: str
    quantity: str
    formula: str
    substituted: str
    value: int
    equals: str = ""
    note: str = ""

    @property
    def body(self) -> str:
        """The step without its axis: repeated parts (e.g. a formula that is a number) once."""
        parts = [self.quantity]
        for part in (self.formula, self.substituted, str(self.value), self.equals):
            if part and part != parts[-1]:
                parts.append(part)
        text = " = ".join(parts)
        return f"{text} ({self.note})" if self.note else text

    def __str__(self) -> str:
        return f"{self.axis}: {self.body}"

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, axis: str, quantity: str, formula: str, values: dict, value: int, **extra) -> Step:
        """The step computing ``quantity`` by ``formula``, its names replaced by their
        ``values`` (``"d*(K-1) + 1"`` with d=2, K=3 reads ``"2*(3-1) + 1"``)."""
        numbers = _NAME.sub(lambda m: str(values.get(m.group(), m.group())), formula)
        return cls(axis, quantity, formula, numbers, value, **extra)


def _values(a: DimAlgebra) -> dict[str, int]:
    """The names that formulas use, each a `DimAlgebra` quantity."""
    return {
        "I": a.input,
        "K": a.kernel,
        "lo": a.lo,
        "hi": a.hi,
        "s": a.stride,
        "d": a.dilation,
        "E": a.extent,
        "P": a.padded,
        "O": a.output,
        "r": a.unreached,
        "G": a.dilated_grad,
        "F": a.grad_input_full,
        "total": a.lo + a.hi,
    }


@dataclass(frozen=True)
class Record:
    """One tensor of the layer: its shape in the user's layout and, for a computed tensor, the
    operation that produces it and the per-dim arithmetic of its size."""

    name: str
    symbol: str
    shape: tuple[int, ...]
    axes: tuple[str, ...]
    operation: str = ""
    steps: tuple[Step, ...] = ()

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {
            "name": self.name,
            "symbol": self.symbol,
            "shape": list(self.shape),
            "axes": list(self.axes),
            "operation": self.operation,
            "steps": [s.to_dict() for s in self.steps],
        }


def _grouped(steps: Sequence[Step]) -> list[tuple[str, list[Step]]]:
    groups: dict[str, list[Step]] = {}
    for step in steps:
        groups.setdefault(step.axis, []).append(step)
    return list(groups.items())


def step_lines(steps: Sequence[Step]) -> list[str]:
    """One line per axis when it fits in `WIDTH` columns, else one line per step."""
    lines = []
    for axis, group in _grouped(steps):
        joined = f"  {axis}: " + "; ".join(s.body for s in group)
        if len(joined) <= WIDTH:
            lines.append(joined)
            continue
        for i, step in enumerate(group):
            first = f"  {axis}: " if i == 0 else " " * (len(axis) + 4)
            lines += wrapped(step.body, first, " " * (len(axis) + 8))
    return lines


def find_record(records: tuple[Record, ...], name: str) -> Record:
    """The record called ``name``; KeyError naming the others."""
    for record in records:
        if record.name == name:
            return record
    raise KeyError(f"name={name!r} is not one of {[r.name for r in records]}")


@dataclass(frozen=True)
class Explanation:
    """The derivation of every shape of a convolution layer; ``str()`` is the plain text.

    operands: the input x and the kernel w; outputs: forward (y), grad_input, grad_weight and
    grad_bias, in that order. Shapes and axes are in the user's layout; ``dims`` is the per-dim
    algebra in spatial order, ``spec`` the resolved spec.
    """

    layout: Layout
    spec: ResolvedSpec
    dims: tuple[DimAlgebra, ...]
    padding_steps: tuple[Step, ...]
    operands: tuple[Record, ...]
    outputs: tuple[Record, ...]

    def record(self, name: str) -> Record:
        """The operand or output called ``name`` ("x", "w", "forward", "grad_input", ...)."""
        return find_record(self.operands + self.outputs, name)

    def _title(self) -> str:
        return (
            f"{self.layout.ndim}-D convolution, layout {self.layout.name}"
            f" (kernel {self.layout.kernel})"
        )

    def _spec_text(self) -> str:
        s = self.spec
        return (
            f"padding {s.mode!r}, stride {compact(s.stride)}, dilation {compact(s.dilation)},"
            f" groups {s.groups}"
        )

    def to_text(self, color: bool = False) -> str:
        """The derivation as plain text at most `WIDTH` columns wide; ANSI colour if ``color``."""

        def bold(text: str) -> str:
            return f"{_BOLD}{text}{_RESET}" if color else text

        def shape(text: str) -> str:
            return f"{_CYAN}{text}{_RESET}" if color else text

        lines = [bold(self._title()), self._spec_text(), ""]
        for r in self.operands:
            labels = ", ".join(f"{a}={n}" for a, n in zip(r.axes, r.shape, strict=True))
            lines.append(
                f"  {r.symbol}  {r.operation:<7}{shape(format_shape(r.shape)):<14} {labels}"
            )
        lines += [
            "",
            *wrapped(f"padding {self.spec.mode!r}: {_PADDING_TEXT[self.spec.mode]}", "", "  "),
        ]
        lines += step_lines(self.padding_steps)
        for r in self.outputs:
            labels = ", ".join(f"{a}={n}" for a, n in zip(r.axes, r.shape, strict=True))
            lines += [
                "",
                f"{bold(r.name):<12} {r.symbol} = {shape(format_shape(r.shape))}  ({labels})",
            ]
            lines += wrapped(r.operation, "  ", "  ")
            lines += step_lines(r.steps)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def to_dict(self) -> dict:
        """A JSON-ready description: layout, spec, operands, padding steps and outputs."""
        return {
            "layout": self.layout.name,
            "kernel_layout": self.layout.kernel,
            "ndim": self.layout.ndim,
            "spec": self.spec.to_dict(),
            "operands": [r.to_dict() for r in self.operands],
            "padding_steps": [s.to_dict() for s in self.padding_steps],
            "outputs": [r.to_dict() for r in self.outputs],
        }

    def to_markdown(self) -> str:
        """The derivation as Markdown: a table of operands, then one section per output."""
        lines = [f"## {self._title()}", "", self._spec_text(), ""]
        lines += ["| tensor | shape | axes |", "|---|---|---|"]
        for r in self.operands:
            lines.append(
                f"| {r.symbol} ({r.operation}) | `{format_shape(r.shape)}` | {', '.join(r.axes)} |"
            )
        lines += ["", f"### padding {self.spec.mode!r}", "", _PADDING_TEXT[self.spec.mode], ""]
        lines += _markdown_steps(self.padding_steps)
        for r in self.outputs:
            lines += [
                "",
                f"### {r.name}: {r.symbol} `{format_shape(r.shape)}` ({', '.join(r.axes)})",
            ]
            lines += ["", r.operation, ""]
            lines += _markdown_steps(r.steps)
        return "\n".join(lines).rstrip() + "\n"


def _markdown_steps(steps: Sequence[Step]) -> list[str]:
    if not steps:
        return []
    lines = ["| dim | quantity | formula | numbers | value | note |", "|---|---|---|---|---|---|"]
    for s in steps:
        value = f"{s.value} = {s.equals}" if s.equals else str(s.value)
        lines.append(
            f"| {s.axis} | {s.quantity} | `{s.formula}` | `{s.substituted}` | {value} | {s.note} |"
        )
    return [*lines, ""]


_PADDING_TEXT = {
    "valid": "no padding.",
    "full": "d*(K-1) on each side, so every overlap of x and the kernel is an output.",
    "same": "O = ceil(I / s); the odd pad goes to the end (PyTorch padding='same', TF/XLA SAME,"
    " ONNX SAME_UPPER).",
    "same_lower": "O = ceil(I / s); the odd pad goes to the start (ONNX SAME_LOWER,"
    " scipy.signal.correlate mode='same').",
    "explicit": "the pads given.",
}

_MODE_PHRASE = {
    "valid": "valid (unpadded)",
    "full": "full (padded by d*(K-1) on each side)",
    "same": "'same' (padded to O = ceil(I / s))",
    "same_lower": "'same_lower' (padded to O = ceil(I / s), odd pad first)",
    "explicit": "explicitly padded",
}


def _padding_steps(axis: str, a: DimAlgebra, mode: str) -> list[Step]:
    v = _values(a)
    if mode == "valid":
        return [Step.of(axis, "lo", "0", v, a.lo), Step.of(axis, "hi", "0", v, a.hi)]
    if mode == "full":
        return [Step.of(axis, "lo", "d*(K-1)", v, a.lo), Step.of(axis, "hi", "d*(K-1)", v, a.hi)]
    if mode in ("same", "same_lower"):
        small, large = ("lo", "hi") if mode == "same" else ("hi", "lo")
        return [
            Step.of(axis, "O", "ceil(I / s)", v, a.output),
            Step.of(axis, "total", "max((O-1)*s + d*(K-1) + 1 - I, 0)", v, a.lo + a.hi),
            Step.of(axis, small, "total // 2", v, v[small]),
            Step.of(axis, large, f"total - {small}", v, v[large]),
        ]
    return [Step.of(axis, "lo", "lo", v, a.lo), Step.of(axis, "hi", "hi", v, a.hi)]


def _extent_steps(axis: str, a: DimAlgebra) -> list[Step]:
    if a.dilation == 1:
        return []
    return [Step.of(axis, "E", "d*(K-1) + 1", _values(a), a.extent, note="dilated kernel extent")]


def _grad_y_steps(axis: str, a: DimAlgebra) -> list[Step]:
    if a.stride == 1:
        return []
    return [
        Step.of(
            axis,
            "G",
            "(O-1)*s + 1",
            _values(a),
            a.dilated_grad,
            note="grad_y with s-1 zeros between entries",
        ),
    ]


def _forward_steps(axis: str, a: DimAlgebra) -> list[Step]:
    e = "E" if a.dilation > 1 else "K"
    formula = f"I + lo + hi - {e} + 1" if a.stride == 1 else f"floor((I + lo + hi - {e}) / s) + 1"
    return [*_extent_steps(axis, a), Step.of(axis, "O", formula, _values(a), a.output)]


def _grad_input_steps(axis: str, a: DimAlgebra) -> list[Step]:
    v = _values(a)
    e, g = ("E" if a.dilation > 1 else "K"), ("G" if a.stride > 1 else "O")
    steps = [*_extent_steps(axis, a), *_grad_y_steps(axis, a)]
    if a.stride > 1:
        steps.append(
            Step.of(
                axis, "r", f"(I + lo + hi - {e}) mod s", v, a.unreached, note="rows never reached"
            )
        )
    steps.append(
        Step.of(
            axis,
            "F",
            f"{g} + {e} - 1",
            v,
            a.grad_input_full,
            note="full correlation, before the crop",
        )
    )
    crop = "F - lo - (hi - r)" if a.stride > 1 else "F - lo - hi"
    steps.append(Step.of(axis, "grad_input", crop, v, a.grad_input, equals="I"))
    return steps


def _grad_weight_steps(axis: str, a: DimAlgebra) -> list[Step]:
    v = _values(a)
    g = "G" if a.stride > 1 else "O"
    formula = f"I + lo + hi - {g} + 1" if a.dilation == 1 else f"floor((I + lo + hi - {g}) / d) + 1"
    steps = _grad_y_steps(axis, a)
    if a.grad_weight_raw == a.kernel:
        return [*steps, Step.of(axis, "grad_weight", formula, v, a.grad_weight_raw, equals="K")]
    note = f"the first K lags; the other {a.grad_weight_raw - a.kernel} lie in the r unreached rows"
    return [
        *steps,
        Step.of(axis, "lags", formula, v, a.grad_weight_raw),
        Step.of(axis, "grad_weight", "K", v, a.kernel, note=note),
    ]


def checked_shape(name: str, shape: object, length: int, rule: str) -> tuple[int, ...]:
    """``shape`` as a tuple of ``length`` ints >= 1; TypeError or ValueError naming ``name``,
    the value and the rule (``rule`` says which length and why)."""
    if isinstance(shape, str) or not isinstance(shape, Sequence):
        raise TypeError(f"{name}={shape!r} must be a sequence of ints")
    items = tuple(shape)
    if not all(is_int(n) for n in items):
        raise TypeError(f"{name}={items!r} must hold ints")
    if len(items) != length:
        raise ValueError(f"{name}={items!r} has {len(items)} dims; {rule}")
    if any(n < 1 for n in items):
        raise ValueError(f"{name}={items!r}: every size must be >= 1")
    return tuple(int(n) for n in items)


def _layer(input_shape, weight_shape, spec: ConvSpec, layout: str):
    """Validate in the user's layout; return (Layout, user shapes, resolved spec, algebra)."""
    lay = parse_layout(layout)
    x_axes = ", ".join(lay.arrange("N", "C", lay.spatial))
    w_axes = ", ".join(lay.arrange_kernel("O", "I", lay.spatial))
    x = checked_shape(
        "input_shape",
        input_shape,
        len(x_axes.split(", ")),
        f"layout {lay.name!r} needs {len(x_axes.split(', '))} ({x_axes})",
    )
    w = checked_shape(
        "weight_shape",
        weight_shape,
        lay.ndim + 2,
        f"layout {lay.name!r} takes a {lay.kernel} kernel with {lay.ndim + 2} dims ({w_axes})",
    )
    batch, channels, spatial = lay.split(x)
    c_out, c_in_group, kernel = lay.split_kernel(w)
    try:
        resolved, dims = resolve(
            (batch or 1, channels, *spatial), (c_out, c_in_group, *kernel), spec
        )
    except ValueError as error:
        raise ValueError(f"{error} [layout {lay.name}: x is ({x_axes}), w is ({w_axes})]") from None
    return lay, x, w, resolved, dims


def explain(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    *,
    padding="valid",
    stride=1,
    dilation=1,
    groups: int | str = 1,
    layout: str = "NCHW",
) -> Explanation:
    """Derive, step by step, the shapes of y, grad_input, grad_weight and grad_bias.

    Args:
        input_shape: x's shape in ``layout``, e.g. ``(N, C_in, H, W)`` for ``NCHW`` or
            ``(H, W, C_in)`` for ``HWC``.
        weight_shape: ``(C_out, C_in // groups, *K)`` (OIHW) for channels-first layouts,
            ``(*K, C_in // groups, C_out)`` (HWIO) for channels-last ones.
        padding: a mode or explicit pads, as `convgrad.ConvSpec`.
        stride: an int >= 1 or one per spatial dim.
        dilation: an int >= 1 or one per spatial dim.
        groups: C_in and C_out must both be divisible by it; or "depthwise": groups = C_in,
            w with one input channel per group and C_out = multiplier * C_in
            (`convgrad.shapes.depthwise_groups`), as `convgrad.ConvSpec`.
        layout: one of `convgrad.explanation.LAYOUTS` (NCHW, NHWC, HWC, NCW, NCDHW, ...).

    Returns:
        An `Explanation`: ``str()`` is the plain-text derivation; ``to_markdown()``,
        ``to_dict()`` and ``record(name)`` (one shape with its steps) give the same data.

    Raises:
        TypeError: shapes that are not sequences of ints, a layout that is not a str.
        ValueError: an unknown layout, shapes that do not fit it, or a bad spec (each message
            names the argument, its value and the rule).

    >>> e = explain((128, 128, 3), (3, 3, 3, 32), layout="HWC")
    >>> e.record("forward").shape, e.record("grad_weight").shape
    ((126, 126, 32), (3, 3, 3, 32))
    """
    depthwise = groups == DEPTHWISE
    spec = ConvSpec(padding=padding, stride=stride, dilation=dilation, groups=groups)
    lay, x, w, resolved, dims = _layer(input_shape, weight_shape, spec, layout)
    groups = resolved.groups
    batch, c_in, _ = lay.split(x)
    c_out, c_in_group, _ = lay.split_kernel(w)
    letters = lay.spatial
    out_spatial = [a.output for a in dims]
    operands = (
        Record("x", "x", x, lay.arrange("N", "C_in", letters), "input"),
        Record(
            "w",
            "w",
            w,
            lay.arrange_kernel("C_out", "C_in/g", [f"K_{c}" for c in letters]),
            "kernel",
        ),
    )
    per_dim = {
        name: tuple(s for c, a in zip(letters, dims, strict=True) for s in build(c, a))
        for name, build in (
            ("forward", _forward_steps),
            ("grad_input", _grad_input_steps),
            ("grad_weight", _grad_weight_steps),
        )
    }
    padding_steps = tuple(
        s for c, a in zip(letters, dims, strict=True) for s in _padding_steps(c, a, resolved.mode)
    )
    n = lay.ndim
    batch_text = f"the batch (N = {batch})" if lay.batch else "the batch (none here)"
    outputs = (
        Record(
            "forward",
            "y",
            lay.arrange(batch, c_out, out_spatial),
            lay.arrange("N", "C_out", [f"{c}_out" for c in letters]),
            f"{_MODE_PHRASE[resolved.mode]} correlation of x with w, stride"
            f" {compact(resolved.stride)}, dilation {compact(resolved.dilation)}"
            f" (torch.nn.functional.conv{n}d): each of the C_out = {c_out} output channels sums"
            f" C_in/groups = {c_in_group} input channels over the kernel window."
            + (
                f" Depthwise: groups = C_in = {c_in}, multiplier C_out/C_in ="
                f" {c_out // c_in}; output channel c * {c_out // c_in} + m is input channel c's"
                " m-th filter (torch.nn.Conv2d(groups=C_in), tf.nn.depthwise_conv2d)."
                if depthwise
                else ""
            ),
            per_dim["forward"],
        ),
        Record(
            "grad_input",
            "grad_x",
            x,
            operands[0].axes,
            "full convolution of grad_y with w: the full correlation of the stride-dilated grad_y"
            " with the 180°-rotated kernel (C_in and C_out swapped), cropped by the pads (lo at"
            " the start, hi - r at the end) = the transposed convolution"
            f" (torch.nn.functional.conv_transpose{n}d). Each of the C_in = {c_in} input channels"
            f" sums the C_out/groups = {c_out // groups} output channels of its group.",
            per_dim["grad_input"],
        ),
        Record(
            "grad_weight",
            "grad_w",
            w,
            operands[1].axes,
            "valid correlation of the padded x with the stride-dilated grad_y (lags taken every d),"
            f" summed over {batch_text}: grad_w[o, i] pairs output channel o with input channel"
            " i of o's group.",
            per_dim["grad_weight"],
        ),
        Record(
            "grad_bias",
            "grad_b",
            (c_out,),
            ("C_out",),
            f"sum of grad_y over {batch_text} and space ({format_shape(out_spatial)} positions per"
            " output channel).",
        ),
    )
    return Explanation(lay, resolved, dims, padding_steps, operands, outputs)


__all__ = [
    "Explanation",
    "Record",
    "Step",
    "checked_shape",
    "explain",
    "find_record",
    "step_lines",
]
