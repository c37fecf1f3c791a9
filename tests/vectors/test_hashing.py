"""Canonical hashes, and the stability of the committed sets: regenerating them reproduces the
hashes committed in src/convgrad/data, so a change of conventions cannot slip in unnoticed."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

import convgrad
from convgrad.cli import _version_text
from convgrad.vectors import hashing
from convgrad.vectors.writing import summary

REGENERATE = (
    "the vectors changed. If that is intended, bump FORMAT_VERSION in"
    " src/convgrad/vectors/hashing.py, add a CHANGELOG entry, and rewrite the committed hashes:"
    " .venv/bin/python -c 'import json, convgrad.vectors as v; [open(f\"src/convgrad/data/"
    '{s}_manifest.json", "w").write(json.dumps(v.summary(s), indent=1) + chr(10)) for s in'
    " v.SETS]'"
)


@pytest.mark.parametrize("set_name", ["core", "full"])
def test_regenerating_a_set_reproduces_the_committed_hashes(set_name):
    committed = hashing.committed_summary(set_name)
    regenerated = summary(set_name)
    assert regenerated["cases"] == committed["cases"], REGENERATE
    assert regenerated == committed, REGENERATE


def test_committed_core_hash_is_the_one_version_prints():
    core = hashing.committed_summary("core")
    assert core["set_hash"].startswith("sha256:") and len(core["set_hash"]) == 7 + 64
    assert _version_text().endswith(f"(vectors core v2 {core['set_hash']})")


def test_committed_summary_of_an_unshipped_set_is_none():
    assert hashing.committed_summary("nonexistent") is None


def test_canonical_array_names_every_bit_in_row_major_order():
    a = np.array([[0.1, -0.0], [1.0, 2.0**-1074]])
    assert hashing.canonical_array(a) == {
        "dtype": "float64",
        "shape": [2, 2],
        "values": [
            "0x1.999999999999ap-4",
            "-0x0.0p+0",
            "0x1.0000000000000p+0",
            "0x0.0000000000001p-1022",
        ],
    }


def test_canonical_array_refuses_other_dtypes():
    with pytest.raises(TypeError, match=r"dtype float32; vector arrays are float64"):
        hashing.canonical_array(np.zeros(2, dtype=np.float32))


def test_case_hash_is_sha256_of_the_canonical_json():
    arrays = {"x": np.array([1.0, 2.0])}
    spec = {
        "mode": "valid",
        "padding": [[0, 0]],
        "stride": [1],
        "dilation": [1],
        "groups": 1,
        "flip": False,
    }
    text = (
        '{"arrays":{"x":{"dtype":"float64","shape":[2],"values":["0x1.0000000000000p+0",'
        '"0x1.0000000000000p+1"]}},"id":"a","kind":"exact","spec":{"dilation":[1],"flip":false,'
        '"groups":1,"mode":"valid","padding":[[0,0]],"stride":[1]}}'
    )
    assert (
        hashing.case_hash("a", "exact", spec, arrays)
        == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    )


def test_case_hash_changes_with_one_bit_one_shape_or_the_spec():
    spec = {"mode": "valid"}
    base = hashing.case_hash("a", "exact", spec, {"x": np.array([1.0, 2.0])})
    assert base != hashing.case_hash(
        "a", "exact", spec, {"x": np.array([1.0, np.nextafter(2.0, 3)])}
    )
    assert base != hashing.case_hash("a", "exact", spec, {"x": np.array([[1.0, 2.0]])})
    assert base != hashing.case_hash("a", "exact", {"mode": "full"}, {"x": np.array([1.0, 2.0])})
    assert base != hashing.case_hash("a", "float", spec, {"x": np.array([1.0, 2.0])})


def test_set_hash_depends_on_order_and_name():
    pairs = [("a", "sha256:1"), ("b", "sha256:2")]
    assert hashing.set_hash("core", pairs) != hashing.set_hash("core", pairs[::-1])
    assert hashing.set_hash("core", pairs) != hashing.set_hash("full", pairs)


def test_citation_and_changelog_name_this_version_and_the_committed_hashes():
    root = Path(__file__).resolve().parents[2]
    citation = (root / "CITATION.cff").read_text()
    changelog = (root / "CHANGELOG.md").read_text()
    assert f'\nversion: "{convgrad.__version__}"\n' in citation
    core = hashing.committed_summary("core")
    assert f"core v{core['format_version']}\n  {core['set_hash']}." in citation
    for set_name in ("core", "full"):
        summary_ = hashing.committed_summary(set_name)
        assert (
            f"`{set_name}` v{summary_['format_version']} ({len(summary_['cases'])} cases):"
            in changelog
        )
        assert f"`{summary_['set_hash']}`" in changelog


@pytest.mark.parametrize(
    ("set_name", "v1_cases", "v1_hash"),
    [
        ("core", 31, "sha256:d0e38aee460447e55c1b967c355dfbc57d4bada97025564ee803901882e96bc9"),
        ("full", 391, "sha256:f016d881f615996bd51f02dd71278e997129aa6ae70527598f8943bdfd17f7d6"),
    ],
)
def test_version_2_keeps_every_version_1_case_so_the_v1_set_hash_is_reproduced(
    set_name, v1_cases, v1_hash
):
    """Version 2 only adds cases: its first cases (core's 31, then full's grid) carry their
    version-1 ids and content hashes, so the version-1 set hash published in CHANGELOG.md is
    recomputed from the version-2 manifest with format_version 1."""
    committed = hashing.committed_summary(set_name)
    assert set(committed["cases"]) >= _V2_CASES
    pairs = [pair for pair in committed["cases"].items() if pair[0] not in _V2_CASES]
    assert len(pairs) == v1_cases
    document = {
        "format": hashing.FORMAT,
        "format_version": 1,
        "set": set_name,
        "cases": [list(pair) for pair in pairs],
    }
    assert hashing._digest(document) == v1_hash


_V2_CASES = {
    "1d-reflect",
    "1d-replicate-stride2",
    "1d-circular-full",
    "2d-reflect-same-dilation",
    "2d-circular-groups",
    "3d-replicate",
    "float-2d-reflect-stride2",
    "t1d-stride2-outpad1",
    "t1d-stride3-outpad2",
    "t2d-groups-dilation",
    "t2d-full-stride2",
    "t3d-stride2",
    "float-t2d-stride2",
}
"""The cases format version 2 added (7 padding-mode, 6 transposed)."""
