"""Channels-last NumPy implementations under the channels-first verify protocol.

Many hand-written convolutions (and TensorFlow, JAX's default ``("NHWC", "HWIO", "NHWC")``
dimension numbers in ``jax.lax.conv_general_dilated``) take the input as ``(N, *S, C)`` and the
kernel as ``(*K, C_in // g, C_out)``. `channels_last` wraps such a forward and backward so that
`convgrad.verify`, which speaks ``x: (N, C_in, *S)``, ``w: (C_out, C_in // g, *K)``, can check
them: arrays are transposed on the way in and the results (and every gradient) on the way out.
Layouts without "N" ("HWC") are single-image functions: they are called once per batch element
and their results stacked (the output, the input gradient) or summed (the weight and bias
gradients, which are sums over the batch).

The arrays handed to the user's function are transposed *views* of the caller's, so an in-place
write still reaches the caller and verify's no-mutation check.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convgrad.spec import ResolvedSpec

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
INPUT_LAYOUTS = tuple(
    layout
    for dims in SPATIAL.values()
    for layout in (f"NC{dims}", f"N{dims}C", f"C{dims}", f"{dims}C")
)
"""Accepted input layouts: channels first or last, with or without the batch dim."""
KERNEL_LAYOUTS = tuple(layout for dims in SPATIAL.values() for layout in (f"OI{dims}", f"{dims}IO"))
"""Accepted kernel layouts: PyTorch's ``OIHW`` or TensorFlow's ``HWIO`` (and 1-D, 3-D)."""


def _layout(name: str, value: object, accepted: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}={value!r} must be a layout string, one of {accepted}")
    if value not in accepted:
        raise ValueError(f"{name}={value!r} is not a supported layout; use one of {accepted}")
    return value


def _spatial_count(layout: str) -> int:
    return sum(letter in "DHW" for letter in layout)


def _order(layout: str, canonical: str) -> tuple[int, ...]:
    """Axes that take an array in ``canonical`` order to ``layout`` order."""
    return tuple(canonical.index(letter) for letter in layout)


class _Layout:
    """The permutations between the protocol's layout and the user's for one input layout and
    one kernel layout (validated)."""

    def __init__(self, input_layout: object, kernel_layout: object) -> None:
        self.input = _layout("input_layout", input_layout, INPUT_LAYOUTS)
        self.kernel = _layout("kernel_layout", kernel_layout, KERNEL_LAYOUTS)
        self.ndim = _spatial_count(self.input)
        if _spatial_count(self.kernel) != self.ndim:
            raise ValueError(
                f"input_layout={self.input!r} has {self.ndim} spatial dims but"
                f" kernel_layout={self.kernel!r} has {_spatial_count(self.kernel)}; they must match"
            )
        spatial = SPATIAL[self.ndim]
        self.batched = "N" in self.input
        self.to_user = _order(self.input, ("NC" if self.batched else "C") + spatial)
        self.from_user = tuple(int(i) for i in np.argsort(self.to_user))
        self.kernel_to_user = _order(self.kernel, "OI" + spatial)
        self.kernel_from_user = tuple(int(i) for i in np.argsort(self.kernel_to_user))

    def check_spec(self, spec: ResolvedSpec) -> None:
        if spec.ndim != self.ndim:
            raise ValueError(
                f"input_layout={self.input!r} has {self.ndim} spatial dims but the problem has"
                f" {spec.ndim}; verify it with ndim={self.ndim}"
            )

    def activation(self, a: np.ndarray) -> np.ndarray:
        """(N, C, *S) -> the user's layout (one image when unbatched: (C, *S) per element)."""
        return np.transpose(a, self.to_user)

    def kernel_array(self, w: np.ndarray) -> np.ndarray:
        return np.transpose(w, self.kernel_to_user)

    def back(self, name: str, value: object, axes: tuple[int, ...], layout: str) -> np.ndarray:
        array = np.asarray(value)
        if array.ndim != len(axes):
            raise ValueError(
                f"{name} has shape {array.shape} ({array.ndim} dims); in layout {layout!r} it"
                f" must have {len(axes)} dims"
            )
        return np.transpose(array, axes)


def channels_last(
    forward: Callable,
    backward: Callable | None = None,
    *,
    input_layout: str = "NHWC",
    kernel_layout: str = "HWIO",
) -> tuple[Callable, Callable | None]:
    """``(forward, backward)`` in the channels-first verify protocol for functions written in
    other layouts.

    forward(x_user, w_user, spec) -> y_user, backward(x_user, w_user, grad_y_user, spec) ->
    (grad_x_user, grad_w_user) or with grad_b, where with input_layout "NHWC" and kernel_layout
    "HWIO": x_user: (N, H, W, C_in), w_user: (K_h, K_w, C_in // g, C_out), y_user and
    grad_y_user: (N, O_h, O_w, C_out). Unbatched layouts ("HWC") drop N: the functions get one
    image and the wrapper loops over the batch. spec is the `convgrad.ResolvedSpec` unchanged
    (its per-dim tuples are in spatial order D, H, W in every layout).
    input_layout: one of `INPUT_LAYOUTS`; kernel_layout: one of `KERNEL_LAYOUTS`.
    Returns the wrapped pair (backward None when none is given).
    """
    if not callable(forward):
        raise TypeError(f"forward={forward!r} must be callable")
    if backward is not None and not callable(backward):
        raise TypeError(f"backward={backward!r} must be callable or None")
    layout = _Layout(input_layout, kernel_layout)
    y_axes = layout.from_user

    def wrapped_forward(x: np.ndarray, w: np.ndarray, spec: ResolvedSpec) -> np.ndarray:
        layout.check_spec(spec)
        wu = layout.kernel_array(w)
        if layout.batched:
            return layout.back(
                "forward's result", forward(layout.activation(x), wu, spec), y_axes, layout.input
            )
        return np.stack(
            [
                layout.back(
                    "forward's result",
                    forward(layout.activation(image), wu, spec),
                    y_axes,
                    layout.input,
                )
                for image in x
            ]
        )

    def wrapped_backward(x, w, grad_y, spec) -> tuple[np.ndarray, ...]:
        layout.check_spec(spec)
        wu = layout.kernel_array(w)
        if layout.batched:
            grads = backward(layout.activation(x), wu, layout.activation(grad_y), spec)
            return _grads_back(layout, grads)
        per_image = [
            _grads_back(layout, backward(layout.activation(xi), wu, layout.activation(gi), spec))
            for xi, gi in zip(x, grad_y, strict=True)
        ]
        grad_x = np.stack([g[0] for g in per_image])
        rest = tuple(sum(g[j] for g in per_image) for j in range(1, len(per_image[0])))
        return (grad_x, *rest)

    return wrapped_forward, (wrapped_backward if backward is not None else None)


def _grads_back(layout: _Layout, grads: object) -> tuple[np.ndarray, ...]:
    """The user's (grad_x, grad_w[, grad_b]) in the protocol's layout."""
    if not isinstance(grads, (tuple, list)) or len(grads) not in (2, 3):
        raise TypeError(
            f"backward returned a {type(grads).__name__}; expected a tuple (grad_x, grad_w) or"
            " (grad_x, grad_w, grad_b)"
        )
    grad_x = layout.back("grad_x", grads[0], layout.from_user, layout.input)
    grad_w = layout.back("grad_w", grads[1], layout.kernel_from_user, layout.kernel)
    return (grad_x, grad_w, *(np.asarray(g) for g in grads[2:]))


__all__ = ["INPUT_LAYOUTS", "KERNEL_LAYOUTS", "channels_last"]
