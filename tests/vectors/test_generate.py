"""Deterministic data, exact expected values and rigorous bounds for one case."""

from fractions import Fraction
from math import prod

import numpy as np
import pytest

import convgrad as cg
from convgrad.spec import ConvSpec
from convgrad.vectors import generate as gen
from convgrad.vectors.cases import Case, cases, resolved_spec

CORE = {c.id: c for c in cases("core")}
FLOAT_IDS = [c.id for c in cases("core") if c.kind == "float"]


def _kwargs(case):
    s = case.spec
    if case.op == "conv_transpose":
        return dict(padding=resolved_spec(case).padding, stride=s.stride, dilation=s.dilation)
    return dict(
        padding=s.padding,
        stride=s.stride,
        dilation=s.dilation,
        groups=s.groups,
        flip=s.flip,
        padding_mode=s.padding_mode,
    )


def _forward(case, x, w, b, **options):
    """The case's forward (conv or conv_transpose) by the reference."""
    if case.op == "conv_transpose":
        return cg.conv_transpose(
            x,
            w,
            b,
            output_padding=case.output_padding,
            groups=case.spec.groups,
            **_kwargs(case),
            **options,
        )
    return cg.conv(x, w, b, **_kwargs(case), **options)


def test_splitmix64_matches_the_published_reference_outputs():
    """Vigna's splitmix64.c: seed 0 -> e220a8397b1dcdaf, 6e789e6aa1b965f4; seed 1234567 ->
    6457827717110365317."""
    stream = gen._splitmix64(0)
    assert [next(stream), next(stream)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    assert next(gen._splitmix64(1234567)) == 6457827717110365317


def test_generation_is_deterministic_and_depends_on_the_case_id():
    case = CORE["2d-valid"]
    first, second = gen.generate(case), gen.generate(case)
    assert all(np.array_equal(first[n], second[n]) for n in first)
    renamed = Case("other", case.x_shape, case.w_shape, case.spec, case.bias, case.kind, "")
    assert not np.array_equal(gen.generate(renamed)["x"], first["x"])


@pytest.mark.parametrize("case_id", ["1d-groups2", "2d-explicit-mixed", "3d-same-groups"])
def test_exact_case_holds_small_integers_and_the_float64_reference_result(case_id):
    case = CORE[case_id]
    arrays = gen.generate(case)
    for name in ("x", "w", "grad_y", "b"):
        if name in arrays:
            assert arrays[name].dtype == np.float64
            assert np.array_equal(arrays[name], np.round(arrays[name]))
            assert np.abs(arrays[name]).max() <= 3
    assert set(arrays) == {"x", "w", "grad_y", "y", "grad_input", "grad_weight", "grad_bias"} | (
        {"b"} if case.bias else set()
    )
    y = cg.conv(arrays["x"], arrays["w"], arrays.get("b"), **_kwargs(case), method="direct")
    grads = cg.conv_backward(arrays["x"], arrays["w"], arrays["grad_y"], **_kwargs(case))
    assert np.array_equal(arrays["y"], y)
    for name, value in zip(("grad_input", "grad_weight", "grad_bias"), grads, strict=True):
        assert np.array_equal(arrays[name], value)


@pytest.mark.parametrize("case_id", FLOAT_IDS)
def test_float_expected_is_the_correctly_rounded_exact_result(case_id):
    """Recompute the forward in Fractions (independently of the integer scaling)."""
    case = CORE[case_id]
    arrays = gen.generate(case)
    assert np.all(np.abs(arrays["x"]) <= 1) and not np.array_equal(
        arrays["x"], np.round(arrays["x"])
    )
    as_fraction = np.vectorize(Fraction, otypes=[object])
    b = None if "b" not in arrays else as_fraction(arrays["b"])
    exact = _forward(case, as_fraction(arrays["x"]), as_fraction(arrays["w"]), b)
    for got, want in zip(arrays["y"].flat, exact.flat, strict=True):
        assert got == float(want)  # Fraction -> float rounds to nearest


@pytest.mark.parametrize("case_id", FLOAT_IDS)
def test_float64_reference_in_any_method_is_within_the_stored_bound(case_id):
    case = CORE[case_id]
    arrays = gen.generate(case)
    kwargs = {**_kwargs(case), "groups": case.spec.groups}
    for method in ("direct", "fast"):
        got = gen.case_outputs(arrays, case.op, case.output_padding, {**kwargs, "method": method})
        for name in gen.OUTPUTS:
            error = np.abs(got[name] - arrays[name])
            assert np.all(error <= arrays[f"{name}_bound"]), (name, method)


def test_bound_is_gamma_n_plus_one_times_the_absolute_operator_rounded_up():
    case = CORE["float-1d-valid"]
    arrays = gen.generate(case)
    n = gen.term_counts(case)["y"]
    assert n == 3 * 5 + 1
    magnitude = cg.conv(np.abs(arrays["x"]), np.abs(arrays["w"]), np.abs(arrays["b"]))
    u = 2.0**-53
    gamma = (n + 1) * u / (1 - (n + 1) * u)
    np.testing.assert_allclose(arrays["y_bound"], gamma * magnitude, rtol=1e-12)


def test_gamma_bound_rounds_up_never_down():
    absolute = np.array([3, 1, 0], dtype=object)
    bounds = gen._gamma_bound(7, absolute, 0)
    for value, bound in zip(absolute, bounds, strict=True):
        exact = Fraction(7 * value, 2**53 - 7)
        assert Fraction(bound) >= exact
        assert Fraction(np.nextafter(bound, 0)) < exact or exact == 0
    assert bounds[2] == 0.0


def test_term_counts_follow_the_sum_of_products_model():
    case = CORE["2d-explicit-mixed"]
    _, w_shape = case.x_shape, case.w_shape
    y = gen.generate(case)["y"]
    assert gen.term_counts(case) == {
        "y": w_shape[1] * prod(w_shape[2:]) + 1,
        "grad_input": w_shape[0] // 2 * prod(w_shape[2:]),
        "grad_weight": y.shape[0] * prod(y.shape[2:]),
        "grad_bias": y.shape[0] * prod(y.shape[2:]),
    }


def test_an_exact_case_too_large_for_float64_sums_is_refused(monkeypatch):
    monkeypatch.setattr(gen, "_EXACT_LIMIT", 10)
    case = Case("big", (1, 1, 4), (1, 1, 3), ConvSpec(), False, "exact", "")
    with pytest.raises(ValueError, match=r"case 'big': y has a partial sum up to \d+ >= 2\*\*53"):
        gen.generate(case)


@pytest.mark.parametrize("case_id", ["2d-circular-groups", "t2d-groups-dilation"])
def test_padding_mode_and_transposed_cases_hold_the_reference_result(case_id):
    case = CORE[case_id]
    arrays = gen.generate(case)
    assert np.array_equal(arrays["y"], _forward(case, arrays["x"], arrays["w"], arrays["b"]))
    if case.op == "conv":
        grads = cg.conv_backward(arrays["x"], arrays["w"], arrays["grad_y"], **_kwargs(case))
        assert np.array_equal(arrays["grad_input"], grads.input)
        # The circular pads copy input entries: zero padding would give another gradient.
        kw = {**_kwargs(case), "padding_mode": "zeros"}
        assert not np.array_equal(
            arrays["grad_input"],
            cg.conv_backward(arrays["x"], arrays["w"], arrays["grad_y"], **kw).input,
        )
        return
    # The transpose's gradients of sum(grad_y * y) through the adjoint identity:
    # <grad_y, T(x)> = <conv(grad_y), x>, and T is linear in w.
    x, w, gy = arrays["x"], arrays["w"], arrays["grad_y"]
    y = arrays["y"] - arrays["b"].reshape(1, -1, 1, 1)
    assert np.sum(gy * y) == np.sum(arrays["grad_input"] * x)
    assert np.sum(gy * y) == np.sum(arrays["grad_weight"] * w)
    assert np.array_equal(arrays["grad_bias"], gy.sum(axis=(0, 2, 3)))
    assert arrays["y"].shape == (2, 2, 6, 5) and arrays["grad_weight"].shape == w.shape


def test_term_counts_of_a_padding_mode_and_a_transposed_case():
    # replicate pads 2 around 9 entries: an edge entry is copied 3 times (itself and two pads).
    assert gen.term_counts(CORE["1d-replicate-stride2"]) == {
        "y": 2 * 3,
        "grad_input": 2 * 3 * 3,
        "grad_weight": 6,
        "grad_bias": 6,
    }
    # conv_transpose x (2, 4, 3, 4), w (4, 1, 2, 3), groups 2 -> y (2, 2, 6, 5), bias.
    assert gen.term_counts(CORE["t2d-groups-dilation"]) == {
        "y": (4 // 2) * 6 + 1,
        "grad_input": 1 * 6,
        "grad_weight": 2 * 3 * 4,
        "grad_bias": 2 * 6 * 5,
    }
