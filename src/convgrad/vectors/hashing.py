"""Content hashes of cases and sets, over a canonical serialization (never over file bytes).

A case's canonical form is the JSON text ``json.dumps(obj, sort_keys=True,
separators=(",", ":"), ensure_ascii=True)`` of ``{"id", "kind", "spec", "arrays"}``: ``spec``
is the resolved spec (`convgrad.ResolvedSpec.to_dict`) and each array is ``{"dtype":
"float64", "shape": [...], "values": [float.hex(v), ...]}`` in row-major (C) order. Hex floats
name every bit of every value and read the same in any language, so npz and JSON exports of
one set have the same hashes, and zip metadata (timestamps) never enter. A set's hash is
SHA-256 of the canonical JSON of ``{"format", "format_version", "set", "cases": [[id, hash],
...]}`` in the set's order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib.resources import files

import numpy as np

FORMAT = "convgrad-vectors"
FORMAT_VERSION = 2
"""1: conv cases with zero padding. 2: adds padding_mode (the spec's "padding_mode") and
conv_transpose cases (the spec's "op" and "output_padding"); a version 1 case keeps its hash."""
PREFIX = "sha256:"


def _canonical(obj: object) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _digest(obj: object) -> str:
    return PREFIX + hashlib.sha256(_canonical(obj)).hexdigest()


def canonical_array(array: np.ndarray) -> dict:
    """``{"dtype", "shape", "values"}`` with every value as ``float.hex``; float64 only."""
    if array.dtype != np.float64:
        raise TypeError(f"array has dtype {array.dtype}; vector arrays are float64")
    return {
        "dtype": "float64",
        "shape": list(array.shape),
        "values": [float(v).hex() for v in array.ravel(order="C")],
    }


def case_hash(case_id: str, kind: str, spec: Mapping, arrays: Mapping[str, np.ndarray]) -> str:
    """``"sha256:<hex>"`` of a case's canonical form (see the module docstring)."""
    return _digest(
        {
            "id": case_id,
            "kind": kind,
            "spec": dict(spec),
            "arrays": {name: canonical_array(a) for name, a in arrays.items()},
        }
    )


def set_hash(set_name: str, case_hashes: Sequence[tuple[str, str]]) -> str:
    """``"sha256:<hex>"`` of a set: its name, the format version and its (id, hash) pairs."""
    return _digest(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "set": set_name,
            "cases": [list(pair) for pair in case_hashes],
        }
    )


def committed_summary(set_name: str) -> dict | None:
    """The hashes this convgrad ships for a set (``src/convgrad/data/<set>_manifest.json``):
    ``{"format", "format_version", "set", "set_hash", "cases": {id: hash}}``; None if none."""
    resource = files("convgrad.data").joinpath(f"{set_name}_manifest.json")
    if not resource.is_file():
        return None
    return json.loads(resource.read_text())
