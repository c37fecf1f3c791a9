"""Parsing of command-line values (shapes, int lists, pads); errors name the flag and the rule.

Every error is a `convgrad.cli.UsageError`: one line, exit code 2.
"""

from __future__ import annotations

import re

from convgrad.cli import UsageError

_SIZE = re.compile(r"\d+")


def shape(flag: str, text: str) -> tuple[int, ...]:
    """``128x128x3`` (or ``128,128,3``) as a tuple of sizes >= 1."""
    parts = re.split(r"[x,]", text.strip())
    for part in parts:
        if not _SIZE.fullmatch(part.strip()) or int(part) < 1:
            raise UsageError(
                f"{flag} {text!r}: every size must be an integer >= 1, got {part.strip()!r}"
                " (write a shape as 128x128x3)"
            )
    return tuple(int(p) for p in parts)


def ints(flag: str, text: str, minimum: int) -> tuple[int, ...]:
    """``2`` or ``1,2``: integers >= minimum, as a tuple."""
    parts = text.split(",")
    for part in parts:
        if not re.fullmatch(r"-?\d+", part.strip()) or int(part) < minimum:
            raise UsageError(
                f"{flag} {text!r}: expected integers >= {minimum} separated by commas,"
                f" got {part.strip()!r}"
            )
    return tuple(int(p) for p in parts)


def one_int(flag: str, text: str, minimum: int) -> int:
    """``2``: one integer >= minimum."""
    values = ints(flag, text, minimum)
    if len(values) != 1:
        raise UsageError(f"{flag} {text!r} must be one integer >= {minimum}")
    return values[0]


def words(flag: str, text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``valid,same``: names from ``allowed``, as a tuple."""
    items = tuple(part.strip() for part in text.split(","))
    for item in items:
        if item not in allowed:
            raise UsageError(f"{flag} {text!r}: {item!r} is not one of {', '.join(allowed)}")
    return items


def pads(flag: str, text: str) -> int | tuple:
    """Explicit pads: ``1`` (every side), ``1,2`` (per dim) or ``1:2,0:1`` (lo:hi per dim)."""
    if ":" not in text:
        values = ints(flag, text, 0)
        return values[0] if len(values) == 1 else values
    pairs = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", part)
        if match is None:
            raise UsageError(
                f"{flag} {text!r}: write lo:hi pairs >= 0 per spatial dim, e.g. 1:2,0:1;"
                f" got {part.strip()!r}"
            )
        pairs.append((int(match.group(1)), int(match.group(2))))
    return tuple(pairs)


def shard(flag: str, text: str):
    """``2/4``: shard 2 of 4, as a `convgrad.sharding.Shard` (1 <= i <= n)."""
    from convgrad.sharding import parse_shard

    try:
        return parse_shard(text)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r}: write i/n with 1 <= i <= n (shard i of n), e.g. 1/4"
        ) from None
