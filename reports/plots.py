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
    zero_x: float  # left end of the bars (the axis minimum)
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
    from_zero: bool = False,
) -> ForestPlot | None:
    """Point (or, with ``from_zero``, a bar from 0 %) and CI whisker per entry (in the given order), a dashed
    line at ``chance``; ``None`` when no entry has a value. Bars start at 0 so that their lengths compare
    honestly; the zoomed forest view suits many close runs."""
    if not any(_finite(e.value) for e in entries):
        return None
    extent = [v for e in entries for v in (e.value, e.ci_low, e.ci_high) if _finite(v)]
    if _finite(chance):
        extent.append(chance)  # type: ignore[arg-type]
    if from_zero:
        extent.append(0.0)
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
        zero_x=left,
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
    n_ties: int = 0


def histogram(
    values: Sequence[float],
    *,
    bins: int = 24,
    width: float = 260,
    height: float = 86,
) -> Histogram | None:
    """Histogram of signed values on a range symmetric about 0 (so the zero line sits in the middle);
    bars right of 0 are ``positive``. ``share_positive`` is the share strictly above 0: a tie counts as
    wrong, as in pairwise accuracy (:func:`pjbench.intphys2.metrics.pair_values`, ``ties="wrong"``), so the
    caption equals the headline of 1x1 pairs. ``n_ties`` counts the values exactly at 0. ``None`` for no
    finite value."""
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
    wins = sum(1.0 for v in vals if v > 0)
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
        n_ties=sum(1 for v in vals if v == 0),
    )


# ------------------------------------------------------------------------------------ line charts


@dataclass
class Series:
    label: str
    points: str  # SVG polyline "x,y x,y ..."
    css: str  # class: colour and dash pattern
    desc: str  # text alternative


@dataclass
class LineChart:
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    x_ticks: list[Tick]
    y_ticks: list[tuple[float, str]]  # (y, label)
    series: list[Series]
    diagonal: bool = False  # ROC: the chance line


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float], str]],
    *,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    x_label: str = "{:g}",
    y_label: str = "{:.2g}",
    width: float = 300,
    height: float = 170,
    diagonal: bool = False,
) -> LineChart | None:
    """Lines through ``(xs, ys)`` per series ``(label, xs, ys, css_class)``; non-finite points are dropped.
    Axes cover the data (or the given ranges). ``None`` when no series has two points."""
    clean = []
    for label, xs, ys, css in series:
        pts = [(float(x), float(y)) for x, y in zip(xs, ys) if _finite(x) and _finite(y)]
        if len(pts) >= 2:
            clean.append((label, pts, css))
    if not clean:
        return None
    all_x = [x for _, pts, _ in clean for x, _ in pts]
    all_y = [y for _, pts, _ in clean for _, y in pts]
    x0, x1 = x_range or (min(all_x), max(all_x))
    y0, y1 = y_range or (min(all_y), max(all_y))
    if x1 <= x0:
        x1 = x0 + 1.0
    if y1 <= y0:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    left, right, top, bottom = 44.0, width - 8.0, 8.0, height - 22.0

    def px(x: float) -> float:
        return round(left + (x - x0) / (x1 - x0) * (right - left), 1)

    def py(y: float) -> float:
        return round(bottom - (y - y0) / (y1 - y0) * (bottom - top), 1)

    out = [Series(label=label, points=" ".join(f"{px(x)},{py(y)}" for x, y in pts), css=css,
                  desc=f"{label}: {len(pts)} points, from {y_label.format(pts[0][1])} to {y_label.format(pts[-1][1])}")
           for label, pts, css in clean]
    x_ticks = [Tick(px(x0 + k * (x1 - x0) / 4), x_label.format(x0 + k * (x1 - x0) / 4)) for k in range(5)]
    y_ticks = [(py(y0 + k * (y1 - y0) / 2), y_label.format(y0 + k * (y1 - y0) / 2)) for k in range(3)]
    return LineChart(width=width, height=height, plot_left=left, plot_right=right, plot_top=top, plot_bottom=bottom,
                     x_ticks=x_ticks, y_ticks=y_ticks, series=out, diagonal=diagonal)


def roc_points(scores: Sequence[float], positive: Sequence[bool]) -> tuple[list[float], list[float]]:
    """ROC curve ``(false positive rates, true positive rates)`` from (0, 0) to (1, 1), one point per distinct
    score threshold from high to low (tied scores enter together), like ``sklearn.metrics.roc_curve`` with
    ``drop_intermediate=False``. Empty lists when a class is missing."""
    pairs = sorted(((float(s), bool(p)) for s, p in zip(scores, positive) if _finite(s)), key=lambda t: -t[0])
    n_pos = sum(p for _, p in pairs)
    n_neg = len(pairs) - n_pos
    if n_pos == 0 or n_neg == 0:
        return [], []
    fpr, tpr = [0.0], [0.0]
    tp = fp = 0
    for i, (s, p) in enumerate(pairs):
        tp += p
        fp += not p
        if i == len(pairs) - 1 or pairs[i + 1][0] != s:
            fpr.append(fp / n_neg)
            tpr.append(tp / n_pos)
    return fpr, tpr
