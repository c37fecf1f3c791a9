"""Direct evidence that a realistic bug is wrong, independent of `convgrad.verify`: its
scenario (`tests.zoo_realistic.bugs.SCENARIOS`) played on the witness problem, every result
compared with the oracle (`convgrad.conv`, `convgrad.conv_backward`). The memory layouts are
built here with NumPy alone, not with `convgrad.verification.layout`."""

from __future__ import annotations

import numpy as np
from tests.zoo.bugs import Witness
from tests.zoo.evidence import witness_problem

import convgrad as cg
from convgrad.verification.problem import ConvProblem

OUTPUTS = ("forward", "grad_input", "grad_weight", "grad_bias")


_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-(2**12), 2**12)}
"""Witness values per integer dtype: the whole range of 8-bit types; for int16 a range whose
products pass 2**24 (float32's exact integers) while 18-term sums stay inside int32."""


def integer_problem(witness: Witness, dtype: str, seed: int = 0) -> ConvProblem:
    """The witness's shapes with integer data of ``dtype`` drawn across `_RANGES`."""
    rng = np.random.default_rng(seed)
    lo, hi = _RANGES[dtype]
    spec = cg.ConvSpec(**witness.spec)
    y_shape = cg.output_shape(witness.x, witness.w, **witness.spec)

    def data(shape):
        return rng.integers(lo, hi + 1, shape).astype(dtype)

    return ConvProblem(data(witness.x), data(witness.w), None, data(y_shape), spec)


def problem_for(bug) -> ConvProblem:
    """The bug's witness problem: integer data of its dtype where it has one, else real."""
    if bug.data is None:
        return witness_problem(bug.witness)
    return integer_problem(bug.witness, bug.data)


def reference(problem: ConvProblem) -> dict[str, np.ndarray]:
    """The oracle's four results on ``problem``."""
    p = problem
    grads = cg.conv_backward(p.x, p.w, p.grad_y, **p.kwargs)
    return dict(zip(OUTPUTS, (cg.conv(p.x, p.w, **p.kwargs), *grads), strict=True))


def _wrong(results: dict[str, object], expected: dict[str, np.ndarray]) -> set[str]:
    """The outputs that raised, have another shape, or differ from the oracle."""
    wrong = set()
    for name, got in results.items():
        if isinstance(got, Exception):
            wrong.add(name)
            continue
        got = np.asarray(got)
        if got.shape != expected[name].shape or not np.allclose(got, expected[name], 1e-12, 1e-12):
            wrong.add(name)
    return wrong


def _both(forward, backward, arrays: tuple, spec) -> dict[str, object]:
    """forward(x, w) and backward(x, w, grad_y) on ``arrays`` (x, w, grad_y); an exception
    stands for each result of the call that raised it."""
    results: dict[str, object] = {}
    try:
        results["forward"] = forward(arrays[0], arrays[1], spec)
    except (ValueError, TypeError, IndexError) as error:
        results["forward"] = error
    try:
        results.update(zip(OUTPUTS[1:], backward(*arrays, spec), strict=True))
    except (ValueError, TypeError, IndexError) as error:
        results.update(dict.fromkeys(OUTPUTS[1:], error))
    return results


def single(forward, backward, problem: ConvProblem) -> set[str]:
    """One call of each on the problem."""
    p = problem
    return _wrong(
        _both(forward, backward, (p.x.copy(), p.w.copy(), p.grad_y.copy()), p.resolved),
        reference(p),
    )


def sequence(forward, backward, problem: ConvProblem) -> set[str]:
    """forward and backward on the problem (results kept), forward on other data, backward on
    the problem again, backward on other data; wrong: a kept result that changed, or the
    second backward on the problem."""
    p, spec = problem, problem.resolved
    own = (p.x.copy(), p.w.copy(), p.grad_y.copy())
    other = (2 * p.x + 1, 2 * p.w + 1, 2 * p.grad_y + 1)
    kept = _both(forward, backward, own, spec)
    forward(other[0], other[1], spec)
    again = dict(zip(OUTPUTS[1:], backward(*own, spec), strict=True))
    backward(*other, spec)
    expected = reference(p)
    return _wrong(kept, expected) | _wrong(again, expected)


def repeat(forward, backward, problem: ConvProblem) -> set[str]:
    """Every output whose two results on the same arguments differ (the first kept as a
    copy)."""
    p, spec = problem, problem.resolved
    args = (p.x.copy(), p.w.copy(), p.grad_y.copy())
    first = {k: np.array(v, copy=True) for k, v in _both(forward, backward, args, spec).items()}
    second = _both(forward, backward, args, spec)
    return {k for k in OUTPUTS if not np.array_equal(first[k], np.asarray(second[k]))}


def in_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """``a``'s values in a memory layout of `convgrad.verification.layout.LAYOUTS`, built
    with plain NumPy."""
    if layout == "fortran":
        return np.array(a, order="F")
    if layout == "strided":
        wide = np.repeat(a, 3, axis=-1)
        return wide[..., ::3]
    if layout == "negative_stride":
        return np.flip(np.flip(a).copy())
    frozen = np.array(a)
    frozen.setflags(write=False)
    return frozen


def layout(forward, backward, problem: ConvProblem, name: str) -> set[str]:
    """One call of each on the problem's arrays in layout ``name``."""
    p = problem
    arrays = tuple(in_layout(a, name) for a in (p.x, p.w, p.grad_y))
    return _wrong(_both(forward, backward, arrays, p.resolved), reference(p))


def wrong_outputs(bug, problem: ConvProblem) -> set[str]:
    """The outputs the bug's scenario shows wrong (or unstable, for "repeat")."""
    f, b = bug.forward, bug.backward
    if bug.scenario == "single":
        return single(f, b, problem)
    if bug.scenario == "sequence":
        return sequence(f, b, problem)
    if bug.scenario == "repeat":
        return repeat(f, b, problem)
    return layout(f, b, problem, bug.scenario)
