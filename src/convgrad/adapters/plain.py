"""The spec a framework's own convolution is asked for: zero padding, no flip (the adapter
reverses the kernel itself when the spec flips)."""

from __future__ import annotations

from convgrad.spec import ResolvedSpec


def plain_spec(spec: ResolvedSpec, op: str) -> ResolvedSpec:
    """``spec`` with ``flip=False``, for ``op`` (e.g. "jax.lax.conv_general_dilated"), which
    pads with zeros only.

    NotImplementedError for another ``spec.padding_mode``: verify's capability probe reads it
    as "unsupported", where computing with zero pads would be a wrong answer.
    """
    if spec.padding_mode != "zeros":
        raise NotImplementedError(
            f"{op} pads with zeros only; padding_mode={spec.padding_mode!r} is not supported"
        )
    return ResolvedSpec(spec.mode, spec.padding, spec.stride, spec.dilation, spec.groups, False)
