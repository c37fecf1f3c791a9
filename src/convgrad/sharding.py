"""Shards: one run (``convgrad report``, ``convgrad audit``) split over several processes or
machines, and the rules by which their results are merged back into one (``convgrad merge``).

Shard ``i/n`` (1 <= i <= n) takes the run's items (the sweep's cases, the audit's cells) in
the order the whole run would take them, item ``j`` (from 0) going to shard ``j % n + 1``: a
round robin, so that the expensive items at the start (the report's 128x128 layer, the
audit's first framework) spread over the shards. Every item's data depend on the seed and the
item alone, so the shards together compute what the whole run computes.

Shards merge when they are the complete set of one run: the same count n, each index
1..n exactly once, and the same settings (seed, profile, versions, ...: the keys that each
kind of run names, `check_complete`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple, TypeVar

T = TypeVar("T")

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


class Shard(NamedTuple):
    """Shard ``index`` of ``count`` (1 <= index <= count)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def record(self) -> dict:
        """The JSON record of the shard in a result's ``meta["shard"]``."""
        return {"index": self.index, "count": self.count}


def _checked(index: int, count: int, given: str) -> Shard:
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"shard={given!r}: write i/n with 1 <= i <= n (shard i of n), e.g. 1/4")
    return Shard(index, count)


def parse_shard(text: str) -> Shard:
    """``"2/4"`` as ``Shard(2, 4)``. ValueError naming the text and the rule (``i/n`` with
    1 <= i <= n) for anything else: ``"3/2"``, ``"0/2"``, ``"a/b"``."""
    if not isinstance(text, str):
        raise TypeError(f"shard={text!r} must be a str such as '1/4'")
    match = _SHARD.fullmatch(text)
    if match is None:
        raise ValueError(f"shard={text!r}: write i/n with 1 <= i <= n (shard i of n), e.g. 1/4")
    return _checked(int(match.group(1)), int(match.group(2)), text)


def check_shard(shard: Shard | tuple[int, int] | str) -> Shard:
    """A `Shard` from a Shard, an ``(index, count)`` pair of ints or ``"i/n"`` text;
    TypeError or ValueError naming the value and the rule."""
    if isinstance(shard, str):
        return parse_shard(shard)
    if (
        not isinstance(shard, tuple)
        or len(shard) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) for v in shard)
    ):
        raise TypeError(f"shard={shard!r} must be an (index, count) pair of ints or 'i/n' text")
    return _checked(shard[0], shard[1], f"{shard[0]}/{shard[1]}")


def take(items: Sequence[T], shard: Shard) -> list[T]:
    """The items of ``shard``: ``items[index - 1 :: count]``. ValueError when that is none
    (more shards than items)."""
    chosen = list(items[shard.index - 1 :: shard.count])
    if not chosen:
        raise ValueError(
            f"shard {shard} selects nothing: the run has {len(items)} item(s), fewer than"
            f" {shard.count} shards"
        )
    return chosen


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_complete(shards: Sequence[tuple[str, Mapping]], agree: Sequence[str]) -> int:
    """Check that ``shards`` (``(name, meta)`` pairs: a file's name and its result's ``meta``)
    are the whole of one sharded run; returns their count n.

    Rules, each a ValueError naming the files: every meta has a ``shard`` record (it was
    written with ``--shard``); all have the same count n; each index 1..n appears exactly
    once; and ``meta[key]`` is the same in all for every key of ``agree`` (the run's
    settings and versions).
    """
    if not shards:
        raise ValueError("merge needs at least one shard")
    found: dict[int, str] = {}
    first_name, first = shards[0]
    count = None
    for name, meta in shards:
        record = meta.get("shard")
        if not isinstance(record, Mapping):
            raise ValueError(f"{name!r} was not written with --shard i/n; merge takes shards")
        shard = check_shard((record.get("index"), record.get("count")))
        if count is None:
            count = shard.count
        elif shard.count != count:
            raise ValueError(
                f"shards of different counts: {first_name!r} is of {count},"
                f" {name!r} is {shard}; merge the shards of one run"
            )
        if shard.index in found:
            raise ValueError(
                f"shard {shard} is given twice ({found[shard.index]!r} and {name!r});"
                " give each shard once"
            )
        found[shard.index] = name
        for key in agree:
            if meta.get(key) != first.get(key):
                raise ValueError(
                    f"shards disagree on {key}: {_describe(first.get(key))} in {first_name!r},"
                    f" {_describe(meta.get(key))} in {name!r}; merge the shards of one run"
                )
    missing = [i for i in range(1, count + 1) if i not in found]
    if missing:
        raise ValueError(
            f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing (given:"
            f" {', '.join(f'{i}/{count}' for i in sorted(found))}); merge needs all {count}"
        )
    return count


def check_layout(
    shards: Sequence[tuple[str, object]], schema: str, version: int, what: str
) -> None:
    """ValueError naming the file unless every shard's data is a dict of ``schema`` (``what``
    names it, e.g. "report.json") at ``version``."""
    for name, data in shards:
        if not isinstance(data, dict) or data.get("schema") != schema:
            raise ValueError(f"{name!r} is not a convgrad {what}")
        if data.get("schema_version") != version:
            raise ValueError(
                f"{name!r} has schema_version={data.get('schema_version')!r}; this convgrad"
                f" merges version {version}"
            )


def merged_meta(metas: Sequence[Mapping]) -> dict:
    """The whole run's ``meta`` from its shards' (first shard's key order): the first's
    values without ``shard``; ``date`` the latest, ``seconds`` the sum, ``platform`` the
    shards' platforms joined by `` | `` when they differ."""
    meta = {key: value for key, value in metas[0].items() if key != "shard"}
    platforms = list(dict.fromkeys(str(m.get("platform")) for m in metas))
    meta["platform"] = " | ".join(platforms)
    meta["date"] = max(m["date"] for m in metas)
    meta["seconds"] = round(sum(m["seconds"] for m in metas), 2)
    return meta


__all__ = [
    "Shard",
    "check_complete",
    "check_layout",
    "check_shard",
    "merged_meta",
    "parse_shard",
    "take",
]
