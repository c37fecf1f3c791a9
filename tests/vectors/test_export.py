"""Export writes a complete, described set atomically and never overwrites foreign files."""

import importlib
import json

import pytest

import convgrad
from convgrad.vectors import export, load
from convgrad.vectors.cases import cases
from convgrad.vectors.hashing import committed_summary

# The package re-exports the function `export`, which hides the module of the same name.
export_module = importlib.import_module("convgrad.vectors.export")


def test_manifest_names_version_hashes_and_layout(core_npz):
    manifest = json.loads((core_npz / "manifest.json").read_text())
    assert manifest["format"] == "convgrad-vectors" and manifest["format_version"] == 1
    assert manifest["convgrad_version"] == convgrad.__version__
    assert manifest["set"] == "core" and manifest["file_format"] == "npz"
    assert manifest["set_hash"] == committed_summary("core")["set_hash"]
    assert (
        "row-major" in manifest["description"]
        and "<id>.npz or <id>.json" in manifest["description"]
    )
    assert [e["id"] for e in manifest["cases"]] == [c.id for c in cases("core")]
    entry = next(e for e in manifest["cases"] if e["id"] == "1d-same-even")
    assert entry["file"] == "cases/1d-same-even.npz"
    assert entry["spec"] == {
        "mode": "same",
        "padding": [[1, 2]],
        "stride": [1],
        "dilation": [1],
        "groups": 1,
        "flip": False,
    }
    assert entry["shapes"]["y"] == [1, 1, 6] and entry["terms"]["y"] == 4
    assert sorted(p.name for p in core_npz.iterdir()) == ["cases", "manifest.json"]
    assert len(list((core_npz / "cases").iterdir())) == len(cases("core"))


def test_npz_and_json_exports_carry_the_same_hashes(core_npz, core_json):
    npz, js = load(core_npz), load(core_json)
    assert npz.manifest["set_hash"] == js.manifest["set_hash"]
    assert [e["hash"] for e in npz.manifest["cases"]] == [e["hash"] for e in js.manifest["cases"]]
    assert js.manifest["cases"][0]["file"].endswith(".json")


def test_export_replaces_an_empty_folder_or_an_earlier_set(tmp_path):
    (tmp_path / "empty").mkdir()
    export(tmp_path / "empty", file_format="json")
    assert load(tmp_path / "empty").manifest["file_format"] == "json"
    export(tmp_path / "empty", file_format="npz")
    assert load(tmp_path / "empty").manifest["file_format"] == "npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_export_refuses_a_folder_that_is_not_a_vector_set_and_leaves_it_alone(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"is not a convgrad vector set; refusing"):
        export(target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_export_refuses_a_set_with_extra_files_and_a_fake_manifest(tmp_path, core_npz, copy_set):
    extra = copy_set(core_npz)
    (extra / "results.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"refusing to overwrite"):
        export(extra)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match=r"refusing to overwrite"):
        export(fake)


def test_export_refuses_a_file_target(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match=r"exists and is not a folder; nothing written"):
        export(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "x"


def test_unknown_set_or_format_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"set='tiny' is not a vector set"):
        export(tmp_path / "a", set_name="tiny")
    with pytest.raises(ValueError, match=r"format='hdf5' is not a vector format"):
        export(tmp_path / "a", file_format="hdf5")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_the_earlier_set_and_no_temporary_folder(
    tmp_path, monkeypatch
):
    target = tmp_path / "set"
    export(target)
    before = load(target).manifest

    def broken(path, arrays, file_format):
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "write_arrays", broken)
    with pytest.raises(OSError, match=r"disk full"):
        export(target, file_format="json")
    assert load(target).manifest == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
