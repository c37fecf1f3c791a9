"""Fixed problems checked beside verify's random search: layers of real networks
(`convgrad.verification.layers`) and one problem per size boundary that kernels switch paths
at (1x1 kernels, 11 and 19 output channels, kernels of 5 and 7, 21 and 67 columns, batches of
5 and 7).

hypothesis draws few distinct large problems in 100 examples and fills them mostly with zeros;
these are few, deterministic (one seed fixes their specs and data) and dense. Each is a `Plan`
(sizes and spec) built with integer data in [-3, 3] (exact comparison) where the search draws
integer data, else real data in [-1, 1]. A failure the search did not find is shrunk greedily
in the plan (each size lowered while the same check on the same output still fails), so it is
reported on a small problem too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from convgrad.shapes import resolve
from convgrad.spec import DEPTHWISE, ConvSpec
from convgrad.verification.layers import LAYERS, Layer, select
from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import ProblemReport
from convgrad.verification.search import Found, family

__all__ = [
    "BOUNDARIES",
    "DEFAULT_LAYERS",
    "Plan",
    "boundary_plans",
    "layer_plans",
    "run_ladder",
    "shrink",
]

BOUNDARIES = (
    ("kernel", 1),
    ("c_out", 11),
    ("c_out", 19),
    ("kernel", 5),
    ("kernel", 7),
    ("side", 21),
    ("side", 67),
    ("batch", 5),
    ("batch", 7),
)
"""(size, value) of each boundary problem; the other sizes stay small."""

DEFAULT_LAYERS = 3
"""Layers of the table checked per verify run when ``layers`` is not given (chosen by seed
among those inside the declared space)."""

SHRINK_STEPS = 60
"""Problems checked while shrinking one fixed problem's failure."""


@dataclass(frozen=True)
class Plan:
    """A problem before data: x ``(batch, c_in, *side)``, w ``(c_out, c_in // g, *kernel)``;
    ``name`` says where it comes from (a layer's name, or the boundary)."""

    name: str
    batch: int
    c_in: int
    c_out: int
    kernel: tuple[int, ...]
    side: tuple[int, ...]
    spec: ConvSpec

    def build(self, seed: int, dtype: str, integer: bool) -> ConvProblem | None:
        """The problem with data from ``numpy.random.default_rng(seed)``; None when the sizes
        do not fit the spec (no output, channels not divisible by the groups)."""
        g = self.spec.groups
        x_shape = (self.batch, self.c_in, *self.side)
        w_shape = (self.c_out, self.c_in // g, *self.kernel)
        try:
            _, dims = resolve(x_shape, w_shape, self.spec)
        except ValueError:
            return None
        rng = np.random.default_rng(seed)

        def data(shape):
            values = rng.integers(-3, 4, shape) if integer else rng.uniform(-1, 1, shape)
            # Unsigned data take the magnitudes (a negative value would wrap to near 255).
            return (np.abs(values) if np.dtype(dtype).kind == "u" else values).astype(dtype)

        y_shape = (self.batch, self.c_out, *(a.output for a in dims))
        return ConvProblem(data(x_shape), data(w_shape), None, data(y_shape), self.spec)


def _in_space(layer: Layer, space: dict) -> bool:
    s = layer.spec
    return (
        len(layer.input) in space["ndim"]
        and s.mode in space["padding"]
        and set(s.stride) <= set(space["stride"])
        and set(s.dilation) <= set(space["dilation"])
        and (
            s.groups in space["groups"] or (DEPTHWISE in space["groups"] and s.groups == layer.c_in)
        )
    )


def _plan(layer: Layer) -> Plan:
    return Plan(
        layer.name, layer.batch, layer.c_in, layer.c_out, layer.kernel, layer.input, layer.spec
    )


def layer_plans(layers: str | Sequence[str] | None, space: dict, seed: int) -> list[Plan]:
    """The layers to check: those named (any space), or with None `DEFAULT_LAYERS` of those
    inside ``space`` (keywords of verify as tuples), rotated by ``seed``."""
    if layers is not None:
        return [_plan(layer) for layer in select(layers)]
    inside = [layer for layer in LAYERS if _in_space(layer, space)]
    if not inside:
        return []
    start = seed * DEFAULT_LAYERS % len(inside)
    chosen = [inside[(start + j) % len(inside)] for j in range(min(DEFAULT_LAYERS, len(inside)))]
    return [_plan(layer) for layer in chosen]


def boundary_plans(space: dict, seed: int) -> list[Plan]:
    """One plan per `BOUNDARIES` entry: 1 sample, 2 channels per group in and out (for
    "depthwise": groups 2, one input channel per group, multiplier 2), kernel 3,
    side 6 (or the smallest input that fits), but for the boundary's size. Every second plan
    takes the first value of each of ``space``'s tuples (keywords of verify: valid, stride 1,
    groups 1 by default), the others a spec drawn from ``space`` by ``seed``."""
    rng = np.random.default_rng(seed)
    plans = []
    for j, (size, value) in enumerate(BOUNDARIES):

        def pick(name: str, canonical: bool = j % 2 == 1) -> object:
            options = space[name]
            return options[0] if canonical else options[int(rng.integers(len(options)))]

        rank = int(pick("ndim"))
        mode = str(pick("padding"))
        padding = (
            tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(rank))
            if mode == "explicit"
            else mode
        )
        stride = tuple(int(pick("stride")) for _ in range(rank))
        dilation = tuple(int(pick("dilation")) for _ in range(rank))
        groups = pick("groups")
        depthwise = groups == DEPTHWISE
        spec = ConvSpec(padding, stride, dilation, 2 if depthwise else int(groups))
        g = spec.groups
        kernel = (value,) * rank if size == "kernel" else (3,) * rank
        side = [6] * rank
        if size == "side":
            side[-1] = value
        # Wide enough for the dilated kernel whatever the pads.
        fits = zip(side, kernel, spec.dilation, strict=True)
        side = tuple(max(n, d * (k - 1) + 1) for n, k, d in fits)
        c_out = -(-value // g) * g if size == "c_out" else 2 * g
        batch = value if size == "batch" else 1
        # Depthwise: one input channel per group, so C_out = multiplier * C_in.
        c_in = g if depthwise else 2 * g
        plans.append(Plan(f"boundary {size}={value}", batch, c_in, c_out, kernel, side, spec))
    return plans


def _smaller(plan: Plan) -> list[Plan]:
    """Candidate plans, each one size lowered (to its smallest, then halved, then by one)."""
    g = plan.spec.groups
    out = []

    def lower(value: int, smallest: int, step: int = 1) -> list[int]:
        options = (smallest, value // 2 // step * step, value - step)
        return sorted({v for v in options if smallest <= v < value})

    for v in lower(plan.batch, 1):
        out.append(replace(plan, batch=v))
    for v in lower(plan.c_out, g, g):
        out.append(replace(plan, c_out=v))
    for v in lower(plan.c_in, g, g):
        out.append(replace(plan, c_in=v))
    for j in range(len(plan.side)):
        for v in lower(plan.side[j], 1):
            out.append(replace(plan, side=(*plan.side[:j], v, *plan.side[j + 1 :])))
    for j in range(len(plan.kernel)):
        for v in lower(plan.kernel[j], 1):
            out.append(replace(plan, kernel=(*plan.kernel[:j], v, *plan.kernel[j + 1 :])))
    return out


def run_ladder(
    plans: Sequence[Plan],
    check: Callable[[ConvProblem], ProblemReport],
    found: dict[tuple[str, str], Found],
    *,
    seed: int,
    dtype: str,
    integer: bool,
    max_failures: int,
) -> int:
    """Check each plan's problem; each failing (check, output) not in ``found`` is shrunk
    (`shrink`) and added to ``found`` (up to ``max_failures``). Returns the problems checked."""
    checked = 0

    def build(plan: Plan) -> ConvProblem | None:
        return plan.build(seed, dtype, integer)

    for plan in plans:
        problem = build(plan)
        if problem is None or len(found) >= max_failures:
            continue
        checked += 1
        for result in check(problem).failures:
            key = family(result)
            if key in found or len(found) >= max_failures:
                continue

            def fails(p: ConvProblem, key=key) -> bool:
                return any(family(r) == key for r in check(p).failures)

            small = shrink(plan, build, fails)
            report = check(small)
            first = next(r for r in report.failures if family(r) == key)
            note = f"(found on the fixed problem {plan.name!r}, then shrunk) "
            found[key] = Found(
                small, report, dataclasses.replace(first, message=note + first.message)
            )
    return checked


def shrink(
    plan: Plan, build: Callable[[Plan], ConvProblem | None], fails: Callable[[ConvProblem], bool]
) -> ConvProblem:
    """Greedy: the first smaller plan (`_smaller`) whose problem still ``fails`` replaces the
    plan, until none does or `SHRINK_STEPS` problems are checked; the last failing problem."""
    problem = build(plan)
    steps = 0
    progress = True
    while progress and steps < SHRINK_STEPS:
        progress = False
        for candidate in _smaller(plan):
            trial = build(candidate)
            if trial is None:
                continue
            steps += 1
            if fails(trial):
                plan, problem, progress = candidate, trial, True
                break
            if steps >= SHRINK_STEPS:
                break
    return problem
