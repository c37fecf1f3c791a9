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
import zlib
from collections.abc import Mapping, Sequence
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


_JSON_BYTES_PER_VALUE = 32
"""Room for one value in a JSON array file: the longest float64 text (24 characters) and ", "."""
_JSON_SLACK = 1 << 16


def _json_array(path: Path, name: str, entry: object, limit: int | None) -> np.ndarray:
    if not isinstance(entry, dict) or "shape" not in entry or "data" not in entry:
        raise FormatError(f"{path}: array {name!r} must be an object with 'shape' and 'data'")
    shape, data = entry["shape"], entry["data"]
    if entry.get("dtype", "float64") != "float64":
        raise FormatError(f"{path}: array {name!r} has dtype {entry['dtype']!r}; need 'float64'")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise FormatError(f"{path}: array {name!r} has shape {shape!r}; need a list of ints >= 0")
    _check_size(path, name, shape, limit)
    if not isinstance(data, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in data
    ):
        raise FormatError(f"{path}: array {name!r}: 'data' must be a flat list of numbers")
    if len(data) != prod(shape):
        raise FormatError(
            f"{path}: array {name!r} has {len(data)} values but shape {shape} needs {prod(shape)}"
        )
    try:
        return np.array(data, dtype=np.float64).reshape(shape)
    except OverflowError as error:
        raise FormatError(
            f"{path}: array {name!r}: a value too large for float64 ({error})"
        ) from None


def _check_size(path: Path, name: str, shape: Sequence[int], limit: int | None) -> None:
    """FormatError when an array declares more values than ``limit`` (before any allocation)."""
    if limit is not None and prod(shape) > limit:
        raise FormatError(
            f"{path}: array {name!r} declares shape {tuple(shape)} ({prod(shape)} values),"
            f" more than the {limit} its case needs"
        )


def _npz_arrays(path: Path, sizes: Mapping[str, int] | None) -> dict[str, np.ndarray]:
    """The arrays of an npz file, each header checked before its data are read: float64, at
    most ``sizes[name]`` values (names absent from ``sizes`` are skipped), and only that many
    bytes decompressed, whatever the archive claims."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if sizes is not None and name not in sizes:
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    raise FormatError(f"{path}: array {name!r}: .npy format {version} not read")
                header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran_order, dtype = header(member)
                if dtype != np.float64:
                    raise FormatError(f"{path}: array {name!r} has dtype {dtype}; need float64")
                _check_size(path, name, shape, None if sizes is None else sizes[name])
                size = prod(shape) * dtype.itemsize
                data = member.read(size)
            if len(data) != size:
                raise FormatError(
                    f"{path}: array {name!r} holds {len(data)} bytes; shape {shape} needs {size}"
                )
            order = "F" if fortran_order else "C"
            arrays[name] = np.frombuffer(data, dtype).reshape(shape, order=order).copy()
    return arrays


def read_arrays(path: Path, sizes: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """The named float64 arrays of a ``.npz`` or ``.json`` file; FormatError naming the file
    if it cannot be read as one (never a MemoryError, OverflowError or RecursionError).

    sizes: ``{name: the most values the array may hold}``, checked against each array's
    declared shape before its data are read (a JSON file is refused before it is parsed when
    it is longer than those values can take); arrays of other names are not read. None: any
    size, every array.
    """
    suffix = path.suffix.lstrip(".")
    check_format(suffix)
    try:
        if suffix == "npz":
            return _npz_arrays(path, sizes)
        if sizes is not None:
            room = _JSON_BYTES_PER_VALUE * sum(sizes.values()) + _JSON_SLACK
            if path.stat().st_size > room:
                raise FormatError(
                    f"{path}: {path.stat().st_size} bytes, more than the {room} that the"
                    f" {sum(sizes.values())} values of its arrays can take as JSON"
                )
        document = json.loads(path.read_bytes())
    except RecursionError:
        raise FormatError(f"{path}: cannot be read as json: nested too deeply") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        if isinstance(error, FormatError):
            raise
        raise FormatError(f"{path}: cannot be read as {suffix}: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("arrays"), dict):
        raise FormatError(f"{path}: expected a JSON object with an 'arrays' object")
    return {
        name: _json_array(path, name, entry, None if sizes is None else sizes[name])
        for name, entry in document["arrays"].items()
        if sizes is None or name in sizes
    }
