"""Failures grouped by root cause: what went wrong (the output and the kind of check) and the
features its minimal problem needed (stride > 1 with a remainder, dilation > 1, groups, a padding
mode, flip). Every failure is shrunk on its own, so the features left in its minimal problem are
those it cannot do without; failures sharing both are one cause ("grad_input wrong whenever
stride > 1 with a remainder: 3 failures").

Works on `Failure.to_dict` records, so the report renders causes from JSON as verify prints them.
"""

from __future__ import annotations

from collections.abc import Sequence

_SUBJECT = {
    "raised": "{call} raises",
    "shape": "{output} has the wrong shape",
    "dtype": "{output} has the wrong dtype",
    "finite": "{output} is not finite",
    "determinism": "{output} is nondeterministic",
    "no_mutation": "{call} modifies its input arrays",
    "layout": "{output} wrong or raises on other memory layouts (views, Fortran order, read-only)",
    "state": "{output} depends on an earlier call (a cached input or a reused buffer)",
    "unsupported": "{call} does not support",
}
"""What failed, per check; the value checks (value, exact, adjoint, finite differences,
linearity) all say "{output} wrong"."""


def _declined(failure: dict) -> bool:
    """An "unsupported" failure, or (``strict=True``'s search) a call that raised
    NotImplementedError."""
    return failure["check"] == "unsupported" or (
        failure["check"] == "raised" and " raised NotImplementedError" in failure["message"]
    )


def subject(failure: dict) -> str:
    """What failed, in words: the output (or the call, for whole-call checks) and how."""
    output = failure["output"]
    call = "forward" if output == "forward" else "backward"
    check = "unsupported" if _declined(failure) else failure["check"]
    return _SUBJECT.get(check, "{output} wrong").format(output=output, call=call)


def features(problem: dict) -> tuple[str, ...]:
    """The features of a problem (`ConvProblem.describe`) beyond the plainest convolution
    ('valid', stride, dilation and groups 1, cross-correlation, zero pads)."""
    spec, x, w = problem["spec"], problem["x"], problem["w"]
    found = []
    if spec["mode"] != "valid":
        found.append(f"padding={spec['mode']!r}")
    strides = spec["stride"]
    if any(s > 1 for s in strides):
        remainder = any(
            (i + lo + hi - d * (k - 1) - 1) % s
            for i, (lo, hi), d, k, s in zip(
                x[2:], spec["padding"], spec["dilation"], w[2:], strides, strict=True
            )
        )
        found.append("stride > 1 with a remainder" if remainder else "stride > 1")
    if any(d > 1 for d in spec["dilation"]):
        found.append("dilation > 1")
    if spec["groups"] > 1:
        found.append("depthwise" if spec["groups"] == x[1] else "groups > 1")
    if spec["flip"]:
        found.append("flip=True")
    if spec.get("padding_mode", "zeros") != "zeros":
        found.append(f"padding_mode={spec['padding_mode']!r}")
    return tuple(found)


def group(failures: Sequence[dict]) -> list[dict]:
    """One record per cause, most specific (most features) first, then the most failures:
    ``{"summary", "count", "failures"}``, ``failures`` the indices into ``failures``."""
    causes: dict[tuple, list[int]] = {}
    for j, failure in enumerate(failures):
        # A layout failure's problem holds the layout its shapes drew (`layout_for`), not the
        # features the failure needs: it is one cause whatever its spec.
        needs = () if failure["check"] == "layout" else features(failure["problem"])
        causes.setdefault((subject(failure), needs), []).append(j)
    ordered = sorted(causes.items(), key=lambda item: (-len(item[0][1]), -len(item[1])))
    records = []
    for (what, needs), indices in ordered:
        first = failures[indices[0]]
        if _declined(first):
            # Without a feature, what it declines is the plainest problem of its rank or dtype.
            rank = len(first["problem"]["x"]) - 2
            where = " and ".join(needs) or (
                f"even the plainest {rank}-D {first['problem']['dtype']} problem"
            )
        elif needs:
            where = f"whenever {' and '.join(needs)}"
        elif first["check"] == "layout":
            where = "(the layout each problem drew; see each failure)"
        else:
            rank = len(first["problem"]["x"]) - 2
            where = (
                f"even on the plainest {rank}-D problem ('valid', stride 1, no dilation or groups)"
            )
        count = f"{len(indices)} failure{'s' if len(indices) > 1 else ''}"
        records.append(
            {"summary": f"{what} {where}: {count}", "count": len(indices), "failures": indices}
        )
    return records


__all__ = ["features", "group", "subject"]
