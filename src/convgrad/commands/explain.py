"""``convgrad explain``: every shape of a convolution layer and its gradients, step by step.

    convgrad explain --input 128x128x3 --kernel 3x3x3x32 --layout HWC --mode valid
    convgrad explain --input 1x3x32x32 --kernel 8x3x3x3 --stride 2 --padding 1
    convgrad explain --input 128x128x3 --kernel 3x3x3x32 --layout HWC \\
        --diagnose-weight-grad 128x128
    convgrad explain --transpose --input 1x4x5x5 --kernel 4x3x3x3 --stride 2 --padding 1 \\
        --output-padding 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from convgrad.cli import UsageError
from convgrad.commands import _parse
from convgrad.explanation import (
    LAYOUTS,
    diagnose_input_grad,
    diagnose_weight_grad,
    explain,
    explain_transpose,
    parse_layout,
)
from convgrad.spec import DEPTHWISE, MODES

FORMATS = ("text", "json", "markdown")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``explain``."""
    parser = subparsers.add_parser(
        "explain",
        help="derive the shapes of a conv layer and its gradients, step by step",
        description=(
            "Derive, step by step, the shape of the output, grad_input, grad_weight and grad_bias"
            " of a convolution layer, in your layout. Channels-first layouts (NCHW, CHW, NCW,"
            " NCDHW, ...) take OIHW kernels (C_out, C_in/groups, *K); channels-last ones (NHWC,"
            " HWC, NWC, NDHWC, ...) take HWIO kernels (*K, C_in/groups, C_out)."
        ),
        epilog="example: convgrad explain --input 128x128x3 --kernel 3x3x3x32 --layout HWC",
    )
    parser.add_argument("--input", required=True, metavar="SHAPE", help="x's shape, e.g. 128x128x3")
    parser.add_argument("--kernel", required=True, metavar="SHAPE", help="w's shape, e.g. 3x3x3x32")
    parser.add_argument(
        "--layout",
        metavar="LAYOUT",
        help=f"one of {', '.join(LAYOUTS)}; default: channels first (N)C + spatial, the spatial"
        " dims from the kernel's rank and the batch present when --input has one more dim",
    )
    pads = parser.add_mutually_exclusive_group()
    pads.add_argument("--mode", choices=MODES, help="padding mode (default valid)")
    pads.add_argument(
        "--padding", metavar="PADS", help="explicit pads: 1, 1,2 (per dim) or 1:2,0:1 (lo:hi)"
    )
    parser.add_argument("--stride", default="1", metavar="S", help="2, or one per dim: 2,1")
    parser.add_argument("--dilation", default="1", metavar="D", help="2, or one per dim: 2,1")
    parser.add_argument(
        "--groups",
        default="1",
        metavar="G",
        help="channel groups (default 1), or depthwise: groups = C_in, C_out = multiplier * C_in",
    )
    parser.add_argument(
        "--diagnose-weight-grad",
        metavar="SHAPE",
        help="a wrong grad_weight shape you got (spatial, e.g. 128x128, or whole): how it arises",
    )
    parser.add_argument(
        "--diagnose-input-grad",
        metavar="SHAPE",
        help="a wrong grad_input shape you got (spatial or whole): how it arises",
    )
    parser.add_argument(
        "--transpose",
        action="store_true",
        help="a transposed convolution (conv_transpose): --kernel is C_in x C_out/groups x K"
        " (channels last: K x C_out/groups x C_in), --padding its explicit pads",
    )
    parser.add_argument(
        "--output-padding",
        default="0",
        metavar="P",
        help="with --transpose: rows added at the end, 1 or one per dim (< max(stride, dilation))",
    )
    parser.add_argument(
        "--output-size",
        metavar="SHAPE",
        help="with --transpose: the spatial output size wanted (fixes the output padding)",
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.set_defaults(run=run)
    return parser


def _layout(flag_value: str | None, x: tuple[int, ...], w: tuple[int, ...]) -> str:
    """The layout to use; the shapes' ranks checked against it, with the flags' names."""
    if flag_value is None:
        ndim = len(w) - 2
        if ndim not in (1, 2, 3):
            raise UsageError(
                f"--kernel {'x'.join(map(str, w))} has {len(w)} dims; a kernel is C_out,"
                " C_in/groups and 1 to 3 spatial sizes (3 to 5 dims)"
            )
        if len(x) not in (ndim + 1, ndim + 2):
            raise UsageError(
                f"--input {'x'.join(map(str, x))} has {len(x)} dims; a {len(w)}-dim kernel needs"
                f" {ndim + 1} (C and {ndim} spatial) or {ndim + 2} (with N); channels last? pass"
                " --layout"
            )
        return ("N" if len(x) == ndim + 2 else "") + "C" + "DHW"[3 - ndim :]
    try:
        layout = parse_layout(flag_value)
    except ValueError:
        raise UsageError(f"--layout {flag_value!r} is not one of {', '.join(LAYOUTS)}") from None
    axes = layout.arrange("N", "C", layout.spatial)
    if len(x) != len(axes):
        raise UsageError(
            f"--input {'x'.join(map(str, x))} has {len(x)} dims but --layout {layout.name} has"
            f" {len(axes)} ({', '.join(axes)})"
        )
    if len(w) != layout.ndim + 2:
        kernel_axes = layout.arrange_kernel("O", "I", layout.spatial)
        raise UsageError(
            f"--kernel {'x'.join(map(str, w))} has {len(w)} dims but --layout {layout.name} takes"
            f" a {layout.kernel} kernel with {len(kernel_axes)} ({', '.join(kernel_axes)})"
        )
    return layout.name


def _layout_hint(flag_value: str | None, x, w, options: dict) -> str:
    """When the default (channels-first) layout was assumed and the channels-last one fits."""
    if flag_value is not None:
        return ""
    other = options["layout"].replace("C", "") + "C"
    try:
        explain(x, w, **{**options, "layout": other})
    except ValueError:
        return ""
    return f"; channels last? with --layout {other} these shapes fit"


def _per_dim(flag: str, text: str) -> int | tuple[int, ...]:
    return _per_dim_from(flag, text, 1)


def _run_transpose(args: argparse.Namespace, x, w, groups: int) -> int:
    """``--transpose``: the transposed convolution's derivation (text or JSON)."""
    refused = [
        flag
        for flag, value in (
            ("--mode", args.mode),
            ("--diagnose-weight-grad", args.diagnose_weight_grad),
            ("--diagnose-input-grad", args.diagnose_input_grad),
        )
        if value is not None
    ]
    if refused or args.format == "markdown":
        what = ", ".join(refused) or "--format markdown"
        raise UsageError(
            f"{what} does not apply with --transpose (explicit --padding; text or json)"
        )
    layout = _layout(args.layout, x, w)
    try:
        explanation = explain_transpose(
            x,
            w,
            padding=_parse.pads("--padding", args.padding) if args.padding else 0,
            stride=_per_dim("--stride", args.stride),
            dilation=_per_dim("--dilation", args.dilation),
            groups=groups,
            output_padding=_per_dim_from("--output-padding", args.output_padding, 0),
            output_size=None
            if args.output_size is None
            else _parse.shape("--output-size", args.output_size),
            layout=layout,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.format == "json":
        print(json.dumps(explanation.to_dict(), indent=2))
    else:
        print(explanation)
    return 0


def _per_dim_from(flag: str, text: str, minimum: int) -> int | tuple[int, ...]:
    values = _parse.ints(flag, text, minimum)
    return values[0] if len(values) == 1 else values


def run(args: argparse.Namespace) -> int:
    """Print the derivation (and any diagnosis) in the chosen format; 0, or 2 on bad input."""
    x = _parse.shape("--input", args.input)
    w = _parse.shape("--kernel", args.kernel)
    groups = (DEPTHWISE,)
    if args.groups.strip() != DEPTHWISE:
        groups = _parse.ints("--groups", args.groups, 1)
    if len(groups) != 1:
        raise UsageError(f"--groups {args.groups!r} must be one integer >= 1 or {DEPTHWISE}")
    if args.transpose:
        return _run_transpose(args, x, w, groups[0])
    if args.output_size is not None or args.output_padding != "0":
        raise UsageError("--output-padding and --output-size need --transpose")
    options = {
        "padding": _parse.pads("--padding", args.padding) if args.padding else args.mode or "valid",
        "stride": _per_dim("--stride", args.stride),
        "dilation": _per_dim("--dilation", args.dilation),
        "groups": groups[0],
        "layout": _layout(args.layout, x, w),
    }
    try:
        explanation = explain(x, w, **options)
    except ValueError as error:
        raise UsageError(f"{error}{_layout_hint(args.layout, x, w, options)}") from None
    diagnoses = [
        diagnose(x, w, _parse.shape(flag, value), **options)
        for flag, value, diagnose in (
            ("--diagnose-weight-grad", args.diagnose_weight_grad, diagnose_weight_grad),
            ("--diagnose-input-grad", args.diagnose_input_grad, diagnose_input_grad),
        )
        if value is not None
    ]
    if args.format == "json":
        data = explanation.to_dict()
        if diagnoses:
            data["diagnoses"] = [d.to_dict() for d in diagnoses]
        print(json.dumps(data, indent=2))
    elif args.format == "markdown":
        print(explanation.to_markdown())
        for d in diagnoses:
            print(f"### diagnosis of {d.gradient}\n\n{d.to_markdown()}")
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        print(explanation.to_text(color=color))
        for d in diagnoses:
            print(f"\n{d}")
    return 0
