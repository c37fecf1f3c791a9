"""Reading a vector set back and proving it untouched: every case hash, the set hash, and for a
set this convgrad ships, the committed hashes (`src/convgrad/data/<set>_manifest.json`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convgrad.spec import ResolvedSpec
from convgrad.vectors.cases import SETS
from convgrad.vectors.export import CASES_DIR, MANIFEST
from convgrad.vectors.formats import FORMATS, FormatError, read_arrays
from convgrad.vectors.generate import OUTPUTS
from convgrad.vectors.hashing import (
    FORMAT,
    FORMAT_VERSION,
    case_hash,
    committed_summary,
    set_hash,
)

_REQUIRED = ("x", "w", "grad_y", *OUTPUTS)


class VectorsError(ValueError):
    """A vector set that is unreadable, of another format version, or tampered with."""


@dataclass(frozen=True)
class VectorCase:
    """One loaded case: its spec and float64 arrays (see `convgrad.vectors.export.DESCRIPTION`
    for the names and shapes)."""

    id: str
    kind: str
    note: str
    spec: ResolvedSpec
    arrays: dict[str, np.ndarray]

    @property
    def b(self) -> np.ndarray | None:
        """The bias (C_out,), or None when the case has none."""
        return self.arrays.get("b")


@dataclass(frozen=True)
class VectorSet:
    """A verified vector set: its manifest and its cases in order."""

    directory: Path
    manifest: dict
    cases: tuple[VectorCase, ...]

    @property
    def label(self) -> str:
        """``"<set> v<format_version> <set_hash>"``, the text to cite."""
        m = self.manifest
        return f"{m['set']} v{m['format_version']} {m['set_hash']}"


def _manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.is_file():
        raise VectorsError(f"{directory} is not a vector set: {MANIFEST} is missing")
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise VectorsError(f"{path}: unreadable manifest: {error}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise VectorsError(f"{path}: not a manifest of format {FORMAT!r}")
    if document.get("format_version") != FORMAT_VERSION:
        raise VectorsError(
            f"{path}: format_version={document.get('format_version')!r}, but this convgrad reads"
            f" version {FORMAT_VERSION}; use the convgrad that wrote it"
        )
    missing = [k for k in ("set", "file_format", "set_hash", "cases") if k not in document]
    if missing or document["file_format"] not in FORMATS or document["set"] not in SETS:
        raise VectorsError(
            f"{path}: malformed manifest (missing {missing}, or a file_format not in {FORMATS},"
            f" or a set not in {SETS})"
        )
    return document


def _spec(case_id: str, spec: object) -> ResolvedSpec:
    try:
        return ResolvedSpec(
            spec["mode"],
            tuple((int(lo), int(hi)) for lo, hi in spec["padding"]),
            tuple(int(s) for s in spec["stride"]),
            tuple(int(d) for d in spec["dilation"]),
            int(spec["groups"]),
            bool(spec["flip"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise VectorsError(f"case {case_id!r}: malformed spec {spec!r}") from error


def _case(directory: Path, entry: object, file_format: str) -> VectorCase:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise VectorsError(f"{directory / MANIFEST}: malformed case entry {entry!r}")
    case_id = entry["id"]
    expected_file = f"{CASES_DIR}/{case_id}.{file_format}"
    if entry.get("file") != expected_file:
        raise VectorsError(
            f"case {case_id!r}: file {entry.get('file')!r}, expected {expected_file}"
        )
    try:
        arrays = read_arrays(directory / expected_file)
    except FormatError as error:
        raise VectorsError(f"case {case_id!r}: {error}") from error
    kind = entry.get("kind")
    required = _REQUIRED + (tuple(f"{n}_bound" for n in OUTPUTS) if kind == "float" else ())
    absent = [n for n in required if n not in arrays]
    if absent:
        raise VectorsError(f"case {case_id!r}: {expected_file} lacks arrays {absent}")
    digest = case_hash(case_id, kind, entry.get("spec", {}), arrays)
    if digest != entry.get("hash"):
        raise VectorsError(
            f"case {case_id!r}: content hash {digest} does not match the manifest's"
            f" {entry.get('hash')}; the vectors were modified"
        )
    return VectorCase(
        case_id, kind, str(entry.get("note", "")), _spec(case_id, entry["spec"]), arrays
    )


def load(directory: str | Path) -> VectorSet:
    """Read and verify a vector set written by `convgrad.vectors.export`.

    VectorsError (a ValueError) naming the case when a file is missing, unreadable or its
    content does not match its hash, when the set hash does not match, or when a set this
    convgrad ships differs from the committed hashes.
    """
    directory = Path(directory)
    document = _manifest(directory)
    loaded = tuple(_case(directory, e, document["file_format"]) for e in document["cases"])
    ids = [c.id for c in loaded]
    if len(set(ids)) != len(ids):
        raise VectorsError(f"{directory / MANIFEST}: duplicate case ids")
    digest = set_hash(document["set"], [(e["id"], e["hash"]) for e in document["cases"]])
    if digest != document["set_hash"]:
        raise VectorsError(
            f"{directory / MANIFEST}: set hash {digest} does not match the manifest's"
            f" {document['set_hash']}; the manifest was modified"
        )
    committed = committed_summary(document["set"])
    if committed is not None and committed["set_hash"] != digest:
        changed = sorted(
            set(committed["cases"].items()) ^ {(e["id"], e["hash"]) for e in document["cases"]}
        )
        raise VectorsError(
            f"{directory}: set {document['set']!r} has hash {digest}, but this convgrad ships"
            f" {committed['set_hash']}; differing cases: {sorted({i for i, _ in changed})}"
        )
    return VectorSet(directory, document, loaded)
