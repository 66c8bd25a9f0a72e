"""The overview leaderboard: models × benchmarks, one headline number per (task, split) section with its
CI, n and significance group, the macro mean over IntPhys 2, MVPBench and CausalVQA where a model has all
three, chance, and the published reference numbers (kept apart, with their source).

Also the rows of ``leaderboard.csv`` / ``leaderboard.json`` / ``leaderboard.md``
(:mod:`pjbench.reports.exports`), so the files and the page cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from pjbench.reports import format as fmt
from pjbench.reports import trust
from pjbench.reports.catalog import BENCHMARKS, MACRO_TASKS

if TYPE_CHECKING:
    from pjbench.reports.view import RunView, Section

Z95 = 1.959964


@dataclass
class BoardColumn:
    anchor: str  # the section's id
    task: str
    split: str
    title: str  # "IntPhys 2"
    metric: str  # "Pairwise acc. (avg)"
    metric_name: str
    aggregation: str | None
    chance: float | None
    unit: str
    data_source: str = ""  # synthetic, real, mixed, not recorded


@dataclass
class BoardCell:
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    unit: str = ""
    status: str = ""  # leader, top, below, untested, excluded; "" = no run
    run_dir: str = ""
    present: bool = False  # a run exists (its value may still be undefined)
    issues: list[str] = field(default_factory=list)
    approx: bool = False  # macro CI from a normal approximation
    data_source: str = ""  # synthetic, real, not recorded
    integrity: list[str] = field(default_factory=list)  # disagreements with the items file (unverified)

    @property
    def flat(self) -> bool:
        """Zero-width interval: every resample gave the same value."""
        return self.ci != "" and self.ci_low == self.ci_high

    @property
    def text(self) -> str:
        return fmt.pct(self.value) if self.present else ""

    @property
    def ci(self) -> str:
        return fmt.ci(self.ci_low, self.ci_high)

    @property
    def n_text(self) -> str:
        return fmt.n_units(self.n, self.unit) if self.n is not None else ""

    @property
    def in_top(self) -> bool:
        return self.status in ("leader", "top")

    @property
    def sort_value(self) -> str:
        return f"{self.value:.6f}" if self.value is not None else ""


@dataclass
class BoardRow:
    label: str
    kind: str  # model, baseline, control
    checkpoint: str
    cells: list[BoardCell]
    macro: BoardCell
    anchors: list[str]  # per column: anchor of the run's provenance card ("" if none)
    params: str = ""
    checkpoint_detail: str = ""
    readouts: tuple[str, ...] = ()  # how the model was read out in its runs (surprise, probe, answers, vlm)

    @property
    def synthetic(self) -> bool:
        return any(c.data_source == "synthetic" for c in self.cells)

    @property
    def unverified(self) -> bool:
        return any(c.integrity for c in self.cells)


@dataclass
class RefRow:
    label: str
    cells: list[tuple[str, str]]  # (value text, source) per column
    sources: list[str]


@dataclass
class Board:
    columns: list[BoardColumn]
    rows: list[BoardRow]
    chance: list[str]
    references: list[RefRow]
    macro_columns: list[int]  # indices of the columns the macro averages (first of each task)
    test_text: str

    @property
    def synthetic(self) -> bool:
        """Some measured run used the synthetic suite: published real-data numbers are not comparable."""
        return any(r.synthetic for r in self.rows)

    @property
    def any_flat(self) -> bool:
        return any(c.flat for r in self.rows for c in r.cells)

    @property
    def has_macro(self) -> bool:
        return any(r.macro.present for r in self.rows)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def macro_cell(cells: Sequence[BoardCell]) -> BoardCell:
    """Mean of the benchmarks' headline values; its CI combines theirs as independent normal errors
    (``sd_i = (hi_i − lo_i) / (2·1.96)``, ``sd = sqrt(Σ sd_i²) / k``), since the benchmarks share no items."""
    vals = [c.value for c in cells]
    if not cells or any(not _finite(v) for v in vals):
        return BoardCell()
    mean = sum(vals) / len(vals)
    lo = hi = None
    if all(_finite(c.ci_low) and _finite(c.ci_high) for c in cells):
        sd = math.sqrt(sum(((c.ci_high - c.ci_low) / (2 * Z95)) ** 2 for c in cells)) / len(cells)
        lo, hi = mean - Z95 * sd, mean + Z95 * sd
    return BoardCell(value=mean, ci_low=lo, ci_high=hi, n=len(cells), unit="benchmarks", present=True, approx=True,
                     status="")


def build_board(sections: Sequence["Section"]) -> Board:
    columns: list[BoardColumn] = []
    by_label: dict[str, dict[int, "RunView"]] = {}
    order: list[str] = []
    for j, s in enumerate(sections):
        h = s.headline
        unit = ""
        if h is not None:
            for rv in s.runs:
                m = rv.run.results.metric(h.name, h.aggregation)
                if m is not None:
                    unit = m.unit
                    break
        chance = h.chance if h is not None and h.chance is not None else (s.spec.chance if s.spec else None)
        srcs = {rv.run.data_source for rv in s.runs}
        columns.append(BoardColumn(anchor=s.anchor, task=s.task, split=s.split, title=s.title,
                                   metric=fmt.metric_label(h.name, h.aggregation) if h else fmt.MISSING,
                                   metric_name=h.name if h else "", aggregation=h.aggregation if h else None,
                                   chance=chance, unit=unit,
                                   data_source=srcs.pop() if len(srcs) == 1 else "mixed"))
        for rv in s.runs:
            if rv.label not in by_label:
                by_label[rv.label] = {}
                order.append(rv.label)
            by_label[rv.label][j] = rv

    # The macro mean takes, per task, the column of the catalog's primary split when present, else the first.
    macro_cols: dict[str, list[int]] = {}
    for j, c in enumerate(columns):
        if c.task in MACRO_TASKS:
            macro_cols.setdefault(c.task, []).append(j)
    have_all = all(t in macro_cols for t in MACRO_TASKS)

    rows = []
    for label in order:
        runs = by_label[label]
        cells = []
        for j, s in enumerate(sections):
            rv = runs.get(j)
            if rv is None:
                cells.append(BoardCell())
                continue
            h = s.headline
            m = rv.run.results.metric(h.name, h.aggregation) if h else None
            if m is not None and h is not None and h.aggregation is None and m.aggregation is not None:
                m = None
            v = m.value if m is not None and _finite(m.value) else None
            cells.append(BoardCell(value=v, ci_low=m.ci_low if m and v is not None else None,
                                   ci_high=m.ci_high if m and v is not None else None,
                                   n=m.n if m else None, unit=m.unit if m else "", status=rv.status,
                                   run_dir=str(rv.run.path), present=True, issues=list(rv.protocol_issues),
                                   data_source=rv.run.data_source, integrity=rv.run.integrity_issues))
        macro = BoardCell()
        if have_all:
            picked = []
            for t in MACRO_TASKS:
                cands = [j for j in macro_cols[t] if cells[j].value is not None]
                primary = [j for j in cands if columns[j].split == BENCHMARKS[t].primary_split]
                pick = (primary or cands)[:1]
                if pick and not cells[pick[0]].issues and not cells[pick[0]].integrity:
                    picked.append(cells[pick[0]])
            if len(picked) == len(MACRO_TASKS):
                macro = macro_cell(picked)
        first = next(iter(runs.values()))
        kinds = {rv.kind for rv in runs.values()}
        kind = "control" if "control" in kinds else ("baseline" if "baseline" in kinds else "model")
        rows.append(BoardRow(label=label, kind=kind, checkpoint=first.run.checkpoint, cells=cells, macro=macro,
                             anchors=[runs[j].anchor if j in runs else "" for j in range(len(sections))],
                             params=fmt.params(first.run.results.model.get("params")),
                             checkpoint_detail=trust.checkpoint_text(first.run.results, detail=True),
                             readouts=tuple(sorted({str(rv.run.results.protocol.get("readout")) for rv in runs.values()
                                                    if rv.run.results.protocol.get("readout")}))))

    def key(r: BoardRow):
        vals = [c.value for c in r.cells]
        return (0 if r.macro.value is not None else 1, -(r.macro.value or 0.0),
                [(0, -v) if v is not None else (1, 0.0) for v in vals], r.label)

    rows.sort(key=key)

    chance = [fmt.pct(c.chance) if c.chance is not None else "" for c in columns]
    refs: dict[str, RefRow] = {}
    for j, c in enumerate(columns):
        spec = BENCHMARKS.get(c.task)
        if spec is None or c.metric_name != spec.metric:
            continue
        for ref in spec.references:
            row = refs.setdefault(ref.label, RefRow(ref.label, [("", "")] * len(columns), []))
            row.cells = list(row.cells)
            row.cells[j] = (fmt.pct(ref.value), ref.source)
            if ref.source not in row.sources:
                row.sources.append(ref.source)
    level = "95 %"
    n_boot = next((s.sig.n_boot for s in sections if s.sig is not None), 1000)
    test = (f"Paired cluster bootstrap ({fmt.count(n_boot)} resamples) of the difference in the headline metric "
            f"between each run and the leader, on the pairs both scored (clusters = scenes / pairs; macro metrics "
            f"recomputed per resample). A run shares the top group when the {level} percentile interval of the "
            f"difference contains 0. No correction for multiple comparisons.")
    return Board(columns=columns, rows=rows, chance=chance, references=list(refs.values()),
                 macro_columns=[j for t in MACRO_TASKS for j in macro_cols.get(t, [])[:1]], test_text=test)
