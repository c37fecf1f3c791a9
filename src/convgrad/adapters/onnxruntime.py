"""ONNX Runtime as an implementation under test, forward only: ONNX ``Conv`` and
``ConvTranspose`` nodes built with ``onnx.helper`` and run in ``onnxruntime``.

`from_onnxruntime` returns ``forward(x, w, spec) -> y`` for ``convgrad.verify(forward)``
(``backward=None``: ONNX Runtime's inference sessions have no gradients):

- ``op_type="Conv"``: one Conv node with the spec's explicit pads (`convgrad.translate.to_onnx`,
  ``pads = [x1_begin, x2_begin, ..., x1_end, ...]``), strides, dilations and group.
- ``op_type="ConvTranspose"``: a stride-1 convolution is a transposed convolution of the
  rotated, in/out-swapped kernel with pads ``d*(K-1) - lo`` and ``d*(K-1) - hi``; so the node
  computes the forward through that identity. It holds for stride 1 and pads up to
  ``d*(K-1)`` (valid, same, same_lower, full); other specs raise ValueError.

``spec.flip`` is applied by reversing the kernel before the node (ONNX correlates). ONNX
Runtime's CPU provider implements Conv for float32 and float16 only: float64 data raise
TypeError. One session per (op, spec, shapes, dtype) is built and kept.

Needs ``pip install convgrad[onnx]`` (onnx, onnxruntime), imported when a function is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from convgrad.adapters.plain import plain_spec
from convgrad.spec import ResolvedSpec
from convgrad.translate import to_onnx

INSTALL_HINT = "pip install convgrad[onnx]"
OP_TYPES = ("Conv", "ConvTranspose")
DTYPES = ("float32", "float16")
OPSET = 17


def _modules():
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ImportError(
            f"convgrad.adapters.onnxruntime needs onnx and onnxruntime ({err.name} is missing):"
            f" {INSTALL_HINT}"
        ) from err
    return onnx, onnxruntime


def onnx_model(
    op_type: str,
    attributes: dict[str, Any],
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    dtype: str,
    *,
    opset: int = OPSET,
):
    """A one-node ``onnx.ModelProto``: ``y = op_type(x, w, **attributes)`` with inputs of these
    shapes and dtype (output sizes left to inference), checked by ``onnx.checker``."""
    onnx, _ = _modules()
    helper = onnx.helper
    element = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    node = helper.make_node(op_type, ["x", "w"], ["y"], **attributes)
    graph = helper.make_graph(
        [node],
        f"convgrad_{op_type}",
        [
            helper.make_tensor_value_info("x", element, list(x_shape)),
            helper.make_tensor_value_info("w", element, list(w_shape)),
        ],
        [helper.make_tensor_value_info("y", element, [None] * len(x_shape))],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="convgrad"
    )
    # The IR version the runtime reads: onnx may write a newer one than onnxruntime knows.
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model


def _transpose_form(w: np.ndarray, spec: ResolvedSpec) -> tuple[np.ndarray, dict[str, Any]]:
    """The ConvTranspose weight (C_in, C_out // g, *K), rotated 180°, and its attributes."""
    kernel = w.shape[2:]
    if any(s != 1 for s in spec.stride):
        raise ValueError(
            f"stride={spec.stride}: a ConvTranspose node computes a convolution only at stride 1"
            " (its stride dilates the input instead)"
        )
    pads = []
    for (lo, hi), d, k in zip(spec.padding, spec.dilation, kernel, strict=True):
        extent = d * (k - 1)
        if lo > extent or hi > extent:
            raise ValueError(
                f"padding={spec.padding}: a ConvTranspose node computes a convolution only with"
                f" pads up to d*(K-1) = {extent} per side"
            )
        pads.append((extent - lo, extent - hi))
    g = spec.groups
    c_out, c_in_g = w.shape[:2]
    swapped = w.reshape(g, c_out // g, c_in_g, *kernel).swapaxes(1, 2)
    swapped = swapped.reshape(g * c_in_g, c_out // g, *kernel)
    rotated = np.ascontiguousarray(np.flip(swapped, axis=tuple(range(2, w.ndim))))
    resolved = ResolvedSpec("explicit", tuple(pads), spec.stride, spec.dilation, g, False)
    return rotated, to_onnx(resolved, transposed=True)


def from_onnxruntime(
    op_type: str = "Conv",
    *,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    opset: int = OPSET,
) -> Callable[[np.ndarray, np.ndarray, ResolvedSpec], np.ndarray]:
    """``forward(x, w, spec) -> y`` running an ONNX ``op_type`` node in ONNX Runtime (see the
    module docstring); use as ``convgrad.verify(forward, dtype="float32")``.

    x: (N, C_in, *S); w: (C_out, C_in // g, *K) -> y: (N, C_out, *O), x's dtype.
    """
    if op_type not in OP_TYPES:
        raise ValueError(f"op_type={op_type!r} must be one of {OP_TYPES}")
    if isinstance(providers, str) or not all(isinstance(p, str) for p in providers):
        raise TypeError(f"providers={providers!r} must be a sequence of provider names")
    _, onnxruntime = _modules()
    sessions: dict[tuple, Any] = {}

    def forward(x: np.ndarray, w: np.ndarray, spec: ResolvedSpec) -> np.ndarray:
        x, w = np.asarray(x), np.asarray(w)
        if x.dtype.name not in DTYPES:
            raise TypeError(
                f"x has dtype {x.dtype}; ONNX Runtime's CPU {op_type} runs {' and '.join(DTYPES)}"
            )
        if spec.flip:
            w = np.flip(w, axis=tuple(range(2, w.ndim)))
        plain = plain_spec(spec, f"ONNX {op_type}")
        if op_type == "Conv":
            weight, attributes = np.ascontiguousarray(w), to_onnx(plain)
        else:
            weight, attributes = _transpose_form(w, plain)
        key = (op_type, plain, x.shape, weight.shape, x.dtype.name)
        if key not in sessions:
            model = onnx_model(
                op_type, attributes, x.shape, weight.shape, x.dtype.name, opset=opset
            )
            sessions[key] = onnxruntime.InferenceSession(
                model.SerializeToString(), providers=list(providers)
            )
        (y,) = sessions[key].run(None, {"x": np.ascontiguousarray(x), "w": weight})
        return y

    return forward


def version() -> dict[str, str]:
    """onnx's and onnxruntime's versions."""
    onnx, onnxruntime = _modules()
    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


__all__ = [
    "DTYPES",
    "INSTALL_HINT",
    "OPSET",
    "OP_TYPES",
    "from_onnxruntime",
    "onnx_model",
    "version",
]
