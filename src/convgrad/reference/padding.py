"""Padding modes as a linear map and its adjoint: `pad` fills the pads, `fold` sends a gradient of
the padded input back onto the input.

Every padding mode copies input elements: along one spatial dim of size I with pads (lo, hi),
padded position ``p`` (``-lo <= p < I + hi``, 0 the first input element) holds input element
``source(p)``:

    zeros       p if 0 <= p < I, else none (the pad holds 0)
    reflect     -p for p < 0, 2(I-1) - p for p >= I      (the edge not repeated; numpy "reflect")
    replicate   clip(p, 0, I-1)                           (numpy "edge")
    circular    p mod I                                   (numpy "wrap")

so padding is a gather along each spatial dim in turn (`pad`), and its adjoint, the input
gradient of a padded input, adds each padded position's gradient onto its source (`fold`): a
border element's gradient collects its own and its copies'. Both work on float64, int64 and
object (Python int / Fraction) arrays, exactly on the last two. ``torch.nn.functional.pad``'s
size rules (a reflect pad smaller than the input side, a circular one at most the side) are
checked by `convgrad.spec.check_padding_mode` when the spec is resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np

from convgrad.reference.direct import crop_slices, zeros
from convgrad.reference.direct import pad as zero_pad


def source(mode: str, size: int, lo: int, hi: int) -> np.ndarray:
    """For each padded position of one dim, the input index it copies: shape (lo + size + hi,).

    mode: "reflect", "replicate" or "circular" (zeros copy nothing into the pads).
    """
    positions = np.arange(-lo, size + hi)
    if mode == "reflect":
        return np.where(
            positions < 0, -positions, np.minimum(positions, 2 * (size - 1) - positions)
        )
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    if mode == "circular":
        return positions % size
    raise ValueError(f"padding_mode={mode!r} copies no input; expected reflect/replicate/circular")


def pad(x: np.ndarray, padding: Sequence[tuple[int, int]], mode: str) -> np.ndarray:
    """x: (N, C, *S) -> (N, C, *(S + lo + hi)) with the pads filled by ``mode`` (module
    docstring); "zeros" pads with zeros."""
    if mode == "zeros":
        return zero_pad(x, tuple(padding))
    for axis, (lo, hi) in enumerate(padding, start=2):
        x = np.take(x, source(mode, x.shape[axis], lo, hi), axis=axis)
    return x


def fold(grad_padded: np.ndarray, padding: Sequence[tuple[int, int]], mode: str) -> np.ndarray:
    """The adjoint of `pad`: grad_padded (N, C, *(S + lo + hi)) -> (N, C, *S), each padded
    position's value added onto the input element it copies ("zeros": the pads cropped)."""
    spatial = tuple(n - lo - hi for n, (lo, hi) in zip(grad_padded.shape[2:], padding, strict=True))
    if mode == "zeros":
        return grad_padded[(..., *crop_slices(spatial, padding))]
    out = grad_padded
    for axis, ((lo, hi), size) in enumerate(zip(padding, spatial, strict=True), start=2):
        folded = zeros((*out.shape[:axis], size, *out.shape[axis + 1 :]), out.dtype)
        moved, target = np.moveaxis(out, axis, 0), np.moveaxis(folded, axis, 0)
        for position, index in enumerate(source(mode, size, lo, hi)):
            target[index] += moved[position]
        out = folded
    return out


def fold_count(mode: str, padding: Sequence[tuple[int, int]], spatial: Sequence[int]) -> int:
    """The most padded positions that copy one input element (1 for "zeros"): how many more
    terms the folded input gradient of one element can sum than the unpadded one."""
    if mode == "zeros":
        return 1
    return prod(
        int(np.bincount(source(mode, size, lo, hi)).max())
        for (lo, hi), size in zip(padding, spatial, strict=True)
    )


__all__ = ["fold", "fold_count", "pad", "source"]
