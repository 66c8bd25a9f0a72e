"""Cluster bootstrap: coverage, the effect of clustering, determinism, and the two entry points agreeing."""

from __future__ import annotations

import numpy as np
import pytest

from pjbench.benchmarks.bootstrap import (
    cluster_bootstrap_ci,
    cluster_bootstrap_ci_weighted,
    cluster_codes,
    percentile_interval,
)


def weighted_mean(x: np.ndarray):
    return lambda w: (w @ x) / w.sum(axis=1)


def test_coverage_of_a_bernoulli_mean():
    # 1000 data sets of 100 Bernoulli(0.6) draws: the 95 % interval should contain 0.6 about 95 % of
    # the time (the percentile bootstrap of a proportion runs slightly below nominal at n = 100).
    rng = np.random.default_rng(0)
    hits = 0
    n_sim = 1000
    for i in range(n_sim):
        x = (rng.random(100) < 0.6).astype(float)
        low, high = cluster_bootstrap_ci_weighted(weighted_mean(x), np.arange(100), n_boot=500, seed=i)
        hits += low <= 0.6 <= high
    assert 0.93 <= hits / n_sim <= 0.97


def test_coverage_index_api_small():
    # The index-based API on fewer simulations (it calls the statistic once per resample).
    rng = np.random.default_rng(1)
    hits = 0
    for i in range(100):
        x = (rng.random(80) < 0.6).astype(float)
        low, high = cluster_bootstrap_ci(lambda idx: x[idx].mean(), np.arange(80), n_boot=400, seed=i)
        hits += low <= 0.6 <= high
    assert 0.88 <= hits / 100 <= 1.0


def _clustered(rng, k=40, m=5):
    # Each cluster has its own success rate around 0.6: units within a cluster are correlated.
    p = np.clip(0.6 + rng.normal(0, 0.2, k), 0, 1)
    x = (rng.random((k, m)) < p[:, None]).astype(float).ravel()
    return x, np.repeat(np.arange(k), m)


def test_clusters_widen_intervals_and_restore_coverage():
    rng = np.random.default_rng(2)
    hit_c = hit_u = 0
    width_c = width_u = 0.0
    n_sim = 200
    for i in range(n_sim):
        x, clusters = _clustered(rng)
        lo_c, hi_c = cluster_bootstrap_ci_weighted(weighted_mean(x), clusters, n_boot=400, seed=i)
        lo_u, hi_u = cluster_bootstrap_ci_weighted(weighted_mean(x), np.arange(x.size), n_boot=400, seed=i)
        hit_c += lo_c <= 0.6 <= hi_c
        hit_u += lo_u <= 0.6 <= hi_u
        width_c += hi_c - lo_c
        width_u += hi_u - lo_u
    assert width_c > 1.15 * width_u  # design effect 1 + (m - 1) * ICC, here about 1.6 in variance
    assert hit_c / n_sim >= 0.9
    assert hit_u / n_sim < hit_c / n_sim  # pretending units are independent under-covers


def test_deterministic_by_seed_and_order_free():
    rng = np.random.default_rng(3)
    x, clusters = _clustered(rng)
    a = cluster_bootstrap_ci(lambda idx: x[idx].mean(), clusters, n_boot=200, seed=7)
    b = cluster_bootstrap_ci(lambda idx: x[idx].mean(), clusters, n_boot=200, seed=7)
    c = cluster_bootstrap_ci(lambda idx: x[idx].mean(), clusters, n_boot=200, seed=8)
    assert a == b
    assert a != c
    # Listing the units in another order (another model's run) gives the same resamples.
    perm = rng.permutation(x.size)
    d = cluster_bootstrap_ci(lambda idx: x[perm][idx].mean(), clusters[perm], n_boot=200, seed=7)
    assert d == pytest.approx(a, abs=1e-12)


def test_index_and_weighted_apis_see_the_same_resamples():
    rng = np.random.default_rng(4)
    x = rng.normal(size=60)
    clusters = [f"s{j // 3}" for j in range(60)]  # string ids, uneven use of codes
    clusters[5] = "odd"  # a cluster of size 1
    a = cluster_bootstrap_ci(lambda idx: x[idx].mean(), clusters, n_boot=300, seed=11)
    b = cluster_bootstrap_ci_weighted(weighted_mean(x), clusters, n_boot=300, seed=11)
    assert a == pytest.approx(b, abs=1e-12)


def test_weighted_chunks_give_the_same_answer(monkeypatch):
    import pjbench.benchmarks.bootstrap as bs

    x = np.random.default_rng(5).normal(size=50)
    whole = cluster_bootstrap_ci_weighted(weighted_mean(x), np.arange(50) // 2, n_boot=100, seed=1)
    monkeypatch.setattr(bs, "_MAX_WEIGHT_CELLS", 50 * 7)  # chunks of 7 resamples
    chunked = cluster_bootstrap_ci_weighted(weighted_mean(x), np.arange(50) // 2, n_boot=100, seed=1)
    assert whole == pytest.approx(chunked, abs=1e-12)


def test_undefined_resamples_dropped_or_give_none():
    # Statistic undefined when cluster 0 is not drawn: with 2 clusters that is 1/4 of resamples.
    clusters = np.array([0, 1])

    def stat(idx):
        return 1.0 if 0 in idx else None

    assert cluster_bootstrap_ci(stat, clusters, n_boot=200, seed=0) == (None, None)
    assert cluster_bootstrap_ci(stat, clusters, n_boot=200, seed=0, max_undefined=0.5) == (1.0, 1.0)
    assert percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0]), max_undefined=0.3) == pytest.approx((1.05, 2.95))
    assert cluster_bootstrap_ci(lambda idx: 0.0, [], n_boot=10) == (None, None)


def test_single_cluster_and_bad_arguments():
    x = np.array([1.0, 0.0, 1.0])
    assert cluster_bootstrap_ci(lambda idx: x[idx].mean(), ["a", "a", "a"], n_boot=50) == pytest.approx((2 / 3, 2 / 3))
    with pytest.raises(ValueError):
        cluster_bootstrap_ci(lambda idx: 0.0, [0, 1], level=95)
    with pytest.raises(ValueError):
        cluster_bootstrap_ci(lambda idx: 0.0, [0, 1], n_boot=0)


def test_cluster_codes_sorted_by_id():
    codes, k = cluster_codes(["b", "a", "b", "10", "2"])
    assert k == 4
    assert codes.tolist() == [3, 2, 3, 0, 1]  # "10" < "2" < "a" < "b" as strings


def test_many_metrics_give_valid_deterministic_intervals():
    # The workload `pjbench perf --only bootstrap` times (10 metrics x 1000 resamples of 500 pairs); here only
    # what it computes is checked: each interval brackets the point estimate, and a seed repeats its interval.
    rng = np.random.default_rng(6)
    x = rng.random(500)
    clusters = np.arange(500) // 2
    for seed in range(10):
        low, high = cluster_bootstrap_ci_weighted(weighted_mean(x), clusters, n_boot=1000, seed=seed)
        assert low < x.mean() < high and high - low < 0.1
        assert (low, high) == cluster_bootstrap_ci_weighted(weighted_mean(x), clusters, n_boot=1000, seed=seed)
    for seed in range(10):
        low, high = cluster_bootstrap_ci(lambda idx: x[idx].mean(), clusters, n_boot=1000, seed=seed)
        assert low < x.mean() < high and high - low < 0.1
