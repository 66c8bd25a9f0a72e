"""Cluster (block) bootstrap confidence intervals, shared by every benchmark.

Why clusters: the units a metric averages over are rarely independent. IntPhys 2 renders a scene
(``SceneIndex``) twice, so its two matched pairs share objects, camera and physics; MVPBench and
CausalVQA items come in pairs. Resampling units one by one would pretend we have more independent
evidence than we do and give intervals that are too narrow. We resample whole clusters with
replacement (every unit of a drawn cluster comes along, as many times as the cluster is drawn) and
report the percentile interval of the statistic over the resamples.

Two entry points share one resampling scheme (same ``seed`` -> same resamples):

- :func:`cluster_bootstrap_ci` takes ``statistic(indices) -> float`` and calls it once per resample.
  Simple and general (any metric), about 10-50 us per call for a few hundred units.
- :func:`cluster_bootstrap_ci_weighted` takes ``statistic(weights) -> (n_boot,)`` where ``weights`` is
  the ``(n_boot, n_units)`` matrix of how often each unit occurs in each resample. Metrics that are
  weighted means or rank statistics evaluate all resamples in a few array operations; use it where a
  metric is computed many times (breakdown rows).

Because both see the same resamples, ``statistic(idx) == statistic_w(weights)[b]`` holds for the same
``b`` (tested), so a metric can move from one to the other without changing its interval.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = [
    "cluster_bootstrap_ci",
    "cluster_bootstrap_ci_weighted",
    "cluster_codes",
    "cluster_weights",
    "percentile_interval",
    "resample_clusters",
]

# Weighted statistics are evaluated in chunks of resamples so that the (chunk, n_units) matrix stays
# below ~32 MB of float64 even for 50k-item benchmarks.
_MAX_WEIGHT_CELLS = 4_000_000


def cluster_codes(clusters: Sequence[object] | np.ndarray) -> tuple[np.ndarray, int]:
    """Map cluster ids to ``int`` codes ``0..K-1`` in sorted order of ``str(id)``.

    Returns ``(codes, K)`` with ``codes`` of shape ``(n_units,)``. Ids are compared as strings, and codes
    follow their sorted order rather than the order of the units: two runs that list the same items
    in a different order (e.g. two models) then get the same resamples for the same seed. ``None`` is
    an id like any other (all ``None`` units form one cluster); pass unique ids for independent units.
    """
    ids = np.asarray([str(c) for c in clusters], dtype=str)
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    uniq, codes = np.unique(ids, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), int(uniq.size)


def resample_clusters(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """The cluster draws: ``int (n_boot, n_clusters)``, row ``b`` = the clusters of resample ``b``.

    Every resample draws as many clusters as there are (with replacement), as the textbook cluster
    bootstrap does; the number of units then varies a little between resamples.
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_clusters, size=(n_boot, n_clusters))


def percentile_interval(
    stats: np.ndarray, level: float = 0.95, max_undefined: float = 0.1
) -> tuple[float | None, float | None]:
    """Percentile interval of bootstrap statistics ``stats`` (shape ``(n_boot,)``).

    NaN entries (a resample where the metric is undefined, e.g. AUROC with one class) are dropped.
    If more than ``max_undefined`` of them are NaN the interval would describe a biased sub-population
    of resamples, so ``(None, None)`` is returned instead.
    """
    stats = np.asarray(stats, dtype=float)
    if stats.size == 0:
        return None, None
    ok = stats[np.isfinite(stats)]
    if ok.size == 0 or (stats.size - ok.size) > max_undefined * stats.size:
        return None, None
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(ok, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _check(level: float, n_boot: int) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")


def cluster_bootstrap_ci(
    statistic: Callable[[np.ndarray], float | None],
    clusters: Sequence[object] | np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    max_undefined: float = 0.1,
) -> tuple[float | None, float | None]:
    """Percentile confidence interval of ``statistic`` under a cluster bootstrap.

    Args:
        statistic: ``statistic(indices) -> float``; ``indices`` is an ``int`` array of unit positions
            (``0..n_units-1``, repeats allowed, order meaningless) and the function computes the metric
            on those units. Returning ``None`` or NaN marks a resample where the metric is undefined.
        clusters: cluster id of each unit, length ``n_units``. Units of one cluster are drawn together.
            For independent units pass ``range(n_units)``.
        n_boot: number of resamples.
        level: coverage of the interval (0.95 -> 2.5th and 97.5th percentiles).
        seed: seed of the resampling; the same seed gives the same resamples (and the same resamples
            as :func:`cluster_bootstrap_ci_weighted`).
        max_undefined: largest share of undefined resamples that is tolerated (they are dropped); above
            it the result is ``(None, None)``.

    Returns:
        ``(low, high)``, or ``(None, None)`` when there are no units or too many undefined resamples.
    """
    _check(level, n_boot)
    codes, k = cluster_codes(clusters)
    if k == 0:
        return None, None
    # Units sorted by cluster: cluster c owns the contiguous block order[start[c] : start[c] + size[c]].
    order = np.argsort(codes, kind="stable")
    size = np.bincount(codes, minlength=k)
    start = np.concatenate(([0], np.cumsum(size)[:-1]))
    draws = resample_clusters(k, n_boot, seed)
    stats = np.empty(n_boot)
    chunk = max(1, _MAX_WEIGHT_CELLS // max(1, codes.size))
    for lo in range(0, n_boot, chunk):
        # Index arrays of a whole chunk of resamples at once: the drawn blocks laid end to end, where
        # output position j of draw d is start[d] + (j - offset of d); then cut per resample.
        flat_draws = draws[lo : lo + chunk].ravel()
        sizes = size[flat_draws]
        offsets = np.cumsum(sizes) - sizes
        pos = np.repeat(start[flat_draws] - offsets, sizes) + np.arange(int(sizes.sum()))
        ends = np.cumsum(sizes.reshape(-1, k).sum(axis=1))[:-1]
        for b, idx in enumerate(np.split(order[pos], ends), start=lo):
            value = statistic(idx)
            stats[b] = np.nan if value is None else float(value)
    return percentile_interval(stats, level, max_undefined)


def cluster_weights(codes: np.ndarray, k: int, draws: np.ndarray) -> np.ndarray:
    """Multiplicity of each unit in each resample: ``float (n_boot, n_units)``.

    ``codes``: cluster code per unit ``(n_units,)``; ``draws``: ``(n_boot, k)`` from
    :func:`resample_clusters`.
    """
    n_boot = draws.shape[0]
    flat = (draws + (np.arange(n_boot) * k)[:, None]).ravel()
    per_cluster = np.bincount(flat, minlength=n_boot * k).reshape(n_boot, k)
    return per_cluster[:, codes].astype(float)


def cluster_bootstrap_ci_weighted(
    statistic: Callable[[np.ndarray], np.ndarray],
    clusters: Sequence[object] | np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    max_undefined: float = 0.1,
) -> tuple[float | None, float | None]:
    """Like :func:`cluster_bootstrap_ci`, for statistics that evaluate many resamples at once.

    ``statistic(weights) -> (m,)`` receives ``weights``, a ``float (m, n_units)`` matrix whose row ``b``
    says how many times each unit occurs in resample ``b`` (a resample is the multiset of units, so any
    statistic that is a function of the multiset can be written this way; e.g. a mean is
    ``weights @ x / weights.sum(1)``). ``m <= n_boot``: resamples are passed in chunks to bound memory.
    NaN entries mark undefined resamples. Same resamples as :func:`cluster_bootstrap_ci` for a seed.
    """
    _check(level, n_boot)
    codes, k = cluster_codes(clusters)
    if k == 0:
        return None, None
    draws = resample_clusters(k, n_boot, seed)
    chunk = max(1, _MAX_WEIGHT_CELLS // max(1, codes.size))
    parts = []
    for lo in range(0, n_boot, chunk):
        w = cluster_weights(codes, k, draws[lo : lo + chunk])
        out = np.asarray(statistic(w), dtype=float).reshape(-1)
        if out.shape[0] != w.shape[0]:
            raise ValueError(f"weighted statistic returned {out.shape[0]} values for {w.shape[0]} resamples")
        parts.append(out)
    return percentile_interval(np.concatenate(parts), level, max_undefined)


def macro_mean_statistic(values: np.ndarray, stratum_codes: np.ndarray, n_strata: int) -> Callable[[np.ndarray], np.ndarray]:
    """``w (m, n) -> (m,)``: the unweighted mean over strata of each stratum's ``w``-weighted mean of ``values``
    (the macro mean MVPBench and CausalVQA define their headline by), for :func:`cluster_bootstrap_ci_weighted`.

    The one missing-stratum rule of pjbench: a resample in which some stratum of the sample has no unit is
    NaN (undefined): the estimand is the macro mean over the sample's fixed set of strata, which such a
    resample cannot estimate. :func:`percentile_interval` drops undefined resamples and gives no interval
    when more than ``max_undefined`` of them are (too few units per stratum for a bootstrap CI). Used by
    the results' headline rows, the probe-vs-control difference and ``pjbench compare`` / the report alike.
    """
    values = np.asarray(values, dtype=float).reshape(-1)
    onehot = np.zeros((values.size, n_strata))
    onehot[np.arange(values.size), np.asarray(stratum_codes).reshape(-1)] = 1.0

    def stat(w: np.ndarray) -> np.ndarray:
        total = w @ onehot  # (m, S)
        hits = w @ (onehot * values[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(total > 0, hits / np.where(total > 0, total, 1.0), np.nan)
        return np.where((total > 0).all(axis=1), means.mean(axis=1), np.nan)

    return stat
