"""TensorFlow as an implementation under test: a TF function becomes the verify protocol.

``fn(x, w, spec) -> y`` takes TF tensors in TensorFlow's layouts: ``x`` in ``data_format``
(``NHWC`` and its 1-D/3-D forms ``NWC``/``NDHWC``, or ``NCHW``/``NCW``/``NCDHW``), the filter
``w: (*K, C_in // g, C_out)``, and a `convgrad.ResolvedSpec`; it returns ``y`` in
``data_format``. `from_tensorflow` converts convgrad's channels-first arrays at the edge and
takes gradients with ``tf.GradientTape``. `tf_conv` is such an ``fn`` built on
``tf.nn.convolution`` / ``tf.nn.conv2d`` with the keywords of `convgrad.translate.to_tf`.

TensorFlow is optional (``pip install convgrad[tensorflow]``): it is imported when one of these
functions is called, and its absence raises ImportError with the install command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from convgrad.adapters.plain import plain_spec
from convgrad.spec import ResolvedSpec
from convgrad.translate import TF_FORMATS, to_tf

if TYPE_CHECKING:
    Forward = Callable[[np.ndarray, np.ndarray, ResolvedSpec], np.ndarray]
    Backward = Callable[
        [np.ndarray, np.ndarray, np.ndarray, ResolvedSpec], tuple[np.ndarray, np.ndarray]
    ]

INSTALL_HINT = "pip install convgrad[tensorflow]"
CHANNELS_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
CHANNELS_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


def _tf():
    try:
        import tensorflow as tf
    except ImportError as err:
        raise ImportError(
            f"convgrad.adapters.tensorflow needs TensorFlow, which is not installed: {INSTALL_HINT}"
        ) from err
    return tf


def _layout(data_format: str) -> bool:
    """True for channels-last; ValueError for an unknown format."""
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"data_format={data_format!r} must be 'channels_last' (NWC/NHWC/NDHWC) or"
            " 'channels_first' (NCW/NCHW/NCDHW)"
        )
    return data_format == "channels_last"


def tf_conv(x, w, spec: ResolvedSpec):
    """The oracle's convolution in TensorFlow; the layout is read from x's rank and
    ``spec`` is applied as `convgrad.translate.to_tf` writes it, with x in channels-last.

    x: (N, *S, C_in); w: (*K, C_in // g, C_out) -> (N, *O, C_out). "SAME" and "VALID" go to
    ``tf.nn.convolution`` as they are, 2-D explicit pads without dilation to ``tf.nn.conv2d``;
    other pads are applied with ``tf.pad`` before a "VALID" convolution; a 2-D stride with a
    dilation goes to ``tf.nn.conv2d`` (its CPU gradient refuses it). The kernel is reversed
    when ``spec.flip``.
    """
    return _tf_conv(x, w, spec, CHANNELS_LAST[spec.ndim])


def tf_conv_channels_first(x, w, spec: ResolvedSpec):
    """`tf_conv` with x: (N, C_in, *S) -> (N, C_out, *O) (``NCHW`` and friends; TF's CPU
    kernels may not implement them: TF then raises)."""
    return _tf_conv(x, w, spec, CHANNELS_FIRST[spec.ndim])


def _tf_conv(x, w, spec: ResolvedSpec, data_format: str):
    tf = _tf()
    _, channels_last = TF_FORMATS[data_format]
    if spec.flip:
        w = tf.reverse(w, axis=list(range(spec.ndim)))
    plain = plain_spec(spec, "TensorFlow's convolution")
    dilated = any(d > 1 for d in spec.dilation)
    if spec.mode in ("same", "valid") or (spec.ndim == 2 and not dilated):
        kwargs = to_tf(plain, data_format=data_format)
    else:
        # Explicit pads by tf.pad: tf.nn.convolution takes none, and tf.nn.conv2d's CPU
        # gradient kernels refuse a dilation above 1.
        spatial = range(1, 1 + spec.ndim) if channels_last else range(2, 2 + spec.ndim)
        pads = [[0, 0]] * (spec.ndim + 2)
        for axis, pair in zip(spatial, spec.padding, strict=True):
            pads[axis] = list(pair)
        x = tf.pad(x, pads)
        valid = ((0, 0),) * spec.ndim
        kwargs = to_tf(
            ResolvedSpec("valid", valid, spec.stride, spec.dilation, spec.groups, False),
            data_format=data_format,
        )
    strided = any(s > 1 for s in spec.stride)
    if spec.ndim == 2 and (isinstance(kwargs["padding"], list) or (strided and dilated)):
        return tf.nn.conv2d(x, w, **kwargs)
    return tf.nn.convolution(x, w, **kwargs)


def _to_tf_layout(x: np.ndarray, channels_last: bool) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if channels_last else x


def _kernel(w: np.ndarray) -> np.ndarray:
    """(C_out, C_in // g, *K) -> TF's (*K, C_in // g, C_out)."""
    return np.ascontiguousarray(np.moveaxis(w, (0, 1), (-1, -2)))


def _from_kernel(w):
    return np.moveaxis(np.asarray(w), (-1, -2), (0, 1))


def _array(name: str, value, channels_last: bool) -> np.ndarray:
    tf = _tf()
    if not isinstance(value, tf.Tensor):
        raise TypeError(
            f"{name} is a {type(value).__name__}; the TF function must return a tf.Tensor"
        )
    array = value.numpy()
    return np.moveaxis(array, -1, 1) if channels_last else array


def from_tensorflow(
    fn: Callable = tf_conv, *, data_format: str = "channels_last"
) -> tuple[Forward, Backward]:
    """``(forward, backward)`` in the verify protocol for a TF function ``fn(x, w, spec)``
    (default `tf_conv`; with ``data_format="channels_first"`` pass
    `tf_conv_channels_first` or your own).

    Arrays are moved into TF's layouts (x channels-last for "channels_last", the filter
    (*K, C_in // g, C_out)) as tensors of the same dtype; ``backward`` takes
    ``tape.gradient(y, (x, w), output_gradients=grad_y)`` (an unconnected gradient is zero) and
    moves the gradients back to convgrad's layouts.
    """
    if not callable(fn):
        raise TypeError(f"fn={fn!r} must be callable as fn(x, w, spec) -> tf.Tensor")
    channels_last = _layout(data_format)
    tf = _tf()

    def forward(x: np.ndarray, w: np.ndarray, spec: ResolvedSpec) -> np.ndarray:
        xt = tf.constant(_to_tf_layout(x, channels_last))
        y = fn(xt, tf.constant(_kernel(w)), spec)
        return _array("fn(x, w, spec)", y, channels_last)

    def backward(
        x: np.ndarray, w: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        xt = tf.constant(_to_tf_layout(x, channels_last))
        wt = tf.constant(_kernel(w))
        with tf.GradientTape() as tape:
            tape.watch([xt, wt])
            y = fn(xt, wt, spec)
        _array("fn(x, w, spec)", y, channels_last)
        grad_x, grad_w = tape.gradient(
            y,
            [xt, wt],
            output_gradients=tf.constant(_to_tf_layout(grad_y, channels_last)),
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        gx = grad_x.numpy()
        return (np.moveaxis(gx, -1, 1) if channels_last else gx), _from_kernel(grad_w)

    return forward, backward


def version() -> dict[str, str]:
    """TensorFlow's version."""
    return {"tensorflow": _tf().__version__}


__all__ = [
    "CHANNELS_FIRST",
    "CHANNELS_LAST",
    "INSTALL_HINT",
    "from_tensorflow",
    "tf_conv",
    "tf_conv_channels_first",
    "version",
]
