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
passes) and then rounds to its output dtype (``u_o``), adding ``u_o * |y_acc|``. The oracle
compares with its own float64 result, which is itself within ``gamma_n(u_64) * M`` of the exact
value, and the magnitude M it computes is low by at most a factor ``1 - gamma_n(u_64)``.

Underflow. Each operation is ``fl(a op b) = (a op b)(1 + delta) + eta`` (Higham §2.1, eq. 2.8).
Under gradual underflow (``subnormals="ieee"``) ``|eta|`` is at most half the smallest subnormal
for a product and 0 for an addition (a sum that is subnormal is exact); the bound counts a
whole subnormal ``eta`` per product, because half of float64's smallest subnormal is not
representable (it rounds to 0): ``U = n * eta_a``. An implementation that flushes results below
the smallest normal ``tiny`` to zero (FTZ: XLA on CPU, GPUs, oneDNN, many SIMD kernels) has
``|eta| < tiny`` for each of its n products and n - 1 additions: ``U = (2n - 1) * tiny_a``, and
its final rounding to the output dtype adds ``tiny_o`` instead of ``eta_o``. Each eta is carried
through the later additions, which scale it by at most ``1 + gamma_n(u_a)``.

Operands below the smallest normal (denormals-are-zero, DAZ) are a perturbation of the data: an
operand a with ``|a| < tiny`` read as 0 changes each of its products by ``|a b|``. Let F be the
part of M from products with such an operand (x_s the entries of x below tiny:
``F = |x_s| conv |w| + |x| conv |w_s|`` for the forward, likewise for each gradient from its two
operands; `forward_flushed`, `gradient_flushed`, computed only when such entries exist).

Reduced-precision operands (``operands="tf32" | "bf16" | "fp16"``, `PRESETS`): every operand is
rounded to a p-bit significand first (``u_in = 2**-p``), then products and sums are carried in
float32. A normal operand becomes ``a (1 + delta)``, ``|delta| <= u_in``, so a product of two
changes by at most ``(rho - 1) |a b|``, ``rho = (1 + u_in)**2``; an operand below the format's
smallest normal (2**-14 for fp16) rounds to some a' with ``|a' - a| <= |a|`` (round to nearest
never moves a value past 0) and ``|a'| <= 2|a|``, so its products change by at most
``(2 rho + 1) |a b|`` and have magnitude at most ``2 rho |a b|`` (DAZ is the case a' = 0).
Then the sum of the rounded products has magnitude at most ``rho (M + F)``, and the
implementation's error before its output rounding is

    E = (rho - 1) M + (2 rho + 1) F + gamma_n(u_a) rho (M + F) + (1 + gamma_n(u_a)) U

(rho = 1 without a preset; F = 0 under "ieee" without a preset). It then rounds to its output
dtype, ``|y_acc| <= |ref| + gamma_n(u_64) M' + E``. Altogether, with safety factor s applied to
the implementation's share only:

    |got - ref| <= s * [(1 + u_o) E' + u_o (|ref| + gamma_n(u_64) M') + U_o]
                   + gamma_n(u_64) M' + n eta_64
    M' = M / (1 - gamma_n(u_64)),  F' = F / (1 - gamma_n(u_64)),  E' = E at (M', F')

with ``U_o = eta_o`` ("ieee") or ``tiny_o`` ("ftz"), so a correct float64 implementation never
fails, whatever its summation order and whether it flushes subnormals. The FTZ allowance is
absolute and tiny (``2n * 2.2e-308`` in float64): it matters only where products underflow,
and ``subnormals="ieee"`` still rejects a flushed result there. When ``n u_a >= 1`` no
worst-case bound exists; the bound is then infinite (the value check cannot fail and says so),
and the adjoint and finite-difference checks still apply.

Scalar identities (`adjoint_sides`, `finite_difference_tolerance`, `linearity_bound`) compare
the user's forward with the user's own backward, so their tolerances must hold whatever
convention (flip, pad side, axis order) the implementation follows: they use "free" magnitudes
(`free_magnitudes`), bounds on ``sum |products|`` of any output valid for every convention, and
add the float64 rounding of the dot products that form each side (Higham §3.1 again, plus
gradual underflow per term: the oracle's own NumPy arithmetic is IEEE). Their free bounds carry
the same underflow terms as `Precision.bound`, with F from `free_flushed`. Each function's
docstring gives its derivation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import prod

import numpy as np

from convgrad.reference import Grads, conv, conv_backward
from convgrad.reference.padding import fold_count
from convgrad.spec import ConvSpec
from convgrad.verification.integers import INTEGER_DTYPES, check_accumulate
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


SUBNORMALS = ("ftz", "ieee")
"""How the implementation under test may treat results and operands below the smallest normal:
"ftz" (flush to zero and denormals are zero allowed; the default) or "ieee" (gradual underflow
only, strict)."""

PRESETS = {"tf32": (11, 2.0**-126), "bf16": (8, 2.0**-126), "fp16": (11, 2.0**-14)}
"""Reduced-precision operand formats: significand bits p (the implicit bit included, so the
unit roundoff is ``2**-p``) and the smallest normal. TF32 and bfloat16 keep float32's exponent
range; float16 does not."""


@dataclass(frozen=True)
class Precision:
    """The arithmetic an implementation under test is held to.

    dtype: the data dtype (float16 / float32 / float64); accumulate: the dtype its sums are
    carried in (None: the data dtype, the worst case; float32 with a preset); out: the dtype of
    its results (None: the data dtype); safety: a factor >= 1 on its share of the bound, for
    algorithms outside the sum-of-products model (FFT, Winograd); subnormals: "ftz" (results
    below the smallest normal may be flushed to zero and such operands read as zero) or "ieee"
    (gradual underflow only); operands: None (operands used as given) or a `PRESETS` name, the
    format every operand is rounded to before its product (TF32 tensor cores, bf16 or fp16
    autocast), float16 or float32 data only.

    Integer data (dtype one of `convgrad.verification.integers.INTEGER_DTYPES`) need
    ``accumulate``, a signed integer dtype at least as wide; results are the accumulator's exact
    sums (out = accumulate), the bound is 0, and safety and operands do not apply.
    """

    dtype: str = "float64"
    accumulate: str | None = None
    out: str | None = None
    safety: float = 1.0
    subnormals: str = "ftz"
    operands: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.dtype, str) and self.dtype in INTEGER_DTYPES:
            self._integer()
            return
        object.__setattr__(self, "dtype", _float_dtype("dtype", self.dtype).name)
        if self.subnormals not in SUBNORMALS:
            raise ValueError(f"subnormals={self.subnormals!r} must be one of {SUBNORMALS}")
        if self.operands is not None:
            if self.operands not in PRESETS:
                raise ValueError(
                    f"precision={self.operands!r} must be one of {tuple(PRESETS)} or None"
                )
            if self.dtype == "float64":
                raise ValueError(
                    f"precision={self.operands!r} rounds float32 or float16 operands; the data"
                    " dtype is float64 (use dtype='float32')"
                )
            if self.accumulate is None:
                object.__setattr__(self, "accumulate", "float32")
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

    def _integer(self) -> None:
        """Integer data: a declared signed accumulator at least as wide (`convgrad.verification.
        integers.check_accumulate`), results in it; exact arithmetic, so no rounding options."""
        object.__setattr__(self, "accumulate", check_accumulate(self.dtype, self.accumulate))
        if self.subnormals not in SUBNORMALS:
            raise ValueError(f"subnormals={self.subnormals!r} must be one of {SUBNORMALS}")
        if self.out is not None and self.out != self.accumulate:
            raise ValueError(f"out={self.out!r}: integer results are the {self.accumulate} sums")
        object.__setattr__(self, "out", self.accumulate)
        if self.operands is not None:
            raise ValueError(
                f"precision={self.operands!r} rounds float operands; dtype={self.dtype!r} is"
                " integer data (exact arithmetic)"
            )
        if self.safety != 1:
            raise ValueError(
                f"safety={self.safety!r}: integer data are compared exactly; safety must be 1"
            )
        object.__setattr__(self, "safety", 1.0)

    @property
    def integer(self) -> bool:
        """Integer data with an integer accumulator: every result is compared exactly."""
        return self.dtype in INTEGER_DTYPES

    def fits(self, magnitude: np.ndarray) -> bool:
        """Whether sums of |products| up to ``magnitude`` fit the integer accumulator, so that
        no summation order overflows it (always True for float data)."""
        if not self.integer:
            return True
        # The float64 magnitude of an int64 accumulator's sums may be rounded up or down by a
        # relative 2**-52: compare with a limit lowered by more than that.
        limit = float(np.iinfo(self.accumulate).max) * (1 - 2.0**-40)
        return float(np.max(magnitude, initial=0.0)) <= limit

    @property
    def operand_roundoff(self) -> float:
        """``u_in``: the unit roundoff of the operand format (0 when operands are exact)."""
        return 0.0 if self.operands is None else 2.0 ** -PRESETS[self.operands][0]

    @property
    def smallest_normal(self) -> float:
        """The smallest normal of the operand format (the preset's, else the data dtype's):
        operands below it may be flushed (DAZ) or rounded coarsely (a preset)."""
        if self.operands is not None:
            return PRESETS[self.operands][1]
        return float(np.finfo(self.dtype).tiny)

    @property
    def flushes_operands(self) -> bool:
        """Whether operands below `smallest_normal` may be perturbed by up to their own size:
        "ftz" (denormals are zero) or a preset (rounding a subnormal to a coarser format); never
        for integer data."""
        return not self.integer and (self.subnormals == "ftz" or self.operands is not None)

    @property
    def exact_limit(self) -> float:
        """Integers up to this magnitude are exact in the operand, accumulation and output
        formats."""
        if self.integer:
            return float(np.iinfo(self.accumulate).max)
        bits = [np.finfo(self.accumulate).nmant + 1, np.finfo(self.out).nmant + 1]
        if self.operands is not None:
            bits.append(PRESETS[self.operands][0])
        return 2.0 ** min(bits)

    def has_bound(self, n: int) -> bool:
        """Whether the worst-case bound exists for sums of n products (``n u_a < 1``; always
        for integer data, whose bound is 0)."""
        return self.integer or n * unit_roundoff(self.accumulate) < 1

    def _underflow(self, dtype: str, products: int, additions: int) -> float:
        """The absolute error underflow adds to ``products`` multiplications and ``additions``
        additions carried in ``dtype``: under gradual underflow half a subnormal per product (a
        whole one counted, see the module docstring; an addition with a subnormal result is
        exact), under FTZ less than the smallest normal per operation (a result below it may
        become 0)."""
        info = np.finfo(dtype)
        if self.subnormals == "ieee":
            return products * float(info.smallest_subnormal)
        return (products + additions) * float(info.tiny)

    def bound(
        self,
        n: int,
        magnitude: np.ndarray,
        reference: np.ndarray,
        flushed: np.ndarray | float = 0.0,
    ) -> np.ndarray:
        """The elementwise bound on ``|got - reference|`` (module docstring) for results that
        are sums of n products whose absolute values sum to ``magnitude`` and, of those, the
        products with an operand below `smallest_normal` to ``flushed`` (`forward_flushed`,
        `gradient_flushed`; 0 when there are none or `flushes_operands` is False); float64
        arrays of one shape."""
        magnitude = np.asarray(magnitude, dtype=np.float64)
        if self.integer:
            return np.zeros(magnitude.shape)
        if not self.has_bound(n):
            return np.full(magnitude.shape, np.inf)
        u_a, u_o, u_in = (
            unit_roundoff(self.accumulate),
            unit_roundoff(self.out),
            self.operand_roundoff,
        )
        g_a, g_64 = gamma(n, u_a), gamma(n, _U64)
        rho = (1 + u_in) ** 2
        s = self.safety
        # The formula of the module docstring gathered into c_m M + c_f F + c_r |ref| + c_0,
        # so that a large output costs a few array operations.
        c_m = (s * ((1 + u_o) * (rho - 1 + g_a * rho) + u_o * g_64) + g_64) / (1 - g_64)
        c_f = s * (1 + u_o) * (2 * rho + 1 + g_a * rho) / (1 - g_64)
        c_r = s * u_o
        underflow = self._underflow(self.accumulate, n, max(n - 1, 0))
        c_0 = s * ((1 + u_o) * (1 + g_a) * underflow + self._underflow(self.out, 1, 0))
        c_0 += n * _ETA64
        bound = c_m * magnitude
        if np.any(flushed):
            bound = bound + c_f * np.asarray(flushed, dtype=np.float64)
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


def _below_normal(a, precision: Precision) -> np.ndarray:
    """``|a|`` where it is below the operand format's smallest normal (nonzero), else 0."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    return np.where(a < precision.smallest_normal, a, 0.0)


def flushed_operands(precision: Precision, *arrays) -> tuple[np.ndarray, ...] | None:
    """`_below_normal` of each array, or None when the precision perturbs no operand or no
    array has an entry below the smallest normal (the common case: no extra pass)."""
    if not precision.flushes_operands:
        return None
    masked = tuple(_below_normal(a, precision) for a in arrays)
    return masked if any(np.any(m) for m in masked) else None


def forward_bound(
    x, w, reference: np.ndarray, b=None, *, precision: Precision, **conv_kwargs
) -> np.ndarray:
    """Elementwise bound on an implementation's forward error against ``reference``
    (the oracle's ``conv(x, w, b, **conv_kwargs)``), shape (N, C_out, *O)."""
    n = forward_terms(np.shape(w), b is not None)
    flushed = forward_flushed(precision, x, w, b, **conv_kwargs)
    return precision.bound(n, forward_magnitude(x, w, b, **conv_kwargs), reference, flushed)


def forward_flushed(precision: Precision, x, w, b=None, **conv_kwargs) -> np.ndarray | float:
    """The part of `forward_magnitude` from products with an operand below the smallest normal
    (and subnormal bias entries): ``|x_s| conv |w| + |x| conv |w_s| + |b_s|``, x_s the entries
    of x below it; (N, C_out, *O), or 0.0 when there are none."""
    masked = flushed_operands(precision, x, w, *(() if b is None else (b,)))
    if masked is None:
        return 0.0
    xs, ws, *bs = masked
    return conv(xs, _abs(w), *bs, **conv_kwargs) + conv(_abs(x), ws, **conv_kwargs)


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
    resolved = spec.resolve(np.shape(x)[2:], np.shape(w)[2:], channels=np.shape(x)[1])
    return fold_count(mode, resolved.padding, np.shape(x)[2:])


def gradient_flushed(precision: Precision, x, w, grad_y, **conv_kwargs) -> Grads:
    """The part of each `gradient_magnitudes` from products with an operand below the smallest
    normal: two reference backward passes, on ``(|x|, |w|, |grad_y_s|)`` and
    ``(|x_s|, |w_s|, |grad_y|)`` (each gradient reads two of the three operands); Grads of
    zeros (scalars) when no operand has such an entry."""
    masked = flushed_operands(precision, x, w, grad_y)
    if masked is None:
        return Grads(0.0, 0.0, 0.0)
    xs, ws, gs = masked
    one = conv_backward(_abs(x), _abs(w), gs, **conv_kwargs)
    other = conv_backward(xs, ws, _abs(grad_y), **conv_kwargs)
    return Grads(one.input + other.input, one.weight + other.weight, one.bias)


def gradient_bounds(
    x, w, grad_y, reference: Grads, *, precision: Precision, **conv_kwargs
) -> Grads:
    """Elementwise bounds on an implementation's gradients against the oracle's ``reference``
    (``conv_backward(x, w, grad_y, **conv_kwargs)``): Grads of shapes x, w and (C_out,)."""
    magnitude = gradient_magnitudes(x, w, grad_y, **conv_kwargs)
    flushed = gradient_flushed(precision, x, w, grad_y, **conv_kwargs)
    terms = gradient_terms(
        np.shape(w), np.shape(grad_y), conv_kwargs.get("groups", 1), _copies(x, w, conv_kwargs)
    )
    return Grads(
        *(
            precision.bound(n, m, r, f)
            for n, m, r, f in zip(terms, magnitude, reference, flushed, strict=True)
        )
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


def free_flushed(precision: Precision, x, w, grad_y) -> dict[str, float]:
    """`free_magnitudes` of the products with an operand below the smallest normal (each such
    product is one with x_s and w, x and w_s, ... for the two operands the output reads), all
    0.0 when there are none: what `Precision.bound` takes as ``flushed`` for free bounds."""
    masked = flushed_operands(precision, x, w, grad_y)
    if masked is None:
        return dict.fromkeys(("forward", "grad_input", "grad_weight"), 0.0)
    xs, ws, gs = masked
    # free_magnitudes(a, b, c) reads (a, b) for the forward, (c, b) for grad_input and (a, c)
    # for grad_weight: each output's flushed part is the sum over its two operands of the
    # magnitude with that operand's flushed entries only.
    a, b = free_magnitudes(xs, w, gs), free_magnitudes(x, ws, grad_y)
    weight = free_magnitudes(xs, w, grad_y)["grad_weight"]
    weight += free_magnitudes(x, w, gs)["grad_weight"]
    return {
        "forward": a["forward"] + b["forward"],
        "grad_input": a["grad_input"] + b["grad_input"],
        "grad_weight": weight,
    }


def free_bound(precision: Precision, n: int, magnitude: float, flushed: float = 0.0) -> float:
    """`Precision.bound` for any output of magnitude at most ``magnitude`` (of which at most
    ``flushed`` from operands below the smallest normal): the bound grows with both and the
    reference value is at most the magnitude."""
    m = np.float64(magnitude)
    return float(precision.bound(n, m, m, np.float64(flushed)))


def exact_within(precision: Precision, integer: bool, magnitude: float) -> bool:
    """Whether results of this magnitude on integer data are exact in ``precision``."""
    return integer and magnitude <= precision.exact_limit


def linearity_bound(
    precision: Precision,
    n: int,
    magnitude: float,
    parts: np.ndarray,
    *,
    integer: bool,
    flushed: float = 0.0,
) -> np.ndarray:
    """Elementwise bound on ``|forward(a + b) - (forward(a) + forward(b))|`` where ``b`` is a
    subset of ``a``'s entries (so ``a + b`` is exact, entries a or 2a).

    Derivation: ``|a| <= M`` and ``|b| <= M`` give each call's error at most the bound of
    magnitude M, ``|a + b|`` at most that of 2M (`free_bound`); the float64 sum ``parts =
    forward(a) + forward(b)`` rounds once (``u_64 |parts|``). ``flushed`` (`free_flushed`) at
    a bounds that at b, and twice it that at a + b (an entry of a + b below the smallest normal
    is 2a with a below it too). On integer data in exact range every term is exact: the bound
    is 0.
    """
    if exact_within(precision, integer, 2 * magnitude):
        return np.zeros(np.shape(parts))
    return (
        free_bound(precision, n, 2 * magnitude, 2 * flushed)
        + 2 * free_bound(precision, n, magnitude, flushed)
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
    f_y: float = 0.0,
    f_g: float = 0.0,
) -> tuple[float, float, float, int]:
    """The dot-product test ``<y, grad_y> = <base, grad>`` (Claerbout; PyLops ``dottest``),
    as ``(lhs, rhs, tolerance, e)`` in units of ``2**e``.

    y: the user's forward (N, C_out, *O); base: x or w; grad: the user's gradient for base,
    base's shape; m_y, m_g: free magnitudes (`free_magnitudes`) of the forward and gradient,
    f_y, f_g their parts from operands below the smallest normal (`free_flushed`); n_forward,
    n_grad: their terms per output.

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
                abs_dot(g_s, 1.0) * scaled(free_bound(precision, n_forward, m_y, f_y), e_y)
                + abs_dot(b_s, 1.0) * scaled(free_bound(precision, n_grad, m_g, f_g), e - e_b)
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
    f_pm: float = 0.0,
    f_g: float = 0.0,
) -> float:
    """Tolerance of ``<grad_y, d> = <v_eff, grad>``, d the central difference
    ``(forward(base + h v) - forward(base - h v)) / 2h`` and ``v_eff`` the direction as the data
    dtype rounded it; 0 when ``exact`` (integer data, h = 1, every sum in exact range). f_pm,
    f_g: the parts of m_pm and m_g from operands below the smallest normal (`free_flushed`).

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
    forward_error = free_bound(precision, n_forward, m_pm, f_pm) / h
    return (
        abs_dot(grad_y, 1.0) * forward_error
        + _U64 * lhs_abs
        + abs_dot(v_eff, 1.0) * free_bound(precision, n_grad, m_g, f_g)
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


def compare_integers(got: np.ndarray, expected: np.ndarray) -> Comparison:
    """Exact equality of integer arrays of one shape, in Python ints (float64 would round
    sums beyond 2**53 and could hide a difference there): worst_ratio inf where any differs."""
    if got.shape != expected.shape:
        raise ValueError(f"got has shape {got.shape}; expected has shape {expected.shape}")
    if got.size == 0:
        return Comparison(0.0, (), 0.0, 0.0, 0, 0)
    error = np.abs(got.astype(object) - expected.astype(object))
    flat = int(np.argmax(error))
    worst = error.flat[flat]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(error.astype(np.float64) / expected.astype(np.float64))
    relative[error.astype(np.float64) == 0] = 0.0
    relative[np.isnan(relative)] = np.inf
    mismatched = int(np.count_nonzero(error != 0))
    return Comparison(
        worst_ratio=math.inf if mismatched else 0.0,
        index=tuple(int(i) for i in np.unravel_index(flat, error.shape)),
        worst_error=float(worst),
        worst_relative=float(np.max(relative)),
        mismatched=mismatched,
        size=int(error.size),
    )


__all__ = [
    "FLOAT_DTYPES",
    "PRESETS",
    "SUBNORMALS",
    "Comparison",
    "Precision",
    "abs_dot",
    "adjoint_sides",
    "binary_exponent",
    "compare",
    "compare_integers",
    "dot",
    "dot_rounding",
    "exact_within",
    "finite_difference_tolerance",
    "flushed_operands",
    "forward_bound",
    "forward_flushed",
    "forward_magnitude",
    "forward_terms",
    "free_bound",
    "free_flushed",
    "free_forward_magnitude",
    "free_magnitudes",
    "gamma",
    "gradient_bounds",
    "gradient_flushed",
    "gradient_magnitudes",
    "gradient_terms",
    "linearity_bound",
    "scaled",
    "unit_roundoff",
]
