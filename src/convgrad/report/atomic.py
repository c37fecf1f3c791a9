"""Writing report files without losing anyone's file: atomic replacement (a temporary file in the
target's folder, then ``os.replace``, atomic on POSIX), a refusal to overwrite a file convgrad did
not write, and a report folder's ``index.html`` and ``report.json`` written as one pair.

What marks a file as convgrad's (something a person does not write by accident):

- a page: it opens with the template's own first lines and its ``<head>`` holds the generator
  tag ``<meta name="generator" content="convgrad-report <schema version>">`` on a line of its
  own (`generator_tag`; a sweep's page adds the SHA-256 of its report.json);
- a JSON file: an object that is a sweep's report.json (``"schema": "convgrad-report"`` with an
  integer ``schema_version``), a pytest session's report (``"generator": "convgrad-report"``) or
  a `convgrad.VerifyResult.to_dict()` (its five keys).

The pair (`write_pair`): both files are written to temporary names, a journal naming the renames
is committed, then the renames run and the journal is removed, all under an exclusive lock on
the folder. Concurrent writers take turns, so the last one's pair stands whole; a writer killed
after the journal is committed leaves it behind, and the next writer (already in its check
before a sweep, `check_pair`) completes those renames before anything else (`recover`). The
page's generator tag names report.json's SHA-256, so a reader can check that the two files
belong together (`page_generator` reads the tag back).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

MARKER = "convgrad-report"
"""The generator name in every page's ``<meta name="generator">`` and in report JSON files."""

_HEAD = b'<!DOCTYPE html>\n<html lang="en">\n<head>\n'
_GENERATOR = re.compile(
    rb'^<meta name="generator" content="convgrad-report (\d+)"'
    rb'(?: data-report-json="sha256:([0-9a-f]{64})")?>$',
    re.MULTILINE,
)
_SNIFF = 4096
_JSON_LIMIT = 1 << 28
"""Bytes of JSON read to decide whether a file is a report (a sweep's report.json is ~MBs)."""
_VERIFY_KEYS = frozenset({"schema_version", "ok", "examples", "settings", "failures"})
_PAIR_PREFIX = ".convgrad-report."
JOURNAL = ".convgrad-report.commit"
"""The journal a pair's writer leaves only when killed between committing and renaming."""

Owned = Callable[[Path], bool]


def generator_tag(schema_version: int, json_sha256: str | None = None) -> str:
    """The page's ``<meta name="generator">`` line; with the SHA-256 (hex) of its report.json
    when the page is one of a pair."""
    pair = "" if json_sha256 is None else f' data-report-json="sha256:{json_sha256}"'
    return f'<meta name="generator" content="{MARKER} {int(schema_version)}"{pair}>'


def page_generator(path: Path) -> tuple[int, str | None] | None:
    """(schema version, report.json SHA-256 or None) of a convgrad page; None for any other
    file (read: its first 4 KiB)."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF)
    if not head.startswith(_HEAD):
        return None
    end = head.find(b"</head>")
    match = _GENERATOR.search(head if end < 0 else head[:end])
    if match is None:
        return None
    digest = match.group(2)
    return int(match.group(1)), None if digest is None else digest.decode()


def is_page(path: Path) -> bool:
    """Whether ``path`` is a page convgrad wrote."""
    return page_generator(path) is not None


def is_result_json(path: Path) -> bool:
    """Whether ``path`` is a report or result JSON file convgrad wrote."""
    if path.stat().st_size > _JSON_LIMIT:
        return False
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        return False
    if not isinstance(data, dict):
        return False
    version = data.get("schema_version")
    sweep = data.get("schema") == MARKER and type(version) is int
    return sweep or data.get("generator") == MARKER or data.keys() >= _VERIFY_KEYS


def is_report(path: Path) -> bool:
    """Whether ``path`` is a page or a JSON file convgrad wrote."""
    return is_page(path) or is_result_json(path)


def check_target(path: str | os.PathLike, owned: Owned = is_report) -> Path:
    """``path`` as a Path, when a file may be written there: it does not exist, or ``owned``
    says it is convgrad's to replace.

    TypeError for a path that is not str or PathLike; IsADirectoryError for a folder;
    FileExistsError for a file that is not convgrad's; NotADirectoryError when a parent is a file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path={path!r} must be a str or os.PathLike")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path={str(path)!r} is a folder; give a file name")
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise NotADirectoryError(f"path={str(path)!r}: {str(parent)!r} is not a folder")
            break
    if (path.exists() or path.is_symlink()) and not owned(path):
        raise FileExistsError(
            f"path={str(path)!r} exists and is not a convgrad report; refusing to overwrite it"
            " (remove it or choose another path)"
        )
    return path


def _temporary(folder: Path, prefix: str, text: str, target: Path) -> Path:
    """A new file in ``folder`` holding ``text`` (UTF-8), flushed to disk, mode 0644; an
    OSError names ``target``, the file it is for, not the temporary name."""
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    except OSError as error:
        raise type(error)(error.errno, error.strerror, str(target)) from error
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(name, 0o644)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def write_text(path: str | os.PathLike, text: str, owned: Owned = is_report) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; create missing folders.

    Raises as `check_target` does (nothing is written then), and OSError when the folder
    cannot be written (no temporary file is left behind).
    """
    path = check_target(path, owned)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path.parent, f".{path.name}.", text, path)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _fsync_folder(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself (``flock`` of its descriptor: no lock file)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def recover(folder: Path, names: Sequence[str]) -> None:
    """Complete a pair commit that a killed writer left half done (its journal names the
    renames; each temporary file of ``names`` still present is renamed into place), then remove
    temporary files of pair writers that died before committing. Call with the folder's lock
    held."""
    journal = folder / JOURNAL
    if journal.exists():
        try:
            renames = json.loads(journal.read_text())["renames"]
        except (OSError, ValueError, KeyError, TypeError):
            renames = []
        for entry in renames if isinstance(renames, list) else []:
            if not (isinstance(entry, list) and len(entry) == 2):
                continue
            temporary, final = entry
            if (
                final in names
                and isinstance(temporary, str)
                and temporary.startswith(f"{_PAIR_PREFIX}{final}.")
                and "/" not in temporary
                and (folder / temporary).is_file()
            ):
                os.replace(folder / temporary, folder / final)
        _fsync_folder(folder)
        journal.unlink()
    for stale in folder.glob(f"{_PAIR_PREFIX}*.tmp"):
        stale.unlink(missing_ok=True)


def check_writable(path: str | os.PathLike) -> None:
    """OSError naming ``path`` when no file can be created in its folder; for a folder yet to
    be made, naming the first one to make when the nearest existing folder takes no new entry
    (a file is created and removed to find out: the permission bits do not tell, e.g. for
    root)."""
    path = Path(path)
    made = path
    for existing in path.parents:
        if existing.exists():
            if existing.is_dir():
                _temporary(existing, f"{_PAIR_PREFIX}probe.", "", made).unlink()
            return
        made = existing


def _check_names(folder: Path, owners: dict[str, Owned]) -> None:
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{str(folder)!r} is a file, not a folder; give a folder")
    for name, owned in owners.items():
        check_target(folder / name, owned)


def check_pair(folder: str | os.PathLike, owners: dict[str, Owned]) -> Path:
    """``folder`` as a Path, when a pair may be written there: it is a folder or does not exist,
    and each of ``owners``' names in it is absent or convgrad's (``owners[name](path)``).
    A commit a killed writer left half done is completed first (`recover`); nothing else is
    written.

    NotADirectoryError when ``folder`` (or a parent) is a file; IsADirectoryError or
    FileExistsError (as `check_target`) for a name in the way; OSError when the folder exists
    and cannot be written (`check_writable`).
    """
    folder = Path(folder)
    _check_names(folder, {})
    if folder.is_dir():
        with _locked(folder):
            recover(folder, tuple(owners))
    _check_names(folder, owners)
    check_writable(folder / next(iter(owners)))
    return folder


def write_pair(
    folder: str | os.PathLike, texts: dict[str, str], owners: dict[str, Owned]
) -> list[Path]:
    """Write ``texts`` ({file name: text}) into ``folder`` so that they are replaced together
    (see the module's docstring); create the folder if needed. Returns the paths, in
    ``texts``' order.

    Raises as `check_pair` does (checked again under the lock; nothing is written then), and
    OSError when the folder cannot be written (the old files stay, no temporary file is left).
    """
    folder = Path(folder)
    _check_names(folder, owners)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        recover(folder, tuple(texts))
        _check_names(folder, owners)
        temporaries: list[Path] = []
        try:
            for name, text in texts.items():
                temporaries.append(
                    _temporary(folder, f"{_PAIR_PREFIX}{name}.", text, folder / name)
                )
            renames = [[t.name, name] for t, name in zip(temporaries, texts, strict=True)]
            journal = json.dumps({"renames": renames})
            temporaries.append(_temporary(folder, _PAIR_PREFIX, journal, folder / JOURNAL))
            os.replace(temporaries[-1], folder / JOURNAL)
        except BaseException:
            for temporary in temporaries:
                temporary.unlink(missing_ok=True)
            raise
        _fsync_folder(folder)
        for temporary, name in zip(temporaries[:-1], texts, strict=True):
            os.replace(temporary, folder / name)
        _fsync_folder(folder)
        (folder / JOURNAL).unlink()
    return [folder / name for name in texts]


def sha256_text(text: str) -> str:
    """The SHA-256 (hex) of ``text`` as UTF-8: what a page's generator tag names."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
