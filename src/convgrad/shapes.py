"""Pure shape algebra of convolution and its gradients: integers in, integers out.

Per spatial dim, with input size I, kernel size K, pads lo/hi, stride s, dilation d:

- dilated kernel extent ``E = d*(K-1) + 1``; padded input ``P = I + lo + hi``
- output ``O = floor((P - E) / s) + 1`` (Dumoulin & Visin, arXiv 1603.07285, relationship 15)
- ``r = (P - E) mod s`` trailing padded positions no window reaches
- grad_input: the full correlation of the stride-dilated grad_y (``(O-1)*s + 1`` rows) with
  the rotated dilated kernel has ``(O-1)*s + E = P - r`` rows; cropped by ``lo`` at the start
  and ``hi - r`` at the end it has I rows.
- grad_weight: the valid correlation of the padded input with the stride-dilated grad_y, taken
  every d rows, has ``floor((P - (O-1)*s - 1) / d) + 1`` rows, K of which are used (the rest lie
  in the ``r`` unreached rows).
- transposed convolution: ``O_t = (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from convgrad.spec import DEPTHWISE, ConvSpec, ResolvedSpec, is_int, per_dim_ints


@dataclass(frozen=True)
class DimAlgebra:
    """Every size of one spatial dim of a convolution layer and its gradients."""

    dim: int
    input: int
    kernel: int
    lo: int
    hi: int
    stride: int
    dilation: int

    @property
    def extent(self) -> int:
        """The dilated kernel's extent ``d*(K-1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def padded(self) -> int:
        """The padded input's size ``I + lo + hi``."""
        return self.input + self.lo + self.hi

    @property
    def output(self) -> int:
        """``O = floor((I + lo + hi - d*(K-1) - 1) / s) + 1``."""
        return (self.padded - self.extent) // self.stride + 1

    @property
    def unreached(self) -> int:
        """Trailing padded positions no window reaches: ``(P - E) mod s``."""
        return (self.padded - self.extent) % self.stride

    @property
    def dilated_grad(self) -> int:
        """The stride-dilated grad_y's size ``(O-1)*s + 1``."""
        return (self.output - 1) * self.stride + 1

    @property
    def grad_weight_raw(self) -> int:
        """Rows of the valid correlation of the padded input with the stride-dilated grad_y,
        sampled every d rows: ``floor((P - (O-1)*s - 1) / d) + 1`` (>= K; == K unless rows are
        left unreached)."""
        return (self.padded - self.dilated_grad) // self.dilation + 1

    @property
    def grad_input_full(self) -> int:
        """The full correlation of the stride-dilated grad_y with the rotated dilated kernel:
        ``(O-1)*s + d*(K-1) + 1 = P - r`` rows before cropping the pads."""
        return self.dilated_grad + self.extent - 1

    @property
    def grad_input(self) -> int:
        """``P - r`` cropped by ``lo`` at the start and ``hi - r`` at the end: ``I``."""
        return self.grad_input_full - self.lo - (self.hi - self.unreached)


def _as_shape(name: str, shape: object) -> tuple:
    """``shape`` as a tuple; TypeError for None, a number, a string or bytes."""
    if isinstance(shape, (str, bytes, bytearray)) or not isinstance(shape, Iterable):
        raise TypeError(f"{name}={shape!r} must be a sequence of ints, e.g. (1, 3, 128, 128)")
    return tuple(shape)


def _check_rank(input_shape: tuple, weight_shape: tuple) -> int:
    for name, shape in (("input_shape", input_shape), ("weight_shape", weight_shape)):
        if not all(is_int(n) for n in shape):
            raise TypeError(f"{name}={tuple(shape)!r} must hold ints")
        if any(n < 1 for n in shape):
            raise ValueError(f"{name}={tuple(shape)!r}: every size must be >= 1")
    if len(input_shape) not in (3, 4, 5):
        raise ValueError(
            f"input_shape={tuple(input_shape)} has {len(input_shape)} dims; expected (N, C_in, *S)"
            " with 1, 2 or 3 spatial dims (3 to 5 dims)"
        )
    if len(weight_shape) != len(input_shape):
        raise ValueError(
            f"weight_shape={tuple(weight_shape)} has {len(weight_shape)} dims but input_shape="
            f"{tuple(input_shape)} has {len(input_shape)};"
            " the weight is (C_out, C_in // groups, *K)"
        )
    return len(input_shape) - 2


def check_channels(input_channels: int, weight_shape: Sequence[int], groups: int) -> None:
    """Raise ValueError unless C_in and C_out divide by groups and w is (C_out, C_in//groups, …)."""
    c_out, c_per_group = weight_shape[0], weight_shape[1]
    if input_channels % groups:
        raise ValueError(
            f"input channels C_in={input_channels} must be divisible by groups={groups}"
        )
    if c_out % groups:
        raise ValueError(
            f"output channels C_out=weight_shape[0]={c_out} must be divisible by groups={groups}"
        )
    if c_per_group * groups != input_channels:
        raise ValueError(
            f"weight_shape[1]={c_per_group} must equal C_in // groups = {input_channels} // "
            f"{groups} = {input_channels // groups}; the weight is (C_out, C_in // groups, *K)"
        )


def groups_of(spec: ConvSpec, input_channels: int, weight_shape: Sequence[int]) -> int:
    """The spec's group count for this input and kernel: its number, or for "depthwise" C_in
    after `depthwise_groups`' check."""
    if spec.groups == DEPTHWISE:
        return depthwise_groups(input_channels, weight_shape)
    return spec.groups


def depthwise_groups(input_channels: int, weight_shape: Sequence[int]) -> int:
    """The groups of a depthwise convolution, C_in, after checking that w is
    ``(multiplier * C_in, 1, *K)`` with ``multiplier >= 1``; ValueError naming the rule.

    Output channel ``c * multiplier + m`` is input channel c's m-th filter: PyTorch's
    ``nn.Conv2d(groups=in_channels, out_channels=K * in_channels)`` (group c owns output
    channels ``c*K .. c*K + K - 1``) and ``tf.nn.depthwise_conv2d`` (``output[b, i, j, k *
    channel_multiplier + q]``) agree.
    """
    c_out, c_per_group = weight_shape[0], weight_shape[1]
    if c_out % input_channels or c_per_group != 1:
        raise ValueError(
            f"groups={DEPTHWISE!r} needs w of shape (multiplier * C_in, 1, *K) with multiplier"
            f" >= 1 (output channel c * multiplier + m filters input channel c); C_in ="
            f" {input_channels}, w has C_out = {c_out}"
            + (" (not a multiple of C_in)" if c_out % input_channels else "")
            + f" and {c_per_group} input channel(s) per group"
        )
    return input_channels


def _spatial_dims(input_shape: Sequence[int], weight_shape: Sequence[int], spec: ResolvedSpec):
    """``(I, K, (lo, hi), s, d)`` per spatial dim."""
    return zip(
        input_shape[2:], weight_shape[2:], spec.padding, spec.stride, spec.dilation, strict=True
    )


def dim_algebra(
    input_shape: Sequence[int], weight_shape: Sequence[int], spec: ResolvedSpec
) -> tuple[DimAlgebra, ...]:
    """Per-dim algebra of a layer; ValueError when a dilated kernel does not fit (O < 1)."""
    dims = tuple(
        DimAlgebra(j, i, k, lo, hi, s, d)
        for j, (i, k, (lo, hi), s, d) in enumerate(_spatial_dims(input_shape, weight_shape, spec))
    )
    for a in dims:
        if a.output < 1:
            pad_text = f"padding={spec.mode!r}" if spec.mode != "explicit" else "the padding"
            raise ValueError(
                f"{pad_text} needs the dilated kernel ({a.extent} = {a.dilation}*({a.kernel}-1)+1)"
                f" to fit in the padded input ({a.padded} = {a.input}+{a.lo}+{a.hi}) along spatial"
                f" dim {a.dim}; it does not, so the output would be empty"
            )
    return dims


def output_sizes(
    input_shape: tuple[int, ...], weight_shape: tuple[int, ...], spec: ResolvedSpec
) -> tuple[int, ...]:
    """The output's spatial sizes ``O`` of `dim_algebra`, with its ValueError when O < 1.

    For `convgrad.conv`'s per-call path, on NumPy shapes whose rank and channels are already
    checked: the sizes alone, without building a `DimAlgebra` per dim (1 us instead of 3 on a
    2-D layer).
    """
    sizes = tuple(
        (i + lo + hi - d * (k - 1) - 1) // s + 1
        for i, k, (lo, hi), s, d in _spatial_dims(input_shape, weight_shape, spec)
    )
    if min(sizes) < 1:
        dim_algebra(input_shape, weight_shape, spec)  # raises, naming the dim that does not fit
    return sizes


def resolve(
    input_shape: Sequence[int], weight_shape: Sequence[int], spec: ConvSpec
) -> tuple[ResolvedSpec, tuple[DimAlgebra, ...]]:
    """Validate shapes against a spec; return the resolved spec and the per-dim algebra.

    input_shape: (N, C_in, *S); weight_shape: (C_out, C_in // groups, *K).
    """
    input_shape = _as_shape("input_shape", input_shape)
    weight_shape = _as_shape("weight_shape", weight_shape)
    _check_rank(input_shape, weight_shape)
    input_shape, weight_shape = tuple(map(int, input_shape)), tuple(map(int, weight_shape))
    check_channels(input_shape[1], weight_shape, groups_of(spec, input_shape[1], weight_shape))
    resolved = spec.resolve(
        tuple(input_shape[2:]), tuple(weight_shape[2:]), channels=input_shape[1]
    )
    return resolved, dim_algebra(input_shape, weight_shape, resolved)


def output_shape(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    *,
    padding="valid",
    stride=1,
    dilation=1,
    groups: int | str = 1,
) -> tuple[int, ...]:
    """The forward output's shape ``(N, C_out, *O)``, from shapes alone.

    Args:
        input_shape: x's shape ``(N, C_in, *S)``.
        weight_shape: w's shape ``(C_out, C_in // groups, *K)``.
        padding: a mode or explicit pads, as `convgrad.conv`.
        stride: an int >= 1 or one per spatial dim.
        dilation: an int >= 1 or one per spatial dim.
        groups: C_in and C_out must both be divisible by it; or "depthwise" (groups = C_in).

    Returns:
        ``(N, C_out, *O)``, ``O = floor((S + lo + hi - d*(K-1) - 1) / s) + 1`` per dim.

    Raises:
        TypeError: shapes that are not sequences of ints, bad argument types.
        ValueError: ranks or channels that disagree, an empty output, a bad padding, stride,
            dilation or groups.

    >>> output_shape((1, 3, 128, 128), (32, 3, 3, 3))
    (1, 32, 126, 126)
    >>> output_shape((1, 3, 128, 128), (32, 3, 3, 3), padding="full")
    (1, 32, 130, 130)
    """
    spec = ConvSpec(padding=padding, stride=stride, dilation=dilation, groups=groups)
    return output_shape_of(input_shape, weight_shape, spec)


def output_shape_of(
    input_shape: Sequence[int], weight_shape: Sequence[int], spec: ConvSpec | ResolvedSpec
) -> tuple[int, ...]:
    """`output_shape` under ``spec``'s padding, stride, dilation and groups: ``(N, C_out, *O)``
    for x ``(N, C_in, *S)`` and w ``(C_out, C_in // groups, *K)``. Raises as `output_shape`
    (TypeError for a ``spec`` that is neither a ConvSpec nor a ResolvedSpec)."""
    if isinstance(spec, ResolvedSpec):
        spec = ConvSpec(spec.padding, spec.stride, spec.dilation, spec.groups)
    elif not isinstance(spec, ConvSpec):
        raise TypeError(f"spec={spec!r} must be a ConvSpec or a ResolvedSpec")
    input_shape = _as_shape("input_shape", input_shape)
    weight_shape = _as_shape("weight_shape", weight_shape)
    _, dims = resolve(input_shape, weight_shape, spec)
    return (int(input_shape[0]), int(weight_shape[0]), *(a.output for a in dims))


def transpose_output_size(
    i: int, k: int, lo: int, hi: int, s: int, d: int, output_padding: int
) -> int:
    """``O_t = (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1`` (as
    ``torch.nn.ConvTranspose*d``; Dumoulin & Visin relationship 14)."""
    return (i - 1) * s - lo - hi + d * (k - 1) + output_padding + 1


def transpose_output_spatial(
    input_spatial: Sequence[int],
    kernel_spatial: Sequence[int],
    padding: Sequence[tuple[int, int]],
    stride: Sequence[int],
    dilation: Sequence[int],
    output_padding: Sequence[int],
) -> tuple[int, ...]:
    """`transpose_output_size` along every spatial dim."""
    return tuple(
        transpose_output_size(i, k, lo, hi, s, d, op)
        for i, k, (lo, hi), s, d, op in zip(
            input_spatial, kernel_spatial, padding, stride, dilation, output_padding, strict=True
        )
    )


def transpose_output_range(i: int, k: int, lo: int, hi: int, s: int, d: int) -> range:
    """The output sizes a transposed convolution reaches along one dim: `transpose_output_size`
    for ``0 <= output_padding < max(s, d)`` (PyTorch's bound on output_padding;
    ``nn.ConvTranspose*d(output_size=...)`` accepts only up to ``stride - 1`` of it)."""
    smallest = transpose_output_size(i, k, lo, hi, s, d, 0)
    return range(smallest, smallest + max(s, d))


def transpose_as_conv(lo: int, hi: int, s: int, output_padding: int) -> tuple[int, int]:
    """Along one dim, the conv a transposed convolution is the adjoint of: ``(hi_c, tail)``.

    The conv has pads ``(lo, hi_c)`` with ``hi_c = hi - min(hi, max(0, output_padding - s +
    1))`` and reads an input of ``O_t - tail`` rows; it leaves ``output_padding - (hi - hi_c) -
    tail < s`` of them unreached, and T's last ``tail = max(0, output_padding - hi - s + 1)``
    rows are past every input's reach (zero). With ``output_padding < s``: ``(hi, 0)``.

    >>> transpose_as_conv(0, 0, 1, 1)  # dilation 2 allows output_padding 1 at stride 1
    (0, 1)
    >>> transpose_as_conv(0, 3, 1, 1)
    (2, 0)
    """
    return hi - min(hi, max(0, output_padding - s + 1)), max(0, output_padding - hi - s + 1)


def check_output_padding(
    output_padding: object, stride: Sequence[int], dilation: Sequence[int]
) -> tuple[int, ...]:
    """output_padding (an int or one per dim) as one int per dim, each ``0 <= op < max(s, d)``
    (PyTorch's rule for ``nn.ConvTranspose*d``); ValueError/TypeError naming it otherwise."""
    extra = per_dim_ints("output_padding", output_padding, len(stride), 0)
    for j, (op, s, d) in enumerate(zip(extra, stride, dilation, strict=True)):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding={output_padding!r}: along spatial dim {j} it is {op}, but it must"
                f" be smaller than stride ({s}) or dilation ({d}) (as torch.nn.ConvTranspose:"
                " 0 <= output_padding < max(stride, dilation))"
            )
    return extra


def output_padding_for(
    output_size: Sequence[int],
    input_spatial: Sequence[int],
    kernel_spatial: Sequence[int],
    padding: Sequence[tuple[int, int]],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    """The output_padding that gives a transposed convolution this spatial ``output_size``;
    ValueError naming the reachable range (`transpose_output_range`) where there is none.

    >>> output_padding_for((10,), (5,), (3,), ((1, 1),), (2,), (1,))
    (1,)
    """
    extra = []
    for j, (size, i, k, (lo, hi), s, d) in enumerate(
        zip(output_size, input_spatial, kernel_spatial, padding, stride, dilation, strict=True)
    ):
        reach = transpose_output_range(i, k, lo, hi, s, d)
        if size not in reach:
            raise ValueError(
                f"output_size={tuple(output_size)!r}: along spatial dim {j} it is {size}, but"
                f" from input size {i}, kernel {k}, pads ({lo}, {hi}), stride {s} and dilation"
                f" {d} a transposed convolution reaches {reach.start} to {reach.stop - 1} (O_t ="
                " (I_t - 1)*s - lo - hi + d*(K-1) + output_padding + 1, 0 <= output_padding <"
                " max(stride, dilation))"
            )
        extra.append(size - reach.start)
    return tuple(extra)
