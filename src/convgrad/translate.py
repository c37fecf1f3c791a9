"""One place that maps a convolution spec to and from each framework's keywords.

``from_*`` reads a framework's arguments and returns a `Translation` (the `convgrad.ConvSpec`,
whether the layer is a transposed convolution, its ``output_padding``, and whether its data are
channels-last); ``to_*`` writes a `ConvSpec` or `convgrad.ResolvedSpec` as that framework's
keyword arguments, or raises ValueError naming what the framework cannot express.

Conventions translated (docs/design.md, "Conventions", has convgrad's own):

- PyTorch (``torch.nn.functional.conv{1,2,3}d``, ``nn.Conv*d``, ``nn.ConvTranspose*d``):
  symmetric pads ``padding=p`` or ``"valid"``/``"same"``; ``"same"`` only with stride 1
  (torch raises otherwise); transposed layers take the forward convolution's pads plus
  ``output_padding``.
- TensorFlow (``tf.nn.conv2d``, ``tf.nn.convolution``): ``"SAME"`` (the odd pad at the end,
  convgrad's ``same``) or ``"VALID"``; explicit ``[[0, 0], [lo, hi], ..., [0, 0]]`` in the
  ``data_format``'s order (``tf.nn.conv2d`` only); ``strides``/``dilations`` of length ndim or
  ndim + 2; ``tf.nn.convolution`` (1-D, 3-D) takes a dilation above 1 only with stride 1.
- ONNX (``Conv``, ``ConvTranspose``): ``auto_pad`` ``NOTSET`` (use ``pads``), ``SAME_UPPER``
  (convgrad ``same``), ``SAME_LOWER`` (``same_lower``) or ``VALID``; ``pads`` ordered
  ``[x1_begin, x2_begin, ..., x1_end, x2_end, ...]``; ``group``.
- JAX (``jax.lax.conv_general_dilated``): ``padding`` ``"SAME"``, ``"SAME_LOWER"``,
  ``"VALID"`` or one ``(lo, hi)`` per dim; ``window_strides``; ``rhs_dilation``;
  ``feature_group_count``.
- oneDNN benchdnn problem descriptors (``mb2ic16ih32oc32oh32kh3ph1``): dilation counted from
  0 (``dh1`` is convgrad's dilation 2); see `from_benchdnn`.

Every translation has the same meaning for ``flip=False`` only: no framework's convolution
flips the kernel, so ``to_*`` raises for ``flip=True`` (reverse the kernel's spatial axes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from convgrad.shapes import output_shape_of
from convgrad.spec import DEPTHWISE, ConvSpec, ResolvedSpec, is_int

SpecLike = ConvSpec | ResolvedSpec


@dataclass(frozen=True)
class Translation:
    """A framework layer in convgrad's terms.

    spec: the convolution (for a transposed layer, the convolution whose adjoint with respect
    to its input the layer computes: ``convgrad.conv_transpose(x, w, **spec kwargs,
    output_padding=...)``); transposed: the layer is a transposed convolution;
    output_padding: the transposed layer's extra output rows (an int or one per dim);
    channels_last: the framework's data are ``(N, *S, C)`` (TensorFlow NHWC and friends).
    """

    spec: ConvSpec
    transposed: bool = False
    output_padding: int | tuple[int, ...] = 0
    channels_last: bool = False


@dataclass(frozen=True)
class BenchdnnLayer:
    """A benchdnn problem descriptor: the spec, ``input_shape`` (N, C_in, *S),
    ``weight_shape`` (C_out, C_in // groups, *K) and the name (``n"..."``; "" when absent)."""

    spec: ConvSpec
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    name: str = ""


# ----------------------------------------------------------------------------------- helpers


def _per_dim(name: str, value: Any, ndim: int | None, minimum: int) -> tuple[int, ...] | int:
    """An int, or a sequence of ints of length ndim (when known), each >= minimum."""
    if is_int(value):
        if value < minimum:
            raise ValueError(f"{name}={value!r} must be >= {minimum}")
        return int(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = tuple(value)
        if not all(is_int(v) for v in items):
            raise TypeError(f"{name}={value!r} must hold ints")
        if ndim is not None and len(items) != ndim:
            raise ValueError(f"{name}={value!r} has {len(items)} entries; expected {ndim}")
        if not items:
            raise ValueError(f"{name}={value!r} must name at least one spatial dim")
        if any(v < minimum for v in items):
            raise ValueError(f"{name}={value!r}: every entry must be >= {minimum}")
        return tuple(int(v) for v in items)
    raise TypeError(f"{name}={value!r} must be an int or a sequence of ints")


def _spec_ndim(spec: SpecLike, ndim: int | None) -> int | None:
    """The number of spatial dims the spec names (tuples), else ``ndim``."""
    if isinstance(spec, ResolvedSpec):
        found = spec.ndim
    else:
        lengths = {
            len(v) for v in (spec.padding, spec.stride, spec.dilation) if isinstance(v, tuple)
        }
        found = lengths.pop() if len(lengths) == 1 else None
    if ndim is not None and found is not None and ndim != found:
        raise ValueError(f"ndim={ndim!r} but the spec has {found} spatial dims")
    return ndim if found is None else found


def _checked_spec(spec: object, target: str) -> SpecLike:
    if not isinstance(spec, (ConvSpec, ResolvedSpec)):
        raise TypeError(
            f"spec={spec!r} must be a convgrad.ConvSpec or convgrad.ResolvedSpec, got"
            f" {type(spec).__name__}"
        )
    if spec.flip:
        raise ValueError(
            f"flip=True (true convolution) has no {target} keyword: every framework computes a"
            " cross-correlation; reverse the kernel's spatial axes and translate flip=False"
        )
    if spec.groups == DEPTHWISE:
        raise ValueError(
            f"groups={DEPTHWISE!r} has no {target} keyword: it is groups = C_in; pass the number"
            " (or a spec resolved with spec.resolve(..., channels=C_in))"
        )
    if spec.padding_mode != "zeros":
        raise ValueError(
            f"padding_mode={spec.padding_mode!r} has no {target} convolution keyword: it pads"
            " with zeros only; pad x in the mode first (torch: F.pad, or nn.Conv*d's"
            " padding_mode) and translate the spec with padding 0"
        )
    return spec


def _expand(name: str, value: int | tuple, ndim: int | None, target: str) -> list[int]:
    if isinstance(value, tuple):
        return list(value)
    if ndim is None:
        raise ValueError(
            f"{name}={value!r} is one int for every dim; {target} needs one per dim: pass ndim="
        )
    return [value] * ndim


def _pairs(spec: SpecLike, ndim: int | None, target: str) -> list[tuple[int, int]] | None:
    """Explicit (lo, hi) pads per dim, or None for a mode that needs the sizes (unresolved)."""
    if isinstance(spec, ResolvedSpec):
        return [tuple(p) for p in spec.padding]
    padding = spec.padding
    if isinstance(padding, tuple):
        return [p if isinstance(p, tuple) else (p, p) for p in padding]
    if isinstance(padding, str) and padding != "valid":
        return None
    if ndim is None:
        raise ValueError(
            f"padding={padding!r} is one value for every dim; {target} needs one per dim: pass"
            " ndim="
        )
    pad = 0 if isinstance(padding, str) else padding
    return [(pad, pad)] * ndim


def _needs_sizes(mode: str, target: str) -> ValueError:
    return ValueError(
        f"padding={mode!r} has no {target} keyword of its own: its pads depend on the kernel"
        " (and input) sizes; resolve the spec first (ConvSpec.resolve(input_spatial,"
        " kernel_spatial)) and translate the ResolvedSpec"
    )


def _symmetric(pairs: list[tuple[int, int]], target: str) -> list[int]:
    uneven = [(j, p) for j, p in enumerate(pairs) if p[0] != p[1]]
    if uneven:
        j, pair = uneven[0]
        raise ValueError(
            f"padding {tuple(pairs)} is asymmetric along spatial dim {j} ({pair}); {target} pads"
            " both sides of a dim equally: pad the input first (torch.nn.functional.pad)"
        )
    return [lo for lo, _ in pairs]


# ----------------------------------------------------------------------------------- PyTorch


def from_torch(
    module: Any = None,
    /,
    *,
    padding: str | int | Sequence[int] = 0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    output_padding: int | Sequence[int] = 0,
    transposed: bool = False,
) -> Translation:
    """PyTorch's convolution arguments (or an ``nn.Conv*d`` / ``nn.ConvTranspose*d`` module) in
    convgrad's terms.

    With a module, its ``padding``, ``stride``, ``dilation``, ``groups``, ``padding_mode`` and
    (transposed) ``output_padding`` are read and the keywords must be left at their defaults.
    Otherwise the keywords are ``torch.nn.functional.conv{1,2,3}d``'s (``transposed=True``:
    ``conv_transpose{1,2,3}d``'s, whose ``padding`` is the forward convolution's), and
    ``padding_mode`` is ``nn.Conv*d``'s (the spec's). Raises ValueError for a ``padding_mode``
    other than "zeros" on a transposed layer (torch pads those with zeros only) and TypeError
    for an object that is not a torch convolution module.
    """
    if module is not None:
        import torch

        defaults = (padding, stride, dilation, groups, padding_mode, output_padding, transposed)
        if defaults != (0, 1, 1, 1, "zeros", 0, False):
            raise ValueError(
                "from_torch(module) reads the module's own arguments; pass the keywords only"
                " without a module"
            )
        if not isinstance(module, torch.nn.modules.conv._ConvNd):
            raise TypeError(
                f"module={module!r} must be a torch.nn.Conv1d/2d/3d or ConvTranspose1d/2d/3d"
            )
        transposed = bool(module.transposed)
        padding, stride, dilation = module.padding, module.stride, module.dilation
        groups, padding_mode = module.groups, module.padding_mode
        output_padding = module.output_padding if transposed else 0
    if transposed and padding_mode != "zeros":
        raise ValueError(
            f"padding_mode={padding_mode!r}: torch's transposed convolutions pad with zeros only"
        )
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"padding={padding!r} must be 'valid', 'same' or pads")
        if transposed:
            raise ValueError(f"padding={padding!r}: torch's transposed convolution takes pads only")
    spec = ConvSpec(
        padding=padding if isinstance(padding, str) else _per_dim("padding", padding, None, 0),
        stride=_per_dim("stride", stride, None, 1),
        dilation=_per_dim("dilation", dilation, None, 1),
        groups=groups,
        padding_mode=padding_mode,
    )
    extra = _per_dim("output_padding", output_padding, None, 0) if transposed else 0
    return Translation(spec, transposed=transposed, output_padding=extra)


def to_torch(
    spec: SpecLike,
    *,
    ndim: int | None = None,
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
) -> dict:
    """Keyword arguments for ``torch.nn.functional.conv{ndim}d`` (``transposed``:
    ``conv_transpose{ndim}d``, with ``output_padding``): ``padding``, ``stride``,
    ``dilation``, ``groups``.

    Raises ValueError where torch cannot express the spec: asymmetric pads (``same`` with an
    even dilated kernel once resolved, ``same_lower``, explicit ``(lo, hi)`` with lo != hi),
    ``padding='same'`` with a stride above 1 (torch refuses it), a mode on a transposed layer,
    ``full`` unresolved, and ``flip=True``.
    """
    spec = _checked_spec(spec, "torch")
    ndim = _spec_ndim(spec, ndim)
    mode = spec.mode
    kwargs: dict[str, Any] = {
        "stride": spec.stride,
        "dilation": spec.dilation,
        "groups": spec.groups,
    }
    if isinstance(spec, ConvSpec) and mode in ("valid", "same") and not transposed:
        strides = (spec.stride,) if is_int(spec.stride) else spec.stride
        if mode == "same" and any(s != 1 for s in strides):
            raise ValueError(
                f"padding='same' with stride={spec.stride!r}: torch accepts padding='same' only"
                " with stride 1 (its pads would depend on the input size); resolve the spec for"
                " explicit pads (torch takes them when they are symmetric)"
            )
        kwargs["padding"] = mode
    else:
        if isinstance(spec, ConvSpec) and mode in ("same", "same_lower", "full"):
            raise _needs_sizes(mode, "torch")
        if isinstance(spec, ConvSpec) and mode == "valid":
            kwargs["padding"] = 0
        elif isinstance(spec, ConvSpec) and is_int(spec.padding):
            kwargs["padding"] = spec.padding
        else:
            kwargs["padding"] = tuple(_symmetric(_pairs(spec, ndim, "torch"), "torch"))
    if transposed:
        kwargs["output_padding"] = _per_dim("output_padding", output_padding, ndim, 0)
    return kwargs


# -------------------------------------------------------------------------------- TensorFlow

TF_FORMATS = {
    "NWC": (1, True),
    "NCW": (1, False),
    "NHWC": (2, True),
    "NCHW": (2, False),
    "NDHWC": (3, True),
    "NCDHW": (3, False),
}


def _tf_format(data_format: str) -> tuple[int, bool]:
    if data_format not in TF_FORMATS:
        raise ValueError(f"data_format={data_format!r} must be one of {tuple(TF_FORMATS)}")
    return TF_FORMATS[data_format]


def _tf_spatial(name: str, value: Any, ndim: int, channels_last: bool) -> int | tuple[int, ...]:
    """TF strides/dilations: an int, ndim values, or ndim + 2 with 1 at batch and channel."""
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == ndim + 2:
        outer = (value[0], value[-1]) if channels_last else (value[0], value[1])
        if tuple(outer) != (1, 1):
            raise ValueError(
                f"{name}={list(value)!r}: the batch and channel entries must be 1, got"
                f" {list(outer)}"
            )
        value = tuple(value[1:-1]) if channels_last else tuple(value[2:])
    return _per_dim(name, value, ndim, 1)


def from_tf(
    padding: str | Sequence = "VALID",
    strides: int | Sequence[int] = 1,
    dilations: int | Sequence[int] = 1,
    data_format: str = "NHWC",
    *,
    groups: int = 1,
) -> Translation:
    """TensorFlow's ``tf.nn.convolution`` / ``tf.nn.conv2d`` arguments in convgrad's terms.

    padding: "SAME" (convgrad ``same``), "VALID", or explicit pairs, one per dim of
    ``data_format`` (batch and channel pairs must be ``[0, 0]``) or one per spatial dim;
    strides, dilations: an int, one per spatial dim, or one per dim of ``data_format`` (1 at
    batch and channel); groups: TF infers it from the filter's input depth (C_in // groups), so
    it is given here. ``channels_last`` is set for NWC/NHWC/NDHWC.
    """
    ndim, channels_last = _tf_format(data_format)
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f"padding={padding!r} must be 'SAME', 'VALID' or explicit pairs")
        pads: Any = padding.lower()
    elif isinstance(padding, Sequence):
        pairs = [tuple(p) for p in padding]
        if any(len(p) != 2 or not all(is_int(v) for v in p) for p in pairs):
            raise TypeError(f"padding={padding!r} must be [lo, hi] int pairs")
        if len(pairs) == ndim + 2:
            outer = [pairs[0], pairs[-1]] if channels_last else pairs[:2]
            if any(p != (0, 0) for p in outer):
                raise ValueError(
                    f"padding={padding!r}: the batch and channel pairs must be [0, 0], got"
                    f" {[list(p) for p in outer]}"
                )
            pairs = pairs[1:-1] if channels_last else pairs[2:]
        if len(pairs) != ndim:
            raise ValueError(
                f"padding={padding!r} has {len(pairs)} pairs; {data_format} needs {ndim} or"
                f" {ndim + 2}"
            )
        pads = tuple((int(lo), int(hi)) for lo, hi in pairs)
    else:
        raise TypeError(f"padding={padding!r} must be 'SAME', 'VALID' or explicit pairs")
    spec = ConvSpec(
        padding=pads,
        stride=_tf_spatial("strides", strides, ndim, channels_last),
        dilation=_tf_spatial("dilations", dilations, ndim, channels_last),
        groups=groups,
    )
    return Translation(spec, channels_last=channels_last)


def to_tf(spec: SpecLike, *, data_format: str = "NHWC") -> dict:
    """Keyword arguments for ``tf.nn.conv2d`` (2-D) or ``tf.nn.convolution`` (1-D, 3-D):
    ``padding``, ``strides``, ``dilations`` (one per spatial dim) and ``data_format``.

    "SAME" for convgrad ``same`` (resolved or not), "VALID" for ``valid``, explicit pairs
    in ``data_format``'s order otherwise (2-D only: ``tf.nn.conv2d`` takes explicit pads and a
    stride with a dilation; ``tf.nn.convolution`` takes neither). Raises ValueError for what TF
    cannot express: explicit pads, or a stride above 1 with a dilation above 1, in 1-D or 3-D;
    ``same_lower``/``full`` unresolved; ``flip=True``. The groups are implied by the filter's
    shape and not returned.
    """
    ndim, channels_last = _tf_format(data_format)
    spec = _checked_spec(spec, "TensorFlow")
    _spec_ndim(spec, ndim)
    strides = _expand("stride", spec.stride, ndim, "TensorFlow")
    dilations = _expand("dilation", spec.dilation, ndim, "TensorFlow")
    if ndim != 2 and any(d > 1 for d in dilations) and any(s > 1 for s in strides):
        raise ValueError(
            f"stride={tuple(strides)} with dilation={tuple(dilations)} in {ndim}-D:"
            " tf.nn.convolution requires every stride to be 1 when a dilation is above 1"
        )
    mode = spec.mode
    if mode in ("same", "valid"):
        padding: Any = mode.upper()
    else:
        pairs = _pairs(spec, ndim, "TensorFlow")
        if pairs is None:
            raise _needs_sizes(mode, "TensorFlow")
        if ndim != 2:
            raise ValueError(
                f"explicit pads {tuple(pairs)} in {ndim}-D: TensorFlow takes explicit pads only in"
                " tf.nn.conv2d; pad the input first (tf.pad) and use 'VALID'"
            )
        inner = [list(p) for p in pairs]
        padding = [[0, 0], *inner, [0, 0]] if channels_last else [[0, 0], [0, 0], *inner]
    return {
        "padding": padding,
        "strides": strides,
        "dilations": dilations,
        "data_format": data_format,
    }


# -------------------------------------------------------------------------------------- ONNX

_AUTO_PAD = {"SAME_UPPER": "same", "SAME_LOWER": "same_lower", "VALID": "valid"}


def from_onnx(
    *,
    auto_pad: str | bytes = "NOTSET",
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    group: int = 1,
    kernel_shape: Sequence[int] | None = None,
    output_padding: Sequence[int] | None = None,
    output_shape: Sequence[int] | None = None,
    op_type: str = "Conv",
) -> Translation:
    """ONNX ``Conv`` / ``ConvTranspose`` attributes in convgrad's terms.

    pads: ``[x1_begin, x2_begin, ..., x1_end, x2_end, ...]`` (2 per spatial dim), used when
    ``auto_pad`` is NOTSET; auto_pad SAME_UPPER is convgrad ``same``, SAME_LOWER
    ``same_lower``, VALID ``valid``. kernel_shape only fixes the number of dims. For
    ``ConvTranspose``, ``output_shape`` and ``auto_pad`` SAME_* set the pads from the input's
    size at run time: ValueError (give ``pads`` and ``output_padding``).
    """
    if op_type not in ("Conv", "ConvTranspose"):
        raise ValueError(f"op_type={op_type!r} must be 'Conv' or 'ConvTranspose'")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    if auto_pad not in ("NOTSET", *_AUTO_PAD):
        raise ValueError(f"auto_pad={auto_pad!r} must be NOTSET, SAME_UPPER, SAME_LOWER or VALID")
    lengths = {
        name: len(v)
        for name, v in (
            ("strides", strides),
            ("dilations", dilations),
            ("kernel_shape", kernel_shape),
        )
        if v is not None
    }
    if pads is not None:
        if len(pads) % 2:
            raise ValueError(f"pads={list(pads)!r} must hold 2 entries per spatial dim")
        lengths["pads / 2"] = len(pads) // 2
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the attributes disagree on the number of spatial dims: {lengths}")
    ndim = next(iter(lengths.values()), None)
    transposed = op_type == "ConvTranspose"
    if transposed and (output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER")):
        raise ValueError(
            "ConvTranspose with output_shape or auto_pad=SAME_*: its pads follow from the"
            " input's size at run time; give explicit pads (and output_padding) to translate it"
        )
    if auto_pad != "NOTSET":
        padding: Any = _AUTO_PAD[auto_pad]
    elif pads is None:
        padding = 0
    else:
        values = _per_dim("pads", pads, None, 0)
        half = len(values) // 2
        padding = tuple(zip(values[:half], values[half:], strict=True))
    spec = ConvSpec(
        padding=padding,
        stride=1 if strides is None else _per_dim("strides", strides, ndim, 1),
        dilation=1 if dilations is None else _per_dim("dilations", dilations, ndim, 1),
        groups=group,
    )
    extra = 0 if output_padding is None else _per_dim("output_padding", output_padding, ndim, 0)
    if extra and not transposed:
        raise ValueError("output_padding is a ConvTranspose attribute; op_type is 'Conv'")
    return Translation(spec, transposed=transposed, output_padding=extra)


def to_onnx(
    spec: SpecLike,
    *,
    ndim: int | None = None,
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
) -> dict:
    """Attributes of an ONNX ``Conv`` (``transposed``: ``ConvTranspose``) node: ``auto_pad``
    or ``pads`` (``[x1_begin, ..., x1_end, ...]``), ``strides``, ``dilations``, ``group``
    (and ``output_padding``).

    Modes map to auto_pad on Conv (same: SAME_UPPER, same_lower: SAME_LOWER, valid: VALID);
    a resolved spec, explicit pads and every ConvTranspose get explicit pads. Raises ValueError
    for ``full`` unresolved, a mode other than valid on an unresolved transposed spec, and
    ``flip=True``.
    """
    spec = _checked_spec(spec, "ONNX")
    ndim = _spec_ndim(spec, ndim)
    attrs: dict[str, Any] = {
        "strides": _expand("stride", spec.stride, ndim, "ONNX"),
        "dilations": _expand("dilation", spec.dilation, ndim, "ONNX"),
        "group": spec.groups,
    }
    mode = spec.mode
    reverse = {v: k for k, v in _AUTO_PAD.items()}
    if isinstance(spec, ConvSpec) and mode in reverse and not transposed:
        attrs["auto_pad"] = reverse[mode]
    else:
        pairs = _pairs(spec, ndim if ndim is not None else None, "ONNX")
        if pairs is None:
            raise _needs_sizes(mode, "ONNX ConvTranspose" if transposed else "ONNX")
        attrs["pads"] = [lo for lo, _ in pairs] + [hi for _, hi in pairs]
    if transposed:
        attrs["output_padding"] = _expand(
            "output_padding", _per_dim("output_padding", output_padding, ndim, 0), ndim, "ONNX"
        )
    return attrs


# --------------------------------------------------------------------------------------- JAX

_JAX_MODES = {"SAME": "same", "SAME_LOWER": "same_lower", "VALID": "valid"}


def from_jax(
    padding: str | Sequence[tuple[int, int]] = "VALID",
    window_strides: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    feature_group_count: int = 1,
    *,
    lhs_dilation: Sequence[int] | None = None,
    batch_group_count: int = 1,
) -> Translation:
    """``jax.lax.conv_general_dilated``'s arguments in convgrad's terms.

    padding: "SAME" (convgrad ``same``), "SAME_LOWER", "VALID" or one ``(lo, hi)`` per dim;
    window_strides, rhs_dilation: one per dim (None: 1). Raises ValueError for what convgrad's
    spec cannot hold: negative pads (JAX crops with them), ``lhs_dilation`` above 1 (a
    transposed convolution: translate its forward convolution and use
    ``convgrad.conv_transpose``) and ``batch_group_count`` other than 1.
    """
    if lhs_dilation is not None and any(v != 1 for v in lhs_dilation):
        raise ValueError(
            f"lhs_dilation={tuple(lhs_dilation)}: an input dilation is a transposed convolution;"
            " translate the forward convolution and use convgrad.conv_transpose"
        )
    if batch_group_count != 1:
        raise ValueError(f"batch_group_count={batch_group_count!r} has no convgrad spec (only 1)")
    if isinstance(padding, str):
        if padding.upper() not in _JAX_MODES:
            raise ValueError(f"padding={padding!r} must be 'SAME', 'SAME_LOWER', 'VALID' or pairs")
        pads: Any = _JAX_MODES[padding.upper()]
    else:
        pairs = [tuple(p) for p in padding]
        if any(len(p) != 2 or not all(is_int(v) for v in p) for p in pairs):
            raise TypeError(f"padding={padding!r} must be (lo, hi) int pairs, one per dim")
        if any(v < 0 for p in pairs for v in p):
            raise ValueError(
                f"padding={padding!r}: JAX crops with negative pads; convgrad's pads are >= 0"
            )
        pads = tuple((int(lo), int(hi)) for lo, hi in pairs)
    spec = ConvSpec(
        padding=pads,
        stride=1 if window_strides is None else _per_dim("window_strides", window_strides, None, 1),
        dilation=1 if rhs_dilation is None else _per_dim("rhs_dilation", rhs_dilation, None, 1),
        groups=feature_group_count,
    )
    return Translation(spec)


def to_jax(spec: SpecLike, *, ndim: int | None = None) -> dict:
    """Keyword arguments for ``jax.lax.conv_general_dilated``: ``window_strides``,
    ``padding`` ("SAME", "SAME_LOWER", "VALID" or ``(lo, hi)`` pairs), ``rhs_dilation``,
    ``feature_group_count``. Raises ValueError for ``full`` unresolved and ``flip=True``."""
    spec = _checked_spec(spec, "JAX")
    ndim = _spec_ndim(spec, ndim)
    mode = spec.mode
    reverse = {v: k for k, v in _JAX_MODES.items()}
    if isinstance(spec, ConvSpec) and mode in reverse:
        padding: Any = reverse[mode]
    else:
        pairs = _pairs(spec, ndim, "JAX")
        if pairs is None:
            raise _needs_sizes(mode, "JAX")
        padding = [tuple(p) for p in pairs]
    if ndim is None and not isinstance(padding, str):
        ndim = len(padding)
    return {
        "window_strides": tuple(_expand("stride", spec.stride, ndim, "JAX")),
        "padding": padding,
        "rhs_dilation": tuple(_expand("dilation", spec.dilation, ndim, "JAX")),
        "feature_group_count": spec.groups,
    }


# ---------------------------------------------------------------------------------- benchdnn

_BENCHDNN_TOKEN = re.compile(r"(mb|g|i[cdhw]|o[cdhw]|k[dhw]|s[dhw]|p[dhw]|d[dhw])(\d+)")
_AXES = "dhw"


def _c_div(a: int, b: int) -> int:
    """``a / b`` rounded toward zero, as C's integer division (benchdnn's arithmetic)."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _benchdnn_fields(descriptor: str) -> tuple[dict[str, int], str]:
    """The numeric fields and the name of a descriptor; ``_`` between fields is skipped and
    ``n`` starts the name, which runs to the end (its quotes, as batch files write it,
    dropped)."""
    fields: dict[str, int] = {}
    at = 0
    while at < len(descriptor):
        if descriptor[at] == "_":
            at += 1
            continue
        if descriptor[at] == "n":
            name = descriptor[at + 1 :]
            if len(name) >= 2 and name[0] == name[-1] == '"':
                name = name[1:-1]
            return fields, name
        match = _BENCHDNN_TOKEN.match(descriptor, at)
        if match is None:
            raise ValueError(
                f"descriptor={descriptor!r}: cannot read {descriptor[at:]!r} (fields: g, mb, ic,"
                ' i[dhw], oc, o[dhw], k[dhw], s[dhw], p[dhw], d[dhw], n"name")'
            )
        fields[match.group(1)] = int(match.group(2))
        at = match.end()
    return fields, ""


def _benchdnn_axis(descriptor: str, fields: dict[str, int], axis: str) -> dict[str, int] | None:
    """One spatial axis as benchdnn's ``str2desc`` completes it (None when the descriptor does
    not name the axis): o, i, k, s, p (front pad), d (dilation from 0)."""
    got = {kind: fields.get(kind + axis) for kind in "oiksdp"}
    s = 1 if got["s"] is None else got["s"]
    p = -1 if got["p"] is None else got["p"]
    if not any(got[kind] for kind in "oikd") and s == 1 and p < 1:
        return None
    i, k, o, d = (got[kind] or 0 for kind in "ikod")
    if i == 0 or k == 0:
        raise ValueError(
            f"descriptor={descriptor!r} names axis {axis} without i{axis} and k{axis} (both >= 1)"
        )
    if s == 0:
        raise ValueError(f"descriptor={descriptor!r}: s{axis}0 must be >= 1")
    extent = (k - 1) * (d + 1) + 1
    if o == 0:
        p = max(p, 0)
        o = _c_div(i - extent + 2 * p, s) + 1
        if o <= 0:
            raise ValueError(
                f"descriptor={descriptor!r}: i{axis}={i}, k{axis}={k}, s{axis}={s},"
                f" p{axis}={p}, d{axis}={d} give o{axis}={o}; it must be >= 1"
            )
    elif p < 0:
        p = _c_div((o - 1) * s - i + extent, 2)
    return {"o": o, "i": i, "k": k, "s": s, "p": p, "d": d}


def from_benchdnn(descriptor: str) -> BenchdnnLayer:
    """A oneDNN benchdnn convolution descriptor, e.g. ``mb2ic16ih32oc32oh32kh3ph1``.

    Read as benchdnn's ``str2desc`` reads it (oneDNN ``tests/benchdnn/conv/conv_aux.cpp`` with
    ``sanitize_desc`` in ``tests/benchdnn/common.cpp`` and ``init_pad_r`` in
    ``tests/benchdnn/conv/conv.hpp``, at commit 515bfba of 2025-03-14):

    - fields ``g`` groups (default 1), ``mb`` batch (default 2), ``ic``/``oc`` channels
      (required), and per spatial axis d/h/w: ``i?`` input, ``o?`` output, ``k?`` kernel,
      ``s?`` stride (default 1), ``p?`` front pad, ``d?`` dilation counted from 0 (``dh1`` is
      convgrad's dilation 2); ``_`` between fields is ignored; ``n`` starts the name, which
      runs to the end (``n"resnet_50:conv1"``; the quotes are dropped).
    - An axis is named when any of its ``i``, ``k``, ``o``, ``d`` is nonzero, its stride is not
      1 or its pad is >= 1; it then needs ``i`` and ``k``. Without ``o?`` the output is
      ``(i - ((k-1)(d+1)+1) + 2p) / s + 1`` (pad default 0; C division, toward zero); with
      ``o?`` and without ``p?`` the front pad is ``((o-1)s - i + (k-1)(d+1)+1) / 2``.
    - The axes completed, a 3-D descriptor (d named) naming neither h nor w copies d's
      values to both (naming one of them only is an error); a 2-D one (h named, d not)
      without w copies h's values to w (the output and pad as computed for h); else 1-D (w).
    - The back pad is benchdnn's ``(o-1)s - i + (k-1)(d+1)+1 - p``; where that is negative by
      less than a stride, the rows it drops lie where no window reaches and convgrad's back
      pad is 0 (the same outputs, as in ``ih6kh3sh2``).

    Raises ValueError (naming the descriptor and the rule) for an unknown field, a missing
    ``ic``/``oc``, ``g0`` or ``s?0``, a named axis without its input or kernel size, an
    output size below 1, groups that do not divide the channels, and a pad convgrad cannot
    take (a front pad below 0, or a back pad that crops rows a window reads).
    """
    if not isinstance(descriptor, str):
        raise TypeError(f"descriptor={descriptor!r} must be a str")
    fields, name = _benchdnn_fields(descriptor)
    for required in ("ic", "oc"):
        if not fields.get(required):
            raise ValueError(f"descriptor={descriptor!r} has no {required} (it must be >= 1)")
    groups = fields.get("g", 1)
    if groups == 0:
        raise ValueError(f"descriptor={descriptor!r}: g0 must be >= 1")
    found = {axis: _benchdnn_axis(descriptor, fields, axis) for axis in _AXES}
    if found["d"] is not None:
        if found["h"] is None and found["w"] is None:
            found["h"] = found["w"] = found["d"]
        elif found["h"] is None or found["w"] is None:
            raise ValueError(
                f"descriptor={descriptor!r}: a 3-D descriptor names both h and w or neither"
            )
        axes = "dhw"
    elif found["h"] is not None:
        if found["w"] is None:
            found["w"] = found["h"]
        axes = "hw"
    elif found["w"] is not None:
        axes = "w"
    else:
        raise ValueError(f"descriptor={descriptor!r} names no spatial axis (i[dhw], k[dhw])")
    pairs = []
    for axis in axes:
        a = found[axis]
        hi = (a["o"] - 1) * a["s"] - a["i"] + (a["k"] - 1) * (a["d"] + 1) + 1 - a["p"]
        if -a["s"] < hi < 0:
            # The last -hi rows lie where no window reaches: no back pad gives the same output.
            hi = 0
        if a["p"] < 0 or hi < 0:
            raise ValueError(
                f"descriptor={descriptor!r}: o{axis}={a['o']} needs pads ({a['p']}, {hi}) along"
                f" {axis}; convgrad's pads are >= 0"
            )
        pairs.append((a["p"], hi))
    spec = ConvSpec(
        padding=tuple(pairs),
        stride=tuple(found[a]["s"] for a in axes),
        dilation=tuple(found[a]["d"] + 1 for a in axes),
        groups=groups,
    )
    ic, oc = fields["ic"], fields["oc"]
    if ic % groups or oc % groups:
        raise ValueError(
            f"descriptor={descriptor!r}: ic={ic} and oc={oc} must divide by g={groups}"
        )
    input_shape = (fields.get("mb", 2), ic, *(found[a]["i"] for a in axes))
    weight_shape = (oc, ic // groups, *(found[a]["k"] for a in axes))
    output_shape_of(input_shape, weight_shape, spec)
    return BenchdnnLayer(spec, input_shape, weight_shape, name)


def to_benchdnn(
    spec: SpecLike,
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    *,
    name: str = "",
) -> str:
    """The canonical benchdnn descriptor of a layer (every axis written out, dilation from 0).

    benchdnn has no back pad: the output size implies it. Back pad rows no window reaches
    change nothing, so `from_benchdnn` of the result may give a smaller back pad but the same
    output, gradients and values. Raises ValueError for ``flip=True``."""
    spec = _checked_spec(spec, "benchdnn")
    input_shape, weight_shape = tuple(input_shape), tuple(weight_shape)
    ndim = len(input_shape) - 2
    if ndim not in (1, 2, 3):
        raise ValueError(f"input_shape={input_shape!r} must have 1, 2 or 3 spatial dims")
    resolved = (
        spec if isinstance(spec, ResolvedSpec) else spec.resolve(input_shape[2:], weight_shape[2:])
    )
    out = output_shape_of(input_shape, weight_shape, resolved)
    axes = "dhw"[3 - ndim :]
    parts = [f"g{resolved.groups}" if resolved.groups != 1 else "", f"mb{input_shape[0]}"]
    fields = {
        "i": input_shape[2:],
        "o": out[2:],
        "k": weight_shape[2:],
        "s": resolved.stride,
        "p": [lo for lo, _ in resolved.padding],
        "d": [d - 1 for d in resolved.dilation],
    }
    parts.append(f"ic{input_shape[1]}")
    parts += [f"i{a}{v}" for a, v in zip(axes, fields["i"], strict=True)]
    parts.append(f"oc{weight_shape[0]}")
    for kind in "okspd":
        parts += [f"{kind}{a}{v}" for a, v in zip(axes, fields[kind], strict=True)]
    if name:
        parts.append(f'n"{name}"')
    return "".join(parts)


__all__ = [
    "BenchdnnLayer",
    "Translation",
    "from_benchdnn",
    "from_jax",
    "from_onnx",
    "from_tf",
    "from_torch",
    "to_benchdnn",
    "to_jax",
    "to_onnx",
    "to_tf",
    "to_torch",
]
