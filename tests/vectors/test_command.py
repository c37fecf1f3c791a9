"""``convgrad vectors export|check`` and ``convgrad --version``: output and exit codes."""

import json

import pytest

from convgrad.cli import main
from convgrad.vectors import load, write_results
from convgrad.vectors.formats import read_arrays, write_arrays
from convgrad.vectors.hashing import committed_summary


def test_version_prints_the_core_vector_hash(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    core = committed_summary("core")["set_hash"]
    assert capsys.readouterr().out == f"convgrad 0.1.0 (vectors core v2 {core})\n"


def test_export_then_check_the_reference_passes_with_exit_0(tmp_path, capsys, reference):
    assert main(["vectors", "export", str(tmp_path / "v"), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote 44 cases to {tmp_path / 'v'}: core v2 sha256:")
    assert load(tmp_path / "v").manifest["file_format"] == "json"
    write_results(tmp_path / "r", reference, "json")
    assert main(["vectors", "check", str(tmp_path / "v"), "--results", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "44 cases: 44 passed, 0 failed"


def test_check_a_corrupted_results_file_exits_1_naming_the_case(core_npz, results_dir, capsys):
    arrays = read_arrays(results_dir / "2d-same-even.npz")
    arrays["grad_bias"][0] += 0.5
    write_arrays(results_dir / "2d-same-even.npz", arrays, "npz")
    assert main(["vectors", "check", str(core_npz), "--results", str(results_dir)]) == 1
    out = capsys.readouterr().out
    assert "2d-same-even: grad_bias: 1 of 2 elements differ" in out
    assert out.splitlines()[-1] == "44 cases: 43 passed, 1 failed (2d-same-even)"


def test_check_a_tampered_set_exits_2_naming_the_case(core_npz, copy_set, results_dir, capsys):
    directory = copy_set(core_npz)
    arrays = read_arrays(directory / "cases" / "1d-kernel1.npz")
    arrays["x"][0, 0, 0] += 1
    write_arrays(directory / "cases" / "1d-kernel1.npz", arrays, "npz")
    assert main(["vectors", "check", str(directory), "--results", str(results_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("convgrad vectors: error: case '1d-kernel1': content hash")


def test_export_into_a_foreign_folder_exits_2_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert main(["vectors", "export", str(tmp_path)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["vectors", "export", "d", "--set", "huge"], "invalid choice: 'huge'"),
        (["vectors", "export", "d", "--format", "csv"], "invalid choice: 'csv'"),
        (["vectors", "check", "d"], "the following arguments are required: --results"),
        (["vectors"], "the following arguments are required: ACTION"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_check_with_a_missing_results_folder_exits_2(core_npz, tmp_path, capsys):
    assert main(["vectors", "check", str(core_npz), "--results", str(tmp_path / "none")]) == 2
    assert "is not a folder of results files" in capsys.readouterr().err


def test_check_a_malformed_results_file_exits_1_with_a_line_naming_it(
    core_npz, results_dir, capsys
):
    # An integer of 400 digits made `vectors check` end in an OverflowError traceback.
    (results_dir / "1d-valid.npz").unlink()
    digits = "9" * 400
    (results_dir / "1d-valid.json").write_text(
        '{"arrays": {"y": {"shape": [1, 1, 5], "data": [' + digits + ", 0, 0, 0, 0]}}}"
    )
    assert main(["vectors", "check", str(core_npz), "--results", str(results_dir)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    line = f"1d-valid: {results_dir / '1d-valid.json'}: array 'y': a value too large for float64"
    assert line in captured.out
    assert captured.out.splitlines()[-1] == "44 cases: 43 passed, 1 failed (1d-valid)"


def test_check_a_set_whose_case_id_leaves_the_folder_exits_2_before_opening_it(
    core_npz, copy_set, results_dir, capsys
):
    directory = copy_set(core_npz)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["cases"][0]["id"] = "../../outside"
    (directory / "manifest.json").write_text(json.dumps(manifest))
    assert main(["vectors", "check", str(directory), "--results", str(results_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "field 'id' must be a plain name" in err
