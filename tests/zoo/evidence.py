"""Direct evidence that a zoo bug is wrong: run it on its witness problem next to the oracle
(`convgrad.conv`, `convgrad.conv_backward`) and list what differs. Independent of
`convgrad.verify`, so the zoo is proven wrong before verify is asked to find it."""

from __future__ import annotations

import numpy as np

import convgrad as cg
from convgrad.verification.problem import ConvProblem

from .bugs import Witness

OUTPUTS = ("forward", "grad_input", "grad_weight", "grad_bias")


def witness_problem(witness: Witness, seed: int = 0) -> ConvProblem:
    """Real-valued data (so rounding and summation order show) of the witness's shapes."""
    rng = np.random.default_rng(seed)
    spec = cg.ConvSpec(**witness.spec)
    x = rng.standard_normal(witness.x)
    if witness.zero_plane:
        x[0, 0] = 0.0
    w = rng.standard_normal(witness.w)
    y_shape = cg.output_shape(
        witness.x,
        witness.w,
        **{k: v for k, v in witness.spec.items() if k not in ("flip", "padding_mode")},
    )
    return ConvProblem(x, w, None, rng.standard_normal(y_shape), spec)


def _call(fn, *args) -> tuple[object, tuple[np.ndarray, ...]]:
    """fn on copies of the arrays: (its result or the exception it raised, the copies after)."""
    copies = tuple(np.array(a, copy=True) for a in args[:-1])
    try:
        return fn(*copies, args[-1]), copies
    except (ValueError, IndexError) as error:
        return error, copies


def _outputs(forward, backward, problem: ConvProblem) -> tuple[dict, set]:
    """Each output (an array, or the exception its call raised) and the mutated-input
    symptoms."""
    p, spec = problem, problem.resolved
    y, after_forward = _call(forward, p.x, p.w, spec)
    grads, after_backward = _call(backward, p.x, p.w, p.grad_y, spec)
    if isinstance(grads, Exception):
        grads = (grads,) * 3
    results = (y, *grads)
    outputs = {
        name: r if isinstance(r, Exception) else np.asarray(r)
        for name, r in zip(OUTPUTS, results, strict=True)
    }
    mutated = set()
    for name, before, after in (
        ("forward", (p.x, p.w), after_forward),
        ("backward", (p.x, p.w, p.grad_y), after_backward),
    ):
        if any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
            mutated.add((name, "no_mutation"))
    return outputs, mutated


def symptoms(forward, backward, problem: ConvProblem) -> set[tuple[str, str]]:
    """Every (output, symptom) where a layer departs from the oracle on this problem:
    "raised", "shape", "value", "finite", "determinism" (two calls differ), "no_mutation" (an
    input was changed; reported for "forward" or "backward", as
    `convgrad.verification.checks` does)."""
    ref = cg.conv_backward(problem.x, problem.w, problem.grad_y, **problem.kwargs)
    expected = dict(
        zip(OUTPUTS, (cg.conv(problem.x, problem.w, **problem.kwargs), *ref), strict=True)
    )
    first, found = _outputs(forward, backward, problem)
    for name, got in first.items():
        if isinstance(got, Exception):
            found.add((name, "raised"))
        elif got.shape != expected[name].shape:
            found.add((name, "shape"))
        elif not np.all(np.isfinite(got)):
            found.add((name, "finite"))
        elif not np.allclose(got, expected[name], rtol=1e-12, atol=1e-12):
            found.add((name, "value"))
    second, _ = _outputs(forward, backward, problem)
    for name, got in second.items():
        if isinstance(got, Exception) or isinstance(first[name], Exception):
            continue
        if got.shape == first[name].shape and not np.array_equal(got, first[name], equal_nan=True):
            found.add((name, "determinism"))
    return found
