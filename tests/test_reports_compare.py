"""Paired bootstrap (benchmarks/compare.py) against an independent loop implementation and simulations;
pair outcomes, comparisons of two runs, protocol differences, and the `pjbench compare` command."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from pjbench.benchmarks.bootstrap import cluster_codes, resample_clusters
from pjbench.benchmarks.cli import main
from pjbench.benchmarks.compare import (
    PairOutcome,
    compare_outcomes,
    pair_outcomes,
    paired_bootstrap,
    protocol_differences,
)
from pjbench.benchmarks.results import ItemRecord, RunResults

# ------------------------------------------------------------------------------ paired bootstrap


def loop_reference(a, b, clusters, strata, n_boot, seed, level=0.95):
    """The paired cluster bootstrap written out naively: draw clusters, collect their units, evaluate the
    (macro) mean difference unit by unit."""
    codes, k = cluster_codes(clusters)
    members = [np.flatnonzero(codes == c) for c in range(k)]
    s = np.asarray(strata if strata is not None else [0] * len(a), dtype=str)

    def macro(idx):
        groups = {}
        for i in idx:
            groups.setdefault(s[i], []).append(a[i] - b[i])
        return np.mean([np.mean(v) for v in groups.values()])

    draws = resample_clusters(k, n_boot, seed)
    stats = np.array([macro(np.concatenate([members[c] for c in row])) for row in draws])
    d = macro(np.arange(len(a)))
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    p = (1 + np.sum(np.abs(stats - d) >= abs(d) - 1e-12)) / (1 + n_boot)
    return d, lo, hi, p


@pytest.mark.parametrize("with_strata", [False, True])
def test_paired_bootstrap_matches_loop_reference(with_strata):
    rng = np.random.default_rng(1)
    n = 60
    a = rng.integers(0, 2, n).astype(float)
    b = rng.integers(0, 2, n).astype(float)
    clusters = [f"scene{i // 2}" for i in range(n)]  # two pairs per scene
    strata = [("x", "y", "z")[i % 3] for i in range(n)] if with_strata else None
    res = paired_bootstrap(a, b, clusters, strata, n_boot=300, seed=7)
    d, lo, hi, p = loop_reference(a, b, clusters, strata, 300, 7)
    assert res.difference == pytest.approx(d)
    assert res.ci_low == pytest.approx(lo) and res.ci_high == pytest.approx(hi)
    assert res.p_value == pytest.approx(p)
    assert res.n == n and res.n_clusters == 30


def test_paired_bootstrap_hand_computed():
    # Three independent pairs: A right on all, B right on the first only -> difference 2/3.
    res = paired_bootstrap([1, 1, 1], [1, 0, 0], ["p1", "p2", "p3"], n_boot=2000, seed=0)
    assert res.value_a == 1.0 and res.value_b == pytest.approx(1 / 3)
    assert res.difference == pytest.approx(2 / 3)
    # Resamples of 3 unit differences in {0, 1}: the mean lies in {0, 1/3, 2/3, 1}.
    assert res.ci_low == pytest.approx(0.0) and res.ci_high == pytest.approx(1.0)
    # Macro over strata: stratum s1 = {p1} (diff 0), s2 = {p2, p3} (diff 1) -> macro 0.5, not 2/3.
    macro = paired_bootstrap([1, 1, 1], [1, 0, 0], ["p1", "p2", "p3"], ["s1", "s2", "s2"], n_boot=200)
    assert macro.difference == pytest.approx(0.5) and macro.value_b == pytest.approx(0.5)


def test_identical_runs_have_no_difference():
    a = np.random.default_rng(0).integers(0, 2, 200).astype(float)
    res = paired_bootstrap(a, a, range(200), n_boot=500)
    assert res.difference == 0 and res.ci_low == 0 and res.ci_high == 0
    assert res.p_value == 1.0 and not res.significant


def test_simulated_difference_agrees_with_normal_theory():
    rng = np.random.default_rng(3)
    n = 3000
    a = (rng.random(n) < 0.60).astype(float)
    b = (rng.random(n) < 0.55).astype(float)
    res = paired_bootstrap(a, b, range(n), n_boot=2000, seed=1)
    se = np.std(a - b, ddof=1) / np.sqrt(n)
    assert res.difference == pytest.approx(a.mean() - b.mean())
    assert res.ci_low == pytest.approx(res.difference - 1.96 * se, abs=0.25 * se)
    assert res.ci_high == pytest.approx(res.difference + 1.96 * se, abs=0.25 * se)
    assert res.significant and res.p_value < 0.01
    # Pairing pays: positively correlated runs give a much narrower interval than unpaired CIs suggest.
    c = np.where(rng.random(n) < 0.9, a, 1 - a)
    paired = paired_bootstrap(a, c, range(n), n_boot=500)
    assert paired.ci_high - paired.ci_low < 0.5 * (2 * 1.96 * np.sqrt(2 * 0.25 / n))


def test_clusters_widen_the_interval():
    rng = np.random.default_rng(5)
    base = rng.integers(0, 2, 100).astype(float)
    a = np.repeat(base, 5)  # every scene's 5 pairs agree: 100 independent units, not 500
    b = np.zeros(500)
    flat = paired_bootstrap(a, b, range(500), n_boot=500)
    clustered = paired_bootstrap(a, b, np.repeat(np.arange(100), 5), n_boot=500)
    assert clustered.ci_high - clustered.ci_low > 1.8 * (flat.ci_high - flat.ci_low)


def test_paired_bootstrap_input_errors():
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap([1, 0], [1], [0, 1])
    with pytest.raises(ValueError, match="finite"):
        paired_bootstrap([1, float("nan")], [1, 0], [0, 1])
    empty = paired_bootstrap([], [], [])
    assert empty.difference is None and empty.n == 0 and not empty.significant


# ------------------------------------------------------------------------------ pair outcomes


def qa_item(pair, idx, correct, **strata):
    return ItemRecord(name=f"{pair}_{idx}", split="mini", path=f"/v/{pair}_{idx}.mp4", label=0, pair_id=pair,
                      cluster=None, strata=dict(strata), prediction=0 if correct else 1,
                      correct=correct)


def test_pair_outcomes_for_answers():
    items = [qa_item("a", 0, True, config="ip", source="ssv2"), qa_item("a", 1, True, config="ip", source="ssv2"),
             qa_item("b", 0, True, config="ip", source="clevrer"), qa_item("b", 1, False, config="ip", source="clevrer"),
             qa_item("c", 0, True, config="tr"),  # incomplete pair: its partner's video is missing
             qa_item("d", 0, True, config="tr", source="x"), qa_item("d", 1, None, config="tr", source="y")]
    out = pair_outcomes(items)
    assert sorted(out) == ["a", "b"]
    assert out["a"].value == 1.0 and out["b"].value == 0.0
    assert out["a"].cluster == "pair:a"
    assert out["a"].strata == {"config": "ip", "source": "ssv2"}


def test_pair_outcomes_for_surprise_follow_the_intphys2_metric():
    from pjbench.intphys2.metrics import pairwise_accuracy

    rng = np.random.default_rng(0)
    items = []
    for p in range(40):
        for label in (0, 1):
            s = float(rng.random())
            items.append(ItemRecord(name=f"{p}_{label}", split="Main", path="x", label=label, pair_id=f"{p}|1",
                                    cluster=str(p // 2), strata={"condition": "solidity"}, scores={"avg": s}))
    items[0].scores["avg"] = items[1].scores["avg"]  # a tie: wrong, as in the official rule
    out = pair_outcomes(items, "avg")
    ref = pairwise_accuracy([it.scores["avg"] for it in items], [it.label for it in items],
                            [it.pair_id for it in items])
    assert np.mean([o.value for o in out.values()]) == pytest.approx(ref)
    assert out["0|1"].value == 0.0 and out["3|1"].cluster == "1"
    assert pair_outcomes(items, "max") == {}


def outcomes(values, strata=None, prefix="p"):
    return {f"{prefix}{i}": PairOutcome(f"{prefix}{i}", float(v), f"c{i}", (strata or {}) and strata[i])
            for i, v in enumerate(values)}


def test_compare_outcomes_uses_shared_pairs_and_breaks_down():
    strata = [{"config": ("ip", "tr")[i % 2]} for i in range(80)]
    a = outcomes([1] * 80, strata)
    b = outcomes([i % 2 for i in range(80)], strata)
    b.pop("p0")
    b["extra"] = PairOutcome("extra", 0.0, "cx", {"config": "ip"})
    comp = compare_outcomes(a, b, macro_over=("config",), n_boot=300)
    assert comp.n_shared == 79 and comp.n_only_a == 1 and comp.n_only_b == 1
    overall = comp.rows[0]
    assert overall.subset == "all" and overall.result.n == 79
    # Macro over configs: ip pairs differ by 1, tr pairs by 0 -> 0.5.
    assert overall.result.difference == pytest.approx(0.5)
    by = {r.subset: r.result for r in comp.rows[1:]}
    assert by["config=ip"].difference == pytest.approx(1.0) and by["config=tr"].difference == 0
    assert comp.warnings == []


def test_compare_outcomes_warns_when_few_pairs_are_shared():
    comp = compare_outcomes(outcomes([1, 0, 1]), outcomes([0, 0, 1]), n_boot=100)
    assert any("only 3 shared pairs" in w for w in comp.warnings)
    none = compare_outcomes(outcomes([1]), outcomes([1], prefix="q"), n_boot=100)
    assert none.n_shared == 0 and any("share no scored pairs" in w for w in none.warnings)
    assert none.rows[0].result.difference is None
    partial = compare_outcomes(outcomes([1] * 100), outcomes([1] * 40), n_boot=100)
    assert any("60 of 100 pairs of run A" in w for w in partial.warnings)


def results(name="m", frame_step=10, rule="dev", resolution=256, split="Main", schema=None):
    r = RunResults(task={"name": "intphys2", "split": split},
                   model={"name": name, "preprocessing": {"resolution": resolution, "frame_step": frame_step}},
                   protocol={"window": 48, "stride": 2, "context_selection": {"rule": rule}}, metrics=[],
                   provenance={})
    if schema:
        r.schema_version = schema
    return r


def test_protocol_differences():
    assert protocol_differences(results(), results("other", resolution=64)) == []  # native resolutions differ
    assert protocol_differences(results(), results(resolution=384)) == ["resolution: 256 vs 384 px"]
    diffs = protocol_differences(results(), results("x", frame_step=5, rule="test", split="Debug"))
    assert any(d.startswith("frame sampling") for d in diffs)
    assert "context rule: dev vs test" in diffs and "split: Main vs Debug" in diffs
    assert protocol_differences(results(), results("x", schema="pjbench.results/2")) == [
        "schema version: pjbench.results/1 vs pjbench.results/2"]


# ------------------------------------------------------------------------------ CLI


def test_compare_cli(tmp_path):
    from test_reports_multi import make_qa_run  # noqa: E402  (shared builders of the multi-task tests)

    a = make_qa_run(tmp_path, "a", "model-a", "mvpbench", p_right=0.95, seed=1)
    b = make_qa_run(tmp_path, "b", "model-b", "mvpbench", p_right=0.30, seed=2)
    res = CliRunner().invoke(main, ["compare", str(a), str(b), "--n-boot", "200"])
    assert res.exit_code == 0, res.output
    assert "mvpbench: Pair acc., A − B in points" in res.output
    lines = res.output.splitlines()
    overall = next(line for line in lines if line.startswith("all "))
    assert "A better" in overall and "[+" in overall
    assert any(line.startswith("config=intuitive_physics") for line in lines)
    assert any(line.startswith("source=") for line in lines)
    few = make_qa_run(tmp_path, "few", "model-c", "mvpbench", p_right=0.5, seed=3, n_pairs=8)
    res = CliRunner().invoke(main, ["compare", str(a), str(few), "--n-boot", "200"])
    assert res.exit_code == 0 and "warning: only 8 shared pairs" in res.output
    other = make_qa_run(tmp_path, "cv", "model-a", "causalvqa", p_right=0.5, seed=3)
    res = CliRunner().invoke(main, ["compare", str(a), str(other)])
    assert res.exit_code == 1 and "compare runs of one task" in res.output


def test_a_single_cluster_has_no_interval_and_no_p_value():
    """Resampling one scene always returns that scene: a point, not evidence (review finding)."""
    from pjbench.benchmarks.compare import paired_bootstrap

    d = paired_bootstrap([1.0, 1.0], [0.0, 0.0], clusters=["s1", "s1"], n_boot=200)
    assert d.difference == 1.0 and d.ci_low is None and d.ci_high is None and d.p_value is None
    assert not d.significant
