"""Accuracy plots as inline SVG: matplotlib's SVG renderer, no files, no network.

Figures are built as `matplotlib.figure.Figure` objects, never through pyplot, so rendering a
report neither needs a display nor changes the backend of a caller's session (a notebook).

One strip plot per output: each source of evidence is a row, each comparison a dot at its
error/bound ratio on a log axis, the bound (ratio 1) a red line. Ratios of exactly 0 (bit-exact
results) cannot sit on a log axis; they are drawn as hollow marks in a column labelled "0" left
of the smallest non-zero ratio, so no comparison is hidden.

One bar chart of the benchmark's per-layer time ratios (ours / torch), a bar per layer and
dtype, with vertical reference lines (1 = torch's time, and the per-dtype limits).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence

import numpy as np

_ID = re.compile(r'id="([^"]+)"')
_OK_COLOR, _ZERO_COLOR, _BOUND_COLOR = "#2b6cb0", "#718096", "#c53030"
# float32 bars are hatched as well as coloured, so the two dtypes differ without colour.
_DTYPE_STYLE = {"float64": ("#2b6cb0", ""), "float32": ("#dd6b20", "////")}


def _svg(figure, prefix: str) -> str:
    """The figure as an ``<svg>`` element for inlining: no XML prolog, and every id prefixed so
    several figures on one page cannot clash (matplotlib's ids are content hashes)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    for name in set(_ID.findall(text)):
        text = text.replace(f'id="{name}"', f'id="{prefix}-{name}"')
        text = text.replace(f"#{name})", f"#{prefix}-{name})")
        text = text.replace(f'href="#{name}"', f'href="#{prefix}-{name}"')
    return text


def strip_plot(output: str, rows: Sequence[tuple[str, Sequence[float]]], prefix: str) -> str | None:
    """An inline SVG strip plot of error/bound ratios; ``rows`` lists (source, ratios). None when
    there is nothing to plot. Ratios are >= 0; inf (no bound) is left out and noted."""
    import matplotlib
    from matplotlib.figure import Figure

    rows = [(name, [r for r in ratios if r is not None]) for name, ratios in rows]
    rows = [(name, ratios) for name, ratios in rows if ratios]
    if not rows:
        return None
    finite = [r for _, ratios in rows for r in ratios if math.isfinite(r)]
    positive = [r for r in finite if r > 0]
    low = 10.0 ** math.floor(math.log10(min(positive))) if positive else 1e-17
    zero_at = low / 10
    high = max([1.0, *positive]) * 10
    rng = np.random.default_rng(0)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix, "font.size": 9}):
        figure = Figure(figsize=(6.4, 0.55 * len(rows) + 1.0))
        axes = figure.add_subplot()
        for j, (_, ratios) in enumerate(rows):
            values = np.array([r for r in ratios if math.isfinite(r)])
            nonzero = values[values > 0]
            jitter = rng.uniform(-0.22, 0.22, size=values.size)
            axes.scatter(
                nonzero, j + jitter[: nonzero.size], s=9, alpha=0.55, color=_OK_COLOR, linewidths=0
            )
            zeros = int(np.count_nonzero(values == 0))
            if zeros:
                axes.scatter(
                    np.full(zeros, zero_at),
                    j + jitter[nonzero.size :],
                    s=12,
                    facecolors="none",
                    edgecolors=_ZERO_COLOR,
                    linewidths=0.6,
                )
            label = f"{len(ratios)}"
            if zeros:
                label += f" ({zeros} exact)"
            if len(values) < len(ratios):
                label += f", {len(ratios) - len(values)} unbounded"
            axes.annotate(
                label,
                (1.0, j),
                xycoords=("axes fraction", "data"),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#4a5568",
            )
        axes.set_xscale("log")
        axes.set_xlim(zero_at / 3, high)
        axes.axvline(1.0, color=_BOUND_COLOR, linewidth=1.2)
        axes.annotate(
            "bound",
            (1.0, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -10),
            textcoords="offset points",
            color=_BOUND_COLOR,
            fontsize=8,
        )
        ticks = [t for t in axes.get_xticks() if zero_at < t <= high]
        axes.set_xticks([zero_at, *ticks])
        axes.set_xticklabels(["0", *(f"1e{round(math.log10(t))}" for t in ticks)])
        axes.axvline(math.sqrt(zero_at * low), color="#cbd5e0", linewidth=0.8, linestyle=":")
        axes.set_yticks(range(len(rows)))
        axes.set_yticklabels([name for name, _ in rows])
        axes.set_ylim(len(rows) - 0.5, -0.5)
        axes.set_xlabel(f"{output}: error / bound (log scale; 1 = the rigorous bound)")
        axes.grid(axis="x", color="#edf2f7", linewidth=0.6)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        return _svg(figure, prefix)


def ratio_bars(
    rows: Sequence[tuple[str, str, float]], lines: dict[float, str], prefix: str
) -> str | None:
    """An inline SVG bar chart of time ratios: ``rows`` lists (layer, dtype, ratio), one bar
    each, grouped by layer in first-seen order; ``lines`` maps an x position to the label of a
    vertical reference line. None when there are no rows."""
    import matplotlib
    from matplotlib.figure import Figure

    if not rows:
        return None
    layers = list(dict.fromkeys(layer for layer, _, _ in rows))
    dtypes = list(dict.fromkeys(dtype for _, dtype, _ in rows))
    height = 0.8 / len(dtypes)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix, "font.size": 9}):
        figure = Figure(figsize=(7.2, 0.32 * len(rows) + 1.4))
        axes = figure.add_subplot()
        for k, dtype in enumerate(dtypes):
            color, hatch = _DTYPE_STYLE.get(dtype, (_ZERO_COLOR, "xx"))
            chosen = [(layers.index(layer), r) for layer, dt, r in rows if dt == dtype]
            where = [j - 0.4 + height * (k + 0.5) for j, _ in chosen]
            ratios = [r for _, r in chosen]
            bars = axes.barh(
                where,
                ratios,
                height=height * 0.9,
                color=color,
                alpha=0.85,
                hatch=hatch,
                edgecolor="white",
                linewidth=0,
                label=dtype,
            )
            axes.bar_label(bars, labels=[f"{r:.2f}" for r in ratios], padding=2, fontsize=7)
        high = max([r for _, _, r in rows] + list(lines))
        for x, label in sorted(lines.items()):
            style = "-" if x == 1 else "--"
            axes.axvline(x, color=_BOUND_COLOR, linewidth=1.0, linestyle=style, label=label)
        axes.set_xlim(0, high * 1.15)
        axes.set_yticks(range(len(layers)))
        axes.set_yticklabels(layers)
        axes.set_ylim(len(layers) - 0.5, -0.5)
        axes.set_xlabel("time ratio: convgrad / torch (forward + backward; below 1 is faster)")
        axes.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncol=2, fontsize=8, frameon=False)
        axes.grid(axis="x", color="#edf2f7", linewidth=0.6)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        return _svg(figure, prefix)


__all__ = ["ratio_bars", "strip_plot"]
