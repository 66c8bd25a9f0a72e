"""Per-item pieces of the probe readout: which items the probe can use (complete pairs only), the fold
stratum, one item's record, and the probe-minus-control difference with its paired cluster-bootstrap CI."""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np

from pjbench.benchmarks.bootstrap import macro_mean_statistic
from pjbench.benchmarks.paired import complete_pair_records, item_correct, metric_row, pair_correct, weighted_mean_statistic
from pjbench.benchmarks.results import ItemRecord, MetricValue
from pjbench.benchmarks.tasks import QAItem

__all__ = ["CONTROLS", "CONTROL_ITEMS", "cv_stratum", "paired_difference", "probe_record", "usable_items"]

CONTROLS = {"video_blind": "same probe, video tokens replaced by zeros after projection (text-only shortcut floor)"}
CONTROL_ITEMS = "control_{}_items.jsonl"


def usable_items(items: Sequence[QAItem], has_features: Mapping[str, str | None], n_choices: int,
                 need_labels: bool, pair_sizes: Mapping[str, int] | None = None) -> tuple[list[QAItem], list[dict[str, str]]]:
    """Items the probe can use, and ``[{name, path, reason}]`` for the rest.

    ``has_features``: item name -> ``None`` if its video has features, else the failure reason. An item
    is dropped for a failed video, a candidate count other than ``n_choices``, or (``need_labels``) a
    missing / out-of-range label; then every other item of a pair with a dropped item goes too (metrics
    are over complete pairs only). ``pair_sizes`` (pair id -> items in the whole split) also drops pairs
    that ``--limit`` cut in half."""
    reasons: dict[str, str] = {}
    if pair_sizes:
        present = Counter(it.pair_id for it in items if it.pair_id is not None)
        for it in items:
            if it.pair_id is not None and present[it.pair_id] < pair_sizes.get(it.pair_id, 0):
                reasons[it.name] = (f"pair {it.pair_id} incomplete: {present[it.pair_id]} of its "
                                    f"{pair_sizes[it.pair_id]} items selected (--limit)")
    for it in items:
        if it.name in reasons:
            continue
        why = has_features.get(it.name)
        if why is None and len(it.candidates) != n_choices:
            why = f"{len(it.candidates)} candidates, the task has {n_choices}"
        if why is None and need_labels and (it.label is None or not 0 <= int(it.label) < len(it.candidates)):
            why = f"no valid label ({it.label!r})"
        if why is not None:
            reasons[it.name] = why
    broken: dict[str, list[str]] = {}
    for it in items:
        if it.name in reasons and it.pair_id is not None:
            broken.setdefault(it.pair_id, []).append(it.name)
    for it in items:
        if it.name not in reasons and it.pair_id in broken:
            reasons[it.name] = f"pair {it.pair_id} incomplete: {', '.join(broken[it.pair_id])} skipped"
    kept = [it for it in items if it.name not in reasons]
    skipped = [{"name": it.name, "path": str(it.path), "reason": reasons[it.name]} for it in items if it.name in reasons]
    return kept, skipped


def paired_difference(probe: Sequence[ItemRecord], control: Sequence[ItemRecord], *, n_boot: int, seed: int,
                      macro_over: str | None = None, name: str = "probe_minus_video_blind/pair_accuracy") -> MetricValue:
    """Probe minus control in pair accuracy (share of complete pairs with both items right), 95 % CI by a
    *paired* cluster bootstrap: each resample draws clusters (``cluster``, else the pair) once and both
    runs are evaluated on the same pairs, so the interval is that of the difference itself.

    ``macro_over``: a strata column (MVPBench ``config``, CausalVQA ``stratum``): the difference of the
    macro means over its values, i.e. of the task's headline; ``None``: pooled over all pairs. Uses the
    complete pairs both runs scored; chance 0 (no difference)."""
    def per_pair(records: Sequence[ItemRecord]) -> dict[str, float]:
        recs, _ = complete_pair_records(records)
        res = pair_correct([item_correct(r) for r in recs], [str(r.pair_id) for r in recs])
        return dict(zip(res.keys.tolist(), res.both.tolist()))

    p, c = per_pair(probe), per_pair(control)
    keys = sorted(set(p) & set(c))
    first = {}
    for r in probe:
        first.setdefault(str(r.pair_id), r)
    d = np.array([p[k] - c[k] for k in keys])
    clusters = [str(first[k].cluster) if first[k].cluster is not None else k for k in keys]
    if not keys:
        return MetricValue(name, None, None, None, n=0, n_clusters=0, chance=0.0)
    if macro_over and all(macro_over in first[k].strata for k in keys):
        _, codes = np.unique(np.asarray([first[k].strata[macro_over] for k in keys], dtype=str), return_inverse=True)
        stat = macro_mean_statistic(d, codes.reshape(-1), int(codes.max()) + 1)
    else:
        stat = weighted_mean_statistic(d)
    return metric_row(stat, len(keys), clusters, name=name, chance=0.0, subset="all", unit="pairs", n_boot=n_boot,
                seed=seed)


def cv_stratum(task_obj: Any, items: Sequence[QAItem]) -> tuple[Any, str | None]:
    """Stratum of the folds: ``task.cv_stratum`` (a strata column or QAItem attribute) when the task
    declares one; else ``source`` when items come from several sources (MVPBench); else the ``type``
    stratum column when present (CausalVQA); else none."""
    col = getattr(task_obj, "cv_stratum", None)
    if col is None:
        if len({it.source for it in items}) > 1:
            col = "source"
        elif any("type" in it.strata for it in items):
            col = "type"
    if col is None:
        return None, None
    return (lambda it: it.strata.get(col, getattr(it, col, None) or "")), col


def probe_record(it: QAItem, scores: np.ndarray | None, fold: int | None, from_cache: bool,
            conditions: list[str] | None = None) -> ItemRecord:
    pred = int(np.argmax(scores)) if scores is not None else None
    return ItemRecord(
        name=it.name, split=it.split, path=str(it.path), label=it.label, pair_id=it.pair_id, cluster=it.cluster,
        strata=dict(it.strata), from_cache=from_cache, prediction=pred,
        candidate_scores=[float(x) for x in scores] if scores is not None else [],
        correct=(pred == int(it.label)) if it.label is not None and pred is not None else None, fold=fold,
        conditions=list(conditions or []),
    )
