"""The sizes verify draws: small problems (where most bugs show and shrink to), and realistic
ones that cross the boundaries real kernels switch algorithms at, within a cost budget.

Real kernels block channels by 8 or 16, vectorise W by 8 or 16, tile the batch, and take
separate paths for 1x1, for kernels of 5 or more, for 7x7 stride-2 stems and 11x11 stride-4
ones. A bug in a tail block or a size-specific path passes every problem smaller than its
boundary, so the "realistic" preset draws up to 64 channels, kernels up to 11, sides up to 70
or batches up to 8, with the forward's multiply-adds ``N * C_out * (C_in / g) * prod(K) *
prod(O)`` capped at `REALISTIC_COST` (sizes drawn later are capped by what earlier ones leave:
`convgrad.strategies.conv_problems`' ``max_cost``), so the reference, and the user's code, stay
fast. Each realistic branch widens one axis and keeps the others small; the small branch is
listed first: hypothesis shrinks toward it, so a failure that also shows on a small problem is
reported on one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial

import numpy as np
from hypothesis import strategies as st

from convgrad.verification.integers import INTEGER_DTYPES, products_per_output, value_range
from convgrad.verification.numeric import is_integer_valued
from convgrad.verification.problem import ConvProblem
from convgrad.verification.space import MAX_EXTENT

__all__ = [
    "REALISTIC_COST",
    "SIZES",
    "Sizes",
    "dense",
    "kernel_within",
    "problem_strategy",
    "resolve_sizes",
]


def kernel_within(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    """``kernel`` (one size per spatial dim) with each size whose dilated extent plus one row,
    ``d * (k - 1) + 2``, passes `convgrad.verification.space.MAX_EXTENT` cut to 1: one tap,
    which no dilation moves. A fixed problem (the probe's, the ladder's) stays small whatever
    the dilation, and the implementation is still called with it."""
    fits = zip(kernel, dilation, strict=True)
    return tuple(k if d * (k - 1) + 2 <= MAX_EXTENT else 1 for k, d in fits)


REALISTIC_COST = 2**17
"""Multiply-adds of one realistic problem's forward (131072: a few ms in NumPy, about a second
in a pure-Python loop)."""


@dataclass(frozen=True)
class Sizes:
    """The sizes one branch draws (`convgrad.strategies.conv_problems` keywords)."""

    max_batch: int
    max_channels: int
    max_kernel: int
    max_side: int
    max_cost: int | None = None


_SMALL = Sizes(2, 4, 4, 10)

SIZES: Mapping[str, tuple[Sizes, ...]] = {
    "small": (_SMALL,),
    "realistic": (
        _SMALL,
        replace(_SMALL, max_channels=64, max_cost=REALISTIC_COST),
        replace(_SMALL, max_kernel=11, max_side=24, max_cost=REALISTIC_COST),
        replace(_SMALL, max_side=70, max_cost=REALISTIC_COST),
        replace(_SMALL, max_batch=8, max_cost=REALISTIC_COST),
    ),
}
"""Each preset's branches, the first preferred when shrinking. "realistic" widens one axis per
branch (channels to 64, kernels to 11, sides to 70, batches to 8) with the others small, so a
failure that needs one large size shrinks the others (and that one, down to 1) within its
branch. hypothesis favours small values, so the boundaries themselves are also checked as
fixed problems (`convgrad.verification.ladder`)."""

LIMITS = ("max_batch", "max_channels", "max_kernel", "max_side")


def resolve_sizes(sizes: str, limits: Mapping[str, int | None]) -> tuple[Sizes, ...]:
    """The preset's branches with each given limit (``None``: the preset's): the branches that
    draw the preset's largest value of it draw up to the limit instead, the others at most the
    limit. ValueError for an unknown preset or a limit below 1, TypeError for a limit that is
    not an int."""
    if sizes not in SIZES:
        raise ValueError(f"sizes={sizes!r} must be one of {tuple(SIZES)}")
    branches = SIZES[sizes]
    for name in LIMITS:
        value = limits.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name}={value!r} must be an int or None")
        if value < 1:
            raise ValueError(f"{name}={value!r} must be >= 1")
        widest = max(getattr(b, name) for b in branches)
        branches = tuple(
            replace(
                b, **{name: value if getattr(b, name) == widest else min(value, getattr(b, name))}
            )
            for b in branches
        )
    return branches


def dense(problem: ConvProblem, seed: int, accumulate: str | None = None) -> ConvProblem:
    """``problem`` with every operand refilled from ``numpy.random.default_rng(seed)``:
    integers in [-3, 3] where the problem's data are integer-valued (exact checks stay exact),
    else uniform in [-1, 1]; of the same dtypes and shapes. Seed 0, where hypothesis shrinks
    the seed to, gives ones: the simplest dense data. With ``accumulate`` (integer dtypes),
    integers in the range that keeps every sum in it
    (`convgrad.verification.integers.value_range`).

    hypothesis fills large arrays mostly with one value (often 0), which hides a wrong block
    of a large problem; dense data shows it."""
    rng = np.random.default_rng(seed)
    integer = all(is_integer_valued(a) for a in (problem.x, problem.w, problem.grad_y))
    lo, hi = -3, 3
    if accumulate is not None and problem.x.dtype.name in INTEGER_DTYPES:
        p = problem
        copies = p.input_copies
        terms = products_per_output(p.x.shape, p.w.shape, p.grad_y.shape, p.resolved.groups, copies)
        lo, hi = value_range(p.x.dtype.name, accumulate, terms + (p.b is not None))

    def fill(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        if seed == 0:
            return np.ones(a.shape, a.dtype)
        values = rng.integers(lo, hi + 1, a.shape) if integer else rng.uniform(-1, 1, a.shape)
        return values.astype(a.dtype)

    p = problem
    return ConvProblem(fill(p.x), fill(p.w), fill(p.b), fill(p.grad_y), p.spec)


def problem_strategy(branches: tuple[Sizes, ...], **space) -> st.SearchStrategy:
    """`convgrad.strategies.conv_problems` over ``space`` (its other keywords) for each
    branch, the first branch first; branches with a cost budget get `dense` data."""
    from convgrad.strategies import conv_problems

    refill = partial(dense, accumulate=space.get("accumulate"))

    def strategy(b: Sizes) -> st.SearchStrategy:
        problems = conv_problems(**space, **asdict(b))
        if b.max_cost is None:
            return problems
        return st.builds(refill, problems, st.integers(0, 2**32 - 1))

    return st.one_of(*(strategy(b) for b in branches))
