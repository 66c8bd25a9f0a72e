"""The ``surprise_pairs`` item kind (:data:`pjbench.benchmarks.taskspec.ITEM_KINDS`): how per-window
surprise becomes one score per video (:data:`AGGREGATIONS`, :func:`aggregate`) and how matched possible /
impossible videos are compared (:func:`pair_values`: the official rule, a tie counts as wrong).

Defined once, in the core and free of torch, so the surprise readout, the IntPhys 2 metrics, comparisons
and reports (which read results files only) share one rule. Labels: 1 = possible, 0 = impossible.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["AGGREGATIONS", "TIE_RULES", "aggregate", "pair_values", "scores_labels"]

AGGREGATIONS = ("avg", "max")


def aggregate(losses: Sequence[float], how: str) -> float:
    """One score per video from its per-window losses: ``avg`` (mean) or ``max``."""
    arr = np.asarray(losses, dtype=np.float64)
    if how == "avg":
        return float(arr.mean())
    if how == "max":
        return float(arr.max())
    raise ValueError(f"unknown aggregation {how!r}; use one of {AGGREGATIONS}")


def scores_labels(
    scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores float64, labels int64)``, both ``(n,)``; raises ``ValueError`` on a length mismatch, a
    non-finite score or a label other than 0/1."""
    s = np.asarray(scores, dtype=float).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {y.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite (found NaN or inf)")
    if y.size and not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 (impossible) or 1 (possible)")
    return s, y.astype(np.int64)


TIE_RULES = ("wrong", "half")


def pair_values(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    pair_ids: Sequence[str] | np.ndarray,
    ties: str = "wrong",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair pairwise accuracy.

    For each pair id, the mean over every (possible ``p``, impossible ``i``) combination of
    ``1[s_i > s_p]`` -- the official rule: a tie counts as wrong -- or, with ``ties="half"``,
    ``1[s_i > s_p] + 0.5 * 1[s_i == s_p]``. Ties are not rare: matched videos share their first part,
    so with the ``max`` aggregation both often peak in the same shared window. A 1x1 pair gives 0
    (or 0.5) or 1; a Debug group of ``k`` possible and ``k`` impossible renders gives the mean over its
    ``k*k`` combinations. Pairs lacking one of the two classes have no combination and are left out.

    Returns ``(pair_keys, values)``: the pair ids that have both classes (sorted) and their values in
    [0, 1], both of shape ``(n_pairs,)``.
    """
    s, y = scores_labels(scores, labels)
    ids = np.asarray([str(p) for p in pair_ids], dtype=str)
    if ids.shape != s.shape:
        raise ValueError(f"pair_ids and scores differ in length: {ids.size} vs {s.size}")
    if s.size == 0:
        return np.zeros(0, dtype=str), np.zeros(0)
    keys, codes = np.unique(ids, return_inverse=True)
    codes = codes.reshape(-1)
    g = keys.size
    # Possible videos sorted by pair: pair c owns the block p_idx[p_start[c] : p_start[c] + p_count[c]].
    p_idx = np.flatnonzero(y == 1)
    p_idx = p_idx[np.argsort(codes[p_idx], kind="stable")]
    p_count = np.bincount(codes[p_idx], minlength=g)
    p_start = np.cumsum(p_count) - p_count
    # Every impossible video is repeated once per possible video of its pair: all combinations,
    # without a Python loop over pairs.
    i_idx = np.flatnonzero(y == 0)
    reps = p_count[codes[i_idx]]
    i_rep = np.repeat(i_idx, reps)
    offsets = np.cumsum(reps) - reps
    p_rep = p_idx[np.repeat(p_start[codes[i_idx]] - offsets, reps) + np.arange(int(reps.sum()))]
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    win = (s[i_rep] > s[p_rep]).astype(float)
    if ties == "half":
        win += 0.5 * (s[i_rep] == s[p_rep])
    n_comb = np.bincount(codes[i_rep], minlength=g)
    total = np.bincount(codes[i_rep], weights=win, minlength=g)
    ok = n_comb > 0
    return keys[ok], total[ok] / n_comb[ok]
