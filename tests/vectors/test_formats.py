"""Array files round-trip every bit in both formats; malformed files are FormatErrors."""

import json

import numpy as np
import pytest

from convgrad.vectors.formats import FormatError, check_format, read_arrays, write_arrays

ARRAYS = {
    "x": np.array([[0.1, -0.0, 1e-310], [np.pi, -2.5, 1e300]]),
    "b": np.array([7.0]),
    "s": np.zeros((0, 3)),
}


@pytest.mark.parametrize("file_format", ["npz", "json"])
def test_arrays_round_trip_bit_for_bit(tmp_path, file_format):
    path = tmp_path / f"a.{file_format}"
    write_arrays(path, ARRAYS, file_format)
    back = read_arrays(path)
    assert list(back) == list(ARRAYS)
    for name, array in ARRAYS.items():
        assert back[name].dtype == np.float64 and back[name].shape == array.shape
        assert back[name].tobytes() == array.tobytes()


def test_json_layout_is_shape_and_flat_row_major_data(tmp_path):
    write_arrays(tmp_path / "a.json", {"w": np.arange(6.0).reshape(2, 3)}, "json")
    document = json.loads((tmp_path / "a.json").read_text())
    assert document == {
        "arrays": {
            "w": {"dtype": "float64", "shape": [2, 3], "data": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]}
        }
    }


def test_json_results_may_leave_out_dtype_and_use_integers(tmp_path):
    (tmp_path / "r.json").write_text('{"arrays": {"y": {"shape": [2], "data": [1, 2.5]}}}')
    assert np.array_equal(read_arrays(tmp_path / "r.json")["y"], [1.0, 2.5])


def test_unknown_format_is_a_value_error_naming_it(tmp_path):
    with pytest.raises(
        ValueError, match=r"format='csv' is not a vector format; use one of \('npz', 'json'\)"
    ):
        check_format("csv")
    with pytest.raises(ValueError, match=r"format='txt'"):
        read_arrays(tmp_path / "a.txt")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "cannot be read as json"),
        ("[1, 2]", "expected a JSON object with an 'arrays' object"),
        ('{"arrays": {"y": [1, 2]}}', "array 'y' must be an object with 'shape' and 'data'"),
        (
            '{"arrays": {"y": {"shape": [3], "data": [1, 2]}}}',
            "has 2 values but shape \\[3\\] needs 3",
        ),
        ('{"arrays": {"y": {"shape": [-1], "data": []}}}', "need a list of ints >= 0"),
        ('{"arrays": {"y": {"shape": [1], "data": ["1"]}}}', "flat list of numbers"),
        ('{"arrays": {"y": {"shape": [1], "data": [[1]]}}}', "flat list of numbers"),
        ('{"arrays": {"y": {"dtype": "int32", "shape": [1], "data": [1]}}}', "need 'float64'"),
    ],
)
def test_malformed_json_names_the_file_and_the_problem(tmp_path, text, message):
    (tmp_path / "r.json").write_text(text)
    with pytest.raises(FormatError, match=message):
        read_arrays(tmp_path / "r.json")


def test_malformed_npz_is_a_format_error(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(FormatError, match=r"cannot be read as npz"):
        read_arrays(tmp_path / "bad.npz")
    np.savez(tmp_path / "int.npz", y=np.arange(3))
    with pytest.raises(FormatError, match=r"array 'y' has dtype int64; need float64"):
        read_arrays(tmp_path / "int.npz")


def test_json_nested_beyond_the_parser_is_a_format_error(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(
        '{"arrays": {"y": {"shape": [1], "data": ' + "[" * 100_000 + "]" * 100_000 + "}}}"
    )
    with pytest.raises(FormatError, match=r"r.json: cannot be read as json: nested too deeply"):
        read_arrays(path)


def test_only_the_named_arrays_are_read_within_their_sizes(tmp_path):
    write_arrays(tmp_path / "r.npz", {"y": np.ones(3), "extra": np.ones(10**6)}, "npz")
    write_arrays(tmp_path / "r.json", {"y": np.ones(3), "extra": np.ones(5)}, "json")
    for path in (tmp_path / "r.npz", tmp_path / "r.json"):
        assert list(read_arrays(path, {"y": 3})) == ["y"]
        with pytest.raises(FormatError, match=r"array 'y' declares shape \(3,\) \(3 values\)"):
            read_arrays(path, {"y": 2})


def test_a_fortran_ordered_npz_array_reads_back_its_values(tmp_path):
    array = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    np.savez(tmp_path / "f.npz", y=array)
    back = read_arrays(tmp_path / "f.npz", {"y": 6})["y"]
    assert back.flags.writeable
    np.testing.assert_array_equal(back, array)
