"""Ranking metrics of a surprise score: AUROC, AUPRC (the official convention) and average precision.

Which convention each function follows (the published one is jepa-intuitive-physics
``evaluation_code/evals/intuitive_physics/eval.py::compute_metrics``, facts in ``shared/formats.md``):

- :func:`auroc`: the official AUROC takes *possible* as the positive class with score ``-surprise`` and
  integrates ``auc(fpr, tpr)`` over ``roc_curve``; that equals AUROC with *impossible* positive and
  ``surprise`` as the score (the Mann-Whitney probability, ties one half), which is how it is computed.
- :func:`auprc`: the official AUPRC: *possible* positive, score ``-surprise``, trapezoid
  ``auc(recall, precision)`` over the points of ``precision_recall_curve`` -- one per distinct score, plus
  the curve's end point (recall 0, precision 1). It is NOT average precision and NOT impossible-positive.
- :func:`ap_impossible`: average precision with *impossible* positive and ``surprise`` as the score
  (``average_precision_score(label == 0, surprise)``): what pjbench reported as "AUPRC" before it
  followed the official convention. A different number; never reported under the name ``auprc``.

Labels are ``1`` = possible, ``0`` = impossible. Every ``*_weighted`` function evaluates a batch of
bootstrap resamples at once from a multiplicity matrix ``weights`` ``(m, n_videos)`` (row ``b`` stands for
the multiset holding video ``j`` ``weights[b, j]`` times); the plain functions are its all-ones row.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pjbench.benchmarks.surprise_pairs import scores_labels

__all__ = ["ap_impossible", "ap_impossible_weighted", "auprc", "auprc_weighted", "auroc", "auroc_weighted",
           "scores_labels"]


def _tie_groups(s_sorted: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal values in a sorted score array."""
    return np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])


def _group_sums(w: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Column sums of ``w`` ``(m, n)`` over the column runs beginning at ``starts`` -> ``(m, G)``."""
    if starts.size == w.shape[1]:
        return w  # no ties (the usual case for float surprise): every run is one column
    return np.add.reduceat(w, starts, axis=1)


def _ranked(scores, labels, weights, *, descending: bool, positive: int):
    """Per tie group of the ranking (best first), the positive and negative weight: two ``(m, G)`` arrays,
    or ``None`` for no videos."""
    s, y = scores_labels(scores, labels)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    if s.size == 0:
        return None, w.shape[0]
    order = np.argsort(-s if descending else s, kind="stable")
    starts = _tie_groups(s[order])
    ws = w[:, order]
    pos = y[order] == positive
    return (_group_sums(ws * pos, starts), _group_sums(ws * ~pos, starts)), w.shape[0]


def auroc_weighted(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC for each row of ``weights`` (``(m, n_videos)`` multiplicities); shape ``(m,)``.

    Convention: the official one (possible positive, score ``-surprise``, ``auc(roc_curve)``), computed as
    the identical impossible-positive Mann-Whitney form: the probability that a random impossible video
    scores above a random possible one, ties one half. NaN for a row where one class has zero weight.
    """
    groups, m = _ranked(scores, labels, weights, descending=False, positive=0)
    if groups is None:
        return np.full(m, np.nan)
    pos, neg = groups  # ascending surprise; pos = impossible weight, neg = possible weight per tie group
    below = np.cumsum(neg, axis=1) - neg  # possible weight strictly below each group
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    denom = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, wins / np.where(denom > 0, denom, 1.0), np.nan)


def auprc_weighted(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Official AUPRC for each row of ``weights`` (``(m, n_videos)``); shape ``(m,)``.

    Convention: jepa-intuitive-physics ``compute_metrics``: ``auc(recall, precision)`` of
    ``precision_recall_curve(label, -surprise)``, i.e. possible (label 1) positive, least surprising first.
    The curve has one point per distinct score (tied videos enter together), ``R_k = TP_k / P`` and
    ``P_k = TP_k / (TP_k + FP_k)``, plus the start point ``(R_0, P_0) = (0, 1)``; the area is the trapezoid
    sum ``sum_k (R_k - R_{k-1}) (P_k + P_{k-1}) / 2``. NaN where a class has zero weight.
    """
    groups, m = _ranked(scores, labels, weights, descending=False, positive=1)
    if groups is None:
        return np.full(m, np.nan)
    pos, neg = groups
    tp = np.cumsum(pos, axis=1)
    seen = tp + np.cumsum(neg, axis=1)
    # Tie groups absent from a resample before any video is seen repeat the start point (0, 1); later absent
    # groups repeat the previous point (same TP and FP): zero-width segments either way.
    precision = np.divide(tp, seen, out=np.ones_like(tp), where=seen > 0)
    n_pos, n_neg = tp[:, -1], neg.sum(axis=1)
    ok = (n_pos > 0) & (n_neg > 0)
    recall = tp / np.where(n_pos > 0, n_pos, 1.0)[:, None]
    r = np.hstack([np.zeros((tp.shape[0], 1)), recall])
    p = np.hstack([np.ones((tp.shape[0], 1)), precision])
    area = (np.diff(r, axis=1) * (p[:, 1:] + p[:, :-1]) / 2).sum(axis=1)
    return np.where(ok, area, np.nan)


def ap_impossible_weighted(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision, impossible positive, for each row of ``weights`` (``(m, n_videos)``); ``(m,)``.

    Convention: scikit-learn's ``average_precision_score(label == 0, surprise)``: ``sum_k (R_k - R_{k-1}) P_k``
    over the distinct score thresholds from high to low, tied scores entering together (no interpolation,
    no start point). Not the official AUPRC (:func:`auprc_weighted`). NaN where a class has zero weight.
    """
    groups, m = _ranked(scores, labels, weights, descending=True, positive=0)
    if groups is None:
        return np.full(m, np.nan)
    pos, neg = groups
    tp = np.cumsum(pos, axis=1)
    seen = tp + np.cumsum(neg, axis=1)
    # Groups absent from a resample (zero weight) add no recall, so their undefined precision is moot.
    precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
    n_pos, n_neg = tp[:, -1], neg.sum(axis=1)
    ap = (pos * precision).sum(axis=1)
    ok = (n_pos > 0) & (n_neg > 0)
    return np.where(ok, ap / np.where(ok, n_pos, 1.0), np.nan)


def _none_if_nan(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _one(fn, scores, labels) -> float | None:
    s, y = scores_labels(scores, labels)
    return _none_if_nan(fn(s, y, np.ones((1, s.size)))[0])


def auroc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float | None:
    """Area under the ROC curve (official convention, see :func:`auroc_weighted`).

    Equals ``sklearn.metrics.auc(*roc_curve(labels == 1, -scores)[:2])`` (the official call) and
    ``roc_auc_score(labels == 0, scores)``. Chance 0.5. ``None`` when one class is absent.
    """
    return _one(auroc_weighted, scores, labels)


def auprc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float | None:
    """Area under the precision-recall curve, official convention (see :func:`auprc_weighted`).

    Equals ``auc(recall, precision)`` with ``precision, recall, _ = precision_recall_curve(labels, -scores)``
    (possible positive). Chance: about the share of *possible* videos (the positive class); slightly above it
    for few videos, because the trapezoid starts at precision 1. ``None`` when one class is absent.
    """
    return _one(auprc_weighted, scores, labels)


def ap_impossible(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float | None:
    """Average precision with impossible (label 0) positive, surprise as score (NOT the official AUPRC).

    Equals ``sklearn.metrics.average_precision_score(labels == 0, scores)``. Chance = the share of
    impossible videos. ``None`` when one class is absent.
    """
    return _one(ap_impossible_weighted, scores, labels)
