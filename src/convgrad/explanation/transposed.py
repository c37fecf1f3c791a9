"""The shapes of a transposed convolution and its gradients, step by step (`explain_transpose`).

A transposed convolution T (``torch.nn.functional.conv_transpose{1,2,3}d``) with x ``(N, C_in,
*I)``, w ``(C_in, C_out // groups, *K)`` (PyTorch's ConvTranspose layout; channels-last layouts
take ``(*K, C_out // groups, C_in)``, TensorFlow's ``conv2d_transpose`` filter), pads ``(lo,
hi)``, stride s, dilation d and output_padding is the adjoint of the convolution C that maps
its output back to x's shape (`convgrad.shapes.transpose_as_conv`): y is C's grad_input,
grad_input is C's forward, grad_weight is C's weight gradient with grad_y as input and x as
output gradient. The derivation writes each size as formula, numbers and value, and names C.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from convgrad.explanation.derivation import (
    Record,
    Step,
    checked_shape,
    find_record,
    step_lines,
)
from convgrad.explanation.formatting import compact, format_shape, wrapped
from convgrad.explanation.layouts import Layout, parse_layout
from convgrad.shapes import (
    check_output_padding,
    output_padding_for,
    transpose_as_conv,
    transpose_output_range,
)
from convgrad.spec import ConvSpec, per_dim_ints


@dataclass(frozen=True)
class TransposeDim:
    """One spatial dim of a transposed convolution: its sizes and the conv it is the adjoint
    of (pads ``(lo, hi_c)``, input ``O - tail``)."""

    input: int
    kernel: int
    lo: int
    hi: int
    stride: int
    dilation: int
    output_padding: int

    @property
    def extent(self) -> int:
        """``E = d*(K-1) + 1``: the dilated kernel's extent."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def inserted(self) -> int:
        """``Z = (I-1)*s + 1``: x with s - 1 zeros between entries."""
        return (self.input - 1) * self.stride + 1

    @property
    def full(self) -> int:
        """``F = Z + E - 1``: the full correlation of the zero-inserted x, before the crop."""
        return self.inserted + self.extent - 1

    @property
    def output(self) -> int:
        """``O = F - lo - hi + output_padding``."""
        return self.full - self.lo - self.hi + self.output_padding

    @property
    def conv_hi(self) -> int:
        """The adjoint conv's hi pad."""
        return transpose_as_conv(self.lo, self.hi, self.stride, self.output_padding)[0]

    @property
    def tail(self) -> int:
        """y's last rows past every input's reach, which the adjoint conv leaves out."""
        return transpose_as_conv(self.lo, self.hi, self.stride, self.output_padding)[1]

    @property
    def conv_input(self) -> int:
        """The adjoint conv's padded input size ``P = O - tail + lo + hi_c``."""
        return self.output - self.tail + self.lo + self.conv_hi

    def values(self) -> dict[str, int]:
        """The names the formulas use."""
        return {
            "I": self.input,
            "K": self.kernel,
            "lo": self.lo,
            "hi": self.hi,
            "s": self.stride,
            "d": self.dilation,
            "op": self.output_padding,
            "E": self.extent,
            "Z": self.inserted,
            "F": self.full,
            "O": self.output,
            "hc": self.conv_hi,
            "t": self.tail,
            "P": self.conv_input,
        }


def _extent(axis: str, a: TransposeDim) -> list[Step]:
    if a.dilation == 1:
        return []
    return [Step.of(axis, "E", "d*(K-1) + 1", a.values(), a.extent, note="dilated kernel extent")]


def _forward_steps(axis: str, a: TransposeDim, size: int | None) -> list[Step]:
    v = a.values()
    steps = _extent(axis, a)
    e = "E" if a.dilation > 1 else "K"
    if a.stride > 1:
        steps.append(
            Step.of(
                axis, "Z", "(I-1)*s + 1", v, a.inserted, note="x with s-1 zeros between entries"
            )
        )
    z = "Z" if a.stride > 1 else "I"
    steps.append(
        Step.of(axis, "F", f"{z} + {e} - 1", v, a.full, note="full correlation, before the crop")
    )
    if size is not None:
        reach = transpose_output_range(a.input, a.kernel, a.lo, a.hi, a.stride, a.dilation)
        steps.append(
            Step.of(
                axis,
                "op",
                f"{size} - (F - lo - hi)",
                v,
                a.output_padding,
                note=f"from output_size; reachable {reach.start} to {reach.stop - 1}",
            )
        )
    note = "lo cropped at the start, hi at the end, op rows added at the end"
    steps.append(Step.of(axis, "O", "F - lo - hi + op", v, a.output, note=note))
    return steps


def _adjoint_steps(axis: str, a: TransposeDim) -> list[Step]:
    """The adjoint conv's pads and input, where output_padding reaches past the stride."""
    if a.output_padding < a.stride:
        return []
    v = a.values()
    return [
        Step.of(axis, "hc", "hi - min(hi, op - s + 1)", v, a.conv_hi, note="the conv's hi pad"),
        Step.of(
            axis,
            "t",
            "max(0, op - hi - s + 1)",
            v,
            a.tail,
            note="y's last rows past every input's reach: zeros, left out of the conv",
        ),
    ]


def _grad_input_steps(axis: str, a: TransposeDim) -> list[Step]:
    v = a.values()
    e = "E" if a.dilation > 1 else "K"
    steps = [*_extent(axis, a), *_adjoint_steps(axis, a)]
    padded = "O - t + lo + hc" if a.output_padding >= a.stride else "O + lo + hi"
    steps.append(Step.of(axis, "P", padded, v, a.conv_input, note="the conv's padded input"))
    if a.stride > 1:
        steps.append(
            Step.of(
                axis,
                "r",
                f"(P - {e}) mod s",
                v,
                (a.conv_input - a.extent) % a.stride,
                note="rows the conv leaves unreached",
            )
        )
    formula = f"P - {e} + 1" if a.stride == 1 else f"floor((P - {e}) / s) + 1"
    steps.append(Step.of(axis, "grad_input", formula, v, a.input, equals="I"))
    return steps


def _grad_weight_steps(axis: str, a: TransposeDim) -> list[Step]:
    v = a.values()
    z = "Z" if a.stride > 1 else "I"
    steps = [*_adjoint_steps(axis, a)]
    steps.append(
        Step.of(
            axis,
            "P",
            "O - t + lo + hc" if a.output_padding >= a.stride else "O + lo + hi",
            v,
            a.conv_input,
        )
    )
    lags = (a.conv_input - a.inserted) // a.dilation + 1
    formula = f"P - {z} + 1" if a.dilation == 1 else f"floor((P - {z}) / d) + 1"
    if lags == a.kernel:
        return [*steps, Step.of(axis, "grad_weight", formula, v, lags, equals="K")]
    note = f"the first K lags; the other {lags - a.kernel} lie in the unreached rows"
    return [
        *steps,
        Step.of(axis, "lags", formula, v, lags),
        Step.of(axis, "grad_weight", "K", v, a.kernel, note=note),
    ]


@dataclass(frozen=True)
class TransposeExplanation:
    """The derivation of every shape of a transposed convolution; ``str()`` is the text.

    operands: x and w; outputs: forward (y), grad_input, grad_weight, grad_bias; dims: per
    spatial dim; adjoint: the conv T is the adjoint of, in words.
    """

    layout: Layout
    padding: tuple[tuple[int, int], ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    output_padding: tuple[int, ...]
    output_size: tuple[int, ...] | None
    dims: tuple[TransposeDim, ...]
    operands: tuple[Record, ...]
    outputs: tuple[Record, ...]
    adjoint: str

    def record(self, name: str) -> Record:
        """The operand or output called ``name`` ("x", "w", "forward", "grad_input", ...)."""
        return find_record(self.operands + self.outputs, name)

    def _spec_text(self) -> str:
        size = "" if self.output_size is None else f", output_size {compact(self.output_size)}"
        return (
            f"pads {compact(self.padding)}, stride {compact(self.stride)}, dilation"
            f" {compact(self.dilation)}, groups {self.groups}, output_padding"
            f" {compact(self.output_padding)}{size}"
        )

    def __str__(self) -> str:
        lines = [
            f"{self.layout.ndim}-D transposed convolution, layout {self.layout.name} (kernel"
            f" {self.layout.kernel}: C_in, C_out/groups)",
            self._spec_text(),
            "",
        ]
        for r in self.operands:
            labels = ", ".join(f"{a}={n}" for a, n in zip(r.axes, r.shape, strict=True))
            lines.append(f"  {r.symbol}  {r.operation:<7}{format_shape(r.shape):<14} {labels}")
        lines += ["", *wrapped(self.adjoint, "", "  ")]
        for r in self.outputs:
            labels = ", ".join(f"{a}={n}" for a, n in zip(r.axes, r.shape, strict=True))
            lines += ["", f"{r.name:<12} {r.symbol} = {format_shape(r.shape)}  ({labels})"]
            lines += wrapped(r.operation, "  ", "  ")
            lines += step_lines(r.steps)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready description: layout, spec, operands, the adjoint conv and outputs."""
        return {
            "op": "conv_transpose",
            "layout": self.layout.name,
            "kernel_layout": self.layout.kernel,
            "ndim": self.layout.ndim,
            "spec": {
                "padding": [list(p) for p in self.padding],
                "stride": list(self.stride),
                "dilation": list(self.dilation),
                "groups": self.groups,
                "output_padding": list(self.output_padding),
                "output_size": None if self.output_size is None else list(self.output_size),
            },
            "adjoint": self.adjoint,
            "operands": [r.to_dict() for r in self.operands],
            "outputs": [r.to_dict() for r in self.outputs],
        }


def explain_transpose(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    *,
    padding=0,
    stride=1,
    dilation=1,
    groups: int = 1,
    output_padding=0,
    output_size: Sequence[int] | None = None,
    layout: str = "NCHW",
) -> TransposeExplanation:
    """Derive, step by step, the shapes of a transposed convolution's y and gradients.

    Args:
        input_shape: x's shape in ``layout``, e.g. ``(N, C_in, H, W)``.
        weight_shape: ``(C_in, C_out // groups, *K)`` for channels-first layouts, ``(*K, C_out
            // groups, C_in)`` for channels-last ones.
        padding: explicit pads (an int, one per dim, or ``(lo, hi)`` pairs), as PyTorch's
            ``padding`` of ConvTranspose: cropped from the full result.
        stride, dilation: an int >= 1 or one per spatial dim.
        groups: C_in and C_out must both be divisible by it.
        output_padding: rows added at the end, ``0 <= output_padding < max(stride, dilation)``.
        output_size: the spatial output size wanted instead (as ``nn.ConvTranspose2d(...)(x,
            output_size=...)``); it fixes output_padding.

    Returns:
        A `TransposeExplanation`; ``str()`` is the text, ``record(name)`` one shape.

    Raises:
        TypeError, ValueError: bad shapes, layout or spec (naming the argument, value and rule);
            an unreachable output_size (with the reachable range).

    >>> e = explain_transpose((1, 4, 5, 5), (4, 3, 3, 3), padding=1, stride=2, output_padding=1)
    >>> e.record("forward").shape, e.record("grad_weight").shape
    ((1, 3, 10, 10), (4, 3, 3, 3))
    """
    lay = parse_layout(layout)
    if isinstance(padding, str):
        raise ValueError(
            f"padding={padding!r}: a transposed convolution takes explicit pads (an int, one per"
            " dim, or (lo, hi) pairs), as torch.nn.ConvTranspose"
        )
    x_axes = lay.arrange("N", "C_in", lay.spatial)
    w_axes = lay.arrange_kernel("C_in", "C_out/g", [f"K_{c}" for c in lay.spatial])
    x = checked_shape(
        "input_shape", input_shape, len(x_axes), f"layout {lay.name!r} needs ({', '.join(x_axes)})"
    )
    w = checked_shape(
        "weight_shape", weight_shape, lay.ndim + 2, f"a transposed kernel is ({', '.join(w_axes)})"
    )
    batch, c_in, spatial = lay.split(x)
    first, c_out_group, kernel = lay.split_kernel(w)
    if c_in != first:
        raise ValueError(
            f"weight_shape={w!r} has {first} input channels but input_shape={x!r} has {c_in};"
            f" a transposed kernel is ({', '.join(w_axes)})"
        )
    if c_in % groups:
        raise ValueError(f"groups={groups} must divide C_in = {c_in}")
    n = lay.ndim
    conv = ConvSpec(padding, stride, dilation, groups).resolve(spatial, kernel)
    pads, strides, dilations = conv.padding, conv.stride, conv.dilation
    if output_size is None:
        extra = check_output_padding(output_padding, strides, dilations)
    else:
        output_size = per_dim_ints("output_size", output_size, n, 1)
        extra = output_padding_for(output_size, spatial, kernel, pads, strides, dilations)
    dims = tuple(
        TransposeDim(i, k, lo, hi, s, d, op)
        for i, k, (lo, hi), s, d, op in zip(
            spatial, kernel, pads, strides, dilations, extra, strict=True
        )
    )
    for j, a in enumerate(dims):
        if a.output < 1 or a.output <= a.tail:
            raise ValueError(
                f"padding={pads!r} crops the transposed output along spatial dim {j} to"
                f" {a.output} rows, none reached by an input; it must keep at least one"
            )
    c_out = c_out_group * groups
    letters = lay.spatial
    out_spatial = [a.output for a in dims]
    size = output_size or (None,) * n
    steps = {
        "forward": tuple(
            s for c, a, t in zip(letters, dims, size, strict=True) for s in _forward_steps(c, a, t)
        ),
        "grad_input": tuple(
            s for c, a in zip(letters, dims, strict=True) for s in _grad_input_steps(c, a)
        ),
        "grad_weight": tuple(
            s for c, a in zip(letters, dims, strict=True) for s in _grad_weight_steps(c, a)
        ),
    }
    conv_pads = tuple((a.lo, a.conv_hi) for a in dims)
    conv_in = [a.output - a.tail for a in dims]
    tails = [a.tail for a in dims]
    tail_text = (
        f" y's last {compact(tuple(tails))} rows lie past every input's reach (output_padding"
        " beyond the stride): they are zeros, and the conv's input leaves them out."
        if any(tails)
        else ""
    )
    adjoint = (
        f"adjoint of: conv{n}d with the same w (read as C_out = {c_in} output channels, C_in ="
        f" {c_out} input channels), pads {compact(conv_pads)}, stride {compact(strides)},"
        f" dilation {compact(dilations)}, groups {groups}, on inputs of spatial size"
        f" {format_shape(conv_in)}: it maps (N, {c_out}, {format_shape(conv_in)}) to x's shape"
        f" (N, {c_in}, {format_shape(spatial)}), leaving r rows of its input unreached"
        " (r = output_padding below the stride). y is that conv's grad_input, grad_input is"
        " its forward on grad_y, grad_weight its weight gradient with grad_y as input and x as"
        " output gradient." + tail_text
    )
    batch_text = f"the batch (N = {batch})" if lay.batch else "the batch (none here)"
    operands = (
        Record("x", "x", x, x_axes, "input"),
        Record("w", "w", w, w_axes, "kernel"),
    )
    outputs = (
        Record(
            "forward",
            "y",
            lay.arrange(batch, c_out, out_spatial),
            lay.arrange("N", "C_out", [f"{c}_out" for c in letters]),
            "x with s-1 zeros between entries, fully correlated with the 180°-rotated kernel"
            " (C_in and C_out swapped), cropped by lo at the start and hi at the end,"
            " output_padding rows added at the end"
            f" (torch.nn.functional.conv_transpose{n}d): each of the C_out = {c_out} output"
            f" channels sums the C_in/groups = {c_in // groups} input channels of its group.",
            steps["forward"],
        ),
        Record(
            "grad_input",
            "grad_x",
            x,
            x_axes,
            f"the adjoint conv{n}d of grad_y with w, stride {compact(strides)}, dilation"
            f" {compact(dilations)}: x's shape.",
            steps["grad_input"],
        ),
        Record(
            "grad_weight",
            "grad_w",
            w,
            w_axes,
            f"valid correlation of the padded grad_y with x's zero-inserted entries (lags taken"
            f" every d), summed over {batch_text}: w's shape.",
            steps["grad_weight"],
        ),
        Record(
            "grad_bias",
            "grad_b",
            (c_out,),
            ("C_out",),
            f"sum of grad_y over {batch_text} and space ({format_shape(out_spatial)} positions per"
            " output channel, the output_padding rows included).",
        ),
    )
    return TransposeExplanation(
        lay,
        pads,
        strides,
        dilations,
        groups,
        extra,
        output_size,
        dims,
        operands,
        outputs,
        adjoint,
    )


__all__ = ["TransposeDim", "TransposeExplanation", "explain_transpose"]
