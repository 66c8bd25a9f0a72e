"""Paired multiple-choice metrics against hand-computed values (the answer parsers: tests/test_parsers.py)."""

import numpy as np
import pytest

from pjbench.benchmarks.bootstrap import cluster_bootstrap_ci, cluster_codes, percentile_interval, resample_clusters
from pjbench.benchmarks.paired import (
    macro_accuracy,
    pair_accuracy,
    pair_correct,
    qa_metrics,
    single_accuracy,
)
from pjbench.benchmarks.results import ItemRecord


def test_pair_correct_counts_both_right_and_sets_incomplete_pairs_aside():
    correct = [1, 1, 1, 0, 0, 0, 1, 1, 1, 1]
    pairs = ["p", "p", "q", "q", "r", "r", "solo", "t", "t", "t"]
    res = pair_correct(correct, pairs)
    assert res.keys.tolist() == ["p", "q", "r"]
    assert res.both.tolist() == [1.0, 0.0, 0.0]
    assert res.first.tolist() == [0, 2, 4]
    assert res.incomplete == ("solo", "t")


def test_pair_accuracy_value_n_chance_and_interval_from_an_independent_bootstrap():
    rng = np.random.default_rng(1)
    n_pairs = 40
    correct = rng.integers(0, 2, size=2 * n_pairs)
    pairs = [f"p{j // 2:02d}" for j in range(2 * n_pairs)]
    row = pair_accuracy(correct, pairs, chance=0.25, n_boot=300, seed=7)
    both = (correct[0::2] == 1) & (correct[1::2] == 1)
    assert row.value == pytest.approx(both.mean())
    assert (row.n, row.n_clusters, row.chance, row.unit, row.name) == (n_pairs, n_pairs, 0.25, "pairs", "pair_accuracy")
    # Same resamples through the index-based bootstrap on per-pair values.
    keys = sorted(set(pairs))
    low, high = cluster_bootstrap_ci(lambda idx: both.astype(float)[idx].mean(), keys, n_boot=300, seed=7)
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high))
    assert row.ci_low <= row.value <= row.ci_high


def test_single_accuracy_resamples_pairs_together():
    correct = [1, 0, 1, 1, 0, 0]
    pairs = ["a", "a", "b", "b", "c", "c"]
    row = single_accuracy(correct, pairs, chance=0.5, n_boot=200, seed=0)
    assert row.value == pytest.approx(3 / 6)
    assert (row.n, row.n_clusters, row.unit) == (6, 3, "items")
    c = np.asarray(correct, dtype=float)
    low, high = cluster_bootstrap_ci(lambda idx: c[idx].mean(), pairs, n_boot=200, seed=0)
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high))


def test_pair_clusters_coarser_than_pairs():
    # Two qids share video v1: 2 clusters, 3 pairs.
    correct = [1, 1, 0, 1, 1, 1]
    pairs = ["q1", "q1", "q2", "q2", "q3", "q3"]
    clusters = ["v1", "v1", "v1", "v1", "v2", "v2"]
    row = pair_accuracy(correct, pairs, clusters, chance=0.04, n_boot=100, seed=0)
    assert row.value == pytest.approx(2 / 3) and row.n == 3 and row.n_clusters == 2
    with pytest.raises(ValueError, match="spans two clusters"):
        pair_accuracy(correct, pairs, ["v1", "v2", "v1", "v1", "v2", "v2"], chance=0.04, n_boot=10)


def test_macro_mean_weighs_strata_equally_and_uses_the_same_resamples():
    # Stratum x: pair p right, q wrong -> 0.5; stratum y: r, s, u right -> 1.0. Macro 0.75, pooled 4/5.
    correct = [1, 1, 0, 1, 1, 1, 1, 1, 1, 1]
    pairs = ["p", "p", "q", "q", "r", "r", "s", "s", "u", "u"]
    strata = ["x"] * 4 + ["y"] * 6
    row = macro_accuracy(correct, pairs, strata, level="pair", chance=0.25, n_boot=400, seed=3)
    assert row.value == pytest.approx((0.5 + 1.0) / 2)
    assert pair_accuracy(correct, pairs, chance=0.25, n_boot=10).value == pytest.approx(4 / 5)
    assert row.n == 5 and row.unit == "pairs"

    # Independent re-implementation: draw the pairs, recompute each stratum mean, average; a resample
    # missing a stratum is undefined.
    both = {"p": 1.0, "q": 0.0, "r": 1.0, "s": 1.0, "u": 1.0}
    stratum = {"p": "x", "q": "x", "r": "y", "s": "y", "u": "y"}
    keys = sorted(both)
    codes, k = cluster_codes(keys)
    draws = resample_clusters(k, 400, 3)
    stats = []
    for d in draws:
        drawn = [keys[i] for i in d]
        means = []
        for s in ("x", "y"):
            vals = [both[p] for p in drawn if stratum[p] == s]
            means.append(np.mean(vals) if vals else np.nan)
        stats.append(np.mean(means))
    low, high = percentile_interval(np.array(stats))
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high))

    single = macro_accuracy(correct, pairs, strata, level="single", chance=0.5, n_boot=100, seed=3)
    assert single.value == pytest.approx((3 / 4 + 1.0) / 2) and single.unit == "items" and single.n == 10


def test_macro_interval_is_none_when_a_stratum_is_mostly_missing_from_resamples():
    correct = [1] * 2 + [0] * 38
    pairs = [f"p{j // 2}" for j in range(40)]
    strata = ["tiny"] * 2 + ["big"] * 38  # 'tiny' has 1 of 20 pairs: absent from ~36 % of resamples
    row = macro_accuracy(correct, pairs, strata, chance=0.25, n_boot=200, seed=0)
    assert row.value == pytest.approx(0.5) and row.ci_low is None and row.ci_high is None


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="missing answer"):
        pair_accuracy([1, None], ["a", "a"], chance=0.25)
    with pytest.raises(ValueError, match="2 entries"):
        pair_accuracy([1, 0, 1], ["a", "a"], chance=0.25)
    with pytest.raises(ValueError, match="two strata"):
        macro_accuracy([1, 1], ["a", "a"], ["x", "y"], chance=0.25)
    assert pair_accuracy([], [], chance=0.25) is None
    assert pair_accuracy([1], ["lonely"], chance=0.25) is None


def _rec(name, pair, label, pred, config, cluster=None):
    return ItemRecord(name=name, split="mini", path="", label=label, pair_id=pair, cluster=cluster or pair,
                      strata={"config": config, "source": "s"}, prediction=pred)


def test_qa_metrics_rows_on_complete_pairs():
    records = [
        _rec("a0", "A", 0, 0, "c1"), _rec("a1", "A", 1, 1, "c1"),      # right
        _rec("b0", "B", 0, 0, "c1"), _rec("b1", "B", 1, None, "c1"),   # unanswered -> wrong
        _rec("c0", "C", 1, 1, "c2"), _rec("c1", "C", 0, 0, "c2"),      # right
        _rec("d0", "D", 1, 1, "c2"),                                    # partner not scored: left out
        _rec("e0", "E", None, 1, "c2"), _rec("e1", "E", None, 0, "c2"),  # unlabelled: ignored
    ]
    rows = {m.key(): m for m in qa_metrics(records, macro_over="config", breakdowns=("source",), pair_chance=0.25,
                                           single_chance=0.5, n_boot=50, seed=0)}
    assert rows["pair_accuracy[all]"].value == pytest.approx((0.5 + 1.0) / 2)
    assert rows["pair_accuracy_pooled[all]"].value == pytest.approx(2 / 3)
    assert rows["single_accuracy[all]"].value == pytest.approx((3 / 4 + 1.0) / 2)
    assert rows["single_accuracy_pooled[all]"].value == pytest.approx(5 / 6)
    assert rows["pair_accuracy[config=c1]"].value == pytest.approx(0.5)
    assert rows["pair_accuracy[config=c2]"].n == 1
    assert rows["pair_accuracy[source=s]"].value == pytest.approx(2 / 3)
    assert rows["pair_accuracy[all]"].chance == 0.25 and rows["single_accuracy[all]"].chance == 0.5
    assert qa_metrics([], macro_over="config", breakdowns=(), pair_chance=0.25, single_chance=0.5) == []


def test_one_macro_statistic_and_missing_stratum_rule_for_results_and_comparisons():
    """The headline CI (results) and the paired difference CI (compare / report) use one macro statistic:
    a resample that lacks a stratum is undefined (NaN), never a mean over the strata it happens to have."""
    from pjbench.benchmarks.bootstrap import cluster_codes, macro_mean_statistic
    from pjbench.benchmarks.compare import paired_bootstrap
    from pjbench.benchmarks.paired import metric_row

    rng = np.random.default_rng(0)
    values = rng.integers(0, 2, 30).astype(float)
    values[27:] = 1.0  # stratum B: 3 of 30 clusters, all right; a resample misses it with p = 0.9**30 ~ 4 %
    strata = ["A"] * 27 + ["B"] * 3
    clusters = [f"c{i}" for i in range(30)]
    codes, k = cluster_codes(strata)
    stat = macro_mean_statistic(values, codes, k)
    assert stat(np.ones((1, 30)))[0] == pytest.approx((values[:27].mean() + 1.0) / 2)
    missing_b = np.ones((1, 30))
    missing_b[0, 27:] = 0
    assert np.isnan(stat(missing_b)[0]), "a resample without stratum B is undefined"
    row = metric_row(stat, 30, clusters, name="m", chance=0.25, subset="all", unit="pairs", n_boot=2000, seed=7)
    diff = paired_bootstrap(values, np.zeros(30), clusters, strata=strata, n_boot=2000, seed=7)
    assert (row.ci_low, row.ci_high) == (diff.ci_low, diff.ci_high)
    assert row.value == pytest.approx(diff.value_a)
