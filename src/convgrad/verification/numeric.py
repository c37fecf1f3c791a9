"""Numbers for the derivative checks: which data are integer-valued (the exact regime) and
random directions that keep integer data integer.

A convolution is linear in x and in w, so a central difference has no truncation error and only
rounding is left: the finite-difference check takes a step of the data's own scale (see
`convgrad.verification.runner`). For a linear map on integer-valued data with an integer step
(h = 1), ``x ± h v`` and ``f(x ± h v)`` are integers and, while every partial sum stays below
`EXACT_LIMIT`, exact in float64: so is their difference and the halving.
"""

from __future__ import annotations

import numpy as np

EXACT_LIMIT = 2.0**53
"""Integers up to this magnitude are exact in float64."""


def is_integer_valued(a: np.ndarray) -> bool:
    """True when every element is a finite whole number within float64's exact range."""
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return True
    if a.dtype.kind != "f":
        return False
    wide = a.astype(np.float64)
    return bool(
        np.all(np.isfinite(wide))
        and np.all(wide == np.round(wide))
        and np.all(np.abs(wide) <= EXACT_LIMIT)
    )


def random_direction(
    shape: tuple[int, ...], rng: np.random.Generator, *, integer: bool
) -> np.ndarray:
    """A random direction of this shape: entries in {-1, 0, 1} when ``integer`` (keeps exact
    data exact), standard normal otherwise."""
    if integer:
        return rng.integers(-1, 2, size=shape).astype(np.float64)
    return rng.standard_normal(shape)


__all__ = ["EXACT_LIMIT", "is_integer_valued", "random_direction"]
