"""Independent references the oracle is tested against: PyTorch autograd, and a brute-force
summation over every index written with Python arithmetic (exact on ints and Fractions)."""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from convgrad.spec import ResolvedSpec

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def torch_pads(padding: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """(lo, hi) per spatial dim -> torch.nn.functional.pad's order (last dim first)."""
    return tuple(p for lo_hi in reversed(padding) for p in lo_hi)


def torch_layer(x, w, b, grad_y, spec: ResolvedSpec):
    """Forward and autograd gradients of ``sum(grad_y * conv(x, w, b))`` in float64 torch.

    Pads with ``F.pad`` before a padding=0 torch conv (asymmetric pads); ``flip`` rotates the
    kernel with ``torch.flip`` inside the graph, so w's gradient comes back rotated.
    Returns (y, grad_x, grad_w, grad_b or None) as NumPy float64 arrays.
    """
    nd = x.ndim - 2
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    wt = torch.tensor(np.asarray(w, dtype=np.float64), requires_grad=True)
    bt = None if b is None else torch.tensor(np.asarray(b, dtype=np.float64), requires_grad=True)
    kernel = torch.flip(wt, dims=tuple(range(2, 2 + nd))) if spec.flip else wt
    y = TORCH_CONV[nd](
        F.pad(xt, torch_pads(spec.padding)),
        kernel,
        bt,
        stride=spec.stride,
        dilation=spec.dilation,
        groups=spec.groups,
    )
    y.backward(torch.tensor(np.asarray(grad_y, dtype=np.float64)))
    grad_b = None if bt is None else bt.grad.numpy()
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), grad_b


def _positions(out_index, tap, spec: ResolvedSpec):
    """The padded-input position a tap meets at an output position, minus the low pad."""
    return tuple(
        o * s + k * d - lo
        for o, k, s, d, (lo, _) in zip(
            out_index, tap, spec.stride, spec.dilation, spec.padding, strict=True
        )
    )


def _python(a) -> np.ndarray:
    """An object array of Python scalars (NumPy int64 scalars would wrap)."""
    a = np.asarray(a)
    out = np.empty(a.shape, dtype=object)
    out.flat[:] = a.ravel().tolist()
    return out


def brute_layer(x, w, grad_y, spec: ResolvedSpec):
    """y (no bias), grad_x and grad_w by summing every product of the definition in Python.

    Works on any element type (Python ints, Fractions, floats); returns object arrays. With
    ``flip`` the tap ``k`` uses ``w[..., K-1-k]`` (true convolution).
    """
    x, w, grad_y = _python(x), _python(w), _python(grad_y)
    n_batch, _, *spatial = x.shape
    c_out, c_group, *kernel = w.shape
    out_spatial = grad_y.shape[2:]
    per_group = c_out // spec.groups
    y = np.full(grad_y.shape, 0, dtype=object)
    grad_x = np.full(x.shape, 0, dtype=object)
    grad_w = np.full(w.shape, 0, dtype=object)
    for n, o, out_index, c, tap in itertools.product(
        range(n_batch),
        range(c_out),
        np.ndindex(*out_spatial),
        range(c_group),
        np.ndindex(*kernel),
    ):
        pos = _positions(out_index, tap, spec)
        if not all(0 <= p < size for p, size in zip(pos, spatial, strict=True)):
            continue
        w_tap = tuple(k - 1 - t for k, t in zip(kernel, tap, strict=True)) if spec.flip else tap
        channel = (o // per_group) * c_group + c
        x_value, w_value = x[(n, channel, *pos)], w[(o, c, *w_tap)]
        g_value = grad_y[(n, o, *out_index)]
        y[(n, o, *out_index)] += x_value * w_value
        grad_x[(n, channel, *pos)] += w_value * g_value
        grad_w[(o, c, *w_tap)] += x_value * g_value
    return y, grad_x, grad_w


def inner(a, b):
    """Exact inner product of two arrays of Python numbers (object arrays or integer arrays)."""
    pairs = zip(np.asarray(a).ravel().tolist(), np.asarray(b).ravel().tolist(), strict=True)
    return sum((p * q for p, q in pairs), 0)


def iter_layers():
    """A deterministic grid of small layers: (ndim, x shape, w shape, spec kwargs)."""
    grid = itertools.product(
        (1, 2, 3),
        ("valid", "same", "same_lower", "full", ((1, 0), (0, 2), (2, 1))),
        (1, 2, 3),
        (1, 2),
        (1, 2),
        (2, 3),
    )
    for ndim, padding, stride, dilation, groups, k in grid:
        pads = padding[:ndim] if isinstance(padding, tuple) else padding
        spatial = (7, 7, 5)[:ndim]
        kernel = (k, k + 1, k)[:ndim]
        kwargs = {
            "padding": pads,
            "stride": stride,
            "dilation": dilation,
            "groups": groups,
            "flip": (stride + dilation) % 2 == 1,
        }
        yield ndim, (2, 2 * groups, *spatial), (2 * groups, 2, *kernel), kwargs
