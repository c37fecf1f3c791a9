"""The C consumer in examples/vectors_c compiles warning-free, runs a JSON set and passes."""

import shutil
import subprocess
from pathlib import Path

import pytest

from convgrad.vectors import check, export

SOURCE = Path(__file__).resolve().parents[2] / "examples" / "vectors_c" / "vectors_c.c"
CC = shutil.which("gcc") or shutil.which("cc")


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    if CC is None:
        pytest.skip("no C compiler (gcc or cc) on PATH")
    binary = tmp_path_factory.mktemp("c") / "vectors_c"
    compiled = subprocess.run(
        [
            CC,
            "-O2",
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            "-o",
            str(binary),
            str(SOURCE),
        ],
        capture_output=True,
        text=True,
    )
    assert compiled.returncode == 0, compiled.stderr
    return binary


@pytest.mark.parametrize("set_name", ["core", "full"])
def test_c_consumer_passes_every_case(program, tmp_path, set_name):
    vectors = export(tmp_path / "v", set_name=set_name, file_format="json").parent
    (tmp_path / "r").mkdir()
    run = subprocess.run(
        [str(program), str(vectors), str(tmp_path / "r")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    report = check(vectors, tmp_path / "r")
    assert report.ok, report.table()
    assert run.stdout == f"wrote {len(report.cases)} results to {tmp_path / 'r'}\n"


def test_c_consumer_refuses_an_npz_set(program, core_npz, tmp_path):
    run = subprocess.run(
        [str(program), str(core_npz), str(tmp_path)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "needs a JSON vector set" in run.stderr
