"""Loading verifies every hash: a modified, truncated or foreign set is a VectorsError naming
the case."""

import json

import numpy as np
import pytest

from convgrad.vectors import VectorsError, load
from convgrad.vectors.formats import read_arrays, write_arrays
from convgrad.vectors.hashing import case_hash, set_hash


def _manifest(directory):
    return json.loads((directory / "manifest.json").read_text())


def _write_manifest(directory, manifest):
    (directory / "manifest.json").write_text(json.dumps(manifest))


def test_load_gives_cases_with_specs_and_arrays(core_npz):
    vector_set = load(core_npz)
    case = next(c for c in vector_set.cases if c.id == "2d-explicit-mixed")
    assert case.kind == "exact"
    assert case.spec.padding == ((0, 1), (2, 0)) and case.spec.stride == (2, 3)
    assert case.spec.flip is True and case.spec.groups == 2
    assert case.b.shape == (4,) and case.arrays["grad_weight"].shape == (4, 2, 3, 2)
    assert vector_set.label.startswith("core v1 sha256:")
    assert next(c for c in vector_set.cases if c.id == "1d-valid").b is None


@pytest.mark.parametrize("fixture", ["core_npz", "core_json"])
def test_one_changed_value_is_caught_and_names_the_case(request, copy_set, fixture):
    directory = copy_set(request.getfixturevalue(fixture))
    file_format = _manifest(directory)["file_format"]
    path = directory / "cases" / f"1d-flip.{file_format}"
    arrays = read_arrays(path)
    arrays["grad_weight"][0, 0, 1] += 1
    write_arrays(path, arrays, file_format)
    with pytest.raises(
        VectorsError, match=r"case '1d-flip': content hash .* the vectors were modified"
    ):
        load(directory)


def test_a_changed_spec_in_the_manifest_is_caught(core_npz, copy_set):
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    manifest["cases"][0]["spec"]["stride"] = [2]
    _write_manifest(directory, manifest)
    with pytest.raises(VectorsError, match=r"case '1d-valid': content hash"):
        load(directory)


def test_a_consistently_rehashed_change_still_differs_from_the_committed_set(core_npz, copy_set):
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    entry = manifest["cases"][1]
    path = directory / entry["file"]
    arrays = read_arrays(path)
    arrays["y"][0, 0, 0] = 99.0
    write_arrays(path, arrays, "npz")
    entry["hash"] = case_hash(entry["id"], entry["kind"], entry["spec"], arrays)
    manifest["set_hash"] = set_hash("core", [(e["id"], e["hash"]) for e in manifest["cases"]])
    _write_manifest(directory, manifest)
    with pytest.raises(
        VectorsError, match=r"this convgrad ships .*differing cases: \['1d-same-odd'\]"
    ):
        load(directory)


def test_a_changed_set_hash_or_a_dropped_case_is_caught(core_npz, copy_set):
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    manifest["cases"].pop(3)
    _write_manifest(directory, manifest)
    with pytest.raises(VectorsError, match=r"set hash .* the manifest was modified"):
        load(directory)


def test_a_missing_case_file_or_array_names_the_case(core_npz, copy_set):
    directory = copy_set(core_npz)
    (directory / "cases" / "3d-valid.npz").unlink()
    with pytest.raises(VectorsError, match=r"case '3d-valid': .*3d-valid.npz: cannot be read"):
        load(directory)
    np.savez(directory / "cases" / "3d-valid.npz", x=np.zeros(1))
    with pytest.raises(
        VectorsError, match=r"case '3d-valid': cases/3d-valid.npz lacks arrays \['w'"
    ):
        load(directory)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 2}, "format_version=2, but this convgrad reads version 1"),
        ({"format": "other"}, "not a manifest of format 'convgrad-vectors'"),
        ({"set": "../x"}, "malformed manifest"),
        ({"file_format": "csv"}, "malformed manifest"),
    ],
)
def test_a_foreign_manifest_is_refused(core_npz, copy_set, change, message):
    directory = copy_set(core_npz)
    _write_manifest(directory, _manifest(directory) | change)
    with pytest.raises(VectorsError, match=message):
        load(directory)


def test_a_case_file_outside_its_place_is_refused(core_npz, copy_set):
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    manifest["cases"][0]["file"] = "../../etc/passwd"
    _write_manifest(directory, manifest)
    with pytest.raises(
        VectorsError, match=r"case '1d-valid': file '../../etc/passwd', expected cases/1d-valid.npz"
    ):
        load(directory)


def test_not_a_vector_set(tmp_path):
    with pytest.raises(VectorsError, match=r"is not a vector set: manifest.json is missing"):
        load(tmp_path)
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(VectorsError, match=r"unreadable manifest"):
        load(tmp_path)
