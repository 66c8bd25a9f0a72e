"""IntPhys 2 metrics against hand-computed values and scikit-learn."""

from __future__ import annotations


import numpy as np
import pytest
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from pjbench.benchmarks.results import ItemRecord
from pjbench.intphys2.metrics import (
    abs_accuracy,
    ap_impossible,
    ap_impossible_weighted,
    auprc,
    auprc_weighted,
    auroc,
    auroc_weighted,
    compute_metrics,
    pair_values,
    pairwise_accuracy,
    quantile_threshold,
    threshold_from_possible,
    thresholds_from_records,
    weighted_quantile,
    weighted_threshold,
)

# Three Main-style 1x1 pairs, written out (label 1 = possible, 0 = impossible):
#   A: possible 1.0, impossible 2.0 -> impossible more surprising      -> 1
#   B: possible 3.0, impossible 1.0 -> wrong way                       -> 0
#   C: possible 2.0, impossible 2.0 -> tie: wrong (official rule)     -> 0 (0.5 with ties="half")
SCORES = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 2.0])
LABELS = np.array([1, 0, 1, 0, 1, 0])
PAIRS = np.array(["A", "A", "B", "B", "C", "C"])


def test_pairwise_accuracy_by_hand():
    keys, values = pair_values(SCORES, LABELS, PAIRS)
    assert keys.tolist() == ["A", "B", "C"]
    assert values.tolist() == [1.0, 0.0, 0.0]
    assert pairwise_accuracy(SCORES, LABELS, PAIRS) == pytest.approx(1 / 3)
    assert pair_values(SCORES, LABELS, PAIRS, ties="half")[1].tolist() == [1.0, 0.0, 0.5]
    assert pairwise_accuracy(SCORES, LABELS, PAIRS, ties="half") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="ties"):
        pairwise_accuracy(SCORES, LABELS, PAIRS, ties="coin")


def test_pairwise_accuracy_row_order_free():
    perm = [5, 2, 0, 3, 1, 4]
    assert pairwise_accuracy(SCORES[perm], LABELS[perm], PAIRS[perm]) == pytest.approx(1 / 3)


def test_pairwise_accuracy_kxk_groups():
    # Debug-style group "D": 3 possible renders [1, 2, 3] and 3 impossible [2, 2, 4].
    #   impossible 2 vs possible 1, 2, 3 -> 1 + 0 (tie) + 0 = 1   (twice: 2)
    #   impossible 4 vs possible 1, 2, 3 -> 3
    #   5 / 9 combinations.
    # Plus a 1x1 pair "E" that is wrong (0). Pairs weigh equally: (5/9 + 0) / 2 = 5/18, not 5/10.
    scores = [1, 2, 3, 2, 2, 4, 5, 1]
    labels = [1, 1, 1, 0, 0, 0, 1, 0]
    pairs = ["D"] * 6 + ["E"] * 2
    _, values = pair_values(scores, labels, pairs)
    assert values == pytest.approx([5 / 9, 0.0])
    assert pairwise_accuracy(scores, labels, pairs) == pytest.approx(5 / 18)
    assert pairwise_accuracy(scores, labels, pairs, ties="half") == pytest.approx((6 / 9) / 2)


def test_pairwise_accuracy_incomplete_pairs_left_out():
    # Pair "X" has no impossible video: it cannot be scored and does not count.
    assert pairwise_accuracy([1, 2, 5], [1, 0, 1], ["Y", "Y", "X"]) == 1.0
    assert pairwise_accuracy([1, 2], [1, 1], ["X", "X"]) is None
    assert pairwise_accuracy([], [], []) is None


def test_pairwise_matches_brute_force():
    rng = np.random.default_rng(0)
    n = 60
    scores = rng.integers(0, 4, n).astype(float)  # many ties
    labels = rng.integers(0, 2, n)
    pairs = rng.integers(0, 8, n).astype(str)
    expected = []
    for p in sorted(set(pairs)):
        pos = scores[(pairs == p) & (labels == 1)]
        imp = scores[(pairs == p) & (labels == 0)]
        if pos.size and imp.size:
            expected.append(np.mean([(i > q) + 0.5 * (i == q) for i in imp for q in pos]))
    assert pairwise_accuracy(scores, labels, pairs, ties="half") == pytest.approx(np.mean(expected))


def official_auprc(scores, labels):
    """The official call of compute_metrics: possible (label 1) positive, score -surprise."""
    precision, recall, _ = precision_recall_curve(np.asarray(labels) == 1, -np.asarray(scores, dtype=float))
    return auc(recall, precision)


def official_auroc(scores, labels):
    fpr, tpr, _ = roc_curve(np.asarray(labels) == 1, -np.asarray(scores, dtype=float))
    return auc(fpr, tpr)


def test_auroc_by_hand():
    # AUROC of the 6 videos above: impossible [2, 1, 2] vs possible [1, 3, 2], 9 combinations:
    #   2: 1 + 0 + 0.5; 1: 0.5 + 0 + 0; 2: 1 + 0 + 0.5 -> 3.5 / 9.
    assert auroc(SCORES, LABELS) == pytest.approx(3.5 / 9)


def test_auprc_is_the_official_possible_positive_trapezoid_by_hand():
    # 4 possible [0.1, 0.3, 0.5, 0.8] and 4 impossible [0.2, 0.6, 0.7, 0.9] surprise scores.
    # Official: possible positive, score -surprise, so the ranking runs from the LEAST surprising:
    #   0.1 P, 0.2 I, 0.3 P, 0.5 P, 0.6 I, 0.7 I, 0.8 P, 0.9 I
    # curve points (recall, precision) after each video, plus the start (0, 1):
    #   (0, 1) (1/4, 1) (1/4, 1/2) (2/4, 2/3) (3/4, 3/4) (3/4, 3/5) (3/4, 1/2) (1, 4/7) (1, 1/2)
    # trapezoids (dR * mean P): 1/4 * (1 + 1)/2 = 1/4;  0;  1/4 * (1/2 + 2/3)/2 = 7/48;
    #   1/4 * (2/3 + 3/4)/2 = 17/96;  0;  0;  1/4 * (1/2 + 4/7)/2 = 15/112;  0
    #   AUPRC = 1/4 + 7/48 + 17/96 + 15/112 = 0.70796...
    scores = [0.1, 0.3, 0.5, 0.8, 0.2, 0.6, 0.7, 0.9]
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    expected = 1 / 4 + 7 / 48 + 17 / 96 + 15 / 112
    assert auprc(scores, labels) == pytest.approx(expected)
    assert official_auprc(scores, labels) == pytest.approx(expected)  # the hand computation is sklearn's too
    # The old pjbench number, average precision with IMPOSSIBLE positive (most surprising first):
    #   0.9 I (P 1, R 1/4), 0.8 P, 0.7 I (P 2/3, R 2/4), 0.6 I (P 3/4, R 3/4), 0.5 P, 0.3 P, 0.2 I (P 4/7, R 1)
    #   AP = 1/4 * (1 + 2/3 + 3/4 + 4/7) = 0.7470...: a different number, under its own name.
    assert ap_impossible(scores, labels) == pytest.approx((1 + 2 / 3 + 3 / 4 + 4 / 7) / 4)
    assert auprc(scores, labels) != pytest.approx(ap_impossible(scores, labels))


def test_auprc_ties_enter_together():
    # possible [1, 2], impossible [2, 3]: the tied pair at 2 enters in one step.
    #   points (0, 1) (1/2, 1) (1, 2/3) (1, 1/2): 1/2 * 1 + 1/2 * (1 + 2/3)/2 = 1/2 + 5/12 = 11/12
    assert auprc([1.0, 2.0, 2.0, 3.0], [1, 1, 0, 0]) == pytest.approx(11 / 12)
    # A first step of impossible videos only drops to (0, 0) with zero width, then starts from precision 0:
    # impossible 0 first, then possible 1: (0, 1) (0, 0) (1, 1/2) -> 1 * (0 + 1/2)/2 = 1/4
    assert auprc([0.0, 1.0], [0, 1]) == pytest.approx(1 / 4)


def test_auroc_auprc_one_class_is_none():
    assert auroc([1.0, 2.0], [1, 1]) is None
    assert auprc([1.0, 2.0], [0, 0]) is None
    assert ap_impossible([1.0, 2.0], [1, 1]) is None
    assert auroc([], []) is None and auprc([], []) is None


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_auprc_match_the_official_sklearn_calls(ties):
    rng = np.random.default_rng(1 + ties)
    for _ in range(50):
        n = int(rng.integers(2, 80))
        scores = rng.integers(0, 5, n).astype(float) if ties else rng.normal(size=n)
        labels = rng.integers(0, 2, n)
        if len(set(labels.tolist())) < 2:
            continue
        assert auroc(scores, labels) == pytest.approx(official_auroc(scores, labels), abs=1e-12)
        assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels == 0, scores), abs=1e-12)
        assert auprc(scores, labels) == pytest.approx(official_auprc(scores, labels), abs=1e-12)
        assert ap_impossible(scores, labels) == pytest.approx(average_precision_score(labels == 0, scores), abs=1e-12)


def test_weighted_versions_equal_sklearn_on_resamples():
    # A bootstrap resample is a multiset: row b of the weights repeats video j weights[b, j] times.
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, 40).astype(float)
    labels = rng.integers(0, 2, 40)
    weights = rng.integers(0, 3, (20, 40)).astype(float)
    roc = auroc_weighted(scores, labels, weights)
    pr = auprc_weighted(scores, labels, weights)
    ap = ap_impossible_weighted(scores, labels, weights)
    for b in range(20):
        idx = np.repeat(np.arange(40), weights[b].astype(int))
        y = labels[idx] == 0
        if y.all() or not y.any():
            assert np.isnan(roc[b]) and np.isnan(pr[b]) and np.isnan(ap[b])
            continue
        assert roc[b] == pytest.approx(roc_auc_score(y, scores[idx]), abs=1e-12)
        assert pr[b] == pytest.approx(official_auprc(scores[idx], labels[idx]), abs=1e-12)
        assert ap[b] == pytest.approx(average_precision_score(y, scores[idx]), abs=1e-12)


def test_weighted_quantile_matches_numpy():
    rng = np.random.default_rng(4)
    values = rng.integers(0, 5, 15).astype(float)
    weights = rng.integers(0, 3, (10, 15)).astype(float)
    for q in (0.0, 0.5, 0.9, 1.0):
        out = weighted_quantile(values, weights, q)
        for b in range(10):
            expanded = np.repeat(values, weights[b].astype(int))
            if expanded.size:
                assert out[b] == pytest.approx(np.quantile(expanded, q))


def test_weighted_threshold_indexes_the_resampled_possible_scores():
    rng = np.random.default_rng(5)
    values = rng.normal(size=15)
    weights = rng.integers(0, 3, (30, 15)).astype(float)
    out = weighted_threshold(values, weights)
    for b in range(30):
        expanded = np.sort(np.repeat(values, weights[b].astype(int)))
        m = expanded.size
        if m == 0:
            assert np.isnan(out[b])
            continue
        assert out[b] == expanded[min(int(np.ceil(0.9 * m)), m - 1)]


def test_abs_accuracy_threshold_is_the_official_index_and_a_tie_is_wrong():
    # Possible scores 1..20 (n = 20): index ceil(0.9 * 20) = 18 of the sorted list -> 19.0 (np.quantile
    # would interpolate to 18.1). Impossible scores [19, 25].
    possible = np.arange(1.0, 21.0)
    scores = np.r_[possible, [19.0, 25.0]]
    labels = np.r_[np.ones(20, int), [0, 0]]
    assert threshold_from_possible(scores, labels) == 19.0
    assert quantile_threshold(scores, labels) == pytest.approx(18.1)
    # At 19: possible right iff < 19 -> 18 of 20 (19 and 20 wrong; 19 is AT the threshold);
    # impossible right iff > 19 -> 25 right, 19 (tie) wrong. 19 / 22.
    assert abs_accuracy(scores, labels, 19.0) == pytest.approx(19 / 22)
    # The rule by hand on 4 videos: possible 0.5 (< 1: right), possible 1.0 (tie: wrong),
    # impossible 1.0 (tie: wrong), impossible 2.0 (> 1: right) = 0.5.
    assert abs_accuracy([0.5, 1.0, 1.0, 2.0], [1, 1, 0, 0], threshold=1.0) == 0.5
    # n = 11: ceil(9.9) = 10 -> the largest; n < 10 (official: IndexError) clamps to the largest too.
    assert threshold_from_possible(np.arange(11.0), np.ones(11, int)) == 10.0
    assert threshold_from_possible([3.0, 1.0, 2.0, 9.0], [1, 1, 1, 0]) == 3.0
    with pytest.raises(ValueError):
        threshold_from_possible([1.0], [0])


def test_bad_inputs():
    with pytest.raises(ValueError):
        auroc([1.0, np.nan], [0, 1])
    with pytest.raises(ValueError):
        auroc([1.0, 2.0], [0, 2])
    with pytest.raises(ValueError):
        pairwise_accuracy([1.0], [0, 1], ["a", "a"])


# --------------------------------------------------------------------------------------------------
# compute_metrics
# --------------------------------------------------------------------------------------------------


def rec(name, label, pair, scene, avg, mx, **strata):
    strata = {"condition": "solidity", "Difficulty": "Easy", "Camera": "Fixed", "visibility": "visible", **strata}
    return ItemRecord(name=name, split="Main", path=f"{name}.mp4", label=label, pair_id=pair, cluster=scene,
                      strata=strata, scores={"avg": avg, "max": mx})


def small_records():
    # Scene "0" has two pairs (runs 1, 2); scene "154_0" one pair. max scores by hand:
    #   0|1: possible 1, impossible 3 -> right;  0|2: possible 2, impossible 1 -> wrong;
    #   154_0|1: possible 0, impossible 5 -> right.  Pairwise@max = 2/3.
    # avg scores: all pairs right -> 1.
    return [
        rec("a", 1, "0|1", "0", 0.1, 1.0),
        rec("b", 0, "0|1", "0", 0.2, 3.0),
        rec("c", 1, "0|2", "0", 0.1, 2.0, condition="permanence", visibility="occluded"),
        rec("d", 0, "0|2", "0", 0.3, 1.0, condition="permanence", visibility="occluded"),
        rec("e", 1, "154_0|1", "154_0", 0.0, 0.0, Camera="Moving"),
        rec("f", 0, "154_0|1", "154_0", 0.5, 5.0, Camera="Moving"),
        # HeldOut-style record without a label: ignored.
        ItemRecord(name="h", split="HeldOut", path="h.mp4", label=None, pair_id=None, cluster=None,
                   scores={"avg": 9.0, "max": 9.0}),
    ]


def by_key(rows):
    return {r.key(): r for r in rows}


def test_compute_metrics_headline_rows():
    rows = by_key(compute_metrics(small_records(), n_boot=200, seed=0))
    pa = rows["pairwise_accuracy@max[all]"]
    assert pa.value == pytest.approx(2 / 3)
    assert (pa.n, pa.n_clusters, pa.unit, pa.chance) == (3, 2, "pairs", 0.5)
    assert rows["pairwise_accuracy@avg[all]"].value == 1.0
    roc = rows["auroc@max[all]"]
    assert roc.value == pytest.approx(roc_auc_score([0, 1, 0, 1, 0, 1], [1.0, 3.0, 2.0, 1.0, 0.0, 5.0]))
    assert (roc.n, roc.n_clusters, roc.unit, roc.chance) == (6, 2, "videos", 0.5)
    ap = rows["auprc@max[all]"]
    assert ap.value == pytest.approx(official_auprc([1.0, 3.0, 2.0, 1.0, 0.0, 5.0], [1, 0, 1, 0, 1, 0]))
    assert ap.chance == pytest.approx(0.5)  # ~ share of possible videos, the official positive class
    old = rows["ap_impossible@max[all]"]
    assert old.value == pytest.approx(average_precision_score([0, 1, 0, 1, 0, 1], [1.0, 3.0, 2.0, 1.0, 0.0, 5.0]))
    for r in rows.values():
        if r.value is not None and r.ci_low is not None:
            assert r.ci_low - 1e-12 <= r.value <= r.ci_high + 1e-12, r.key()


def test_compute_metrics_thresholds():
    records = small_records()
    # In-sample threshold on max: possible max scores sorted [0, 1, 2], n = 3 < 10: the index ceil(2.7) = 3
    # is clamped to 2 -> 2.0 (np.quantile would give 1.8).
    #   right:  a (possible 1 < 2) yes, b (impossible 3 > 2) yes, c (possible 2 = 2: tie) NO,
    #           d (impossible 1) no, e (possible 0) yes, f (impossible 5) yes -> 4/6.
    rows = by_key(compute_metrics(records, n_boot=100))
    assert rows["abs_accuracy@max[all]"].value == pytest.approx(4 / 6)
    assert thresholds_from_records(records)["max"] == 2.0
    # avg: possible [0.1, 0.1, 0.0] -> threshold 0.1; a and c tie with it (wrong), b d f > 0.1, e < 0.1 -> 4/6.
    assert rows["abs_accuracy@avg[all]"].value == pytest.approx(4 / 6)
    # A dev threshold: a float is the max threshold; a mapping sets each aggregation.
    rows = by_key(compute_metrics(records, n_boot=100, threshold=1.0))
    # at 1.0: a (possible 1.0, tie) wrong, b right, c (possible 2) wrong, d (impossible 1.0, tie) wrong,
    # e right, f right -> 3/6: a tie is wrong for both labels.
    assert rows["abs_accuracy@max[all]"].value == pytest.approx(3 / 6)
    assert "abs_accuracy@avg[all]" not in rows  # no avg threshold given: no mixed provenance
    rows = by_key(compute_metrics(records, n_boot=100, threshold={"max": 10.0, "avg": 0.15}))
    assert rows["abs_accuracy@max[all]"].value == pytest.approx(0.5)  # all predicted possible
    assert rows["abs_accuracy@avg[all]"].value == 1.0  # avg > 0.15: exactly b, d, f, the impossible ones


def test_compute_metrics_breakdowns():
    rows = by_key(compute_metrics(small_records(), n_boot=100))
    assert rows["pairwise_accuracy@max[condition=permanence]"].value == 0.0
    assert rows["pairwise_accuracy@max[condition=permanence]"].n == 1
    assert rows["pairwise_accuracy@max[condition=solidity]"].value == 1.0
    assert rows["pairwise_accuracy@max[Camera=Moving]"].n_clusters == 1
    assert rows["pairwise_accuracy@max[visibility=occluded]"].value == 0.0
    assert "auroc@avg[Difficulty=Easy]" in rows
    assert not any(k.startswith(("auprc", "ap_impossible", "abs_accuracy")) and not k.endswith("[all]") for k in rows)


def test_compute_metrics_deterministic_and_order_free():
    records = small_records()
    a = compute_metrics(records, n_boot=200, seed=3)
    b = compute_metrics(list(reversed(records)), n_boot=200, seed=3)
    assert [r.key() for r in a] == [r.key() for r in b]
    for x, y in zip(a, b):
        assert x.key() == y.key()
        assert x.value == pytest.approx(y.value)
        assert (x.ci_low, x.ci_high) == pytest.approx((y.ci_low, y.ci_high))


def test_compute_metrics_edge_cases():
    assert compute_metrics([], n_boot=10) == []
    heldout = [ItemRecord(name="h", split="HeldOut", path="", label=None, pair_id=None, cluster=None,
                          scores={"max": 1.0})]
    assert compute_metrics(heldout, n_boot=10) == []
    from pjbench.benchmarks.errors import PjbenchError

    bad = small_records()
    bad[0].scores = {"avg": float("nan"), "max": 1.0}
    with pytest.raises(PjbenchError, match="item a"):
        compute_metrics(bad, n_boot=10)
    only_max = small_records()
    for r in only_max:
        r.scores = {"max": r.scores["max"]}
    assert {r.aggregation for r in compute_metrics(only_max, n_boot=10)} == {"max"}


def _synthetic_main(n_scenes=253, effect=0.3, seed=0):
    rng = np.random.default_rng(seed)
    conds = ["permanence", "immutability", "continuity", "solidity"]
    records = []
    for sc in range(n_scenes):
        scene_shift = rng.normal()  # scenes differ: the cluster effect the bootstrap must respect
        for run in (1, 2):
            for label in (1, 0):
                s = scene_shift + rng.normal() + (effect if label == 0 else 0.0)
                records.append(ItemRecord(
                    name=f"{sc}_{run}_{label}", split="Main", path="", label=label, pair_id=f"{sc}|{run}",
                    cluster=str(sc), scores={"avg": s, "max": s + abs(rng.normal())},
                    strata={"condition": conds[sc % 4], "Difficulty": ["Easy", "Medium", "Hard"][sc % 3],
                            "Camera": ["Fixed", "Moving"][sc % 2], "visibility": ["visible", "occluded"][run - 1]},
                ))
    return records


def test_bootstrap_sanity_on_main_sized_data():
    # 506 pairs: formats.md quotes a 95 % CI of about +-4.4 points for pairwise accuracy.
    records = _synthetic_main()
    rows = by_key(compute_metrics(records, n_boot=1000, seed=0))
    pa = rows["pairwise_accuracy@avg[all]"]
    assert pa.n == 506 and pa.n_clusters == 253
    half_width = (pa.ci_high - pa.ci_low) / 2
    assert 0.03 < half_width < 0.06
    assert pa.ci_low < pa.value < pa.ci_high
    # Breakdown intervals are wider than the headline one (fewer scenes).
    sub = rows["pairwise_accuracy@avg[condition=solidity]"]
    assert sub.ci_high - sub.ci_low > pa.ci_high - pa.ci_low


def test_null_model_interval_covers_chance():
    # Scores independent of labels: the intervals of most seeds' data sets contain 0.5.
    hits = 0
    for seed in range(20):
        rows = by_key(compute_metrics(_synthetic_main(n_scenes=60, effect=0.0, seed=seed), n_boot=300, seed=seed))
        r = rows["pairwise_accuracy@avg[all]"]
        hits += r.ci_low <= 0.5 <= r.ci_high
    assert hits >= 16
