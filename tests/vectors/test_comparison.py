"""check: the reference's own results pass; a corrupted results file fails on exactly the
corrupted cases, naming the output, the element and the error."""

import json
import re
import zipfile

import numpy as np
import pytest

from convgrad.vectors import check, load, reference_results, write_results
from convgrad.vectors.cases import cases
from convgrad.vectors.formats import read_arrays, write_arrays

CORE_IDS = [c.id for c in cases("core")]


@pytest.mark.parametrize("file_format", ["npz", "json"])
def test_reference_results_pass_against_either_export(
    tmp_path, core_npz, core_json, reference, file_format
):
    results = write_results(tmp_path / "r", reference, file_format)
    for vectors in (core_npz, core_json):
        report = check(vectors, results)
        assert report.ok, report.table()
        assert [c.id for c in report.cases] == CORE_IDS
        assert report.failed == () and report.unknown == ()


def test_reference_direct_method_also_passes(tmp_path, core_npz):
    results = write_results(tmp_path / "r", reference_results(load(core_npz), method="direct"))
    assert check(core_npz, results).ok


def test_corrupting_some_cases_fails_exactly_those(core_npz, results_dir):
    corrupted = {"1d-same-even": "y", "2d-explicit-mixed": "grad_input", "3d-valid": "grad_weight"}
    for case_id, output in corrupted.items():
        path = results_dir / f"{case_id}.npz"
        arrays = read_arrays(path)
        arrays[output].flat[-1] += 1.0
        write_arrays(path, arrays, "npz")
    report = check(core_npz, results_dir)
    assert not report.ok
    assert set(report.failed) == set(corrupted)
    for case in report.cases:
        failing = {o.output for o in case.outputs if not o.passed}
        assert failing == ({corrupted[case.id]} if case.id in corrupted else set())
    output = next(
        o for o in next(c for c in report.cases if c.id == "3d-valid").outputs if not o.passed
    )
    assert output.status == "mismatch" and output.mismatched == 1 and output.worst_error == 1.0
    assert output.index == (1, 1, 1, 1, 2)
    assert (
        "1 of 48 elements differ" in output.message and "first at [1, 1, 1, 1, 2]" in output.message
    )


def test_one_ulp_off_fails_an_exact_case_but_passes_a_float_case(core_npz, results_dir):
    for case_id in ("1d-valid", "float-1d-valid"):
        path = results_dir / f"{case_id}.npz"
        arrays = read_arrays(path)
        arrays["y"][0, 0, 0] = np.nextafter(arrays["y"][0, 0, 0], np.inf)
        write_arrays(path, arrays, "npz")
    report = check(core_npz, results_dir)
    assert report.failed == ("1d-valid",)
    float_case = next(c for c in report.cases if c.id == "float-1d-valid")
    assert float_case.passed and 0 < float_case.outputs[0].worst_ratio < 1


def test_a_float_error_just_beyond_the_bound_fails(core_npz, results_dir):
    vector_case = next(c for c in load(core_npz).cases if c.id == "float-2d-same-stride2")
    path = results_dir / "float-2d-same-stride2.npz"
    arrays = read_arrays(path)
    expected, bound = vector_case.arrays["grad_weight"], vector_case.arrays["grad_weight_bound"]
    arrays["grad_weight"] = expected.copy()
    arrays["grad_weight"][1, 0, 2, 3] = expected[1, 0, 2, 3] + 2 * bound[1, 0, 2, 3]
    write_arrays(path, arrays, "npz")
    report = check(core_npz, results_dir)
    assert report.failed == ("float-2d-same-stride2",)
    case = next(c for c in report.cases if c.id == "float-2d-same-stride2")
    output = next(o for o in case.outputs if o.output == "grad_weight")
    assert output.status == "mismatch" and output.index == (1, 0, 2, 3)
    assert 1.5 < output.worst_ratio < 2.5 and "differ beyond their bound" in output.message


def test_negative_zero_equals_zero_in_an_exact_case(core_npz, results_dir):
    path = results_dir / "1d-stride3-unreached.npz"
    arrays = read_arrays(path)
    assert arrays["grad_input"][0, 0, -1] == 0.0
    arrays["grad_input"][0, 0, -1] = -0.0
    write_arrays(path, arrays, "npz")
    assert check(core_npz, results_dir).ok


def test_missing_case_wrong_shape_missing_output_nan_and_unreadable_each_fail_their_case(
    core_npz, results_dir
):
    (results_dir / "1d-full.npz").unlink()
    arrays = read_arrays(results_dir / "1d-flip.npz")
    arrays["grad_weight"] = arrays["grad_weight"].reshape(1, 3, 1)
    write_arrays(results_dir / "1d-flip.npz", arrays, "npz")
    arrays = read_arrays(results_dir / "1d-groups2.npz")
    del arrays["grad_bias"]
    write_arrays(results_dir / "1d-groups2.npz", arrays, "npz")
    arrays = read_arrays(results_dir / "float-3d-full.npz")
    arrays["y"][0, 0, 0, 0, 0] = np.nan
    write_arrays(results_dir / "float-3d-full.npz", arrays, "npz")
    (results_dir / "2d-valid.npz").write_bytes(b"garbage")
    (results_dir / "3d-valid.json").write_text("{}")
    (results_dir / "stray.npz").write_bytes(b"")
    report = check(core_npz, results_dir)
    assert set(report.failed) == {
        "1d-full",
        "1d-flip",
        "1d-groups2",
        "float-3d-full",
        "2d-valid",
        "3d-valid",
    }
    by_id = {c.id: c for c in report.cases}
    assert (
        "results file missing" in by_id["1d-full"].message
        and "1d-full.npz or 1d-full.json" in by_id["1d-full"].message
    )
    flip = {o.output: o for o in by_id["1d-flip"].outputs}
    assert flip["grad_weight"].status == "shape" and flip["y"].passed
    assert flip["grad_weight"].message == "shape (1, 3, 1), expected (1, 1, 3)"
    assert {o.output: o.status for o in by_id["1d-groups2"].outputs}["grad_bias"] == "missing"
    nan = {o.output: o for o in by_id["float-3d-full"].outputs}["y"]
    assert nan.status == "mismatch" and nan.worst_error == np.inf and nan.mismatched == 1
    assert "cannot be read as npz" in by_id["2d-valid"].message
    assert "several results files" in by_id["3d-valid"].message
    assert report.unknown == ("stray.npz",)
    table = report.table()
    assert "stray.npz" in table and "1d-full: results file missing" in table
    assert table.splitlines()[-1].startswith(
        f"{len(CORE_IDS)} cases: {len(CORE_IDS) - 6} passed, 6 failed ("
    )


def test_table_has_one_row_per_case_with_each_output(core_npz, results_dir):
    lines = check(core_npz, results_dir).table().splitlines()
    assert lines[0].startswith("vectors core v2 sha256:")
    assert lines[1].split() == [
        "case",
        "kind",
        "y",
        "grad_input",
        "grad_weight",
        "grad_bias",
        "result",
        "worst",
        "error",
    ]
    row = next(line for line in lines if line.startswith("float-1d-valid "))
    assert row.split()[:7] == ["float-1d-valid", "float", "ok", "ok", "ok", "ok", "pass"]
    assert row.endswith("of bound)")
    assert lines[-1] == f"{len(CORE_IDS)} cases: {len(CORE_IDS)} passed, 0 failed"


def test_to_dict_is_json_ready(core_npz, results_dir):
    data = check(core_npz, results_dir).to_dict()
    assert json.loads(json.dumps(data))["ok"] is True
    assert data["cases"][0]["outputs"][0]["output"] == "y"


def test_results_must_be_a_folder(core_npz, tmp_path):
    with pytest.raises(ValueError, match=r"results='.*nowhere' is not a folder"):
        check(core_npz, tmp_path / "nowhere")


def test_write_results_needs_exactly_the_four_outputs(tmp_path):
    with pytest.raises(ValueError, match=r"results\['a'\] holds \['y'\]; it must hold exactly"):
        write_results(tmp_path / "r", {"a": {"y": np.zeros(1)}})
    assert not (tmp_path / "r").exists()


def _json_results(case_arrays: dict, **replace: str) -> str:
    """A JSON results file of the outputs in ``case_arrays``, with some arrays' text replaced."""
    texts = {
        name: json.dumps(
            {"shape": list(case_arrays[name].shape), "data": case_arrays[name].ravel().tolist()}
        )
        for name in ("y", "grad_input", "grad_weight", "grad_bias")
    }
    texts |= replace
    return '{"arrays": {' + ", ".join(f'"{n}": {t}' for n, t in texts.items()) + "}}"


def _zip_declaring(path, arrays, name, shape, compress=False, data=b"\0" * 64):
    """An npz whose entry ``name`` has a header declaring ``shape`` followed by ``data``."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                if key != name:
                    np.lib.format.write_array(member, array)
                    continue
                header = {"descr": "<f8", "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(member, header)
                member.write(data)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # A 400-digit integer: OverflowError converting to float64.
        (
            lambda p, a: p.with_suffix(".json").write_text(
                _json_results(a, y=f'{{"shape": [1, 1, 5], "data": [{"9" * 400}, 0, 0, 0, 0]}}')
            ),
            r"array 'y': a value too large for float64",
        ),
        # 20,000 nested lists (40 kB, within the size limit): RecursionError in the parser.
        (
            lambda p, a: p.with_suffix(".json").write_text(
                _json_results(a, y='{"shape": [1], "data": ' + "[" * 20_000 + "]" * 20_000 + "}")
            ),
            r"cannot be read as json: nested too deeply",
        ),
        # A JSON file longer than the case's values can take is refused unparsed.
        (
            lambda p, a: p.with_suffix(".json").write_text(_json_results(a) + " " * 2_000_000),
            r"bytes, more than the \d+ that the 16 values of its arrays can take as JSON",
        ),
        # An npz header declaring a 74 GiB array: MemoryError when allocated.
        (
            lambda p, a: _zip_declaring(p, a, "grad_input", (10_000_000_000,)),
            r"array 'grad_input' declares shape \(10000000000,\) \(10000000000 values\), more"
            r" than the 7 its case needs",
        ),
        # A small compressed npz whose header matches its gigabytes of zeros.
        (
            lambda p, a: _zip_declaring(p, a, "y", (1, 1, 2**27), compress=True, data=bytes(2**30)),
            r"array 'y' declares shape \(1, 1, 134217728\)",
        ),
        # A header smaller than the data that follows: only the declared bytes are read.
        (
            lambda p, a: _zip_declaring(p, a, "y", (1, 1, 5), data=b"\0" * 16),
            r"array 'y' holds 16 bytes; shape \(1, 1, 5\) needs 40",
        ),
        (
            lambda p, a: p.with_suffix(".json").write_text(
                _json_results(a, y='{"shape": [1, 1, 100], "data": []}')
            ),
            r"array 'y' declares shape \(1, 1, 100\) \(100 values\), more than the 5",
        ),
    ],
    ids=["400-digits", "deep-nesting", "json-too-long", "npz-74GiB", "zip-bomb", "short", "shape"],
)
def test_a_malformed_results_file_fails_its_case_naming_the_file(
    core_npz, results_dir, make, message
):
    path = results_dir / "1d-valid.npz"
    arrays = read_arrays(path)
    path.unlink()
    make(path, arrays)
    report = check(core_npz, results_dir)
    assert report.failed == ("1d-valid",)
    case = report.cases[0]
    assert case.message.startswith(str(results_dir / "1d-valid."))
    assert re.search(message, case.message), case.message
    assert case.outputs == ()
