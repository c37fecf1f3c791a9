"""Export writes a complete, described set atomically and never overwrites foreign files."""

import json
import os
from pathlib import Path

import pytest

import convgrad
from convgrad.vectors import export, load, writing
from convgrad.vectors.cases import cases
from convgrad.vectors.hashing import committed_summary


def test_manifest_names_version_hashes_and_layout(core_npz):
    manifest = json.loads((core_npz / "manifest.json").read_text())
    assert manifest["format"] == "convgrad-vectors" and manifest["format_version"] == 2
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
    transposed = next(e for e in manifest["cases"] if e["id"] == "t1d-stride2-outpad1")
    assert transposed["spec"]["op"] == "conv_transpose"
    assert transposed["spec"]["output_padding"] == [1]
    assert transposed["shapes"]["x"] == [1, 2, 4] and transposed["shapes"]["y"] == [1, 3, 8]
    reflect = next(e for e in manifest["cases"] if e["id"] == "1d-reflect")
    assert reflect["spec"]["padding_mode"] == "reflect" and "op" not in reflect["spec"]
    assert "conv_transpose" in manifest["description"] and "reflect" in manifest["description"]
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

    monkeypatch.setattr(writing, "write_arrays", broken)
    with pytest.raises(OSError, match=r"disk full"):
        export(target, file_format="json")
    assert load(target).manifest == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


@pytest.mark.parametrize(
    "make",
    [
        lambda cases_dir: (cases_dir / "my-notes.txt").write_text("mine"),
        lambda cases_dir: (cases_dir / "mine").mkdir(),
        lambda cases_dir: (cases_dir / "extra-case.npz").write_bytes(b"mine"),
    ],
    ids=["a-file", "a-folder", "an-unlisted-case-file"],
)
def test_export_over_a_set_refuses_anything_in_cases_its_manifest_does_not_list(tmp_path, make):
    # Ownership was checked for the top-level names only: cases/ went whole, with these.
    target = tmp_path / "set"
    export(target)
    make(target / "cases")
    before = sorted(p.name for p in (target / "cases").iterdir())
    with pytest.raises(ValueError, match=r"cases/.*' is not a case file its manifest lists"):
        export(target, file_format="json")
    assert sorted(p.name for p in (target / "cases").iterdir()) == before
    assert load_manifest_format(target) == "npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def load_manifest_format(target):
    return json.loads((target / "manifest.json").read_text())["file_format"]


def test_export_over_a_set_whose_cases_is_a_link_is_refused(tmp_path):
    target = tmp_path / "set"
    export(target)
    elsewhere = tmp_path / "elsewhere"
    (target / "cases").rename(elsewhere)
    (target / "cases").symlink_to(elsewhere)
    with pytest.raises(ValueError, match=r"cases' is not a plain folder"):
        export(target)
    assert (target / "cases").is_symlink() and len(list(elsewhere.iterdir())) == 44


def test_an_exported_folder_has_the_permissions_mkdir_gives(tmp_path):
    umask = os.umask(0o022)
    try:
        export(tmp_path / "set")
        export(tmp_path / "set")  # the replacing export too
    finally:
        os.umask(umask)
    assert oct((tmp_path / "set").stat().st_mode & 0o777) == "0o755"
    assert oct((tmp_path / "set" / "cases").stat().st_mode & 0o777) == "0o755"


@pytest.mark.parametrize("failing", ["retire", "swap", "fresh"])
def test_a_failed_rename_leaves_the_earlier_set_and_nothing_else(tmp_path, monkeypatch, failing):
    target = tmp_path / "set"
    if failing != "fresh":
        export(target)
    before = sorted(p.name for p in tmp_path.iterdir())
    real = Path.rename
    calls = []

    def rename(self, destination):
        calls.append(self)
        # retire: the old set's move aside; swap: the new set's move into place; fresh: the
        # only rename of an export into a new folder.
        if {"retire": 1, "swap": 2, "fresh": 1}[failing] == len(calls):
            raise OSError(18, "Invalid cross-device link")
        return real(self, destination)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="Invalid cross-device link"):
        export(target, file_format="json")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if failing != "fresh":
        assert load(target).manifest["file_format"] == "npz"


@pytest.mark.parametrize("existing", [False, True])
def test_export_onto_a_link_to_a_folder_writes_there_and_keeps_the_link(tmp_path, existing):
    # The link used to be renamed aside and replaced by the new set's folder, the export then
    # failing on its removal: exit 2 with the set written and a hidden folder left behind.
    real = tmp_path / "real"
    if existing:
        export(real, file_format="json")
    else:
        real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert export(link) == real / "manifest.json"
    assert link.is_symlink() and load(link).manifest["file_format"] == "npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_export_under_a_file_names_the_file(tmp_path):
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ValueError, match=r"directory='.*file/set': '.*file' is not a folder"):
        export(tmp_path / "file" / "set")
    assert (tmp_path / "file").read_text() == "mine"
