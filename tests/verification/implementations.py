"""Implementations and problems the verification tests share: the reference as a user's
implementation, and fixed problems."""

import functools

import numpy as np

import convgrad as cg
from convgrad.verification.problem import ConvProblem

_UNIT_RNG = np.random.default_rng(0)
UNIT_OPERANDS = tuple(_UNIT_RNG.standard_normal(s) for s in ((1, 2, 5), (2, 2, 3), (1, 2, 3)))
"""x, w and grad_y of a small problem with entries of about 1, to be scaled by powers of two."""

FAST = {"max_examples": 25}


def spec_kwargs(spec, **changes):
    kw = {
        "padding": [tuple(p) for p in spec.padding],
        "stride": spec.stride,
        "dilation": spec.dilation,
        "groups": spec.groups,
        "flip": spec.flip,
        "padding_mode": spec.padding_mode,
    }
    kw.update(changes)
    return kw


def ref_forward(x, w, spec):
    return cg.conv(x, w, **spec_kwargs(spec)).astype(x.dtype)


def ref_backward(x, w, grad_y, spec):
    g = cg.conv_backward(x, w, grad_y, **spec_kwargs(spec))
    return tuple(a.astype(x.dtype) for a in g)


def reference_grads(x, w, grad_y, spec, **changes):
    return cg.conv_backward(x, w, grad_y, **spec_kwargs(spec, **changes))


def failure_keys(result):
    return {(f.check, f.output) for f in result.failures}


def fixed_problem(padding="valid", stride=1, x_shape=(2, 3, 7, 6), w_shape=(3, 3, 2, 3)):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    spec = cg.ConvSpec(padding=padding, stride=stride)
    shape = cg.output_shape(x.shape, w.shape, padding=padding, stride=stride)
    return ConvProblem(x, w, None, rng.standard_normal(shape), spec)


def integer_problem(x_shape, w_shape, seed=3, **spec) -> ConvProblem:
    """A problem with nonzero integer data in [-3, 3] (exact in float64) and grad_y."""
    rng = np.random.default_rng(seed)
    y_shape = cg.output_shape(x_shape, w_shape, **{"padding": "valid", **spec})
    x, w, gy = (rng.integers(1, 4, s) * rng.choice((-1, 1), s) for s in (x_shape, w_shape, y_shape))
    x, w, gy = (a.astype(np.float64) for a in (x, w, gy))
    return ConvProblem(x, w, None, gy, cg.ConvSpec(**spec))


def bias_problem(dtype=np.float64) -> ConvProblem:
    rng = np.random.default_rng(5)
    x = rng.integers(-4, 5, (2, 2, 5, 4)).astype(dtype)
    w = rng.integers(-4, 5, (4, 1, 3, 2)).astype(dtype)
    b = np.array([1, -2, 0, 3], dtype=dtype)
    spec = cg.ConvSpec(padding="same", stride=(2, 1), groups=2)
    shape = cg.output_shape(x.shape, w.shape, padding="same", stride=(2, 1), groups=2)
    return ConvProblem(x, w, b, rng.integers(-4, 5, shape).astype(dtype), spec)


def raising_on_groups(error: type[Exception]):
    """A forward that raises ``error`` itself for groups > 1 (module level: importable)."""
    return functools.partial(_raising_on_groups, error)


def _raising_on_groups(error, x, w, spec):
    if spec.groups != 1:
        raise error(f"groups={spec.groups}: not supported here")
    return ref_forward(x, w, spec)
