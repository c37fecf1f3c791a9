"""The convolution's hyper-parameters: padding, stride, dilation, groups, flip.

`ConvSpec` holds what the user wrote and validates it on construction; `ConvSpec.resolve`
turns it into a `ResolvedSpec` for concrete input and kernel sizes, with one explicit
``(lo, hi)`` pad pair per spatial dim. Padding modes follow docs/design.md:

- ``"valid"``: no padding.
- ``"full"``: ``d*(K-1)`` on both sides.
- ``"same"``: output ``ceil(I / s)``, the odd pad at the end. PyTorch ``padding="same"``
  (torch/nn/modules/conv.py, ``_reversed_padding_repeated_twice``), TensorFlow/XLA ``SAME``
  (``lax.padtype_to_pads``), ONNX ``auto_pad=SAME_UPPER``.
- ``"same_lower"``: as ``same`` but the odd pad at the start: ONNX ``SAME_LOWER``, and
  ``scipy.signal.correlate(..., mode="same")`` for stride 1.
- explicit: an int, one int per dim, or one ``(lo, hi)`` pair per dim.

``padding_mode`` says what the pads hold (PyTorch ``nn.Conv*d(padding_mode=...)``, numpy.pad's
modes): "zeros" (the default), "reflect" (mirrored about the edge, the edge not repeated;
numpy "reflect"), "replicate" (the edge repeated; numpy "edge") or "circular" (wrapped around;
numpy "wrap"). As ``torch.nn.functional.pad`` requires, a "reflect" pad must be smaller than the
input side and a "circular" pad at most the input side (`check_padding_mode`); every padding
(``same``, ``full``, explicit) takes every mode under that rule, including ``full``, which
PyTorch does not offer.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from operator import le, lt

MODES = ("valid", "same", "same_lower", "full")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
DEPTHWISE = "depthwise"
"""The group count written as a word: one group per input channel (groups = C_in), each
producing ``multiplier = C_out / C_in`` output channels (`convgrad.shapes.depthwise_groups`);
resolved to the number when the input's channel count is known."""
PaddingArg = str | int | Sequence[int] | Sequence[tuple[int, int]]
IntOrTuple = int | Sequence[int]


_BYTES = (bytes, bytearray, memoryview)
"""Sequences of ints to Python, never meant as sizes: ``padding=b"ab"`` is not pads (97, 98)."""


def is_int(value: object) -> bool:
    """An integral number that is not a bool (``int``, NumPy integers; not ``True``)."""
    # The exact-type test first: the abstract-class check is slow and runs per argument per call.
    return type(value) is int or (
        isinstance(value, numbers.Integral) and not isinstance(value, bool)
    )


def _ints_at_least(name: str, value: object, minimum: int) -> tuple[int, ...] | int:
    """Validate an int or a sequence of ints, each >= minimum; keep its form (int or tuple)."""
    if is_int(value):
        if value < minimum:
            raise ValueError(f"{name}={value!r} must be >= {minimum}")
        return int(value)
    if isinstance(value, Sequence) and not isinstance(value, (str, *_BYTES)):
        items = tuple(value)
        if not items:
            raise ValueError(f"{name}={value!r} must name at least one spatial dim")
        for item in items:
            if not is_int(item):
                raise TypeError(f"{name}={value!r} must hold ints, got {type(item).__name__}")
            if item < minimum:
                raise ValueError(f"{name}={value!r}: every entry must be >= {minimum}")
        return tuple(int(item) for item in items)
    raise TypeError(f"{name}={value!r} must be an int or a sequence of ints")


def per_dim_ints(name: str, value: object, ndim: int, minimum: int) -> tuple[int, ...]:
    """An int or one int per spatial dim, each >= minimum, as one int per dim."""
    return _per_dim(name, _ints_at_least(name, value, minimum), ndim)


def _padding_arg(value: object) -> str | int | tuple:
    """Validate the padding argument's form; keep its form for per-dim expansion."""
    if isinstance(value, str):
        if value not in MODES:
            raise ValueError(
                f"padding={value!r} is not a mode; use one of {MODES} or explicit pads"
            )
        return value
    if is_int(value):
        if value < 0:
            raise ValueError(f"padding={value!r} must be >= 0")
        return int(value)
    if isinstance(value, Sequence) and not isinstance(value, _BYTES):
        items = tuple(value)
        if not items:
            raise ValueError(f"padding={value!r} must name at least one spatial dim")
        if all(is_int(item) for item in items):
            if any(item < 0 for item in items):
                raise ValueError(f"padding={value!r}: every pad must be >= 0")
            return tuple(int(item) for item in items)
        pairs = []
        for item in items:
            if not (
                isinstance(item, Sequence)
                and not isinstance(item, (str, *_BYTES))
                and len(item) == 2
                and all(is_int(p) for p in item)
            ):
                raise TypeError(
                    f"padding={value!r} must be ints or (lo, hi) int pairs, one per spatial dim;"
                    f" got {item!r}"
                )
            if item[0] < 0 or item[1] < 0:
                raise ValueError(f"padding={value!r}: every pad must be >= 0, got {tuple(item)}")
            pairs.append((int(item[0]), int(item[1])))
        return tuple(pairs)
    raise TypeError(
        f"padding={value!r} must be a mode name, an int, ints per dim or (lo, hi) pairs per dim"
    )


def _per_dim(name: str, value: int | tuple, ndim: int) -> tuple:
    if isinstance(value, tuple):
        if len(value) != ndim:
            raise ValueError(
                f"{name}={value!r} has {len(value)} entries but the input has {ndim} spatial dims"
            )
        return value
    return (value,) * ndim


def check_padding_mode(
    padding_mode: str,
    padding: Sequence[tuple[int, int]],
    input_spatial: Sequence[int],
    mode: str = "explicit",
) -> None:
    """ValueError where ``padding_mode`` cannot fill these pads from this input, as
    ``torch.nn.functional.pad`` refuses: a "reflect" pad must be smaller than the input side
    (the mirror image excludes the edge), a "circular" pad at most the input side (it wraps
    once). ``mode``: the padding argument the pads were resolved from ("full", "same", ...),
    named in the message when the pads were not written explicitly."""
    rules = {"reflect": ("smaller than", lt), "circular": ("at most", le)}
    if padding_mode not in rules:
        return
    words, fits = rules[padding_mode]
    source = "" if mode == "explicit" else f" (from padding={mode!r})"
    for j, ((lo, hi), size) in enumerate(zip(padding, input_spatial, strict=True)):
        if not (fits(lo, size) and fits(hi, size)):
            raise ValueError(
                f"padding_mode={padding_mode!r} with pads ({lo}, {hi}){source} along spatial dim"
                f" {j} of input size {size}: each {padding_mode} pad must be {words} the input"
                " size (as torch.nn.functional.pad); use smaller pads, a larger input or"
                " padding_mode='replicate'"
            )


def same_pads(i: int, k: int, s: int, d: int, *, lower: bool = False) -> tuple[int, int]:
    """The (lo, hi) pads of ``same`` (extra pad at the end) or ``same_lower`` (at the start).

    ``O = ceil(I / s)``; ``total = max((O-1)*s + d*(K-1) + 1 - I, 0)``; as in
    ``jax.lax.padtype_to_pads`` (TensorFlow/XLA SAME) and ONNX SAME_UPPER / SAME_LOWER.
    """
    out = -(-i // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - i, 0)
    small, large = total // 2, total - total // 2
    return (large, small) if lower else (small, large)


@dataclass(frozen=True)
class ResolvedSpec:
    """A spec with one value per spatial dim; what an implementation under test receives.

    mode: "valid" | "same" | "same_lower" | "full" | "explicit"
    padding: ((lo, hi), ...) per spatial dim; stride, dilation: per spatial dim.
    padding_mode: what the pads hold, one of `PADDING_MODES` (see the module docstring).
    """

    mode: str
    padding: tuple[tuple[int, int], ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    flip: bool
    padding_mode: str = "zeros"

    @property
    def ndim(self) -> int:
        """The number of spatial dims."""
        return len(self.padding)

    def to_dict(self) -> dict:
        """A JSON-ready description; "padding_mode" only when it is not "zeros", so the records
        (and the conformance vectors' hashes) of zero-padded layers are those of earlier
        versions."""
        record = {
            "mode": self.mode,
            "padding": [list(p) for p in self.padding],
            "stride": list(self.stride),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "flip": self.flip,
        }
        if self.padding_mode != "zeros":
            record["padding_mode"] = self.padding_mode
        return record


@dataclass(frozen=True)
class ConvSpec:
    """Padding, stride, dilation, groups and flip, validated on construction.

    padding: a mode (see module docstring), an int, one int per dim or one (lo, hi) per dim.
    stride, dilation: int >= 1 or one per spatial dim. groups: int >= 1, or "depthwise"
    (groups = C_in, w of shape ``(multiplier * C_in, 1, *K)``: resolved with the input's
    channels, `resolve`'s ``channels``).
    flip: False for cross-correlation (every DL framework), True for true convolution
    (kernel rotated 180°, as ``scipy.signal.convolve``).
    padding_mode: "zeros", "reflect", "replicate" or "circular": what the pads hold.
    """

    padding: PaddingArg = "valid"
    stride: IntOrTuple = 1
    dilation: IntOrTuple = 1
    groups: int | str = 1
    flip: bool = False
    padding_mode: str = "zeros"

    def __post_init__(self) -> None:
        object.__setattr__(self, "padding", _padding_arg(self.padding))
        object.__setattr__(self, "stride", _ints_at_least("stride", self.stride, 1))
        object.__setattr__(self, "dilation", _ints_at_least("dilation", self.dilation, 1))
        if isinstance(self.groups, str):
            if self.groups != DEPTHWISE:
                raise ValueError(f"groups={self.groups!r} must be an int >= 1 or {DEPTHWISE!r}")
        elif not is_int(self.groups):
            raise TypeError(f"groups={self.groups!r} must be an int or {DEPTHWISE!r}")
        elif self.groups < 1:
            raise ValueError(f"groups={self.groups!r} must be >= 1")
        else:
            object.__setattr__(self, "groups", int(self.groups))
        if not isinstance(self.flip, bool):
            raise TypeError(f"flip={self.flip!r} must be a bool")
        if not isinstance(self.padding_mode, str):
            raise TypeError(f"padding_mode={self.padding_mode!r} must be a str")
        if self.padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode={self.padding_mode!r} must be one of {PADDING_MODES}")

    @classmethod
    def from_torch(cls, module=None, /, **kwargs) -> ConvSpec:
        """`convgrad.translate.from_torch`'s spec; ValueError for a transposed layer (use that
        function: it returns ``transposed`` and ``output_padding`` too)."""
        return _convolution(_translate().from_torch(module, **kwargs), "from_torch")

    @classmethod
    def from_tf(cls, *args, **kwargs) -> ConvSpec:
        """`convgrad.translate.from_tf`'s spec (its ``channels_last`` is the data's layout)."""
        return _translate().from_tf(*args, **kwargs).spec

    @classmethod
    def from_onnx(cls, **kwargs) -> ConvSpec:
        """`convgrad.translate.from_onnx`'s spec; ValueError for a ConvTranspose node."""
        return _convolution(_translate().from_onnx(**kwargs), "from_onnx")

    @classmethod
    def from_jax(cls, *args, **kwargs) -> ConvSpec:
        """`convgrad.translate.from_jax`'s spec."""
        return _translate().from_jax(*args, **kwargs).spec

    @classmethod
    def from_benchdnn(cls, descriptor: str) -> ConvSpec:
        """`convgrad.translate.from_benchdnn`'s spec (that function gives the shapes too)."""
        return _translate().from_benchdnn(descriptor).spec

    @property
    def mode(self) -> str:
        """The padding mode's name, or "explicit"."""
        return self.padding if isinstance(self.padding, str) else "explicit"

    def resolve(
        self,
        input_spatial: Sequence[int],
        kernel_spatial: Sequence[int],
        *,
        channels: int | None = None,
    ) -> ResolvedSpec:
        """Per-dim pads, strides and dilations for these input and kernel spatial sizes.

        channels: the input's channel count C_in, which groups="depthwise" resolves to (not
        needed otherwise; `convgrad.shapes.resolve` also checks the kernel against it).

        Raises ValueError when a per-dim argument's length differs from the number of dims,
        when padding_mode cannot fill the pads (`check_padding_mode`), or for "depthwise"
        without ``channels``. Output sizes are checked by `convgrad.shapes`, not here.
        """
        groups = self.groups
        if groups == DEPTHWISE:
            if channels is None:
                raise ValueError(
                    f"groups={DEPTHWISE!r} is groups = C_in: resolve it with the input's channel"
                    " count, resolve(input_spatial, kernel_spatial, channels=C_in)"
                )
            groups = int(channels)
        ndim = len(input_spatial)
        if len(kernel_spatial) != ndim:
            raise ValueError(
                f"kernel spatial shape {tuple(kernel_spatial)} has {len(kernel_spatial)} dims but"
                f" the input spatial shape {tuple(input_spatial)} has {ndim}"
            )
        stride = _per_dim("stride", self.stride, ndim)
        dilation = _per_dim("dilation", self.dilation, ndim)
        padding = self._resolve_padding(input_spatial, kernel_spatial, stride, dilation)
        check_padding_mode(self.padding_mode, padding, input_spatial, self.mode)
        return ResolvedSpec(
            self.mode, padding, stride, dilation, groups, self.flip, self.padding_mode
        )

    def _resolve_padding(self, input_spatial, kernel_spatial, stride, dilation):
        mode, ndim = self.padding, len(input_spatial)
        dims = zip(input_spatial, kernel_spatial, stride, dilation, strict=True)
        if mode == "valid":
            return ((0, 0),) * ndim
        if mode == "full":
            return tuple((d * (k - 1), d * (k - 1)) for _, k, _, d in dims)
        if mode in ("same", "same_lower"):
            return tuple(same_pads(i, k, s, d, lower=mode == "same_lower") for i, k, s, d in dims)
        pads = _per_dim("padding", mode, ndim)
        return tuple(p if isinstance(p, tuple) else (p, p) for p in pads)


def _translate():
    # translate.py builds on this module: imported when a from_* classmethod runs.
    from convgrad import translate

    return translate


def _convolution(translation, name: str) -> ConvSpec:
    if translation.transposed:
        raise ValueError(
            f"ConvSpec.{name}: the layer is a transposed convolution, which a ConvSpec alone does"
            f" not describe; use convgrad.translate.{name} (it returns the spec, transposed=True"
            " and output_padding)"
            + (
                "; convgrad.TransposeSpec.from_torch builds its spec"
                if name == "from_torch"
                else ""
            )
        )
    return translation.spec
