"""Reading a vector set back and proving it untouched: every case hash, the set hash, and for a
set this convgrad ships, the committed hashes (`src/convgrad/data/<set>_manifest.json`)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convgrad.spec import MODES, PADDING_MODES, ResolvedSpec
from convgrad.vectors.cases import KINDS, OPS, SETS
from convgrad.vectors.formats import FORMATS, FormatError, read_arrays
from convgrad.vectors.generate import OUTPUTS
from convgrad.vectors.hashing import (
    FORMAT,
    FORMAT_VERSION,
    case_hash,
    committed_summary,
    set_hash,
)
from convgrad.vectors.writing import CASES_DIR, MANIFEST

_REQUIRED = ("x", "w", "grad_y", *OUTPUTS)


class VectorsError(ValueError):
    """A vector set that is unreadable, of another format version, or tampered with."""


@dataclass(frozen=True)
class VectorCase:
    """One loaded case: its spec and float64 arrays (see `convgrad.vectors.writing.DESCRIPTION`
    for the names and shapes); ``op`` "conv" or "conv_transpose" (then ``spec`` is that of the
    conv it transposes, and ``output_padding`` holds one int per spatial dim)."""

    id: str
    kind: str
    note: str
    spec: ResolvedSpec
    arrays: dict[str, np.ndarray]
    op: str = "conv"
    output_padding: tuple[int, ...] = ()

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


_CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
"""A case id is a plain file name: it names ``cases/<id>.<format>`` and ``<id>.<format>`` in
a results folder, so it may not hold a path separator or ``..``."""
_MAX_VALUES = 1 << 24
"""The most values one array of a case may declare (128 MiB of float64; the shipped sets' largest
arrays hold hundreds)."""
_SPEC_KEYS = ("mode", "padding", "stride", "dilation", "groups", "flip")


def _type_name(value: object) -> str:
    return f"{type(value).__name__} {value!r}"[:120]


def _manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.is_file():
        raise VectorsError(f"{directory} is not a vector set: {MANIFEST} is missing")
    if path.resolve().parent != directory.resolve():
        raise VectorsError(f"{path} leads outside {directory.resolve()}; not opened")
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        raise VectorsError(f"{path}: unreadable manifest: {error!r}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise VectorsError(f"{path}: not a manifest of format {FORMAT!r}")
    if document.get("format_version") != FORMAT_VERSION:
        raise VectorsError(
            f"{path}: format_version={document.get('format_version')!r}, but this convgrad reads"
            f" version {FORMAT_VERSION}; use the convgrad that wrote it"
        )
    fields = (
        ("set", lambda v: v in SETS, f"one of {SETS}"),
        ("file_format", lambda v: v in FORMATS, f"one of {FORMATS}"),
        ("set_hash", lambda v: isinstance(v, str), "a string"),
        ("cases", lambda v: isinstance(v, list), "a list of case objects"),
    )
    for name, valid, expected in fields:
        if name not in document:
            raise VectorsError(f"{path}: field {name!r} is missing; it must be {expected}")
        if not valid(document[name]):
            raise VectorsError(
                f"{path}: field {name!r} must be {expected}, got {_type_name(document[name])}"
            )
    return document


def _shapes(where: str, shapes: object) -> dict[str, int]:
    """The values each array of a case holds, from its manifest entry's ``shapes``."""
    if not isinstance(shapes, dict):
        raise VectorsError(
            f"{where}: field 'shapes' must be an object {{array name: list of ints}},"
            f" got {_type_name(shapes)}"
        )
    sizes = {}
    for name, shape in shapes.items():
        if not (
            isinstance(shape, list)
            and all(type(n) is int and 0 <= n <= _MAX_VALUES for n in shape)
            and math.prod(shape) <= _MAX_VALUES
        ):
            raise VectorsError(
                f"{where}: shapes[{name!r}] must be a list of sizes holding at most"
                f" {_MAX_VALUES} values, got {_type_name(shape)}"
            )
        sizes[name] = math.prod(shape)
    return sizes


def _entry(
    path: Path, index: int, entry: object, file_format: str
) -> tuple[dict[str, int], Parsed]:
    """Check one manifest entry's fields (``path``: the manifest), its spec and where its file
    resolves, before any file is opened; its arrays' sizes and its parsed spec."""
    if not isinstance(entry, dict):
        raise VectorsError(f"{path}: cases[{index}] must be an object, got {_type_name(entry)}")
    case_id = entry.get("id")
    if not isinstance(case_id, str) or not _CASE_ID.fullmatch(case_id) or ".." in case_id:
        raise VectorsError(
            f"{path}: cases[{index}]: field 'id' must be a plain name (letters, digits, '.', '_',"
            f" '-'; no '..'), got {_type_name(case_id)}; nothing outside the set is opened"
        )
    where = f"{path}: case {case_id!r}"
    fields = (
        ("kind", lambda v: v in KINDS, f"one of {KINDS}"),
        ("spec", lambda v: isinstance(v, dict), f"an object with {', '.join(_SPEC_KEYS)}"),
        ("hash", lambda v: isinstance(v, str), "a string"),
    )
    for name, valid, expected in fields:
        if not valid(entry.get(name)):
            raise VectorsError(
                f"{where}: field {name!r} must be {expected}, got {_type_name(entry.get(name))}"
            )
    expected_file = f"{CASES_DIR}/{case_id}.{file_format}"
    if entry.get("file") != expected_file:
        raise VectorsError(
            f"{where}: field 'file' is {entry.get('file')!r}, expected {expected_file!r}"
        )
    parsed = _spec(where, entry["spec"])
    _case_path(path.parent, case_id, file_format)
    return _shapes(where, entry.get("shapes")), parsed


def _ints(value: object, minimum: int) -> bool:
    return isinstance(value, list) and all(type(v) is int and v >= minimum for v in value)


_SPEC_FIELDS = (
    ("mode", lambda v: v in (*MODES, "explicit"), f"one of {(*MODES, 'explicit')}"),
    (
        "padding",
        lambda v: isinstance(v, list) and all(_ints(p, 0) and len(p) == 2 for p in v),
        "a list of [lo, hi] int pairs >= 0, one per spatial dim",
    ),
    ("stride", lambda v: _ints(v, 1), "a list of ints >= 1, one per spatial dim"),
    ("dilation", lambda v: _ints(v, 1), "a list of ints >= 1, one per spatial dim"),
    ("groups", lambda v: type(v) is int and v >= 1, "an int >= 1"),
    ("flip", lambda v: type(v) is bool, "true or false"),
    ("padding_mode", lambda v: v in PADDING_MODES, f"absent or one of {PADDING_MODES}"),
)
_OUTPUT_PADDING = ("output_padding", lambda v: _ints(v, 0), "a list of ints >= 0 per spatial dim")

Parsed = tuple[ResolvedSpec, str, tuple[int, ...]]
"""A case's resolved spec, its op and its output_padding (``()`` for a conv)."""


def _spec(where: str, spec: dict) -> Parsed:
    """Read a manifest entry's ``spec``; VectorsError naming the field and its expected type."""
    op = spec.get("op", "conv")
    if op not in OPS:
        raise VectorsError(f"{where}: spec 'op' must be one of {OPS}, got {op!r}")
    fields = _SPEC_FIELDS if op == "conv" else (*_SPEC_FIELDS, _OUTPUT_PADDING)
    values = {"padding_mode": "zeros", **spec}
    for name, valid, expected in fields:
        if not valid(values.get(name)):
            raise VectorsError(
                f"{where}: spec field {name!r} must be {expected}, got"
                f" {_type_name(values.get(name))}; need {', '.join(_SPEC_KEYS)}"
                " (and output_padding for a conv_transpose)"
            )
    per_dim = ("padding", "stride", "dilation") + (("output_padding",) if op != "conv" else ())
    if len({len(values[name]) for name in per_dim}) != 1:
        raise VectorsError(
            f"{where}: spec fields {', '.join(per_dim)} must each hold one entry per spatial"
            f" dim, got {[values[name] for name in per_dim]}"
        )
    resolved = ResolvedSpec(
        values["mode"],
        tuple((lo, hi) for lo, hi in values["padding"]),
        tuple(values["stride"]),
        tuple(values["dilation"]),
        values["groups"],
        values["flip"],
        values["padding_mode"],
    )
    return resolved, op, tuple(values["output_padding"]) if op != "conv" else ()


def _case_path(directory: Path, case_id: str, file_format: str) -> Path:
    """``DIR/cases/<id>.<format>``; VectorsError when it resolves outside the set's folder (a
    link in the way: ``cases/`` or the file itself)."""
    path = directory / CASES_DIR / f"{case_id}.{file_format}"
    inside = directory.resolve() / CASES_DIR
    if not path.resolve().is_relative_to(inside):
        raise VectorsError(f"case {case_id!r}: {path} leads outside {inside}; not opened")
    return path


def _case(
    directory: Path, entry: dict, checked: tuple[dict[str, int], Parsed], file_format: str
) -> VectorCase:
    case_id, kind = entry["id"], entry["kind"]
    sizes, (spec, op, output_padding) = checked
    path = _case_path(directory, case_id, file_format)
    try:
        arrays = read_arrays(path, sizes)
    except FormatError as error:
        raise VectorsError(f"case {case_id!r}: {error}") from error
    required = _REQUIRED + (tuple(f"{n}_bound" for n in OUTPUTS) if kind == "float" else ())
    absent = [n for n in dict.fromkeys((*required, *sizes)) if n not in arrays]
    if absent:
        raise VectorsError(f"case {case_id!r}: {CASES_DIR}/{path.name} lacks arrays {absent}")
    for name, array in arrays.items():
        if list(array.shape) != entry["shapes"][name]:
            raise VectorsError(
                f"case {case_id!r}: array {name!r} has shape {array.shape}; the manifest says"
                f" {entry['shapes'][name]}"
            )
    digest = case_hash(case_id, kind, entry["spec"], arrays)
    if digest != entry["hash"]:
        raise VectorsError(
            f"case {case_id!r}: content hash {digest} does not match the manifest's"
            f" {entry['hash']}; the vectors were modified"
        )
    return VectorCase(case_id, kind, str(entry.get("note", "")), spec, arrays, op, output_padding)


def load(directory: str | Path) -> VectorSet:
    """Read and verify a vector set written by `convgrad.vectors.writing`.

    VectorsError (a ValueError) naming the case when a file is missing, unreadable or its
    content does not match its hash, when the set hash does not match, or when a set this
    convgrad ships differs from the committed hashes.
    """
    directory = Path(directory)
    document = _manifest(directory)
    file_format = document["file_format"]
    entries = document["cases"]
    checked = [_entry(directory / MANIFEST, i, e, file_format) for i, e in enumerate(entries)]
    ids = [e["id"] for e in entries]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise VectorsError(f"{directory / MANIFEST}: duplicate case ids {repeated}")
    loaded = tuple(
        _case(directory, e, c, file_format) for e, c in zip(entries, checked, strict=True)
    )
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
