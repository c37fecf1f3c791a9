"""The case table covers what the issue promises, and nothing in it is malformed."""

import pytest

from convgrad.shapes import resolve
from convgrad.spec import ConvSpec
from convgrad.vectors.cases import SETS, Case, cases


def _algebra(case):
    return resolve(case.x_shape, case.w_shape, case.spec)


def test_sets_are_known_and_core_is_small():
    assert SETS == ("core", "full")
    assert 20 <= len(cases("core")) <= 60
    assert len(cases("full")) > 300


def test_full_starts_with_core_in_order():
    core = cases("core")
    assert cases("full")[: len(core)] == core


@pytest.mark.parametrize("set_name", SETS)
def test_case_ids_are_unique_and_file_safe(set_name):
    ids = [c.id for c in cases(set_name)]
    assert len(set(ids)) == len(ids)
    assert all(set(i) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_") for i in ids)


def test_core_covers_every_mode_dimension_and_kind():
    core = cases("core")
    modes = {_algebra(c)[0].mode for c in core}
    assert modes == {"valid", "same", "same_lower", "full", "explicit"}
    assert {len(c.x_shape) - 2 for c in core} == {1, 2, 3}
    assert {c.kind for c in core} == {"exact", "float"}
    assert {len(c.x_shape) - 2 for c in core if c.kind == "float"} == {1, 2, 3}


def test_core_covers_the_shape_identities():
    """valid O = I - K + 1, same O = I, full O = I + K - 1 (stride, dilation 1), and K = I."""
    seen = set()
    for case in cases("core"):
        resolved, dims = _algebra(case)
        for a in dims:
            if a.stride == a.dilation == 1:
                if resolved.mode == "valid" and a.output == a.input - a.kernel + 1:
                    seen.add("I-K+1")
                if resolved.mode == "same" and a.output == a.input:
                    seen.add("I")
                if resolved.mode == "full" and a.output == a.input + a.kernel - 1:
                    seen.add("I+K-1")
            if a.kernel == a.input and a.output == 1:
                seen.add("K=I")
    assert seen == {"I-K+1", "I", "I+K-1", "K=I"}


def test_core_covers_the_hard_corners():
    core = cases("core")
    dims = {c.id: _algebra(c)[1] for c in core}
    assert any(a.kernel % 2 == 0 for c in core for a in dims[c.id])
    assert any(a.unreached > 0 for c in core for a in dims[c.id])
    assert any(a.stride > a.kernel for c in core for a in dims[c.id])
    assert any(a.dilation > 1 and a.stride > 1 for c in core for a in dims[c.id])
    assert any(all(a.output == 1 for a in dims[c.id]) for c in core)
    assert any(c.spec.groups > 1 for c in core)
    assert any(c.spec.groups == c.x_shape[1] == c.w_shape[0] for c in core)
    assert any(c.x_shape[0] > 1 for c in core)
    assert any(c.x_shape[1] != c.w_shape[0] for c in core)
    assert any(c.spec.flip for c in core) and any(c.bias for c in core)
    assert any(c.w_shape[2:] == (1,) * (len(c.w_shape) - 2) for c in core)


def test_full_grid_spans_every_combination_that_fits():
    grid = [c for c in cases("full") if c.id.startswith("grid-")]
    combos = {
        (
            len(c.x_shape) - 2,
            c.spec.mode,
            c.spec.stride,
            c.spec.dilation,
            c.spec.groups,
            c.spec.flip,
        )
        for c in grid
    }
    assert len(combos) == len(grid) == 3 * 5 * 3 * 2 * 2 * 2


def test_unknown_set_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"set='huge' is not a vector set; use one of"):
        cases("huge")


def test_case_rejects_an_unknown_kind_and_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match=r"kind='int'"):
        Case("a", (1, 1, 5), (1, 1, 3), ConvSpec(), False, "int", "")
    with pytest.raises(ValueError, match=r"does not"):
        Case("a", (1, 1, 2), (1, 1, 3), ConvSpec(), False, "exact", "")
