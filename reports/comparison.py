"""``pjbench compare RUN_A RUN_B``: is A better than B? Paired differences of the task's headline metric on
the pairs both runs scored, overall and per stratum, as a terminal table. The statistics live in
:mod:`pjbench.benchmarks.compare`; this module picks the headline (from :mod:`pjbench.reports.catalog`)
and lays out the text."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pjbench.benchmarks.compare import (
    MIN_SHARED,
    Comparison,
    check_same_task,
    compare_outcomes,
    pair_outcomes,
    protocol_differences,
)
from pjbench.benchmarks.errors import PjbenchError
from pjbench.reports import format as fmt
from pjbench.reports import trust
from pjbench.reports.catalog import spec_for
from pjbench.reports.view import load_run


@dataclass
class RunComparison:
    label_a: str
    label_b: str
    task: str
    split_a: str
    split_b: str
    metric: str
    aggregation: str | None
    comparison: Comparison
    protocol: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # data source, unverified runs

    @property
    def warnings(self) -> list[str]:
        out = list(self.notes) + list(self.comparison.warnings)
        if self.protocol:
            out.append("protocols differ (" + "; ".join(self.protocol) + "): the difference mixes model and protocol")
        return out

    def table(self) -> str:
        """The terminal table: one line per stratum with both values, the difference, its CI and p."""
        c = self.comparison
        head = (f"{self.task}: {fmt.metric_label(self.metric, self.aggregation)}, A − B in points "
                f"(paired cluster bootstrap on {c.n_shared} shared pairs)")
        lines = [head, f"  A = {self.label_a} ({self.split_a})", f"  B = {self.label_b} ({self.split_b})", ""]
        rows = [("stratum", "n", "A %", "B %", "A − B [95% CI]", "p", "")]
        for r in c.rows:
            d = r.result
            diff = fmt.MISSING if d.difference is None else f"{100 * d.difference:+.1f}"
            if d.ci_low is not None and d.ci_high is not None:
                diff += f" [{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}]"
            verdict = ""
            if d.significant:
                verdict = "A better" if d.difference > 0 else "B better"
            rows.append((r.subset, str(d.n), fmt.pct(d.value_a), fmt.pct(d.value_b), diff, fmt.p_value(d.p_value),
                         verdict))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for k, row in enumerate(rows):
            cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 6)] + [row[6]]
            lines.append("  ".join(cells).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths[:6]))
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return trust.clean("\n".join(lines))


def compare_runs(run_a: str | os.PathLike, run_b: str | os.PathLike, *, n_boot: int = 1000, seed: int = 0,
                 min_shared: int | None = None) -> RunComparison:
    """Load two run directories of one task and compare them on their shared pairs. Raises
    :class:`PjbenchError` when the tasks differ or a run has no readable items file."""
    a, b = load_run(run_a), load_run(run_b)
    trust.check_runs([a, b])  # a run whose results.json disagrees with its digest-recorded items: refused
    check_same_task(a.results, b.results, str(a.path), str(b.path))
    for run in (a, b):
        if run.items is None:
            raise PjbenchError(f"{run.path}: {run.items_note or 'no items file'}; compare needs per-item records")
    spec = spec_for(a.task)
    metric = spec.metric if spec else "pairwise_accuracy"
    agg = spec.aggregation if spec else "avg"
    oa, ob = pair_outcomes(a.items, agg or "avg"), pair_outcomes(b.items, agg or "avg")
    if not oa or not ob:
        empty = a.path if not oa else b.path
        raise PjbenchError(f"{empty}: no scored pairs in the items file")
    comp = compare_outcomes(oa, ob, macro_over=spec.macro_over if spec else (),
                            breakdowns=[c for c in spec.breakdowns] if spec else None, n_boot=n_boot, seed=seed,
                            min_shared=MIN_SHARED if min_shared is None else min_shared)
    label_a, label_b = a.model_name, b.model_name
    if label_a == label_b:
        label_a, label_b = f"{label_a} · {a.path.name}", f"{label_b} · {b.path.name}"
    notes = [f"run {w} ({run.path}) disagrees with its items file (no digest recorded): "
             + "; ".join(run.integrity_issues) for w, run in (("A", a), ("B", b)) if run.integrity_issues]
    src = {w: trust.data_source(run) for w, run in (("A", a), ("B", b))}
    if "synthetic" in src.values():
        notes.insert(0, "data: " + ", ".join(f"{w} {s}" for w, s in src.items())
                     + (" -- synthetic and real data: not comparable" if set(src.values()) >= {"synthetic", "real"}
                        else " (synthetic suite: not comparable with published real-data numbers)"))
    return RunComparison(label_a=label_a, label_b=label_b, task=a.task, split_a=a.split, split_b=b.split,
                         metric=metric, aggregation=agg, comparison=comp,
                         protocol=protocol_differences(a.results, b.results), notes=notes)
