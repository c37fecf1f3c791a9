"""JAX as an implementation under test: a JAX function becomes the verify protocol.

``fn(x, w, spec) -> y`` takes JAX arrays ``x: (N, C_in, *S)``, ``w: (C_out, C_in // g, *K)`` and
a `convgrad.ResolvedSpec`, and returns ``y: (N, C_out, *O)``. `from_jax` wraps it as
``forward(x, w, spec) -> ndarray`` and ``backward(x, w, grad_y, spec) -> (grad_x, grad_w)``,
the gradients by ``jax.vjp``. `jax_conv` is such an ``fn`` built on
``jax.lax.conv_general_dilated``; `jax_conv_transpose_pair` checks ``jax.lax.conv_transpose``
as a convolution's gradient, `jax_conv_transpose` as a transposed convolution (for
`convgrad.verify_transpose`).

float64: JAX computes in float32 unless its ``jax_enable_x64`` flag is on. `from_jax` never
changes the global flag: with ``x64=None`` (default) each call runs inside the scoped
``jax.enable_x64(True)`` context when the data are float64 and ``jax.enable_x64(False)``
otherwise (the context is per thread and restored on exit); ``x64=True``/``False`` forces one.
With ``x64=False`` float64 data are computed in float32 and verify reports the dtype.

JAX is optional (``pip install convgrad[jax]``): it is imported when one of these functions is
called, and its absence raises ImportError with the install command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from convgrad.adapters.plain import plain_spec
from convgrad.spec import ResolvedSpec
from convgrad.translate import to_jax

if TYPE_CHECKING:
    from convgrad.verification.transposed import TransposeSpec

    Forward = Callable[[np.ndarray, np.ndarray, ResolvedSpec], np.ndarray]
    Backward = Callable[
        [np.ndarray, np.ndarray, np.ndarray, ResolvedSpec], tuple[np.ndarray, np.ndarray]
    ]

INSTALL_HINT = "pip install convgrad[jax]"
PRECISIONS = (None, "default", "high", "highest")


def _jax():
    try:
        import jax
    except ImportError as err:
        raise ImportError(
            f"convgrad.adapters.jax needs JAX, which is not installed: {INSTALL_HINT}"
        ) from err
    return jax


def _precision(precision: str | None) -> str | None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {PRECISIONS}")
    return precision


def jax_conv(x, w, spec: ResolvedSpec, *, precision: str | None = None):
    """The oracle's convolution in JAX: ``jax.lax.conv_general_dilated`` with the spec's
    explicit pads (`convgrad.translate.to_jax`), the kernel reversed along its spatial axes
    when ``spec.flip``.

    x: (N, C_in, *S); w: (C_out, C_in // g, *K) -> (N, C_out, *O) (JAX's default NC.../OI...
    dimension numbers). precision: ``jax.lax.Precision`` name (None: JAX's default).
    """
    jax = _jax()
    precision = _precision(precision)
    if spec.flip:
        w = jax.numpy.flip(w, axis=tuple(range(2, 2 + spec.ndim)))
    kwargs = to_jax(plain_spec(spec, "jax.lax.conv_general_dilated"))
    return jax.lax.conv_general_dilated(x, w, precision=precision, **kwargs)


def _scope(x64: bool | None, arrays: tuple[np.ndarray, ...]):
    enable = any(np.asarray(a).dtype == np.float64 for a in arrays) if x64 is None else x64
    jax = _jax()
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(enable)
    # JAX before the context manager moved to the top level.
    from jax.experimental import disable_x64, enable_x64

    return enable_x64() if enable else disable_x64()


def _array(name: str, value) -> np.ndarray:
    jax = _jax()
    if not isinstance(value, jax.Array):
        raise TypeError(
            f"{name} is a {type(value).__name__}; the JAX function must return a jax.Array"
        )
    return np.asarray(value)


def _check_x64(x64: object) -> bool | None:
    if x64 is not None and not isinstance(x64, bool):
        raise TypeError(f"x64={x64!r} must be None, True or False")
    return x64


def from_jax(fn: Callable, *, x64: bool | None = None) -> tuple[Forward, Backward]:
    """``(forward, backward)`` in the verify protocol for a JAX function ``fn(x, w, spec)``.

    forward(x, w, spec) -> y: (N, C_out, *O) ndarray; backward(x, w, grad_y, spec) ->
    (grad_x, grad_w) by ``jax.vjp(lambda x, w: fn(x, w, spec), x, w)[1](grad_y)``. x64: see the
    module docstring (None: scoped to float64 data; the global flag is never changed).
    ``convgrad.verify(*from_jax(jax_conv))`` checks JAX itself.
    """
    if not callable(fn):
        raise TypeError(f"fn={fn!r} must be callable as fn(x, w, spec) -> jax.Array")
    x64 = _check_x64(x64)
    jax = _jax()

    def forward(x: np.ndarray, w: np.ndarray, spec: ResolvedSpec) -> np.ndarray:
        with _scope(x64, (x, w)):
            return _array("fn(x, w, spec)", fn(jax.numpy.asarray(x), jax.numpy.asarray(w), spec))

    def backward(
        x: np.ndarray, w: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        with _scope(x64, (x, w, grad_y)):
            y, pullback = jax.vjp(
                lambda xj, wj: fn(xj, wj, spec), jax.numpy.asarray(x), jax.numpy.asarray(w)
            )
            _array("fn(x, w, spec)", y)
            grad_x, grad_w = pullback(jax.numpy.asarray(grad_y, dtype=y.dtype))
            return np.asarray(grad_x), np.asarray(grad_w)

    return forward, backward


def _transpose_padding(spec: ResolvedSpec, kernel: tuple[int, ...], x_spatial, y_spatial):
    """``jax.lax.conv_transpose`` pads giving x's size from grad_y: per dim
    ``(d*(K-1) - lo, d*(K-1) - hi + r)`` with r the rows the forward left unreached."""
    pads = []
    for (lo, hi), s, d, k, i, o in zip(
        spec.padding, spec.stride, spec.dilation, kernel, x_spatial, y_spatial, strict=True
    ):
        extent = d * (k - 1)
        unreached = i + lo + hi - ((o - 1) * s + extent + 1)
        pads.append((extent - lo, extent - hi + unreached))
    return pads


def _lax_transpose(x, w, pads, stride, dilation, precision: str | None):
    """``jax.lax.conv_transpose`` with ``transpose_kernel=True`` (w read as the
    ``(C_out_c, C_in_c, *K)`` weight of the convolution it transposes) and explicit pads on the
    stride-dilated input, in NC.../OI... dimension numbers."""
    spatial = "DHW"[3 - len(stride) :]
    dims = "NC" + spatial
    return _jax().lax.conv_transpose(
        x,
        w,
        strides=stride,
        padding=pads,
        rhs_dilation=dilation,
        dimension_numbers=(dims, "OI" + spatial, dims),
        transpose_kernel=True,
        precision=precision,
    )


def jax_conv_transpose(x, w, spec: TransposeSpec, *, precision: str | None = None):
    """A transposed convolution in JAX under a `convgrad.TransposeSpec`, for
    ``convgrad.verify_transpose(*from_jax(jax_conv_transpose))``: ``jax.lax.conv_transpose``
    (``transpose_kernel=True``) with pads ``(d*(K-1) - lo, d*(K-1) - hi + output_padding)`` per
    dim; ``jax.lax.conv_transpose`` has no feature_group_count, so groups > 1 run one transpose
    per group (x's and w's channel blocks) and concatenate the outputs.

    x: (N, C_in, *S); w: (C_in, C_out // g, *K) (torch.nn.ConvTranspose's layout) -> (N, C_out,
    *O_t). precision: ``jax.lax.Precision`` name (None: JAX's default).
    """
    jax = _jax()
    precision = _precision(precision)
    pads = [
        (d * (k - 1) - lo, d * (k - 1) - hi + op)
        for (lo, hi), d, k, op in zip(
            spec.padding, spec.dilation, w.shape[2:], spec.output_padding, strict=True
        )
    ]
    block = x.shape[1] // spec.groups
    outputs = [
        _lax_transpose(
            x[:, j * block : (j + 1) * block],
            w[j * block : (j + 1) * block],
            pads,
            spec.stride,
            spec.dilation,
            precision,
        )
        for j in range(spec.groups)
    ]
    return outputs[0] if spec.groups == 1 else jax.numpy.concatenate(outputs, axis=1)


def jax_conv_transpose_pair(
    *, precision: str | None = None, x64: bool | None = None
) -> tuple[Forward, Backward]:
    """``(forward, backward)`` in the verify protocol computed by ``jax.lax.conv_transpose``
    (``transpose_kernel=True``: the gradient of a convolution, the ``T`` of
    ``conv_transpose(grad_y, w) = grad_input``), so verify checks JAX's transposed convolution:

    - backward: ``grad_x = T(grad_y, w)`` (the transposed convolution itself, with pads that
      give x's size) and ``grad_w = d<x, T(grad_y, w)>/dw`` (by ``jax.vjp``);
    - forward: ``y = d<x, T(g, w)>/dg``, the adjoint of T, which is the convolution.

    Groups are not supported by ``jax.lax.conv_transpose`` (ValueError from it for groups > 1);
    flip is applied by reversing the kernel.
    """
    x64 = _check_x64(x64)
    precision = _precision(precision)
    jax = _jax()

    def transposed(gy, w, spec: ResolvedSpec, x_shape):
        if spec.flip:
            w = jax.numpy.flip(w, axis=tuple(range(2, 2 + spec.ndim)))
        if spec.groups != 1:
            raise ValueError(
                f"groups={spec.groups}: jax.lax.conv_transpose has no feature_group_count"
            )
        pads = _transpose_padding(spec, tuple(w.shape[2:]), x_shape[2:], gy.shape[2:])
        return _lax_transpose(gy, w, pads, spec.stride, spec.dilation, precision)

    def forward(x: np.ndarray, w: np.ndarray, spec: ResolvedSpec) -> np.ndarray:
        from convgrad.shapes import output_shape_of

        shape = output_shape_of(x.shape, w.shape, spec)
        with _scope(x64, (x, w)):
            xj, wj = jax.numpy.asarray(x), jax.numpy.asarray(w)
            zero = jax.numpy.zeros(shape, dtype=xj.dtype)
            _, pullback = jax.vjp(lambda g: transposed(g, wj, spec, x.shape), zero)
            (y,) = pullback(xj)
            return np.asarray(y)

    def backward(
        x: np.ndarray, w: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        with _scope(x64, (x, w, grad_y)):
            xj, gyj = jax.numpy.asarray(x), jax.numpy.asarray(grad_y)
            grad_x, pullback = jax.vjp(
                lambda wj: transposed(gyj, wj, spec, x.shape), jax.numpy.asarray(w)
            )
            (grad_w,) = pullback(xj.astype(grad_x.dtype))
            return np.asarray(grad_x), np.asarray(grad_w)

    return forward, backward


def version() -> dict[str, Any]:
    """JAX's and jaxlib's versions, the backend and whether x64 is on globally."""
    jax = _jax()
    import jaxlib

    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(),
        "x64_global": bool(jax.config.jax_enable_x64),
    }


__all__ = [
    "INSTALL_HINT",
    "PRECISIONS",
    "from_jax",
    "jax_conv",
    "jax_conv_transpose",
    "jax_conv_transpose_pair",
    "version",
]
