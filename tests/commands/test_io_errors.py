"""Every command, writing into a folder it cannot write: one line naming the path and the
reason, exit 2 (1 means a check failed), no traceback, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from convgrad.cli import main, os_error_text

MODULE = "convgrad_io_user_conv"


@pytest.fixture
def read_only(tmp_path):
    """A folder no one may write into, root included: ``chattr +i`` (immutable) when running
    as root, mode 0555 otherwise."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {made.stderr!r}")
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def _one_line(err: str, command: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"convgrad {command}: error: ")
    return err


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    source = """
        import convgrad as cg

        def forward(x, w, spec):
            return cg.conv(x, w, padding=spec.padding, stride=spec.stride,
                           dilation=spec.dilation, groups=spec.groups, flip=spec.flip)
        """
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(source))
    monkeypatch.chdir(tmp_path)
    yield
    sys.modules.pop(MODULE, None)


@pytest.mark.parametrize("flag", ["--json", "--html"])
def test_verify_output_into_a_read_only_folder(user_module, read_only, capsys, flag):
    path = read_only / ("r.json" if flag == "--json" else "r.html")
    code = main(["verify", f"{MODULE}:forward", "--max-examples", "2", flag, str(path)])
    assert code == 2
    err = _one_line(capsys.readouterr().err, "verify")
    assert f"{str(path)!r}" in err or f"{str(read_only)!r}" in err
    assert "Operation not permitted" in err or "Permission denied" in err
    assert list(read_only.iterdir()) == []


def test_report_into_a_read_only_folder_is_refused_before_the_sweep(read_only, capsys):
    assert main(["report", "--out", str(read_only), "--case", "P0001"]) == 2
    err = capsys.readouterr().err
    assert "checked" not in err and "Traceback" not in err
    line = err.splitlines()[-1]
    assert line.startswith(f"convgrad report: error: {str(read_only / 'report.json')!r}: ")
    assert list(read_only.iterdir()) == []


def test_report_into_a_new_folder_under_a_read_only_one(read_only, capsys):
    out = read_only / "site"
    assert main(["report", "--out", str(out), "--case", "P0001"]) == 2
    err = capsys.readouterr().err
    assert f"convgrad report: error: {str(out)!r}: " in err and "Traceback" not in err
    assert list(read_only.iterdir()) == []


@pytest.mark.parametrize("target", ["set", "."])
def test_vectors_export_into_a_read_only_folder(read_only, capsys, target):
    directory = read_only / target
    assert main(["vectors", "export", str(directory)]) == 2
    err = _one_line(capsys.readouterr().err, "vectors")
    assert err.startswith(f"convgrad vectors: error: {str(directory)!r}: ")
    assert list(read_only.iterdir()) == []


def test_verify_json_onto_a_folder_or_under_a_file_is_one_line_exit_2(user_module, capsys):
    os.mkdir("folder")
    with open("file", "w") as handle:
        handle.write("mine")
    for path, message in [
        ("folder", "path='folder' is a folder; give a file name"),
        ("file/r.json", "path='file/r.json': 'file' is not a folder"),
    ]:
        assert main(["verify", f"{MODULE}:forward", "--json", path]) == 2
        assert message in _one_line(capsys.readouterr().err, "verify")


def test_os_error_text_names_the_paths_and_the_reason():
    assert os_error_text(PermissionError(13, "Permission denied", "/r/x")) == (
        "'/r/x': Permission denied"
    )
    assert os_error_text(OSError(18, "Invalid cross-device link", "a", None, "b")) == (
        "'a' -> 'b': Invalid cross-device link"
    )
    assert os_error_text(FileExistsError("path='x' exists")) == "path='x' exists"


@pytest.mark.parametrize("flag", ["--json", "--html"])
def test_verify_output_under_a_new_folder_in_a_read_only_one_is_refused_before_the_run(
    user_module, read_only, capsys, flag
):
    # Only an existing parent was probed: the run went on, then failed to make the folder.
    path = read_only / "sub" / ("r.json" if flag == "--json" else "r.html")
    code = main(["verify", f"{MODULE}:forward", "--max-examples", "2", flag, str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    made = read_only / "sub"  # the folder that cannot be made
    assert _one_line(err, "verify").startswith(f"convgrad verify: error: {str(made)!r}: ")
    assert list(read_only.iterdir()) == []
