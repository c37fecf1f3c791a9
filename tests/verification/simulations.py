"""NumPy simulations of correct implementations whose arithmetic is not IEEE float64 with a
fixed summation order, as real frameworks' is not: flush-to-zero and denormals-are-zero (XLA on
CPU, GPUs, oneDNN), a summation order that changes between calls (GPU atomics, threaded
reductions), TF32 operand rounding (tensor cores).

Each is the zoo's independent correct layer (``tests/zoo/correct.py``) with every sum of
products carried out by an `Arithmetic`: operands read (DAZ, TF32 rounding), each product
rounded to the data dtype, summed one term at a time in that dtype (in a random order when
asked), every product and partial sum flushed to zero below the smallest normal under FTZ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from unittest import mock

import numpy as np

from zoo import correct


def round_tf32(a: np.ndarray) -> np.ndarray:
    """float32 values rounded to nearest (ties to even) with 10 explicit significand bits, as
    TF32 tensor cores read their operands."""
    bits = np.asarray(a, dtype=np.float32).view(np.uint32)
    lsb = (bits >> np.uint32(13)) & np.uint32(1)
    rounded = (bits + np.uint32(0x0FFF) + lsb) & np.uint32(0xFFFFE000)
    return rounded.view(np.float32)


@dataclass
class Arithmetic:
    """How a simulated implementation computes its sums of products.

    dtype: the data dtype its products and sums are carried in; ftz: flush subnormal results
    and read subnormal operands as zero; random_order: sum in a new random order on every call;
    tf32: round every operand to TF32 first (sums in float32).
    """

    dtype: str = "float64"
    ftz: bool = False
    random_order: bool = False
    tf32: bool = False
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def flush(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=self.dtype)
        if not self.ftz:
            return a
        return np.where(np.abs(a) < np.finfo(self.dtype).tiny, np.zeros_like(a), a)

    def operand(self, a: np.ndarray) -> np.ndarray:
        a = self.flush(a)
        return round_tf32(a) if self.tf32 else a

    def sum(self, products: np.ndarray) -> np.ndarray:
        """products (..., T) -> (...): one term at a time in ``dtype``."""
        terms = self.flush(products)
        if self.random_order:
            terms = terms[..., self.rng.permutation(terms.shape[-1])]
        total = np.zeros(terms.shape[:-1], dtype=self.dtype)
        for j in range(terms.shape[-1]):
            total = self.flush(total + terms[..., j])
        return total

    def correlate(self, a, k, step, kdil, groups: int = 1) -> np.ndarray:
        """`correct.correlate` with this arithmetic."""
        wg, kg, out_spatial = correct.grouped_windows(
            self.operand(a), self.operand(k), step, kdil, groups
        )
        # (N, G, 1, C/G, P, T) * (1, G, M/G, C/G, 1, T): each product once, in float64 (exact
        # for float32 operands), then rounded to the dtype by `sum`.
        products = wg[:, :, None].astype(np.float64) * kg[None, :, :, :, None].astype(np.float64)
        products = np.moveaxis(products, 3, 4)
        products = products.reshape(*products.shape[:4], -1)
        return self.sum(products).reshape(a.shape[0], k.shape[0], *out_spatial)

    def forward(self, x, w, spec) -> np.ndarray:
        with mock.patch.object(correct, "correlate", self.correlate):
            return self.flush(correct.forward(self.operand(x), self.operand(w), spec))

    def backward(self, x, w, grad_y, spec) -> tuple[np.ndarray, ...]:
        x, w, gy = self.operand(x), self.operand(w), self.operand(grad_y)
        with mock.patch.object(correct, "correlate", self.correlate):
            gx = correct.grad_input(x, w, gy, spec)
            gw = correct.grad_weight(x, w, gy, spec)
        per_channel = np.moveaxis(gy, 1, 0).reshape(gy.shape[1], -1)
        return self.flush(gx), self.flush(gw), self.sum(per_channel.astype(np.float64))
