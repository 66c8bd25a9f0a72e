"""Pure formatting helpers for the HTML report: numbers in, short strings out.

Every helper accepts ``None`` (and non-finite floats) and returns :data:`MISSING` for them, so a results
file with a missing field renders as a dash instead of failing. Values of metrics are fractions in [0, 1];
the report shows them in percent with one decimal.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

MISSING = "—"
# Breakdown cells over fewer units than this get no interval: with 1-9 pairs it spans most of [0, 100].
MIN_CELL_N = 10
FLAT_CI_NOTE = "all resamples equal: every resampled pair scored the same"

# Display names of the metrics pjbench tasks write; unknown names fall back to the raw id.
METRIC_LABELS = {
    "pairwise_accuracy": "Pairwise acc.",
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "abs_accuracy": "Abs. acc.",
    "pair_accuracy": "Pair acc.",
    "paired_accuracy": "Paired acc.",
    "single_accuracy": "Single acc.",
}


def _number(x: Any) -> float | None:
    """``x`` as a finite float, or ``None``."""
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def pct(x: Any, digits: int = 1) -> str:
    """A fraction as a percentage without the sign: ``0.575`` -> ``"57.5"``."""
    f = _number(x)
    if f is None:
        return MISSING
    return f"{100.0 * f:.{digits}f}"


def ci(low: Any, high: Any, digits: int = 1) -> str:
    """A confidence interval in percent: ``(0.531, 0.619)`` -> ``"[53.1, 61.9]"``; empty if unknown."""
    lo, hi = _number(low), _number(high)
    if lo is None or hi is None:
        return ""
    return f"[{pct(lo, digits)}, {pct(hi, digits)}]"


def pct_ci(value: Any, low: Any, high: Any, digits: int = 1) -> str:
    """Value and 95 % CI in percent: ``"57.5 [53.1, 61.9]"``; ``"57.5"`` without a CI; dash without value."""
    v = pct(value, digits)
    if v == MISSING:
        return MISSING
    interval = ci(low, high, digits)
    return f"{v} {interval}" if interval else v


def count(n: Any) -> str:
    """An integer with thousands separators: ``1012`` -> ``"1,012"``."""
    f = _number(n)
    if f is None:
        return MISSING
    return f"{int(round(f)):,}"


def n_units(n: Any, unit: str | None = None) -> str:
    """A count with its unit, singular for one: ``(506, "pairs")`` -> ``"506 pairs"``, ``(1, "pairs")`` ->
    ``"1 pair"``."""
    c = count(n)
    if c == MISSING or not unit:
        return c
    if c == "1" and unit.endswith("s"):
        unit = unit[:-1]
    return f"{c} {unit}"


def params(n: Any) -> str:
    """A parameter count: ``326_000_000`` -> ``"326 M"``, ``1_500_000_000`` -> ``"1.5 B"``; zero -> dash
    (parameter-free baselines record 0)."""
    f = _number(n)
    if not f:
        return MISSING
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if f >= scale:
            v = f / scale
            return f"{v:.0f} {suffix}" if v >= 100 else f"{v:.3g} {suffix}"
    return f"{int(f)}"


def ordinal(n: Any) -> str:
    """``1`` -> ``"1st"``, ``2`` -> ``"2nd"``, ``10`` -> ``"10th"``, ``12`` -> ``"12th"``; non-integers as given."""
    f = _number(n)
    if f is None or f != int(f):
        return MISSING if f is None else f"{f:g}"
    i = int(f)
    suffix = "th" if 10 <= i % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(i % 10, "th")
    return f"{i}{suffix}"


def duration(seconds: Any) -> str:
    """Wall time: ``12.34`` -> ``"12.3 s"``, ``245`` -> ``"4 min 05 s"``, ``3725`` -> ``"1 h 02 min"``."""
    s = _number(seconds)
    if s is None or s < 0:
        return MISSING
    if s < 60:
        return f"{s:.1f} s"
    total = int(round(s))
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {(total % 3600) // 60:02d} min"


def timestamp(value: Any) -> str:
    """An ISO-8601 time as ``2026-11-25 15:00 UTC``; anything unparseable is returned as given."""
    if not value:
        return MISSING
    text = str(value)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    zone = "UTC" if t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 else (t.strftime("%z") or "")
    return f"{t:%Y-%m-%d %H:%M} {zone}".strip()


def metric_label(name: str, aggregation: str | None = None) -> str:
    """``("pairwise_accuracy", "avg")`` -> ``"Pairwise acc. (avg)"``."""
    prefix, sep, base = name.rpartition("/")
    label = METRIC_LABELS.get(base, base.replace("_", " "))
    if sep:  # "control_video_blind/pair_accuracy" -> "Video-blind control: Pair acc."
        who = prefix.replace("probe_minus_", "probe − ").replace("control_", "").replace("_", "-")
        label = f"{who}{'' if prefix.startswith('probe_minus_') else ' control'}: {label}"
        label = label[0].upper() + label[1:]
    return f"{label} ({aggregation})" if aggregation else label


def shade(value: Any, chance: Any = None, higher_is_better: bool = True) -> str:
    """Background colour of a breakdown cell: white at chance, muted green above it, muted red below it,
    saturating 40 points away. Returns a CSS ``hsl(...)`` string ("" for a missing value)."""
    v = _number(value)
    if v is None:
        return ""
    c = _number(chance)
    if c is None:
        c = 0.5
    delta = v - c if higher_is_better else c - v
    strength = min(abs(delta) / 0.4, 1.0)
    hue = 145 if delta >= 0 else 8
    saturation = 45
    lightness = 98 - 24 * strength
    return f"hsl({hue}, {saturation}%, {lightness:.0f}%)"


def p_value(p: Any) -> str:
    """A bootstrap p-value: ``0.0123`` -> ``"0.012"``, below 0.001 -> ``"< 0.001"``."""
    f = _number(p)
    if f is None:
        return MISSING
    if f < 0.001:
        return "< 0.001"
    return f"{f:.3f}" if f < 0.01 else f"{f:.2f}"


def short_hash(value: Any, length: int = 12) -> str:
    """A digest shortened for display (``sha256:ab12...`` keeps its prefix); the full value goes in a title."""
    if not value:
        return MISSING
    text = str(value)
    prefix, sep, digest = text.rpartition(":")
    if len(digest) <= length:
        return text
    return f"{prefix}{sep}{digest[:length]}…"


def compact(value: Any) -> str:
    """Any protocol value as a short string: lists joined with commas, dicts as ``k=v``, booleans yes/no."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(compact(v) for v in value) if value else MISSING
    if isinstance(value, dict):
        return ", ".join(f"{k}={compact(v)}" for k, v in value.items()) if value else MISSING
    return str(value)
