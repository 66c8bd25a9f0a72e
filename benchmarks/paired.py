"""Paired multiple-choice metrics, shared by MVPBench and CausalVQA.

Both benchmarks ask questions in *pairs*: MVPBench shows two minimally different videos with the same
question and opposite answers; CausalVQA asks one question twice with reordered options. A pair counts
as right only if both of its items are right, so a model that answers from the text alone scores near
zero. The unit of resampling for the bootstrap is the pair (or a coarser cluster, e.g. the video several
CausalVQA questions share): both items of a pair always move together.

Metric functions take aligned 1-D per-item arrays (``correct`` 0/1, ``pair_ids``, optional ``clusters``
and ``strata``) and return :class:`~pjbench.benchmarks.results.MetricValue` rows with a 95 % cluster
bootstrap interval (:func:`pjbench.benchmarks.bootstrap.cluster_bootstrap_ci_weighted`). Point estimates
and intervals share one code path: the point estimate is the all-ones weight row.

Answer parsers are task-specific and live with their task (:mod:`pjbench.mvpbench.parsers`,
:mod:`pjbench.causalvqa.parsers`); the scorer reaches them through the task registry.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from pjbench.benchmarks.bootstrap import cluster_bootstrap_ci_weighted, macro_mean_statistic
from pjbench.benchmarks.results import ItemRecord, MetricValue

__all__ = [
    "parse_with",
    "metric_row",
    "weighted_mean_statistic",
    "PairCorrect",
    "complete_pair_records",
    "item_correct",
    "macro_accuracy",
    "pair_accuracy",
    "pair_correct",
    "qa_metrics",
    "single_accuracy",
]


# --------------------------------------------------------------------------------------------------
# Pairs
# --------------------------------------------------------------------------------------------------


class PairCorrect(NamedTuple):
    """Result of :func:`pair_correct`.

    keys:       ids of the complete pairs, sorted as strings, shape ``(n_pairs,)``.
    both:       ``1.0`` where every item of the pair is right, else ``0.0``, shape ``(n_pairs,)``.
    first:      position (in the input) of each complete pair's first item, shape ``(n_pairs,)``; use it
                to read per-pair attributes (cluster, stratum) shared by the pair's items.
    incomplete: ids of pairs with the wrong number of items (left out of ``keys``), sorted.
    """

    keys: np.ndarray
    both: np.ndarray
    first: np.ndarray
    incomplete: tuple[str, ...]


def _as_correct(correct: Sequence[object] | np.ndarray) -> np.ndarray:
    c = np.asarray(correct, dtype=object).reshape(-1)
    out = np.empty(c.size)
    for j, v in enumerate(c.tolist()):
        if v is None:
            raise ValueError(f"correct[{j}] is None: count a missing answer as wrong (0) before scoring")
        if v not in (0, 1, True, False):
            raise ValueError(f"correct[{j}] must be 0/1 or a bool, got {v!r}")
        out[j] = float(v)
    return out


def _aligned(name: str, values: Sequence[object] | np.ndarray | None, n: int) -> list[str] | None:
    if values is None:
        return None
    out = [str(v) for v in values]
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} entries, correct has {n}")
    return out


def pair_correct(
    correct: Sequence[object] | np.ndarray, pair_ids: Sequence[object] | np.ndarray, size: int = 2
) -> PairCorrect:
    """Per-pair "both right" outcomes.

    ``correct``: per-item 0/1 (or bool), shape ``(n_items,)``; ``pair_ids``: per-item pair id. A pair
    with exactly ``size`` items is *complete*; the others (a partner not scored, or a pair id used three
    times) are left out and listed in ``incomplete``, so a caller can report how many pairs were lost.
    """
    c = _as_correct(correct)
    ids = _aligned("pair_ids", pair_ids, c.size) or []
    if c.size == 0:
        return PairCorrect(np.zeros(0, dtype=str), np.zeros(0), np.zeros(0, dtype=np.int64), ())
    keys, first, codes, counts = np.unique(np.asarray(ids, dtype=str), return_index=True, return_inverse=True,
                                           return_counts=True)
    codes = codes.reshape(-1)
    n_right = np.bincount(codes, weights=c, minlength=keys.size)
    ok = counts == size
    both = (n_right[ok] == size).astype(float)
    return PairCorrect(keys[ok], both, first[ok].astype(np.int64), tuple(keys[~ok].tolist()))


# --------------------------------------------------------------------------------------------------
# Bootstrap rows
# --------------------------------------------------------------------------------------------------


def weighted_mean_statistic(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def stat(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (w @ values) / np.where(total > 0, total, 1.0), np.nan)

    return stat


def metric_row(
    stat: Callable[[np.ndarray], np.ndarray], n_units: int, clusters: list[str], *, name: str, chance: float | None,
    subset: str, unit: str, n_boot: int, seed: int,
) -> MetricValue | None:
    if n_units == 0:
        return None
    value = float(stat(np.ones((1, n_units)))[0])
    low, high = cluster_bootstrap_ci_weighted(stat, clusters, n_boot=n_boot, seed=seed)
    return MetricValue(name=name, value=value, ci_low=low, ci_high=high, n=n_units, n_clusters=len(set(clusters)),
                       chance=chance, subset=subset, unit=unit)


def _pair_clusters(res: PairCorrect, clusters: list[str] | None, ids: list[str]) -> list[str]:
    """Cluster of each complete pair; every item of a pair must name the same cluster."""
    if clusters is None:
        return [str(k) for k in res.keys.tolist()]
    seen: dict[str, str] = {}
    for pid, cl in zip(ids, clusters):
        if seen.setdefault(pid, cl) != cl:
            raise ValueError(f"pair {pid} spans two clusters ({seen[pid]!r}, {cl!r}); a pair must stay in one cluster")
    return [seen[k] for k in res.keys.tolist()]


def single_accuracy(
    correct: Sequence[object] | np.ndarray,
    clusters: Sequence[object] | np.ndarray | None = None,
    *,
    chance: float | None,
    n_boot: int = 1000,
    seed: int = 0,
    subset: str = "all",
    name: str = "single_accuracy",
) -> MetricValue | None:
    """Share of items answered right (unit items), with a cluster bootstrap interval.

    ``clusters``: per-item cluster (pass the pair ids so both items of a pair are resampled together);
    ``None`` treats items as independent. ``None`` is returned for no items. The official scorers compute
    it over the items they were given; restrict ``correct`` to complete pairs first if the pair metric is
    reported beside it, so that both rows cover the same items.
    """
    c = _as_correct(correct)
    cl = _aligned("clusters", clusters, c.size) or [f"item:{j}" for j in range(c.size)]
    return metric_row(weighted_mean_statistic(c), c.size, cl, name=name, chance=chance, subset=subset, unit="items",
                n_boot=n_boot, seed=seed)


def pair_accuracy(
    correct: Sequence[object] | np.ndarray,
    pair_ids: Sequence[object] | np.ndarray,
    clusters: Sequence[object] | np.ndarray | None = None,
    *,
    chance: float | None,
    n_boot: int = 1000,
    seed: int = 0,
    subset: str = "all",
    name: str = "pair_accuracy",
) -> MetricValue | None:
    """Share of complete pairs with both items right (unit pairs), with a cluster bootstrap interval.

    Incomplete pairs (see :func:`pair_correct`) are left out. ``clusters``: per-item cluster, constant
    within a pair (``None``: each pair is its own cluster). ``None`` when no pair is complete.
    """
    c = _as_correct(correct)
    ids = _aligned("pair_ids", pair_ids, c.size) or []
    res = pair_correct(c, ids)
    pcl = _pair_clusters(res, _aligned("clusters", clusters, c.size), ids)
    return metric_row(weighted_mean_statistic(res.both), res.keys.size, pcl, name=name, chance=chance, subset=subset, unit="pairs",
                n_boot=n_boot, seed=seed)


def macro_accuracy(
    correct: Sequence[object] | np.ndarray,
    pair_ids: Sequence[object] | np.ndarray,
    strata: Sequence[object] | np.ndarray,
    clusters: Sequence[object] | np.ndarray | None = None,
    *,
    level: str = "pair",
    chance: float | None,
    n_boot: int = 1000,
    seed: int = 0,
    subset: str = "all",
    name: str | None = None,
) -> MetricValue | None:
    """Macro mean over strata of the pair (``level="pair"``) or single (``level="single"``) accuracy.

    Every stratum present weighs the same whatever its size (MVPBench: the 4 configs; CausalVQA: the
    type x difficulty strata). The interval comes from the *same* resamples for all strata: each
    resample draws clusters from the whole set, each stratum's accuracy is recomputed on what was
    drawn, and their mean is the resample's value. A resample that misses a stratum entirely is
    undefined (dropped; if more than 10 % are, the interval is ``None``: the strata are too small).
    ``strata``: per-item stratum, constant within a pair. ``n`` counts the units (pairs or items) over
    all strata. ``name`` defaults to ``pair_accuracy`` / ``single_accuracy``.
    """
    if level not in ("pair", "single"):
        raise ValueError(f"level must be 'pair' or 'single', got {level!r}")
    c = _as_correct(correct)
    ids = _aligned("pair_ids", pair_ids, c.size) or []
    st = _aligned("strata", strata, c.size) or []
    cl = _aligned("clusters", clusters, c.size)
    name = name or f"{level}_accuracy"
    if level == "pair":
        res = pair_correct(c, ids)
        values = res.both
        unit_strata = [st[j] for j in res.first.tolist()]
        by_pair: dict[str, str] = {}
        for pid, s in zip(ids, st):
            if by_pair.setdefault(pid, s) != s:
                raise ValueError(f"pair {pid} spans two strata ({by_pair[pid]!r}, {s!r})")
        unit_clusters = _pair_clusters(res, cl, ids)
        unit = "pairs"
    else:
        values, unit_strata, unit = c, st, "items"
        unit_clusters = cl if cl is not None else ids
    if values.size == 0:
        return None
    keys, codes = np.unique(np.asarray(unit_strata, dtype=str), return_inverse=True)
    return metric_row(macro_mean_statistic(values, codes.reshape(-1), keys.size), values.size, list(unit_clusters), name=name,
                chance=chance, subset=subset, unit=unit, n_boot=n_boot, seed=seed)


# --------------------------------------------------------------------------------------------------
# Records -> results rows
# --------------------------------------------------------------------------------------------------


def item_correct(record: ItemRecord) -> bool:
    """Whether a labelled record's answer is right: ``prediction == label``; no prediction is wrong."""
    return record.prediction is not None and record.label is not None and int(record.prediction) == int(record.label)


def complete_pair_records(records: Sequence[ItemRecord], size: int = 2) -> tuple[list[ItemRecord], list[str]]:
    """Labelled records whose pair has exactly ``size`` records, and the ids of the pairs left out.

    A probe run that could not score a video (missing on disk) loses that item's whole pair here, so
    every metric row covers complete pairs only; an answer-file run has a record for every item
    (unanswered ones with ``prediction=None``, counted wrong), so nothing is lost.
    """
    recs = [r for r in records if r.label is not None]
    counts = Counter(r.pair_id for r in recs)
    keep = [r for r in recs if r.pair_id is not None and counts[r.pair_id] == size]
    lost = sorted(str(p) for p, n in counts.items() if p is None or n != size)
    return keep, lost


def qa_metrics(
    records: Sequence[ItemRecord],
    *,
    macro_over: str,
    breakdowns: Sequence[str],
    pair_chance: float,
    single_chance: float,
    pair_name: str = "pair_accuracy",
    single_name: str = "single_accuracy",
    n_boot: int = 1000,
    seed: int = 0,
) -> list[MetricValue]:
    """Every number of a paired multiple-choice results file, from per-item records.

    Uses labelled records of complete pairs only (:func:`complete_pair_records`); correctness from
    :func:`item_correct`; ``cluster`` (default: the pair) is the bootstrap unit.

    Rows (all with n, 95 % cluster bootstrap interval and chance):

    - ``<pair_name>[all]`` and ``<single_name>[all]``: macro mean over the values of ``strata[macro_over]``
      present (MVPBench: configs; CausalVQA: type x difficulty strata) -- the official headline;
    - ``<pair_name>_pooled[all]`` and ``<single_name>_pooled[all]``: all pairs / items pooled;
    - ``<pair_name>[<column>=<value>]`` and ``<single_name>[<column>=<value>]`` for ``macro_over`` and
      every column of ``breakdowns``: pooled within the stratum (a pair counts where both items are).
    """
    recs, _ = complete_pair_records(records)
    if not recs:
        return []
    correct = np.array([item_correct(r) for r in recs], dtype=float)
    pairs = [str(r.pair_id) for r in recs]
    clusters = [str(r.cluster) if r.cluster is not None else str(r.pair_id) for r in recs]
    common = dict(n_boot=n_boot, seed=seed)
    rows: list[MetricValue | None] = []
    if all(macro_over in r.strata for r in recs):
        strata = [r.strata[macro_over] for r in recs]
        rows.append(macro_accuracy(correct, pairs, strata, clusters, level="pair", chance=pair_chance,
                                   name=pair_name, **common))
        rows.append(macro_accuracy(correct, pairs, strata, clusters, level="single", chance=single_chance,
                                   name=single_name, **common))
    rows.append(pair_accuracy(correct, pairs, clusters, chance=pair_chance, name=f"{pair_name}_pooled", **common))
    rows.append(single_accuracy(correct, clusters, chance=single_chance, name=f"{single_name}_pooled", **common))
    for column in dict.fromkeys([macro_over, *breakdowns]):
        for value in sorted({r.strata[column] for r in recs if column in r.strata}):
            idx = [j for j, r in enumerate(recs) if r.strata.get(column) == value]
            sub_c = correct[idx]
            sub_p = [pairs[j] for j in idx]
            sub_cl = [clusters[j] for j in idx]
            subset = f"{column}={value}"
            rows.append(pair_accuracy(sub_c, sub_p, sub_cl, chance=pair_chance, name=pair_name, subset=subset,
                                      **common))
            rows.append(single_accuracy(sub_c, sub_cl, chance=single_chance, name=single_name, subset=subset,
                                        **common))
    return [r for r in rows if r is not None]


def parse_with(parsers: Mapping[str, Callable[[Any, Any], int | None]], parser: str, answer: Any, item: Any) -> int | None:
    """Candidate index of ``answer`` under the parser named ``parser`` of a task's ``parsers`` table
    (``official``, ``lenient``, ``strict``); an unknown name is a ``ValueError`` listing the choices."""
    try:
        fn = parsers[parser]
    except KeyError:
        raise ValueError(f"unknown parser {parser!r}; choose from {', '.join(parsers)}") from None
    return fn(answer, item)
