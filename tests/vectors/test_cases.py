"""The case table covers what the issue promises, and nothing in it is malformed."""

import pytest

from convgrad.shapes import resolve
from convgrad.spec import ConvSpec
from convgrad.vectors.cases import OPS, SETS, Case, cases, conv_shapes, spec_record


def _algebra(case):
    """The algebra of the case's conv (for a transposed case, the conv it transposes)."""
    x_shape, w_shape, _ = conv_shapes(case)
    return resolve(x_shape, w_shape, case.spec)


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


def test_core_covers_every_padding_mode_and_the_transpose():
    core = cases("core")
    modes = {c.spec.padding_mode: c for c in core}
    assert set(modes) == {"zeros", "reflect", "replicate", "circular"}
    copying = [c for c in core if c.spec.padding_mode != "zeros"]
    assert {len(c.x_shape) - 2 for c in copying} == {1, 2, 3}
    assert {c.kind for c in copying} == {"exact", "float"}
    transposed = [c for c in core if c.op == "conv_transpose"]
    assert {len(c.x_shape) - 2 for c in transposed} == {1, 2, 3}
    assert {c.kind for c in transposed} == {"exact", "float"}
    assert any(c.spec.groups > 1 and c.bias for c in transposed)
    assert {c.spec.mode for c in transposed} == {"valid", "full", "explicit"}
    # output_padding from 0 to stride - 1, the largest included.
    pairs = {
        pair
        for c in transposed
        for pair in zip(c.output_padding, _algebra(c)[0].stride, strict=True)
    }
    assert (2, 3) in pairs and (0, 1) in pairs and (1, 2) in pairs


def test_transposed_case_shapes_and_spec_record():
    case = next(c for c in cases("core") if c.id == "t1d-stride2-outpad1")
    # O_t = (4 - 1)*2 - 1 - 1 + 1*(3 - 1) + 1 + 1 = 8; the conv maps (1, 3, 8) back to (1, 2, 4).
    assert conv_shapes(case) == ((1, 3, 8), (2, 3, 3), (1, 2, 4))
    assert spec_record(case) == {
        "mode": "explicit",
        "padding": [[1, 1]],
        "stride": [2],
        "dilation": [1],
        "groups": 1,
        "flip": False,
        "op": "conv_transpose",
        "output_padding": [1],
    }
    conv_case = next(c for c in cases("core") if c.id == "1d-reflect")
    assert "op" not in spec_record(conv_case)
    assert spec_record(conv_case)["padding_mode"] == "reflect"


@pytest.mark.parametrize(
    ("spec", "output_padding", "op", "message"),
    [
        (
            ConvSpec(stride=2),
            (2,),
            "conv_transpose",
            r"output_padding=\(2,\): along spatial dim 0"
            r" it is 2; it must be >= 0 and smaller than the stride \(2\)",
        ),
        (ConvSpec(), (1,), "conv_transpose", r"smaller than the stride \(1\)"),
        (ConvSpec(stride=2), (1, 0), "conv_transpose", r"one int per spatial dim \(1\)"),
        (ConvSpec(padding="same"), (0,), "conv_transpose", "explicit, 'valid' or 'full' pads"),
        (ConvSpec(padding=1, padding_mode="reflect"), (0,), "conv_transpose", "'zeros'"),
        (ConvSpec(), (0,), "conv", r"output_padding=\(0,\): only a conv_transpose case"),
        (ConvSpec(), (), "deconv", r"op='deconv' must be one of \('conv', 'conv_transpose'\)"),
    ],
)
def test_case_rejects_a_transpose_it_cannot_hold(spec, output_padding, op, message):
    assert OPS == ("conv", "conv_transpose")
    with pytest.raises(ValueError, match=message):
        Case("t", (1, 1, 3), (1, 1, 2), spec, False, "exact", "", op, output_padding)
