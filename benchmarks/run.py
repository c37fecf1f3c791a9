"""The oracle's performance targets, each measured as a ratio against a peer in the same run.

    .venv/bin/python -m benchmarks.run [--quick] [--skip-suite] [--json reports/bench.json]

Prints one row per target (measured ratio, limit, inputs) and writes ``reports/bench.json``:

1. speed: ``conv`` + ``conv_backward`` (forward, grad_input, grad_weight) against torch CPU
   forward + autograd backward, per layer and dtype; geometric mean per dtype (float64 <= 1.0,
   float32 <= 1.5). The oracle computes in float64 for every float input (docs/design.md), so its
   float32 row is float64 arithmetic against torch's float32. Also GFLOP/s against this
   machine's float64 GEMM peak (a 2048x2048 matmul, measured here), and the ratio of the
   oracle's matrix products alone (on columns made beforehand) to torch: the floor of the
   float64 im2col arrangement, which no gather or validation speed-up can go below.
   No layer's float64 ratio above 1.5; on the two large layers, the time against the time at
   half this machine's float64 GEMM peak (limit 1: at least half the peak).
   The phase split (`benchmarks.phases`): each layer's float64 time by phase (validation,
   casts, padding, gathers, products, col2im, sums, other), measured in its own pass.
2. overhead: one call on a 1x2x5x5 problem against torch's (limit 2).
3. memory: tracemalloc peak of the fast path on a 3-D layer whose im2col matrix exceeds the
   chunk budget, against budget + outputs (limit 1).
4. verification cost: ``convgrad.verify`` against ``torch.autograd.gradcheck`` (when
   `convgrad.verify` is present).
5. suite time: the CI test run (``pytest -q``, hypothesis ``ci`` profile) against 10 minutes.

Threads: BLAS and torch both get BENCH_THREADS (default 2) threads: OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and MKL_NUM_THREADS are set before NumPy loads, torch.set_num_threads after;
the fast path's threaded copies follow OPENBLAS_NUM_THREADS too.
Timings alternate ours/peer round by round and report medians; ``spread`` is the range of the
per-round ratio over its median, the noise of a shared machine.

BLAS kernel: run as a command, the benchmark removes OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
from its own environment before NumPy loads (``--keep-blas-env`` keeps them), so OpenBLAS picks
its kernel for this CPU, as torch's oneDNN and MKL do for theirs. Machines that set these
variables to pin an older kernel (a workaround for old OpenBLAS builds) would otherwise time
NumPy's products at a fraction of the speed of the same BLAS on the same cores. Before any
timing, every layer is computed with that kernel on integer data and compared with exact int64
arithmetic (`blas_check`); the test suite it times runs with the environment as it was given.
"""

from __future__ import annotations

import os
import sys

BLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
DROPPED_BLAS_ENV: dict[str, str] = {}
"""The BLAS pins removed from this process's environment (empty when imported, or kept)."""
if __name__ == "__main__" and "--keep-blas-env" not in sys.argv[1:]:
    DROPPED_BLAS_ENV = {v: os.environ.pop(v) for v in BLAS_PINS if v in os.environ}

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

# BLAS reads its thread count when it loads, so these imports follow the variables above.
import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from math import prod  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_info  # noqa: E402

import convgrad as cg  # noqa: E402
from benchmarks import phases, timing  # noqa: E402
from convgrad.adapters.torch import from_torch, torch_conv  # noqa: E402
from convgrad.reference import fast  # noqa: E402
from convgrad.shapes import resolve  # noqa: E402
from convgrad.verification.problem import ConvProblem  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SUITE_LIMIT_S = 600.0


@dataclass(frozen=True)
class Layer:
    """One benchmark layer: shapes and `convgrad.conv` keywords (symmetric pads only, so
    torch gets them as its own ``padding`` argument)."""

    name: str
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    kwargs: dict = field(default_factory=dict)

    def resolved(self):
        return resolve(self.x_shape, self.w_shape, cg.ConvSpec(**self.kwargs))

    def flops(self) -> int:
        """Multiply-adds x 2 of forward + grad_input + grad_weight (3 equal-size products)."""
        _, dims = self.resolved()
        out = prod(d.output for d in dims)
        return 3 * 2 * self.x_shape[0] * self.w_shape[0] * out * prod(self.w_shape[1:])


LAYERS = (
    Layer("1x3x128x128 -> 32, 3x3 valid", (1, 3, 128, 128), (32, 3, 3, 3), {"padding": "valid"}),
    Layer("1x3x128x128 -> 32, 3x3 same", (1, 3, 128, 128), (32, 3, 3, 3), {"padding": "same"}),
    Layer("8x16x64x64 -> 32, 3x3 same", (8, 16, 64, 64), (32, 16, 3, 3), {"padding": "same"}),
    Layer("1x64x56x56 -> 64, 3x3 same", (1, 64, 56, 56), (64, 64, 3, 3), {"padding": "same"}),
    Layer(
        "4x16x64x64 -> 32, 3x3 pad 1 stride 2",
        (4, 16, 64, 64),
        (32, 16, 3, 3),
        {"padding": 1, "stride": 2},
    ),
    Layer(
        "2x16x32x32 -> 32, 3x3 same dil 2 groups 4",
        (2, 16, 32, 32),
        (32, 4, 3, 3),
        {"padding": "same", "dilation": 2, "groups": 4},
    ),
    Layer("1-D 4x8x1024 -> 16, k7 full", (4, 8, 1024), (16, 8, 7), {"padding": "full"}),
    Layer("3-D 2x4x16^3 -> 8, 3^3 same", (2, 4, 16, 16, 16), (8, 4, 3, 3, 3), {"padding": "same"}),
)
LARGE = (LAYERS[2].name, LAYERS[3].name)
"""The layers where the GFLOP/s aim (half the float64 GEMM peak) applies."""

TINY = Layer("1x2x5x5 -> 3, 3x3 same", (1, 2, 5, 5), (3, 2, 3, 3), {"padding": "same"})
MEMORY = Layer(
    "3-D 1x8x32^3 -> 8, 3^3 same", (1, 8, 32, 32, 32), (8, 8, 3, 3, 3), {"padding": "same"}
)
VERIFY = LAYERS[0]
SMALL_GRADCHECK = ((1, 2, 8, 8), (3, 2, 3, 3))
"""x and w shapes of the timed slow-mode gradcheck that calibrates the extrapolation."""


def _torch_step(layer: Layer, dtype: np.dtype, rng: np.random.Generator):
    """Torch forward + autograd backward on the layer, and the same for the oracle."""
    spec, dims = layer.resolved()
    x = rng.standard_normal(layer.x_shape).astype(dtype)
    w = rng.standard_normal(layer.w_shape).astype(dtype)
    gy = rng.standard_normal((x.shape[0], w.shape[0], *(d.output for d in dims))).astype(dtype)
    if any(lo != hi for lo, hi in spec.padding):
        raise ValueError(f"{layer.name}: the benchmark layers use symmetric pads only")
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d}.get(
        spec.ndim, torch.nn.functional.conv3d
    )
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tgy = torch.tensor(gy)
    options = {
        "stride": spec.stride,
        "padding": tuple(lo for lo, _ in spec.padding),
        "dilation": spec.dilation,
        "groups": spec.groups,
    }

    def peer() -> None:
        tx.grad = tw.grad = None
        conv(tx, tw, **options).backward(tgy)

    def ours() -> None:
        cg.conv(x, w, **layer.kwargs)
        cg.conv_backward(x, w, gy, **layer.kwargs)

    return ours, peer


def _products(layer: Layer, rng: np.random.Generator):
    """The matrix products `convgrad.reference.fast` runs for the layer — forward, grad_weight
    and grad_input, in its arrangement (`fast.grad_input_correlation` picks grad_input's) —
    on operands of the gathered columns' shapes made beforehand: the float64 time left with no
    gather, no padding, no validation. Whole-problem stacks, as the blocks are per sample."""
    spec, dims = layer.resolved()
    (n, c_in), (c_out, _, *kernel) = layer.x_shape[:2], layer.w_shape
    g, taps, out = spec.groups, prod(kernel), prod(d.output for d in dims)
    w_mat = rng.standard_normal((g, c_out // g, c_in // g * taps))
    cols = rng.standard_normal((n, g, c_in // g * taps, out))
    gy = rng.standard_normal((n, g, c_out // g, out))
    if fast.grad_input_correlation(spec, layer.w_shape) is None:
        back, back_cols = w_mat.swapaxes(-1, -2), gy
    else:
        back = rng.standard_normal((g, c_in // g, c_out // g * taps))
        back_cols = rng.standard_normal((n, g, c_out // g * taps, prod(layer.x_shape[2:])))

    def products() -> None:
        np.matmul(w_mat, cols)
        np.matmul(gy, cols.swapaxes(-1, -2)).sum(axis=0)
        np.matmul(back, back_cols)

    return products


def matmul_peak(repeats: int) -> float:
    """float64 GFLOP/s of a 2048x2048 NumPy matmul (this machine's BLAS peak, in this run)."""
    a = np.random.default_rng(0).standard_normal((2048, 2048))
    return 2 * 2048**3 / timing.best_of(lambda: a @ a, repeats) / 1e9


def blas() -> dict:
    """The BLAS NumPy runs on (threadpoolctl's view of the loaded library) and the pins this
    process removed from its environment."""
    libraries = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {
        "library": ", ".join(
            f"{lib['internal_api']} {lib['version']} {lib.get('architecture') or ''}".strip()
            for lib in libraries
        )
        or "unknown",
        "threads": [lib["num_threads"] for lib in libraries],
        "dropped_env": dict(DROPPED_BLAS_ENV),
    }


def _fast_outputs(layer: Layer, x: np.ndarray, w: np.ndarray, gy: np.ndarray) -> dict:
    spec, _ = layer.resolved()
    return {
        "forward": fast.forward(x, w, spec, gy.shape[2:]),
        "grad_input": fast.grad_input(gy, w, spec, x.shape[2:]),
        "grad_weight": fast.grad_weight(x, gy, spec, w.shape[2:]),
    }


def blas_check() -> list[str]:
    """The outputs ("layer: output") where the float64 fast path (BLAS) differs from exact
    int64 arithmetic (NumPy's own loops) on the same integer data in -3..3: every float64
    product and sum of those is exact, so any correct kernel is bit-exact. Empty when right."""
    wrong = []
    for layer in LAYERS:
        _, dims = layer.resolved()
        rng = np.random.default_rng(0)
        x, w = (rng.integers(-3, 4, size=shape) for shape in (layer.x_shape, layer.w_shape))
        gy = rng.integers(-3, 4, size=(x.shape[0], w.shape[0], *(d.output for d in dims)))
        exact = _fast_outputs(layer, x, w, gy)
        floats = _fast_outputs(layer, *(a.astype(np.float64) for a in (x, w, gy)))
        wrong += [f"{layer.name}: {k}" for k in exact if not np.array_equal(floats[k], exact[k])]
    return wrong


def speed(peak: float, repeats: int) -> dict:
    rows = []
    for dtype in (np.float64, np.float32):
        for layer in LAYERS:
            ours, peer = _torch_step(layer, np.dtype(dtype), np.random.default_rng(0))
            t = timing.interleaved(ours, peer, repeats=repeats, round_s=0.05)
            gflops = layer.flops() / t.ours / 1e9
            floor = timing.interleaved(
                _products(layer, np.random.default_rng(0)), peer, repeats=repeats, round_s=0.05
            )
            rows.append(
                {
                    "layer": layer.name,
                    "dtype": np.dtype(dtype).name,
                    "ours_ms": t.ours * 1e3,
                    "torch_ms": t.peer * 1e3,
                    "ratio": t.ratio,
                    "best_ratio": t.best_ratio,
                    "spread": t.spread,
                    "products_ms": floor.ours * 1e3,
                    "products_ratio": floor.ratio,
                    "gflops": gflops,
                    "peak_fraction": gflops / peak,
                    "peak_floor_ratio": layer.flops() / (peak * 1e9) / t.peer,
                    "large": layer.name in LARGE,
                }
            )
    geomean, best_geomean, products_geomean, peak_floor_geomean = (
        {
            dt: statistics.geometric_mean([r[key] for r in rows if r["dtype"] == dt])
            for dt in ("float64", "float32")
        }
        for key in ("ratio", "best_ratio", "products_ratio", "peak_floor_ratio")
    )
    return {
        "rows": rows,
        "geomean": geomean,
        "best_geomean": best_geomean,
        "products_geomean": products_geomean,
        "peak_floor_geomean": peak_floor_geomean,
    }


def phase_split(repeats: int) -> list[dict]:
    """Each layer's float64 ``conv`` + ``conv_backward`` split into `benchmarks.phases`: the
    fastest of ``repeats`` passes of about 0.2 s (the timers add about 1 us a call, which
    shows on the smallest layers only)."""
    rows = []
    for layer in LAYERS:
        ours, _ = _torch_step(layer, np.dtype(np.float64), np.random.default_rng(0))
        calls = timing.calls_for(ours, 0.2)
        best = min((phases.split(ours, calls) for _ in range(repeats)), key=lambda p: p["total"])
        rows.append(
            {
                "layer": layer.name,
                "total_ms": best["total"] * 1e3,
                "fractions": {k: v / best["total"] for k, v in best.items() if k != "total"},
            }
        )
    return rows


def overhead(repeats: int) -> dict:
    ours, peer = _torch_step(TINY, np.dtype(np.float64), np.random.default_rng(0))
    t = timing.interleaved(ours, peer, repeats=repeats, round_s=0.05)
    return {
        "layer": TINY.name,
        "ours_us": t.ours * 1e6,
        "torch_us": t.peer * 1e6,
        "ratio": t.ratio,
        "best_ratio": t.best_ratio,
        "spread": t.spread,
    }


def _traced_peak(fn) -> int:
    """Peak bytes NumPy allocated during ``fn()`` (NumPy reports its buffers to tracemalloc),
    run in a new thread so that the fast path's per-thread scratch buffer, kept between calls,
    is allocated and counted inside the measurement."""
    worker = threading.Thread(target=fn)
    tracemalloc.start()
    try:
        worker.start()
        worker.join()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def memory() -> dict:
    spec, dims = MEMORY.resolved()
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(MEMORY.x_shape), rng.standard_normal(MEMORY.w_shape)
    out = tuple(d.output for d in dims)
    gy = rng.standard_normal((x.shape[0], w.shape[0], *out))
    budget = fast.CHUNK_BYTES
    steps = {
        "forward": (lambda: fast.forward(x, w, spec, out), gy.nbytes),
        "grad_input": (lambda: fast.grad_input(gy, w, spec, x.shape[2:]), x.nbytes),
        "grad_weight": (lambda: fast.grad_weight(x, gy, spec, w.shape[2:]), w.nbytes),
    }
    rows = {
        name: {"peak_bytes": _traced_peak(fn), "bound_bytes": budget + output}
        for name, (fn, output) in steps.items()
    }
    im2col = x.shape[1] * prod(w.shape[2:]) * prod(out) * x.shape[0] * x.itemsize
    worst = max(r["peak_bytes"] / r["bound_bytes"] for r in rows.values())
    return {
        "layer": MEMORY.name,
        "budget_bytes": budget,
        "im2col_bytes": im2col,
        "steps": rows,
        "ratio": worst,
    }


def _gradcheck_model(x, w, spec) -> float:
    """Seconds slow-mode gradcheck spends in calls: central differences (2 forward calls per
    input element) and the analytical Jacobian, one vjp per output element, computed twice
    (its reentrancy check) — torch/autograd/gradcheck.py, ``_get_numerical_jacobian`` and
    ``_check_analytical_jacobian_attributes``."""
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    with torch.no_grad():
        y = torch_conv(tx, tw, spec)
    one_hot = torch.zeros_like(y)
    one_hot.view(-1)[0] = 1.0

    def forward() -> None:
        with torch.no_grad():
            torch_conv(tx, tw, spec)

    def vjp() -> None:
        torch.autograd.grad(torch_conv(tx, tw, spec), (tx, tw), one_hot)

    inputs = x.size + w.size
    return 2 * inputs * timing.mean_call(forward) + 2 * y.numel() * timing.mean_call(vjp)


def _gradcheck_seconds(x, w, spec, *, fast_mode: bool) -> float:
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    start = time.perf_counter()
    assert torch.autograd.gradcheck(
        lambda a, b: torch_conv(a, b, spec), (tx, tw), fast_mode=fast_mode
    )
    return time.perf_counter() - start


def verification(repeats: int) -> dict:
    """`convgrad.verify` (every check) on VERIFY's problem, torch autograd as the user, against
    gradcheck on the same problem: fast mode timed; slow mode extrapolated by the call model
    above, calibrated by a timed slow run on a small layer (measured / modelled)."""
    spec, dims = VERIFY.resolved()
    rng = np.random.default_rng(0)
    x, w = (
        rng.integers(-3, 4, size=s).astype(np.float64) for s in (VERIFY.x_shape, VERIFY.w_shape)
    )
    gy = rng.integers(-3, 4, size=(x.shape[0], w.shape[0], *(d.output for d in dims)))
    problem = ConvProblem(x, w, None, gy.astype(np.float64), cg.ConvSpec(**VERIFY.kwargs))
    forward, backward = from_torch(torch_conv)
    runs = []
    for _ in range(max(1, repeats // 3)):
        start = time.perf_counter()
        result = cg.verify(forward, backward, problems=[problem], timeout=None)
        runs.append(time.perf_counter() - start)
        if not result.ok:
            raise RuntimeError(f"verify failed on torch itself:\n{result}")
    verify_s = statistics.median(runs)
    fast_s = statistics.median(
        _gradcheck_seconds(x, w, spec, fast_mode=True) for _ in range(max(1, repeats // 3))
    )
    small_x, small_w = (
        rng.standard_normal(SMALL_GRADCHECK[0]),
        rng.standard_normal(SMALL_GRADCHECK[1]),
    )
    small_spec = cg.ConvSpec(**VERIFY.kwargs).resolve(small_x.shape[2:], small_w.shape[2:])
    small_measured = _gradcheck_seconds(small_x, small_w, small_spec, fast_mode=False)
    calibration = small_measured / _gradcheck_model(small_x, small_w, small_spec)
    slow_s = calibration * _gradcheck_model(x, w, spec)
    return {
        "layer": VERIFY.name,
        "verify_s": verify_s,
        "data": "integer-valued float64 (so the exact check runs too)",
        "gradcheck_fast_s": fast_s,
        "gradcheck_slow_s_extrapolated": slow_s,
        "slow_calibration": {
            "layer": f"{SMALL_GRADCHECK[0]} / {SMALL_GRADCHECK[1]}",
            "measured_s": small_measured,
            "measured_over_model": calibration,
        },
        "ratio_fast": verify_s / fast_s,
        "ratio_slow": verify_s / slow_s,
    }


def suite() -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, **DROPPED_BLAS_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    summary = lines[-1] if lines else done.stderr[-200:]
    return {
        "failed": [
            line.removeprefix("FAILED ") for line in lines if line.startswith("FAILED tests/")
        ],
        "seconds": seconds,
        "limit_s": SUITE_LIMIT_S,
        "ratio": seconds / SUITE_LIMIT_S,
        "exit_code": done.returncode,
        "summary": summary,
    }


def targets(results: dict) -> list[dict]:
    """One row per target: the measured ratio, its limit and what it was measured on."""
    speed_rows = results["speed"]
    rows = [
        {
            "target": "speed float64 (geomean vs torch)",
            "ratio": speed_rows["geomean"]["float64"],
            "limit": 1.0,
            "inputs": f"{len(LAYERS)} layers, fwd+grad_input+grad_weight; fastest rounds:"
            f" {speed_rows['best_geomean']['float64']:.2f}",
        },
        {
            "target": "speed float32 (geomean vs torch)",
            "ratio": speed_rows["geomean"]["float32"],
            "limit": 1.5,
            "inputs": "same layers, the oracle in float64; fastest rounds:"
            f" {speed_rows['best_geomean']['float32']:.2f}",
        },
    ]
    worst = max(
        (r for r in speed_rows["rows"] if r["dtype"] == "float64"), key=lambda r: r["ratio"]
    )
    rows.append(
        {
            "target": "slowest float64 layer (vs torch)",
            "ratio": worst["ratio"],
            "limit": 1.5,
            "inputs": f"{worst['layer']} (fastest rounds {worst['best_ratio']:.2f})",
        }
    )
    rows.append(
        {
            "target": "float32: every flop at the f64 GEMM peak (geomean)",
            "ratio": speed_rows["peak_floor_geomean"]["float32"],
            "limit": None,
            "inputs": "flops / float64 GEMM peak vs torch float32: no float64 arrangement is"
            " faster; large layers "
            + ", ".join(
                f"{r['peak_floor_ratio']:.2f}"
                for r in speed_rows["rows"]
                if r["large"] and r["dtype"] == "float32"
            ),
        }
    )
    rows.append(
        {
            "target": "float32: the float64 products alone (geomean)",
            "ratio": speed_rows["products_geomean"]["float32"],
            "limit": None,
            "inputs": "fast's matmuls on pre-made columns vs torch float32: the floor of the"
            " float64 im2col arrangement",
        }
    )
    for row in speed_rows["rows"]:
        if row["large"] and row["dtype"] == "float64":
            rows.append(
                {
                    "target": f"time / time at half the f64 GEMM peak: {row['layer']}",
                    "ratio": 0.5 / row["peak_fraction"],
                    "limit": 1.0,
                    "inputs": f"{row['gflops']:.1f} of {results['peak_gflops']:.1f} GFLOP/s ="
                    f" {row['peak_fraction']:.2f} of the peak (at least 0.5)",
                }
            )
    tiny = results["overhead"]
    rows.append(
        {
            "target": "small-problem overhead (vs torch)",
            "ratio": tiny["ratio"],
            "limit": 2.0,
            "inputs": f"{tiny['layer']}: {tiny['ours_us']:.0f} us vs {tiny['torch_us']:.0f} us",
        }
    )
    mem = results["memory"]
    rows.append(
        {
            "target": "memory peak / (budget + outputs)",
            "ratio": mem["ratio"],
            "limit": 1.0,
            "inputs": f"{mem['layer']}: im2col {mem['im2col_bytes'] >> 20} MiB,"
            f" budget {mem['budget_bytes'] >> 20} MiB",
        }
    )
    check = results["verify"]
    for mode in ("fast", "slow"):
        seconds = check["gradcheck_fast_s" if mode == "fast" else "gradcheck_slow_s_extrapolated"]
        rows.append(
            {
                "target": f"verify / gradcheck {mode} mode",
                "ratio": check[f"ratio_{mode}"],
                "limit": None,
                "inputs": f"{check['layer']}: {check['verify_s']:.2f} s vs {seconds:.3g} s"
                + (" (extrapolated)" if mode == "slow" else ""),
            }
        )
    if results.get("suite"):
        run = results["suite"]
        rows.append(
            {
                "target": "CI suite time / 10 min",
                "ratio": run["ratio"],
                "limit": 1.0,
                "inputs": f"{run['seconds']:.0f} s, {run['summary']}",
            }
        )
    for row in rows:
        row["met"] = None if row["limit"] is None else row["ratio"] <= row["limit"]
    return rows


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name as the kernel reports it (Linux), else what `platform` knows."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _machine() -> dict:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": THREADS,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "blas": blas(),
    }


def print_table(results: dict) -> None:
    busy = results["load_average_before"]
    if busy > 0.5 * (os.cpu_count() or 1):
        print(
            f"WARNING: load average {busy:.1f} on {os.cpu_count()} cores before the run: other"
            " processes were using the cores, so the ratios are unreliable"
        )
    kernel = results["machine"]["blas"]
    dropped = " ".join(f"{k}={v}" for k, v in kernel["dropped_env"].items())
    machine = results["machine"]
    print(f"CPU: {machine['cpu']} ({machine['cores']} cores)")
    print(
        f"threads: BLAS and torch {THREADS}; BLAS {kernel['library']}"
        + (f" (removed {dropped})" if dropped else "")
        + f"; float64 GEMM peak {results['peak_gflops']:.1f} GFLOP/s"
    )
    print(
        f"{'layer':44s} {'dtype':8s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s}"
        f" {'best':>6s} {'spread':>6s} {'GFLOP/s':>8s} {'products':>8s}"
    )
    for row in results["speed"]["rows"]:
        print(
            f"{row['layer']:44s} {row['dtype']:8s} {row['ours_ms']:9.2f} {row['torch_ms']:9.2f}"
            f" {row['ratio']:6.2f} {row['best_ratio']:6.2f} {row['spread']:6.2f}"
            f" {row['gflops']:8.1f} {row['products_ratio']:8.2f}"
        )
    print()
    names = [*phases.PHASES, "other"]
    print(f"{'float64 time by phase (%)':44s} {'ms':>8s} " + " ".join(f"{n:>6.6s}" for n in names))
    for row in results["phases"]:
        print(
            f"{row['layer']:44s} {row['total_ms']:8.2f} "
            + " ".join(f"{100 * row['fractions'][n]:6.0f}" for n in names)
        )
    print()
    print(f"{'target':46s} {'ratio':>7s} {'limit':>6s} {'met':>4s}  inputs")
    for row in results["targets"]:
        limit = "-" if row["limit"] is None else f"{row['limit']:.1f}"
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        print(f"{row['target']:46s} {row['ratio']:7.2f} {limit:>6s} {met:>4s}  {row['inputs']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    parser.add_argument("--skip-suite", action="store_true", help="do not time the test suite")
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "bench.json")
    parser.add_argument(
        "--keep-blas-env",
        action="store_true",
        help=f"keep {' and '.join(BLAS_PINS)} (by default removed: OpenBLAS picks its kernel)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    wrong = blas_check()
    if wrong:
        print(f"BLAS computes wrong results with kernel {blas()['library']}: {wrong}")
        return 1
    repeats = 3 if args.quick else 9
    results: dict = {
        "schema_version": 1,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(
            ["python -m benchmarks.run", *(sys.argv[1:] if argv is None else argv)]
        ),
        "machine": _machine(),
        "load_average_before": os.getloadavg()[0],
        "peak_gflops": matmul_peak(repeats),
    }
    results["speed"] = speed(results["peak_gflops"], repeats)
    results["phases"] = phase_split(repeats)
    results["overhead"] = overhead(repeats)
    results["memory"] = memory()
    results["verify"] = verification(repeats)
    results["suite"] = None if args.skip_suite else suite()
    results["load_average_after"] = os.getloadavg()[0]
    results["targets"] = targets(results)
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, allow_nan=False) + "\n")
    for test in (results["suite"] or {}).get("failed", []):
        print(f"suite failure: {test}")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
