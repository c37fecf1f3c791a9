"""The bug zoo: convolution layers with one classic mistake each, in the verify protocol.

Every entry is a real mistake seen in hand-written convolutions (cs231n assignments, framework
ports, kernel rewrites), not a random perturbation: each is the textbook route of
`tests.zoo.correct` with one step done wrong, and the step is visible in its function. `Bug`
records where the mistake shows (``outputs``, ``symptom``), the narrowest verify space it lives in
(``space``: keyword arguments of `convgrad.verify`) and a small ``witness`` problem on which it
differs from the reference.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import correct
from .correct import (
    correlate,
    crop_to_input,
    dilate,
    effective_kernel,
    pad,
    rot180,
    swap_in_out,
)


@dataclass(frozen=True)
class Witness:
    """A small problem on which the bug differs from the reference: shapes and the spec's
    keywords (`convgrad.ConvSpec`). ``zero_plane`` zeroes x[0, 0] (for bugs that need zeros)."""

    x: tuple[int, ...]
    w: tuple[int, ...]
    spec: dict = field(default_factory=dict)
    zero_plane: bool = False


@dataclass(frozen=True)
class Bug:
    """One wrong implementation.

    outputs: the outputs a failure must name (one of them at least; "backward" for the
    backward call as a whole, as `convgrad.verification.checks` names it);
    symptom: "value" | "shape" | "no_mutation" | "determinism" | "finite", what goes wrong;
    space: keyword arguments of `convgrad.verify` confining the search to where the bug lives;
    cause: words the explanation of verify's failure must contain, where verify diagnoses the
    mistake; crashes: the mistake raises on some problems (verify's check "raised").
    """

    name: str
    mistake: str
    forward: Callable
    backward: Callable
    outputs: frozenset[str]
    symptom: str
    witness: Witness
    space: dict = field(default_factory=dict)
    cause: str | None = None
    crashes: bool = False


def _floats(*arrays):
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def full_pads(k: np.ndarray, dilation) -> list[tuple[int, int]]:
    """The pads of a 'full' correlation with the dilated kernel k: d*(K-1) on both sides."""
    return [(d * (n - 1),) * 2 for n, d in zip(k.shape[2:], dilation, strict=True)]


def backward_with(
    grad_input: Callable = correct.grad_input,
    grad_weight: Callable = correct.grad_weight,
    grad_bias: Callable = correct.grad_bias,
) -> Callable:
    """A backward returning (grad_x, grad_w, grad_b) from three gradient functions."""

    def backward(x, w, grad_y, spec):
        return grad_input(x, w, grad_y, spec), grad_weight(x, w, grad_y, spec), grad_bias(grad_y)

    return backward


# --- grad_input mistakes -----------------------------------------------------------------------


def _grad_input_steps(x, w, grad_y, spec, *, kernel_t: Callable, dilate_by_stride=True):
    """The full correlation of (stride-dilated) grad_y with kernel_t(k), cropped to x."""
    x, w, gy = _floats(x, w, grad_y)
    k = effective_kernel(w, spec)
    gyd = dilate(gy, spec.stride) if dilate_by_stride else gy
    full = correlate(
        pad(gyd, full_pads(k, spec.dilation)),
        kernel_t(k, spec.groups),
        (1,) * (k.ndim - 2),
        spec.dilation,
        spec.groups,
    )
    return crop_to_input(full, x.shape[2:], spec.padding)


def gx_no_rotation(x, w, grad_y, spec):
    # Swaps in/out channels but forgets the 180° rotation of the kernel.
    return _grad_input_steps(x, w, grad_y, spec, kernel_t=swap_in_out)


def gx_transposed_kernel(x, w, grad_y, spec):
    # "Rotate the kernel" done as a transpose of the spatial dims (w.T) instead of a flip.
    return _grad_input_steps(
        x, w, grad_y, spec, kernel_t=lambda k, g: swap_in_out(k, g).swapaxes(-1, -2)
    )


def gx_channels_not_swapped(x, w, grad_y, spec):
    # Reshapes (C_out, C_in//g) to (C_in, C_out//g) instead of transposing the channel axes.
    def kernel_t(k, g):
        return rot180(k.reshape(k.shape[1] * g, k.shape[0] // g, *k.shape[2:]))

    return _grad_input_steps(x, w, grad_y, spec, kernel_t=kernel_t)


def gx_stride_not_dilated(x, w, grad_y, spec):
    # Correlates grad_y itself, without inserting s-1 zeros between its rows.
    return _grad_input_steps(
        x, w, grad_y, spec, kernel_t=lambda k, g: rot180(swap_in_out(k, g)), dilate_by_stride=False
    )


def gx_same_instead_of_full(x, w, grad_y, spec):
    # Pads grad_y 'same' ((K-1)//2 each side) instead of 'full' and returns that correlation,
    # which has grad_y's size, not x's.
    x, w, gy = _floats(x, w, grad_y)
    k = effective_kernel(w, spec)
    pads = [
        (d * (n - 1) // 2, d * (n - 1) - d * (n - 1) // 2)
        for n, d in zip(k.shape[2:], spec.dilation, strict=True)
    ]
    kt = rot180(swap_in_out(k, spec.groups))
    return correlate(
        pad(dilate(gy, spec.stride), pads), kt, (1,) * (k.ndim - 2), spec.dilation, spec.groups
    )


def gx_drops_unreached_rows(x, w, grad_y, spec):
    # Crops lo and hi off the full correlation, forgetting the r trailing input rows that no
    # window reached when the stride does not divide: returns I - r rows.
    x, w, gy = _floats(x, w, grad_y)
    k = effective_kernel(w, spec)
    full = correlate(
        pad(dilate(gy, spec.stride), full_pads(k, spec.dilation)),
        rot180(swap_in_out(k, spec.groups)),
        (1,) * (k.ndim - 2),
        spec.dilation,
        spec.groups,
    )
    crop = tuple(
        slice(lo, n - hi) for n, (lo, hi) in zip(full.shape[2:], spec.padding, strict=True)
    )
    return full[(..., *crop)]


def _gx_scatter(x, w, grad_y, spec, *, taps: Callable, accumulate: bool):
    """grad_input by scattering each kernel tap's contribution back into the padded input."""
    x, w, gy = _floats(x, w, grad_y)
    k = effective_kernel(w, spec)
    g, n = spec.groups, x.shape[0]
    padded = tuple(i + lo + hi for i, (lo, hi) in zip(x.shape[2:], spec.padding, strict=True))
    gxp = np.zeros((n, g, k.shape[1], *padded))
    gyg = gy.reshape(n, g, gy.shape[1] // g, *gy.shape[2:])
    kg = k.reshape(g, k.shape[0] // g, *k.shape[1:])
    for tap in taps(k.shape[2:]):
        window = (
            ...,
            *(
                slice(t * d, t * d + (o - 1) * s + 1, s)
                for t, o, s, d in zip(tap, gy.shape[2:], spec.stride, spec.dilation, strict=True)
            ),
        )
        contribution = np.einsum("goc,ngo...->ngc...", kg[(..., *tap)], gyg)
        if accumulate:
            gxp[window] += contribution
        else:
            gxp[window] = contribution
    gxp = gxp.reshape(n, x.shape[1], *padded)
    return gxp[
        (..., *(slice(lo, lo + i) for i, (lo, _) in zip(x.shape[2:], spec.padding, strict=True)))
    ]


def gx_missing_last_tap(x, w, grad_y, spec):
    # ``for t in range(len(taps) - 1)``: the last kernel tap never sends its gradient back.
    return _gx_scatter(
        x, w, grad_y, spec, taps=lambda ks: list(np.ndindex(*ks))[:-1], accumulate=True
    )


def gx_overwrites_overlaps(x, w, grad_y, spec):
    # ``grad[window] = ...`` instead of ``+=``: where windows overlap only the last tap survives.
    return _gx_scatter(x, w, grad_y, spec, taps=lambda ks: np.ndindex(*ks), accumulate=False)


# --- grad_weight mistakes ----------------------------------------------------------------------


def _grad_weight_steps(
    x,
    w,
    grad_y,
    spec,
    *,
    dilate_by_stride=True,
    extra_pads=None,
    keep_k=True,
    x_block: Callable | None = None,
):
    """Per group, correlate the padded x with the (stride-dilated) grad_y every d rows."""
    x, w, gy = _floats(x, w, grad_y)
    g = spec.groups
    xp = pad(x, spec.padding)
    gyd = dilate(gy, spec.stride) if dilate_by_stride else gy
    if extra_pads is not None:
        xp = pad(xp, extra_pads(gyd))
    c_group, o_group = x.shape[1] // g, gy.shape[1] // g
    blocks = []
    for j in range(g):
        block = x_block(j, c_group) if x_block else slice(j * c_group, (j + 1) * c_group)
        raw = correlate(
            xp[:, block].swapaxes(0, 1),
            gyd[:, j * o_group : (j + 1) * o_group].swapaxes(0, 1),
            spec.dilation,
            (1,) * (x.ndim - 2),
        ).swapaxes(0, 1)
        blocks.append(raw[(..., *(slice(0, n) for n in w.shape[2:]))] if keep_k else raw)
    gw = np.concatenate(blocks, axis=0)
    return rot180(gw) if spec.flip else gw


def gw_same(x, w, grad_y, spec):
    # Correlates x with grad_y in 'same' mode: a kernel gradient the size of the image
    # (the 128x128-instead-of-3x3 mistake).
    def same(gyd):
        return [((n - 1) // 2, n - 1 - (n - 1) // 2) for n in gyd.shape[2:]]

    return _grad_weight_steps(x, w, grad_y, spec, extra_pads=same, keep_k=False)


def gw_full(x, w, grad_y, spec):
    # 'full' instead of 'valid' correlation: larger than the kernel.
    return _grad_weight_steps(
        x,
        w,
        grad_y,
        spec,
        extra_pads=lambda gyd: [(n - 1, n - 1) for n in gyd.shape[2:]],
        keep_k=False,
    )


def gw_stride_ignored(x, w, grad_y, spec):
    # Uses grad_y as is: its rows are s input rows apart, not one.
    return _grad_weight_steps(x, w, grad_y, spec, dilate_by_stride=False)


def gw_group_zero_block(x, w, grad_y, spec):
    # Every group reads the first group's input channels (x[:, :C_in//g]).
    return _grad_weight_steps(x, w, grad_y, spec, x_block=lambda j, c: slice(0, c))


def gw_divided_by_batch(x, w, grad_y, spec):
    # Averages over the batch (a loss-normalisation habit) instead of the plain gradient of
    # sum(grad_y * y).
    return correct.grad_weight(x, w, grad_y, spec) / np.shape(x)[0]


def gw_hw_transposed(x, w, grad_y, spec):
    # Accumulates in (…, W, H) order ("for x in width: for y in height") and reshapes to w's
    # shape instead of transposing back.
    return correct.grad_weight(x, w, grad_y, spec).swapaxes(-1, -2).reshape(np.shape(w))


def gw_flip_not_rotated_back(x, w, grad_y, spec):
    # With a true convolution the gradient is taken w.r.t. the rotated kernel; it must be
    # rotated back to w's orientation, and this one is not.
    gw = correct.grad_weight(x, w, grad_y, spec)
    return rot180(gw) if spec.flip else gw


# --- grad_bias mistakes ------------------------------------------------------------------------


def gb_mean(grad_y):
    # np.mean where the gradient of a sum is a sum.
    gy = np.asarray(grad_y, dtype=np.float64)
    return gy.mean(axis=(0, *range(2, gy.ndim)))


def gb_batch_only(grad_y):
    # Sums over the batch only: one value per output position, not per channel.
    return np.asarray(grad_y, dtype=np.float64).sum(axis=0)


# --- forward mistakes --------------------------------------------------------------------------


def fw_always_flipped(x, w, spec):
    # Rotates the kernel as in the textbook definition of convolution: a true convolution
    # where every framework computes a cross-correlation.
    x, w = _floats(x, w)
    return correlate(
        pad(x, spec.padding),
        rot180(effective_kernel(w, spec)),
        spec.stride,
        spec.dilation,
        spec.groups,
    )


def fw_ignores_dilation(x, w, spec):
    # Taps are read next to each other: the kernel is never dilated.
    x, w = _floats(x, w)
    return correlate(
        pad(x, spec.padding),
        effective_kernel(w, spec),
        spec.stride,
        (1,) * (x.ndim - 2),
        spec.groups,
    )


def fw_groups_interleaved(x, w, spec):
    # Output channel o is put in group o % g (a (C_out//g, g) reshape) instead of o // (C_out//g).
    x, w = _floats(x, w)
    g, k, xp = spec.groups, effective_kernel(w, spec), pad(x, spec.padding)
    c_group = x.shape[1] // g
    parts = [
        correlate(xp[:, j * c_group : (j + 1) * c_group], k[j::g], spec.stride, spec.dilation)
        for j in range(g)
    ]
    y = np.empty((x.shape[0], w.shape[0], *parts[0].shape[2:]))
    for j, part in enumerate(parts):
        y[:, j::g] = part
    return y


def fw_float32(x, w, spec):
    # Casts to float32 "for speed" and back: float32 rounding inside a float64 routine.
    x, w = _floats(x, w)
    y = correlate(
        pad(x, spec.padding).astype(np.float32),
        effective_kernel(w, spec).astype(np.float32),
        spec.stride,
        spec.dilation,
        spec.groups,
    )
    return y.astype(np.float64)


def fw_normalises_in_place(x, w, spec):
    # Scales x into [-1, 1] by a power of two "for range" with ``x /= scale``: the result is
    # exact, but the caller's array is changed.
    scale = 2.0 ** np.ceil(np.log2(max(float(np.max(np.abs(x))), 1.0)))
    x /= scale
    return correct.forward(x, w, spec) * scale


def fw_nan_for_zero_plane(x, w, spec):
    # Normalises each (n, c) plane by a power of two near its max and scales back before
    # correlating: exact for every nonzero plane, 0/0 = NaN for an all-zero one.
    x, w = _floats(x, w)
    axes = tuple(range(2, x.ndim))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 2.0 ** np.floor(np.log2(np.abs(x).max(axis=axes, keepdims=True)))
        restored = (x / scale) * scale
    return correlate(
        pad(restored, spec.padding),
        effective_kernel(w, spec),
        spec.stride,
        spec.dilation,
        spec.groups,
    )


_TAP_ORDER_CALLS = itertools.count()
"""Calls of `fw_tap_order_varies` so far: the parity of each picks its order."""


def fw_tap_order_varies(x, w, spec):
    # Accumulates kernel taps in an order that changes from call to call (as atomics or a
    # parallel reduction would): every result is within rounding of the truth, but two calls
    # disagree in the last bits. Alternate calls sum the taps forward and backward, so any two
    # calls in a row differ, whatever ran before (a random order could repeat by chance).
    x, w = _floats(x, w)
    k = effective_kernel(w, spec)
    xp = pad(x, spec.padding)
    taps = list(np.ndindex(*k.shape[2:]))
    if next(_TAP_ORDER_CALLS) % 2:
        taps.reverse()
    y = None
    for tap in taps:
        one_tap = np.zeros_like(k)
        one_tap[(..., *tap)] = k[(..., *tap)]
        part = correlate(xp, one_tap, spec.stride, spec.dilation, spec.groups)
        y = part if y is None else y + part
    return y


def _own_pads_layer(pads: Callable) -> tuple[Callable, Callable]:
    """A layer computing its own pads for mode 'same' (not reading spec.padding there), with a
    backward that is the exact adjoint of that wrong forward: the mistake hides from every
    self-consistency check (adjoint, finite differences) and only the oracle's values find it."""

    def own_spec(x, w, spec):
        if spec.mode != "same":
            return spec
        sizes = zip(np.shape(x)[2:], np.shape(w)[2:], spec.stride, spec.dilation, strict=True)
        return dataclasses.replace(spec, padding=tuple(pads(i, k, s, d) for i, k, s, d in sizes))

    def forward(x, w, spec):
        return correct.forward(x, w, own_spec(x, w, spec))

    def backward(x, w, grad_y, spec):
        return correct.backward(x, w, grad_y, own_spec(x, w, spec))

    return forward, backward


def _same_total(i, k, s, d):
    return max((-(-i // s) - 1) * s + d * (k - 1) + 1 - i, 0)


# The odd pad of an even kernel at the start (scipy / ONNX SAME_LOWER) where 'same' puts it at
# the end (PyTorch, TensorFlow, ONNX SAME_UPPER).
same_pads_wrong_side = _own_pads_layer(
    lambda i, k, s, d: (
        _same_total(i, k, s, d) - _same_total(i, k, s, d) // 2,
        _same_total(i, k, s, d) // 2,
    )
)
# total // 2 on both sides: one pad short whenever the total is odd (even kernels).
same_pads_floor_both = _own_pads_layer(lambda i, k, s, d: (_same_total(i, k, s, d) // 2,) * 2)


def _ignores_flip(spec):
    return dataclasses.replace(spec, flip=False)


def fw_flip_ignored(x, w, spec):
    # Never reads spec.flip: always a cross-correlation.
    return correct.forward(x, w, _ignores_flip(spec))


def bw_flip_ignored(x, w, grad_y, spec):
    return correct.backward(x, w, grad_y, _ignores_flip(spec))


def bw_dilation_ignored(x, w, grad_y, spec):
    # The forward honours dilation; the backward was written for d = 1.
    plain = dataclasses.replace(spec, dilation=(1,) * len(spec.dilation))
    return (
        correct.grad_input(x, w, grad_y, plain),
        correct.grad_weight(x, w, grad_y, plain),
        correct.grad_bias(grad_y),
    )


def bw_zeroes_grad_y(x, w, grad_y, spec):
    # "Frees" the incoming gradient after use (a zero_grad on the wrong buffer).
    grads = correct.backward(x, w, grad_y, spec)
    grad_y[...] = 0
    return grads


# --- padding-mode mistakes ----------------------------------------------------------------------


def _sources_by_dim(source_1d: Callable) -> Callable:
    """A `correct.pad_sources` built from one dim's map ``source_1d(n, lo, hi, mode)``: the
    input index each padded position of that dim holds (-1: a zero)."""

    def sources(spatial, pads, padding_mode):
        maps = [
            source_1d(n, lo, hi, padding_mode) for n, (lo, hi) in zip(spatial, pads, strict=True)
        ]
        grids = np.meshgrid(*maps, indexing="ij")
        flat = np.ravel_multi_index(tuple(np.maximum(g, 0) for g in grids), tuple(spatial))
        return np.where(np.any([g < 0 for g in grids], axis=0), -1, flat)

    return sources


def _numpy_1d(n, lo, hi, padding_mode, modes=correct.NUMPY_PAD_MODES):
    if padding_mode == "zeros":
        return np.pad(np.arange(n), (lo, hi), constant_values=-1)
    return np.pad(np.arange(n), (lo, hi), mode=modes[padding_mode])


def _symmetric_1d(n, lo, hi, padding_mode):
    # Mirrors about the edge *including* it (numpy "symmetric"): [x1 x0 | x0 x1 ...].
    return _numpy_1d(n, lo, hi, padding_mode, {**correct.NUMPY_PAD_MODES, "reflect": "symmetric"})


def _circular_wrong_side_1d(n, lo, hi, padding_mode):
    # Fills the start pad with the first lo entries and the end pad with the last hi ones:
    # the wrap taken from the wrong side ([x0 x1 | x0 ... x4 | x3 x4]).
    if padding_mode != "circular":
        return _numpy_1d(n, lo, hi, padding_mode)
    return np.concatenate([np.arange(lo), np.arange(n), np.arange(n - hi, n)])


def _replicate_one_side_1d(n, lo, hi, padding_mode):
    # Repeats the first entry into the start pad but leaves the end pad zero.
    if padding_mode != "replicate":
        return _numpy_1d(n, lo, hi, padding_mode)
    return np.concatenate([np.zeros(lo, int), np.arange(n), np.full(hi, -1)])


def _valid(spec):
    return dataclasses.replace(spec, padding=((0, 0),) * len(spec.padding), padding_mode="zeros")


def layer_with_pads(sources: Callable, fold_sources: Callable | None = None):
    """(forward, backward): the correct layer with x's pads filled by ``sources`` (a
    `correct.pad_sources`) and the padded input's gradient folded back by ``fold_sources``
    (default: the same map, the exact adjoint)."""
    fold_sources = fold_sources or sources

    def forward(x, w, spec):
        xp = correct.fill_pads(_floats(x)[0], spec.padding, spec.padding_mode, sources)
        return correct.forward(xp, w, _valid(spec))

    def backward(x, w, grad_y, spec):
        x = _floats(x)[0]
        xp = correct.fill_pads(x, spec.padding, spec.padding_mode, sources)
        gxp = correct.grad_input(xp, w, grad_y, _valid(spec))
        gx = correct.fold_pads(gxp, x.shape[2:], spec.padding, spec.padding_mode, fold_sources)
        return gx, correct.grad_weight(xp, w, grad_y, _valid(spec)), correct.grad_bias(grad_y)

    return forward, backward


def _zeros_only(spatial, pads, padding_mode):
    # The pads hold zeros whatever the spec's padding_mode says.
    return correct.pad_sources(spatial, pads, "zeros")


BACKWARD = backward_with()
GX, GW, GB = frozenset({"grad_input"}), frozenset({"grad_weight"}), frozenset({"grad_bias"})
FW = frozenset({"forward"})
_2D_GROUPS = {"groups": (2,)}

BUGS: tuple[Bug, ...] = (
    Bug(
        "grad_input_no_rotation",
        "grad_input uses the kernel without its 180° rotation",
        correct.forward,
        backward_with(grad_input=gx_no_rotation),
        GX,
        "value",
        Witness((1, 1, 5, 5), (1, 1, 2, 3)),
        cause="the kernel is rotated 180°",
    ),
    Bug(
        "forward_true_convolution",
        "forward rotates the kernel: convolution, not correlation",
        fw_always_flipped,
        BACKWARD,
        FW,
        "value",
        Witness((1, 1, 5, 5), (1, 1, 2, 3)),
        cause="convolution computed where cross-correlation is declared",
    ),
    Bug(
        "grad_input_same_not_full",
        "grad_input pads grad_y 'same' where 'full' is needed",
        correct.forward,
        backward_with(grad_input=gx_same_instead_of_full),
        GX,
        "shape",
        Witness((1, 1, 6, 6), (1, 1, 3, 3)),
        cause="needs the 'full' correlation",
    ),
    Bug(
        "grad_weight_same_not_valid",
        "grad_weight correlates x with grad_y in 'same' mode",
        correct.forward,
        backward_with(grad_weight=gw_same),
        GW,
        "shape",
        Witness((1, 1, 6, 6), (1, 1, 3, 3)),
        cause="'same' mode",
    ),
    Bug(
        "grad_weight_full_not_valid",
        "grad_weight correlates x with grad_y in 'full' mode",
        correct.forward,
        backward_with(grad_weight=gw_full),
        GW,
        "shape",
        Witness((1, 1, 6, 6), (1, 1, 3, 3)),
        cause="'full'",
    ),
    Bug(
        "grad_input_stride_not_dilated",
        "grad_input does not dilate grad_y by the stride",
        correct.forward,
        backward_with(grad_input=gx_stride_not_dilated),
        GX,
        "value",
        Witness((1, 1, 7, 7), (1, 1, 3, 3), {"stride": 2}),
        {"stride": (2,)},
        cause="not dilated by the stride",
    ),
    Bug(
        "backward_ignores_dilation",
        "the backward is written for dilation 1",
        correct.forward,
        bw_dilation_ignored,
        GX | GW,
        "value",
        Witness((1, 1, 7, 7), (1, 1, 2, 2), {"dilation": 2}),
        {"dilation": (2,)},
    ),
    Bug(
        "grad_weight_stride_ignored",
        "grad_weight uses grad_y without dilating it by the stride",
        correct.forward,
        backward_with(grad_weight=gw_stride_ignored),
        GW,
        "value",
        Witness((1, 1, 7, 7), (1, 1, 3, 3), {"stride": 2}),
        {"stride": (2,)},
        cause="grad_y was not dilated by the stride",
    ),
    Bug(
        "same_pads_wrong_side",
        "an even kernel's extra 'same' pad at the start, not the end",
        *same_pads_wrong_side,
        FW | GX | GW,  # the backward is the wrong forward's exact adjoint: wrong as well
        "value",
        Witness((1, 1, 5, 5), (1, 1, 2, 2), {"padding": "same"}),
        {"padding": ("same",)},
        cause="padded on the wrong side",
    ),
    Bug(
        "same_pads_floor_both",
        "'same' pads total // 2 on both sides: one short for even K",
        *same_pads_floor_both,
        FW,
        "shape",
        Witness((1, 1, 5, 5), (1, 1, 2, 2), {"padding": "same"}),
        {"padding": ("same",)},
        # With stride and dilation its own pads can leave the padded input shorter than the
        # dilated kernel, and the call raises.
        crashes=True,
        # The fixed problems find it at K = 2, where flooring both pads gives no pad: 'valid'.
        cause="padding 'valid' used where the spec says 'same'",
    ),
    Bug(
        "forward_groups_interleaved",
        "output channel o put in group o % g",
        fw_groups_interleaved,
        BACKWARD,
        FW,
        "value",
        Witness((1, 2, 4, 4), (4, 1, 2, 2), {"groups": 2}),
        _2D_GROUPS,
        cause="groups are interleaved",
    ),
    Bug(
        "grad_weight_wrong_group_block",
        "grad_weight reads group 0's input channels for all",
        correct.forward,
        backward_with(grad_weight=gw_group_zero_block),
        GW,
        "value",
        Witness((1, 2, 4, 4), (2, 1, 2, 2), {"groups": 2}),
        _2D_GROUPS,
    ),
    Bug(
        "grad_bias_mean",
        "grad_bias averaged instead of summed",
        correct.forward,
        backward_with(grad_bias=gb_mean),
        GB,
        "value",
        Witness((2, 1, 4, 4), (2, 1, 2, 2)),
        cause="averaged instead of summed",
    ),
    Bug(
        "grad_bias_batch_only",
        "grad_bias summed over the batch only",
        correct.forward,
        backward_with(grad_bias=gb_batch_only),
        GB,
        "shape",
        Witness((2, 1, 4, 4), (2, 1, 2, 2)),
        cause="sum grad_y over the batch and every spatial dim",
    ),
    Bug(
        "grad_weight_hw_transposed",
        "grad_weight built in (W, H) order and reshaped",
        correct.forward,
        backward_with(grad_weight=gw_hw_transposed),
        GW,
        "value",
        Witness((1, 1, 5, 6), (1, 1, 2, 3)),
        {"ndim": 2},
        cause="H and W are transposed",
    ),
    Bug(
        "grad_input_channels_not_swapped",
        "grad_input reshapes the kernel instead of swapping in/out channels",
        correct.forward,
        backward_with(grad_input=gx_channels_not_swapped),
        GX,
        "value",
        Witness((1, 2, 4, 4), (3, 2, 2, 2)),
        cause="in/out channels were not swapped",
    ),
    Bug(
        "forward_float32",
        "float32 arithmetic inside a float64 routine",
        fw_float32,
        BACKWARD,
        FW,
        "value",
        Witness((1, 2, 6, 6), (2, 2, 3, 3)),
        cause="float32",
    ),
    Bug(
        "forward_mutates_input",
        "forward normalises the caller's x in place",
        fw_normalises_in_place,
        BACKWARD,
        FW,
        "no_mutation",
        Witness((1, 1, 4, 4), (1, 1, 2, 2)),
        cause="in-place update",
    ),
    Bug(
        "backward_zeroes_grad_y",
        "backward zeroes the caller's grad_y after use",
        correct.forward,
        bw_zeroes_grad_y,
        frozenset({"backward"}) | GX | GW | GB,
        "no_mutation",
        Witness((1, 1, 4, 4), (1, 1, 2, 2)),
        cause="in-place update",
    ),
    Bug(
        "forward_nondeterministic",
        "forward sums kernel taps in a random order where bitwise determinism is required",
        fw_tap_order_varies,
        BACKWARD,
        FW,
        "determinism",
        Witness((1, 2, 6, 6), (2, 2, 3, 3)),
        # Within the error bound a varying order is correct (a note, not a failure); it is a
        # mistake only for a caller that requires identical bits.
        {"deterministic": True},
        cause="randomness",
    ),
    Bug(
        "grad_input_drops_unreached_rows",
        "grad_input loses the rows no window reaches",
        correct.forward,
        backward_with(grad_input=gx_drops_unreached_rows),
        GX,
        "shape",
        Witness((1, 1, 6, 6), (1, 1, 3, 3), {"stride": 2}),
        {"stride": (2,)},
        cause="unreached",
    ),
    Bug(
        "grad_weight_divided_by_batch",
        "grad_weight divided by the batch size",
        correct.forward,
        backward_with(grad_weight=gw_divided_by_batch),
        GW,
        "value",
        Witness((2, 1, 4, 4), (1, 1, 2, 2)),
        cause="averaged over the batch",
    ),
    Bug(
        "forward_ignores_dilation",
        "forward never dilates the kernel",
        fw_ignores_dilation,
        BACKWARD,
        FW,
        "shape",
        Witness((1, 1, 7, 7), (1, 1, 2, 2), {"dilation": 2}),
        {"dilation": (2,)},
        cause="dilation",
    ),
    Bug(
        "grad_input_missing_last_tap",
        "grad_input loops over range(taps - 1)",
        correct.forward,
        backward_with(grad_input=gx_missing_last_tap),
        GX,
        "value",
        Witness((1, 1, 4, 4), (1, 1, 2, 2)),
    ),
    Bug(
        "forward_nan_for_zero_plane",
        "forward divides by a plane's max: 0/0 for a zero plane",
        fw_nan_for_zero_plane,
        BACKWARD,
        FW,
        "finite",
        Witness((1, 2, 4, 4), (1, 2, 2, 2), zero_plane=True),
        cause="division by zero",
    ),
    Bug(
        "grad_input_transposed_kernel",
        "grad_input transposes the kernel (w.T) instead of rotating it",
        correct.forward,
        backward_with(grad_input=gx_transposed_kernel),
        GX | {"backward"},
        "value",
        Witness((1, 1, 5, 5), (1, 1, 2, 2)),
        {"ndim": 2},
        crashes=True,
        cause="H and W are transposed",
    ),
    Bug(
        "flip_ignored",
        "spec.flip never read: always a correlation",
        fw_flip_ignored,
        bw_flip_ignored,
        FW,
        "value",
        Witness((1, 1, 5, 5), (1, 1, 2, 2), {"flip": True}),
        {"flip": (True,)},
        cause="cross-correlation computed where convolution (flip=True) is declared",
    ),
    Bug(
        "grad_weight_flip_not_rotated_back",
        "with flip, grad_weight not rotated back to w",
        correct.forward,
        backward_with(grad_weight=gw_flip_not_rotated_back),
        GW,
        "value",
        Witness((1, 1, 5, 5), (1, 1, 2, 2), {"flip": True}),
        {"flip": (True,)},
        cause="grad_weight needs the kernel flip of the forward",
    ),
    Bug(
        "reflect_repeats_the_edge",
        "reflect padding mirrors about the edge including it (numpy 'symmetric')",
        *layer_with_pads(_sources_by_dim(_symmetric_1d)),
        FW | GX | GW,  # the backward is the wrong forward's exact adjoint: wrong as well
        "value",
        Witness((1, 1, 5, 5), (1, 1, 3, 3), {"padding": 2, "padding_mode": "reflect"}),
        {"padding_mode": ("reflect",)},
        # Shrunk to one-element pads, where 'symmetric' copies what 'replicate' does.
        cause="padding_mode='replicate' puts there",
    ),
    Bug(
        "circular_wraps_from_the_wrong_side",
        "circular padding fills the start pad from the start and the end pad from the end",
        *layer_with_pads(_sources_by_dim(_circular_wrong_side_1d)),
        FW | GX | GW,
        "value",
        Witness((1, 1, 5, 5), (1, 1, 3, 3), {"padding": 2, "padding_mode": "circular"}),
        {"padding_mode": ("circular",)},
        # Shrunk to one-element pads, where the wrong side's wrap copies the edge: 'replicate'.
        cause="padding_mode='replicate' puts there",
    ),
    Bug(
        "replicate_on_one_side_only",
        "replicate padding repeats the first entry but leaves the end pad zero",
        *layer_with_pads(_sources_by_dim(_replicate_one_side_1d)),
        FW | GX | GW,
        "value",
        Witness((1, 1, 5, 5), (1, 1, 3, 3), {"padding": 1, "padding_mode": "replicate"}),
        {"padding_mode": ("replicate",)},
        # Shrunk to pads at the end only, which this bug leaves zero.
        cause="padding_mode='zeros' puts there",
    ),
    Bug(
        "grad_input_crops_reflect_pads",
        "grad_input crops the pads' gradient instead of adding it to the entries they copy",
        correct.forward,
        layer_with_pads(correct.pad_sources, _zeros_only)[1],
        GX,
        "value",
        Witness((1, 1, 5, 5), (1, 1, 3, 3), {"padding": 1, "padding_mode": "reflect"}),
        {"padding_mode": ("reflect",)},
        cause="border's gradient was cropped instead of folded back",
    ),
    Bug(
        "padding_mode_ignored",
        "spec.padding_mode never read: zeros in the pads",
        *layer_with_pads(_zeros_only),
        FW | GX | GW,
        "value",
        Witness((1, 1, 5, 5), (1, 1, 3, 3), {"padding": 1, "padding_mode": "circular"}),
        {"padding_mode": ("circular",)},
        cause="padding_mode='zeros' puts there",
    ),
    Bug(
        "grad_input_overwrites_overlaps",
        "grad_input assigns (=) where windows overlap (+=)",
        correct.forward,
        backward_with(grad_input=gx_overwrites_overlaps),
        GX,
        "value",
        Witness((1, 1, 4, 4), (1, 1, 2, 2)),
    ),
)
