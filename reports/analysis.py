"""Per-section analyses that need the per-item records: significance groups (paired bootstrap against the
leader), protocol compatibility, cross tables (condition × Difficulty × Camera, type × difficulty, source ×
config), surprise time curves of example pairs, ROC curves, coverage by source, probe vs control.

All numbers come from :mod:`pjbench.benchmarks.compare` (paired bootstrap, pair outcomes) and
:mod:`pjbench.benchmarks.bootstrap`; this module only arranges them for the template.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from pjbench.benchmarks.bootstrap import cluster_bootstrap_ci_weighted
from pjbench.benchmarks.compare import (
    MIN_SHARED,
    PairedDifference,
    PairOutcome,
    paired_bootstrap,
    protocol_differences,
    protocol_signature,
)
from pjbench.reports import format as fmt
from pjbench.reports.catalog import BenchmarkSpec
from pjbench.reports.plots import LineChart, line_chart, roc_points

if TYPE_CHECKING:
    from pjbench.reports.view import RunView

PALETTE = 8  # CSS classes s0..s7


# ------------------------------------------------------------------------------------ outcomes


def run_outcomes(rv: "RunView", aggregation: str | None) -> dict[str, PairOutcome] | None:
    """Per-pair headline values of a run (cached on the view); ``None`` without readable items."""
    if rv.outcomes_cache is not None or rv.run.items is None:
        return rv.outcomes_cache
    from pjbench.benchmarks.compare import pair_outcomes

    rv.outcomes_cache = pair_outcomes(rv.run.items, aggregation or "avg")
    return rv.outcomes_cache


def _strata_key(o: PairOutcome, macro_over: Sequence[str]) -> str | None:
    return "|".join(str(o.strata.get(c, "")) for c in macro_over) if macro_over else None


# ------------------------------------------------------------------------------------ protocol


def protocol_flags(views: Sequence["RunView"]) -> None:
    """Set ``rv.protocol_issues`` for runs whose protocol differs from the section's majority (schema,
    split, frame sampling, window, stride, contexts, context rule, dev split) or, for runs of the same
    model, whose input resolution differs. Such runs are shown but not ranked with the others."""
    if not views:
        return
    sigs = [tuple(sorted((k, repr(v)) for k, v in protocol_signature(rv.run.results).items())) for rv in views]
    counts = Counter(sigs)
    best = max(counts.values())
    # Majority signature; on a tie, the one of the earliest (best-ranked) run.
    majority = next(s for s in sigs if counts[s] == best)
    ref = views[sigs.index(majority)].run.results
    for rv, sig in zip(views, sigs):
        issues = [] if sig == majority else [d for d in protocol_differences(ref, rv.run.results)
                                            if not d.startswith("resolution:")]
        res = (rv.run.results.model.get("preprocessing") or {}).get("resolution") \
            if isinstance(rv.run.results.model.get("preprocessing"), Mapping) else None
        others = {
            (o.run.results.model.get("preprocessing") or {}).get("resolution")
            for o in views
            if o is not rv and o.run.model_name == rv.run.model_name
            and isinstance(o.run.results.model.get("preprocessing"), Mapping)
        }
        others.discard(res)
        if others:
            issues.append(f"resolution: {res} px, another run of this model used "
                          f"{', '.join(str(x) for x in sorted(others, key=str))} px")
        sources = {o.run.data_source for o in views} - {"not recorded"}
        if len(sources) > 1 and rv.run.data_source == "synthetic":
            issues.append("data: synthetic suite, other runs of this section scored real data")
        rv.protocol_issues = issues


# ------------------------------------------------------------------------------------ significance


@dataclass
class SigRow:
    rv: "RunView"
    status: str  # "leader", "top", "below", "untested", "excluded", "reference" (baseline / control: never grouped)
    diff: PairedDifference | None = None
    note: str = ""

    @property
    def in_top(self) -> bool:
        return self.status in ("leader", "top")

    @property
    def diff_text(self) -> str:
        d = self.diff
        if d is None or d.difference is None:
            return fmt.MISSING
        sign = "+" if d.difference > 0 else ("−" if d.difference < 0 else "±")
        text = f"{sign}{abs(100 * d.difference):.1f}"
        if d.ci_low is not None and d.ci_high is not None:
            text += f" [{100 * d.ci_low:.1f}, {100 * d.ci_high:.1f}]"
        return text

    @property
    def p_text(self) -> str:
        return fmt.p_value(self.diff.p_value) if self.diff is not None else fmt.MISSING


@dataclass
class Significance:
    leader: "RunView | None"
    rows: list[SigRow]
    n_boot: int
    seed: int
    level: float
    macro_over: tuple[str, ...] = ()

    def status_of(self, rv: "RunView") -> str:
        for r in self.rows:
            if r.rv is rv:
                return r.status
        return "untested"


def significance(
    views: Sequence["RunView"],
    values: Mapping[int, float | None],
    spec: BenchmarkSpec | None,
    aggregation: str | None,
    *,
    higher_is_better: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Significance:
    """Top group: the leader (best headline among the models -- not baselines or controls -- with a
    comparable protocol and verified numbers) and every model whose paired-bootstrap interval of
    ``leader − run`` on the shared pairs contains 0. Baselines and controls are compared with the leader
    but never grouped (status ``reference``): beating a random-init control is the bar, not a rank.
    ``values`` maps ``rv.index`` to the run's headline value from its results file."""
    macro = spec.macro_over if spec else ()
    eligible = [rv for rv in views if not rv.protocol_issues and values.get(rv.index) is not None
                and not rv.run.integrity_issues and not (rv.run.is_control or rv.run.is_baseline)]
    sign = 1.0 if higher_is_better else -1.0
    leader = max(eligible, key=lambda rv: (sign * values[rv.index], -rv.index)) if eligible else None
    rows = []
    lead_out = run_outcomes(leader, aggregation) if leader is not None else None
    for rv in views:
        if rv is leader:
            rows.append(SigRow(rv, "leader"))
            continue
        if values.get(rv.index) is None:
            rows.append(SigRow(rv, "untested", note="no headline value"))
            continue
        if rv.run.integrity_issues:
            rows.append(SigRow(rv, "excluded", note="✖ numbers disagree with the items file"))
            continue
        if rv.protocol_issues:
            rows.append(SigRow(rv, "excluded", note="protocol differs: " + "; ".join(rv.protocol_issues)))
            continue
        out = run_outcomes(rv, aggregation)
        if leader is None:
            rows.append(SigRow(rv, "untested", note="no model to lead: only baselines, controls or unverified runs"))
            continue
        if lead_out is None or out is None:
            who = "the leader" if lead_out is None else "this run"
            rows.append(SigRow(rv, "untested", note=f"no per-item records for {who}"))
            continue
        shared = sorted(set(lead_out) & set(out))
        if not shared:
            rows.append(SigRow(rv, "untested", note="no pairs shared with the leader"))
            continue
        d = paired_bootstrap(
            [lead_out[k].value for k in shared], [out[k].value for k in shared],
            [lead_out[k].cluster for k in shared],
            [_strata_key(lead_out[k], macro) for k in shared] if macro else None,
            n_boot=n_boot, level=level, seed=seed,
        )
        if not higher_is_better and d.difference is not None:
            d = PairedDifference(d.value_a, d.value_b, -d.difference, None if d.ci_high is None else -d.ci_high,
                                 None if d.ci_low is None else -d.ci_low, d.p_value, d.n, d.n_clusters, d.n_boot,
                                 d.level)
        note = f"only {len(shared)} shared pairs" if len(shared) < MIN_SHARED else ""
        if rv.run.is_control or rv.run.is_baseline:
            rows.append(SigRow(rv, "reference", d, note))
            continue
        rows.append(SigRow(rv, "below" if d.significant else "top", d, note))
    return Significance(leader=leader, rows=rows, n_boot=n_boot, seed=seed, level=level, macro_over=tuple(macro))


# ------------------------------------------------------------------------------------ cross tables


@dataclass
class CrossCell:
    value: str
    ci: str
    n: str
    shade: str
    title: str
    small: bool = False

    @property
    def missing(self) -> bool:
        return self.value == fmt.MISSING


@dataclass
class CrossTable:
    """Headline metric by ``row_axis`` (rows) × combinations of ``col_axes`` (columns) for one run."""

    rv: "RunView"
    row_axis: str
    col_axes: tuple[str, ...]
    col_heads: list[tuple[str, ...]]
    rows: list[tuple[str, list[CrossCell]]]
    total_n: int


def _mean_ci(values: list[float], clusters: list[str], n_boot: int, seed: int) -> tuple[float, float | None, float | None]:
    x = np.asarray(values, dtype=float)

    def stat(w: np.ndarray) -> np.ndarray:
        tot = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, (w @ x) / np.where(tot > 0, tot, 1.0), np.nan)

    lo, hi = cluster_bootstrap_ci_weighted(stat, clusters, n_boot=n_boot, seed=seed) if len(values) > 1 else (None, None)
    return float(x.mean()), lo, hi


def _order(values: set[str], axis: str) -> list[str]:
    from pjbench.reports.tables import value_order

    order = value_order().get(axis, ())
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), v.lower()))


def cross_table(rv: "RunView", spec: BenchmarkSpec, aggregation: str | None, chance: float | None,
                *, n_boot: int = 200, seed: int = 0) -> CrossTable | None:
    """Cells = mean per-pair headline value (the plain mean within the cell) with a cluster-bootstrap CI
    and n; ``None`` when the items lack the axes."""
    if spec.cross is None:
        return None
    outcomes = run_outcomes(rv, aggregation)
    if not outcomes:
        return None
    row_axis, col_axes = spec.cross
    cells: dict[tuple[str, tuple[str, ...]], list[PairOutcome]] = defaultdict(list)
    for o in outcomes.values():
        if row_axis in o.strata and all(c in o.strata for c in col_axes):
            cells[(o.strata[row_axis], tuple(o.strata[c] for c in col_axes))].append(o)
    if not cells:
        return None
    row_vals = _order({r for r, _ in cells}, row_axis)
    # Column combinations ordered axis by axis.
    per_axis = [_order({c[i] for _, c in cells}, ax) for i, ax in enumerate(col_axes)]
    combos: list[tuple[str, ...]] = [()]
    for vals in per_axis:
        combos = [c + (v,) for c in combos for v in vals]
    combos = [c for c in combos if any((r, c) in cells for r in row_vals)]
    rows = []
    for r in row_vals:
        line = []
        for c in combos:
            group = cells.get((r, c), [])
            if not group:
                line.append(CrossCell(fmt.MISSING, "", "", "", "no pairs"))
                continue
            v, lo, hi = _mean_ci([o.value for o in group], [o.cluster for o in group], n_boot, seed)
            n = fmt.n_units(len(group), "pairs")
            if len(group) < fmt.MIN_CELL_N:  # an interval over a handful of pairs spans most of [0, 100]
                line.append(CrossCell(fmt.pct(v), "n too small", n, "", f"{r} · {' · '.join(c)}: {fmt.pct(v)} %, "
                                      f"n = {n}: too few pairs (< {fmt.MIN_CELL_N}) for an interval", small=True))
                continue
            line.append(CrossCell(fmt.pct(v), fmt.ci(lo, hi), n, fmt.shade(v, chance),
                                  f"{r} · {' · '.join(c)}: {fmt.pct_ci(v, lo, hi)} %, n = {n}"))
        rows.append((r, line))
    return CrossTable(rv=rv, row_axis=row_axis, col_axes=tuple(col_axes), col_heads=combos, rows=rows,
                      total_n=sum(len(g) for g in cells.values()))


# ------------------------------------------------------------------------------------ curves, ROC


@dataclass
class CurvePanel:
    title: str
    chart: LineChart
    caption: str


def surprise_curves(rv: "RunView", *, max_pairs: int = 3) -> list[CurvePanel]:
    """Per-window surprise of the possible and the impossible video of a few example pairs (the first
    pairs by id that have curves at the run's selected context), one small chart per pair."""
    items = rv.run.items or []
    sel = rv.run.results.protocol.get("context_selection") if isinstance(rv.run.results.protocol, Mapping) else None
    ctx = str(sel.get("selected")) if isinstance(sel, Mapping) and sel.get("selected") is not None else None
    by_pair: dict[str, dict[int, Any]] = defaultdict(dict)
    for it in items:
        if it.pair_id is None or it.label not in (0, 1) or not it.surprise:
            continue
        key = ctx if ctx in it.surprise else next(iter(sorted(it.surprise, key=_num_key)), None)
        curve = it.surprise.get(key) if key is not None else None
        if isinstance(curve, list) and len(curve) >= 2:
            by_pair[str(it.pair_id)].setdefault(int(it.label), (it, curve, key))
    panels = []
    for pid in sorted(by_pair, key=_num_key):
        pair = by_pair[pid]
        if 0 not in pair or 1 not in pair:
            continue
        (ip, cp, key), (_, ci_, _) = pair[1], pair[0]
        chart = line_chart(
            [("possible", range(len(cp)), cp, "possible"), ("impossible", range(len(ci_)), ci_, "impossible")],
            x_label="{:.0f}", width=270, height=140,
        )
        if chart is None:
            continue
        strata = ip.strata or {}
        what = " · ".join(str(strata[k]) for k in ("condition", "Difficulty", "Camera") if k in strata)
        mean_p, mean_i = float(np.mean(cp)), float(np.mean(ci_))
        caption = (f"pair {pid}{' (' + what + ')' if what else ''}, context {key}: mean surprise possible "
                   f"{mean_p:.3g}, impossible {mean_i:.3g} ({'ranked right' if mean_i > mean_p else 'ranked wrong'})")
        panels.append(CurvePanel(title=f"pair {pid}", chart=chart, caption=caption))
        if len(panels) >= max_pairs:
            break
    return panels


def _num_key(k: Any) -> tuple[int, float, str]:
    try:
        return (0, float(str(k).split("|")[0]), str(k))
    except ValueError:
        return (1, 0.0, str(k))


@dataclass
class RocPanel:
    chart: LineChart
    legend: list[tuple[str, str, str]]  # (css class, label, AUROC text)


def roc_panel(views: Sequence["RunView"], aggregation: str | None, *, max_runs: int = PALETTE) -> RocPanel | None:
    """ROC curves (impossible = positive, surprise = score) of up to ``max_runs`` runs in section order."""
    agg = aggregation or "avg"
    series, legend = [], []
    for rv in views:
        if rv.run.items is None or len(series) >= max_runs:
            continue
        pts = [(it.scores.get(agg), it.label == 0) for it in rv.run.items
               if it.label in (0, 1) and isinstance((it.scores or {}).get(agg), (int, float))]
        fpr, tpr = roc_points([s for s, _ in pts], [p for _, p in pts])
        if not fpr:
            continue
        css = f"s{len(series) % PALETTE}"
        series.append((rv.label, fpr, tpr, css))
        m = rv.run.results.metric("auroc", agg)
        legend.append((css, rv.label, fmt.pct_ci(m.value, m.ci_low, m.ci_high) if m else fmt.MISSING))
    chart = line_chart(series, x_range=(0, 1), y_range=(0, 1), x_label="{:.2f}", y_label="{:.1f}", width=300,
                       height=230, diagonal=True)
    return RocPanel(chart, legend) if chart else None


# ------------------------------------------------------------------------------------ coverage


@dataclass
class SourceCoverage:
    rv: "RunView"
    rows: list[tuple[str, int, int, int, int]]  # (source, items, scored items, complete pairs, skipped)


def coverage_by(rv: "RunView", axis: str = "source") -> SourceCoverage | None:
    """Per ``axis`` value: items in the records, items with an answer, complete pairs, skipped videos
    (skips are attributed by the ``source`` key of the skip row or the first folder of its path)."""
    items = rv.run.items
    if not items or not any(axis in (it.strata or {}) for it in items):
        return None
    n_items: Counter = Counter()
    n_scored: Counter = Counter()
    pairs: dict[str, list] = defaultdict(list)
    for it in items:
        src = (it.strata or {}).get(axis, "?")
        n_items[src] += 1
        n_scored[src] += it.correct is not None
        if it.pair_id is not None:
            pairs[str(it.pair_id)].append(it)
    complete: Counter = Counter()
    for members in pairs.values():
        if len(members) >= 2 and all(m.correct is not None for m in members):
            complete[(members[0].strata or {}).get(axis, "?")] += 1
    skipped: Counter = Counter()
    for sk in rv.run.results.task.get("skipped") or []:
        if isinstance(sk, Mapping):
            src = sk.get(axis) or _first_folder(sk.get("path"), set(n_items))
            skipped[str(src or "?")] += 1
    sources = _order(set(n_items) | set(skipped), axis)
    return SourceCoverage(rv, [(s, n_items[s], n_scored[s], complete[s], skipped[s]) for s in sources])


def _first_folder(path: Any, known: set[str]) -> str | None:
    if not path:
        return None
    for part in str(path).replace("\\", "/").split("/"):
        if part in known:
            return part
    return None


# ------------------------------------------------------------------------------------ controls


@dataclass
class ControlRow:
    model: "RunView"
    control: "RunView"
    diff: PairedDifference | None
    issues: list[str] = field(default_factory=list)  # protocol differences: not compared

    @property
    def text(self) -> str:
        return SigRow(self.model, "top", self.diff).diff_text


def control_rows(views: Sequence["RunView"], spec: BenchmarkSpec | None, aggregation: str | None,
                 *, n_boot: int = 1000, seed: int = 0) -> list[ControlRow]:
    """Each non-control run against each control run (video-blind, random-init, ...) of the section:
    ``model − control`` on the shared pairs. A pair whose protocols differ (window, frame sampling, ...;
    :func:`protocol_differences`) is listed with the differences and no number, as the significance table
    does: the difference would mix model and protocol."""
    macro = spec.macro_over if spec else ()
    controls = [rv for rv in views if rv.run.is_control]
    out = []
    for c in controls:
        co = run_outcomes(c, aggregation)
        if not co:
            continue
        for rv in views:
            if rv.run.is_control:
                continue
            mo = run_outcomes(rv, aggregation)
            shared = sorted(set(co) & set(mo or {}))
            if not shared:
                continue
            issues = protocol_differences(rv.run.results, c.run.results)
            if issues:
                out.append(ControlRow(rv, c, None, issues))
                continue
            d = paired_bootstrap([mo[k].value for k in shared], [co[k].value for k in shared],
                                 [co[k].cluster for k in shared],
                                 [_strata_key(co[k], macro) for k in shared] if macro else None,
                                 n_boot=n_boot, seed=seed)
            out.append(ControlRow(rv, c, d))
    return out


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


__all__ = [
    "CrossTable", "CurvePanel", "RocPanel", "SigRow", "Significance", "SourceCoverage", "ControlRow",
    "control_rows", "coverage_by", "cross_table", "protocol_flags", "roc_panel", "run_outcomes",
    "significance", "surprise_curves",
]
