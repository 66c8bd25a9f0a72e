"""The report's tables as plain data: leaderboard columns and cells, reference rows, breakdowns, run views.

Reads only results files (through :mod:`pjbench.reports.runs`); never imports encoders, probes or tasks."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from pjbench.benchmarks.results import ItemRecord, MetricValue
from pjbench.reports import format as fmt
from pjbench.reports import analysis, responses, trust
from pjbench.reports.catalog import BENCHMARKS, BenchmarkSpec
from pjbench.reports.plots import ForestPlot, Histogram
from pjbench.reports.runs import NO_ITEMS, Run

HEADLINE = ("pairwise_accuracy", "avg")
METRIC_ORDER = ("pairwise_accuracy", "auroc", "auprc", "abs_accuracy")
AGGREGATION_ORDER = ("avg", "max")


def breakdown_order() -> tuple[str, ...]:
    """Breakdown columns in the order the task specs declare them (registry order; read when a report is built)."""
    return tuple(dict.fromkeys(c for spec in BENCHMARKS.values() for c in spec.breakdowns))


def value_order() -> dict[str, tuple[str, ...]]:
    """Per strata column, the order its values are shown in: the task specs' ``value_order``."""
    out: dict[str, tuple[str, ...]] = {}
    for spec in BENCHMARKS.values():
        for col, values in getattr(spec, "value_order", ()):
            out.setdefault(col, tuple(values))
    return out


def sub_headlines() -> tuple[str, ...]:
    """The task specs' headline metric names."""
    return tuple(dict.fromkeys(spec.headline_metric for spec in BENCHMARKS.values()))

MIN_CELL_N, FLAT_CI_NOTE = fmt.MIN_CELL_N, fmt.FLAT_CI_NOTE


# ------------------------------------------------------------------------------------------ tables


@dataclass
class Column:
    """A (metric, aggregation) column of the leaderboard."""

    name: str
    aggregation: str | None
    label: str
    n_text: str = ""  # "506 pairs" when every run has the same n, else "" (n shown per cell)
    chance_text: str = fmt.MISSING
    chance: float | None = None
    higher_is_better: bool = True

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.name, self.aggregation)


@dataclass
class ColumnGroup:
    label: str
    span: int


@dataclass
class Cell:
    value: str = fmt.MISSING  # "57.5"
    ci: str = ""  # "[53.1, 61.9]"
    n: str = ""  # per-cell n when it differs between runs
    title: str = ""  # full text for the tooltip
    shade: str = ""  # CSS background, breakdown tables only
    flat: bool = False  # zero-width CI: every resample gave the same value
    small: bool = False  # fewer than MIN_CELL_N units: shown greyed, no interval

    @property
    def missing(self) -> bool:
        return self.value == fmt.MISSING


def metric_cell(m: MetricValue | None, *, show_n: bool, shaded: bool = False) -> Cell:
    if m is None or fmt.pct(m.value) == fmt.MISSING:
        return Cell()
    n = fmt.n_units(m.n, m.unit)
    title = fmt.pct_ci(m.value, m.ci_low, m.ci_high) + f" · n = {n}"
    if m.n_clusters:
        title += f", {fmt.count(m.n_clusters)} clusters"
    flat = fmt.ci(m.ci_low, m.ci_high) != "" and m.ci_low == m.ci_high
    small = shaded and isinstance(m.n, int) and m.n < MIN_CELL_N
    if flat:
        title += f" · {FLAT_CI_NOTE}"
    if small:
        title += f" · n too small (< {MIN_CELL_N}) for an interval"
    return Cell(
        value=fmt.pct(m.value),
        ci="n too small" if small else fmt.ci(m.ci_low, m.ci_high),
        n=f"n = {n}" if show_n or small else "",
        title=title,
        shade="" if small else (fmt.shade(m.value, m.chance, m.higher_is_better) if shaded else ""),
        flat=flat and not small,
        small=small,
    )


@dataclass
class LeaderRow:
    rank: int | None
    run: "RunView"
    cells: list[Cell]


@dataclass
class ReferenceRow:
    label: str
    source: str
    cells: list[str]


@dataclass
class Breakdown:
    """Headline metric split by one column of the metadata (condition, Difficulty, ...)."""

    column: str
    values: list[str]
    rows: list[tuple["RunView", list[Cell]]]
    chance_text: str


@dataclass
class RunView:
    """Everything the template shows about one run."""

    index: int
    anchor: str
    run: Run
    label: str  # model name, plus the run directory when two runs of a section share a model name
    protocol: list[tuple[str, str]]
    context_text: str
    context_warning: bool
    preprocessing: list[tuple[str, str]]
    provenance: list[tuple[str, str, str]]  # (label, shown, full value for the tooltip)
    hist: Histogram | None = None
    hist_note: str = ""
    outcomes_cache: dict | None = None  # pair id -> PairOutcome (see analysis.run_outcomes)
    protocol_issues: list[str] = field(default_factory=list)
    status: str = "untested"  # significance status: leader, top, below, untested, excluded

    @property
    def kind(self) -> str:
        return "control" if self.run.is_control else ("baseline" if self.run.is_baseline else "model")

    @property
    def params(self) -> str:
        return fmt.params(self.run.results.model.get("params"))

    @property
    def checkpoint_detail(self) -> str:
        return trust.checkpoint_text(self.run.results, detail=True)

    @property
    def data_text(self) -> str:
        return trust.data_text(self.run)

    @property
    def verification_text(self) -> str:
        return trust.verification_text(self.run)

    @property
    def parser_text(self) -> str:
        return responses.parser_text(self.run)

    def example_responses(self, k: int = 3) -> list[dict]:
        return responses.example_responses(self.run, k)


@dataclass
class Section:
    anchor: str
    task: str
    split: str
    runs: list[RunView]
    columns: list[Column]
    groups: list[ColumnGroup]
    headline: Column | None
    rows: list[LeaderRow]
    references: list[ReferenceRow]
    forest: ForestPlot | None
    breakdowns: list[Breakdown]
    hist_aggregation: str = ""
    spec: BenchmarkSpec | None = None
    sig: "analysis.Significance | None" = None
    cross: list = field(default_factory=list)  # analysis.CrossTable per run
    curves: list = field(default_factory=list)  # analysis.CurvePanel of the leader (surprise tasks)
    curves_run: "RunView | None" = None
    roc: "analysis.RocPanel | None" = None
    coverage_src: list = field(default_factory=list)  # analysis.SourceCoverage per run
    controls: list = field(default_factory=list)  # analysis.ControlRow

    @property
    def title(self) -> str:
        return self.spec.title if self.spec else self.task

    @property
    def headline_value(self) -> dict[int, float | None]:
        return {rv.index: _value(rv.run, self.headline) for rv in self.runs}

    @property
    def any_protocol_issue(self) -> bool:
        return any(rv.protocol_issues for rv in self.runs)

    @property
    def show_pairs(self) -> bool:
        """Whether to show the per-pair panel: some run has items, or an items file that failed to load."""
        return any(rv.hist is not None or rv.hist_note not in ("", NO_ITEMS) for rv in self.runs)

    @property
    def any_partial(self) -> bool:
        return any(r.run.partial for r in self.runs)

    @property
    def synthetic(self) -> bool:
        return any(rv.run.data_source == "synthetic" for rv in self.runs)

    @property
    def any_flat(self) -> bool:
        return any(c.flat for r in self.rows for c in r.cells)


# ----------------------------------------------------------------------------------------- helpers


def _order_index(value: Any, order: Sequence[Any]) -> int:
    return order.index(value) if value in order else len(order)


def leaderboard_columns(runs: Sequence[Run]) -> list[Column]:
    """Every (metric, aggregation) with an ``all`` row in some run: known metrics first in a fixed order,
    then the rest in order of appearance."""
    seen: dict[tuple[str, str | None], MetricValue] = {}
    for run in runs:
        for m in run.results.metrics:
            # A probe's control rows repeat every metric: its pair-level headline is enough for the table
            # (the rest stays in the results file), so the leaderboard fits a 1280-px screen.
            if "/" in m.name and m.name.split("/", 1)[1] not in sub_headlines():
                continue
            if m.subset == "all" and (m.name, m.aggregation) not in seen:
                seen[(m.name, m.aggregation)] = m
    appearance = list(seen)
    keys = sorted(
        appearance,
        key=lambda k: (
            _order_index(k[0], METRIC_ORDER),
            appearance.index(k) if k[0] not in METRIC_ORDER else 0,
            _order_index(k[1], AGGREGATION_ORDER),
        ),
    )
    columns = []
    for name, agg in keys:
        metrics = [m for run in runs if (m := run_metric(run, name, agg)) is not None]
        ns = {(m.n, m.unit) for m in metrics}
        chances = [m.chance for m in metrics if fmt.pct(m.chance) != fmt.MISSING]
        columns.append(
            Column(
                name=name,
                aggregation=agg,
                label=fmt.metric_label(name),
                n_text=fmt.n_units(*next(iter(ns))) if len(ns) == 1 else "",
                chance_text=_range_text(chances),
                chance=chances[0] if chances else None,
                higher_is_better=seen[(name, agg)].higher_is_better,
            )
        )
    return columns


def _range_text(values: Sequence[float]) -> str:
    """One percentage when the values agree, ``lo–hi`` when they differ (AUPRC chance = prevalence)."""
    if not values:
        return fmt.MISSING
    lo, hi = min(values), max(values)
    if fmt.pct(lo) == fmt.pct(hi):
        return fmt.pct(lo)
    return f"{fmt.pct(lo)}–{fmt.pct(hi)}"


def column_groups(columns: Sequence[Column]) -> list[ColumnGroup]:
    groups: list[ColumnGroup] = []
    for c in columns:
        if groups and groups[-1].label == c.label:
            groups[-1].span += 1
        else:
            groups.append(ColumnGroup(label=c.label, span=1))
    return groups


def run_metric(run: Run, name: str, agg: str | None, subset: str = "all") -> MetricValue | None:
    m = run.results.metric(name, agg, subset)
    # RunResults.metric treats aggregation=None as "any"; a column without aggregation wants exactly None.
    if m is not None and agg is None and m.aggregation is not None:
        exact = (x for x in run.results.metrics if x.name == name and x.subset == subset and x.aggregation is None)
        m = next(exact, None)
    return m


def headline_column(columns: Sequence[Column], spec: BenchmarkSpec | None = None) -> Column | None:
    """The catalog's headline metric of the task when present, else IntPhys 2's, else the first column."""
    wanted = [(spec.metric, spec.aggregation)] if spec else []
    for key in wanted + [HEADLINE]:
        for c in columns:
            if c.key == key:
                return c
    return columns[0] if columns else None


def _value(run: Run, column: Column | None) -> float | None:
    m = run_metric(run, column.name, column.aggregation) if column else None
    v = m.value if m is not None else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def sort_key(run: Run, headline: Column | None) -> tuple[Any, ...]:
    """Best first by the headline metric (respecting ``higher_is_better``); runs without it last."""
    m = run_metric(run, headline.name, headline.aggregation) if headline else None
    v = m.value if m is not None else None
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return (1, 0.0, run.model_name, str(run.path))
    return (0, -v if (headline is None or headline.higher_is_better) else v, run.model_name, str(run.path))


def _fraction(x: Any) -> float | None:
    """A reference value as a fraction; values above 1 are read as percentages (``96.4``)."""
    if isinstance(x, Mapping):
        x = x.get("value")
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return f / 100.0 if 1.0 < f <= 100.0 else f


def reference_values(protocol: Mapping[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    """Reference points (e.g. human performance) recorded in ``protocol["reference"]``, as
    ``(label, source, {metric key: fraction})``. Metric keys are ``name`` or ``name@aggregation``.

    Accepted shapes: ``{"human": {"pairwise_accuracy": 0.964, "source": "..."}}``,
    ``{"pairwise_accuracy": 0.964}`` (label "reference"), values as numbers or ``{"value": x}``, and a list
    of ``{"name"|"label", "metric", "aggregation", "value", "source"}`` records."""
    ref = protocol.get("reference") if isinstance(protocol, Mapping) else None
    if not ref:
        return []
    out: dict[str, tuple[str, dict[str, float]]] = {}

    def add(label: str, key: str, value: Any, source: str = "") -> None:
        f = _fraction(value)
        if f is None:
            return
        src, values = out.setdefault(label, (source, {}))
        if source and not src:
            out[label] = (source, values)
        values.setdefault(key, f)

    if isinstance(ref, list):
        for r in ref:
            if isinstance(r, Mapping) and r.get("metric"):
                key = str(r["metric"]) + (f"@{r['aggregation']}" if r.get("aggregation") else "")
                label = str(r.get("label") or r.get("name") or "reference")
                add(label, key, r.get("value"), str(r.get("source") or ""))
    elif isinstance(ref, Mapping):
        for k, v in ref.items():
            if isinstance(v, Mapping) and "value" not in v:  # {"human": {metric: value, "source": ...}}
                source = str(v.get("source") or "")
                for mk, mv in v.items():
                    if mk != "source":
                        add(str(k), str(mk), mv, source)
            elif k != "source":
                source = str(v.get("source") or "") if isinstance(v, Mapping) else ""
                add("reference", str(k), v, source or str(ref.get("source") or ""))
    return [(label, src, values) for label, (src, values) in out.items() if values]


def reference_rows(runs: Sequence[Run], columns: Sequence[Column]) -> list[ReferenceRow]:
    """One row per reference label found in any run's protocol (first run wins on conflicts)."""
    rows: dict[str, ReferenceRow] = {}
    for run in runs:
        for label, source, values in reference_values(run.results.protocol):
            if label in rows:
                continue
            cells = []
            for c in columns:
                v = values.get(f"{c.name}@{c.aggregation}") if c.aggregation else None
                if v is None:
                    v = values.get(c.name)
                cells.append(fmt.pct(v))
            if any(x != fmt.MISSING for x in cells):
                rows[label] = ReferenceRow(label=label, source=source, cells=cells)
    return list(rows.values())


def breakdowns(runs: Sequence["RunView"], headline: Column | None) -> list[Breakdown]:
    """The headline metric by subset: one table per breakdown column (``condition``, ``Difficulty``, ...)."""
    if headline is None:
        return []
    values: dict[str, list[str]] = defaultdict(list)
    for rv in runs:
        for m in rv.run.results.metrics:
            if m.name != headline.name or m.aggregation != headline.aggregation or m.subset == "all":
                continue
            col, sep, val = m.subset.partition("=")
            if not sep:
                col, val = "subset", m.subset
            if val not in values[col]:
                values[col].append(val)
    appearance = list(values)
    cols = sorted(appearance, key=lambda c: (_order_index(c, breakdown_order()), appearance.index(c)))
    out = []
    for col in cols:
        order = value_order().get(col, ())
        vals = sorted(values[col], key=lambda v: (_order_index(v, order), v.lower()))
        rows = []
        chances = []
        for rv in runs:
            cells = []
            for val in vals:
                subset = f"{col}={val}" if col != "subset" else val
                m = run_metric(rv.run, headline.name, headline.aggregation, subset)
                if m is not None and fmt.pct(m.chance) != fmt.MISSING:
                    chances.append(m.chance)
                cells.append(metric_cell(m, show_n=True, shaded=True))
            rows.append((rv, cells))
        out.append(Breakdown(column=col, values=vals, rows=rows, chance_text=_range_text(chances)))
    return out


def pair_differences(items: Iterable[ItemRecord], aggregation: str) -> list[float]:
    """``score(impossible) − score(possible)`` per matched pair (positive = the pair is ranked right).
    Pairs need exactly one labelled-possible and one labelled-impossible item with a score."""
    pairs: dict[str, dict[int, list[float]]] = defaultdict(lambda: {0: [], 1: []})
    for it in items:
        if it.pair_id is None or it.label not in (0, 1):
            continue
        s = (it.scores or {}).get(aggregation)
        if isinstance(s, (int, float)) and math.isfinite(s):
            pairs[it.pair_id][int(it.label)].append(float(s))
    return [p[0][0] - p[1][0] for p in pairs.values() if len(p[0]) == 1 and len(p[1]) == 1]
