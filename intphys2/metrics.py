"""IntPhys 2 metrics: pairwise accuracy, AUROC, AUPRC and absolute accuracy of a surprise score.

Conventions -- the official ones (Garrido et al. 2025, jepa-intuitive-physics
``evaluation_code/evals/intuitive_physics/eval.py::compute_metrics``) unless a name says otherwise; the
whole list is :data:`pjbench.intphys2.conventions.CONVENTIONS`, which every results file carries:

- a *score* is the surprise of one video after aggregation over windows (``avg`` or ``max``); higher
  means "more surprising", i.e. more likely impossible; labels are ``1`` = possible, ``0`` = impossible;
- a *pair* is a set of videos sharing a ``pair_id`` (``SceneIndex|run``): on Main one possible and one
  impossible video, on Debug ``k`` of each (each scene rendered ``k`` = 3 times);
- pairwise accuracy: impossible strictly more surprising than its matched possible video (a tie is wrong);
- AUROC / AUPRC: possible positive, score ``-surprise``, trapezoid over the ROC / PR curve points
  (:mod:`pjbench.intphys2.ranking`); ``ap_impossible`` is the (non-official) average precision with
  impossible positive;
- absolute accuracy: threshold = sorted possible scores at index ``ceil(0.9 n)``; a video at the threshold
  is wrong (:mod:`pjbench.intphys2.threshold`).

The array functions are pure and take aligned 1-D arrays of length ``n_videos``. The ``*_weighted``
variants evaluate a whole batch of bootstrap resamples at once from a multiplicity matrix ``weights``
of shape ``(m, n_videos)`` (see :mod:`pjbench.benchmarks.bootstrap`); the plain functions are the
one-row case of the same code, so point estimates and intervals cannot drift apart.
:func:`compute_metrics` turns per-video :class:`~pjbench.benchmarks.results.ItemRecord` s into the
rows of a results file.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from pjbench.benchmarks.bootstrap import cluster_bootstrap_ci_weighted
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import ItemRecord, MetricValue
from pjbench.benchmarks.surprise_pairs import AGGREGATIONS, pair_values  # one rule, in the core
from pjbench.intphys2.conventions import CONVENTIONS
from pjbench.intphys2.ranking import (
    ap_impossible,
    ap_impossible_weighted,
    auprc,
    auprc_weighted,
    auroc,
    auroc_weighted,
)
from pjbench.intphys2.threshold import (
    THRESHOLD_QUANTILE,
    abs_accuracy,
    abs_correct,
    quantile_threshold,
    threshold_from_possible,
    weighted_quantile,
    weighted_threshold,
)

__all__ = [
    "AGGREGATIONS",
    "BREAKDOWNS",
    "CONVENTIONS",
    "abs_accuracy",
    "ap_impossible",
    "ap_impossible_weighted",
    "auprc",
    "auprc_weighted",
    "auroc",
    "auroc_weighted",
    "compute_metrics",
    "pair_values",
    "pairwise_accuracy",
    "quantile_threshold",
    "threshold_from_possible",
    "thresholds_from_records",
    "weighted_quantile",
    "weighted_threshold",
]

BREAKDOWNS = ("condition", "Difficulty", "Camera", "visibility")
# The published absolute accuracy thresholds the *max* aggregation; a bare float threshold means that.
THRESHOLD_AGGREGATION = "max"

def pairwise_accuracy(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    pair_ids: Sequence[str] | np.ndarray,
    ties: str = "wrong",
) -> float | None:
    """Pairwise (relative) accuracy: mean over pairs of :func:`pair_values` (ties wrong by default).

    The unit is the pair, so a Debug group of 3+3 renders weighs as much as a Main 1+1 pair. Chance is
    0.5. ``None`` if no pair has both a possible and an impossible video.
    """
    _, values = pair_values(scores, labels, pair_ids, ties=ties)
    return float(values.mean()) if values.size else None


# --------------------------------------------------------------------------------------------------
# Records -> results rows
# --------------------------------------------------------------------------------------------------


def _labelled(records: Sequence[ItemRecord]) -> list[ItemRecord]:
    out = []
    for r in records:
        if r.label is None:
            continue  # HeldOut: no truth to score against
        if r.label not in (0, 1) or isinstance(r.label, bool):
            raise PjbenchError(f"item {r.name}: label must be 0, 1 or null, got {r.label!r}")
        out.append(r)
    return out


def _score_array(records: Sequence[ItemRecord], agg: str) -> np.ndarray:
    out = np.empty(len(records))
    for j, r in enumerate(records):
        value = r.scores.get(agg)
        if value is None:
            raise PjbenchError(f"item {r.name}: no {agg!r} score (has {sorted(r.scores)})")
        try:
            out[j] = float(value)
        except (TypeError, ValueError):
            raise PjbenchError(f"item {r.name}: {agg!r} score is not a number: {value!r}") from None
        if not np.isfinite(out[j]):
            raise PjbenchError(f"item {r.name}: {agg!r} score is {value!r}; scores must be finite")
    return out


def thresholds_from_records(
    records: Sequence[ItemRecord], q: float = THRESHOLD_QUANTILE, aggregations: Sequence[str] = AGGREGATIONS
) -> dict[str, float]:
    """``{aggregation: official threshold of the possible videos' score}`` over labelled ``records``
    (:func:`pjbench.intphys2.threshold.threshold_from_possible`: sorted scores at index ``ceil(q n)``).

    The runner calls this on the dev split's records and passes the result to :func:`compute_metrics`
    as ``threshold``. Aggregations no record has, or with no possible video, are left out.
    """
    recs = _labelled(records)
    y = np.array([r.label for r in recs], dtype=np.int64)
    out: dict[str, float] = {}
    for agg in aggregations:
        if not recs or not any(agg in r.scores for r in recs) or not np.any(y == 1):
            continue
        out[agg] = threshold_from_possible(_score_array(recs, agg), y, q)
    return out


def _none_if_nan(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _weighted_mean(values: np.ndarray):
    def stat(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (w @ values) / np.where(total > 0, total, 1.0), np.nan)

    return stat


def _n_clusters(clusters: Sequence[str]) -> int:
    return len(set(clusters))


def _pairwise_row(
    s: np.ndarray, y: np.ndarray, pair_ids: list[str | None], clusters: list[str], *, agg: str, subset: str,
    n_boot: int, seed: int,
) -> MetricValue | None:
    keep = [j for j, p in enumerate(pair_ids) if p is not None]
    if not keep:
        return None
    idx = np.asarray(keep)
    keys, values = pair_values(s[idx], y[idx], [pair_ids[j] for j in keep])
    if values.size == 0:
        return None
    # A pair's cluster is its scene: all its videos share it by construction (first one wins otherwise).
    cluster_of: dict[str, str] = {}
    for j in keep:
        cluster_of.setdefault(str(pair_ids[j]), clusters[j])
    pair_clusters = [cluster_of[k] for k in keys.tolist()]
    low, high = cluster_bootstrap_ci_weighted(_weighted_mean(values), pair_clusters, n_boot=n_boot, seed=seed)
    return MetricValue(
        name="pairwise_accuracy", value=float(values.mean()), ci_low=low, ci_high=high, n=int(values.size),
        n_clusters=_n_clusters(pair_clusters), chance=0.5, subset=subset, aggregation=agg, unit="pairs",
    )


_RANK_FNS = {"auroc": auroc_weighted, "auprc": auprc_weighted, "ap_impossible": ap_impossible_weighted}


def _rank_chance(name: str, y: np.ndarray) -> float:
    """AUROC 0.5; official AUPRC about the share of possible videos (its positive class); AP with impossible
    positive the share of impossible videos."""
    if name == "auroc":
        return 0.5
    return float(np.mean(y == 1)) if name == "auprc" else float(np.mean(y == 0))


def _rank_row(
    name: str, s: np.ndarray, y: np.ndarray, clusters: list[str], *, agg: str, subset: str, n_boot: int, seed: int
) -> MetricValue | None:
    if s.size == 0:
        return None
    fn = _RANK_FNS[name]
    value = _none_if_nan(fn(s, y, np.ones((1, s.size)))[0])
    low, high = (None, None)
    if value is not None:
        low, high = cluster_bootstrap_ci_weighted(lambda w: fn(s, y, w), clusters, n_boot=n_boot, seed=seed)
    return MetricValue(
        name=name, value=value, ci_low=low, ci_high=high, n=int(s.size), n_clusters=_n_clusters(clusters),
        chance=_rank_chance(name, y), subset=subset, aggregation=agg, unit="videos",
    )


def _abs_accuracy_row(
    s: np.ndarray, y: np.ndarray, clusters: list[str], threshold: float | None, *, agg: str, n_boot: int, seed: int
) -> MetricValue | None:
    if s.size == 0:
        return None
    if threshold is not None:
        correct = abs_correct(s, y, threshold)
        value: float | None = float(correct.mean())
        low, high = cluster_bootstrap_ci_weighted(_weighted_mean(correct), clusters, n_boot=n_boot, seed=seed)
    elif np.any(y == 1):
        # In-sample threshold: re-choose it in every resample (the official index rule on the resampled
        # possible videos) so the interval includes the uncertainty of the threshold itself (it is optimistic
        # anyway: it is fitted on the scored videos).
        possible = y == 1

        def stat(w: np.ndarray) -> np.ndarray:
            thr = weighted_threshold(s[possible], w[:, possible], THRESHOLD_QUANTILE)  # (m,)
            correct = abs_correct(s[None, :], y[None, :], thr[:, None])
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(np.isfinite(thr), (w * correct).sum(axis=1) / w.sum(axis=1), np.nan)

        value = abs_accuracy(s, y, threshold_from_possible(s, y))
        low, high = cluster_bootstrap_ci_weighted(stat, clusters, n_boot=n_boot, seed=seed)
    else:
        value, low, high = None, None, None
    return MetricValue(
        name="abs_accuracy", value=value, ci_low=low, ci_high=high, n=int(s.size), n_clusters=_n_clusters(clusters),
        chance=0.5, subset="all", aggregation=agg, unit="videos",
    )


def _resolve_thresholds(
    threshold: float | Mapping[str, float] | None, aggregations: Sequence[str]
) -> dict[str, float | None]:
    """``{aggregation: threshold}`` for the aggregations that get an ``abs_accuracy`` row; ``None`` = in-sample."""
    if threshold is None:
        return {agg: None for agg in aggregations}
    if isinstance(threshold, Mapping):
        return {str(k): float(v) for k, v in threshold.items()}
    return {THRESHOLD_AGGREGATION: float(threshold)}


def compute_metrics(
    records: Sequence[ItemRecord],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    threshold: float | Mapping[str, float] | None = None,
    breakdowns: Sequence[str] = BREAKDOWNS,
    aggregations: Sequence[str] = AGGREGATIONS,
) -> list[MetricValue]:
    """Every IntPhys 2 number of a results file, from per-video records.

    Uses ``record.label`` (records with ``None`` -- HeldOut -- are ignored), ``pair_id``, ``cluster``
    (the scene: the bootstrap resamples scenes), ``strata`` and ``scores[aggregation]``.

    Rows, for each aggregation present in the records (``avg``, ``max``), all with a 95 % cluster
    bootstrap interval (``n_boot`` resamples of scenes, ``seed``), ``n`` and ``n_clusters``:

    - ``pairwise_accuracy`` (unit pairs, chance 0.5), see :func:`pairwise_accuracy`;
    - ``auroc`` (unit videos, chance 0.5) and ``auprc`` (official convention: possible positive,
      ``auc(recall, precision)``; chance about the share of possible videos), see :mod:`.ranking`;
    - ``ap_impossible`` (not official: average precision with impossible positive; chance = share of
      impossible videos), so that runs of earlier pjbench versions, which called it ``auprc``, compare;
    - ``abs_accuracy`` (unit videos, chance 0.5) at a threshold on the same aggregation's score, official
      rule (:mod:`.threshold`: possible right iff below, impossible right iff above, a tie is wrong):
      - ``threshold=None``: for every aggregation, the official threshold (sorted possible scores at
        index ``ceil(0.9 n)``) of the *scored* records -- fitted on the test data, hence optimistic
        (re-fitted in every bootstrap resample on the resampled possible videos);
      - a mapping ``{aggregation: value}`` (:func:`thresholds_from_records` of the dev split's records,
        what the runner should pass): a row for each aggregation in the mapping, at that threshold;
      - a float: the ``max`` threshold (the published protocol's); ``abs_accuracy@avg`` is then left
        out rather than mixing a dev threshold with an in-sample one in one results file.
      The run's protocol must say where the threshold came from.
    - breakdown rows ``subset="<column>=<value>"`` for each column of ``breakdowns`` found in the
      strata: ``pairwise_accuracy`` and ``auroc`` on the videos of that stratum (a pair counts in a
      stratum when its possible and impossible videos are both in it).

    Records without a ``pair_id`` take part in the per-video metrics only; records without a
    ``cluster`` are their own cluster.
    """
    recs = _labelled(records)
    if not recs:
        return []
    y = np.array([r.label for r in recs], dtype=np.int64)
    pair_ids = [r.pair_id for r in recs]
    clusters = [r.cluster if r.cluster is not None else f"item:{r.name}" for r in recs]
    aggs = [a for a in aggregations if any(a in r.scores for r in recs)]
    thresholds = _resolve_thresholds(threshold, aggs)
    scores = {agg: _score_array(recs, agg) for agg in aggs}
    common = dict(n_boot=n_boot, seed=seed)

    rows: list[MetricValue | None] = []
    for agg in aggs:
        s = scores[agg]
        rows.append(_pairwise_row(s, y, pair_ids, clusters, agg=agg, subset="all", **common))
        rows.append(_rank_row("auroc", s, y, clusters, agg=agg, subset="all", **common))
        rows.append(_rank_row("auprc", s, y, clusters, agg=agg, subset="all", **common))
        rows.append(_rank_row("ap_impossible", s, y, clusters, agg=agg, subset="all", **common))
        if agg in thresholds:
            rows.append(_abs_accuracy_row(s, y, clusters, thresholds[agg], agg=agg, **common))

    for column in breakdowns:
        values = sorted({r.strata[column] for r in recs if column in r.strata})
        for value in values:
            idx = [j for j, r in enumerate(recs) if r.strata.get(column) == value]
            sub = np.asarray(idx)
            subset = f"{column}={value}"
            sub_pairs = [pair_ids[j] for j in idx]
            sub_clusters = [clusters[j] for j in idx]
            for agg in aggs:
                s = scores[agg][sub]
                rows.append(_pairwise_row(s, y[sub], sub_pairs, sub_clusters, agg=agg, subset=subset, **common))
                rows.append(_rank_row("auroc", s, y[sub], sub_clusters, agg=agg, subset=subset, **common))
    return [r for r in rows if r is not None]


# --------------------------------------------------------------------------------------------------
# Published aggregation of unequal-length rows
# --------------------------------------------------------------------------------------------------


def zero_pad_rows(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Per-video loss rows -> ``(n_videos, longest)`` float64, shorter rows zero-padded at the end: what the
    published ``compute_metrics`` does before aggregating (``pad_tensors`` of jepa-intuitive-physics)."""
    arrays = [np.asarray(r, dtype=np.float64).reshape(-1) for r in rows]
    out = np.zeros((len(arrays), max((a.size for a in arrays), default=0)))
    for i, a in enumerate(arrays):
        out[i, : a.size] = a
    return out


def aggregate_padded(rows: Sequence[Sequence[float]], how: str) -> np.ndarray:
    """Per-video ``avg`` / ``max`` over rows zero-padded to the longest of ``rows`` (the published
    convention: a short video's ``avg`` is its sum over the longest length)."""
    padded = zero_pad_rows(rows)
    if how == "avg":
        return padded.mean(axis=1)
    if how == "max":
        return padded.max(axis=1)
    raise ValueError(f"unknown aggregation {how!r}; use one of {AGGREGATIONS}")
