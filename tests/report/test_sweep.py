"""The default sweep: what it covers, how it is selected, and that its evidence can fail."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import convgrad as cg
from convgrad.report import sweep
from convgrad.report.sweep import Case, check_case, default_cases, select_cases
from convgrad.schema import SOURCES
from convgrad.verification.transposed import transpose_spec_of


def _first(cases, **want) -> Case:
    return next(c for c in cases if all(getattr(c, k) == v for k, v in want.items()))


@pytest.mark.parametrize("profile", sweep.PROFILES)
def test_every_profile_covers_every_mode_rank_data_kind_and_variant(profile):
    cases = default_cases(profile)
    for mode in sweep.MODES:
        for ndim in sweep.NDIMS:
            of = [c for c in cases if c.mode == mode and c.ndim == ndim]
            assert {c.w[-1] % 2 for c in of} == {0, 1}, (mode, ndim)
            assert {c.stride for c in of} >= {1, 2}
            assert {c.dilation for c in of} >= {1, 2}
            assert {c.groups for c in of} >= {1, 2}
            assert {c.flip for c in of} == {False, True}
    assert {c.data for c in cases} == set(sweep.DATA)
    assert len({c.id for c in cases}) == len(cases)


def test_quick_profile_is_small_and_thorough_is_the_full_product():
    assert len(default_cases("quick")) == 1 + 3 * 5 * 4 + 3 + 2
    # The grid, then every copying padding mode and the transpose in every rank and data kind.
    assert len(default_cases("thorough")) == 2 + 3 * 5 * 2**5 * 3 + 3 * 4 * 3


@pytest.mark.parametrize("profile", sweep.PROFILES)
def test_every_profile_covers_the_copying_padding_modes_and_the_transpose(profile):
    cases = default_cases(profile)
    assert {c.padding_mode for c in cases} == {"zeros", *sweep.COPY_MODES}
    assert {c.op for c in cases} == set(sweep.OPS)
    transposed = [c for c in cases if c.op == "conv_transpose"]
    assert {c.ndim for c in transposed} >= {1, 2}
    for case in transposed:
        assert case.padding_mode == "zeros" and not case.flip
        problem = case.problem(0)
        spec = transpose_spec_of(problem.resolved, problem.x.shape[2:], problem.w.shape[2:])
        assert all(op > 0 for op in spec.output_padding)  # rows the conv leaves unreached


def test_transposed_case_passes_every_source_exactly_and_names_the_transposes_outputs():
    case = _first(default_cases("quick"), op="conv_transpose", data="integer")
    records = check_case(case, seed=0)
    assert {r["source"] for r in records} == set(SOURCES)
    assert all(r["passed"] for r in records), [r["message"] for r in records if not r["passed"]]
    torch_exact = {r["output"] for r in records if r["source"] == "torch.autograd"}
    assert torch_exact == {"forward", "grad_input", "grad_weight"}  # torch's pair has no bias
    assert sweep.describe_case(case, 0)["spec"]["output_padding"] == [2]


def test_a_wrong_torch_transpose_fails_on_the_transposes_forward(monkeypatch):
    torch_impl, direct_impl = sweep.transpose_implementations()

    def doubled(x, w, grad_y, spec):
        grad_x, grad_w = torch_impl.backward(x, w, grad_y, spec)
        return 2 * grad_x, grad_w

    broken = sweep.Implementation("torch", torch_impl.forward, doubled, torch_impl.source)
    monkeypatch.setattr(sweep, "transpose_implementations", lambda: (broken, direct_impl))
    case = _first(default_cases("quick"), op="conv_transpose", data="float64")
    failed = {
        (r["source"], r["check"], r["output"]) for r in check_case(case, 0) if not r["passed"]
    }
    assert ("torch.autograd", "value", "forward") in failed
    assert all(output == "forward" for _, _, output in failed)


@pytest.mark.parametrize("padding_mode", sweep.COPY_MODES)
def test_copying_padding_mode_case_passes_and_torch_pads_in_that_mode(padding_mode):
    case = _first(default_cases("quick"), padding_mode=padding_mode)
    records = check_case(case, seed=0)
    assert all(r["passed"] for r in records)
    assert case.problem(0).resolved.padding_mode == padding_mode
    zeros = replace(case, padding_mode="zeros").problem(0)
    grads = cg.conv_backward(zeros.x, zeros.w, zeros.grad_y, **zeros.kwargs)
    copied = cg.conv_backward(zeros.x, zeros.w, zeros.grad_y, **case.problem(0).kwargs)
    assert not np.array_equal(grads.input, copied.input)  # the mode changes the gradient


def test_learners_layer_is_the_first_case():
    seed = default_cases("quick")[0]
    assert seed.seed_case and (seed.x, seed.w, seed.mode) == (
        (1, 3, 128, 128),
        (32, 3, 3, 3),
        "valid",
    )
    assert seed.problem(0).grad_y.shape == (1, 32, 126, 126)


def test_explicit_cases_have_asymmetric_pads():
    case = _first(default_cases("quick"), mode="explicit", ndim=3)
    assert case.problem(0).resolved.padding == ((1, 2), (2, 0), (0, 1))


def test_case_data_depend_on_seed_and_case_only():
    cases = default_cases("quick")
    one = cases[7].problem(3)
    again = select_cases(cases, ids=[cases[7].id])[0].problem(3)
    other_seed = cases[7].problem(4)
    assert np.array_equal(one.x, again.x) and np.array_equal(one.grad_y, again.grad_y)
    assert not np.array_equal(one.x, other_seed.x)


def test_data_kinds_give_their_dtypes_and_values():
    cases = default_cases("quick")
    integer = _first(cases, data="integer").problem(0)
    assert integer.x.dtype == np.float64 and np.all(integer.x == np.round(integer.x))
    assert np.abs(integer.x).max() <= 3
    assert _first(cases, data="float32").problem(0).x.dtype == np.float32


def test_select_cases_filters_by_rank_data_and_id():
    cases = default_cases("quick")
    chosen = select_cases(cases, ndim=[2], data=["float32"])
    assert chosen and all(c.ndim == 2 and c.data == "float32" for c in chosen)
    assert [c.id for c in select_cases(cases, ids=["P0003", "P0001"])] == ["P0001", "P0003"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ndim": [4]}, "ndim=.*4 is not one of"),
        ({"data": ["float16"]}, "dtype=.*'float16' is not one of"),
        ({"ids": ["P9999"]}, "case 'P9999' is not in this profile's sweep"),
        ({"ndim": [1], "ids": ["P0000"]}, "selects no case"),
    ],
)
def test_select_cases_rejects_unknown_values_and_empty_selections(kwargs, match):
    with pytest.raises(ValueError, match=match):
        select_cases(default_cases("quick"), **kwargs)


def test_unknown_profile_is_rejected():
    with pytest.raises(ValueError, match="profile='fast' must be one of"):
        default_cases("fast")


def test_integer_case_passes_every_source_exactly():
    case = _first(default_cases("quick"), data="integer", ndim=2, mode="same_lower")
    records = check_case(case, seed=0)
    sources = {r["source"] for r in records}
    assert sources == set(SOURCES)
    assert all(r["passed"] for r in records)
    compared = [r for r in records if r["check"] in ("exact", "adjoint", "finite_difference")]
    assert compared and all(r["ratio"] == 0 for r in compared)


def test_float32_case_is_held_to_the_float32_bound():
    case = _first(default_cases("quick"), data="float32", ndim=1)
    records = check_case(case, seed=0)
    torch_values = [r for r in records if r["source"] == "torch.autograd" and r["check"] == "value"]
    assert {r["output"] for r in torch_values} == set(sweep.OUTPUTS)
    assert all(0 <= r["ratio"] <= 1 for r in torch_values)
    # float32 rounding shows: torch's forward is not bit-equal to the float64 reference.
    assert any(r["abs_error"] > 1e-9 for r in torch_values)


def test_a_wrong_torch_gradient_fails_with_a_message(monkeypatch):
    torch_impl, direct_impl = sweep.IMPLEMENTATIONS

    def off_by_scale(x, w, grad_y, spec):
        grad_x, grad_w, grad_b = torch_impl.backward(x, w, grad_y, spec)
        return grad_x, grad_w * 1.001, grad_b

    broken = sweep.Implementation("torch", torch_impl.forward, off_by_scale, torch_impl.source)
    monkeypatch.setattr(sweep, "IMPLEMENTATIONS", (broken, direct_impl))
    case = _first(default_cases("quick"), data="float64", ndim=1)
    failed = [r for r in check_case(case, seed=0) if not r["passed"]]
    assert [(r["source"], r["check"], r["output"]) for r in failed] == [
        ("torch.autograd", "value", "grad_weight")
    ]
    assert failed[0]["ratio"] > 1 and "beyond the error bound" in failed[0]["message"]


def test_versions_name_the_libraries():
    found = sweep.versions()
    assert found["numpy"] == np.__version__
    assert found["python"].count(".") == 2
    assert found["torch"] is not None
