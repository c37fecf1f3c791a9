"""Why a check failed, in words a learner can act on (`diagnose`): recognised from the shapes and
by comparing the user's output with cheap variants of the right answer computed by the reference.

A correct implementation whose arithmetic the run did not accept is recognised first: results
within the error bound of flushed subnormals (FTZ/DAZ, when verify ran with
``subnormals="ieee"``) or, on float32 data, of TF32 or bfloat16 operands.

Each recognised mistake is a named variant (the kernel rotated 180°, 'same' padded on the wrong
side, H and W swapped, in/out channels not swapped, a mean where a sum belongs, grad_y not
dilated by the stride...); the first variant the user's output matches within the check's bound
names the likely cause. Shape mistakes are recognised by the candidate operations of
`convgrad.explanation` (one source for the CLI's shape diagnoses and verify's), from the shape
algebra of `convgrad.shapes.DimAlgebra`, whose derivation is printed alongside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from convgrad.verification.problem import ConvProblem

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


def _variants(problem: ConvProblem, output: str) -> Iterator[tuple[str, Callable[[], np.ndarray]]]:
    """(cause, thunk computing the output under that mistake), cheapest and likeliest first."""
    p = problem
    x, w, gy = p.x, p.w, p.grad_y
    n, spatial = gy.shape[0], prod(gy.shape[2:])

    def compute(**changes) -> np.ndarray:
        kw = _kwargs(p, **changes)
        if output == "forward":
            return conv(x, changes.pop("w", w), **{k: v for k, v in kw.items() if k != "w"})
        grads = conv_backward(x, kw.pop("w", w), gy, **kw)
        return grads[_GRAD_INDEX[output]]

    flip = p.resolved.flip
    if output == "grad_bias":
        yield (
            "grad_bias was averaged instead of summed (divided by N * prod(O))",
            lambda: compute() / (n * spatial),
        )
        yield (
            "grad_bias was averaged over the batch (divided by N); it is a sum",
            lambda: compute() / n,
        )
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
            yield cause, lambda other=other: compute(padding_mode=other)
    mode = p.resolved.mode
    if mode in ("same", "same_lower"):
        other = "same_lower" if mode == "same" else "same"
        yield (
            f"an even kernel was padded on the wrong side: the result matches padding={other!r}"
            f" (extra pad at the {'start' if other == 'same_lower' else 'end'}); {mode!r} puts it"
            f" at the {'end' if mode == 'same' else 'start'}",
            lambda: compute(padding=other),
        )
    yield (
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
        yield cause, lambda: _swap_spatial(compute())
        if output != "grad_weight":
            yield cause, lambda: compute(w=_swap_spatial(w))
    g, c_in = p.resolved.groups, x.shape[1]
    if output in ("forward", "grad_weight") and g == c_in > 1 and w.shape[0] > c_in:
        multiplier = w.shape[0] // c_in
        # Output channel c * multiplier + m (torch, tf.nn.depthwise_conv2d) stored at
        # c + m * C_in instead.
        slots = np.argsort([c * multiplier + m for m in range(multiplier) for c in range(c_in)])
        yield (
            f"depthwise output channels in the wrong order: channel m of input channel c is"
            f" output c * multiplier + m (multiplier {multiplier}; PyTorch, TensorFlow's"
            " depthwise_conv2d), not c + m * C_in",
            lambda: compute()[:, slots],
        )
    if output == "grad_input" and p.resolved.groups == 1 and w.shape[0] == w.shape[1]:
        yield (
            "the kernel's in/out channels were not swapped: grad_input must sum w[o, c] *"
            " grad_y[o] over output channels o (use w transposed to (C_in, C_out, *K))",
            lambda: compute(w=np.swapaxes(w, 0, 1)),
        )
    unreached = tuple(a.unreached for a in _dims(p))
    if output == "grad_input" and any(unreached):
        yield (
            f"the {unreached} input rows no window reaches (a transposed convolution's"
            " output_padding) were put at the start of each spatial dim instead of the end",
            lambda: np.roll(compute(), unreached, axis=tuple(range(2, 2 + p.ndim))),
        )
    if any(st > 1 for st in p.resolved.stride) and output in ("grad_input", "grad_weight"):
        yield (
            f"grad_y was not dilated by the stride (s-1 zeros between its elements) before"
            f" computing {output}",
            lambda: _undilated(p, output),
        )
    if output == "grad_weight" and n > 1:
        yield (
            "grad_weight was averaged over the batch (divided by N); it is a sum",
            lambda: compute() / n,
        )
    yield "the sign is flipped", lambda: -compute()


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


def _stride_pattern(problem: ConvProblem, output: str, got, expected, bound) -> str | None:
    """grad_input right where a window starts and wrong only between: grad_y not dilated."""
    if output != "grad_input" or all(s == 1 for s in problem.resolved.stride):
        return None
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(got - expected) <= bound)
    grid = np.ones(got.shape[2:], dtype=bool)
    for j, ((lo, _), s) in enumerate(
        zip(problem.resolved.padding, problem.resolved.stride, strict=True)
    ):
        index = (np.arange(got.shape[2 + j]) + lo) % s == 0
        shape = [1] * grid.ndim
        shape[j] = -1
        grid = grid & index.reshape(shape)
    if bad.any() and not (bad & grid).any():
        return (
            "grad_input is right at positions a stride step lands on and wrong only at those it"
            " skips: the error was not dilated by the stride (insert s-1 zeros between grad_y's"
            " elements before the full correlation)"
        )
    return None


def _matches(thunk: Callable[[], np.ndarray], got: np.ndarray, bound: np.ndarray) -> bool:
    try:
        variant = thunk()
    except ValueError:
        return False
    return variant.shape == got.shape and bool(np.all(np.abs(got - variant) <= bound))


def _arithmetic_causes(problem: ConvProblem) -> Iterator[tuple[Precision, str]]:
    """(the arithmetic, what it means) for correct implementations whose rounding a strict
    verify does not accept: flushed subnormals, and on float32 data TF32 and bfloat16
    operands."""
    dtype = problem.x.dtype.name if problem.x.dtype.kind == "f" else "float64"
    tiny = float(np.finfo(dtype).tiny)
    yield (
        Precision(dtype, subnormals="ftz"),
        f"the result differs from the reference only as results and operands below the smallest"
        f" normal ({tiny:.3g}) flushed to zero would: the implementation flushes subnormals"
        " (FTZ/DAZ: XLA on CPU, GPUs, oneDNN, SIMD kernels), which is correct arithmetic that"
        " verify accepts by default; this run used subnormals='ieee'",
    )
    if dtype != "float32":
        return
    yield (
        Precision(dtype, operands="tf32"),
        "errors of about 2**-11 relative: the operands were rounded to 10-bit significands, the"
        " signature of TF32 tensor cores; disable it (torch.backends.cudnn.allow_tf32 = False and"
        " torch.backends.cuda.matmul.allow_tf32 = False; JAX: jax_default_matmul_precision ="
        " 'highest' or precision=lax.Precision.HIGHEST) or verify with precision='tf32'",
    )
    yield (
        Precision(dtype, operands="bf16"),
        "errors of about 2**-8 relative: the operands were rounded to bfloat16 (autocast or a"
        " bf16 default matmul precision); compute in float32 or verify with precision='bf16'",
    )


def _arithmetic_cause(
    problem: ConvProblem, output: str, got: np.ndarray, expected: np.ndarray
) -> str | None:
    """The first of `_arithmetic_causes` whose error bound holds ``got``."""
    kw = _kwargs(problem)
    for precision, cause in _arithmetic_causes(problem):
        if output == "forward":
            bound = forward_bound(problem.x, problem.w, expected, precision=precision, **kw)
        else:
            grads = conv_backward(problem.x, problem.w, problem.grad_y, **kw)
            bounds = gradient_bounds(
                problem.x, problem.w, problem.grad_y, grads, precision=precision, **kw
            )
            bound = bounds[_GRAD_INDEX[output]]
        if got.shape == expected.shape and np.all(np.abs(got - expected) <= bound):
            return cause
    return None


def _value_cause(
    problem: ConvProblem, output: str, got: np.ndarray, bound: np.ndarray, check: str
) -> str | None:
    got = np.asarray(got, dtype=np.float64)
    if output == "forward":
        expected = conv(problem.x, problem.w, **_kwargs(problem))
    else:
        expected = conv_backward(problem.x, problem.w, problem.grad_y, **_kwargs(problem))[
            _GRAD_INDEX[output]
        ]
    # On integer data (the exact check) no rounding is correct: no arithmetic excuses a miss.
    arithmetic = check == "value" and _arithmetic_cause(problem, output, got, expected)
    if arithmetic:
        return arithmetic
    causes = [cause for cause, thunk in _variants(problem, output) if _matches(thunk, got, bound)]
    if causes:
        # A minimal problem can be too small to tell some mistakes apart: name every match.
        return "; or ".join(dict.fromkeys(causes))
    pattern = _stride_pattern(problem, output, got, expected, bound)
    if pattern:
        return pattern
    if (
        problem.x.dtype == np.float64
        and np.array_equal(got, got.astype(np.float32))
        and not np.array_equal(expected, expected.astype(np.float32))
    ):
        return (
            f"{output} holds only float32 values: it was computed or rounded in float32; compute"
            " in the data's precision (float64)"
        )
    norm = float(np.sum(expected * expected))
    if norm > 0:
        scale = float(np.sum(got * expected)) / norm
        close = np.abs(got - scale * expected) <= bound + 1e-12 * np.abs(got)
        if abs(scale - 1) > 1e-6 and scale != 0 and np.all(close):
            # One nonzero element fits any scale: say so rather than claim a pattern.
            hedge = (
                " (one nonzero element only, so a likely guess)"
                if np.count_nonzero(expected) == 1
                else ""
            )
            return (
                f"{output} is the right answer times {scale:.6g}{hedge}: a stray scale factor"
                " (a mean, a learning rate, a 1/N)"
            )
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
    problem: ConvProblem, result: CheckResult, got: np.ndarray | None, bound: np.ndarray | None
) -> str:
    """Why ``result`` failed on the (minimal) problem, short and actionable: the likely cause
    when a known mistake reproduces the user's output, else what is known.

    got: the user's output as an array (None when there was none); bound: its elementwise
    error bound (None likewise).
    """
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
        cause = _integer_arithmetic(problem, output, got) or _value_cause(
            problem, output, got, bound, result.check
        )
        if cause:
            return f"likely cause: {cause}"
        return (
            f"{output} has the right shape but wrong values, and matches none of the known"
            " mistakes (flipped kernel, same/same_lower, swapped axes or channels, mean instead of"
            " sum, sign); compare it element by element with the reference on the problem below"
        )
    if result.check in ("adjoint", "finite_difference"):
        return (
            f"your {output} is not the gradient of your own forward; if your forward passes its"
            f" value check, {output} is wrong; if both fail, they disagree on the convention"
        )
    return result.message


__all__ = ["derivation", "diagnose"]
