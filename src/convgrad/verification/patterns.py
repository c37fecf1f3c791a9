"""What is known about a wrong output when no mistake is confirmed as its cause: which elements
differ from the reference and in which pattern (one batch element, one channel group, the last
channels, the last rows, the border, the positions a stride step skips, zeros, a constant
ratio), stated as facts about the problem at hand, never as a guessed cause.

`describe` is what `convgrad.verification.diagnosis` says instead of a cause it could not
confirm on a larger problem.
"""

from __future__ import annotations

import numpy as np

from convgrad.shapes import dim_algebra
from convgrad.verification.problem import ConvProblem

_AXES = {
    "forward": ("batch element", "output channel"),
    "grad_input": ("batch element", "input channel"),
    "grad_weight": ("output channel", "kernel input channel"),
}
"""The names of an output's two leading axes (its spatial axes follow)."""


def wrong_elements(got: np.ndarray, expected: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """The elements of ``got`` beyond ``bound`` from ``expected`` (NaN counts as wrong); all
    three arrays of one shape."""
    with np.errstate(invalid="ignore"):
        return ~(np.abs(got - expected) <= bound)


def _ranges(indices: np.ndarray) -> str:
    """Sorted indices as "0", "2-5", "0, 3, 7"."""
    runs: list[list[int]] = []
    for i in (int(j) for j in indices):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _channels(name: str, hit: np.ndarray, size: int, groups: int) -> str | None:
    """The pattern of the channels holding wrong elements: one group's block, the last or
    first few (a vectorised loop's tail or head), or a list."""
    if len(hit) == size:
        return None
    if len(hit) == 1:
        return f"only {name} {hit[0]} of {size}"
    per_group = size // groups if groups > 1 and size % groups == 0 else 0
    if per_group:
        blocks = sorted({int(c) // per_group for c in hit})
        if len(blocks) == 1 and len(hit) == per_group:
            return (
                f"only group {blocks[0]}'s {name}s ({_ranges(hit)}, block {blocks[0] + 1} of"
                f" {groups})"
            )
    if hit[-1] == size - 1 and len(hit) == hit[-1] - hit[0] + 1:
        return f"only the last {len(hit)} {name}s of {size} ({_ranges(hit)})"
    if hit[0] == 0 and len(hit) == hit[-1] + 1:
        return f"only the first {len(hit)} {name}s of {size} ({_ranges(hit)})"
    return f"only {name}s {_ranges(hit)} of {size}"


def _spatial(problem: ConvProblem, output: str, bad: np.ndarray) -> list[str]:
    """The spatial pattern of the wrong elements ``bad`` (the output's shape)."""
    found = []
    ndim = bad.ndim - 2
    if ndim < 1:
        return found
    dims = dim_algebra(problem.x.shape, problem.w.shape, problem.resolved)
    if output == "grad_input":
        # The last max(r - hi, 0) input rows of a dim lie in the r positions no window reaches.
        rows = tuple(max(a.unreached - a.hi, 0) for a in dims)
        unreached = np.zeros(bad.shape[2:], dtype=bool)
        for j, (a, u) in enumerate(zip(dims, rows, strict=True)):
            index = [slice(None)] * ndim
            index[j] = slice(a.input - u, a.input)
            unreached[tuple(index)] = u > 0
        if unreached.any() and not (bad & ~unreached).any():
            return [
                f"only in the last {rows} positions per spatial dim, those no window reaches"
                " (their gradient is exactly 0)"
            ]
        strides = problem.resolved.stride
        if any(s > 1 for s in strides):
            grid = np.ones(bad.shape[2:], dtype=bool)
            for j, (a, s) in enumerate(zip(dims, strides, strict=True)):
                shape = [1] * ndim
                shape[j] = -1
                grid = grid & ((np.arange(a.input) + a.lo) % s == 0).reshape(shape)
            if not (bad & grid).any():
                found.append(
                    "right at every position a stride step lands on, wrong only at positions"
                    " it skips"
                )
    spatial = bad.any(axis=(0, 1))
    for j in range(ndim):
        along = spatial.any(axis=tuple(k for k in range(ndim) if k != j))
        hit, size = np.flatnonzero(along), along.size
        if len(hit) == size or size < 3:
            continue
        if 2 * hit[0] >= size and hit[-1] == size - 1:
            found.append(f"only in the last {size - hit[0]} of {size} positions of spatial dim {j}")
        elif 2 * hit[-1] < size and hit[0] == 0:
            found.append(f"only in the first {hit[-1] + 1} of {size} positions of spatial dim {j}")
    if not found and min(spatial.shape) >= 3:
        interior = np.zeros(spatial.shape, dtype=bool)
        interior[(slice(1, -1),) * ndim] = True
        if spatial.any() and not (spatial & interior).any():
            found.append("only at the border (the first or last position of a spatial dim)")
    return found


def _counts(problem: ConvProblem) -> dict[str, int]:
    """The problem's sizes a sum over the batch or space could have been divided by."""
    n, outputs = problem.grad_y.shape[0], int(np.prod(problem.grad_y.shape[2:]))
    taps = int(np.prod(problem.w.shape[2:]))
    return {"N": n, "prod(O)": outputs, "N * prod(O)": n * outputs, "prod(K)": taps}


def _ratio(ratio: float, counts: dict[str, int]) -> str:
    """``ratio`` as a number, and as ``1/k`` naming the problem's sizes equal to k when it is
    the reciprocal of an integer k > 1 (a fact about the numbers, not a cause)."""
    text = f"{ratio:.6g}"
    if not 0 < ratio < 1:
        return text
    k = round(1 / ratio)
    if k < 2 or abs(k * ratio - 1) > 1e-9:
        return text
    names = [name for name, value in counts.items() if value == k]
    return f"{text} = 1/{k}" + (f", and {k} is {' and '.join(names)} here" if names else "")


def _values(
    got: np.ndarray, expected: np.ndarray, bad: np.ndarray, bound: np.ndarray, counts: dict
) -> str:
    """What the wrong elements hold: zeros, the reference times one constant (named as 1/k of
    the problem's sizes where it is one), or how far off the worst one is."""
    wrong_got, wrong_expected = got[bad], expected[bad]
    if not np.any(wrong_got):
        return "they are 0 where the reference is not"
    norm = float(np.sum(expected * expected))
    if norm > 0 and np.isfinite(got).all():
        ratio = float(np.sum(got * expected)) / norm
        if ratio != 0 and np.all(np.abs(got - ratio * expected) <= bound + 1e-12 * np.abs(got)):
            return (
                f"every element is the right answer times {_ratio(ratio, counts)} (a constant"
                " ratio)"
            )
    if np.all(wrong_expected != 0) and np.isfinite(wrong_got).all():
        ratios = wrong_got / wrong_expected
        if np.allclose(ratios, ratios[0], rtol=1e-9, atol=0) and len(ratios) > 1:
            return (
                f"they are the right answer times {_ratio(float(ratios[0]), counts)} (a constant"
                " ratio)"
            )
    if np.isfinite(wrong_got).all():
        error = np.where(bad, np.abs(got - expected), -1)
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), bad.shape))
        return (
            f"the worst is {got[index]:.6g} at {index} where the reference has"
            f" {expected[index]:.6g}"
        )
    return "some are not finite"


def describe(
    problem: ConvProblem, output: str, got: np.ndarray, expected: np.ndarray, bound: np.ndarray
) -> str:
    """Which elements of ``output`` differ from ``expected`` beyond ``bound`` on ``problem``, and
    in which pattern, as one sentence of facts.

    got, expected, bound: arrays of the output's shape (forward ``(N, C_out, *O)``,
    grad_input ``(N, C_in, *I)``, grad_weight ``(C_out, C_in // groups, *K)``, grad_bias
    ``(C_out,)``). ValueError when their shapes differ.
    """
    if not got.shape == expected.shape == bound.shape:
        raise ValueError(
            f"got {got.shape}, expected {expected.shape} and bound {bound.shape} must have one"
            " shape"
        )
    bad = wrong_elements(got, expected, bound)
    count = int(bad.sum())
    facts = [f"{count} of {bad.size} elements differ from the reference beyond the bound"]
    if count == 0:
        return facts[0].replace(f"{count} of", "none of")
    if output == "grad_bias":
        hit = np.flatnonzero(bad)
        pattern = _channels("output channel", hit, bad.size, problem.resolved.groups)
        facts += [pattern] if pattern else []
    else:
        groups = problem.resolved.groups
        for axis, name in enumerate(_AXES[output]):
            other = tuple(k for k in range(bad.ndim) if k != axis)
            hit = np.flatnonzero(bad.any(axis=other))
            channel = "channel" in name and not (output == "grad_weight" and axis == 1)
            pattern = _channels(name, hit, bad.shape[axis], groups if channel else 1)
            facts += [pattern] if pattern else []
        facts += _spatial(problem, output, bad)
    facts.append(_values(got, expected, bad, bound, _counts(problem)))
    return "; ".join(facts)


__all__ = ["describe", "wrong_elements"]
