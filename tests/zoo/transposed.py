"""The transposed-convolution zoo: conv_transpose layers with one classic mistake each, in
`convgrad.verify_transpose`'s protocol.

The textbook route (Dumoulin & Visin, arXiv 1603.07285, section 4.2; PyTorch's
ConvTranspose docs): insert ``s - 1`` zeros between x's entries, pad ``d*(K-1)`` on both sides,
correlate with the 180°-rotated, in/out-swapped kernel (dilation d), crop ``lo`` at the start
and ``hi`` at the end, add ``output_padding`` rows at the end. Each bug gets one of these steps
wrong, where users do (onnx/onnx#2333, #4299 on output_padding; the pytorch forums' "output
size of ConvTranspose2d"). ``x: (N, C_in, *S)``, ``w: (C_in, C_out // g, *K)``, ``spec`` a
`convgrad.TransposeSpec`; the backward is the reference's (`convgrad.conv_transpose_backward`)
unless the bug is in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import convgrad as cg

from .correct import correlate, dilate, pad, rot180, swap_in_out


def _full(x, w, spec, *, insert=dilate, kernel=None) -> np.ndarray:
    """The full correlation of the zero-inserted x with the transposed kernel: (N, C_out, *F)."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    k = rot180(swap_in_out(w, spec.groups)) if kernel is None else kernel(w, spec.groups)
    full_pads = [(d * (n - 1),) * 2 for n, d in zip(w.shape[2:], spec.dilation, strict=True)]
    return correlate(
        pad(insert(x, spec.stride), full_pads), k, (1,) * spec.ndim, spec.dilation, spec.groups
    )


def _crop(full: np.ndarray, padding, extra) -> np.ndarray:
    """lo cropped at the start, hi at the end, ``extra`` rows added at the end (zeros past F)."""
    widths = [(0, 0), (0, 0)] + [
        (0, max(0, op - hi)) for (_, hi), op in zip(padding, extra, strict=True)
    ]
    rows = (
        slice(lo, n - hi + op)
        for n, (lo, hi), op in zip(full.shape[2:], padding, extra, strict=True)
    )
    return np.pad(full, widths)[(..., *rows)]


def forward(x, w, spec) -> np.ndarray:
    """The textbook transposed convolution (module docstring)."""
    return _crop(_full(x, w, spec), spec.padding, spec.output_padding)


def backward(x, w, grad_y, spec):
    return tuple(
        cg.conv_transpose_backward(
            x,
            w,
            grad_y,
            padding=spec.padding,
            stride=spec.stride,
            dilation=spec.dilation,
            groups=spec.groups,
            output_padding=spec.output_padding,
        )
    )


def fw_output_padding_at_start(x, w, spec):
    """The output_padding rows added at the start of each dim instead of the end."""
    y = _crop(_full(x, w, spec), spec.padding, (0,) * spec.ndim)
    return np.pad(y, [(0, 0), (0, 0), *((op, 0) for op in spec.output_padding)])


def _insert_before(x, factors):
    """Zero insertion misplaced: s - 1 zeros before each entry (length I*s), not between."""
    shape = x.shape[:2] + tuple(i * f for i, f in zip(x.shape[2:], factors, strict=True))
    out = np.zeros(shape, dtype=x.dtype)
    out[(..., *(slice(f - 1, None, f) for f in factors))] = x
    return out


def fw_zeros_inserted_before(x, w, spec):
    y = forward(x, w, spec)
    full = _full(x, w, spec, insert=_insert_before)
    rows = (slice(lo, lo + n) for (lo, _), n in zip(spec.padding, y.shape[2:], strict=True))
    return np.pad(full, [(0, 0), (0, 0), *((0, n) for n in y.shape[2:])])[(..., *rows)]


def fw_kernel_not_rotated(x, w, spec):
    full = _full(x, w, spec, kernel=swap_in_out)
    return _crop(full, spec.padding, spec.output_padding)


def fw_channels_not_swapped(x, w, spec):
    def reshaped(w, groups):  # (C_in, C_out/g) read as (C_out, C_in/g): reshape, not transpose
        return rot180(w.reshape(w.shape[1] * groups, w.shape[0] // groups, *w.shape[2:]))

    return _crop(_full(x, w, spec, kernel=reshaped), spec.padding, spec.output_padding)


def fw_output_padding_ignored(x, w, spec):
    return _crop(_full(x, w, spec), spec.padding, (0,) * spec.ndim)


def fw_output_size_without_dilation(x, w, spec):
    """output_padding derived from output_size with the undilated kernel's extent K."""
    if spec.output_size is None:
        return forward(x, w, spec)
    extra = tuple(
        max(0, size - ((i - 1) * s - lo - hi + k))
        for size, i, k, (lo, hi), s in zip(
            spec.output_size, x.shape[2:], w.shape[2:], spec.padding, spec.stride, strict=True
        )
    )
    return _crop(_full(x, w, spec), spec.padding, extra)


def bw_bias_mean(x, w, grad_y, spec):
    grad_x, grad_w, grad_b = backward(x, w, grad_y, spec)
    return grad_x, grad_w, grad_b / grad_y[0, 0].size


def bw_grad_weight_output_padding_rows_dropped(x, w, grad_y, spec):
    """grad_weight from grad_y cropped to the size without output_padding."""
    grad_x, _, grad_b = backward(x, w, grad_y, spec)
    rows = (slice(0, n - op) for n, op in zip(grad_y.shape[2:], spec.output_padding, strict=True))
    cropped = np.ascontiguousarray(grad_y[(..., *rows)])
    spec0 = cg.TransposeSpec(spec.padding, spec.stride, spec.dilation, spec.groups, 0)
    return grad_x, backward(x, w, cropped, spec0)[1], grad_b


@dataclass(frozen=True)
class TransposeBug:
    """One wrong transposed convolution.

    outputs: the outputs a failure must name (one at least); symptom: "value" | "shape";
    space: keyword arguments of `convgrad.verify_transpose` confining the search to where the
    bug lives; witness: a `TransposeSpec` and shapes on which it differs from the reference;
    cause: words verify's diagnosis must contain, None where it honestly names no cause;
    crashes: the mistake may raise or give the wrong shape first (check "raised").
    """

    name: str
    mistake: str
    forward: Callable
    backward: Callable
    outputs: frozenset[str]
    symptom: str
    witness: tuple[cg.TransposeSpec, tuple[int, ...], tuple[int, ...]]
    space: dict = field(default_factory=dict)
    cause: str | None = None
    crashes: bool = False


FW, GW, GB = frozenset({"forward"}), frozenset({"grad_weight"}), frozenset({"grad_bias"})
_STRIDE_2 = cg.TransposeSpec(((1, 1),), (2,), (1,), 1, (1,))

TRANSPOSED_BUGS: tuple[TransposeBug, ...] = (
    TransposeBug(
        "transpose_output_padding_at_start",
        "output_padding rows added at the start, not the end",
        fw_output_padding_at_start,
        backward,
        FW,
        "value",
        (_STRIDE_2, (1, 1, 4), (1, 1, 3)),
        {"stride": (2,)},
        cause="were put at the start of each spatial dim instead of the end",
    ),
    TransposeBug(
        "transpose_zeros_inserted_before",
        "s - 1 zeros inserted before each input entry instead of between entries",
        fw_zeros_inserted_before,
        backward,
        FW,
        "value",
        (_STRIDE_2, (1, 1, 4), (1, 1, 3)),
        {"stride": (2,)},
        # With output_padding s - 1 (here 1) the shift is the same function as output_padding
        # rows put at the start: either name is right, and the shrunk problem names that one.
        cause="were put at the start of each spatial dim instead of the end",
    ),
    TransposeBug(
        "transpose_kernel_not_rotated",
        "the kernel correlated without its 180° rotation",
        fw_kernel_not_rotated,
        backward,
        FW,
        "value",
        (_STRIDE_2, (1, 1, 4), (1, 1, 3)),
        cause="rotated 180°",
    ),
    TransposeBug(
        "transpose_channels_not_swapped",
        "the kernel reshaped to (C_out, C_in // g) instead of transposed",
        fw_channels_not_swapped,
        backward,
        FW,
        "value",
        (cg.TransposeSpec(((0, 0),), (1,), (1,), 1, (0,)), (1, 2, 4), (2, 3, 2)),
        {"groups": (1,)},
        cause="in/out channels were not swapped",
        crashes=True,
    ),
    TransposeBug(
        "transpose_output_padding_ignored",
        "output_padding ignored: the output is short",
        fw_output_padding_ignored,
        backward,
        FW,
        "shape",
        (_STRIDE_2, (1, 1, 4), (1, 1, 3)),
        {"stride": (2,)},
        cause="ignored",
        crashes=True,
    ),
    TransposeBug(
        "transpose_output_size_without_dilation",
        "output_padding derived from output_size as if the kernel were undilated",
        fw_output_size_without_dilation,
        backward,
        FW,
        "shape",
        (cg.TransposeSpec(((1, 1),), (2,), (2,), 1, None, (8,)), (1, 1, 3), (1, 1, 3)),
        {"stride": (2,), "dilation": (2,), "padding": ("full", "explicit")},
        cause="output_padding mis-derived from output_size",
        crashes=True,
    ),
    TransposeBug(
        "transpose_grad_bias_mean",
        "the bias gradient averaged over space instead of summed",
        forward,
        bw_bias_mean,
        GB,
        "value",
        (_STRIDE_2, (1, 1, 4), (1, 1, 3)),
        # check_outputs has no function to call on a larger problem: the ratio, not a cause.
        cause="= 1/3, and 3 is prod(O) and N * prod(O) here",
    ),
    TransposeBug(
        "transpose_grad_weight_drops_output_padding_rows",
        "grad_weight computed from grad_y without its output_padding rows",
        forward,
        bw_grad_weight_output_padding_rows_dropped,
        GW,
        "value",
        (_STRIDE_2, (1, 1, 4), (1, 1, 3)),
        {"stride": (2,)},
    ),
)


def detect(bug: TransposeBug, **overrides) -> tuple[cg.VerifyResult, float]:
    """``convgrad.verify_transpose`` of the bug in its space (1-D, 25 examples, one failure
    unless overridden): the result and the seconds it took."""
    start = time.perf_counter()
    options = {"ndim": 1, "max_examples": 25, "max_failures": 1, **bug.space, **overrides}
    return cg.verify_transpose(bug.forward, bug.backward, **options), time.perf_counter() - start


def table() -> str:
    """One line per transposed bug: the first failure naming its output (or MISSED), time, the
    diagnosis's last clause."""
    lines = []
    for bug in TRANSPOSED_BUGS:
        result, seconds = detect(bug)
        first = next((f for f in result.failures if f.output in bug.outputs), None)
        found = f"{first.check} on {first.output}" if first else "MISSED"
        why = first.diagnosis.split("; ")[-1] if first else ""
        lines.append(f"{bug.name:48} {found:20} {seconds:6.2f}s  {why[:90]}")
    return "\n".join(lines)
