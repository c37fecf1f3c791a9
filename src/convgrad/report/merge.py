"""The report of a whole sweep from its shards' report.json (``convgrad report --shard i/n``,
then ``convgrad merge``).

Each case's data depend on the seed and the case alone (`convgrad.report.sweep.Case.problem`),
so a shard computes exactly the problems and records the whole run computes for its cases;
`merge_sweeps` puts them back in the whole run's order (case ids ascending, each case's
records as its shard wrote them) and rebuilds the summary, tables and failures with
`convgrad.report.model.build_report`.
"""

from __future__ import annotations

from collections.abc import Sequence

from convgrad import sharding
from convgrad.report.model import build_report
from convgrad.schema import REPORT_SCHEMA, REPORT_SCHEMA_VERSION

RUN_SPECIFIC = ("date", "seconds", "command", "bench", "shard", "platform")
"""Keys of a shard's ``meta`` that may differ between the shards of one run; every other
key (seed, profile, ndim, dtype, cases, the versions) must agree."""


def _case_number(problem_id: str) -> int:
    return int(problem_id[1:])


def merge_sweeps(shards: Sequence[tuple[str, dict]]) -> dict:
    """The report dict of the whole run from its shards' (``(name, report.json dict)``
    pairs, in any order). ``meta`` is the shards' without ``shard``; ``date`` the latest,
    ``seconds`` the sum, ``platform`` the shards' platforms joined by `` | `` when they
    differ; ``command``, ``bench`` and ``performance`` are the first shard's, for the writer
    (`convgrad.report.write_merged_report`) to replace.

    ValueError (one line naming the files and the rule) when a file is not a sweep's report
    of this schema version or the shards are not the complete set of one run
    (`convgrad.sharding.check_complete`), or when two shards hold the same case.
    """
    sharding.check_layout(shards, REPORT_SCHEMA, REPORT_SCHEMA_VERSION, "report.json")
    for name, data in shards:
        if data.get("kind") != "sweep":
            raise ValueError(
                f"{name!r} is a {data.get('kind')!r} report; merge takes the shards of"
                " convgrad report (kind 'sweep')"
            )
    metas = [(name, data["meta"]) for name, data in shards]
    agree = sorted(set().union(*(meta.keys() for _, meta in metas)) - set(RUN_SPECIFIC))
    sharding.check_complete(metas, agree)
    owner: dict[str, str] = {}
    problems, records = [], {}
    for name, data in shards:
        for problem in data["problems"]:
            if problem["id"] in owner:
                raise ValueError(
                    f"case {problem['id']} is in two shards ({owner[problem['id']]!r} and"
                    f" {name!r}); merge the shards of one run"
                )
            owner[problem["id"]] = name
            problems.append(problem)
            records[problem["id"]] = []
        for record in data["records"]:
            records[record["problem"]].append(record)
    problems.sort(key=lambda p: _case_number(p["id"]))
    ordered = [record for p in problems for record in records[p["id"]]]
    first = shards[0][1]
    meta = sharding.merged_meta([data["meta"] for _, data in shards])
    return build_report(problems, ordered, meta, first.get("performance"))


__all__ = ["RUN_SPECIFIC", "merge_sweeps"]
