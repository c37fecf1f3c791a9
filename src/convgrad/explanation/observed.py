"""Reading the gradient shape a user observed: spatial sizes alone, or the whole shape in the
user's layout, whose batch and channel axes may themselves be the mistake (noted)."""

from __future__ import annotations

from collections.abc import Sequence

from convgrad.explanation.derivation import Explanation
from convgrad.spec import is_int


def observed_spatial(gradient: str, observed, e: Explanation) -> tuple[tuple[int, ...], list[str]]:
    """The observed spatial sizes, and notes on its non-spatial axes when a full shape is given."""
    lay = e.layout
    expected = e.record("grad_weight" if gradient == "grad_weight" else "grad_input")
    full_rank = len(expected.shape)
    if isinstance(observed, str) or not isinstance(observed, Sequence):
        raise TypeError(f"observed={observed!r} must be a sequence of ints")
    got = tuple(observed)
    if not all(is_int(n) for n in got):
        raise TypeError(f"observed={got!r} must hold ints")
    if any(n < 1 for n in got):
        raise ValueError(f"observed={got!r}: every size must be >= 1")
    got = tuple(int(n) for n in got)
    notes = []
    if gradient == "grad_weight" and lay.batch and len(got) == full_rank + 1:
        notes.append(
            f"the leading axis of size {got[0]} looks like the batch: sum grad_weight over the"
            " batch (every example shares the kernel)"
        )
        got = got[1:]
    if len(got) == lay.ndim:
        return got, notes
    if len(got) != full_rank:
        raise ValueError(
            f"observed={tuple(observed)!r} has {len(observed)} dims; give the {lay.ndim} spatial"
            f" sizes or the whole {gradient} shape ({', '.join(expected.axes)})"
        )
    if gradient == "grad_weight":
        c_out, c_in, spatial = lay.split_kernel(got)
        want_out, want_in, _ = lay.split_kernel(expected.shape)
        if (c_out, c_in) == (want_in, want_out) != (want_out, want_in):
            notes.append(
                f"C_out and C_in/groups are swapped: {lay.kernel} puts them as"
                f" ({', '.join(lay.arrange_kernel('C_out', 'C_in/g', ''))})"
            )
        elif (c_out, c_in) != (want_out, want_in):
            notes.append(
                f"channels (C_out, C_in/groups) = ({c_out}, {c_in}); expected"
                f" ({want_out}, {want_in}), those of w"
            )
        return spatial, notes
    batch, channels, spatial = lay.split(got)
    want_batch, want_channels, _ = lay.split(expected.shape)
    if batch != want_batch:
        notes.append(f"batch {batch}; expected N = {want_batch}, that of x")
    if channels != want_channels:
        notes.append(
            f"channels {channels}; expected C_in = {want_channels}: grad_input has x's channels"
            " (each sums the output channels of its group)"
        )
    return spatial, notes


__all__ = ["observed_spatial"]
