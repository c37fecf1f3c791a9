"""Rigorous elementwise error bounds for a convolution and its gradients, and comparisons.

Model (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., §3.1, eq. 3.5): a sum of
n products computed in any order in a precision with unit roundoff u is within
``gamma_n * sum|a_i b_i|`` of the exact sum, ``gamma_n = n u / (1 - n u)``. Every output of a
convolution and of each gradient is such a sum, so elementwise

    forward      |err| <= gamma_n * (|x| conv |w| + |b|)      n = C_in/g * prod(K) (+1 with bias)
    grad_input   |err| <= gamma_n * conv_transpose(|grad_y|, |w|)       n = C_out/g * prod(K)
    grad_weight  |err| <= gamma_n * grad_weight(|x|, |grad_y|)          n = N * prod(O)
    grad_bias    |err| <= gamma_n * sum |grad_y|                        n = N * prod(O)

with the "magnitude" on the right computed by the reference itself on absolute values.

An implementation under test accumulates in unit roundoff ``u_a`` (its declared accumulation
dtype, by default the data dtype: the worst case, so float32 accumulation of float16 data also
passes) and then rounds to its output dtype (``u_o``), adding ``u_o * |y_acc|`` where
``|y_acc| <= |y| + gamma_n(u_a) * M``. The oracle compares with its own float64 result, which is
itself within ``gamma_n(u_64) * M`` of the exact value, and the magnitude M it computes is low by
at most a factor ``1 - gamma_n(u_64)``. Gradual underflow adds at most half the smallest
subnormal per operation (Higham §2.1); the bound uses a whole one, ``eta``, because half of
float64's smallest subnormal is not representable (it rounds to 0). Altogether, with safety
factor s applied to the implementation's share only:

    |got - ref| <= s * [(1 + u_o) gamma_n(u_a) M' + u_o (|ref| + gamma_n(u_64) M')
                        + (1 + u_o) n eta_a + eta_o]  +  gamma_n(u_64) M' + n eta_64
    M' = M / (1 - gamma_n(u_64))

so a correct float64 implementation never fails, whatever its summation order. When
``n u_a >= 1`` no worst-case bound exists; the bound is then infinite (the value check cannot
fail and says so), and the adjoint and finite-difference checks still apply.

Scalar identities (`adjoint_sides`, `finite_difference_tolerance`, `linearity_bound`) compare
the user's forward with the user's own backward, so their tolerances must hold whatever
convention (flip, pad side, axis order) the implementation follows: they use "free" magnitudes
(`free_magnitudes`), bounds on ``sum |products|`` of any output valid for every convention, and
add the float64 rounding of the dot products that form each side (Higham §3.1 again, plus
gradual underflow per term). Each function's docstring gives its derivation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import prod

import numpy as np

from convgrad.reference import Grads, conv, conv_backward
from convgrad.reference.padding import fold_count
from convgrad.spec import ConvSpec
from convgrad.verification.numeric import EXACT_LIMIT

FLOAT_DTYPES = ("float16", "float32", "float64")

_U64 = 2.0**-53
_ETA64 = float(np.finfo(np.float64).smallest_subnormal)
_BOUND_ROUNDING = 1 + 16 * _U64
"""Covers the float64 rounding of evaluating the bound formula itself (a dozen operations)."""


def _float_dtype(name: str, value: object) -> np.dtype:
    try:
        dtype = np.dtype(value)
    except TypeError as err:
        raise TypeError(f"{name}={value!r} is not a dtype; use one of {FLOAT_DTYPES}") from err
    if dtype.name not in FLOAT_DTYPES:
        raise ValueError(f"{name}={value!r} must be one of {FLOAT_DTYPES}")
    return dtype


def unit_roundoff(dtype: object) -> float:
    """``u = 2**-p`` for a p-bit significand: float16 2**-11, float32 2**-24, float64 2**-53
    (IEEE 754 round to nearest; Higham Table 2.1)."""
    return 2.0 ** -(np.finfo(_float_dtype("dtype", dtype)).nmant + 1)


def gamma(n: int, u: float) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)`` (Lemma 3.1); ValueError unless ``n u < 1``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n={n!r} must be an int")
    if n < 0:
        raise ValueError(f"n={n!r} must be >= 0")
    if not (0 <= u < 1) or math.isnan(u):
        raise ValueError(f"u={u!r} must lie in [0, 1)")
    if n * u >= 1:
        raise ValueError(f"gamma_n needs n*u < 1; n={n}, u={u!r} gives n*u={n * u!r}")
    return n * u / (1 - n * u)


@dataclass(frozen=True)
class Precision:
    """The arithmetic an implementation under test is held to.

    dtype: the data dtype (float16 / float32 / float64); accumulate: the dtype its sums are
    carried in (None: the data dtype, the worst case); out: the dtype of its results (None: the
    data dtype); safety: a factor >= 1 on its share of the bound, for algorithms outside the
    sum-of-products model (FFT, Winograd) or TF32 hardware.
    """

    dtype: str = "float64"
    accumulate: str | None = None
    out: str | None = None
    safety: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", _float_dtype("dtype", self.dtype).name)
        for name in ("accumulate", "out"):
            value = getattr(self, name)
            object.__setattr__(
                self, name, self.dtype if value is None else _float_dtype(name, value).name
            )
        safety = self.safety
        if isinstance(safety, bool) or not isinstance(
            safety, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"safety={safety!r} must be a real number")
        if not math.isfinite(safety) or safety < 1:
            raise ValueError(f"safety={safety!r} must be finite and >= 1")
        object.__setattr__(self, "safety", float(safety))

    @property
    def exact_limit(self) -> float:
        """Integers up to this magnitude are exact in both the accumulation and output dtype."""
        return 2.0 ** min(np.finfo(self.accumulate).nmant + 1, np.finfo(self.out).nmant + 1)

    def has_bound(self, n: int) -> bool:
        """Whether the worst-case bound exists for sums of n products (``n u_a < 1``)."""
        return n * unit_roundoff(self.accumulate) < 1

    def bound(self, n: int, magnitude: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """The elementwise bound on ``|got - reference|`` (module docstring) for results that
        are sums of n products whose absolute values sum to ``magnitude`` (float64 arrays of one
        shape)."""
        magnitude = np.asarray(magnitude, dtype=np.float64)
        if not self.has_bound(n):
            return np.full(magnitude.shape, np.inf)
        u_a, u_o = unit_roundoff(self.accumulate), unit_roundoff(self.out)
        eta_a = float(np.finfo(self.accumulate).smallest_subnormal)
        eta_o = float(np.finfo(self.out).smallest_subnormal)
        g_a, g_64 = gamma(n, u_a), gamma(n, _U64)
        # The formula of the module docstring gathered into c_m * M + c_r * |ref| + c_0, so that
        # a large output costs three array operations.
        c_m = (self.safety * ((1 + u_o) * g_a + u_o * g_64) + g_64) / (1 - g_64)
        c_r = self.safety * u_o
        c_0 = self.safety * ((1 + u_o) * n * eta_a + eta_o) + n * _ETA64
        bound = c_m * magnitude
        bound += c_r * np.abs(reference)
        bound += c_0
        bound *= _BOUND_ROUNDING
        return bound


def _abs(a):
    return None if a is None else np.abs(np.asarray(a, dtype=np.float64))


def forward_terms(w_shape: tuple[int, ...], has_bias: bool) -> int:
    """n for the forward: ``C_in/g * prod(K)`` products, plus one addend for a bias."""
    return w_shape[1] * prod(w_shape[2:]) + int(has_bias)


def forward_magnitude(x, w, b=None, **conv_kwargs) -> np.ndarray:
    """``|x| conv |w| + |b|`` by the reference: (N, C_out, *O)."""
    return conv(_abs(x), _abs(w), _abs(b), **conv_kwargs)


def forward_bound(
    x, w, reference: np.ndarray, b=None, *, precision: Precision, **conv_kwargs
) -> np.ndarray:
    """Elementwise bound on an implementation's forward error against ``reference``
    (the oracle's ``conv(x, w, b, **conv_kwargs)``), shape (N, C_out, *O)."""
    n = forward_terms(np.shape(w), b is not None)
    return precision.bound(n, forward_magnitude(x, w, b, **conv_kwargs), reference)


def gradient_terms(
    w_shape: tuple[int, ...], grad_y_shape: tuple[int, ...], groups: int, copies: int = 1
):
    """n for (grad_input, grad_weight, grad_bias): ``C_out/g * prod(K) * copies``,
    ``N * prod(O)``, ``N * prod(O)``; copies: the most padded positions that copy one input
    element (`convgrad.ConvProblem.input_copies`; 1 for zero padding), whose gradients the
    folded grad_input adds."""
    n_input = (w_shape[0] // groups) * prod(w_shape[2:]) * copies
    n_weight = grad_y_shape[0] * prod(grad_y_shape[2:])
    return n_input, n_weight, n_weight


def gradient_magnitudes(x, w, grad_y, **conv_kwargs) -> Grads:
    """One reference backward pass on ``|x|, |w|, |grad_y|``: the magnitudes
    ``conv_transpose(|grad_y|, |w|)`` (x's shape), ``grad_weight(|x|, |grad_y|)`` (w's shape)
    and ``sum |grad_y|`` ((C_out,))."""
    return conv_backward(_abs(x), _abs(w), _abs(grad_y), **conv_kwargs)


def _copies(x, w, conv_kwargs: dict) -> int:
    """`gradient_terms`'s copies for the layer of these operands and reference kwargs."""
    mode = conv_kwargs.get("padding_mode", "zeros")
    if mode == "zeros":
        return 1
    spec = ConvSpec(**{k: v for k, v in conv_kwargs.items() if k in ConvSpec.__dataclass_fields__})
    resolved = spec.resolve(np.shape(x)[2:], np.shape(w)[2:])
    return fold_count(mode, resolved.padding, np.shape(x)[2:])


def gradient_bounds(
    x, w, grad_y, reference: Grads, *, precision: Precision, **conv_kwargs
) -> Grads:
    """Elementwise bounds on an implementation's gradients against the oracle's ``reference``
    (``conv_backward(x, w, grad_y, **conv_kwargs)``): Grads of shapes x, w and (C_out,)."""
    magnitude = gradient_magnitudes(x, w, grad_y, **conv_kwargs)
    terms = gradient_terms(
        np.shape(w), np.shape(grad_y), conv_kwargs.get("groups", 1), _copies(x, w, conv_kwargs)
    )
    return Grads(
        *(precision.bound(n, m, r) for n, m, r in zip(terms, magnitude, reference, strict=True))
    )


def dot(a: np.ndarray, b: np.ndarray | float) -> float:
    """``sum(a * b)`` in float64."""
    return float(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64)))


def abs_dot(a: np.ndarray, b: np.ndarray | float) -> float:
    """``sum |a * b|`` in float64: the magnitude of `dot`'s sum."""
    return float(np.sum(np.abs(np.asarray(a, np.float64) * np.asarray(b, np.float64))))


def dot_rounding(size: int, magnitude: float) -> float:
    """Higham's bound on a float64 dot product of ``size`` terms with ``sum|a_i b_i|``, plus
    gradual underflow (Higham §2.1): each term's product, and each of its operands where the
    caller scaled them by a power of two, may lose half the smallest subnormal (a whole one
    counted, as in `Precision.bound`)."""
    return gamma(size, _U64) * magnitude + 2 * size * _ETA64


def binary_exponent(magnitude: float) -> int:
    """e with ``magnitude = m * 2**e``, 0.5 <= m < 1 (`numpy.frexp`); 0 for 0, inf or NaN."""
    return int(np.frexp(magnitude)[1]) if 0 < magnitude < math.inf else 0


def scaled(a: np.ndarray | float, exponent: int) -> np.ndarray:
    """``a * 2**-exponent`` in float64: exact unless an element leaves the normal range."""
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(np.asarray(a, np.float64), -exponent)


def free_forward_magnitude(x: np.ndarray, w: np.ndarray) -> float:
    """``max|x| * max_o sum_{c,k} |w[o, c, k]|``: at least any forward output's magnitude,
    whatever the convention (each output multiplies x entries with one output channel's
    weights, each weight once)."""
    aw = np.abs(np.asarray(w, np.float64))
    return float(np.max(np.abs(x))) * float(aw.reshape(aw.shape[0], -1).sum(axis=1).max())


def free_magnitudes(
    x: np.ndarray, w: np.ndarray, grad_y: np.ndarray, copies: int = 1
) -> dict[str, float]:
    """Bounds on ``sum |products|`` of any output of the forward, grad_input and grad_weight
    that hold whatever convention (flip, pad side, axis order) the implementation follows: each
    forward output multiplies x entries with one output channel's weights once each, each
    grad_input entry grad_y entries with the weights of every output channel once each (up to
    ``copies`` times each where a padding mode copies an input element into the pads:
    `gradient_terms`), each grad_weight entry x entries with one output channel's grad_y once
    each."""
    ax, aw, ag = (np.abs(np.asarray(a, np.float64)) for a in (x, w, grad_y))
    spatial_w = tuple(range(2, aw.ndim))
    return {
        "forward": free_forward_magnitude(x, w),
        "grad_input": copies * float(ag.max()) * float(aw.sum(axis=(0, *spatial_w)).max()),
        "grad_weight": float(ax.max()) * float(ag.sum(axis=(0, *range(2, ag.ndim))).max()),
    }


def free_bound(precision: Precision, n: int, magnitude: float) -> float:
    """`Precision.bound` for any output of magnitude at most ``magnitude``: the bound grows
    with the magnitude and the reference value is at most the magnitude."""
    m = np.float64(magnitude)
    return float(precision.bound(n, m, m))


def exact_within(precision: Precision, integer: bool, magnitude: float) -> bool:
    """Whether results of this magnitude on integer data are exact in ``precision``."""
    return integer and magnitude <= precision.exact_limit


def linearity_bound(
    precision: Precision, n: int, magnitude: float, parts: np.ndarray, *, integer: bool
) -> np.ndarray:
    """Elementwise bound on ``|forward(a + b) - (forward(a) + forward(b))|`` where ``b`` is a
    subset of ``a``'s entries (so ``a + b`` is exact, entries a or 2a).

    Derivation: ``|a| <= M`` and ``|b| <= M`` give each call's error at most the bound of
    magnitude M, ``|a + b|`` at most that of 2M (`free_bound`); the float64 sum ``parts =
    forward(a) + forward(b)`` rounds once (``u_64 |parts|``). On integer data in exact range
    every term is exact: the bound is 0.
    """
    if exact_within(precision, integer, 2 * magnitude):
        return np.zeros(np.shape(parts))
    return (
        free_bound(precision, n, 2 * magnitude)
        + 2 * free_bound(precision, n, magnitude)
        + _U64 * np.abs(parts)
    )


def adjoint_sides(
    y: np.ndarray,
    grad_y: np.ndarray,
    base: np.ndarray,
    grad: np.ndarray,
    *,
    precision: Precision,
    n_forward: int,
    n_grad: int,
    m_y: float,
    m_g: float,
    integer: bool,
) -> tuple[float, float, float, int]:
    """The dot-product test ``<y, grad_y> = <base, grad>`` (Claerbout; PyLops ``dottest``),
    as ``(lhs, rhs, tolerance, e)`` in units of ``2**e``.

    y: the user's forward (N, C_out, *O); base: x or w; grad: the user's gradient for base,
    base's shape; m_y, m_g: free magnitudes (`free_magnitudes`) of the forward and gradient;
    n_forward, n_grad: their terms per output.

    Every operand is scaled by a power of two to about 1 (y by its free magnitude, so a y small
    by cancellation cannot make the scaled gradient overflow); unscaled, x = w = grad_y = 1e120
    overflowed both sides to inf, and x = w = 6.5e-162, grad_y = 1/16 rounded the tolerance to 0
    while the two sides, underflowing differently, differed by one subnormal.

    Derivation of the tolerance: ``y = y_exact + e_y`` with ``|e_y| <= B_y`` (the forward's
    bound at magnitude m_y), so ``|<y, g> - <y_exact, g>| <= sum|g| * B_y``; likewise
    ``sum|base| * B_g`` for the other side; the two float64 dot products add `dot_rounding`
    each, and their final products may each round down by half a subnormal. On integer data
    with every magnitude and partial sum in exact range both sides are exact: tolerance 0.
    """
    e_y, e_b = binary_exponent(m_y), binary_exponent(float(np.max(np.abs(base))))
    e = e_y + binary_exponent(float(np.max(np.abs(grad_y))))
    y_s, g_s = scaled(y, e_y), scaled(grad_y, e - e_y)
    b_s, d_s = scaled(base, e_b), scaled(grad, e - e_b)
    lhs_abs, rhs_abs = abs_dot(y_s, g_s), abs_dot(b_s, d_s)
    exact = (
        exact_within(precision, integer, m_y)
        and exact_within(precision, integer, m_g)
        and max(lhs_abs, rhs_abs) <= scaled(EXACT_LIMIT, e)
    )
    tolerance = 0.0
    if not exact:
        with np.errstate(over="ignore"):
            tolerance = float(
                abs_dot(g_s, 1.0) * scaled(free_bound(precision, n_forward, m_y), e_y)
                + abs_dot(b_s, 1.0) * scaled(free_bound(precision, n_grad, m_g), e - e_b)
                + dot_rounding(y.size, lhs_abs)
                + dot_rounding(grad.size, rhs_abs)
                + 2 * _ETA64
            )
    return dot(y_s, g_s), dot(b_s, d_s), tolerance, e


def finite_difference_tolerance(
    grad_y: np.ndarray,
    d: np.ndarray,
    v_eff: np.ndarray,
    grad: np.ndarray,
    *,
    precision: Precision,
    h: float,
    n_forward: int,
    n_grad: int,
    m_pm: float,
    m_g: float,
    exact: bool,
) -> float:
    """Tolerance of ``<grad_y, d> = <v_eff, grad>``, d the central difference
    ``(forward(base + h v) - forward(base - h v)) / 2h`` and ``v_eff`` the direction as the data
    dtype rounded it; 0 when ``exact`` (integer data, h = 1, every sum in exact range).

    Derivation: a convolution is linear, so d has no truncation error; each forward call errs
    by at most the bound at magnitude m_pm (`free_bound`), d by that over h, and
    ``<grad_y, d>`` by ``sum|grad_y|`` times it; the subtraction and the division by 2h (a power
    of two) round at most once (``u_64 sum|grad_y d|``); the gradient side errs by ``sum|v_eff|``
    times the gradient's bound at m_g plus one rounding; each dot product adds `dot_rounding`.
    The forward's bound is divided by h before scaling by |grad_y|: that bound can be a few
    smallest subnormals (products that underflow), and multiplying it by a small |grad_y| first
    would round the tolerance itself to zero.
    """
    if exact:
        return 0.0
    lhs_abs, rhs_abs = abs_dot(grad_y, d), abs_dot(v_eff, grad)
    forward_error = free_bound(precision, n_forward, m_pm) / h
    return (
        abs_dot(grad_y, 1.0) * forward_error
        + _U64 * lhs_abs
        + abs_dot(v_eff, 1.0) * free_bound(precision, n_grad, m_g)
        + _U64 * rhs_abs
        + dot_rounding(d.size, lhs_abs)
        + dot_rounding(grad.size, rhs_abs)
    )


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing ``got`` with ``expected`` under an elementwise ``bound``.

    worst_ratio: max of |got - expected| / bound (0/0 counts 0, e/0 and NaN count inf);
    index: where it is (a tuple); worst_error / worst_relative: the largest absolute and relative
    differences; mismatched: elements whose ratio exceeds 1; size: elements compared.
    """

    worst_ratio: float
    index: tuple[int, ...]
    worst_error: float
    worst_relative: float
    mismatched: int
    size: int

    @property
    def passed(self) -> bool:
        """True when every element is within its bound."""
        return self.mismatched == 0


def compare(got, expected, bound) -> Comparison:
    """Elementwise ``|got - expected| <= bound``; arrays of one shape (checked)."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), expected.shape)
    if got.shape != expected.shape:
        raise ValueError(f"got has shape {got.shape}; expected has shape {expected.shape}")
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        error = np.abs(got - expected)
        ratio = error / bound
        relative = error / np.abs(expected)
    # 0/0 (an exact zero under a zero bound) is a perfect match; NaN anywhere else is a failure.
    ratio[error == 0] = 0.0
    ratio[np.isnan(ratio)] = np.inf
    relative[error == 0] = 0.0
    relative[np.isnan(relative)] = np.inf
    error[np.isnan(error)] = np.inf
    if ratio.size == 0:
        return Comparison(0.0, (), 0.0, 0.0, 0, 0)
    flat = int(np.argmax(ratio))
    return Comparison(
        worst_ratio=float(ratio.flat[flat]),
        index=tuple(int(i) for i in np.unravel_index(flat, ratio.shape)),
        worst_error=float(np.max(error)),
        worst_relative=float(np.max(relative)),
        mismatched=int(np.count_nonzero(ratio > 1)),
        size=int(ratio.size),
    )


__all__ = [
    "FLOAT_DTYPES",
    "Comparison",
    "Precision",
    "abs_dot",
    "adjoint_sides",
    "binary_exponent",
    "compare",
    "dot",
    "dot_rounding",
    "exact_within",
    "finite_difference_tolerance",
    "forward_bound",
    "forward_magnitude",
    "forward_terms",
    "free_bound",
    "free_forward_magnitude",
    "free_magnitudes",
    "gamma",
    "gradient_bounds",
    "gradient_magnitudes",
    "gradient_terms",
    "linearity_bound",
    "scaled",
    "unit_roundoff",
]
