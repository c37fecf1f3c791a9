"""The candidate operations behind a gradient's shape: every plausible way (right or wrong) to
compute grad_weight or grad_input — another padding mode, swapped operands, unpadded input,
grad_y without the stride's zeros, an undilated kernel, an uncropped result — with the spatial
shape each gives (by the layer's own algebra, `convgrad.shapes.DimAlgebra`) and what to change
to make it the right one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from convgrad.explanation.formatting import compact
from convgrad.shapes import DimAlgebra
from convgrad.spec import ConvSpec


@dataclass(frozen=True)
class Candidate:
    """One way to compute a gradient: a correlation in ``mode`` ("valid", "same" or "full") of
    ``operands`` (e.g. "of the padded x with the stride-dilated grad_y"), the spatial shape it
    gives, and what to change to make it the right operation (``changes`` empty: it is the
    right one)."""

    mode: str
    operands: str
    shape: tuple[int, ...]
    changes: tuple[str, ...]

    @property
    def operation(self) -> str:
        """The operation in words: ``'valid correlation of x with grad_y'``."""
        return f"{self.mode} correlation {self.operands}"

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {
            "operation": self.operation,
            "mode": self.mode,
            "operands": self.operands,
            "shape": list(self.shape),
            "changes": list(self.changes),
        }


def _correlation_size(n: int, k: int, mode: str, stride: int = 1, dilation: int = 1) -> int | None:
    """Length of correlating n samples with a k-tap kernel in ``mode``; None when empty.

    The same algebra as the layer (`ConvSpec.resolve` and `DimAlgebra.output`); 'same' keeps the
    first operand's length, as ``scipy.signal.correlate(a, v, mode="same")``.
    """
    resolved = ConvSpec(padding=mode, stride=stride, dilation=dilation).resolve((n,), (k,))
    ((lo, hi),) = resolved.padding
    size = DimAlgebra(0, n, k, lo, hi, stride, dilation).output
    return size if size >= 1 else None


def _joined(values: Sequence) -> str:
    return compact(tuple(values))


def _grad_y_text(strided: bool, dilated: bool) -> str:
    """grad_y as a candidate uses it: as is, stride-dilated, or missing the stride's zeros."""
    if not strided:
        return "grad_y"
    return "the stride-dilated grad_y" if dilated else "grad_y (no zeros for the stride)"


def weight_candidates(dims: tuple[DimAlgebra, ...]) -> list[Candidate]:
    pads = [(a.lo, a.hi) for a in dims]
    padded = any(a.lo or a.hi for a in dims)
    strided = any(a.stride > 1 for a in dims)
    dilated = any(a.dilation > 1 for a in dims)
    stride, dilation = _joined(a.stride for a in dims), _joined(a.dilation for a in dims)
    candidates = []
    for mode, swapped, pad_x, dilate_gy, every_d in product(
        ("valid", "same", "full"),
        (False, True),
        (True, False) if padded else (True,),
        (True, False) if strided else (True,),
        (True, False) if dilated else (True,),
    ):
        if swapped and mode == "full":
            continue
        xs = "the padded x" if padded and pad_x else "x (unpadded)" if padded else "x"
        gy = _grad_y_text(strided, dilate_gy)
        lags = "" if not dilated else ", every d-th lag" if every_d else ", every lag"
        first, second = (gy, xs) if swapped else (xs, gy)
        changes = []
        if mode != "valid":
            changes.append(f"correlate in 'valid' mode, not {mode!r}")
        if swapped:
            changes.append("correlate x with grad_y (x first), not grad_y with x")
        if not pad_x:
            changes.append(f"pad x by the forward's pads (lo, hi) = {_joined(pads)} first")
        if not dilate_gy:
            changes.append(f"insert stride - 1 zeros between grad_y's entries (stride {stride})")
        if not every_d:
            changes.append(f"keep every d-th lag only (dilation {dilation})")
        sizes = []
        for a in dims:
            n = a.padded if pad_x else a.input
            g = a.dilated_grad if dilate_gy else a.output
            sizes.append(
                _correlation_size(
                    *((g, n) if swapped else (n, g)), mode, a.dilation if every_d else 1
                )
            )
        if None in sizes:
            continue
        operands = f"of {first} with {second}{lags}"
        if not changes:
            kernel = tuple(a.kernel for a in dims)
            if tuple(sizes) != kernel:
                candidates.append(
                    Candidate(
                        mode,
                        f"{operands}, all lags kept",
                        tuple(sizes),
                        (
                            "keep the first K lags of each dim; the others pair x with the rows no"
                            " window reaches",
                        ),
                    )
                )
            sizes = list(kernel)
        candidates.append(Candidate(mode, operands, tuple(sizes), tuple(changes)))
    return candidates


def forward_candidates(dims: tuple[DimAlgebra, ...], mode: str) -> list[Candidate]:
    """Every plausible way to compute the forward y of a layer whose resolved padding mode is
    ``mode``: the layer's own pads or another mode's, the stride applied or ignored, the kernel
    dilated or not; the spatial shape each gives and what was ignored (``changes``)."""
    strided = any(a.stride > 1 for a in dims)
    dilated = any(a.dilation > 1 for a in dims)
    stride, dilation = _joined(a.stride for a in dims), _joined(a.dilation for a in dims)
    own = "explicit pads" if mode == "explicit" else repr(mode)
    candidates = []
    for pads, apply_stride, dilate_w in product(
        (mode, *(m for m in ("valid", "same", "same_lower", "full") if m != mode)),
        (True, False) if strided else (True,),
        (True, False) if dilated else (True,),
    ):
        changes = []
        if pads != mode:
            changes.append(f"padding {pads!r} used where the spec says {own}")
        if not apply_stride:
            changes.append(f"stride ignored (the window must step by {stride})")
        if not dilate_w:
            changes.append(
                f"dilation ignored (a kernel dilated by {dilation} reads taps d apart and spans"
                " d*(K-1)+1 positions)"
            )
        sizes = []
        for a in dims:
            s, d = (a.stride if apply_stride else 1), (a.dilation if dilate_w else 1)
            if pads == mode:
                lo, hi = a.lo, a.hi
            else:
                ((lo, hi),) = (
                    ConvSpec(padding=pads, stride=s, dilation=d).resolve((a.input,), (a.kernel,))
                ).padding
            size = DimAlgebra(a.dim, a.input, a.kernel, lo, hi, s, d).output
            sizes.append(size if size >= 1 else None)
        if None in sizes:
            continue
        operands = (
            f"of x with w (padding {own if pads == mode else repr(pads)}, stride"
            f" {stride if apply_stride else 1}, dilation {dilation if dilate_w else 1})"
        )
        candidates.append(Candidate(pads, operands, tuple(sizes), tuple(changes)))
    return candidates


def input_candidates(dims: tuple[DimAlgebra, ...]) -> list[Candidate]:
    strided = any(a.stride > 1 for a in dims)
    dilated = any(a.dilation > 1 for a in dims)
    cropped = any(a.lo or a.hi for a in dims)
    unreached = any(a.unreached for a in dims)
    stride, dilation = _joined(a.stride for a in dims), _joined(a.dilation for a in dims)
    crops = {
        "exact": "",
        "none": ", not cropped",
        "ignore_r": ", cropped by lo and hi (the r unreached rows lost)",
    }
    candidates = []
    for mode, dilate_gy, dilate_w, crop in product(
        ("full", "valid", "same"),
        (True, False) if strided else (True,),
        (True, False) if dilated else (True,),
        (
            "exact",
            *(("none",) if cropped else ()),
            *(("ignore_r",) if unreached else ()),
        ),
    ):
        if mode != "full" and crop != "exact":
            continue
        gy = _grad_y_text(strided, dilate_gy)
        kernel = (
            "the rotated kernel"
            if not dilated
            else ("the rotated dilated kernel" if dilate_w else "the rotated kernel, undilated")
        )
        changes = []
        if mode != "full":
            changes.append(f"correlate in 'full' mode (a full convolution), not {mode!r}")
        if not dilate_gy:
            changes.append(f"insert stride - 1 zeros between grad_y's entries (stride {stride})")
        if not dilate_w:
            changes.append(f"dilate the kernel (dilation {dilation})")
        if crop == "none":
            changes.append("crop lo at the start and hi - r at the end (the forward's pads)")
        if crop == "ignore_r":
            changes.append(
                "crop only hi - r at the end: the last r rows no window reached are zeros of"
                " grad_input (torch conv_transpose: output_padding = r)"
            )
        sizes = []
        for a in dims:
            g = a.dilated_grad if dilate_gy else a.output
            size = _correlation_size(g, a.kernel, mode, dilation=a.dilation if dilate_w else 1)
            if size is not None and mode == "full":
                size -= {"exact": a.lo + a.hi - a.unreached, "none": 0, "ignore_r": a.lo + a.hi}[
                    crop
                ]
            sizes.append(size if size is not None and size >= 1 else None)
        if None in sizes:
            continue
        operands = f"of {gy} with {kernel}{crops[crop]}"
        candidates.append(Candidate(mode, operands, tuple(sizes), tuple(changes)))
    return candidates


__all__ = ["Candidate", "forward_candidates", "input_candidates", "weight_candidates"]
