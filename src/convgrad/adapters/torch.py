"""PyTorch as an implementation under test: a torch function becomes the verify protocol.

``fn(x, w, spec) -> y`` takes tensors ``x: (N, C_in, *S)``, ``w: (C_out, C_in // g, *K)`` and a
`convgrad.ResolvedSpec`, and returns ``y: (N, C_out, *O)``. `from_torch` wraps it as
``forward(x, w, spec) -> ndarray`` and ``backward(x, w, grad_y, spec) -> (grad_x, grad_w)``,
the gradients by ``torch.autograd.grad``. `torch_conv` is such an ``fn`` built on
``torch.nn.functional.conv{1,2,3}d``; `check_double_backward` checks an ``fn``'s second
derivatives (``create_graph=True``) against the oracle.

PyTorch is optional: it is imported when one of these functions is called, and its absence
raises ImportError with the install command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from convgrad.reference import conv, conv_backward
from convgrad.shapes import transpose_output_spatial
from convgrad.spec import ResolvedSpec
from convgrad.verification.bounds import Precision, compare, forward_bound, gradient_bounds
from convgrad.verification.checks import CheckResult
from convgrad.verification.problem import ConvProblem

if TYPE_CHECKING:
    import torch as torch_module

    TorchFn = Callable[
        [torch_module.Tensor, torch_module.Tensor, ResolvedSpec], torch_module.Tensor
    ]
    Forward = Callable[[np.ndarray, np.ndarray, ResolvedSpec], np.ndarray]
    Backward = Callable[
        [np.ndarray, np.ndarray, np.ndarray, ResolvedSpec], tuple[np.ndarray, np.ndarray]
    ]

INSTALL_HINT = "pip install convgrad[torch]"


def _torch():
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            f"convgrad.adapters.torch needs PyTorch, which is not installed: {INSTALL_HINT}"
        ) from err
    return torch


def _tensor(name: str, array: np.ndarray, *, grad: bool = False):
    """The array as a CPU tensor of the same dtype, sharing its memory where NumPy allows
    (``torch.as_tensor``), so an in-place write by the function under test reaches the caller as
    it would in PyTorch."""
    torch = _torch()
    array = np.asarray(array)
    if grad and array.dtype.kind != "f":
        raise TypeError(
            f"{name} has dtype {array.dtype}; autograd needs floating-point arrays (float16,"
            " float32 or float64)"
        )
    if not array.flags.writeable or min(array.strides, default=0) < 0:
        # torch cannot share a read-only array (it warns, and would share it writable) nor
        # negative strides (NumPy calls an array of size-1 dims contiguous whatever its
        # strides, so np.ascontiguousarray may keep them): a copy.
        array = array.copy()
    tensor = torch.as_tensor(np.ascontiguousarray(array))
    return tensor.requires_grad_() if grad else tensor


def _array(name: str, value) -> np.ndarray:
    torch = _torch()
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} is a {type(value).__name__}; the torch function must return a torch.Tensor"
        )
    return value.detach().cpu().numpy()


def _grads(
    outputs, inputs: tuple, grad_outputs, *, create_graph: bool = False, retain_graph: bool = False
) -> tuple:
    """``torch.autograd.grad`` with inputs the output does not depend on given zero gradients
    (their gradient is zero, not missing), also when the output depends on none of them;
    retain_graph keeps the graph for a later call."""
    torch = _torch()
    if not outputs.requires_grad:
        return tuple(torch.zeros_like(t) for t in inputs)
    grads = torch.autograd.grad(
        outputs,
        inputs,
        grad_outputs,
        create_graph=create_graph,
        retain_graph=retain_graph or create_graph,
        allow_unused=True,
    )
    return tuple(
        torch.zeros_like(t) if g is None else g for g, t in zip(grads, inputs, strict=True)
    )


_PAD_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def torch_conv(x, w, spec: ResolvedSpec):
    """The oracle's convolution in PyTorch: explicit ``(lo, hi)`` pads by
    ``torch.nn.functional.pad`` (which lists the last dim first) in ``spec.padding_mode``
    (as ``torch.nn.Conv2d(padding_mode=...)`` pads before a valid conv), the kernel rotated by
    ``torch.flip`` when ``spec.flip``, then ``torch.nn.functional.conv{1,2,3}d`` (a
    cross-correlation) with the spec's stride, dilation and groups.

    x: (N, C_in, *S) tensor; w: (C_out, C_in // g, *K) tensor -> (N, C_out, *O) tensor.
    """
    functional = _torch().nn.functional
    convs = {1: functional.conv1d, 2: functional.conv2d, 3: functional.conv3d}
    if spec.ndim not in convs:
        raise ValueError(f"spec has {spec.ndim} spatial dims; torch_conv handles 1, 2 or 3")
    spatial = tuple(range(2, 2 + spec.ndim))
    if spec.flip:
        w = _torch().flip(w, dims=spatial)
    pads = tuple(p for pair in reversed(spec.padding) for p in pair)
    return convs[spec.ndim](
        functional.pad(x, pads, mode=_PAD_MODES[spec.padding_mode]),
        w,
        stride=spec.stride,
        dilation=spec.dilation,
        groups=spec.groups,
    )


def torch_conv_transpose(x, w, spec, *, transpose: Callable | None = None):
    """``torch.nn.functional.conv_transpose{1,2,3}d`` under a `convgrad.TransposeSpec`, for
    `convgrad.verify_transpose`: x ``(N, C_in, *S)``, w ``(C_in, C_out // g, *K)`` tensors ->
    ``(N, C_out, *O_t)``. Symmetric pads go to torch as ``padding`` with ``output_padding``
    (torch's own shape rule); uneven ``(lo, hi)`` pads, which torch cannot express, crop torch's
    unpadded result to ``[lo, lo + O_t)`` and add zero rows where ``output_padding`` exceeds hi.
    transpose: called instead, as ``transpose(x, w, stride=, groups=, dilation=[, padding=,
    output_padding=])`` (e.g. an ``nn.ConvTranspose{1,2,3}d`` module built per call).
    """
    functional = _torch().nn.functional
    transposes = {
        1: functional.conv_transpose1d,
        2: functional.conv_transpose2d,
        3: functional.conv_transpose3d,
    }
    if spec.ndim not in transposes:
        raise ValueError(f"spec has {spec.ndim} spatial dims; torch handles 1, 2 or 3")
    transpose = transposes[spec.ndim] if transpose is None else transpose
    common = {"stride": spec.stride, "groups": spec.groups, "dilation": spec.dilation}
    if all(lo == hi for lo, hi in spec.padding):
        pads = tuple(lo for lo, _ in spec.padding)
        return transpose(x, w, padding=pads, output_padding=spec.output_padding, **common)
    full = transpose(x, w, **common)
    pairs = tuple(zip(full.shape[2:], spec.padding, spec.output_padding, strict=True))
    crop = tuple(slice(lo, n - hi + op) for n, (lo, hi), op in pairs)
    extra = (max(op - hi, 0) for _, (_, hi), op in reversed(pairs))
    return functional.pad(full, tuple(p for e in extra for p in (0, e)))[(..., *crop)]


def _transpose_function(fn):
    """``fn`` as ``fn(x, w, spec)`` when it is ``torch.nn.functional.conv_transpose{1,2,3}d``
    (called under the `convgrad.TransposeSpec`, as `torch_conv_transpose`); else None."""
    functional = _torch().nn.functional
    dims = {
        functional.conv_transpose1d: 1,
        functional.conv_transpose2d: 2,
        functional.conv_transpose3d: 3,
    }
    if fn not in dims:
        return None
    ndim = dims[fn]

    def transposed(x, w, spec):
        if spec.ndim != ndim:
            raise ValueError(
                f"conv_transpose{ndim}d takes {ndim} spatial dims; spec has {spec.ndim}"
            )
        return torch_conv_transpose(x, w, spec)

    return transposed


def _module_mismatch(module, spec) -> str | None:
    """Why the `convgrad.TransposeSpec` is not the module's own configuration, or None."""
    pads = tuple((p, p) for p in module.padding)
    wanted = {
        "padding": (pads, spec.padding),
        "stride": (tuple(module.stride), spec.stride),
        "dilation": (tuple(module.dilation), spec.dilation),
        "groups": (module.groups, spec.groups),
    }
    for name, (own, asked) in wanted.items():
        if own != asked:
            return f"the problem's spec has {name}={asked!r} but the module {own!r}"
    return None


def _module_function(module) -> tuple[Forward, Backward]:
    """forward and backward that run the ``nn.ConvTranspose*d`` module's own forward with its
    weight replaced by w and its bias by zeros (whose gradient backward returns as grad_b), and
    ``output_size`` from the spec where its output_padding is not the module's."""
    torch = _torch()
    func = torch.func

    def run(x, w, spec):
        mismatch = _module_mismatch(module, spec)
        if mismatch is not None:
            raise ValueError(f"{type(module).__name__}: {mismatch}; verify it on its own spec")
        bias = torch.zeros(w.shape[1] * spec.groups, dtype=w.dtype, requires_grad=True)
        params = {"weight": w} if module.bias is None else {"weight": w, "bias": bias}
        size = None
        if tuple(spec.output_padding) != tuple(module.output_padding):
            size = transpose_output_spatial(
                x.shape[2:],
                w.shape[2:],
                spec.padding,
                spec.stride,
                spec.dilation,
                spec.output_padding,
            )
        return func.functional_call(module, params, (x,), {"output_size": size}), bias

    def forward(x: np.ndarray, w: np.ndarray, spec) -> np.ndarray:
        with torch.no_grad():
            return _array("module(x)", run(_tensor("x", x), _tensor("w", w), spec)[0])

    def backward(x: np.ndarray, w: np.ndarray, grad_y: np.ndarray, spec):
        xt, wt = _tensor("x", x, grad=True), _tensor("w", w, grad=True)
        y, bias = run(xt, wt, spec)
        _array("module(x)", y)
        inputs = (xt, wt) if module.bias is None else (xt, wt, bias)
        return tuple(g.numpy() for g in _grads(y, inputs, _tensor("grad_y", grad_y)))

    return forward, backward


def from_torch(fn: TorchFn) -> tuple[Forward, Backward]:
    """``(forward, backward)`` in the verify protocol for a torch function ``fn(x, w, spec)``.

    forward(x, w, spec) -> y: (N, C_out, *O) ndarray, computed under ``torch.no_grad``.
    backward(x, w, grad_y, spec) -> (grad_x, grad_w): ``torch.autograd.grad(fn(x, w, spec),
    (x, w), grad_y)``; a gradient autograd reports as unused is returned as zeros.
    Arrays become tensors of the same dtype and results come back as NumPy arrays of the
    tensors' dtype. ``convgrad.verify(*from_torch(torch_conv))`` checks PyTorch itself.

    For `convgrad.verify_transpose`, fn may also be ``torch.nn.functional.conv_transpose{1,2,3}d``
    (called under the `convgrad.TransposeSpec`) or an ``nn.ConvTranspose{1,2,3}d`` module: its
    own forward runs with w as its weight and a zero bias (backward returns ``(grad_x, grad_w,
    grad_b)`` when the module has a bias), on problems of its own spec
    (`convgrad.TransposeSpec.from_torch`; another spec raises ValueError), with ``output_size``
    passed where the problem's output_padding is not the module's.
    """
    torch = _torch()
    if isinstance(fn, torch.nn.modules.conv._ConvTransposeNd):
        return _module_function(fn)
    if isinstance(fn, torch.nn.Module):
        raise TypeError(
            f"fn={type(fn).__name__}: from_torch takes a function fn(x, w, spec) or an"
            " nn.ConvTranspose1d/2d/3d module"
        )
    if not callable(fn):
        raise TypeError(f"fn={fn!r} must be callable as fn(x, w, spec) -> torch.Tensor")
    fn = _transpose_function(fn) or fn

    def forward(x: np.ndarray, w: np.ndarray, spec: ResolvedSpec) -> np.ndarray:
        with _torch().no_grad():
            return _array("fn(x, w, spec)", fn(_tensor("x", x), _tensor("w", w), spec))

    def backward(
        x: np.ndarray, w: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        xt, wt = _tensor("x", x, grad=True), _tensor("w", w, grad=True)
        y = fn(xt, wt, spec)
        _array("fn(x, w, spec)", y)
        grad_x, grad_w = _grads(y, (xt, wt), _tensor("grad_y", grad_y))
        return grad_x.numpy(), grad_w.numpy()

    return forward, backward


def torch_conv_transpose_pair() -> tuple[Forward, Backward]:
    """``(forward, backward)`` in the verify protocol computed by
    ``torch.nn.functional.conv_transpose{1,2,3}d`` (T below), so verify checks PyTorch's
    transposed convolution and its weight gradient:

    - backward: ``grad_x = T(grad_y, w)`` and ``grad_w = d<x, T(grad_y, w)>/dw`` (autograd);
    - forward: ``y = d<x, T(g, w)>/dg``, T's adjoint, which is the convolution.

    T gets the symmetric pad ``min(lo, hi)`` per dim and ``output_padding`` the rows the
    forward leaves unreached; the excess pad of an asymmetric pair is cropped from T's output
    afterwards (torch's transposed convolution takes symmetric pads only). The kernel is
    reversed when ``spec.flip``.
    """
    torch = _torch()
    functional = torch.nn.functional
    transposes = {
        1: functional.conv_transpose1d,
        2: functional.conv_transpose2d,
        3: functional.conv_transpose3d,
    }

    def transposed(gy, w, spec: ResolvedSpec, x_shape):
        if spec.ndim not in transposes:
            raise ValueError(f"spec has {spec.ndim} spatial dims; torch handles 1, 2 or 3")
        if spec.flip:
            w = torch.flip(w, dims=tuple(range(2, 2 + spec.ndim)))
        pads, extra, crops = [], [], []
        for (lo, hi), s, d, k, i, o in zip(
            spec.padding,
            spec.stride,
            spec.dilation,
            w.shape[2:],
            x_shape[2:],
            gy.shape[2:],
            strict=True,
        ):
            unreached = i + lo + hi - ((o - 1) * s + d * (k - 1) + 1)
            pads.append(min(lo, hi))
            extra.append(unreached)
            crops.append((lo - min(lo, hi), hi - min(lo, hi)))
        z = transposes[spec.ndim](
            gy,
            w,
            stride=spec.stride,
            padding=tuple(pads),
            output_padding=tuple(extra),
            groups=spec.groups,
            dilation=spec.dilation,
        )
        spatial = (slice(a, z.shape[2 + j] - b) for j, (a, b) in enumerate(crops))
        return z[(slice(None), slice(None), *spatial)]

    def forward(x: np.ndarray, w: np.ndarray, spec: ResolvedSpec) -> np.ndarray:
        from convgrad.shapes import output_shape_of

        shape = output_shape_of(x.shape, w.shape, spec)
        xt, wt = _tensor("x", x), _tensor("w", w)
        g = torch.zeros(shape, dtype=xt.dtype, requires_grad=True)
        (y,) = _grads(transposed(g, wt, spec, x.shape), (g,), xt)
        return y.numpy()

    def backward(
        x: np.ndarray, w: np.ndarray, grad_y: np.ndarray, spec: ResolvedSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        wt = _tensor("w", w, grad=True)
        z = transposed(_tensor("grad_y", grad_y), wt, spec, x.shape)
        (grad_w,) = _grads(z, (wt,), _tensor("x", x))
        return z.detach().numpy(), grad_w.numpy()

    return forward, backward


def _direction(shape: tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    """Small integers: exact in every float dtype, so the identities hold bit for bit on
    integer-valued problems."""
    return rng.integers(-3, 4, size=shape).astype(dtype)


def check_double_backward(
    fn: TorchFn, problem: ConvProblem, *, seed: int = 0, safety: float = 1.0
) -> CheckResult:
    """Second derivatives of ``fn`` by ``torch.autograd.grad(..., create_graph=True)`` against
    the oracle.

    The layer is bilinear, so with ``L = <grad_y, conv(x, w)>``, ``g_x = dL/dx`` and
    ``g_w = dL/dw``, and integer directions v (x's shape) and u (w's shape):

    - ``d/dw <v, g_x> = grad_weight(v, grad_y)`` and ``d/dgrad_y <v, g_x> = conv(v, w)``
      (output "grad_input": the derivatives of the input gradient);
    - ``d/dx <u, g_w> = grad_input(grad_y, u)`` and ``d/dgrad_y <u, g_w> = conv(x, u)``
      (output "grad_weight").

    Each is compared elementwise within the error bound of `convgrad.verification.bounds`
    (``safety`` as in `convgrad.verification.bounds.Precision`). Returns the first failing
    comparison, or a passing result carrying the worst error/bound of all four. The check is
    named "double_backward".
    """
    if not isinstance(problem, ConvProblem):
        raise TypeError(f"problem={problem!r} must be a convgrad.ConvProblem")
    torch = _torch()
    xt, wt = _tensor("x", problem.x, grad=True), _tensor("w", problem.w, grad=True)
    gyt = _tensor("grad_y", problem.grad_y, grad=True)
    precision = Precision(dtype=problem.x.dtype.name, safety=safety)
    rng = np.random.default_rng(seed)
    v = _direction(problem.x.shape, problem.x.dtype, rng)
    u = _direction(problem.w.shape, problem.w.dtype, rng)
    y = fn(xt, wt, problem.resolved)
    _array("fn(x, w, spec)", y)
    g_x, g_w = _grads(y, (xt, wt), gyt, create_graph=True)
    # Both second derivatives walk the graph of g_x and g_w: keep it for the second walk.
    d_w, d_gy_x = _grads((g_x * torch.as_tensor(v)).sum(), (wt, gyt), None, retain_graph=True)
    d_x, d_gy_w = _grads((g_w * torch.as_tensor(u)).sum(), (xt, gyt), None)

    kwargs = problem.kwargs
    by_v = conv_backward(v, problem.w, problem.grad_y, **kwargs)
    by_u = conv_backward(problem.x, u, problem.grad_y, **kwargs)
    conv_v, conv_u = conv(v, problem.w, **kwargs), conv(problem.x, u, **kwargs)
    cases = (
        (
            "grad_input",
            "d/dw <v, grad_input>",
            "grad_weight(v, grad_y)",
            d_w,
            by_v.weight,
            gradient_bounds(
                v, problem.w, problem.grad_y, by_v, precision=precision, **kwargs
            ).weight,
        ),
        (
            "grad_input",
            "d/dgrad_y <v, grad_input>",
            "conv(v, w)",
            d_gy_x,
            conv_v,
            forward_bound(v, problem.w, conv_v, precision=precision, **kwargs),
        ),
        (
            "grad_weight",
            "d/dx <u, grad_weight>",
            "grad_input(grad_y, u)",
            d_x,
            by_u.input,
            gradient_bounds(
                problem.x, u, problem.grad_y, by_u, precision=precision, **kwargs
            ).input,
        ),
        (
            "grad_weight",
            "d/dgrad_y <u, grad_weight>",
            "conv(x, u)",
            d_gy_w,
            conv_u,
            forward_bound(problem.x, u, conv_u, precision=precision, **kwargs),
        ),
    )
    worst = None
    for output, derivative, rule, got_tensor, expected, bound in cases:
        got = got_tensor.detach().numpy()
        if got.shape != expected.shape:
            return CheckResult(
                "double_backward",
                output,
                False,
                f"{output}: {derivative} has shape {got.shape}; it must equal {rule}, of shape"
                f" {expected.shape}",
                expected_shape=expected.shape,
                got_shape=got.shape,
            )
        c = compare(got, expected, bound)
        result = CheckResult(
            "double_backward",
            output,
            c.passed,
            ""
            if c.passed
            else (
                f"{output}: {derivative} (torch double backward) differs from {rule}: worst"
                f" error {c.worst_error:.6g} = {c.worst_ratio:.6g} x the error bound at index"
                f" {c.index}; {c.mismatched} of {c.size} elements beyond the bound"
            ),
            expected_shape=expected.shape,
            got_shape=got.shape,
            worst_error=c.worst_error,
            bound_ratio=c.worst_ratio,
            index=c.index,
            mismatched=c.mismatched,
        )
        if not c.passed:
            return result
        if worst is None or c.worst_ratio > worst.bound_ratio:
            worst = result
    return worst


__all__ = [
    "INSTALL_HINT",
    "check_double_backward",
    "from_torch",
    "torch_conv",
    "torch_conv_transpose",
    "torch_conv_transpose_pair",
]
