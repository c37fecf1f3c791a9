"""Direct evidence that a zoo bug is wrong: run it on its witness problem next to the oracle
(`convgrad.conv`, `convgrad.conv_backward`) and list what differs. Independent of
`convgrad.verify`, so the zoo is proven wrong before verify is asked to find it."""

from __future__ import annotations

import numpy as np

import convgrad as cg
from convgrad.problem import ConvProblem

from .bugs import Bug, Witness

OUTPUTS = ("forward", "grad_input", "grad_weight", "grad_bias")


def witness_problem(witness: Witness, seed: int = 0) -> ConvProblem:
    """Real-valued data (so rounding and summation order show) of the witness's shapes."""
    rng = np.random.default_rng(seed)
    spec = cg.ConvSpec(**witness.spec)
    x = rng.standard_normal(witness.x)
    if witness.zero_plane:
        x[0, 0] = 0.0
    w = rng.standard_normal(witness.w)
    y_shape = cg.output_shape(witness.x, witness.w, **{
        k: v for k, v in witness.spec.items() if k != "flip"
    })
    return ConvProblem(x, w, None, rng.standard_normal(y_shape), spec)


def _outputs(bug: Bug, problem: ConvProblem, x, w, grad_y) -> dict[str, object]:
    """Each output, or the exception its call raised."""
    spec = problem.resolved
    try:
        forward = np.asarray(bug.forward(x, w, spec))
    except (ValueError, IndexError) as error:
        forward = error
    try:
        grads = tuple(np.asarray(g) for g in bug.backward(x, w, grad_y, spec))
    except (ValueError, IndexError) as error:
        grads = (error,) * 3
    return dict(zip(OUTPUTS, (forward, *grads), strict=True))


def symptoms(bug: Bug, problem: ConvProblem) -> set[tuple[str, str]]:
    """Every (output, symptom) where the bug departs from the oracle on this problem:
    "raised", "shape", "value", "finite", "determinism" (two calls differ), "no_mutation" (an
    input was changed; reported for "forward" or, from the backward, for each gradient)."""
    ref = cg.conv_backward(problem.x, problem.w, problem.grad_y, **problem.kwargs)
    expected = dict(zip(OUTPUTS, (cg.conv(problem.x, problem.w, **problem.kwargs), *ref),
                        strict=True))
    inputs = (problem.x.copy(), problem.w.copy(), problem.grad_y.copy())
    first = _outputs(bug, problem, *inputs)
    found = set()
    for name, got in first.items():
        if isinstance(got, Exception):
            found.add((name, "raised"))
        elif got.shape != expected[name].shape:
            found.add((name, "shape"))
        elif not np.all(np.isfinite(got)):
            found.add((name, "finite"))
        elif not np.allclose(got, expected[name], rtol=1e-12, atol=1e-12):
            found.add((name, "value"))
    forward_inputs = (inputs[0], inputs[1])
    if any(not np.array_equal(a, b) for a, b in zip(forward_inputs, (problem.x, problem.w))):
        found.add(("forward", "no_mutation"))
    if not np.array_equal(inputs[2], problem.grad_y):
        found |= {(name, "no_mutation") for name in OUTPUTS[1:]}
    second = _outputs(bug, problem, problem.x.copy(), problem.w.copy(), problem.grad_y.copy())
    for name, got in second.items():
        if isinstance(got, Exception) or isinstance(first[name], Exception):
            continue
        if got.shape == first[name].shape and not np.array_equal(got, first[name], equal_nan=True):
            found.add((name, "determinism"))
    return found
