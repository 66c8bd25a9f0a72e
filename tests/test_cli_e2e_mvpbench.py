"""`pjbench eval --task mvpbench` end to end through the CLI on the synthetic release: the headline, the
pair-grouped and source-stratified folds, and the probe - video-blind control difference, all checked
against items.jsonl by hand (no pjbench metric function builds the expectations)."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pjbench.benchmarks.cli import main

FOLDS = 3
PROBE = ["--frames", "4", "--pooled-grid", "2,2,2", "--folds", str(FOLDS), "--n-boot", "200", "--workers", "0", "-q"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops on 2 cores: one thread beats two spin-waiting ones
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def mvp_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mvp-e2e")
    runner = CliRunner()
    res = runner.invoke(main, ["synth", "-b", "mvpbench", "--out", str(root / "mvp"), "--scale", "0.25",
                               "--resolution", "32", "--n-frames", "16"])
    assert res.exit_code == 0, res.output
    out = root / "run"
    res = runner.invoke(main, ["eval", "-m", "pixel-patches", "--task", "mvpbench", "--split", "full",
                               "--data-root", str(root / "mvp"), "--out", str(out), *PROBE])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    control = [json.loads(line) for line in (out / "control_video_blind_items.jsonl").read_text().splitlines()]
    return res.output, results, items, control


def _metric(results, name, subset="all"):
    rows = [m for m in results["metrics"] if m["name"] == name and m["subset"] == subset]
    assert len(rows) == 1, (name, subset, [m["name"] for m in results["metrics"]])
    return rows[0]


def _pair_acc_by_config(items):
    """{config: mean over its pairs of (both items right)}, from the raw item lines."""
    pairs = defaultdict(list)
    config = {}
    for r in items:
        pairs[r["pair_id"]].append(r["prediction"] == r["label"])
        config[r["pair_id"]] = r["strata"]["config"]
    per_config = defaultdict(list)
    for p, v in pairs.items():
        assert len(v) == 2, f"pair {p} has {len(v)} items in items.jsonl"
        per_config[config[p]].append(float(all(v)))
    return {c: float(np.mean(v)) for c, v in per_config.items()}, len(pairs)


def test_headline_pair_accuracy_has_n_ci_and_chance_and_matches_the_items(mvp_run):
    output, results, items, _ = mvp_run
    assert results["task"]["name"] == "mvpbench" and results["task"]["split"] == "full"
    assert results["protocol"]["readout"] == "probe"
    head = _metric(results, "pair_accuracy")
    by_config, n_pairs = _pair_acc_by_config(items)
    assert len(by_config) == 4  # the 4 configs
    assert head["n"] == n_pairs == len(items) // 2
    assert head["chance"] == pytest.approx(0.25)
    assert head["unit"] == "pairs"
    # the headline is the macro mean over configs, recomputed by hand
    assert head["value"] == pytest.approx(np.mean(list(by_config.values())))
    assert head["ci_low"] is not None and head["ci_high"] is not None
    assert 0.0 <= head["ci_low"] <= head["value"] <= head["ci_high"] <= 1.0
    # what the CLI printed is that number
    assert f"pair accuracy {100 * head['value']:.1f} [{100 * head['ci_low']:.1f}, {100 * head['ci_high']:.1f}] " \
           f"over {n_pairs} pairs (chance 25)" in output
    # single accuracy: pooled share of right items
    single = _metric(results, "single_accuracy_pooled")
    assert single["value"] == pytest.approx(np.mean([r["prediction"] == r["label"] for r in items]))
    assert single["n"] == len(items)


def test_incomplete_pairs_are_left_out_and_recorded(mvp_run):
    _, results, items, _ = mvp_run
    t = results["task"]
    assert t["n_items"] == len(items) + len(t["skipped"])  # missing videos of the synthetic release
    assert t["skipped"] and all("not found" in s["reason"] or "pair" in s["reason"] for s in t["skipped"])
    scored = {r["name"] for r in items}
    assert not scored & {s["name"] for s in t["skipped"]}


def test_folds_are_grouped_by_pair_and_stratified_by_source(mvp_run):
    _, results, items, control = mvp_run
    cv = results["protocol"]["cv"]
    assert cv["folds"] == FOLDS and cv["group"] == "pair_id" and cv["stratum"] == "source"
    for recs in (items, control):
        fold_of_pair = defaultdict(set)
        for r in recs:
            assert r["fold"] in range(FOLDS)
            fold_of_pair[r["pair_id"]].add(r["fold"])
        assert all(len(f) == 1 for f in fold_of_pair.values()), "a pair is split across folds"
    # stratified: per source, the folds' pair counts differ by at most one, so a source with at least
    # FOLDS pairs is in every fold
    pairs_per_source_fold = defaultdict(lambda: np.zeros(FOLDS, int))
    seen = set()
    for r in items:
        if r["pair_id"] in seen:
            continue
        seen.add(r["pair_id"])
        pairs_per_source_fold[r["strata"]["source"]][r["fold"]] += 1
    assert len(pairs_per_source_fold) >= 3
    enough = 0
    for source, counts in pairs_per_source_fold.items():
        assert counts.max() - counts.min() <= 1, (source, counts)
        if counts.sum() >= FOLDS:
            enough += 1
            assert (counts > 0).all(), (source, counts)
    assert enough >= 2  # the check above did bite
    # the control uses the very same folds
    fold = {r["name"]: r["fold"] for r in items}
    assert {r["name"]: r["fold"] for r in control} == fold


def test_macro_probe_minus_control_difference_is_recorded(mvp_run):
    output, results, items, control = mvp_run
    probe_by_config, _ = _pair_acc_by_config(items)
    ctrl_by_config, _ = _pair_acc_by_config(control)
    probe_macro = np.mean(list(probe_by_config.values()))
    ctrl_macro = np.mean(list(ctrl_by_config.values()))
    ctrl_head = _metric(results, "control_video_blind/pair_accuracy")
    assert ctrl_head["value"] == pytest.approx(ctrl_macro)
    diff = _metric(results, "probe_minus_video_blind/pair_accuracy")
    assert diff["value"] == pytest.approx(probe_macro - ctrl_macro)
    assert diff["chance"] == 0.0 and diff["n"] == len(items) // 2
    vb = results["protocol"]["controls"]["video_blind"]
    assert vb["difference_metric"] == "probe_minus_video_blind/pair_accuracy"
    assert "macro" in vb["statistic"] and "config" in vb["statistic"]
    assert vb["difference"] == pytest.approx(probe_macro - ctrl_macro)
    assert vb["probe"] == pytest.approx(probe_macro) and vb["control"] == pytest.approx(ctrl_macro)
    assert (vb["ci_low"], vb["ci_high"]) == (diff["ci_low"], diff["ci_high"])
    beats = results["protocol"]["probe_beats_video_blind"]
    assert beats is (diff["ci_low"] > 0)
    assert vb["probe_beats_video_blind"] is beats
    assert "probe vs video-blind control: " + ("better" if beats else "NOT distinguishable") in output
