"""Exported vector sets and convgrad's own results, shared by the vectors tests (read-only: a
test that modifies a set first takes a private copy with the `copy_set` fixture)."""

import shutil
from pathlib import Path

import pytest

from convgrad.vectors import export, load, reference_results, write_results


@pytest.fixture(scope="session")
def core_npz(tmp_path_factory) -> Path:
    """The core set exported as npz."""
    return export(tmp_path_factory.mktemp("npz") / "core").parent


@pytest.fixture(scope="session")
def core_json(tmp_path_factory) -> Path:
    """The core set exported as JSON."""
    return export(tmp_path_factory.mktemp("json") / "core", file_format="json").parent


@pytest.fixture(scope="session")
def reference(core_npz):
    """convgrad's float64 results on the core set: {case id: {output: array}}."""
    return reference_results(load(core_npz))


@pytest.fixture
def results_dir(tmp_path, reference) -> Path:
    """A fresh results folder holding convgrad's own results as npz."""
    return write_results(tmp_path / "results", reference)


@pytest.fixture
def copy_set(tmp_path):
    """A function making a private copy of an exported set, for tests that tamper with it."""

    def copy(source: Path) -> Path:
        return Path(shutil.copytree(source, tmp_path / f"copy-{source.parent.name}"))

    return copy
