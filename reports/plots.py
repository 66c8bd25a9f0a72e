"""Geometry of the report's inline SVG plots: plain numbers and labels, no markup.

The templates draw these objects, so every label (model names included) passes through Jinja's
autoescaping; nothing here builds SVG text by string concatenation. Coordinates are in SVG user units
(pixels at 100 % zoom), origin top left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from pjbench.reports import format as fmt


@dataclass
class ForestEntry:
    """One run of a forest plot: fractions in [0, 1] (``None`` where unknown)."""

    label: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    baseline: bool = False


@dataclass
class ForestRow:
    label: str
    text: str
    y: float
    x: float | None
    x_low: float | None
    x_high: float | None
    baseline: bool


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class ForestPlot:
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    label_x: float
    text_x: float
    ticks: list[Tick]
    chance_x: float | None
    chance_label: str
    rows: list[ForestRow] = field(default_factory=list)


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def nice_step(span_pct: float) -> float:
    """Tick spacing (in percentage points) for an axis spanning ``span_pct`` points: about 4-8 ticks."""
    for step in (1, 2, 5, 10, 20, 25):
        if span_pct / step <= 8:
            return float(step)
    return 50.0


def axis_range(values: Sequence[float]) -> tuple[float, float, float]:
    """``(low, high, step)`` in percent covering ``values`` (fractions), snapped to ticks, within [0, 100]."""
    pts = [100.0 * v for v in values if _finite(v)]
    if not pts:
        return 0.0, 100.0, 20.0
    lo, hi = min(pts), max(pts)
    step = nice_step(max(hi - lo, 1.0))
    low = max(0.0, math.floor(lo / step) * step)
    high = min(100.0, math.ceil(hi / step) * step)
    if high - low < step:  # every value on one tick
        low, high = max(0.0, low - step), min(100.0, high + step)
    # Keep a small margin so that points are not drawn on the frame.
    if lo - low < 0.15 * step and low > 0:
        low = max(0.0, low - step)
    if high - hi < 0.15 * step and high < 100:
        high = min(100.0, high + step)
    return low, high, step


def forest_plot(
    entries: Sequence[ForestEntry],
    chance: float | None = None,
    *,
    label_width: float = 230,
    plot_width: float = 420,
    text_width: float = 140,
    row_height: float = 24,
) -> ForestPlot | None:
    """Point and CI whisker per entry (in the given order), a dashed line at ``chance``; ``None`` when no
    entry has a value."""
    if not any(_finite(e.value) for e in entries):
        return None
    extent = [v for e in entries for v in (e.value, e.ci_low, e.ci_high) if _finite(v)]
    if _finite(chance):
        extent.append(chance)  # type: ignore[arg-type]
    low, high, step = axis_range(extent)

    top, axis_gap = 8.0, 34.0
    left = label_width
    right = left + plot_width

    def x_of(frac: float | None) -> float | None:
        if not _finite(frac):
            return None
        p = min(max(100.0 * frac, low), high)  # type: ignore[operator]
        return round(left + (p - low) / (high - low) * plot_width, 1)

    rows = []
    for i, e in enumerate(entries):
        y = round(top + (i + 0.5) * row_height, 1)
        rows.append(
            ForestRow(
                label=e.label,
                text=fmt.pct_ci(e.value, e.ci_low, e.ci_high),
                y=y,
                x=x_of(e.value),
                x_low=x_of(e.ci_low),
                x_high=x_of(e.ci_high),
                baseline=e.baseline,
            )
        )
    bottom = top + len(entries) * row_height
    ticks = []
    n_ticks = int(round((high - low) / step))
    for k in range(n_ticks + 1):
        p = low + k * step
        ticks.append(Tick(x=round(left + (p - low) / (high - low) * plot_width, 1), label=f"{p:g} %"))
    return ForestPlot(
        width=label_width + plot_width + text_width,
        height=bottom + axis_gap,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        label_x=left - 12,
        text_x=right + 12,
        ticks=ticks,
        chance_x=x_of(chance) if _finite(chance) and low <= 100.0 * chance <= high else None,  # type: ignore[operator]
        chance_label=f"chance {fmt.pct(chance)} %" if _finite(chance) else "",
        rows=rows,
    )


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    positive: bool


@dataclass
class Histogram:
    width: float
    height: float
    plot_left: float
    plot_right: float
    baseline_y: float
    zero_x: float
    bars: list[Bar]
    ticks: list[Tick]
    n: int
    share_positive: float


def histogram(
    values: Sequence[float],
    *,
    bins: int = 24,
    width: float = 260,
    height: float = 86,
) -> Histogram | None:
    """Histogram of signed values on a range symmetric about 0 (so the zero line sits in the middle);
    bars right of 0 are ``positive``. ``share_positive`` counts ties at 0 as half, like pairwise accuracy.
    ``None`` for no finite value."""
    vals = [float(v) for v in values if _finite(v)]
    if not vals:
        return None
    # A few outliers should not squash the histogram: the range covers 98 % of |values|, the rest land
    # in the edge bins.
    mags = sorted(abs(v) for v in vals)
    bound = mags[int(0.98 * (len(mags) - 1))] or mags[-1] or 1.0
    bins = max(2, bins + (bins % 2))  # even, so that 0 is a bin edge
    pad_x, top, axis_h = 6.0, 4.0, 16.0
    left, right = pad_x, width - pad_x
    base = height - axis_h
    counts = [0] * bins
    for v in vals:
        k = int((v + bound) / (2 * bound) * bins)
        counts[min(max(k, 0), bins - 1)] += 1
    tallest = max(counts)
    bw = (right - left) / bins
    bars = []
    for k, c in enumerate(counts):
        if not c:
            continue
        h = (base - top) * c / tallest
        bars.append(
            Bar(x=round(left + k * bw + 0.5, 1), y=round(base - h, 1), w=round(max(bw - 1, 0.5), 1),
                h=round(h, 1), positive=k >= bins // 2)
        )
    wins = sum(1.0 for v in vals if v > 0) + 0.5 * sum(1.0 for v in vals if v == 0)
    label = f"{bound:.2g}"
    return Histogram(
        width=width,
        height=height,
        plot_left=left,
        plot_right=right,
        baseline_y=base,
        zero_x=round((left + right) / 2, 1),
        bars=bars,
        ticks=[Tick(left, f"−{label}"), Tick(round((left + right) / 2, 1), "0"), Tick(right, label)],
        n=len(vals),
        share_positive=wins / len(vals),
    )
