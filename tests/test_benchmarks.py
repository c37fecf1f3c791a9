"""The benchmark's bookkeeping (no timing is asserted: ratios are measured, not tested)."""

import numpy as np
import pytest
from benchmarks import run, timing


def _results(suite=None):
    row = {"layer": run.LAYERS[2].name, "dtype": "float64", "gflops": 50.0, "peak_fraction": 0.25}
    return {
        "peak_gflops": 200.0,
        "speed": {
            "rows": [{**row, "large": True}, {**row, "dtype": "float32", "large": True}],
            "geomean": {"float64": 0.8, "float32": 1.7},
            "best_geomean": {"float64": 0.7, "float32": 1.6},
            "products_geomean": {"float64": 0.3, "float32": 1.2},
        },
        "overhead": {"layer": "tiny", "ours_us": 90.0, "torch_us": 30.0, "ratio": 3.0},
        "memory": {"layer": "3-D", "im2col_bytes": 54 << 20, "budget_bytes": 8 << 20, "ratio": 0.9},
        "verify": {
            "layer": "128x128",
            "verify_s": 0.1,
            "gradcheck_fast_s": 0.02,
            "gradcheck_slow_s_extrapolated": 2000.0,
            "ratio_fast": 5.0,
            "ratio_slow": 5e-5,
        },
        "suite": suite,
    }


def test_targets_mark_each_limited_ratio_met_or_not_and_leave_aims_unjudged():
    rows = {r["target"]: r for r in run.targets(_results())}
    assert rows["speed float64 (geomean vs torch)"]["met"] is True
    assert rows["speed float32 (geomean vs torch)"]["met"] is False
    assert rows["small-problem overhead (vs torch)"]["met"] is True  # 3.0 <= 3.0
    floor = rows["float32: the float64 products alone (geomean)"]
    assert (floor["ratio"], floor["limit"], floor["met"]) == (1.2, None, None)
    large = [t for t in rows if t.startswith("GFLOP/s")]
    assert large == [f"GFLOP/s / f64 GEMM peak: {run.LAYERS[2].name}"], "float64 rows only"
    assert "CI suite time / 10 min" not in rows


def test_targets_include_the_suite_when_it_ran():
    suite = {"seconds": 120.0, "ratio": 0.2, "summary": "1 failed, 9 passed"}
    rows = {r["target"]: r for r in run.targets(_results(suite))}
    assert rows["CI suite time / 10 min"]["met"] is True
    assert "1 failed" in rows["CI suite time / 10 min"]["inputs"]


@pytest.mark.parametrize(
    "layer",
    [
        run.Layer("grouped strided", (2, 4, 9, 9), (6, 2, 3, 3), {"stride": 2, "groups": 2}),
        run.Layer("correlation", (1, 4, 6, 6), (4, 4, 3, 3), {"padding": "same"}),
        run.Layer("1-D full", (2, 3, 10), (5, 3, 4), {"padding": "full"}),
    ],
)
def test_products_run_the_three_matmuls_of_fast_on_any_layer(layer):
    products = run._products(layer, np.random.default_rng(0))
    products()


def test_benchmark_layers_have_symmetric_pads_as_torch_needs():
    for layer in (*run.LAYERS, run.TINY, run.MEMORY):
        spec, _ = layer.resolved()
        assert all(lo == hi for lo, hi in spec.padding), layer.name


def test_each_round_settles_then_warms_up_then_times_back_to_back_calls(monkeypatch):
    events = []
    monkeypatch.setattr(timing.time, "sleep", lambda s: events.append(("sleep", s)))
    calls = []
    assert timing._settled_round(lambda: calls.append(1), 3) >= 0
    assert events == [("sleep", timing.SETTLE_S)] and len(calls) == 1 + 3


def test_interleaved_reports_medians_fastest_rounds_and_the_ratio_spread(monkeypatch):
    rounds = iter([4.0, 2.0, 6.0, 2.0, 5.0, 4.0])  # ours, peer, ours, peer, ...
    monkeypatch.setattr(timing, "calls_for", lambda fn, target_s: 1)
    monkeypatch.setattr(timing, "_settled_round", lambda fn, calls: next(rounds))
    t = timing.interleaved(lambda: None, lambda: None, repeats=3)
    assert (t.ours, t.peer, t.ours_best, t.peer_best) == (5.0, 2.0, 4.0, 2.0)
    assert t.ratio == 2.5 and t.best_ratio == 2.0
    assert t.spread == pytest.approx((3.0 - 1.25) / 2.0)  # ratios 2, 3, 1.25
