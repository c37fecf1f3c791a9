"""Reading and writing one file of named float64 arrays, as ``.npz`` or ``.json``.

- ``npz``: `numpy.savez` (uncompressed), one entry per array, read with ``allow_pickle=False``.
- ``json``: ``{"arrays": {name: {"dtype": "float64", "shape": [...], "data": [...]}}}`` with
  ``data`` the values in row-major (C) order as JSON numbers (Python writes the shortest text
  that reads back to the same float64, so the round trip is exact; ``%.17g`` in C does too).
  ``dtype`` may be left out by a results file.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from math import prod
from pathlib import Path

import numpy as np

FORMATS = ("npz", "json")


class FormatError(ValueError):
    """A file that cannot be read as named float64 arrays."""


def check_format(file_format: str) -> str:
    """The format name, or ValueError naming the allowed ones."""
    if file_format not in FORMATS:
        raise ValueError(f"format={file_format!r} is not a vector format; use one of {FORMATS}")
    return file_format


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray], file_format: str) -> None:
    """Write float64 arrays to ``path`` (which names the extension itself)."""
    check_format(file_format)
    if file_format == "npz":
        with path.open("wb") as handle:
            np.savez(handle, **{n: np.asarray(a, dtype=np.float64) for n, a in arrays.items()})
        return
    payload = {
        name: {
            "dtype": "float64",
            "shape": list(np.shape(a)),
            "data": np.asarray(a, dtype=np.float64).ravel(order="C").tolist(),
        }
        for name, a in arrays.items()
    }
    path.write_text(json.dumps({"arrays": payload}, allow_nan=False) + "\n")


def _json_array(path: Path, name: str, entry: object) -> np.ndarray:
    if not isinstance(entry, dict) or "shape" not in entry or "data" not in entry:
        raise FormatError(f"{path}: array {name!r} must be an object with 'shape' and 'data'")
    shape, data = entry["shape"], entry["data"]
    if entry.get("dtype", "float64") != "float64":
        raise FormatError(f"{path}: array {name!r} has dtype {entry['dtype']!r}; need 'float64'")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise FormatError(f"{path}: array {name!r} has shape {shape!r}; need a list of ints >= 0")
    if not isinstance(data, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in data
    ):
        raise FormatError(f"{path}: array {name!r}: 'data' must be a flat list of numbers")
    if len(data) != prod(shape):
        raise FormatError(
            f"{path}: array {name!r} has {len(data)} values but shape {shape} needs {prod(shape)}"
        )
    return np.array(data, dtype=np.float64).reshape(shape)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The named float64 arrays of a ``.npz`` or ``.json`` file; FormatError if unreadable."""
    suffix = path.suffix.lstrip(".")
    check_format(suffix)
    try:
        if suffix == "npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        else:
            document = json.loads(path.read_text())
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise FormatError(f"{path}: cannot be read as {suffix}: {error}") from error
    if suffix == "npz":
        for name, array in arrays.items():
            if array.dtype != np.float64:
                raise FormatError(f"{path}: array {name!r} has dtype {array.dtype}; need float64")
        return arrays
    if not isinstance(document, dict) or not isinstance(document.get("arrays"), dict):
        raise FormatError(f"{path}: expected a JSON object with an 'arrays' object")
    return {name: _json_array(path, name, e) for name, e in document["arrays"].items()}
