"""Finite differences, the tests' independent evidence for the reference's gradients: full
Jacobians, directional derivatives, and an exact integer mode.

Step choice (Nocedal & Wright, Numerical Optimization, 2nd ed., §8.1; Higham, Accuracy and
Stability of Numerical Algorithms, §1.14): for a smooth f the central difference
``(f(x + h v) - f(x - h v)) / (2h)`` has truncation error ``O(h^2 |f'''|)`` and rounding error
``O(eps |f| / h)``; the two balance at ``h ~ cbrt(eps) * scale`` (`central_step`).

A convolution is linear in x and in w, so the truncation error is exactly zero and only rounding
is left: its relative size shrinks as h grows, any h works, and the checks take h of the data's
own scale. For a linear map on integer-valued data with an integer step (h = 1), ``x ± h v`` and
``f(x ± h v)`` are integers and, while every partial sum stays below ``2**53``, exact in float64;
so is their difference and the halving: `exact_directional_derivative` needs no tolerance.

Directional derivatives cost two calls of f whatever the size of x (the cheap check for large
problems); a full Jacobian costs two calls per element of x (small problems only), the same
trade-off as ``torch.autograd.gradcheck`` (full) vs ``gradcheck(fast_mode=True)`` (directional).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convgrad.verification.numeric import is_integer_valued

ArrayFunction = Callable[[np.ndarray], np.ndarray]


def central_step(scale: float = 1.0, eps: float = float(np.finfo(np.float64).eps)) -> float:
    """``h = cbrt(eps) * max(scale, 1)``, the central-difference step balancing truncation and
    rounding for a smooth non-linear f (Nocedal & Wright §8.1, eq. 8.8's analysis).

    scale: the magnitude of x (e.g. ``max|x|``); eps: the machine epsilon of f's arithmetic.
    """
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale={scale!r} must be finite and >= 0")
    if not (0 < eps < 1):
        raise ValueError(f"eps={eps!r} must lie in (0, 1)")
    return float(np.cbrt(eps) * max(scale, 1.0))


def _check_step(h: float) -> float:
    if isinstance(h, bool) or not isinstance(h, (int, float, np.integer, np.floating)):
        raise TypeError(f"h={h!r} must be a real number")
    if not np.isfinite(h) or h <= 0:
        raise ValueError(f"h={h!r} must be finite and > 0")
    return float(h)


def directional_derivative(f: ArrayFunction, x: np.ndarray, v: np.ndarray, h: float) -> np.ndarray:
    """``(f(x + h v) - f(x - h v)) / (2h)`` in float64: the derivative of f at x along v.

    x, v: arrays of one shape; f's result is converted with ``np.asarray`` and float64.
    """
    h = _check_step(h)
    x, v = np.asarray(x, dtype=np.float64), np.asarray(v, dtype=np.float64)
    if x.shape != v.shape:
        raise ValueError(f"v has shape {v.shape}; it must have x's shape {x.shape}")
    plus = np.asarray(f(x + h * v), dtype=np.float64)
    minus = np.asarray(f(x - h * v), dtype=np.float64)
    return (plus - minus) / (2 * h)


def exact_directional_derivative(
    f: ArrayFunction, x: np.ndarray, v: np.ndarray, h: int = 1
) -> np.ndarray:
    """The central difference of a linear f on integer data, exact in float64.

    x, v: integer-valued arrays of one shape; h: a positive int. Raises ValueError when x, v or
    ``f(x ± h v)`` are not integer-valued (then f is not linear over the integers, or its values
    left float64's exact range and the result would not be exact).
    """
    if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
        raise ValueError(f"h={h!r} must be an int >= 1 for the exact mode")
    for name, a in (("x", x), ("v", v)):
        if not is_integer_valued(a):
            raise ValueError(f"{name} must be integer-valued (whole numbers below 2**53)")
    plus_x = np.asarray(x, dtype=np.float64) + h * np.asarray(v, dtype=np.float64)
    minus_x = np.asarray(x, dtype=np.float64) - h * np.asarray(v, dtype=np.float64)
    plus, minus = np.asarray(f(plus_x), np.float64), np.asarray(f(minus_x), np.float64)
    for name, a in (("f(x + h v)", plus), ("f(x - h v)", minus)):
        if not is_integer_valued(a):
            raise ValueError(f"{name} is not integer-valued; the exact mode needs integer results")
    return (plus - minus) / (2 * h)


def jacobian(f: ArrayFunction, x: np.ndarray, h: float | None = None) -> np.ndarray:
    """The full Jacobian by central differences, one column per element of x.

    x: any shape (S); f(x): any shape (T) -> J: (prod(T), prod(S)) with
    ``J[:, j] = (f(x + h e_j) - f(x - h e_j)) / (2h)``. h defaults to `central_step` of
    ``max|x|``. Costs ``2 * x.size`` calls of f: for small problems only.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        raise ValueError(f"x has shape {x.shape}; it must have at least one element")
    if h is None:
        h = central_step(float(np.max(np.abs(x))))
    h = _check_step(h)
    columns = []
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = 1.0
        columns.append(directional_derivative(f, x, e.reshape(x.shape), h).ravel())
    return np.stack(columns, axis=1)
