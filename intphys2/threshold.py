"""Absolute (per-video) accuracy of a surprise score at a threshold, and the threshold rule.

Convention (jepa-intuitive-physics ``evaluation_code/evals/intuitive_physics/eval.py::compute_metrics``,
facts in ``shared/formats.md``), followed by default:

- threshold = ``sorted(max-surprise of the possible videos)[ceil(0.9 n)]``: an *index* into the sorted
  possible scores, not ``np.quantile`` (no interpolation). The official code raises ``IndexError`` for
  ``n < 10`` possible videos (``ceil(0.9 n) == n`` there); pjbench clamps the index to ``n - 1`` (the
  largest possible score) instead, so a small dev split still yields a threshold;
- a possible video is right iff ``score < threshold``, an impossible one iff ``score > threshold``: a video
  whose score EQUALS the threshold counts wrong, whatever its label (at least the possible video the
  threshold was read from).

The interpolated 90th percentile pjbench used before (:func:`quantile_threshold`, :func:`weighted_quantile`)
is kept under those names for comparisons; nothing reports it as ``abs_accuracy``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from pjbench.intphys2.ranking import scores_labels

__all__ = ["THRESHOLD_QUANTILE", "abs_accuracy", "abs_correct", "quantile_threshold", "threshold_from_possible",
           "threshold_index", "weighted_quantile", "weighted_threshold"]

THRESHOLD_QUANTILE = 0.9


def threshold_index(n: int, q: float = THRESHOLD_QUANTILE) -> int:
    """Index of the threshold in ``n`` sorted possible scores: ``ceil(q * n)`` (the official expression,
    ``np.ceil(0.90 * len(...))``, same float product), clamped to ``n - 1`` (the official code raises for
    ``n < 10``). Raises ``ValueError`` for ``n < 1``."""
    if n < 1:
        raise ValueError("no possible (label 1) video to set a threshold from")
    return min(int(math.ceil(q * n)), n - 1)


def abs_correct(scores: np.ndarray, labels: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """``1[possible and score < t] + 1[impossible and score > t]`` as floats, broadcasting ``threshold``
    (a float, or ``(m, 1)`` for a batch of resamples) against ``scores`` ``(n,)``. A tie is wrong."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels)
    return np.where(y == 1, s < threshold, s > threshold).astype(float)


def abs_accuracy(
    scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, threshold: float
) -> float | None:
    """Absolute accuracy at ``threshold``, official rule: mean over videos of ``possible: score < threshold``,
    ``impossible: score > threshold``; a score equal to the threshold is wrong. ``None`` for no videos."""
    s, y = scores_labels(scores, labels)
    if s.size == 0:
        return None
    return float(abs_correct(s, y, threshold).mean())


def threshold_from_possible(
    scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, q: float = THRESHOLD_QUANTILE
) -> float:
    """Official threshold: the possible videos' scores sorted ascending, at index :func:`threshold_index`
    (``ceil(0.9 n)``, clamped to ``n - 1``). The published protocol uses the *max* aggregation for this.
    Choose it on a dev split (Debug) or on Main, never on the split being scored if the number is to be
    reported as a held-out accuracy. Raises ``ValueError`` if there is no possible video."""
    s, y = scores_labels(scores, labels)
    possible = np.sort(s[y == 1])
    return float(possible[threshold_index(possible.size, q)])


def quantile_threshold(
    scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, q: float = THRESHOLD_QUANTILE
) -> float:
    """NOT the official rule: ``np.quantile`` (linear interpolation) of the possible videos' scores, what
    pjbench used before. Raises ``ValueError`` if there is no possible video."""
    s, y = scores_labels(scores, labels)
    possible = s[y == 1]
    if possible.size == 0:
        raise ValueError("no possible (label 1) video to set a threshold from")
    return float(np.quantile(possible, q))


def _expanded(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sorted values, cumulative counts (m, n) in that order, totals (m,))`` of each row's multiset."""
    order = np.argsort(values, kind="stable")
    x = np.asarray(values, dtype=float)[order]
    cum = np.cumsum(np.atleast_2d(np.asarray(weights, dtype=float))[:, order], axis=1)
    total = cum[:, -1] if x.size else np.zeros(cum.shape[0])
    return x, cum, total


def _at(x: np.ndarray, cum: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Value at 0-based position ``k[b]`` of row ``b``'s expanded sorted multiset: the first value whose
    cumulative count exceeds it."""
    return x[(cum > k[:, None]).argmax(axis=1)]


def weighted_threshold(values: np.ndarray, weights: np.ndarray, q: float = THRESHOLD_QUANTILE) -> np.ndarray:
    """Official threshold of each row's multiset; shape ``(m,)``.

    ``values``: the possible videos' scores ``(n,)``; ``weights``: ``(m, n)`` non-negative integer
    multiplicities (as floats): row ``b`` stands for the ``m_b = sum(weights[b])`` resampled possible
    scores, and its threshold is their sorted list at index ``ceil(q * m_b)``, clamped to ``m_b - 1``
    (:func:`threshold_index`). NaN for an empty row.
    """
    x, cum, total = _expanded(values, weights)
    if x.size == 0:
        return np.full(cum.shape[0], np.nan)
    k = np.array([threshold_index(int(t), q) if t >= 1 else 0 for t in total.tolist()], dtype=float)
    return np.where(total > 0, _at(x, cum, k), np.nan)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """NOT the official threshold: ``np.quantile(multiset, q)`` (linear interpolation) of each row's
    multiset; shape ``(m,)``. ``values``: ``(n,)``; ``weights``: ``(m, n)`` non-negative integer
    multiplicities (as floats). NaN for an empty row."""
    x, cum, total = _expanded(values, weights)
    if x.size == 0:
        return np.full(cum.shape[0], np.nan)
    h = (total - 1) * q  # numpy's 'linear' position in the expanded sorted array
    lo = np.floor(h)
    at_lo = _at(x, cum, lo)
    at_hi = _at(x, cum, np.minimum(lo + 1, total - 1))
    return np.where(total > 0, at_lo + (h - lo) * (at_hi - at_lo), np.nan)
