"""Step-by-step derivations of a convolution layer's shapes and its gradients' shapes.

`explain` works in the user's own layout: channels first (``NCHW`` input, ``OIHW`` kernel, as
PyTorch) or channels last (``NHWC`` / ``HWC`` input, ``HWIO`` kernel, as TensorFlow and most
NumPy tutorials), 1, 2 or 3 spatial dims, batch optional. Every number comes from
`convgrad.shapes.DimAlgebra`; a derivation step shows the formula, the formula with the numbers
substituted and the value, e.g. ``grad_weight = I + lo + hi - O + 1 = 128 + 0 + 0 - 126 + 1 =
3 = K``.

`diagnose_weight_grad` and `diagnose_input_grad` take the wrong gradient shape a user got, compute
(with the same algebra) the shape of every plausible wrong operation (another padding mode,
swapped operands, unpadded input, grad_y without the stride's zeros, ...) and report which of them
produce the observed shape and what to change.
"""

from __future__ import annotations

import dataclasses
import numbers
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from convgrad.shapes import DimAlgebra, resolve
from convgrad.spec import ConvSpec, ResolvedSpec

WIDTH = 100
"""Plain-text output is wrapped to this many columns."""

_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
_BOLD, _CYAN, _RESET = "\033[1m", "\033[36m", "\033[0m"


@dataclass(frozen=True)
class Layout:
    """An input layout such as ``NCHW`` or ``HWC`` and the kernel layout that goes with it.

    Channels-first layouts take ``OIHW`` kernels ``(C_out, C_in // groups, *K)`` (PyTorch
    ``torch.nn.functional.conv2d``); channels-last layouts take ``HWIO`` kernels
    ``(*K, C_in // groups, C_out)`` (TensorFlow ``tf.nn.conv2d``, JAX ``dimension_numbers=
    ("NHWC", "HWIO", "NHWC")``). A layout without ``N`` describes shapes without a batch axis.
    """

    name: str
    ndim: int
    batch: bool
    channels_last: bool

    @property
    def spatial(self) -> str:
        """The spatial axes' letters, e.g. ``HW``."""
        return _SPATIAL[self.ndim]

    @property
    def kernel(self) -> str:
        """The kernel layout's name, e.g. ``OIHW`` or ``HWIO``."""
        return f"{self.spatial}IO" if self.channels_last else f"OI{self.spatial}"

    def arrange(self, batch, channel, spatial: Sequence) -> tuple:
        """Items in this layout's order from a batch item, a channel item and spatial items."""
        core = (*spatial, channel) if self.channels_last else (channel, *spatial)
        return (batch, *core) if self.batch else core

    def arrange_kernel(self, out_channels, in_channels, spatial: Sequence) -> tuple:
        """Kernel items in this layout's kernel order."""
        if self.channels_last:
            return (*spatial, in_channels, out_channels)
        return (out_channels, in_channels, *spatial)

    def split(self, shape: Sequence[int]) -> tuple[int | None, int, tuple[int, ...]]:
        """(batch or None, channels, spatial sizes) of a shape in this layout."""
        items = list(shape)
        batch = items.pop(0) if self.batch else None
        channel = items.pop() if self.channels_last else items.pop(0)
        return batch, channel, tuple(items)

    def split_kernel(self, shape: Sequence[int]) -> tuple[int, int, tuple[int, ...]]:
        """(C_out, C_in // groups, kernel sizes) of a kernel shape in this layout."""
        if self.channels_last:
            return shape[-1], shape[-2], tuple(shape[:-2])
        return shape[0], shape[1], tuple(shape[2:])


def _all_layouts() -> dict[str, Layout]:
    table = {}
    for ndim, spatial in _SPATIAL.items():
        for batch, last in product((True, False), (False, True)):
            name = ("N" if batch else "") + (spatial + "C" if last else "C" + spatial)
            table[name] = Layout(name, ndim, batch, last)
    return table


LAYOUTS: dict[str, Layout] = _all_layouts()
"""Every supported input layout by name: NCW, NWC, CW, WC, NCHW, NHWC, CHW, HWC and 3-D ones."""


def parse_layout(layout: str) -> Layout:
    """The `Layout` named ``layout`` (case-insensitive); ValueError names the supported ones."""
    if not isinstance(layout, str):
        raise TypeError(f"layout={layout!r} must be a str such as 'NCHW' or 'HWC'")
    found = LAYOUTS.get(layout.upper())
    if found is None:
        raise ValueError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    return found


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


_NAME = re.compile(r"[A-Za-z_]\w*")


def _step(axis: str, quantity: str, formula: str, values: dict, value: int, **extra) -> Step:
    numbers = _NAME.sub(lambda m: str(values.get(m.group(), m.group())), formula)
    return Step(axis, quantity, formula, numbers, value, **extra)


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


def format_shape(shape: Sequence[int]) -> str:
    """``128x128x3`` (the command line's notation)."""
    return "x".join(str(n) for n in shape)


def _grouped(steps: Sequence[Step]) -> list[tuple[str, list[Step]]]:
    groups: dict[str, list[Step]] = {}
    for step in steps:
        groups.setdefault(step.axis, []).append(step)
    return list(groups.items())


def _wrapped(text: str, indent: str, hanging: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=hanging, break_on_hyphens=False
    )


def _step_lines(steps: Sequence[Step]) -> list[str]:
    """One line per axis when it fits in `WIDTH` columns, else one line per step."""
    lines = []
    for axis, group in _grouped(steps):
        joined = f"  {axis}: " + "; ".join(s.body for s in group)
        if len(joined) <= WIDTH:
            lines.append(joined)
            continue
        for i, step in enumerate(group):
            first = f"  {axis}: " if i == 0 else " " * (len(axis) + 4)
            lines += _wrapped(step.body, first, " " * (len(axis) + 8))
    return lines


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
        for record in self.operands + self.outputs:
            if record.name == name:
                return record
        names = [r.name for r in self.operands + self.outputs]
        raise KeyError(f"name={name!r} is not one of {names}")

    def _title(self) -> str:
        return (
            f"{self.layout.ndim}-D convolution, layout {self.layout.name}"
            f" (kernel {self.layout.kernel})"
        )

    def _spec_text(self) -> str:
        s = self.spec
        return (
            f"padding {s.mode!r}, stride {_compact(s.stride)}, dilation {_compact(s.dilation)},"
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
            *_wrapped(f"padding {self.spec.mode!r}: {_PADDING_TEXT[self.spec.mode]}", "", "  "),
        ]
        lines += _step_lines(self.padding_steps)
        for r in self.outputs:
            labels = ", ".join(f"{a}={n}" for a, n in zip(r.axes, r.shape, strict=True))
            lines += [
                "",
                f"{bold(r.name):<12} {r.symbol} = {shape(format_shape(r.shape))}  ({labels})",
            ]
            lines += _wrapped(r.operation, "  ", "  ")
            lines += _step_lines(r.steps)
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


def _compact(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(values)


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
        return [_step(axis, "lo", "0", v, a.lo), _step(axis, "hi", "0", v, a.hi)]
    if mode == "full":
        return [_step(axis, "lo", "d*(K-1)", v, a.lo), _step(axis, "hi", "d*(K-1)", v, a.hi)]
    if mode in ("same", "same_lower"):
        small, large = ("lo", "hi") if mode == "same" else ("hi", "lo")
        return [
            _step(axis, "O", "ceil(I / s)", v, a.output),
            _step(axis, "total", "max((O-1)*s + d*(K-1) + 1 - I, 0)", v, a.lo + a.hi),
            _step(axis, small, "total // 2", v, v[small]),
            _step(axis, large, f"total - {small}", v, v[large]),
        ]
    return [_step(axis, "lo", "lo", v, a.lo), _step(axis, "hi", "hi", v, a.hi)]


def _extent_steps(axis: str, a: DimAlgebra) -> list[Step]:
    if a.dilation == 1:
        return []
    return [_step(axis, "E", "d*(K-1) + 1", _values(a), a.extent, note="dilated kernel extent")]


def _grad_y_steps(axis: str, a: DimAlgebra) -> list[Step]:
    if a.stride == 1:
        return []
    return [
        _step(
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
    return [*_extent_steps(axis, a), _step(axis, "O", formula, _values(a), a.output)]


def _grad_input_steps(axis: str, a: DimAlgebra) -> list[Step]:
    v = _values(a)
    e, g = ("E" if a.dilation > 1 else "K"), ("G" if a.stride > 1 else "O")
    steps = [*_extent_steps(axis, a), *_grad_y_steps(axis, a)]
    if a.stride > 1:
        steps.append(
            _step(
                axis, "r", f"(I + lo + hi - {e}) mod s", v, a.unreached, note="rows never reached"
            )
        )
    steps.append(
        _step(
            axis,
            "F",
            f"{g} + {e} - 1",
            v,
            a.grad_input_full,
            note="full correlation, before the crop",
        )
    )
    crop = "F - lo - (hi - r)" if a.stride > 1 else "F - lo - hi"
    steps.append(_step(axis, "grad_input", crop, v, a.grad_input, equals="I"))
    return steps


def _grad_weight_steps(axis: str, a: DimAlgebra) -> list[Step]:
    v = _values(a)
    g = "G" if a.stride > 1 else "O"
    formula = f"I + lo + hi - {g} + 1" if a.dilation == 1 else f"floor((I + lo + hi - {g}) / d) + 1"
    steps = _grad_y_steps(axis, a)
    if a.grad_weight_raw == a.kernel:
        return [*steps, _step(axis, "grad_weight", formula, v, a.grad_weight_raw, equals="K")]
    note = f"the first K lags; the other {a.grad_weight_raw - a.kernel} lie in the r unreached rows"
    return [
        *steps,
        _step(axis, "lags", formula, v, a.grad_weight_raw),
        _step(axis, "grad_weight", "K", v, a.kernel, note=note),
    ]


def _checked_shape(name: str, shape: object, length: int, rule: str) -> tuple[int, ...]:
    if isinstance(shape, str) or not isinstance(shape, Sequence):
        raise TypeError(f"{name}={shape!r} must be a sequence of ints")
    items = tuple(shape)
    if not all(_is_int(n) for n in items):
        raise TypeError(f"{name}={items!r} must hold ints")
    if len(items) != length:
        raise ValueError(f"{name}={items!r} has {len(items)} dims; {rule}")
    if any(n < 1 for n in items):
        raise ValueError(f"{name}={items!r}: every size must be >= 1")
    return tuple(int(n) for n in items)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _layer(input_shape, weight_shape, spec: ConvSpec, layout: str):
    """Validate in the user's layout; return (Layout, user shapes, resolved spec, algebra)."""
    lay = parse_layout(layout)
    x_axes = ", ".join(lay.arrange("N", "C", lay.spatial))
    w_axes = ", ".join(lay.arrange_kernel("O", "I", lay.spatial))
    x = _checked_shape(
        "input_shape",
        input_shape,
        len(x_axes.split(", ")),
        f"layout {lay.name!r} needs {len(x_axes.split(', '))} ({x_axes})",
    )
    w = _checked_shape(
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
    groups: int = 1,
    layout: str = "NCHW",
) -> Explanation:
    """Derive, step by step, the shapes of y, grad_input, grad_weight and grad_bias.

    input_shape: in ``layout``, e.g. ``(N, C_in, H, W)`` for ``NCHW`` or ``(H, W, C_in)`` for
    ``HWC``; weight_shape: ``(C_out, C_in // groups, *K)`` (OIHW) for channels-first layouts,
    ``(*K, C_in // groups, C_out)`` (HWIO) for channels-last ones. padding, stride, dilation,
    groups: as `convgrad.ConvSpec`. Raises ValueError / TypeError naming the bad argument.

    >>> e = explain((128, 128, 3), (3, 3, 3, 32), layout="HWC")
    >>> e.record("forward").shape, e.record("grad_weight").shape
    ((126, 126, 32), (3, 3, 3, 32))
    """
    spec = ConvSpec(padding=padding, stride=stride, dilation=dilation, groups=groups)
    lay, x, w, resolved, dims = _layer(input_shape, weight_shape, spec, layout)
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
            f" {_compact(resolved.stride)}, dilation {_compact(resolved.dilation)}"
            f" (torch.nn.functional.conv{n}d): each of the C_out = {c_out} output channels sums"
            f" C_in/groups = {c_in_group} input channels over the kernel window.",
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


@dataclass(frozen=True)
class Candidate:
    """One way to compute a gradient: the spatial shape it gives and what to change to make it
    the right operation (``changes`` empty: it is the right one)."""

    operation: str
    shape: tuple[int, ...]
    changes: tuple[str, ...]

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {
            "operation": self.operation,
            "shape": list(self.shape),
            "changes": list(self.changes),
        }


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
            out += (
                _wrapped(line, "", "      ") if line.startswith("  ") else _wrapped(line, "", "  ")
            )
        return "\n".join(out)

    def to_markdown(self) -> str:
        """The diagnosis as Markdown."""
        return "\n".join(self._lines("- ", "`")) + "\n"


def _correlation_size(n: int, k: int, mode: str, stride: int = 1, dilation: int = 1) -> int | None:
    """Length of correlating n samples with a k-tap kernel in ``mode``; None when empty.

    The same algebra as the layer (`ConvSpec.resolve` and `DimAlgebra.output`); 'same' keeps the
    first operand's length, as ``scipy.signal.correlate(a, v, mode="same")``.
    """
    resolved = ConvSpec(padding=mode, stride=stride, dilation=dilation).resolve((n,), (k,))
    ((lo, hi),) = resolved.padding
    size = DimAlgebra(0, n, k, lo, hi, stride, dilation).output
    return size if size >= 1 else None


def _joined(values: Sequence) -> str:
    return _compact(tuple(values))


def _weight_candidates(dims: tuple[DimAlgebra, ...]) -> list[Candidate]:
    pads = [(a.lo, a.hi) for a in dims]
    padded = any(a.lo or a.hi for a in dims)
    strided = any(a.stride > 1 for a in dims)
    dilated = any(a.dilation > 1 for a in dims)
    stride, dilation = _joined(a.stride for a in dims), _joined(a.dilation for a in dims)
    candidates = []
    for mode, swapped, pad_x, dilate_gy, every_d in product(
        ("valid", "same", "full"),
        (False, True),
        (True, False) if padded else (True,),
        (True, False) if strided else (True,),
        (True, False) if dilated else (True,),
    ):
        if swapped and mode == "full":
            continue
        xs = "the padded x" if padded and pad_x else "x (unpadded)" if padded else "x"
        gy = (
            "grad_y"
            if not strided
            else "the stride-dilated grad_y"
            if dilate_gy
            else ("grad_y (no zeros for the stride)")
        )
        lags = "" if not dilated else ", every d-th lag" if every_d else ", every lag"
        first, second = (gy, xs) if swapped else (xs, gy)
        changes = []
        if mode != "valid":
            changes.append(f"correlate in 'valid' mode, not {mode!r}")
        if swapped:
            changes.append("correlate x with grad_y (x first), not grad_y with x")
        if not pad_x:
            changes.append(f"pad x by the forward's pads (lo, hi) = {_joined(pads)} first")
        if not dilate_gy:
            changes.append(f"insert stride - 1 zeros between grad_y's entries (stride {stride})")
        if not every_d:
            changes.append(f"keep every d-th lag only (dilation {dilation})")
        sizes = []
        for a in dims:
            n = a.padded if pad_x else a.input
            g = a.dilated_grad if dilate_gy else a.output
            sizes.append(
                _correlation_size(
                    *((g, n) if swapped else (n, g)), mode, a.dilation if every_d else 1
                )
            )
        if None in sizes:
            continue
        operation = f"{mode} correlation of {first} with {second}{lags}"
        if not changes:
            kernel = tuple(a.kernel for a in dims)
            if tuple(sizes) != kernel:
                candidates.append(
                    Candidate(
                        f"{operation}, all lags kept",
                        tuple(sizes),
                        (
                            "keep the first K lags of each dim; the others pair x with the rows no"
                            " window reaches",
                        ),
                    )
                )
            sizes = list(kernel)
        candidates.append(Candidate(operation, tuple(sizes), tuple(changes)))
    return candidates


def _input_candidates(dims: tuple[DimAlgebra, ...]) -> list[Candidate]:
    strided = any(a.stride > 1 for a in dims)
    dilated = any(a.dilation > 1 for a in dims)
    cropped = any(a.lo or a.hi for a in dims)
    unreached = any(a.unreached for a in dims)
    stride, dilation = _joined(a.stride for a in dims), _joined(a.dilation for a in dims)
    crops = {
        "exact": "",
        "none": ", not cropped",
        "ignore_r": ", cropped by lo and hi (the r unreached rows lost)",
    }
    candidates = []
    for mode, dilate_gy, dilate_w, crop in product(
        ("full", "valid", "same"),
        (True, False) if strided else (True,),
        (True, False) if dilated else (True,),
        (
            "exact",
            *(("none",) if cropped else ()),
            *(("ignore_r",) if unreached else ()),
        ),
    ):
        if mode != "full" and crop != "exact":
            continue
        gy = (
            "grad_y"
            if not strided
            else "the stride-dilated grad_y"
            if dilate_gy
            else ("grad_y (no zeros for the stride)")
        )
        kernel = (
            "the rotated kernel"
            if not dilated
            else ("the rotated dilated kernel" if dilate_w else "the rotated kernel, undilated")
        )
        changes = []
        if mode != "full":
            changes.append(f"correlate in 'full' mode (a full convolution), not {mode!r}")
        if not dilate_gy:
            changes.append(f"insert stride - 1 zeros between grad_y's entries (stride {stride})")
        if not dilate_w:
            changes.append(f"dilate the kernel (dilation {dilation})")
        if crop == "none":
            changes.append("crop lo at the start and hi - r at the end (the forward's pads)")
        if crop == "ignore_r":
            changes.append(
                "crop only hi - r at the end: the last r rows no window reached are zeros of"
                " grad_input (torch conv_transpose: output_padding = r)"
            )
        sizes = []
        for a in dims:
            g = a.dilated_grad if dilate_gy else a.output
            size = _correlation_size(g, a.kernel, mode, dilation=a.dilation if dilate_w else 1)
            if size is not None and mode == "full":
                size -= {"exact": a.lo + a.hi - a.unreached, "none": 0, "ignore_r": a.lo + a.hi}[
                    crop
                ]
            sizes.append(size if size is not None and size >= 1 else None)
        if None in sizes:
            continue
        operation = f"{mode} correlation of {gy} with {kernel}{crops[crop]}"
        candidates.append(Candidate(operation, tuple(sizes), tuple(changes)))
    return candidates


def _observed_spatial(gradient: str, observed, e: Explanation) -> tuple[tuple[int, ...], list[str]]:
    """The observed spatial sizes, and notes on its non-spatial axes when a full shape is given."""
    lay = e.layout
    expected = e.record("grad_weight" if gradient == "grad_weight" else "grad_input")
    full_rank = len(expected.shape)
    if isinstance(observed, str) or not isinstance(observed, Sequence):
        raise TypeError(f"observed={observed!r} must be a sequence of ints")
    got = tuple(observed)
    if not all(_is_int(n) for n in got):
        raise TypeError(f"observed={got!r} must hold ints")
    if any(n < 1 for n in got):
        raise ValueError(f"observed={got!r}: every size must be >= 1")
    got = tuple(int(n) for n in got)
    notes = []
    if gradient == "grad_weight" and lay.batch and len(got) == full_rank + 1:
        notes.append(
            f"the leading axis of size {got[0]} looks like the batch: sum grad_weight over the"
            " batch (every example shares the kernel)"
        )
        got = got[1:]
    if len(got) == lay.ndim:
        return got, notes
    if len(got) != full_rank:
        raise ValueError(
            f"observed={tuple(observed)!r} has {len(observed)} dims; give the {lay.ndim} spatial"
            f" sizes or the whole {gradient} shape ({', '.join(expected.axes)})"
        )
    if gradient == "grad_weight":
        c_out, c_in, spatial = lay.split_kernel(got)
        want_out, want_in, _ = lay.split_kernel(expected.shape)
        if (c_out, c_in) == (want_in, want_out) != (want_out, want_in):
            notes.append(
                f"C_out and C_in/groups are swapped: {lay.kernel} puts them as"
                f" ({', '.join(lay.arrange_kernel('C_out', 'C_in/g', ''))})"
            )
        elif (c_out, c_in) != (want_out, want_in):
            notes.append(
                f"channels (C_out, C_in/groups) = ({c_out}, {c_in}); expected"
                f" ({want_out}, {want_in}), those of w"
            )
        return spatial, notes
    batch, channels, spatial = lay.split(got)
    want_batch, want_channels, _ = lay.split(expected.shape)
    if batch != want_batch:
        notes.append(f"batch {batch}; expected N = {want_batch}, that of x")
    if channels != want_channels:
        notes.append(
            f"channels {channels}; expected C_in = {want_channels}: grad_input has x's channels"
            " (each sums the output channels of its group)"
        )
    return spatial, notes


def _diagnose(gradient: str, input_shape, weight_shape, observed, spec_args: dict) -> Diagnosis:
    e = explain(input_shape, weight_shape, **spec_args)
    got, notes = _observed_spatial(gradient, observed, e)
    if gradient == "grad_weight":
        expected = tuple(a.kernel for a in e.dims)
        candidates = _weight_candidates(e.dims)
    else:
        expected = tuple(a.grad_input for a in e.dims)
        candidates = _input_candidates(e.dims)
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


__all__ = [
    "LAYOUTS",
    "Candidate",
    "Diagnosis",
    "Explanation",
    "Layout",
    "Record",
    "Step",
    "diagnose_input_grad",
    "diagnose_weight_grad",
    "explain",
    "format_shape",
    "parse_layout",
]
