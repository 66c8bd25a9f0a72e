"""From results files to what the report shows: runs grouped into (task, split) sections, leaderboard
rows sorted by the headline metric, breakdowns, coverage, protocol and provenance in words.

Reads only results files (:mod:`pjbench.benchmarks.results`); never imports encoders, probes or tasks.
Everything here is plain data; :mod:`pjbench.reports.builder` hands it to the template.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import ITEMS_FILE, ItemRecord, MetricValue, RunResults, load_items, load_results
from pjbench.reports import format as fmt
from pjbench.reports import analysis, trust
from pjbench.reports.catalog import BENCHMARKS, BenchmarkSpec, spec_for
from pjbench.reports.describe import (  # noqa: F401  (re-exported: the run cards' words live there)
    TEST_SELECTION_RULES,
    describe_context_selection,
    describe_preprocessing,
    describe_protocol,
    describe_provenance,
)
from pjbench.reports.plots import ForestEntry, ForestPlot, Histogram, forest_plot, histogram

HEADLINE = ("pairwise_accuracy", "avg")
METRIC_ORDER = ("pairwise_accuracy", "auroc", "auprc", "abs_accuracy")
AGGREGATION_ORDER = ("avg", "max")
BREAKDOWN_ORDER = ("condition", "Difficulty", "Camera", "visibility", "config", "source", "type", "difficulty")
VALUE_ORDER = {
    "Difficulty": ("Easy", "Medium", "Hard", "Unknown"),
    "difficulty": ("easy", "med", "hard"),
    "type": ("anticipation", "counterfactual", "descriptive", "planning", "hypothetical"),
    "Camera": ("Fixed", "Moving"),
    "visibility": ("visible", "occluded"),
}
NO_ITEMS = "no items file"
SUB_HEADLINES = ("pairwise_accuracy", "pair_accuracy", "paired_accuracy")
MIN_CELL_N, FLAT_CI_NOTE = fmt.MIN_CELL_N, fmt.FLAT_CI_NOTE


# --------------------------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One loaded run directory."""

    path: Path
    results: RunResults
    items: list[ItemRecord] | None = None
    items_note: str = ""  # why no per-item plot: missing or unreadable items file
    verification: Any = None  # pjbench.benchmarks.integrity.Verification, set by trust.check_runs

    @property
    def task(self) -> str:
        return str(self.results.task.get("name") or "unknown task")

    @property
    def split(self) -> str:
        return str(self.results.task.get("split") or "unknown split")

    @property
    def model_name(self) -> str:
        return str(self.results.model.get("name") or self.path.name)

    @property
    def checkpoint(self) -> str:
        return trust.checkpoint_text(self.results)

    @property
    def integrity_issues(self) -> list[str]:
        return trust.integrity_issues(self)

    @property
    def data_source(self) -> str:
        return trust.data_source(self)

    @property
    def is_baseline(self) -> bool:
        extra = self.results.model.get("extra")
        flagged = isinstance(extra, Mapping) and bool(extra.get("baseline"))
        return flagged or self.model_name.startswith("pixel-")

    @property
    def is_control(self) -> bool:
        """A control run (video-blind probe, random-init encoder): recorded as ``model.extra.control``."""
        extra = self.results.model.get("extra")
        return isinstance(extra, Mapping) and bool(extra.get("control"))

    @property
    def n_items(self) -> int | None:
        return _int(self.results.task.get("n_items"))

    @property
    def n_scored(self) -> int | None:
        return _int(self.results.task.get("n_scored"))

    @property
    def skipped(self) -> list[dict[str, str]]:
        rows = self.results.task.get("skipped") or []
        out = []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, Mapping):
                out.append({k: str(row.get(k) or "") for k in ("name", "path", "reason")})
            else:
                out.append({"name": str(row), "path": "", "reason": ""})
        return out

    @property
    def partial(self) -> bool:
        """Fewer videos scored than the split holds (or some skipped): the numbers cover a subset."""
        if self.n_items is not None and self.n_scored is not None:
            return self.n_scored < self.n_items
        return bool(self.skipped)


def _int(x: Any) -> int | None:
    try:
        return int(x) if x is not None and not isinstance(x, bool) else None
    except (TypeError, ValueError):
        return None


def is_qa(run: Run) -> bool:
    """The run's items are answers (``correct`` recorded), not surprise scores."""
    return any(it.correct is not None for it in run.items or [])


def load_run(run_dir: str | Path) -> Run:
    """Load ``RUN_DIR/results.json`` and, when present, its items file. A corrupt items file does not stop
    the report (it only feeds the optional per-item plot); the reason is shown instead."""
    path = Path(run_dir)
    if not path.exists():
        raise PjbenchError(f"{path}: no such run directory")
    try:
        results = load_results(path)
    except PjbenchError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # a results.json missing sections or with odd fields
        raise PjbenchError(f"{path}: invalid results file ({type(exc).__name__}: {exc})") from None
    run_dir_path = path if path.is_dir() else path.parent
    run = Run(path=run_dir_path, results=results)
    items_name = results.files.get("items") if isinstance(results.files, Mapping) else None
    items_path = run_dir_path / (items_name or ITEMS_FILE)
    if not items_path.is_file():
        run.items_note = NO_ITEMS
        return run
    try:
        run.items = load_items(run_dir_path, results)
    except (PjbenchError, TypeError, ValueError) as exc:
        run.items_note = f"items file unreadable: {exc}"
    return run


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
            if "/" in m.name and m.name.split("/", 1)[1] not in SUB_HEADLINES:
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
        metrics = [m for run in runs if (m := _metric(run, name, agg)) is not None]
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


def _metric(run: Run, name: str, agg: str | None, subset: str = "all") -> MetricValue | None:
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
    m = _metric(run, column.name, column.aggregation) if column else None
    v = m.value if m is not None else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def sort_key(run: Run, headline: Column | None) -> tuple[Any, ...]:
    """Best first by the headline metric (respecting ``higher_is_better``); runs without it last."""
    m = _metric(run, headline.name, headline.aggregation) if headline else None
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
    cols = sorted(appearance, key=lambda c: (_order_index(c, BREAKDOWN_ORDER), appearance.index(c)))
    out = []
    for col in cols:
        order = VALUE_ORDER.get(col, ())
        vals = sorted(values[col], key=lambda v: (_order_index(v, order), v.lower()))
        rows = []
        chances = []
        for rv in runs:
            cells = []
            for val in vals:
                subset = f"{col}={val}" if col != "subset" else val
                m = _metric(rv.run, headline.name, headline.aggregation, subset)
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


# -------------------------------------------------------------------------------------- sections


def group_runs(runs: Sequence[Run]) -> list[tuple[str, str, list[Run]]]:
    """Runs grouped by (task, split), groups in order of first appearance."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.task, run.split), []).append(run)
    known = list(BENCHMARKS)
    keys = sorted(groups, key=lambda k: known.index(k[0]) if k[0] in known else len(known))  # stable
    return [(task, split, groups[(task, split)]) for task, split in keys]


def build_section(index: int, task: str, split: str, runs: Sequence[Run], *, n_boot: int = 1000,
                  seed: int = 0) -> Section:
    spec = spec_for(task)
    columns = leaderboard_columns(runs)
    headline = headline_column(columns, spec)
    ordered = sorted(runs, key=lambda r: sort_key(r, headline))
    names = [r.model_name for r in ordered]
    views = []
    for j, run in enumerate(ordered):
        label = run.model_name if names.count(run.model_name) == 1 else f"{run.model_name} · {run.path.name}"
        text, warn = describe_context_selection(run.results.protocol.get("context_selection"), run.split)
        views.append(
            RunView(
                index=j,
                anchor=f"s{index}-r{j}",
                run=run,
                label=label,
                protocol=describe_protocol(run.results.protocol),
                context_text=text,
                context_warning=warn,
                preprocessing=describe_preprocessing(run.results.model.get("preprocessing"), run.results.protocol),
                provenance=describe_provenance(run),
            )
        )

    analysis.protocol_flags(views)
    rows = []
    rank = 0
    for rv in views:
        m = _metric(rv.run, headline.name, headline.aggregation) if headline else None
        # Runs under a different protocol are listed, not ranked with the others.
        has_value = (m is not None and fmt.pct(m.value) != fmt.MISSING and not rv.protocol_issues
                     and not rv.run.integrity_issues)
        rank += has_value
        cells = [metric_cell(_metric(rv.run, c.name, c.aggregation), show_n=not c.n_text) for c in columns]
        rows.append(LeaderRow(rank=rank if has_value else None, run=rv, cells=cells))

    forest = None
    hist_agg = ""
    if headline is not None:
        entries = []
        for rv in views:
            m = _metric(rv.run, headline.name, headline.aggregation)
            entries.append(
                ForestEntry(label=rv.label, value=m.value if m else None, ci_low=m.ci_low if m else None,
                            ci_high=m.ci_high if m else None,
                            baseline=rv.run.is_baseline or rv.run.is_control)
            )
        forest = forest_plot(entries, headline.chance, from_zero=True)
        hist_agg = headline.aggregation or "avg"
        for rv in views:
            if rv.run.items is None:
                rv.hist_note = rv.run.items_note
                continue
            if is_qa(rv.run):
                continue  # answers are right or wrong: no score difference to plot
            diffs = pair_differences(rv.run.items, hist_agg)
            rv.hist = histogram(diffs)
            if rv.hist is None:
                rv.hist_note = f"no matched pairs with an “{hist_agg}” score in the items file"

    section = Section(
        anchor=f"s{index}",
        task=task,
        split=split,
        runs=views,
        columns=columns,
        groups=column_groups(columns),
        headline=headline,
        rows=rows,
        references=reference_rows(ordered, columns),
        forest=forest,
        breakdowns=breakdowns(views, headline),
        hist_aggregation=hist_agg,
        spec=spec,
    )
    if headline is not None:
        agg = headline.aggregation
        section.sig = analysis.significance(views, section.headline_value, spec, agg,
                                            higher_is_better=headline.higher_is_better, n_boot=n_boot, seed=seed)
        for r in section.sig.rows:
            r.rv.status = r.status
        if spec is not None:
            section.cross = [t for rv in views
                             if (t := analysis.cross_table(rv, spec, agg, headline.chance, n_boot=min(n_boot, 400),
                                                           seed=seed)) is not None]
        lead = section.sig.leader or (views[0] if views else None)
        if lead is not None and lead.run.items:
            section.curves = analysis.surprise_curves(lead)
            section.curves_run = lead if section.curves else None
        if any(rv.run.items and not is_qa(rv.run) for rv in views):
            section.roc = analysis.roc_panel(views, agg)
        section.coverage_src = [c for rv in views if (c := analysis.coverage_by(rv)) is not None]
        section.controls = analysis.control_rows(views, spec, agg, n_boot=n_boot, seed=seed)
    return section


def build_sections(runs: Sequence[Run], *, n_boot: int = 1000, seed: int = 0) -> list[Section]:
    return [build_section(i, task, split, rs, n_boot=n_boot, seed=seed)
            for i, (task, split, rs) in enumerate(group_runs(runs))]


@dataclass
class Notes:
    """Facts for the "How to read this" box, gathered over all runs."""

    ci_levels: list[str] = field(default_factory=list)
    n_boots: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)


def reading_notes(runs: Sequence[Run]) -> Notes:
    notes = Notes()
    for run in runs:
        p = run.results.protocol or {}
        level = p.get("ci_level")
        text = f"{fmt.pct(level, 0)} %" if isinstance(level, (int, float)) else "95 %"
        if text not in notes.ci_levels:
            notes.ci_levels.append(text)
        if p.get("n_boot") is not None and fmt.count(p["n_boot"]) not in notes.n_boots:
            notes.n_boots.append(fmt.count(p["n_boot"]))
        cs = p.get("context_selection")
        rule = str(cs.get("rule")) if isinstance(cs, Mapping) and cs.get("rule") else "not recorded"
        if rule not in notes.rules:
            notes.rules.append(rule)
    return notes
