"""The conformance audit: `convgrad.verify` over every installed framework configuration and a
fixed list of convolution features, as a matrix (rows features, columns configurations).

Each cell runs verify twice through the public API: a hypothesis search over the feature's
space on integer data (every correct implementation is bit-exact there; shrinking gives the
minimal failing case) and one fixed problem of real, normal-magnitude data (the rigorous error
bound). Real data are of normal magnitude; XLA and TensorFlow's oneDNN flush subnormal
results to zero, which verify's default error model (``subnormals="ftz"``) allows.

A cell is "pass", "fail" (a finding) or "unsupported": on the feature's fixed problem every
failure is a call that raised and none is a wrong result (its message is kept; not on the
transposed row, where a wrong output shape raises), or the configuration cannot express the
feature (e.g. ONNX's ConvTranspose form at stride 2, padding modes outside torch).

The transposed row checks each configuration's transposed convolution
(`Configuration.transpose`: torch ``F.conv_transpose*d`` and ``nn.ConvTranspose*d``, JAX
``lax.conv_transpose``) by `convgrad.verify_transpose`; onnxruntime runs forward only, which
verify_transpose cannot check (it reaches a transpose's forward through its backward).

`run_audit` returns the JSON-ready report; `write_audit` also writes ``audit.json`` and the
self-contained ``audit.html`` (`convgrad.report.audit_page`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import convgrad
from convgrad import sharding
from convgrad.schema import json_float, read_float
from convgrad.shapes import output_shape_of, transpose_output_spatial
from convgrad.verification.problem import ConvProblem
from convgrad.verification.transposed import TransposeProblem, TransposeSpec

SCHEMA = "convgrad-report/audit"
SCHEMA_VERSION = 1
FRAMEWORKS = ("torch", "jax", "onnxruntime", "tensorflow")
JSON_NAME = "audit.json"
HTML_NAME = "audit.html"
QUICK_EXAMPLES = 2
FULL_EXAMPLES = 25
QUICK_COLUMNS = ("torch-f64", "torch-T-f32", "jax-x64", "ort-conv-f32", "tf-32")
"""The configurations ``--quick`` audits: one per framework, plus torch's transposed form."""
QUICK_FEATURES = ("same", "stride", "dilation", "groups", "1d", "3d")
"""The rows ``--quick`` audits: an even-kernel mode, stride with remainder, dilation, groups
and N-d (JAX compiles every new shape: about 6 s a cell on 2 cores)."""


@dataclass(frozen=True)
class Feature:
    """A matrix row: the verify space drawn (``space``) and fixed real-data layers
    (``layers``: spec, x shape, w shape; depthwise rows give fixed problems only).
    ``transposed``: the row checks each configuration's transposed convolution
    (`Configuration.transpose`) by `convgrad.verify_transpose`, its layers' specs are
    `convgrad.TransposeSpec` and w ``(C_in, C_out // groups, *K)``."""

    id: str
    label: str
    space: dict | None
    layers: tuple[tuple[Any, tuple[int, ...], tuple[int, ...]], ...]
    transposed: bool = False


FEATURES = (
    Feature(
        "valid",
        "padding valid",
        {"padding": "valid"},
        ((convgrad.ConvSpec("valid"), (2, 3, 8, 8), (4, 3, 3, 3)),),
    ),
    Feature(
        "same",
        "padding same (odd and even kernels)",
        {"padding": "same"},
        ((convgrad.ConvSpec("same"), (1, 2, 7, 6), (3, 2, 2, 3)),),
    ),
    Feature(
        "same_lower",
        "padding same_lower",
        {"padding": "same_lower"},
        ((convgrad.ConvSpec("same_lower"), (1, 2, 7, 6), (3, 2, 2, 3)),),
    ),
    Feature(
        "full",
        "padding full",
        {"padding": "full"},
        ((convgrad.ConvSpec("full"), (1, 2, 6, 5), (3, 2, 3, 2)),),
    ),
    Feature(
        "explicit",
        "explicit asymmetric pads",
        {"padding": "explicit"},
        ((convgrad.ConvSpec(((1, 0), (0, 2))), (1, 2, 6, 7), (3, 2, 3, 3)),),
    ),
    Feature(
        "stride",
        "stride 2-3 with remainder",
        {"padding": ("valid", "same"), "stride": (2, 3)},
        ((convgrad.ConvSpec("valid", stride=(2, 3)), (1, 2, 9, 8), (3, 2, 2, 2)),),
    ),
    Feature(
        "dilation",
        "dilation 2",
        {"padding": ("valid", "same"), "dilation": 2},
        ((convgrad.ConvSpec("same", dilation=2), (1, 2, 8, 7), (3, 2, 3, 2)),),
    ),
    Feature(
        "groups",
        "groups 2",
        {"padding": ("valid", "same"), "groups": 2},
        ((convgrad.ConvSpec("same", groups=2), (2, 4, 6, 6), (6, 2, 3, 3)),),
    ),
    Feature(
        "depthwise",
        "depthwise (groups = C_in, multiplier 1 and 2)",
        None,
        (
            (convgrad.ConvSpec("same", groups=4), (2, 4, 7, 7), (4, 1, 3, 3)),
            (convgrad.ConvSpec("valid", groups=3), (1, 3, 6, 5), (6, 1, 2, 3)),
        ),
    ),
    Feature(
        "1d",
        "1-D",
        {"ndim": 1, "padding": ("valid", "same", "full"), "stride": (1, 2)},
        ((convgrad.ConvSpec("valid", stride=2), (2, 3, 11), (2, 3, 3)),),
    ),
    Feature(
        "3d",
        "3-D",
        {"ndim": 3, "padding": ("valid", "same"), "stride": (1, 2)},
        ((convgrad.ConvSpec("same"), (1, 2, 4, 5, 3), (2, 2, 2, 3, 2)),),
    ),
    Feature(
        "padding_mode",
        "padding_mode reflect, replicate, circular",
        {"padding": ("same", "explicit"), "padding_mode": ("reflect", "replicate", "circular")},
        (
            (convgrad.ConvSpec("same", padding_mode="reflect"), (1, 2, 6, 7), (3, 2, 3, 2)),
            (
                convgrad.ConvSpec(((2, 0), (1, 1)), padding_mode="replicate"),
                (1, 2, 5, 4),
                (2, 2, 3, 3),
            ),
            (
                convgrad.ConvSpec(((0, 2), (3, 1)), stride=2, padding_mode="circular"),
                (2, 2, 5, 6),
                (3, 2, 2, 3),
            ),
        ),
    ),
    Feature(
        "transposed",
        "transposed convolution (conv_transpose, output_padding)",
        {
            "padding": ("valid", "same", "full", "explicit"),
            "stride": (1, 2, 3),
            "dilation": (1, 2),
            "groups": (1, 2),
        },
        (
            (
                TransposeSpec(((1, 1), (0, 0)), (2, 1), (1, 1), 1, (1, 0)),
                (2, 3, 4, 5),
                (3, 2, 3, 2),
            ),
            (
                TransposeSpec(((0, 2), (1, 0)), (1, 3), (2, 1), 2, (1, 2)),
                (1, 4, 5, 3),
                (4, 3, 2, 3),
            ),
        ),
        transposed=True,
    ),
)

_BASE_SPACE = {"ndim": 2, "padding": "valid", "stride": 1, "dilation": 1, "groups": 1}


@dataclass(frozen=True)
class Configuration:
    """A matrix column: ``make()`` returns ``(forward, backward or None)`` (imports the
    framework); ``transpose()``, where the configuration has one, the ``(forward, backward)``
    of its transposed convolution for `convgrad.verify_transpose` (the ``transposed`` row);
    ``unsupported`` maps a feature id to the reason the column has no cell for it."""

    id: str
    framework: str
    label: str
    dtype: str
    make: Callable[[], tuple[Callable, Callable | None]]
    version: Callable[[], dict]
    notes: str = ""
    unsupported: dict[str, str] = field(default_factory=dict)
    transpose: Callable[[], tuple[Callable, Callable]] | None = None


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _zeros_only(op: str) -> str:
    """The reason a configuration has no `padding_mode` cell: ``op`` pads with zeros only."""
    return f"{op} pads with zeros only (no reflect, replicate or circular padding_mode)"


def _torch_version() -> dict:
    import torch

    return {"torch": torch.__version__}


def _wrap(pair, context: Callable[[], contextlib.AbstractContextManager]):
    forward, backward = pair

    def wrapped_forward(x, w, spec):
        with context():
            return forward(x, w, spec)

    def wrapped_backward(x, w, grad_y, spec):
        with context():
            return backward(x, w, grad_y, spec)

    return wrapped_forward, wrapped_backward


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


@contextlib.contextmanager
def _no_onednn() -> Iterator[None]:
    import warnings

    import torch

    with warnings.catch_warnings():
        # torch warns that oneDNN's TF32 is for Intel GPUs whenever the flags change.
        warnings.simplefilter("ignore", UserWarning)
        with torch.backends.mkldnn.flags(enabled=False):
            yield


def _torch_channels_last(x, w, spec, op: Callable | None = None):
    """``op(x, w, spec)`` (default `convgrad.adapters.torch.torch_conv`) on channels_last
    copies of x and w."""
    import torch

    from convgrad.adapters.torch import torch_conv

    formats = {2: torch.channels_last, 3: torch.channels_last_3d}
    if spec.ndim not in formats:
        raise ValueError(f"torch has no channels_last memory format for {spec.ndim}-D data")
    memory = formats[spec.ndim]
    op = torch_conv if op is None else op
    return op(x.contiguous(memory_format=memory), w.contiguous(memory_format=memory), spec)


def _torch_transpose_module(x, w, spec):
    """The transposed layer as an ``nn.ConvTranspose{n}d`` module built per call (its
    ``padding`` and ``output_padding`` where the pads are symmetric, else its unpadded result
    cropped, as `convgrad.adapters.torch.torch_conv_transpose`), the weight bound by
    ``torch.func.functional_call`` so autograd reaches ``w``."""
    import torch

    from convgrad.adapters.torch import torch_conv_transpose

    modules = {
        1: torch.nn.ConvTranspose1d,
        2: torch.nn.ConvTranspose2d,
        3: torch.nn.ConvTranspose3d,
    }

    def module_call(x, w, *, groups, **kwargs):
        module = modules[spec.ndim](
            w.shape[0],
            w.shape[1] * groups,
            tuple(w.shape[2:]),
            groups=groups,
            bias=False,
            device="meta",
            **kwargs,
        )
        return torch.func.functional_call(module, {"weight": w}, (x,))

    return torch_conv_transpose(x, w, spec, transpose=module_call)


def _torch_module(x, w, spec):
    """The layer as an ``nn.Conv{n}d`` module with the spec's ``padding_mode``:
    ``padding="same"`` where torch takes it (stride 1), symmetric pads as the module's
    ``padding``, asymmetric ones by ``F.pad`` in the padding mode first (as users write it);
    the weight bound by ``torch.func.functional_call`` so autograd reaches ``w``."""
    import torch

    from convgrad.translate import to_torch

    if spec.flip:
        w = torch.flip(w, dims=tuple(range(2, 2 + spec.ndim)))
    padding_mode = spec.padding_mode
    if spec.mode == "same" and all(s == 1 for s in spec.stride):
        target = convgrad.ConvSpec("same", spec.stride, spec.dilation, spec.groups)
    elif all(lo == hi for lo, hi in spec.padding):
        target = convgrad.ResolvedSpec(
            spec.mode, spec.padding, spec.stride, spec.dilation, spec.groups, False
        )
    else:
        # torch.nn.functional.pad names zero padding "constant" and lists the last dim first.
        pad_mode = "constant" if padding_mode == "zeros" else padding_mode
        pads = tuple(p for pair in reversed(spec.padding) for p in pair)
        x = torch.nn.functional.pad(x, pads, mode=pad_mode)
        target = convgrad.ConvSpec(0, spec.stride, spec.dilation, spec.groups)
        padding_mode = "zeros"
    kwargs = to_torch(target, ndim=spec.ndim)
    modules = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
    module = modules[spec.ndim](
        x.shape[1],
        w.shape[0],
        tuple(w.shape[2:]),
        bias=False,
        padding_mode=padding_mode,
        device="meta",
        **kwargs,
    )
    return torch.func.functional_call(module, {"weight": w}, (x,))


def _torch_configurations() -> list[Configuration]:
    from convgrad.adapters import torch as adapter

    zeros_only = _zeros_only("torch.nn.functional.conv_transpose{1,2,3}d")

    def functional():
        return adapter.from_torch(adapter.torch_conv)

    def transpose():
        return adapter.from_torch(adapter.torch_conv_transpose)

    return [
        Configuration(
            "torch-f64",
            "torch",
            "torch F.conv float64",
            "float64",
            functional,
            _torch_version,
            transpose=transpose,
        ),
        Configuration(
            "torch-f32",
            "torch",
            "torch F.conv float32",
            "float32",
            functional,
            _torch_version,
            transpose=transpose,
        ),
        Configuration(
            "torch-f32-cl",
            "torch",
            "torch F.conv float32 channels_last",
            "float32",
            lambda: adapter.from_torch(_torch_channels_last),
            _torch_version,
            unsupported={"1d": "torch has no 1-D channels_last memory format"},
            transpose=lambda: adapter.from_torch(
                functools.partial(_torch_channels_last, op=adapter.torch_conv_transpose)
            ),
        ),
        Configuration(
            "torch-f32-det",
            "torch",
            "torch F.conv float32 deterministic algorithms",
            "float32",
            lambda: _wrap(functional(), _deterministic),
            _torch_version,
            transpose=lambda: _wrap(transpose(), _deterministic),
        ),
        Configuration(
            "torch-f32-no-onednn",
            "torch",
            "torch F.conv float32 oneDNN off",
            "float32",
            lambda: _wrap(functional(), _no_onednn),
            _torch_version,
            transpose=lambda: _wrap(transpose(), _no_onednn),
            notes="torch.backends.mkldnn.flags(enabled=False) around every call",
        ),
        Configuration(
            "torch-module-f32",
            "torch",
            "torch nn.Conv*d module float32",
            "float32",
            lambda: adapter.from_torch(_torch_module),
            _torch_version,
            transpose=lambda: adapter.from_torch(_torch_transpose_module),
        ),
        Configuration(
            "torch-T-f64",
            "torch",
            "torch conv_transpose float64",
            "float64",
            adapter.torch_conv_transpose_pair,
            _torch_version,
            unsupported={"padding_mode": zeros_only},
            transpose=transpose,
        ),
        Configuration(
            "torch-T-f32",
            "torch",
            "torch conv_transpose float32",
            "float32",
            adapter.torch_conv_transpose_pair,
            _torch_version,
            unsupported={"padding_mode": zeros_only},
            transpose=transpose,
        ),
    ]


def _jax_configurations() -> list[Configuration]:
    from convgrad.adapters import jax as adapter

    no_groups = "jax.lax.conv_transpose has no feature_group_count"
    conv_zeros = {"padding_mode": _zeros_only("jax.lax.conv_general_dilated")}
    return [
        Configuration(
            "jax-x64",
            "jax",
            "jax lax.conv float64 (x64)",
            "float64",
            lambda: adapter.from_jax(adapter.jax_conv),
            adapter.version,
            unsupported=conv_zeros,
            transpose=lambda: adapter.from_jax(adapter.jax_conv_transpose),
        ),
        Configuration(
            "jax-f32",
            "jax",
            "jax lax.conv float32 default precision",
            "float32",
            lambda: adapter.from_jax(adapter.jax_conv),
            adapter.version,
            unsupported=conv_zeros,
            transpose=lambda: adapter.from_jax(adapter.jax_conv_transpose),
        ),
        Configuration(
            "jax-f32-highest",
            "jax",
            "jax lax.conv float32 precision=highest",
            "float32",
            lambda: adapter.from_jax(functools.partial(adapter.jax_conv, precision="highest")),
            adapter.version,
            unsupported=conv_zeros,
            transpose=lambda: adapter.from_jax(
                functools.partial(adapter.jax_conv_transpose, precision="highest")
            ),
        ),
        Configuration(
            "jax-T-f32",
            "jax",
            "jax lax.conv_transpose float32",
            "float32",
            adapter.jax_conv_transpose_pair,
            adapter.version,
            unsupported={
                "groups": no_groups,
                "depthwise": no_groups,
                "padding_mode": _zeros_only("jax.lax.conv_transpose"),
            },
            transpose=lambda: adapter.from_jax(adapter.jax_conv_transpose),
        ),
    ]


def _ort_configurations() -> list[Configuration]:
    from convgrad.adapters import onnxruntime as adapter

    stride_one = "a ConvTranspose node computes a convolution only at stride 1"
    zeros_only = _zeros_only("an ONNX Conv or ConvTranspose node")
    forward_only = (
        "onnxruntime runs forward only, and convgrad.verify_transpose checks a transpose's"
        " forward as its convolution's grad_input, which needs its backward too"
    )
    return [
        Configuration(
            "ort-conv-f32",
            "onnxruntime",
            "onnxruntime Conv float32 (forward only)",
            "float32",
            lambda: (adapter.from_onnxruntime("Conv"), None),
            adapter.version,
            unsupported={"padding_mode": zeros_only, "transposed": forward_only},
        ),
        Configuration(
            "ort-convT-f32",
            "onnxruntime",
            "onnxruntime ConvTranspose float32 (forward only, stride 1)",
            "float32",
            lambda: (adapter.from_onnxruntime("ConvTranspose"), None),
            adapter.version,
            notes="the forward through conv(x, w) = ConvTranspose(x, rot180(w)^T), stride 1",
            unsupported={
                "stride": stride_one,
                "1d": stride_one,
                "3d": stride_one,
                "explicit": "pads above d*(K-1) have no ConvTranspose form",
                "padding_mode": zeros_only,
                "transposed": forward_only,
            },
        ),
    ]


def _tf_configurations() -> list[Configuration]:
    from convgrad.adapters import tensorflow as adapter

    return [
        Configuration(
            f"tf-{dtype[-2:]}",
            "tensorflow",
            f"tensorflow NHWC {dtype}",
            dtype,
            adapter.from_tensorflow,
            adapter.version,
            unsupported={
                "padding_mode": _zeros_only("tf.nn.convolution"),
                "transposed": "the audit has no TensorFlow transposed form (tf.nn.conv_transpose"
                " is not wrapped for convgrad.verify_transpose)",
            },
        )
        for dtype in ("float64", "float32")
    ]


_BUILDERS = {
    "torch": ("torch", _torch_configurations),
    "jax": ("jax", _jax_configurations),
    "onnxruntime": ("onnxruntime", _ort_configurations),
    "tensorflow": ("tensorflow", _tf_configurations),
}


def configurations(frameworks: Sequence[str] = FRAMEWORKS) -> tuple[list[Configuration], dict]:
    """The columns of the installed frameworks among ``frameworks``, and
    ``{framework: reason}`` for those skipped (not installed)."""
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise ValueError(
            f"frameworks={list(frameworks)!r}: {unknown[0]!r} is not one of {FRAMEWORKS}"
        )
    found, skipped = [], {}
    for name in frameworks:
        module, build = _BUILDERS[name]
        if not _installed(module) or (name == "onnxruntime" and not _installed("onnx")):
            skipped[name] = (
                f"not installed (pip install convgrad[{'onnx' if name == 'onnxruntime' else name}])"
            )
            continue
        found += build()
    return found, skipped


def _fixed_problem(
    spec, x_shape, w_shape, dtype: str, seed: int, *, integer: bool
) -> ConvProblem | TransposeProblem:
    """A feature's fixed layer as a problem: x, w and grad_y (the output's shape) of standard
    normal (``integer``: small integer) data; a `TransposeProblem` for a `TransposeSpec`."""
    rng = np.random.default_rng(seed)
    if isinstance(spec, TransposeSpec):
        y_shape = (
            x_shape[0],
            w_shape[1] * spec.groups,
            *transpose_output_spatial(
                x_shape[2:],
                w_shape[2:],
                spec.padding,
                spec.stride,
                spec.dilation,
                spec.output_padding,
            ),
        )
    else:
        y_shape = output_shape_of(x_shape, w_shape, spec)
    x, w, grad_y = (
        (rng.integers(-3, 4, s) if integer else rng.standard_normal(s)).astype(dtype)
        for s in (x_shape, w_shape, y_shape)
    )
    if isinstance(spec, TransposeSpec):
        return TransposeProblem(x, w, grad_y, spec)
    return ConvProblem(x, w, None, grad_y, spec)


class Cell(NamedTuple):
    status: str
    record: dict


def _worst(results: Sequence[dict]) -> float | None:
    ratios = [r["ratio"] for res in results for r in res["ratios"]]
    ratios += [f["bound_ratio"] for res in results for f in res["failures"]]
    found = [read_float(r) for r in ratios if r is not None]
    return json_float(max(found)) if found else None


def run_cell(
    config: Configuration, feature: Feature, pair, *, max_examples: int, seed: int
) -> Cell:
    """One matrix cell: verify's search over the feature on integer data plus its fixed real
    problems, through ``convgrad.verify`` (``convgrad.verify_transpose`` for a transposed
    feature, ``pair`` then the configuration's `Configuration.transpose` pair, None where it
    has none) and ``VerifyResult.to_dict``."""
    base = {"feature": feature.id, "configuration": config.id}
    reason = config.unsupported.get(feature.id)
    if reason is None and pair is None and feature.transposed:
        reason = f"{config.label} has no transposed form in the audit"
    if reason is not None:
        return Cell("unsupported", {**base, "status": "unsupported", "reason": reason})
    check = convgrad.verify_transpose if feature.transposed else convgrad.verify
    forward, backward = pair
    dtype = config.dtype

    def problems(integer: bool) -> list:
        return [
            _fixed_problem(*layer, dtype, seed + j, integer=integer)
            for j, layer in enumerate(feature.layers)
        ]

    probe = check(forward, backward, problems=problems(False), dtype=dtype, seed=seed).to_dict()
    raised = [f for f in probe["failures"] if f["check"] == "raised"]
    if raised and len(raised) == len(probe["failures"]) and not feature.transposed:
        # Only calls that raise, nothing computed wrong: the configuration does not offer it.
        # Not for a transposed row: its forward is reached through its backward
        # (verify_transpose), so a wrong output shape (output_padding ignored) raises in
        # autograd; a configuration without a transpose declares it in `unsupported`.
        reason = raised[0]["message"].splitlines()[0]
        return Cell("unsupported", {**base, "status": "unsupported", "reason": reason})
    results = [probe]
    if feature.space is None:
        results.append(
            check(forward, backward, problems=problems(True), dtype=dtype, seed=seed).to_dict()
        )
    else:
        space = {**_BASE_SPACE, **feature.space}
        results.append(
            check(
                forward,
                backward,
                dtype=dtype,
                data="integer",
                max_examples=max_examples,
                seed=seed,
                max_failures=3,
                **space,
            ).to_dict()
        )
    failures = [f for res in results for f in res["failures"]]
    status = "fail" if failures else "pass"
    return Cell(
        status,
        {
            **base,
            "status": status,
            "examples": sum(res["examples"] for res in results),
            "worst_ratio": _worst(results),
            "failures": failures,
            "backward": backward is not None,
        },
    )


def _finding(config: Configuration, feature: Feature, failure: dict, versions: dict) -> dict:
    p = failure["problem"]
    spec = p["spec"]
    version = ", ".join(f"{k} {v}" for k, v in versions.items() if isinstance(v, str))
    bound_ratio = read_float(failure.get("bound_ratio"))
    ratio = "" if bound_ratio is None else f" (error {bound_ratio:.3g} x the bound)"
    extra = "".join(
        f", {key} {spec[key]}" for key in ("padding_mode", "output_padding") if key in spec
    )
    text = (
        f"{config.label} ({version}) fails the {failure['check']} check on {failure['output']}"
        f" for {feature.label}{ratio}: minimal problem x {tuple(p['x'])}, w {tuple(p['w'])},"
        f" {p['dtype']}, padding {spec['padding']}, stride {spec['stride']}, dilation"
        f" {spec['dilation']}, groups {spec['groups']}, flip {spec['flip']}"
        f"{extra}."
        f" {failure['message'].splitlines()[0]}"
    )
    return {
        "configuration": config.id,
        "feature": feature.id,
        "text": text,
        "check": failure["check"],
        "output": failure["output"],
    }


def _meta_versions() -> dict:
    return {
        "convgrad": convgrad.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_audit(
    *,
    quick: bool = False,
    frameworks: Sequence[str] = FRAMEWORKS,
    features: Sequence[str] | None = None,
    max_examples: int | None = None,
    seed: int = 0,
    shard: sharding.Shard | tuple[int, int] | str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Run every (feature, configuration) cell; return the JSON-ready report.

    quick: the `QUICK_COLUMNS` and `QUICK_FEATURES` only, `QUICK_EXAMPLES` drawn problems
    per cell (for CI), else every configuration and feature and `FULL_EXAMPLES`; max_examples
    overrides both. frameworks: those to audit (absent ones are listed as skipped); features:
    ids of `FEATURES` to keep (None: all, or the quick rows). shard: run only shard ``(i, n)``
    of the cells, taken column by column (`convgrad.sharding`; ``meta["shard"]`` records it,
    and `merge_audits` joins the n shards into the whole audit). progress:
    ``progress(done, total, cell_name)`` after each cell.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an int >= 0")
    shard = None if shard is None else sharding.check_shard(shard)
    if max_examples is None:
        max_examples = QUICK_EXAMPLES if quick else FULL_EXAMPLES
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1:
        raise ValueError(f"max_examples={max_examples!r} must be an int >= 1")
    rows = list(FEATURES)
    if features is not None:
        known = {f.id for f in FEATURES}
        bad = [f for f in features if f not in known]
        if bad:
            raise ValueError(
                f"features={list(features)!r}: {bad[0]!r} is not one of {sorted(known)}"
            )
        rows = [f for f in FEATURES if f.id in features]
    elif quick:
        rows = [f for f in FEATURES if f.id in QUICK_FEATURES]
    columns, skipped = configurations(frameworks)
    if quick:
        columns = [c for c in columns if c.id in QUICK_COLUMNS]
    plan = [(config.id, feature.id) for config in columns for feature in rows]
    mine = set(plan if shard is None else sharding.take(plan, shard))
    start = time.perf_counter()
    cells, findings, column_records = [], [], []
    total, done = len(mine), 0
    for config in columns:
        versions = config.version()
        column_records.append(
            {
                "id": config.id,
                "framework": config.framework,
                "label": config.label,
                "dtype": config.dtype,
                "versions": versions,
                "notes": config.notes,
            }
        )
        chosen = [feature for feature in rows if (config.id, feature.id) in mine]
        pair = config.make() if any(not f.transposed for f in chosen) else None
        transposed = any(f.transposed for f in chosen) and config.transpose is not None
        transpose_pair = config.transpose() if transposed else None
        for feature in chosen:
            cell = run_cell(
                config,
                feature,
                transpose_pair if feature.transposed else pair,
                max_examples=max_examples,
                seed=seed,
            )
            cells.append(cell.record)
            findings += [
                _finding(config, feature, f, versions) for f in cell.record.get("failures", ())
            ]
            done += 1
            if progress is not None:
                progress(done, total, f"{config.id} x {feature.id}: {cell.status}")
    counts = {s: sum(c["status"] == s for c in cells) for s in ("pass", "fail", "unsupported")}
    command = "convgrad audit" + (" --quick" if quick else "")
    meta = {
        **_meta_versions(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(time.perf_counter() - start, 2),
        "quick": quick,
        "max_examples": max_examples,
        "seed": seed,
        "command": command if shard is None else f"{command} --shard {shard}",
        "skipped": skipped,
    }
    if shard is not None:
        meta["shard"] = shard.record()
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "ok": not findings,
        "meta": meta,
        "summary": counts,
        "features": [{"id": f.id, "label": f.label} for f in rows],
        "configurations": column_records,
        "cells": cells,
        "findings": findings,
    }


_RUN_SPECIFIC = ("date", "seconds", "command", "shard", "platform")
"""Keys of an audit shard's ``meta`` that may differ between the shards of one run."""


def merge_audits(shards: Sequence[tuple[str, dict]]) -> dict:
    """The audit of the whole run from its shards (``(name, audit.json dict)`` pairs, in any
    order; ``convgrad audit --shard i/n``): the cells and findings in the whole run's order
    (configuration by configuration, feature by feature), the summary recounted. ``meta`` is
    the shards' without ``shard``: ``date`` the latest, ``seconds`` the sum, ``platform`` the
    shards' joined by `` | `` when they differ, ``command`` without ``--shard``.

    ValueError (one line naming the files and the rule) for a file that is not an audit of
    this schema version, shards that are not the complete set of one run
    (`convgrad.sharding.check_complete`; the settings, versions, features and
    configurations must agree), or a cell in two shards.
    """
    sharding.check_layout(shards, SCHEMA, SCHEMA_VERSION, "audit.json")
    metas = [
        (
            name,
            {
                **data["meta"],
                "features": data["features"],
                "configurations": data["configurations"],
            },
        )
        for name, data in shards
    ]
    agree = sorted(set().union(*(meta.keys() for _, meta in metas)) - set(_RUN_SPECIFIC))
    sharding.check_complete(metas, agree)
    first = shards[0][1]
    order = {
        (config["id"], feature["id"]): j
        for j, (config, feature) in enumerate(
            (c, f) for c in first["configurations"] for f in first["features"]
        )
    }
    owner: dict[tuple[str, str], str] = {}
    cells, findings = [], []
    for name, data in shards:
        for cell in data["cells"]:
            key = (cell["configuration"], cell["feature"])
            if key in owner:
                raise ValueError(
                    f"cell {key[0]} x {key[1]} is in two shards ({owner[key]!r} and {name!r});"
                    " merge the shards of one run"
                )
            owner[key] = name
            cells.append(cell)
        findings += data["findings"]
    cells.sort(key=lambda c: order[(c["configuration"], c["feature"])])
    findings.sort(key=lambda f: order[(f["configuration"], f["feature"])])
    meta = sharding.merged_meta([data["meta"] for _, data in shards])
    meta["command"] = meta["command"].rsplit(" --shard ", 1)[0]
    return {
        **first,
        "ok": not findings,
        "meta": meta,
        "summary": {
            s: sum(c["status"] == s for c in cells) for s in ("pass", "fail", "unsupported")
        },
        "cells": cells,
        "findings": findings,
    }


class AuditFiles(NamedTuple):
    """What `write_audit` wrote: the page, the JSON and the report."""

    html: Path
    json: Path
    report: dict


def write_audit(out: str | os.PathLike = "reports", **kwargs: Any) -> AuditFiles:
    """`run_audit` (same keywords), then ``out/audit.json`` and ``out/audit.html`` written as
    one pair. The folder is checked before the audit runs: FileExistsError rather than
    overwrite a file that is not a convgrad report, OSError for a folder that cannot be
    written; nothing is written then."""
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out={out!r} must be a str or os.PathLike")
    from convgrad.report.audit_page import check_audit_folder, write_audit_files

    folder = check_audit_folder(out, HTML_NAME, JSON_NAME)
    report = run_audit(**kwargs)
    html, json_path = write_audit_files(report, folder, HTML_NAME, JSON_NAME)
    return AuditFiles(html, json_path, report)


def write_merged_audit(out: str | os.PathLike, shards: Sequence[tuple[str, dict]]) -> AuditFiles:
    """`merge_audits`, then ``out/audit.json`` and ``out/audit.html`` written as
    `write_audit` writes them."""
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out={out!r} must be a str or os.PathLike")
    from convgrad.report.audit_page import check_audit_folder, write_audit_files

    folder = check_audit_folder(out, HTML_NAME, JSON_NAME)
    report = merge_audits(shards)
    html, json_path = write_audit_files(report, folder, HTML_NAME, JSON_NAME)
    return AuditFiles(html, json_path, report)


__all__ = [
    "FEATURES",
    "FRAMEWORKS",
    "HTML_NAME",
    "JSON_NAME",
    "SCHEMA",
    "AuditFiles",
    "Configuration",
    "Feature",
    "configurations",
    "merge_audits",
    "run_audit",
    "run_cell",
    "write_audit",
    "write_merged_audit",
]
