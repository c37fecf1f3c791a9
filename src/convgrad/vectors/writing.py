"""Writing a vector set to a folder: the case files and the JSON manifest, atomically.

The folder is built under a temporary name beside the target and renamed into place, so a
reader never sees half a set. An existing target is replaced only when it is empty or holds
nothing but a vector set (``manifest.json`` and ``cases/`` holding only the case files its
manifest lists); anything else is refused and left untouched.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import numpy as np

from convgrad import __version__
from convgrad.vectors.cases import Case, cases, spec_record
from convgrad.vectors.formats import check_format, write_arrays
from convgrad.vectors.generate import generate, term_counts
from convgrad.vectors.hashing import FORMAT, FORMAT_VERSION, case_hash, set_hash

MANIFEST = "manifest.json"
CASES_DIR = "cases"

DESCRIPTION = (
    "A convgrad conformance vector set. manifest.json lists the cases in order; each case's"
    " arrays are in cases/<id>.<file_format>, all float64 in row-major (C) order: npz holds one"
    ' entry per array, json holds {"arrays": {name: {"dtype": "float64", "shape": [...],'
    ' "data": [...]}}}. Layout is channels first: x (N, C_in, *S), w (C_out, C_in/groups, *K),'
    " b (C_out,) (absent when the case has no bias), grad_y and y (N, C_out, *O), grad_input like"
    " x, grad_weight like w, grad_bias (C_out,); 1, 2 or 3 spatial dims. The operation is"
    " cross-correlation, y[n,o,i] = b[o] + sum_{c,k} w[o,c,k] * xp[n, g*C_in/groups + c, i*s +"
    " k*d] with xp x zero-padded by spec.padding = [[lo, hi], ...] per spatial dim and g the"
    " group of o; spec.flip = true rotates w by 180 degrees in every spatial dim first (true"
    " convolution). spec.mode names the padding rule that produced the pads (valid, same,"
    " same_lower, full, explicit); the pads, stride and dilation are given explicitly, so an"
    " implementation needs no mode logic. spec.padding_mode, when present, says what the pads"
    " hold instead of zeros: 'reflect' (xp[-p] = x[p], the edge not repeated), 'replicate' (the"
    " edge entry) or 'circular' (x wrapped around); grad_input then adds each pad's gradient onto"
    " the entry it copies. A case with spec.op = 'conv_transpose' is a transposed convolution,"
    " the adjoint of the conv its spec describes with respect to that conv's input: x (N, C_in_t,"
    " *S), w (C_in_t, C_out_t/groups, *K) (torch.nn.ConvTranspose's layout, the conv's weight),"
    " b (C_out_t,), y and grad_y (N, C_out_t, *O_t), O_t = (S-1)*s - lo - hi + d*(K-1) +"
    " output_padding + 1 per spatial dim, spec.output_padding smaller than the stride (rows added"
    " at the end). Gradients are those of L = sum(grad_y * y): grad_bias"
    " is grad_y summed over batch and space, and it is given whether or not the case has a bias."
    " Kind 'exact': integer-valued data whose every partial sum is an integer below 2**53, so"
    " a correct float64 implementation must reproduce y, grad_input, grad_weight and grad_bias"
    " exactly (equal as float64 values; -0.0 equals 0.0). Kind 'float': general float64 data;"
    " expected values are the exact results rounded to nearest, and <output>_bound holds a"
    " per-element bound gamma_{n+1} * A (gamma_m = m*u/(1-m*u), u = 2**-53, A the output's"
    " absolute-value operator, n the terms per element given in 'terms'), which any float64"
    " implementation that sums the n products in any order meets: |got - expected| <= bound."
    " Results of an implementation under test go in a folder with one file per case,"
    " <id>.npz or <id>.json in the same array format, holding y, grad_input, grad_weight and"
    " grad_bias; `convgrad vectors check DIR --results RESULTS` compares them. Each case's hash"
    " is SHA-256 of the canonical JSON of its id, kind, spec and arrays (values as float.hex),"
    " and set_hash covers the format version, the set name and every case hash in order."
)


def build(set_name: str) -> list[tuple[Case, dict[str, np.ndarray], str]]:
    """Every case of a set with its arrays and content hash, in the set's order."""
    built = []
    for case in cases(set_name):
        arrays = generate(case)
        built.append((case, arrays, case_hash(case.id, case.kind, spec_record(case), arrays)))
    return built


def summary(set_name: str) -> dict:
    """The hashes of a set as committed in ``src/convgrad/data/<set>_manifest.json``."""
    built = build(set_name)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "set": set_name,
        "set_hash": set_hash(set_name, [(c.id, h) for c, _, h in built]),
        "cases": {c.id: h for c, _, h in built},
    }


def _entry(case: Case, arrays: dict[str, np.ndarray], digest: str, file_format: str) -> dict:
    return {
        "id": case.id,
        "kind": case.kind,
        "note": case.note,
        "file": f"{CASES_DIR}/{case.id}.{file_format}",
        "spec": spec_record(case),
        "bias": case.bias,
        "shapes": {name: list(a.shape) for name, a in arrays.items()},
        "terms": term_counts(case),
        "hash": digest,
    }


def manifest(set_name: str, file_format: str, built) -> dict:
    """The manifest of a built set (see `DESCRIPTION`)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "convgrad_version": __version__,
        "set": set_name,
        "file_format": file_format,
        "set_hash": set_hash(set_name, [(c.id, h) for c, _, h in built]),
        "description": DESCRIPTION,
        "cases": [_entry(c, a, h, file_format) for c, a, h in built],
    }


def _listed_files(manifest_path: Path) -> set[str] | None:
    """The case file names (``<id>.<format>`` under ``cases/``) a set's manifest lists; None
    when the file is not a manifest of this format."""
    try:
        document = json.loads(manifest_path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    entries = document.get("cases")
    if not isinstance(entries, list):
        return None
    files = {e.get("file") for e in entries if isinstance(e, dict)}
    prefix = f"{CASES_DIR}/"
    return {f[len(prefix) :] for f in files if isinstance(f, str) and f.startswith(prefix)}


def _replaceable(target: Path) -> bool:
    """Whether an existing target may be replaced; ValueError when it must not be: it holds
    anything but ``manifest.json`` and ``cases/``, or ``cases/`` holds anything (a folder, a
    file) that its manifest does not list; or, for a new target, when a parent is a file."""
    if not target.exists():
        for parent in target.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ValueError(
                        f"directory={str(target)!r}: {str(parent)!r} is not a folder; nothing"
                        " written"
                    )
                break
        return False
    if not target.is_dir():
        raise ValueError(f"directory={str(target)!r} exists and is not a folder; nothing written")
    names = {p.name for p in target.iterdir()}
    if not names:
        return True
    refusal = (
        f"directory={str(target)!r} is not empty and is not a convgrad vector set; refusing"
        " to overwrite it (choose an empty or new folder)"
    )
    manifest_path = target / MANIFEST
    listed = _listed_files(manifest_path) if manifest_path.is_file() else None
    if not names <= {MANIFEST, CASES_DIR} or listed is None:
        raise ValueError(refusal)
    cases_dir = target / CASES_DIR
    if cases_dir.is_symlink() or (cases_dir.exists() and not cases_dir.is_dir()):
        raise ValueError(f"{refusal}: {str(cases_dir)!r} is not a plain folder")
    for entry in cases_dir.iterdir() if cases_dir.exists() else ():
        if entry.name not in listed or entry.is_symlink() or not entry.is_file():
            raise ValueError(f"{refusal}: {str(entry)!r} is not a case file its manifest lists")
    return True


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new folder with a random name, made by ``mkdir`` (the umask's permissions, unlike
    ``tempfile.mkdtemp``'s 0700: the set is renamed into place as it is)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(8)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def _swap(staging: Path, target: Path) -> None:
    """Put ``staging`` in place of the existing ``target``; on failure the old target is
    restored and nothing is left behind."""
    retired = _new_folder(target.parent, f".{target.name}.old.")
    try:
        target.rename(retired / target.name)
        try:
            staging.rename(target)
        except OSError:
            (retired / target.name).rename(target)
            raise
        shutil.rmtree(retired / target.name)
    finally:
        # Empty unless a restore failed, when it holds the only copy of the old set.
        if not (retired / target.name).exists():
            retired.rmdir()


def export(directory: str | Path, *, set_name: str = "core", file_format: str = "npz") -> Path:
    """Write the vector set ``set_name`` ("core" | "full") to ``directory`` as ``file_format``
    ("npz" | "json") files; returns the manifest's path.

    ValueError for an unknown set or format, or a target that exists and is neither empty
    nor a vector set holding only its own files (then nothing is written); OSError when the
    folder cannot be written (then nothing is left behind). The new folder gets the
    permissions ``mkdir`` would give it. A ``directory`` that is a symbolic link is written
    where the link points; the link stays.
    """
    check_format(file_format)
    cases(set_name)
    # A link to a folder: the set goes where it points, and the link stays (renaming the new
    # set into place would replace the link itself).
    target = Path(directory).resolve() if Path(directory).is_symlink() else Path(directory)
    replace = _replaceable(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = _new_folder(target.parent, f".{target.name}.")
        try:
            built = build(set_name)
            (staging / CASES_DIR).mkdir()
            for case, arrays, _ in built:
                write_arrays(staging / CASES_DIR / f"{case.id}.{file_format}", arrays, file_format)
            document = manifest(set_name, file_format, built)
            (staging / MANIFEST).write_text(json.dumps(document, indent=1) + "\n")
            if replace:
                _swap(staging, target)
            else:
                staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    except OSError as error:
        if error.filename is None:
            raise
        # Named by the target: the temporary folders the error names are gone.
        raise type(error)(error.errno, error.strerror, str(target)) from error
    return target / MANIFEST
