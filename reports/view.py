"""From results files to what the report shows: runs grouped into (task, split) sections, leaderboard
rows sorted by the headline metric, breakdowns, coverage, protocol and provenance in words.

Reads only results files (:mod:`pjbench.benchmarks.results`); never imports encoders, probes or tasks.
Everything here is plain data; :mod:`pjbench.reports.builder` hands it to the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from pjbench.reports import format as fmt
from pjbench.reports import analysis
from pjbench.reports.catalog import BENCHMARKS, spec_for
from pjbench.reports.describe import (  # noqa: F401  (re-exported: the run cards' words live there)
    TEST_SELECTION_RULES,
    describe_context_selection,
    describe_preprocessing,
    describe_protocol,
    describe_provenance,
)
from pjbench.reports.plots import ForestEntry, forest_plot, histogram
from pjbench.reports.runs import NO_ITEMS, Run, is_qa, load_run  # noqa: F401 (NO_ITEMS, load_run: re-exported)
# noqa below: metric_cell, pair_differences, reference_values are re-exported for other modules
from pjbench.reports.tables import (  # noqa: F401
    LeaderRow,
    RunView,
    Section,
    breakdowns,
    column_groups,
    headline_column,
    leaderboard_columns,
    metric_cell,
    pair_differences,
    reference_rows,
    reference_values,
    run_metric,
    sort_key,
)

FLAT_CI_NOTE = fmt.FLAT_CI_NOTE


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
        m = run_metric(rv.run, headline.name, headline.aggregation) if headline else None
        # Runs under a different protocol are listed, not ranked with the others.
        has_value = (m is not None and fmt.pct(m.value) != fmt.MISSING and not rv.protocol_issues
                     and not rv.run.integrity_issues)
        rank += has_value
        cells = [metric_cell(run_metric(rv.run, c.name, c.aggregation), show_n=not c.n_text) for c in columns]
        rows.append(LeaderRow(rank=rank if has_value else None, run=rv, cells=cells))

    forest = None
    hist_agg = ""
    if headline is not None:
        entries = []
        for rv in views:
            m = run_metric(rv.run, headline.name, headline.aggregation)
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
