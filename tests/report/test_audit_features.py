"""The audit's padding_mode and transposed rows: which configurations run them, which report
them unsupported (with the reason), and planted bugs they catch."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import convgrad
from convgrad import audit
from convgrad.adapters.torch import from_torch, torch_conv, torch_conv_transpose

FEATURE = {f.id: f for f in audit.FEATURES}
PADDING_MODE_COLUMNS = {
    "torch-f64",
    "torch-f32",
    "torch-f32-cl",
    "torch-f32-det",
    "torch-f32-no-onednn",
    "torch-module-f32",
}


def _zero_pads(x, w, spec):
    """A planted bug: every padding_mode pads with zeros."""
    return torch_conv(x, w, dataclasses.replace(spec, padding_mode="zeros"))


def _no_output_padding(x, w, spec):
    """A planted bug: output_padding is ignored (the output is short by it)."""
    zero = (0,) * spec.ndim
    return torch_conv_transpose(x, w, dataclasses.replace(spec, output_padding=zero))


def _reversed_input(x, w, spec):
    """A planted bug: the transpose runs on x reversed along its last dim (and back)."""
    return torch_conv_transpose(x.flip(-1), w, spec).flip(-1)


def _torch_column(cid, fn, transpose=None):
    return audit.Configuration(
        cid,
        "torch",
        f"torch {cid}",
        "float64",
        lambda: from_torch(fn),
        lambda: {"torch": "x"},
        transpose=None if transpose is None else (lambda: from_torch(transpose)),
    )


def _fixed_only(monkeypatch, feature_id):
    """FEATURES holding the row with its fixed problems only (a failing search shrinks for
    ~15 s); test_torch_module_column_passes_the_rows draws the padding_mode space."""
    fixed = dataclasses.replace(FEATURE[feature_id], space=None)
    monkeypatch.setattr(audit, "FEATURES", (fixed,))


@pytest.mark.slow
def test_padding_mode_row_catches_zero_pads_and_passes_torch(monkeypatch):
    columns = [_torch_column("good", torch_conv), _torch_column("zeros", _zero_pads)]
    monkeypatch.setattr(audit, "configurations", lambda frameworks: (columns, {}))
    _fixed_only(monkeypatch, "padding_mode")
    report = audit.run_audit(features=["padding_mode"])
    assert [(c["configuration"], c["status"]) for c in report["cells"]] == [
        ("good", "pass"),
        ("zeros", "fail"),
    ]
    assert report["features"] == [
        {"id": "padding_mode", "label": "padding_mode reflect, replicate, circular"}
    ]
    texts = [f["text"] for f in report["findings"]]
    assert texts and all(f["configuration"] == "zeros" for f in report["findings"])
    assert any(
        f", padding_mode {mode}." in text
        for text in texts
        for mode in ("reflect", "replicate", "circular")
    )


def test_padding_mode_cells_are_unsupported_outside_torch_with_the_reason():
    columns, _ = audit.configurations(("torch", "jax", "onnxruntime", "tensorflow"))
    feature = FEATURE["padding_mode"]
    supported = {c.id for c in columns if "padding_mode" not in c.unsupported}
    assert supported == PADDING_MODE_COLUMNS & {c.id for c in columns}
    for config in columns:
        if config.id in supported:
            continue
        # An unsupported cell is decided before the configuration is called (pair None).
        cell = audit.run_cell(config, feature, None, max_examples=1, seed=0)
        assert cell.status == "unsupported"
        assert cell.record["reason"].endswith(
            "pads with zeros only (no reflect, replicate or circular padding_mode)"
        )
    reasons = {c.id: c.unsupported.get("padding_mode") for c in columns}
    if "jax-x64" in reasons:
        assert reasons["jax-x64"].startswith("jax.lax.conv_general_dilated pads with zeros")
    if "ort-conv-f32" in reasons:
        assert reasons["ort-conv-f32"].startswith("an ONNX Conv or ConvTranspose node")


@pytest.mark.slow
@pytest.mark.parametrize("feature_id", ["padding_mode", "transposed"])
def test_torch_module_column_passes_the_rows(feature_id):
    """padding_mode: its drawn space too; transposed: its fixed problems (symmetric and
    asymmetric pads, groups 2, output_padding; a drawn transposed cell costs ~8 s)."""
    pytest.importorskip("torch")
    columns, _ = audit.configurations(("torch",))
    module = next(c for c in columns if c.id == "torch-module-f32")
    feature = FEATURE[feature_id]
    if feature.transposed:
        feature = dataclasses.replace(feature, space=None)
    pair = (module.transpose if feature.transposed else module.make)()
    cell = audit.run_cell(module, feature, pair, max_examples=1, seed=0)
    assert cell.status == "pass", cell.record.get("failures")
    assert cell.record["examples"] >= 2 * len(feature.layers)
    assert 0 <= cell.record["worst_ratio"] <= 1


def test_every_rows_space_holds_keywords_of_its_check():
    for feature in audit.FEATURES:
        check = convgrad.verify_transpose if feature.transposed else convgrad.verify
        keywords = set(inspect.signature(check).parameters)
        space = {**audit._BASE_SPACE, **(feature.space or {})}
        assert set(space) <= keywords, feature.id


@pytest.mark.slow
def test_transposed_row_catches_planted_transpose_bugs(monkeypatch):
    columns = [
        _torch_column("good", torch_conv, torch_conv_transpose),
        _torch_column("short", torch_conv, _no_output_padding),
        _torch_column("reversed", torch_conv, _reversed_input),
        _torch_column("none", torch_conv),
    ]
    monkeypatch.setattr(audit, "configurations", lambda frameworks: (columns, {}))
    _fixed_only(monkeypatch, "transposed")
    report = audit.run_audit(features=["transposed"])
    assert {c["configuration"]: c["status"] for c in report["cells"]} == {
        "good": "pass",
        "short": "fail",
        "reversed": "fail",
        "none": "unsupported",
    }
    # A wrong output shape makes torch's autograd raise: a failure here, not "unsupported".
    short = next(c for c in report["cells"] if c["configuration"] == "short")
    assert {f["check"] for f in short["failures"]} == {"raised"}
    assert "Mismatch in shape" in short["failures"][0]["message"]
    reversed_cell = next(c for c in report["cells"] if c["configuration"] == "reversed")
    assert {f["check"] for f in reversed_cell["failures"]} == {"value", "exact"}
    none = next(c for c in report["cells"] if c["configuration"] == "none")
    assert none["reason"] == "torch none has no transposed form in the audit"
    text = next(f["text"] for f in report["findings"] if f["configuration"] == "reversed")
    assert text.startswith("torch reversed (torch x) fails the value check on ")
    assert "for transposed convolution (conv_transpose, output_padding)" in text
    assert "stride [2, 1], dilation [1, 1], groups 1, flip False, output_padding [1, 0]." in text


def test_transposed_cells_onnxruntime_and_tensorflow_unsupported_others_have_a_transpose():
    columns, _ = audit.configurations(("torch", "jax", "onnxruntime", "tensorflow"))
    feature = FEATURE["transposed"]
    for config in columns:
        if config.framework in ("torch", "jax"):
            assert config.transpose is not None and "transposed" not in config.unsupported
            continue
        cell = audit.run_cell(config, feature, None, max_examples=1, seed=0)
        assert cell.status == "unsupported"
        reason = cell.record["reason"]
        if config.framework == "onnxruntime":
            assert reason.startswith("onnxruntime runs forward only")
        else:
            assert "no TensorFlow transposed form" in reason


@pytest.mark.slow
def test_jax_conv_transpose_passes_verify_transpose_with_groups_and_output_padding():
    pytest.importorskip("jax")
    from convgrad.adapters.jax import from_jax, jax_conv_transpose

    pair = from_jax(jax_conv_transpose)
    layer = FEATURE["transposed"].layers[1]
    assert layer[0].groups == 2 and layer[0].output_padding == (1, 2)
    problems = [audit._fixed_problem(*layer, "float64", 0, integer=integer) for integer in (1, 0)]
    result = convgrad.verify_transpose(*pair, problems=problems)
    assert result.ok, result.failures
    assert result.examples == 2
