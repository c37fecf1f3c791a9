"""Fixed problems checked before verify's random search: small canonical problems (one per
value of each axis of the space, as the capability probe's), layers of real networks
(`convgrad.verification.layers`) and one problem per size boundary that kernels switch paths
at (1x1 kernels, 11 and 19 output channels, kernels of 5 and 7, 21 and 67 columns, batches of
5 and 7).

Most bugs show on a canonical problem, which is small already: the failure is reported after a
few greedy shrinking steps, without hypothesis' search and shrinker.

hypothesis draws few distinct large problems in 100 examples and fills them mostly with zeros;
these are few, deterministic (one seed fixes their specs and data) and dense. Each is a `Plan`
(sizes and spec) built with nonzero integer data in [-3, 3] (exact comparison) where the search
draws integer data, else real data in [-1, 1]. A failure is shrunk greedily in the plan (each
size lowered while the same check on the same output still fails), so it is reported on a small
problem too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from convgrad.shapes import resolve
from convgrad.spec import DEPTHWISE, ConvSpec
from convgrad.verification.layers import LAYERS, Layer, select
from convgrad.verification.probe import AXES
from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import EXTRA_CHECKS, ProblemReport
from convgrad.verification.search import Found, family
from convgrad.verification.sizes import kernel_within

__all__ = [
    "BOUNDARIES",
    "DEFAULT_LAYERS",
    "Plan",
    "boundary_plans",
    "canonical_plans",
    "layer_plans",
    "run_ladder",
    "search_budget",
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

AFTER_FAILURE = 10
"""Once the fixed problems have failed, the random search draws this many times fewer
problems (`search_budget`)."""


def search_budget(max_examples: int, *, failed: bool) -> int:
    """Problems verify's random search draws after the fixed problems: ``max_examples``, or
    when they ``failed`` a tenth of it (at least 1). The verdict is known then and the
    failures of one mistake show together on the first problem it breaks; the shorter search
    still looks for a mistake of another kind, and a run after the fix draws them all."""
    return max(1, max_examples // AFTER_FAILURE) if failed else max_examples


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
    real: bool = False
    """Real data in [-1, 1] even where the run draws integer data."""

    def build(self, seed: int, dtype: str, integer: bool) -> ConvProblem | None:
        """The problem with data from ``numpy.random.default_rng(seed)`` (integer data when
        ``integer`` and not ``real``); None when the sizes do not fit the spec (no output,
        channels not divisible by the groups, pads a reflect or circular mode cannot fill)."""
        integer = integer and not self.real
        g = self.spec.groups
        x_shape = (self.batch, self.c_in, *self.side)
        w_shape = (self.c_out, self.c_in // g, *self.kernel)
        try:
            _, dims = resolve(x_shape, w_shape, self.spec)
        except ValueError:
            return None
        rng = np.random.default_rng(seed)

        def data(shape):
            # Integers without 0: no entry is blank, so a term dropped or doubled shows even
            # on the 1x1 problems shrinking ends at.
            values = rng.choice(_NONZERO, shape) if integer else rng.uniform(-1, 1, shape)
            # Unsigned data take the magnitudes (a negative value would wrap to near 255).
            return (np.abs(values) if np.dtype(dtype).kind == "u" else values).astype(dtype)

        y_shape = (self.batch, self.c_out, *(a.output for a in dims))
        return ConvProblem(data(x_shape), data(w_shape), None, data(y_shape), self.spec)


_OPTIONAL = {"flip": (False,), "padding_mode": ("zeros",)}
"""The values of the axes a space may leave out."""


def _axis(space: dict, axis: str) -> tuple:
    """``space[axis]``, or `_OPTIONAL`'s values for an axis the space leaves out."""
    return space[axis] if axis in space else _OPTIONAL[axis]


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
        and s.flip in _axis(space, "flip")
        and s.padding_mode in _axis(space, "padding_mode")
    )


_NONZERO = (-3, -2, -1, 1, 2, 3)
"""The integer data of the fixed problems."""

_KERNEL, _SIDE = (2, 3, 2), (5, 6, 4)
"""A canonical problem's kernel and input sides (first ``ndim`` of each): non-square, the
stride 2 leaves a remainder in every dim, and 'same' pads are uneven."""
_EXPLICIT = ((1, 2), (2, 0), (0, 1))
"""A canonical problem's explicit pads: asymmetric, zero on one side in some dims."""


def _canonical_spec(settings: dict) -> ConvSpec:
    rank, padding = settings["ndim"], settings["padding"]
    return ConvSpec(
        padding=_EXPLICIT[:rank] if padding == "explicit" else padding,
        stride=(settings["stride"],) * rank,
        dilation=(settings["dilation"],) * rank,
        groups=settings["groups"],
        flip=settings["flip"],
        padding_mode=settings["padding_mode"],
    )


def canonical_plans(space: dict, real: bool) -> list[Plan]:
    """Small problems, the search's first: a baseline (the first value of each of ``space``'s
    tuples, keywords of verify; stride, dilation and groups 1 where allowed), the baseline
    with real data when ``real``, then the baseline with one axis changed to each of its other
    values. 2 samples, 2 input and 3 output channels per group (groups "depthwise": 2 groups
    of one input channel, multiplier 2), kernel 2x3, input 5x6 (3-D: a third dim of kernel 2
    and side 4; inputs widened to fit dilated kernels)."""
    choices = {k: _axis(space, k) for k in AXES}
    base = {k: v[0] for k, v in choices.items()}
    for axis in ("stride", "dilation", "groups"):
        if 1 in choices[axis]:
            base[axis] = 1
    rows = [("baseline", base)]
    if real:
        rows.append(("baseline, real data", base))
    rows += [
        (f"{axis}={value!r}", {**base, axis: value})
        for axis, values in choices.items()
        for value in values
        if value != base[axis]
    ]
    plans = []
    for name, settings in rows:
        # "depthwise": groups 2 of one input channel each, channel multiplier 2.
        depthwise = settings["groups"] == DEPTHWISE
        spec = _canonical_spec({**settings, "groups": 2} if depthwise else settings)
        g, rank = spec.groups, settings["ndim"]
        c_in, c_out = (g, 2 * g) if depthwise else (2 * g, 3 * g)
        kernel = kernel_within(_KERNEL[:rank], spec.dilation)
        fits = zip(_SIDE[:rank], kernel, spec.dilation, strict=True)
        side = tuple(max(n, d * (k - 1) + 2) for n, k, d in fits)
        plan = Plan(f"canonical {name}", 2, c_in, c_out, kernel, side, spec, "real" in name)
        plans.append(plan)
    return plans


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
    groups 1 by default), the others a spec drawn from ``space`` by ``seed``; flip and padding
    mode are always the first."""
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
        groups = pick("groups")
        depthwise = groups == DEPTHWISE
        spec = ConvSpec(
            padding=padding,
            stride=tuple(int(pick("stride")) for _ in range(rank)),
            dilation=tuple(int(pick("dilation")) for _ in range(rank)),
            groups=2 if depthwise else int(groups),
            flip=bool(_axis(space, "flip")[0]),
            padding_mode=str(_axis(space, "padding_mode")[0]),
        )
        g = spec.groups
        kernel = kernel_within((value if size == "kernel" else 3,) * rank, spec.dilation)
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
    check: Callable[[ConvProblem, bool], ProblemReport],
    found: dict[tuple[str, str], Found],
    *,
    seed: int,
    dtype: str,
    integer: bool,
    max_failures: int,
) -> int:
    """Check each plan's problem (with the extra checks: ``check(problem, True)``); each
    failing (check, output) not in ``found`` is shrunk (`shrink`, with the extra checks only
    for a failure of one of them) and added to ``found`` (up to ``max_failures``). Returns the
    problems checked."""
    checked = 0

    def build(plan: Plan) -> ConvProblem | None:
        return plan.build(seed, dtype, integer)

    def rebuild(plan: Plan) -> ConvProblem | None:
        return plan.build(seed + 1, dtype, integer)

    for plan in plans:
        problem = build(plan)
        if problem is None or len(found) >= max_failures:
            continue
        checked += 1
        # The failures of one mistake mostly shrink alike: each starts from the plan the
        # previous one shrank to, where it fails there too.
        start = plan
        for result in check(problem, True).failures:
            key = family(result)
            if key in found or len(found) >= max_failures:
                continue
            extra = key[0] in EXTRA_CHECKS

            def fails(p: ConvProblem, key=key, extra=extra) -> bool:
                return any(family(r) == key for r in check(p, extra).failures)

            if start is not plan and not fails(build(start)):
                start = plan
            start, small = _shrunk(start, build, fails, rebuild)
            report = check(small, extra)
            first = next(r for r in report.failures if family(r) == key)
            note = f" (found on the fixed problem {plan.name!r}, then shrunk)"
            found[key] = Found(
                small, report, dataclasses.replace(first, message=first.message + note)
            )
    return checked


def shrink(
    plan: Plan, build: Callable[[Plan], ConvProblem | None], fails: Callable[[ConvProblem], bool]
) -> ConvProblem:
    """Greedy: the first smaller plan (`_smaller`) whose problem still ``fails`` replaces the
    plan, until none does or `SHRINK_STEPS` problems are checked; the last failing problem."""
    return _shrunk(plan, build, fails)[1]


def _shrunk(
    plan: Plan,
    build: Callable[[Plan], ConvProblem | None],
    fails: Callable[[ConvProblem], bool],
    rebuild: Callable[[Plan], ConvProblem | None] | None = None,
) -> tuple[Plan, ConvProblem]:
    """`shrink`'s last failing plan and its problem; a candidate that passes is tried again
    with the data of ``rebuild`` when given (on a problem of a few entries, equal data can hide
    a mistake: a kernel [a, a] is its own rotation)."""
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
            failing = trial if fails(trial) else None
            if failing is None and rebuild is not None:
                steps += 1
                again = rebuild(candidate)
                failing = again if again is not None and fails(again) else None
            if failing is not None:
                plan, problem, progress = candidate, failing, True
                break
            if steps >= SHRINK_STEPS:
                break
    return plan, problem
