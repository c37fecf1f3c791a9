"""The audit's padding_mode and transposed rows: which configurations run them, which report
them unsupported (with the reason), and planted bugs they catch."""

from __future__ import annotations

import dataclasses

import pytest

from convgrad import audit
from convgrad.adapters.torch import from_torch, torch_conv

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


def _torch_column(cid, fn):
    return audit.Configuration(
        cid, "torch", f"torch {cid}", "float64", lambda: from_torch(fn), lambda: {"torch": "x"}
    )


@pytest.mark.slow
def test_padding_mode_row_catches_zero_pads_and_passes_torch(monkeypatch):
    columns = [_torch_column("good", torch_conv), _torch_column("zeros", _zero_pads)]
    monkeypatch.setattr(audit, "configurations", lambda frameworks: (columns, {}))
    # The row's fixed problems only (a failing search shrinks for ~15 s); the drawn space is
    # run by test_torch_module_column_passes_the_padding_mode_row.
    fixed = dataclasses.replace(FEATURE["padding_mode"], space=None)
    monkeypatch.setattr(audit, "FEATURES", (fixed,))
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
def test_torch_module_column_passes_the_padding_mode_row():
    pytest.importorskip("torch")
    columns, _ = audit.configurations(("torch",))
    module = next(c for c in columns if c.id == "torch-module-f32")
    cell = audit.run_cell(module, FEATURE["padding_mode"], module.make(), max_examples=3, seed=0)
    assert cell.status == "pass", cell.record.get("failures")
    assert cell.record["examples"] >= 3 + len(FEATURE["padding_mode"].layers)
    assert 0 <= cell.record["worst_ratio"] <= 1
