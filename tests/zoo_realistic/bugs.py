"""The realistic bug zoo: mistakes of working kernels, not of textbook derivations.

Each layer is right on the problems a first test tries (fresh C-contiguous arrays, one call at
a time, the named padding modes) and wrong where real code meets real callers: explicit and
asymmetric pads, a result buffer reused between calls, a backward reading what the last forward
saw, arrays in another memory layout. `Bug.scenario` names how its wrongness is shown directly
against the oracle (`tests.zoo_realistic.evidence`), and `Bug.checks` the verify checks that
may report it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tests.zoo import correct
from tests.zoo.bugs import Witness
from tests.zoo.correct import correlate, pad, rot180, spatial_axes

SCENARIOS = ("single", "sequence", "repeat", "fortran", "strided", "negative_stride", "read_only")
"""single: one call on the witness; sequence: calls on other data after the witness's (results
kept, a backward after a forward on other data); repeat: the same call twice on real data;
the rest: the witness passed in that memory layout."""


@dataclass(frozen=True)
class Bug:
    """One wrong layer: where it is wrong (``outputs``), how that is shown (``scenario``, one
    of `SCENARIOS`, on ``witness``) and which verify checks may report it (``checks``)."""

    name: str
    mistake: str
    forward: Callable
    backward: Callable
    outputs: frozenset[str]
    checks: frozenset[str]
    scenario: str
    witness: Witness
    space: dict = field(default_factory=dict)
    data: str | None = None
    """The witness's data dtype when it must be integer ("int8", "uint8", ...: values across
    the dtype's range, `tests.zoo_realistic.evidence.integer_problem`); None: real data."""


# --- explicit pads: in verify's default space since issue 12 -------------------------------


def fw_pointwise_ignores_padding(x, w, spec):
    # A 1x1 fast path (a plain channel GEMM) that forgets the pads the general path applies.
    if all(k == 1 for k in np.shape(w)[2:]):
        x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
        steps = tuple(slice(None, None, s) for s in spec.stride)
        xs = x[(slice(None), slice(None), *steps)]
        g = spec.groups
        xg = xs.reshape(x.shape[0], g, x.shape[1] // g, *xs.shape[2:])
        wg = w.reshape(g, w.shape[0] // g, w.shape[1])
        y = np.einsum("ngc...,goc->ngo...", xg, wg)
        return y.reshape(x.shape[0], w.shape[0], *xs.shape[2:])
    return correct.forward(x, w, spec)


def _symmetric_pads(spec):
    # Pads taken as one number per dim (PyTorch's padding=p), the first of each pair.
    if spec.mode != "explicit":
        return spec
    return dataclasses.replace(spec, padding=tuple((lo, lo) for lo, _ in spec.padding))


def fw_symmetric_pads(x, w, spec):
    return correct.forward(x, w, _symmetric_pads(spec))


def bw_symmetric_pads(x, w, grad_y, spec):
    return correct.backward(x, w, grad_y, _symmetric_pads(spec))


def gx_crop_minus_zero(x, w, grad_y, spec):
    # grad_input on the padded input, cropped with [lo:-hi] where a dim is padded: -0 is 0,
    # so a pad on the start only (lo > 0, hi == 0: explicit or same_lower) crops everything.
    padded = dataclasses.replace(spec, padding=((0, 0),) * len(spec.padding))
    xp = pad(np.asarray(x, dtype=np.float64), spec.padding)
    gxp = correct.grad_input(xp, w, grad_y, padded)
    crop = (slice(lo, -hi) if lo or hi else slice(None) for lo, hi in spec.padding)
    return gxp[(..., *crop)]


# --- sizes: paths that only larger problems take ---------------------------------------------


def fw_channel_blocks_tail_dropped(x, w, spec):
    # Output channels in blocks of 8 (a register tile); the loop bound C_out // 8 drops the
    # tail block, which stays zero. Groups fall back to the general path.
    if spec.groups != 1 or w.shape[0] <= 8:
        return correct.forward(x, w, spec)
    y = np.zeros((np.shape(x)[0], w.shape[0], *correct.forward(x, w[:1], spec).shape[2:]))
    for start in range(0, (w.shape[0] // 8) * 8, 8):
        y[:, start : start + 8] = correct.forward(x, w[start : start + 8], spec)
    return y


def fw_large_kernel_path_ignores_dilation(x, w, spec):
    # Kernels of 5 or more take a separate (im2col) path written before dilation was added.
    if max(np.shape(w)[2:]) >= 5:
        spec = dataclasses.replace(spec, dilation=(1,) * len(spec.dilation))
        if any(o < 1 for o in _output_sizes(x, w, spec)):
            return correct.forward(x, w, dataclasses.replace(spec, padding="same"))
    return correct.forward(x, w, spec)


def _output_sizes(x, w, spec):
    return [
        (i + lo + hi - d * (k - 1) - 1) // s + 1
        for i, k, (lo, hi), s, d in zip(
            np.shape(x)[2:], np.shape(w)[2:], spec.padding, spec.stride, spec.dilation, strict=True
        )
    ]


def fw_vector_width_tail(x, w, spec):
    # The last spatial dim in vectors of 16 outputs; a partial last vector is left at zero.
    y = correct.forward(x, w, spec)
    width = y.shape[-1]
    if width > 16 and width % 16:
        y[..., (width // 16) * 16 :] = 0.0
    return y


def gw_batch_tiles_tail_skipped(x, w, grad_y, spec):
    # grad_weight accumulated over batch tiles of 4; range(N // 4) skips a partial last tile.
    x, gy = np.asarray(x, dtype=np.float64), np.asarray(grad_y, dtype=np.float64)
    n = x.shape[0]
    if n <= 4:
        return correct.backward(x, w, gy, spec)
    gw = np.zeros(np.shape(w))
    for t in range(n // 4):
        tile = slice(4 * t, 4 * t + 4)
        gw += correct.grad_weight(x[tile], w, gy[tile], spec)
    return correct.grad_input(x, w, gy, spec), gw, correct.grad_bias(gy)


# --- state: results kept across calls, calls interleaved ------------------------------------

_WORKSPACE: dict[tuple, np.ndarray] = {}


def fw_reused_output_buffer(x, w, spec):
    # The output lives in a workspace allocated once per shape and handed back to the caller.
    y = correct.forward(x, w, spec)
    out = _WORKSPACE.setdefault(("y", y.shape), np.empty(y.shape))
    out[...] = y
    return out


def bw_reused_grad_weight_buffer(x, w, grad_y, spec):
    # grad_w accumulated into a persistent buffer, zeroed at the start of each call.
    gx, gw, gb = correct.backward(x, w, grad_y, spec)
    acc = _WORKSPACE.setdefault(("gw", gw.shape), np.zeros(gw.shape))
    acc.fill(0.0)
    acc += gw
    return gx, acc, gb


class CachingLayer:
    """A layer object that keeps its last input for backward (``ctx.save_for_backward`` by
    hand), and trusts it whenever the shapes agree."""

    def __init__(self) -> None:
        self.saved: np.ndarray | None = None

    def forward(self, x, w, spec):
        self.saved = np.array(x, dtype=np.float64)
        return correct.forward(x, w, spec)

    def backward(self, x, w, grad_y, spec):
        if self.saved is not None and self.saved.shape == np.shape(x):
            x = self.saved
        return correct.backward(x, w, grad_y, spec)


class PaddedInputCache:
    """Keeps the padded input of the last forward (an im2col-style workspace) for grad_weight,
    keyed by shape and spec, not by data."""

    def __init__(self) -> None:
        self.padded: dict[tuple, np.ndarray] = {}

    def forward(self, x, w, spec):
        self.padded[(np.shape(x), repr(spec))] = pad(np.asarray(x, dtype=np.float64), spec.padding)
        return correct.forward(x, w, spec)

    def backward(self, x, w, grad_y, spec):
        xp = self.padded.get((np.shape(x), repr(spec)))
        if xp is None:
            return correct.backward(x, w, grad_y, spec)
        unpadded = dataclasses.replace(spec, padding=((0, 0),) * len(spec.padding))
        gw = correct.grad_weight(xp, w, grad_y, unpadded)
        return correct.grad_input(x, w, grad_y, spec), gw, correct.grad_bias(grad_y)


def fw_random_order_into_buffer(x, w, spec):
    # Taps summed in a random order (as atomics would), into a reused output buffer.
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    taps = [np.zeros_like(w) for _ in range(int(np.prod(w.shape[2:])))]
    for t, index in enumerate(np.ndindex(*w.shape[2:])):
        taps[t][(..., *index)] = w[(..., *index)]
    order = np.random.default_rng().permutation(len(taps))
    y = correct.forward(x, taps[order[0]], spec)
    for t in order[1:]:
        y = y + correct.forward(x, taps[t], spec)
    out = _WORKSPACE.setdefault(("random", y.shape), np.empty(y.shape))
    out[...] = y
    return out


# --- memory layout: arrays as users have them ------------------------------------------------


def fw_memory_order_flatten(x, w, spec):
    # Flattens x in memory order (ravel(order="K"), no copy for any contiguous array) and
    # reshapes it as if C-ordered: right only when x is C-contiguous with positive strides.
    x = np.asarray(x, dtype=np.float64)
    flat = x.ravel(order="K").reshape(x.shape)
    return correct.forward(flat, w, spec)


def bw_memory_order_grad_y(x, w, grad_y, spec):
    # The same shortcut on grad_y, in the backward only.
    gy = np.asarray(grad_y, dtype=np.float64)
    return correct.backward(x, w, gy.ravel(order="K").reshape(gy.shape), spec)


def fw_rotates_kernel_in_place(x, w, spec):
    # Correlation through a convolution routine: the kernel rotated in place to save a copy,
    # rotated back afterwards (so the caller sees no change, unless the array is read-only).
    axes = spatial_axes(w)
    w[...] = np.flip(w, axis=axes)
    try:
        x64, w64 = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
        kernel = w64 if spec.flip else rot180(w64)
        return correlate(pad(x64, spec.padding), kernel, spec.stride, spec.dilation, spec.groups)
    finally:
        w[...] = np.flip(w, axis=axes)


def fw_buffer_protocol(x, w, spec):
    # Reads x through the buffer protocol (as a C extension would): np.frombuffer needs a
    # C-contiguous buffer and raises on any other.
    flat = np.frombuffer(x, dtype=x.dtype)
    return correct.forward(flat.reshape(np.shape(x)), w, spec)


def fw_torch_from_numpy(x, w, spec):
    # A PyTorch port that wraps the arrays with torch.from_numpy (no copy): PyTorch rejects
    # negative strides.
    import torch
    import torch.nn.functional as F

    conv = (F.conv1d, F.conv2d, F.conv3d)[len(spec.stride) - 1]
    pads = [(lo, hi) for lo, hi in spec.padding]
    xt = F.pad(torch.from_numpy(x), [p for pair in reversed(pads) for p in pair])
    kernel = torch.from_numpy(w)
    if spec.flip:
        kernel = torch.flip(kernel, dims=tuple(range(2, kernel.ndim)))
    y = conv(xt, kernel, stride=spec.stride, dilation=spec.dilation, groups=spec.groups)
    return y.numpy()


# --- depthwise: groups == C_in, output channel c * multiplier + m ---------------------------


def fw_depthwise_channel_order(x, w, spec):
    # Output slot c + m * C_in (multiplier-major, a channels-last loop nest's natural order)
    # instead of c * multiplier + m: right whenever the multiplier is 1.
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    c_in = x.shape[1]
    if spec.groups != c_in:
        return correct.forward(x, w, spec)
    multiplier = w.shape[0] // c_in
    y = correct.forward(x, w, spec)
    order = [c * multiplier + m for m in range(multiplier) for c in range(c_in)]
    return y[:, np.argsort(order)]


# --- integer data: quantized convolution with a declared accumulator --------------------------


def _int_conv(x, w, spec, accumulator):
    """The integer forward with products and sums carried in ``accumulator``."""
    xa, wa = np.asarray(x).astype(accumulator), np.asarray(w).astype(accumulator)
    return correlate(
        pad(xa, spec.padding),
        correct.effective_kernel(wa, spec),
        spec.stride,
        spec.dilation,
        spec.groups,
    )


def bw_integer(x, w, grad_y, spec):
    # float64 holds every gradient sum of an int32 accumulator exactly (< 2**31): rounding
    # back is exact.
    return tuple(np.rint(g).astype(np.int32) for g in correct.backward(x, w, grad_y, spec))


def fw_int16_accumulator(x, w, spec):
    # int8 products widened to int16 (they fit: 127 * 127 < 2**15) and summed there too;
    # the result is widened to the declared int32 only at the store.
    return _int_conv(x, w, spec, np.int16).astype(np.int32)


def fw_int16_in_float32(x, w, spec):
    # int16 data sent through a float32 GEMM (a fast path): exact only below 2**24.
    return np.rint(_int_conv(x, w, spec, np.float32)).astype(np.int32)


def fw_uint8_read_as_int8(x, w, spec):
    # uint8 activations reinterpreted as int8 (a signedness slip in a quantized kernel):
    # values of 128 and more become negative.
    return _int_conv(np.asarray(x).view(np.int8), w, spec, np.int32)


def _shape_only_layer():
    caching = CachingLayer()
    return caching.forward, caching.backward


def _padded_cache_layer():
    cache = PaddedInputCache()
    return cache.forward, cache.backward


FW = frozenset({"forward"})
GX, GW = frozenset({"grad_input"}), frozenset({"grad_weight"})
VALUE = frozenset({"value", "exact"})
BACKWARD = correct.backward
_EXPLICIT = {"padding": ((1, 0), (0, 1))}

_INT8 = {"dtype": "int8", "accumulate": "int32"}

BUGS: tuple[Bug, ...] = (
    Bug(
        "pointwise_fast_path_ignores_padding",
        "a 1x1-kernel fast path (channel GEMM) drops the explicit pads",
        fw_pointwise_ignores_padding,
        BACKWARD,
        FW,
        frozenset({"shape"}) | VALUE,
        "single",
        Witness((1, 2, 4, 4), (3, 2, 1, 1), {"padding": 1, "stride": 2}),
    ),
    Bug(
        "explicit_pads_taken_as_symmetric",
        "(lo, hi) pads read as lo on both sides (PyTorch's padding=p)",
        fw_symmetric_pads,
        bw_symmetric_pads,
        FW | GX | GW,
        frozenset({"shape"}) | VALUE,
        "single",
        Witness((1, 1, 5, 5), (1, 1, 3, 3), _EXPLICIT),
    ),
    Bug(
        "grad_input_crop_minus_zero",
        "grad_input cropped with [lo:-hi]: empty when hi == 0",
        correct.forward,
        lambda x, w, gy, spec: (
            gx_crop_minus_zero(x, w, gy, spec),
            correct.grad_weight(x, w, gy, spec),
            correct.grad_bias(gy),
        ),
        GX,
        frozenset({"shape"}),
        "single",
        Witness((1, 1, 5, 5), (1, 1, 3, 3), {"padding": ((1, 0), (1, 0)), "stride": 2}),
    ),
    Bug(
        "channel_block_tail_dropped",
        "output channels in blocks of 8; the tail block (C_out % 8) left at zero",
        fw_channel_blocks_tail_dropped,
        BACKWARD,
        FW,
        VALUE,
        "single",
        Witness((1, 2, 5, 5), (11, 2, 3, 3)),
    ),
    Bug(
        "large_kernel_path_ignores_dilation",
        "kernels >= 5 take a path that ignores dilation",
        fw_large_kernel_path_ignores_dilation,
        BACKWARD,
        FW,
        frozenset({"shape"}) | VALUE,
        "single",
        Witness((1, 1, 14, 14), (1, 1, 5, 5), {"dilation": 2}),
    ),
    Bug(
        "vector_width_tail_zero",
        "the last spatial dim in vectors of 16; a partial last vector left at zero",
        fw_vector_width_tail,
        BACKWARD,
        FW,
        VALUE,
        "single",
        Witness((1, 1, 3, 20), (1, 1, 1, 3)),
    ),
    Bug(
        "grad_weight_batch_tile_tail_skipped",
        "grad_weight over batch tiles of 4 skips the partial last tile",
        correct.forward,
        gw_batch_tiles_tail_skipped,
        GW,
        VALUE,
        "single",
        Witness((6, 1, 4, 4), (1, 1, 2, 2)),
    ),
    Bug(
        "forward_returns_reused_workspace",
        "forward returns a workspace buffer that the next call overwrites",
        fw_reused_output_buffer,
        BACKWARD,
        FW,
        frozenset({"state"}),
        "sequence",
        Witness((1, 2, 5, 5), (2, 2, 3, 3)),
    ),
    Bug(
        "grad_weight_returns_reused_accumulator",
        "grad_w accumulated in a persistent buffer returned to the caller",
        correct.forward,
        bw_reused_grad_weight_buffer,
        GW,
        frozenset({"state"}),
        "sequence",
        Witness((1, 2, 5, 5), (2, 2, 3, 3)),
    ),
    Bug(
        "backward_uses_x_saved_by_forward",
        "backward uses the input its forward saved, whenever the shapes agree",
        *_shape_only_layer(),
        GW,
        frozenset({"state"}),
        "sequence",
        Witness((1, 2, 5, 5), (2, 2, 3, 3)),
    ),
    Bug(
        "grad_weight_uses_cached_padded_input",
        "grad_weight reads the padded input cached by forward, keyed by shape not data",
        *_padded_cache_layer(),
        GW,
        frozenset({"state"}),
        "sequence",
        Witness((1, 2, 5, 5), (2, 2, 3, 3), {"padding": 1}),
    ),
    Bug(
        "nondeterministic_into_reused_buffer",
        "taps summed in a random order into a reused output buffer",
        fw_random_order_into_buffer,
        BACKWARD,
        FW,
        frozenset({"determinism", "state"}),
        "repeat",
        Witness((1, 2, 6, 6), (2, 2, 3, 3)),
    ),
    Bug(
        "forward_flattens_in_memory_order",
        "x flattened in memory order (ravel(order='K')) and reshaped as C order",
        fw_memory_order_flatten,
        BACKWARD,
        FW,
        frozenset({"layout"}),
        "fortran",
        Witness((2, 2, 4, 5), (2, 2, 2, 2)),
    ),
    Bug(
        "backward_flattens_grad_y_in_memory_order",
        "grad_y flattened in memory order and reshaped as C order",
        correct.forward,
        bw_memory_order_grad_y,
        GX | GW | frozenset({"grad_bias"}),
        frozenset({"layout"}),
        "fortran",
        Witness((2, 2, 4, 5), (2, 2, 2, 2)),
    ),
    Bug(
        "forward_via_torch_from_numpy",
        "arrays wrapped with torch.from_numpy, which rejects negative strides",
        fw_torch_from_numpy,
        BACKWARD,
        FW,
        frozenset({"layout"}),
        "negative_stride",
        Witness((1, 1, 4, 4), (1, 1, 2, 2)),
    ),
    Bug(
        "forward_rotates_kernel_in_place",
        "the kernel rotated in place and back (fails on read-only arrays)",
        fw_rotates_kernel_in_place,
        BACKWARD,
        FW,
        frozenset({"no_mutation"}),
        "read_only",
        Witness((1, 1, 4, 4), (1, 1, 2, 2)),
    ),
    Bug(
        "depthwise_output_channel_order",
        "depthwise output slot c + m * C_in instead of c * multiplier + m",
        fw_depthwise_channel_order,
        BACKWARD,
        FW,
        VALUE,
        "single",
        Witness((1, 2, 4, 4), (4, 1, 2, 2), {"groups": 2}),
        {"groups": "depthwise"},
    ),
    Bug(
        "int8_sums_in_int16",
        "int8 products summed in int16, widened to the int32 accumulator at the store",
        fw_int16_accumulator,
        bw_integer,
        FW,
        VALUE,
        "single",
        Witness((1, 4, 6, 6), (1, 4, 3, 3)),
        _INT8,
        "int8",
    ),
    Bug(
        "int16_through_float32",
        "int16 data through a float32 GEMM: sums beyond 2**24 rounded",
        fw_int16_in_float32,
        bw_integer,
        FW,
        VALUE,
        "single",
        Witness((1, 2, 4, 4), (1, 2, 3, 3)),
        {"dtype": "int16", "accumulate": "int32"},
        "int16",
    ),
    Bug(
        "uint8_read_as_int8",
        "uint8 activations reinterpreted as int8: values >= 128 turn negative",
        fw_uint8_read_as_int8,
        bw_integer,
        FW,
        VALUE,
        "single",
        Witness((1, 2, 4, 4), (1, 2, 3, 3)),
        {"dtype": "uint8", "accumulate": "int32"},
        "uint8",
    ),
    Bug(
        "forward_reads_the_raw_buffer",
        "x read through the buffer protocol (np.frombuffer): C-contiguous only",
        fw_buffer_protocol,
        BACKWARD,
        FW,
        frozenset({"layout"}),
        "strided",
        Witness((1, 1, 4, 4), (1, 1, 2, 2)),
    ),
)
