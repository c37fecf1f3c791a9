"""Loading verifies every hash: a modified, truncated or foreign set is a VectorsError naming
the case."""

import json
import zipfile

import numpy as np
import pytest

from convgrad.vectors import VectorsError, load, reading
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
    assert vector_set.label.startswith("core v2 sha256:")
    assert next(c for c in vector_set.cases if c.id == "1d-valid").b is None
    assert (case.op, case.output_padding, case.spec.padding_mode) == ("conv", (), "zeros")


def test_load_reads_the_padding_mode_and_the_transpose(core_json):
    cases = {c.id: c for c in load(core_json).cases}
    assert cases["1d-circular-full"].spec.padding_mode == "circular"
    assert cases["1d-circular-full"].spec.padding == ((2, 2),)
    transposed = cases["t2d-groups-dilation"]
    assert (transposed.op, transposed.output_padding) == ("conv_transpose", (1, 0))
    assert transposed.spec.groups == 2 and transposed.spec.dilation == (1, 2)
    assert transposed.arrays["x"].shape == (2, 4, 3, 4)
    assert transposed.arrays["y"].shape == (2, 2, 6, 5) == transposed.arrays["grad_y"].shape


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
        ({"format_version": 1}, "format_version=1, but this convgrad reads version 2"),
        ({"format": "other"}, "not a manifest of format 'convgrad-vectors'"),
        ({"set": "../x"}, r"field 'set' must be one of \('core', 'full'\), got str '../x'"),
        ({"file_format": "csv"}, r"field 'file_format' must be one of \('npz', 'json'\)"),
        ({"cases": 5}, "field 'cases' must be a list of case objects, got int 5"),
        ({"cases": {"a": 1}}, "field 'cases' must be a list of case objects, got dict"),
        ({"set_hash": None}, "field 'set_hash' must be a string, got NoneType None"),
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
        VectorsError,
        match=r"case '1d-valid': field 'file' is '../../etc/passwd', expected 'cases/1d-valid.npz'",
    ):
        load(directory)


def test_not_a_vector_set(tmp_path):
    with pytest.raises(VectorsError, match=r"is not a vector set: manifest.json is missing"):
        load(tmp_path)
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(VectorsError, match=r"unreadable manifest"):
        load(tmp_path)


def test_a_manifest_without_cases_names_the_missing_field(core_npz, copy_set):
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    del manifest["cases"]
    _write_manifest(directory, manifest)
    with pytest.raises(VectorsError, match="field 'cases' is missing; it must be a list of case"):
        load(directory)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("spec", 5, r"case '1d-valid': field 'spec' must be an object with mode, padding, stride"),
        ("kind", "exactish", r"field 'kind' must be one of \('exact', 'float'\), got str"),
        ("hash", 7, "field 'hash' must be a string, got int 7"),
        ("shapes", [1], r"field 'shapes' must be an object \{array name: list of ints\}"),
        ("shapes", {"x": [1, -1, 7]}, r"shapes\['x'\] must be a list of sizes holding at most"),
        ("shapes", {"x": [2**24, 2]}, r"shapes\['x'\] must be a list of sizes holding at most"),
    ],
)
def test_a_malformed_case_entry_names_the_field_and_the_expected_type(
    core_npz, copy_set, field, value, message
):
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    manifest["cases"][0][field] = value
    _write_manifest(directory, manifest)
    with pytest.raises(VectorsError, match=message):
        load(directory)


def test_a_malformed_spec_object_names_the_keys_it_needs(core_npz, copy_set):
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    manifest["cases"][0]["spec"] = {"mode": "valid"}
    _write_manifest(directory, manifest)
    with pytest.raises(VectorsError, match=r"case '1d-valid': "):
        load(directory)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"op": "deconv"}, r"spec 'op' must be one of \('conv', 'conv_transpose'\), got 'deconv'"),
        ({"output_padding": None}, r"need mode, .*\(and output_padding for a conv_transpose\)"),
    ],
)
def test_a_rehashed_transpose_spec_it_cannot_read_is_refused(core_npz, copy_set, change, message):
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    entry = next(e for e in manifest["cases"] if e["id"] == "t1d-stride2-outpad1")
    entry["spec"] = {k: v for k, v in {**entry["spec"], **change}.items() if v is not None}
    arrays = read_arrays(directory / entry["file"])
    entry["hash"] = case_hash(entry["id"], entry["kind"], entry["spec"], arrays)
    _write_manifest(directory, manifest)
    with pytest.raises(VectorsError, match=rf"case 't1d-stride2-outpad1': .*{message}"):
        load(directory)


@pytest.mark.parametrize("case_id", ["../../outside", "../cases/1d-valid", "a/b", "..", ".hidden"])
def test_a_case_id_that_is_not_a_plain_name_is_refused_before_any_file_is_opened(
    core_npz, copy_set, case_id, monkeypatch
):
    directory = copy_set(core_npz)
    outside = directory.parent / "outside.npz"
    outside.write_bytes(b"never opened")
    manifest = _manifest(directory)
    manifest["cases"][-1]["id"] = case_id
    manifest["cases"][-1]["file"] = f"cases/{case_id}.npz"
    _write_manifest(directory, manifest)
    opened = []
    monkeypatch.setattr(reading, "read_arrays", lambda *a: opened.append(a))
    with pytest.raises(VectorsError, match=r"field 'id' must be a plain name .*nothing outside"):
        load(directory)
    assert opened == []


def test_a_case_file_that_links_outside_the_set_is_not_opened(core_npz, copy_set):
    directory = copy_set(core_npz)
    target = directory / "cases" / "1d-valid.npz"
    outside = directory.parent / "elsewhere.npz"
    target.rename(outside)
    target.symlink_to(outside)
    with pytest.raises(VectorsError, match=r"case '1d-valid': .*leads outside .*cases; not opened"):
        load(directory)


def test_a_duplicate_case_id_is_named_before_any_file_is_read(core_npz, copy_set):
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    manifest["cases"][1]["id"] = manifest["cases"][0]["id"]
    manifest["cases"][1]["file"] = manifest["cases"][0]["file"]
    _write_manifest(directory, manifest)
    with pytest.raises(VectorsError, match=r"duplicate case ids \['1d-valid'\]"):
        load(directory)


def test_a_case_file_declaring_more_values_than_the_manifest_is_refused_unread(core_npz, copy_set):
    # The header of an npz entry declares 2**33 values (64 GiB): refused from the header.
    directory = copy_set(core_npz)
    path = directory / "cases" / "1d-valid.npz"
    arrays = {name: np.load(path)[name] for name in np.load(path).files}
    _write_npz_declaring(path, arrays, "x", (2**33,))
    with pytest.raises(VectorsError, match=r"array 'x' declares shape \(8589934592,\)"):
        load(directory)


def test_a_case_array_of_another_shape_than_the_manifest_is_refused(core_npz, copy_set):
    directory = copy_set(core_npz)
    path = directory / "cases" / "1d-valid.npz"
    arrays = dict(np.load(path))
    arrays["x"] = arrays["x"].reshape(1, 7, 1)
    np.savez(path, **arrays)
    with pytest.raises(VectorsError, match=r"array 'x' has shape \(1, 7, 1\); the manifest says"):
        load(directory)


def _write_npz_declaring(path, arrays, name, shape):
    """An npz whose entry ``name`` has a header declaring ``shape`` (and a few bytes of data)."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w") as member:
                if key == name:
                    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
                    np.lib.format.write_array_header_1_0(member, header)
                    member.write(b"\0" * 64)
                else:
                    np.lib.format.write_array(member, array)


def _no_file_read(monkeypatch) -> list:
    opened = []
    monkeypatch.setattr(reading, "read_arrays", lambda *a: opened.append(a))
    return opened


def test_a_cases_folder_that_links_outside_the_set_is_refused_before_any_file_is_read(
    core_npz, copy_set, monkeypatch
):
    directory = copy_set(core_npz)
    elsewhere = directory.parent / "elsewhere"
    (directory / "cases").rename(elsewhere)
    (directory / "cases").symlink_to(elsewhere)
    opened = _no_file_read(monkeypatch)
    with pytest.raises(VectorsError, match=r"case '1d-valid': .*leads outside .*cases; not opened"):
        load(directory)
    assert opened == []


def test_a_link_of_the_last_case_outside_the_set_is_refused_before_the_first_is_read(
    core_npz, copy_set, monkeypatch
):
    directory = copy_set(core_npz)
    last = _manifest(directory)["cases"][-1]["id"]
    target = directory / "cases" / f"{last}.npz"
    target.rename(directory.parent / "elsewhere.npz")
    target.symlink_to(directory.parent / "elsewhere.npz")
    opened = _no_file_read(monkeypatch)
    with pytest.raises(VectorsError, match=rf"case '{last}': .*leads outside"):
        load(directory)
    assert opened == []


def test_a_manifest_that_links_outside_the_set_is_not_read(core_npz, copy_set):
    directory = copy_set(core_npz)
    (directory / "manifest.json").rename(directory.parent / "elsewhere.json")
    (directory / "manifest.json").symlink_to(directory.parent / "elsewhere.json")
    with pytest.raises(VectorsError, match=r"manifest.json leads outside .*; not opened"):
        load(directory)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"padding": 5}, r"spec field 'padding' must be a list of \[lo, hi\] int pairs >= 0"),
        ({"padding": [[1]]}, r"spec field 'padding' must be a list of \[lo, hi\] int pairs"),
        ({"stride": [-(10**400)]}, r"spec field 'stride' must be a list of ints >= 1"),
        (
            {"stride": ["2"]},
            r"spec field 'stride' must be a list of ints >= 1, .* got list \['2'\]",
        ),
        ({"dilation": [0]}, r"spec field 'dilation' must be a list of ints >= 1"),
        ({"groups": 1.5}, r"spec field 'groups' must be an int >= 1, got float 1.5"),
        ({"flip": "false"}, r"spec field 'flip' must be true or false, got str 'false'"),
        ({"mode": 5}, r"spec field 'mode' must be one of \('valid', .*'explicit'\), got int 5"),
        ({"padding_mode": "mirror"}, r"spec field 'padding_mode' must be absent or one of"),
        ({"stride": [1, 1]}, r"spec fields padding, stride, dilation must each hold one entry per"),
    ],
)
def test_a_malformed_spec_field_is_named_with_its_type_before_any_file_is_read(
    core_npz, copy_set, monkeypatch, change, message
):
    # The spec is part of the case hash: without the field checks first these read "content
    # hash does not match", naming no field.
    directory = copy_set(core_npz)
    manifest = _manifest(directory)
    manifest["cases"][0]["spec"].update(change)
    _write_manifest(directory, manifest)
    opened = _no_file_read(monkeypatch)
    with pytest.raises(VectorsError, match=rf"case '1d-valid': {message}"):
        load(directory)
    assert opened == []
