"""The benchmark's bookkeeping (no timing is asserted: ratios are measured, not tested)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from benchmarks import phases, run, timing


def _results(suite=None):
    row = {
        "layer": run.LAYERS[2].name,
        "dtype": "float64",
        "ratio": 0.9,
        "best_ratio": 0.8,
        "gflops": 50.0,
        "peak_fraction": 0.25,
        "peak_floor_ratio": 0.4,
    }
    slow = {**row, "layer": run.LAYERS[6].name, "ratio": 1.6, "large": False}
    return {
        "peak_gflops": 200.0,
        "speed": {
            "rows": [
                {**row, "large": True},
                slow,
                {**row, "dtype": "float32", "ratio": 2.0, "large": True},
            ],
            "geomean": {"float64": 0.8, "float32": 1.7},
            "best_geomean": {"float64": 0.7, "float32": 1.6},
            "products_geomean": {"float64": 0.3, "float32": 1.2},
            "peak_floor_geomean": {"float64": 0.2, "float32": 0.6},
        },
        "overhead": {"layer": "tiny", "ours_us": 60.0, "torch_us": 30.0, "ratio": 2.0},
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
    assert rows["small-problem overhead (vs torch)"]["met"] is True  # 2.0 <= 2.0
    slowest = rows["slowest float64 layer (vs torch)"]
    assert (slowest["ratio"], slowest["limit"], slowest["met"]) == (1.6, 1.5, False)
    assert slowest["inputs"].startswith(run.LAYERS[6].name), "float64 rows only (float32: 2.0)"
    floor = rows["float32: the float64 products alone (geomean)"]
    assert (floor["ratio"], floor["limit"], floor["met"]) == (1.2, None, None)
    peak = rows["float32: every flop at the f64 GEMM peak (geomean)"]
    assert (peak["ratio"], peak["limit"], peak["met"]) == (0.6, None, None)
    assert peak["inputs"].endswith("large layers 0.40"), "float32 large rows only"
    large = [t for t in rows if t.startswith("time / time at half")]
    assert large == [f"time / time at half the f64 GEMM peak: {run.LAYERS[2].name}"], "f64 only"
    half = rows[large[0]]
    assert (half["ratio"], half["limit"], half["met"]) == (2.0, 1.0, False)  # 0.5 / 0.25
    assert "50.0 of 200.0 GFLOP/s = 0.25 of the peak" in half["inputs"]
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


def test_blas_check_finds_this_machines_blas_exact_on_integer_data():
    assert run.blas_check() == []


def test_blas_check_names_each_output_a_wrong_kernel_changes(monkeypatch):
    """A BLAS that is off by one ulp in float64 (simulated) is caught, output by output."""
    real = run._fast_outputs

    def wrong_float_forward(layer, x, w, gy):
        outputs = real(layer, x, w, gy)
        if x.dtype == np.float64:
            outputs["forward"] = np.nextafter(outputs["forward"], np.inf)
        return outputs

    monkeypatch.setattr(run, "_fast_outputs", wrong_float_forward)
    assert run.blas_check() == [f"{layer.name}: forward" for layer in run.LAYERS]


def test_blas_describes_the_loaded_library_and_keeps_the_environment_when_imported():
    info = run.blas()
    assert info["library"].startswith("openblas "), info
    assert info["threads"] and all(n >= 1 for n in info["threads"])
    assert info["dropped_env"] == {} == run.DROPPED_BLAS_ENV, "only `python -m` drops the pins"


def test_memory_peak_counts_allocations_of_a_fresh_thread():
    assert run._traced_peak(lambda: np.ones(2**20)) >= 8 * 2**20


@pytest.mark.parametrize(("flags", "kept"), [([], False), (["--keep-blas-env"], True)])
def test_the_command_removes_the_blas_pins_before_numpy_loads_unless_kept(flags, kept):
    script = (
        "import os, runpy, sys\n"
        f"sys.argv = ['benchmarks.run', *{flags!r}, '--help']\n"
        "try:\n"
        "    runpy.run_module('benchmarks.run', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(os.environ.get('OPENBLAS_CORETYPE'), os.environ.get('OPENBLAS_L2_SIZE'))\n"
    )
    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=run.ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == ("Haswell 512" if kept else "None None")


def test_a_wrong_blas_stops_the_benchmark_before_any_timing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(run, "blas_check", lambda: ["1-D layer: grad_weight"])
    monkeypatch.setattr(run, "matmul_peak", pytest.fail)  # the first timing main would run
    out = tmp_path / "bench.json"
    assert run.main(["--quick", "--skip-suite", "--json", str(out)]) == 1
    assert "BLAS computes wrong results" in capsys.readouterr().out
    assert not out.exists()


def test_cpu_model_reads_the_kernels_model_name(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)\n"
    )
    assert run.cpu_model(cpuinfo) == "Intel(R) Xeon(R)"


def test_cpu_model_falls_back_to_platform_without_a_model_name(tmp_path):
    assert run.cpu_model(tmp_path / "missing") == (
        run.platform.processor() or run.platform.machine() or "unknown"
    )
    assert run.cpu_model().strip() == run.cpu_model() != ""


def test_phase_split_rows_are_fractions_of_each_layers_time(monkeypatch):
    monkeypatch.setattr(run, "LAYERS", run.LAYERS[:1])
    monkeypatch.setattr(run.timing, "calls_for", lambda fn, target_s: 1)
    (row,) = run.phase_split(repeats=1)
    assert row["layer"] == run.LAYERS[0].name and row["total_ms"] > 0
    assert set(row["fractions"]) == {*phases.PHASES, "other"}
    assert sum(row["fractions"].values()) == pytest.approx(1.0)
    assert row["fractions"]["products"] > 0 and row["fractions"]["gathers"] > 0


def test_the_table_names_the_cpu_and_splits_each_layers_time_by_phase(capsys):
    results = _results()
    layer = run.LAYERS[2].name
    timed = {"ours_ms": 20.0, "torch_ms": 25.0, "spread": 0.1, "products_ratio": 0.5}
    results["speed"]["rows"] = [{**row, **timed} for row in results["speed"]["rows"]]
    fractions = dict.fromkeys([*phases.PHASES, "other"], 0.0)
    fractions.update(gathers=0.25, products=0.7, other=0.05)
    results.update(
        load_average_before=0.0,
        machine={
            "cpu": "Intel(R) Xeon(R) Platinum",
            "cores": 2,
            "blas": {"library": "openblas 0.3.31 SkylakeX", "dropped_env": {}},
        },
        phases=[{"layer": layer, "total_ms": 20.0, "fractions": fractions}],
    )
    results["targets"] = run.targets(results)
    run.print_table(results)
    out = capsys.readouterr().out
    assert "CPU: Intel(R) Xeon(R) Platinum (2 cores)" in out
    header = next(line for line in out.splitlines() if line.startswith("float64 time by phase"))
    names = ["ms", "valida", "casts", "paddin", "gather", "produc", "col2im", "sums", "other"]
    assert header.split()[-9:] == names
    row = [line for line in out.splitlines() if line.startswith(layer)][-1]
    assert row.split()[-9:] == ["20.00", "0", "0", "0", "25", "70", "0", "0", "5"]


def test_verdict_rows_time_each_bug_and_name_what_verify_found():
    from benchmarks import verdict
    from tests.zoo_realistic.bugs import BUGS

    bug = next(b for b in BUGS if b.name == "forward_returns_reused_workspace")
    (row,) = verdict.zoo_rows([bug])
    assert row["bug"] == bug.name and row["found"] == "state on forward"
    assert row["seconds"] > 0
