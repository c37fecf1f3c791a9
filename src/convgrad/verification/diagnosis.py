"""Why a check failed, in words a learner can act on (`diagnose`): recognised from the shapes and
by comparing the user's output with cheap variants of the right answer computed by the reference.

Each recognised mistake is a named variant (the kernel rotated 180°, 'same' padded on the wrong
side, H and W swapped, in/out channels not swapped, a mean where a sum belongs, grad_y not
dilated by the stride, one batch element only...), and each arithmetic a signature (values of a
coarser format; results within the error bound of flushed subnormals, TF32 or bfloat16
operands, a float16 accumulator). A cause is named only when it reproduces the user's output on
the minimal problem *and* on a larger problem of the same spec family (`widen`), on which the
user's functions are called again: shrinking makes coincidences (two equal samples, one
product), and a cause that fits only the minimal problem is a guess. Otherwise the diagnosis
states what is known (`convgrad.verification.patterns.describe`). Shape mistakes are recognised
by the candidate operations of `convgrad.explanation` (one source for the CLI's shape diagnoses
and verify's), from the shape algebra of `convgrad.shapes.DimAlgebra`, whose derivation is
printed alongside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from math import prod

import numpy as np

from convgrad.explanation import LAYOUTS, diagnose_input_grad, diagnose_weight_grad
from convgrad.explanation.candidates import forward_candidates
from convgrad.reference import conv, conv_backward, conv_transpose
from convgrad.shapes import DimAlgebra, dim_algebra
from convgrad.spec import PADDING_MODES
from convgrad.verification.bounds import Precision, forward_bound, gradient_bounds
from convgrad.verification.checks import CheckResult
from convgrad.verification.integers import integer_cause
from convgrad.verification.numeric import is_integer_valued
from convgrad.verification.patterns import describe
from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import ProblemReport

_GRAD_INDEX = {"grad_input": 0, "grad_weight": 1, "grad_bias": 2}


def _dims(problem: ConvProblem) -> tuple[DimAlgebra, ...]:
    return dim_algebra(problem.x.shape, problem.w.shape, problem.resolved)


def derivation(problem: ConvProblem, output: str) -> str:
    """The shape algebra of ``output`` for this problem, one line per spatial dim."""
    p, dims = problem, _dims(problem)
    n, c_in, c_out, g = p.x.shape[0], p.x.shape[1], p.w.shape[0], p.resolved.groups
    lines = []
    if output == "forward":
        lines.append(f"y is (N, C_out, *O) = ({n}, {c_out}, *O) with, per spatial dim,")
        lines += [
            f"  dim {a.dim}: O = floor((I + lo + hi - d*(K-1) - 1) / s) + 1 = floor(({a.input} +"
            f" {a.lo} + {a.hi} - {a.dilation}*({a.kernel}-1) - 1) / {a.stride}) + 1 = {a.output}"
            for a in dims
        ]
    elif output == "grad_input":
        lines.append(
            f"grad_input has x's shape (N, C_in, *I) = {p.x.shape}: the full correlation of the"
            " stride-dilated grad_y with the 180°-rotated kernel (channels summed over C_out),"
            " cropped by the pads; per spatial dim"
        )
        lines += [
            f"  dim {a.dim}: dilated grad_y (O-1)*s+1 = ({a.output}-1)*{a.stride}+1 ="
            f" {a.dilated_grad}; full correlation with the dilated kernel (extent {a.extent})"
            f" gives {a.dilated_grad}+{a.extent}-1 = {a.grad_input_full}; cropped by lo={a.lo}"
            f" and hi-r={a.hi}-{a.unreached}: {a.grad_input} = I"
            for a in dims
        ]
    elif output == "grad_weight":
        lines.append(
            f"grad_weight has w's shape (C_out, C_in//groups, *K) = ({c_out}, {c_in}//{g}, ...)"
            f" = {p.w.shape}: the valid correlation of the padded x with the stride-dilated"
            " grad_y, sampled every d; per spatial dim"
        )
        lines += [
            f"  dim {a.dim}: padded x P = {a.input}+{a.lo}+{a.hi} = {a.padded}; dilated grad_y"
            f" {a.dilated_grad}; valid correlation sampled every {a.dilation}:"
            f" floor(({a.padded} - {a.dilated_grad}) / {a.dilation}) + 1 = {a.grad_weight_raw},"
            f" of which the first K = {a.kernel} are the kernel's taps"
            for a in dims
        ]
    else:
        lines.append(
            f"grad_bias is (C_out,) = ({c_out},): grad_y summed over N and every spatial dim"
        )
    return "\n".join(lines)


def _shape_causes(problem: ConvProblem, output: str, got: tuple[int, ...]) -> Iterator[str]:
    p = problem
    expected = {
        "forward": p.output_shape,
        "grad_input": p.x.shape,
        "grad_weight": p.w.shape,
        "grad_bias": (p.w.shape[0],),
    }[output]
    if output == "grad_bias" and len(got) != 1:
        axes = ", ".join(str(axis) for axis in (0, *range(2, len(p.output_shape))))
        yield (
            f"grad_bias has {len(got)} dims but should have 1: sum grad_y over the batch and every"
            f" spatial dim, grad_y.sum(axis=({axes})), leaving one value per C_out"
        )
        return
    if len(got) != len(expected):
        yield (
            f"{output} has {len(got)} dims but should have {len(expected)}: keep the batch and"
            " channel axes (channels-first layout (N, C, *spatial))"
        )
        return
    if output == "grad_bias":
        yield "grad_bias must be grad_y summed over the batch and every spatial axis, one per C_out"
        return
    spatial, want = tuple(got[2:]), tuple(expected[2:])
    if len(spatial) > 1 and spatial == want[::-1] and spatial != want:
        yield "the spatial axes are transposed (H and W swapped)"
    if output in ("grad_weight", "grad_input"):
        yield from _algebra_causes(p, output, got)
        if output == "grad_input" and got[1] == p.w.shape[0] != p.x.shape[1]:
            yield (
                "grad_input has C_out channels: swap the kernel's in/out channel axes (grad_input"
                " sums w[o, c] * grad_y[o] over the output channels o)"
            )
    if output == "forward":
        yield from _forward_causes(p, spatial, want)
        if got[1] == p.x.shape[1] != p.w.shape[0]:
            yield "y has C_in channels; it must have C_out = w.shape[0]"


def _forward_causes(
    problem: ConvProblem, spatial: tuple[int, ...], want: tuple[int, ...]
) -> Iterator[str]:
    """The forward's counterpart of `_algebra_causes`: the ways of computing y
    (`convgrad.explanation.candidates.forward_candidates`) that give the spatial size the user
    got, those with the fewest things ignored, as alternatives."""
    if spatial == want:
        return
    candidates = forward_candidates(_dims(problem), problem.resolved.mode)
    matches = sorted(
        (c for c in candidates if c.shape == spatial and c.changes), key=lambda c: len(c.changes)
    )
    fewest = [c for c in matches if len(c.changes) == len(matches[0].changes)] if matches else []
    if fewest:
        yield f"this output size {spatial} is what " + "; or ".join(
            f"the correlation {c.operands} gives: {', and '.join(c.changes)}" for c in fewest
        )


def _algebra_causes(problem: ConvProblem, output: str, got: tuple[int, ...]) -> Iterator[str]:
    """The wrong operations that give a gradient of shape ``got``, each with what to change.

    They are those of `convgrad.explain.diagnose_weight_grad` / `diagnose_input_grad`, which
    enumerate the candidate operations from the shape algebra (one source of truth); only the
    likeliest (fewest changes) are named.
    """
    p, spec = problem, problem.resolved
    layout = next(
        name
        for name, lay in LAYOUTS.items()
        if lay.ndim == p.ndim and lay.batch and not lay.channels_last
    )
    diagnose = diagnose_weight_grad if output == "grad_weight" else diagnose_input_grad
    try:
        diagnosis = diagnose(
            p.x.shape,
            p.w.shape,
            got,
            padding=[tuple(pair) for pair in spec.padding],
            stride=spec.stride,
            dilation=spec.dilation,
            groups=spec.groups,
            layout=layout,
        )
    except ValueError:
        # A zero-size axis: the shape algebra has no operation that yields it.
        return
    yield from diagnosis.notes
    matches = diagnosis.matches
    if diagnosis.observed == diagnosis.expected or not matches:
        return
    right = next(c for c in diagnosis.candidates if not c.changes)
    dims = _dims(p)
    same_as = [
        name
        for name, sizes in (
            ("x's", tuple(a.input for a in dims)),
            ("grad_y's", tuple(a.output for a in dims)),
        )
        if output == "grad_weight" and sizes == diagnosis.observed
    ]
    also = "".join(f" (and {name})" for name in same_as[1:])
    alias = f"{same_as[0]} spatial shape{also}, that of" if same_as else "the shape of"
    fewest = [c for c in matches if len(c.changes) == len(matches[0].changes)]
    # A minimal problem can be too small to tell these apart: name each, as alternatives.
    yield "; or ".join(
        f"{output} has {alias} a correlation in {c.mode!r} mode {c.operands}; it needs"
        f" the {right.mode!r} correlation {right.operands}: " + ", and ".join(c.changes)
        for c in fewest
    )


def _kwargs(problem: ConvProblem, **changes) -> dict:
    kw = dict(problem.kwargs)
    kw["padding"] = [tuple(pair) for pair in problem.resolved.padding]
    kw.update(changes)
    return kw


def _swap_spatial(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _reference(problem: ConvProblem, output: str, **changes) -> np.ndarray:
    """The reference's ``output`` for ``problem``, with spec keywords or operands (x, w, grad_y)
    replaced by ``changes``."""
    kw = _kwargs(problem, **changes)
    x, w, gy = (kw.pop(name, getattr(problem, name)) for name in ("x", "w", "grad_y"))
    if output == "forward":
        return conv(x, w, **kw)
    return conv_backward(x, w, gy, **kw)[_GRAD_INDEX[output]]


def _interleaved(p: ConvProblem, output: str) -> np.ndarray:
    """``output`` with output channel o put in group o % g instead of o // (C_out / g): the
    grouped convolution of the channels in interleaved order."""
    c_out, g = p.w.shape[0], p.resolved.groups
    order = np.concatenate([np.arange(j, c_out, g) for j in range(g)])
    if output == "forward":
        y = np.empty(p.grad_y.shape)
        y[:, order] = _reference(p, output, w=p.w[order])
        return y
    grad = _reference(p, output, w=p.w[order], grad_y=p.grad_y[:, order])
    if output != "grad_weight":
        return grad
    out = np.empty(grad.shape)
    out[order] = grad
    return out


def _pad_windows_zeroed(p: ConvProblem) -> np.ndarray:
    """The forward with every output whose window overlaps the padding left at 0."""
    y = _reference(p, "forward")
    for j, a in enumerate(_dims(p)):
        start = np.arange(a.output) * a.stride - a.lo
        inside = (start >= 0) & (start + a.extent <= a.input)
        shape = [1] * y.ndim
        shape[2 + j] = -1
        y = y * inside.reshape(shape)
    return y


def _remainder_first(p: ConvProblem) -> np.ndarray:
    """grad_weight with the r rows no window reaches cut from the start of the padded x instead
    of its end: the windows aligned to the end of the input."""
    spec, dims = p.resolved, _dims(p)
    xp = np.pad(p.x.astype(np.float64), ((0, 0), (0, 0), *spec.padding))
    xp = xp[(..., *(slice(a.unreached, None) for a in dims))]
    return conv_backward(
        xp,
        p.w,
        p.grad_y,
        padding=0,
        stride=spec.stride,
        dilation=spec.dilation,
        groups=spec.groups,
        flip=spec.flip,
    ).weight


Variant = tuple[str, str, Callable[[], np.ndarray]]
"""(key, cause, thunk computing the output under that mistake); the key names the mistake
whatever the problem, so a variant found on one problem is looked up on another."""


def _bias_variants(p: ConvProblem) -> Iterator[Variant]:
    n, spatial = p.grad_y.shape[0], prod(p.grad_y.shape[2:])
    yield (
        "bias_mean",
        "grad_bias was averaged instead of summed (divided by N * prod(O))",
        lambda: _reference(p, "grad_bias") / (n * spatial),
    )
    if n == 1:
        return
    yield (
        "bias_batch_mean",
        "grad_bias was averaged over the batch (divided by N); it is a sum",
        lambda: _reference(p, "grad_bias") / n,
    )
    yield from _one_sample("grad_bias", p)


def _one_sample(output: str, p: ConvProblem) -> Iterator[Variant]:
    """``output`` (a sum over the batch) computed from one batch element only."""
    for key, j, which, how in (
        ("first_sample", 0, "the first", "a loop that stops after it or a [0] index"),
        ("last_sample", -1, "the last", "'=' where the batch loop needs '+='"),
    ):
        part = slice(j, None) if j < 0 else slice(0, 1)
        yield (
            key,
            f"{output} holds {which} batch element's contribution only ({how}); it sums over"
            " the whole batch",
            lambda part=part: _reference(p, output, x=p.x[part], grad_y=p.grad_y[part]),
        )


def _variants(problem: ConvProblem, output: str) -> Iterator[Variant]:
    """The known mistakes for ``output``, cheapest and likeliest first."""
    p = problem
    w, n = p.w, p.grad_y.shape[0]

    def compute(**changes) -> np.ndarray:
        return _reference(p, output, **changes)

    flip = p.resolved.flip
    if output == "grad_bias":
        yield from _bias_variants(p)
        return
    filled = p.resolved.padding_mode
    if filled != "zeros" and any(lo or hi for lo, hi in p.resolved.padding):
        for other in (m for m in PADDING_MODES if m != filled):
            cause = (
                f"the padded border's gradient was cropped instead of folded back onto the"
                f" input elements padding_mode={filled!r} copies into the pads"
                if other == "zeros" and output == "grad_input"
                else f"the pads hold what padding_mode={other!r} puts there; the spec says"
                f" padding_mode={filled!r}"
            )
            yield f"padding_mode={other}", cause, lambda other=other: compute(padding_mode=other)
    mode = p.resolved.mode
    if mode in ("same", "same_lower"):
        other = "same_lower" if mode == "same" else "same"
        yield (
            "same_side",
            f"an even kernel was padded on the wrong side: the result matches padding={other!r}"
            f" (extra pad at the {'start' if other == 'same_lower' else 'end'}); {mode!r} puts it"
            f" at the {'end' if mode == 'same' else 'start'}",
            lambda: compute(padding=other),
        )
    yield (
        "flip",
        f"the kernel is rotated 180° relative to the spec (flip={flip}): "
        + (
            "convolution computed where cross-correlation is declared"
            if not flip
            else "cross-correlation computed where convolution (flip=True) is declared"
        )
        + ("" if output == "forward" else f"; {output} needs the kernel flip of the forward"),
        lambda: compute(flip=not flip),
    )
    if p.ndim >= 2:
        cause = "H and W are transposed (the last two spatial axes of the result or kernel)"
        yield "hw_result", cause, lambda: _swap_spatial(compute())
        if output != "grad_weight":
            yield "hw_kernel", cause, lambda: compute(w=_swap_spatial(w))
    g, c_in = p.resolved.groups, p.x.shape[1]
    if output in ("forward", "grad_weight") and g == c_in > 1 and w.shape[0] > c_in:
        multiplier = w.shape[0] // c_in
        # Output channel c * multiplier + m (torch, tf.nn.depthwise_conv2d) stored at
        # c + m * C_in instead.
        slots = np.argsort([c * multiplier + m for m in range(multiplier) for c in range(c_in)])
        yield (
            "depthwise_order",
            f"depthwise output channels in the wrong order: channel m of input channel c is"
            f" output c * multiplier + m (multiplier {multiplier}; PyTorch, TensorFlow's"
            " depthwise_conv2d), not c + m * C_in",
            # forward: (N, C_out, *O), channels on axis 1; grad_weight: (C_out, 1, *K), axis 0.
            lambda: compute()[:, slots] if output == "forward" else compute()[slots],
        )
    if output == "grad_input" and p.resolved.groups == 1 and w.shape[0] == w.shape[1]:
        yield (
            "channels_not_swapped",
            "the kernel's in/out channels were not swapped: grad_input must sum w[o, c] *"
            " grad_y[o] over output channels o (use w transposed to (C_in, C_out, *K))",
            lambda: compute(w=np.swapaxes(w, 0, 1)),
        )
    if p.resolved.groups > 1 and w.shape[0] > p.resolved.groups:
        yield (
            "groups_interleaved",
            "the output channels' groups are interleaved: channel o was put in group o % groups"
            " where it belongs to group o // (C_out / groups) (consecutive blocks)",
            lambda: _interleaved(p, output),
        )
    unreached = tuple(a.unreached for a in _dims(p))
    if output == "grad_input" and any(unreached):
        yield (
            "unreached_at_start",
            f"the {unreached} input rows no window reaches (a transposed convolution's"
            " output_padding) were put at the start of each spatial dim instead of the end",
            lambda: np.roll(compute(), unreached, axis=tuple(range(2, 2 + p.ndim))),
        )
    remainders = tuple(a.unreached for a in _dims(p))
    if output == "grad_weight" and any(remainders):
        yield (
            "remainder_at_start",
            f"the {remainders} rows of the padded x no window reaches (the stride's remainder)"
            " were cut from the start of each spatial dim instead of the end: the windows are"
            " aligned to the end of x",
            lambda: _remainder_first(p),
        )
    if output == "forward" and any(lo or hi for lo, hi in p.resolved.padding):
        yield (
            "pad_windows_zeroed",
            "every output whose window overlaps the padding was left at 0: only windows inside"
            " x were computed; the pads are part of the input",
            lambda: _pad_windows_zeroed(p),
        )
    if any(st > 1 for st in p.resolved.stride) and output in ("grad_input", "grad_weight"):
        yield (
            "undilated",
            f"grad_y was not dilated by the stride (s-1 zeros between its elements) before"
            f" computing {output}",
            lambda: _undilated(p, output),
        )
    if output == "grad_weight" and n > 1:
        yield (
            "weight_batch_mean",
            "grad_weight was averaged over the batch (divided by N); it is a sum",
            lambda: compute() / n,
        )
        yield from _one_sample(output, p)
    yield "sign", "the sign is flipped", lambda: -compute()


def _undilated(p: ConvProblem, output: str) -> np.ndarray:
    """The learner's gradient with grad_y used as is instead of stride-dilated."""
    spec, dims = p.resolved, _dims(p)
    w = p.w[(slice(None), slice(None), *(slice(None, None, -1),) * p.ndim)] if spec.flip else p.w
    common = {"dilation": spec.dilation, "groups": spec.groups}
    if output == "grad_input":
        full = conv_transpose(p.grad_y, w, padding=0, stride=1, **common)
        out = np.zeros(p.x.shape)
        src = tuple(
            slice(a.lo, min(a.lo + a.input, n)) for a, n in zip(dims, full.shape[2:], strict=True)
        )
        dst = tuple(slice(0, max(s_.stop - s_.start, 0)) for s_ in src)
        out[(..., *dst)] = full[(..., *src)]
        return out
    xp = np.pad(p.x, ((0, 0), (0, 0), *spec.padding))
    crop = tuple(slice(0, a.output - 1 + a.extent) for a in dims)
    grad_w = conv_backward(xp[(..., *crop)], w, p.grad_y, padding=0, stride=1, **common).weight
    return (
        grad_w[(slice(None), slice(None), *(slice(None, None, -1),) * p.ndim)]
        if spec.flip
        else grad_w
    )


def _matches(thunk: Callable[[], np.ndarray], got: np.ndarray, bound: np.ndarray) -> bool:
    try:
        variant = thunk()
    except ValueError:
        return False
    return variant.shape == got.shape and bool(np.all(np.abs(got - variant) <= bound))


def _arithmetic_causes(problem: ConvProblem) -> Iterator[tuple[Precision, str]]:
    """(the arithmetic, what it means) for implementations whose rounding the run did not
    accept: flushed subnormals, on float32 data TF32 (or float16) and bfloat16 operands, and
    sums carried in float16."""
    dtype = problem.x.dtype.name if problem.x.dtype.kind == "f" else "float64"
    tiny = float(np.finfo(dtype).tiny)
    yield (
        Precision(dtype, subnormals="ftz"),
        f"the result differs from the reference only as results and operands below the smallest"
        f" normal ({tiny:.3g}) flushed to zero would: the implementation flushes subnormals"
        " (FTZ/DAZ: XLA on CPU, GPUs, oneDNN, SIMD kernels), which is correct arithmetic that"
        " verify accepts by default; this run used subnormals='ieee'",
    )
    if dtype == "float32":
        yield (
            Precision(dtype, operands="tf32"),
            "errors of about 2**-11 relative: the operands were rounded to 10-bit significands,"
            " the signature of TF32 tensor cores (float16 operands round alike); disable it"
            " (torch.backends.cudnn.allow_tf32 = False and torch.backends.cuda.matmul.allow_tf32"
            " = False; JAX: jax_default_matmul_precision = 'highest' or"
            " precision=lax.Precision.HIGHEST) or verify with precision='tf32'",
        )
        yield (
            Precision(dtype, operands="bf16"),
            "errors of about 2**-8 relative: the operands were rounded to bfloat16 (autocast or"
            " a bf16 default matmul precision); compute in float32 or verify with"
            " precision='bf16'",
        )
    if dtype != "float16":
        yield (
            Precision(dtype, accumulate="float16"),
            f"errors growing with the number of terms summed, within the bound of sums carried"
            f" in float16: the accumulator is half precision; accumulate in {dtype}",
        )


def _within(problem: ConvProblem, output: str, got: np.ndarray, precision: Precision) -> bool:
    """Whether ``got`` lies within ``precision``'s error bound of the reference."""
    kw = _kwargs(problem)
    if output == "forward":
        expected = conv(problem.x, problem.w, **kw)
        bound = forward_bound(problem.x, problem.w, expected, precision=precision, **kw)
    else:
        grads = conv_backward(problem.x, problem.w, problem.grad_y, **kw)
        bound = gradient_bounds(
            problem.x, problem.w, problem.grad_y, grads, precision=precision, **kw
        )[_GRAD_INDEX[output]]
        expected = grads[_GRAD_INDEX[output]]
    return got.shape == expected.shape and bool(np.all(np.abs(got - expected) <= bound))


@dataclass(frozen=True)
class Seen:
    """The user's ``output`` on one problem: ``got`` (float64) and its elementwise ``bound``,
    both of the output's shape."""

    problem: ConvProblem
    output: str
    got: np.ndarray
    bound: np.ndarray

    @cached_property
    def expected(self) -> np.ndarray:
        """The reference's output."""
        return _reference(self.problem, self.output)


Fits = Callable[[Seen], bool]
"""Whether a cause reproduces the user's output on a problem."""


def _variant_fits(key: str) -> Fits:
    def fits(seen: Seen) -> bool:
        thunks = {k: thunk for k, _, thunk in _variants(seen.problem, seen.output)}
        return key in thunks and _matches(thunks[key], seen.got, seen.bound)

    return fits


def _rounded_to(dtype: str) -> Fits:
    """Every element of the output is a ``dtype`` number and the reference's are not: the
    output was computed or rounded in that coarser format."""

    def fits(seen: Seen) -> bool:
        got, expected = seen.got, seen.expected
        with np.errstate(over="ignore"):
            return np.array_equal(got, got.astype(dtype)) and not np.array_equal(
                expected, expected.astype(dtype)
            )

    return fits


def _scale(seen: Seen) -> float | None:
    """The constant c with got = c * reference within the bound (c != 0, 1), else None."""
    expected = seen.expected
    norm = float(np.sum(expected * expected))
    if norm == 0:
        return None
    scale = float(np.sum(seen.got * expected)) / norm
    close = np.abs(seen.got - scale * expected) <= seen.bound + 1e-12 * np.abs(seen.got)
    return scale if abs(scale - 1) > 1e-6 and scale != 0 and bool(np.all(close)) else None


def _scaled_by(scale: float) -> Fits:
    def fits(seen: Seen) -> bool:
        close = np.abs(seen.got - scale * seen.expected) <= seen.bound + 1e-12 * np.abs(seen.got)
        return bool(np.all(close))

    return fits


def _tiers(seen: Seen, check: str) -> Iterator[list[tuple[str, Fits]]]:
    """The candidate causes of ``seen``'s values, in tiers tried in order: each a list of
    (cause, fits); a tier's confirmed causes are named together, as alternatives."""
    p, output = seen.problem, seen.output
    # On integer data (the exact check) no rounding is correct: no arithmetic excuses a miss.
    arithmetic = [
        (precision.accumulate == "float16", cause, precision)
        for precision, cause in (_arithmetic_causes(p) if check == "value" else ())
    ]

    def within(half: bool) -> list[tuple[str, Fits]]:
        return [
            (cause, lambda s, precision=precision: _within(s.problem, output, s.got, precision))
            for coarse, cause, precision in arithmetic
            if coarse == half
        ]

    data = p.x.dtype.name if p.x.dtype.kind == "f" else "float64"
    # Coarsest first: float16 values are float32 values too.
    for coarser in ("float16", "float32")[: ("float16", "float32", "float64").index(data)]:
        yield [
            (
                f"{output} holds only {coarser} values: it was computed or rounded in {coarser};"
                f" compute in the data's precision ({data})",
                _rounded_to(coarser),
            )
        ]
    yield within(half=False)
    yield [(cause, _variant_fits(key)) for key, cause, _ in _variants(p, output)]
    # A float16 accumulator's bound is loose enough to hold any finer rounding (float32
    # included): it comes after the sharper signatures.
    yield within(half=True)
    scale = _scale(seen)
    if scale is not None:
        yield [
            (
                f"{output} is the right answer times {scale:.6g} on problems of different sizes"
                " and data: a stray scale factor (a mean, a learning rate, a constant)",
                _scaled_by(scale),
            )
        ]


def _value_cause(seen: Seen, check: str, larger: Callable[[], Seen | None]) -> str | None:
    """The causes that reproduce ``seen`` and the user's output on a larger problem
    (``larger()``, called only when some cause reproduces ``seen``), else None."""
    for tier in _tiers(seen, check):
        candidates = [(cause, fits) for cause, fits in tier if fits(seen)]
        if not candidates:
            continue
        other = larger()
        if other is None:
            return None
        confirmed = [cause for cause, fits in candidates if fits(other)]
        if confirmed:
            return "; or ".join(dict.fromkeys(confirmed))
    return None


def _integer_arithmetic(problem: ConvProblem, output: str, got: np.ndarray) -> str | None:
    """On integer data: a wrapping accumulator or floating-point sums
    (`convgrad.verification.integers.integer_cause`)."""
    if problem.x.dtype.kind not in "iu":
        return None
    kw = _kwargs(problem)
    if output == "forward":
        expected = conv(problem.x, problem.w, **kw)
    else:
        expected = conv_backward(problem.x, problem.w, problem.grad_y, **kw)[_GRAD_INDEX[output]]
    return integer_cause(problem, output, np.asarray(got), np.asarray(expected))


def widen(problem: ConvProblem, seed: int = 0) -> ConvProblem:
    """A larger problem of ``problem``'s spec family, on fresh data: two more batch elements,
    one more channel per group on each side (a depthwise layer stays depthwise), ``2 * s``
    more input rows per spatial dim (so the 'same' pads and the stride's remainder stay), the
    same kernel size, spec and dtype; integer data (values +-1..3) where ``problem``'s are
    integer-valued, else uniform in [-1, 1]. TypeError when ``problem`` is not a
    `ConvProblem`."""
    if not isinstance(problem, ConvProblem):
        raise TypeError(f"problem must be a ConvProblem, got {type(problem).__name__}")
    p, spec = problem, problem.resolved
    g, c_in, c_out = spec.groups, p.x.shape[1], p.w.shape[0]
    per_in = c_in // g if g > 1 and c_in == g else c_in // g + 1
    x_shape = (
        p.x.shape[0] + 2,
        g * per_in,
        *(i + 2 * s for i, s in zip(p.x.shape[2:], spec.stride, strict=True)),
    )
    w_shape = (g * (c_out // g + 1), per_in, *p.w.shape[2:])
    rng = np.random.default_rng(seed)
    integer = all(is_integer_valued(a) for a in (p.x, p.w, p.grad_y))

    def draw(shape: tuple[int, ...]) -> np.ndarray:
        if integer:
            values = rng.integers(1, 4, size=shape) * rng.choice((-1, 1), size=shape)
        else:
            values = rng.uniform(-1, 1, size=shape)
        return values.astype(p.x.dtype)

    y_shape = (x_shape[0], w_shape[0], *(a.output for a in dim_algebra(x_shape, w_shape, spec)))
    b = None if p.b is None else draw((w_shape[0],))
    return ConvProblem(draw(x_shape), draw(w_shape), b, draw(y_shape), p.spec)


_ASSERTED = (
    "; if the assert says a feature is not implemented, raise NotImplementedError instead:"
    " verify then reports the feature unsupported and leaves it out of the search"
)
"""Added to a failed assert's diagnosis: an assert is a crash to verify, not a refusal."""

_FIXED = {
    "raised": "the call failed on the problem below; run the reproduce snippet for the traceback",
    "dtype": "return a real floating array of the data's dtype or wider (np.asarray(out, x.dtype))",
    "finite": (
        "NaN or inf from finite inputs: an uninitialised np.empty buffer, a division by zero, or"
        " an out-of-range index"
    ),
    "determinism": (
        "two identical calls differ: an uninitialised np.empty buffer, randomness, or a race"
        " between threads"
    ),
    "no_mutation": (
        "an in-place update of an argument (x += ..., x[...] = ..., out= a view of x): copy"
        " before writing"
    ),
    "state": (
        "a result must depend only on the call's own arguments and stay as returned: return a"
        " new array each call (not a reused workspace) and keep nothing from an earlier call"
        " (no x cached by forward for backward)"
    ),
    "layout": (
        "accept any NumPy array: np.ascontiguousarray(x) before as_strided, np.frombuffer or"
        " stride arithmetic, and never write into an argument (it may be read-only)"
    ),
    "linearity": (
        "a convolution is linear in x and in w: forward adds a constant (a bias or an offset),"
        " applies a non-linearity, or depends on the data in a branch"
    ),
}


def diagnose(
    problem: ConvProblem,
    result: CheckResult,
    got: np.ndarray | None,
    bound: np.ndarray | None,
    rerun: Callable[[ConvProblem], ProblemReport] | None = None,
    hint: str | None = None,
) -> str:
    """Why ``result`` failed on the (minimal) problem, short and actionable: the likely cause
    when a known mistake reproduces the user's output on this problem and on a larger one of
    the same spec family (`widen`), else what is known (which elements differ, in which
    pattern: `convgrad.verification.patterns.describe`).

    got: the user's output as an array (None when there was none); bound: its elementwise
    error bound (None likewise); rerun: the user's functions checked on another problem (the
    larger one); without it no cause of a wrong value is confirmed. hint: for a failed call
    (check "raised"), how the function received the spec when that explains it
    (`convgrad.verification.calls.spec_parameter_hint`), said first.
    """
    if result.check == "raised" and hint:
        return f"likely cause: {hint}; otherwise {_FIXED['raised']}"
    if result.check == "raised" and " raised AssertionError" in result.message:
        return _FIXED["raised"] + _ASSERTED
    if result.check in _FIXED:
        return _FIXED[result.check]
    output = result.output
    if result.check == "shape":
        causes = list(_shape_causes(problem, output, tuple(result.got_shape or ())))
        text = f"expected {result.expected_shape}, got {result.got_shape}.\n"
        text += derivation(problem, output)
        if causes:
            text += "\nlikely cause: " + "; ".join(causes)
        return text
    if result.check in ("value", "exact") and got is not None and bound is not None:
        seen = Seen(problem, output, np.asarray(got, dtype=np.float64), bound)
        cause = _integer_arithmetic(problem, output, got) or _value_cause(
            seen, result.check, lambda: _larger(seen, rerun)
        )
        if cause:
            return f"likely cause: {cause}"
        facts = describe(problem, output, seen.got, seen.expected, bound)
        return (
            f"{output} has the right shape but wrong values, and no known mistake reproduces"
            f" them on this problem and on a larger one (a cause is named only then); what is"
            f" known: {facts}. Compare it element by element with the reference on the problem"
            " below"
        )
    if result.check in ("adjoint", "finite_difference"):
        return (
            f"your {output} is not the gradient of your own forward; if your forward passes its"
            f" value check, {output} is wrong; if both fail, they disagree on the convention"
        )
    return result.message


def _larger(seen: Seen, rerun: Callable[[ConvProblem], ProblemReport] | None) -> Seen | None:
    """The user's output on `widen`'s larger problem, or None (no ``rerun``, no array of the
    right shape)."""
    if rerun is None:
        return None
    larger = widen(seen.problem)
    report = rerun(larger)
    got, bound = report.outputs.get(seen.output), report.bounds.get(seen.output)
    if got is None or bound is None or np.shape(got) != bound.shape:
        return None
    return Seen(larger, seen.output, np.asarray(got, dtype=np.float64), bound)


__all__ = ["Seen", "derivation", "diagnose", "widen"]
