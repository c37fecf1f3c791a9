"""Correct implementations whose arithmetic is not the reference's pass at default settings:
flush-to-zero and denormals-are-zero, a summation order that varies between calls, TF32
operands (with ``precision="tf32"``), and JAX when installed; the strict settings still reject
what they exclude, so each allowance is real, not a blanket loosening."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.verification.problem import ConvProblem

from .implementations import FAST, failure_keys, fixed_problem, ref_backward, ref_forward
from .simulations import Arithmetic, round_tf32

SEEDS = range(20)


def _tiny_problem(dtype: str, value: float) -> ConvProblem:
    """x = w = value, grad_y = 1: every product x*w is below the smallest normal of dtype."""
    x = np.full((1, 1, 3), value, dtype=dtype)
    return ConvProblem(x, x[:, :, :2].copy(), None, np.ones((1, 1, 2), dtype=dtype), cg.ConvSpec())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", SEEDS)
def test_flushing_and_reordering_implementation_passes_by_default(dtype, seed):
    sim = Arithmetic(dtype, ftz=True, random_order=True)
    result = cg.verify(sim.forward, sim.backward, dtype=dtype, seed=seed, max_examples=15)
    assert result.ok, str(result)


@pytest.mark.parametrize(("dtype", "value"), [("float64", 1e-160), ("float32", 1e-20)])
def test_flushing_implementation_fails_with_strict_subnormals_and_is_diagnosed(dtype, value):
    sim = Arithmetic(dtype, ftz=True)
    problem = _tiny_problem(dtype, value)
    assert sim.forward(problem.x, problem.w, problem.resolved).max() == 0  # really flushed
    assert cg.verify(sim.forward, sim.backward, problems=[problem]).ok
    strict = cg.verify(sim.forward, sim.backward, problems=[problem], subnormals="ieee")
    assert ("value", "forward") in failure_keys(strict)
    failure = next(f for f in strict.failures if (f.check, f.output) == ("value", "forward"))
    assert "flushed to zero" in failure.diagnosis
    assert "subnormals='ieee'" in failure.diagnosis
    assert "float32" not in failure.diagnosis.split("(")[0]
    # The snippet reproduces the failure: it passes the strict setting.
    assert failure.reproduce.endswith(
        "cg.verify(forward, backward, problems=[problem], subnormals='ieee'))"
    )


def test_subnormal_operands_read_as_zero_pass_by_default_only():
    # DAZ: x holds float64 subnormals that the implementation reads as 0.
    sim = Arithmetic("float64", ftz=True)
    x = np.full((1, 1, 3), 3e-310)
    problem = ConvProblem(x, np.ones((1, 1, 2)), None, np.ones((1, 1, 2)), cg.ConvSpec())
    assert cg.verify(sim.forward, sim.backward, problems=[problem]).ok
    strict = cg.verify(sim.forward, sim.backward, problems=[problem], subnormals="ieee")
    assert ("value", "forward") in failure_keys(strict)


def test_strict_subnormals_still_pass_the_reference_at_the_bottom_of_the_range():
    problem = _tiny_problem("float64", 1e-160)
    result = cg.verify(ref_forward, ref_backward, problems=[problem], subnormals="ieee")
    assert result.ok, str(result)


def test_varying_summation_order_passes_with_a_note_and_fails_when_determinism_is_required():
    sim = Arithmetic("float64", random_order=True)
    result = cg.verify(sim.forward, sim.backward, seed=1, **FAST)
    assert result.ok, str(result)
    assert result.notes, "a sum in a random order differs between calls on real data"
    note = result.notes[0]
    assert note["check"] == "determinism" and "within the error bound" in note["message"]
    assert "note: " in str(result)
    assert result.to_dict()["notes"][0]["message"] == note["message"]
    problem = fixed_problem()
    assert cg.verify(sim.forward, sim.backward, problems=[problem]).ok
    strict = cg.verify(sim.forward, sim.backward, problems=[problem], deterministic=True)
    assert {check for check, _ in failure_keys(strict)} == {"determinism"}
    assert strict.settings["deterministic"] is True
    assert "problems=[problem], deterministic=True)" in strict.failures[0].reproduce


def test_reference_has_no_notes():
    result = cg.verify(ref_forward, ref_backward, **FAST)
    assert result.ok and result.notes == ()
    assert result.to_dict()["notes"] == []


def test_round_tf32_keeps_ten_significand_bits():
    a = np.array([1 + 2.0**-10, 1 + 2.0**-11, 1 + 3 * 2.0**-11, -0.1], dtype=np.float32)
    got = round_tf32(a)
    # 1 + 2**-11 is a tie: to even (1); 1 + 3 * 2**-11 rounds up to 1 + 2**-9.
    assert got.tolist()[:3] == [1 + 2.0**-10, 1.0, 1 + 2.0**-9]
    assert abs(float(got[3]) + 0.1) <= 0.1 * 2.0**-11


@pytest.mark.parametrize("seed", SEEDS)
def test_tf32_implementation_passes_with_the_tf32_preset(seed):
    sim = Arithmetic("float32", tf32=True, ftz=True)
    result = cg.verify(
        sim.forward, sim.backward, dtype="float32", precision="tf32", seed=seed, max_examples=15
    )
    assert result.ok, str(result)


def test_tf32_implementation_fails_without_the_preset_and_is_named():
    sim = Arithmetic("float32", tf32=True)
    result = cg.verify(sim.forward, sim.backward, dtype="float32", max_failures=1, **FAST)
    assert not result.ok
    failure = result.failures[0]
    assert failure.check == "value"
    assert "TF32" in failure.diagnosis and "allow_tf32" in failure.diagnosis
    assert "jax_default_matmul_precision" in failure.diagnosis


def test_bf16_operands_fail_the_tf32_preset_and_pass_the_bf16_one():
    # bfloat16 keeps 8 significand bits: 2**-8 relative errors exceed TF32's allowance.
    def bf16(a):
        bits = np.asarray(a, dtype=np.float32).view(np.uint32)
        lsb = (bits >> np.uint32(16)) & np.uint32(1)
        return ((bits + np.uint32(0x7FFF) + lsb) & np.uint32(0xFFFF0000)).view(np.float32)

    def forward(x, w, spec):
        return ref_forward(bf16(x), bf16(w), spec).astype(np.float32)

    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (1, 2, 8)).astype(np.float32)
    w = rng.uniform(-1, 1, (2, 2, 3)).astype(np.float32)
    problem = ConvProblem(x, w, None, np.ones((1, 2, 6), np.float32), cg.ConvSpec())
    assert not cg.verify(forward, problems=[problem], dtype="float32", precision="tf32").ok
    assert cg.verify(forward, problems=[problem], dtype="float32", precision="bf16").ok


def _jax_client(dtype: str):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from jax import lax

    def conv(x, w, spec):
        if spec.flip:
            w = w[(..., *(slice(None, None, -1),) * (w.ndim - 2))]
        spatial = "DHW"[-(x.ndim - 2) :]
        return lax.conv_general_dilated(
            x,
            w,
            spec.stride,
            [tuple(p) for p in spec.padding],
            rhs_dilation=spec.dilation,
            dimension_numbers=("NC" + spatial, "OI" + spatial, "NC" + spatial),
            feature_group_count=spec.groups,
            precision=lax.Precision.HIGHEST,
        )

    def forward(x, w, spec):
        return np.asarray(conv(x, w, spec))

    def backward(x, w, grad_y, spec):
        _, vjp = jax.vjp(lambda a, b: conv(a, b, spec), x, w)
        return tuple(np.asarray(g) for g in vjp(grad_y))

    return forward, backward


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_jax_passes_where_products_underflow_and_flushes_them(dtype):
    forward, backward = _jax_client(dtype)
    problem = _tiny_problem(dtype, 1e-160 if dtype == "float64" else 1e-20)
    result = cg.verify(forward, backward, problems=[problem])
    assert result.ok, str(result)
    # XLA on CPU flushes: the strict model rejects it, so the allowance above is what passes it.
    strict = cg.verify(forward, backward, problems=[problem], subnormals="ieee")
    assert ("value", "forward") in failure_keys(strict)


@pytest.mark.parametrize(("dtype", "seed"), [("float64", 1), ("float32", 0)])
def test_jax_passes_at_default_settings(dtype, seed):
    # A smoke test on drawn problems (jax compiles each new shape: a few seconds per problem);
    # the underflow that failed 4 of 5 default seeds is pinned by the fixed problem above, and
    # the 20-seed run at default settings is in the README.
    forward, backward = _jax_client(dtype)
    result = cg.verify(forward, backward, dtype=dtype, seed=seed, max_examples=10)
    assert result.ok, str(result)
