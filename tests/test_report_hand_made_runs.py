"""`pjbench report` on runs written BY HAND (results.json + items.jsonl following the README's "Output files"
schema, plain dicts and json.dumps, no pjbench writer): the hand-written numbers and CIs appear in the HTML
and the leaderboard exports, and every expected value below is computed by hand in the comments, never with
pjbench's own functions."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cli import main

STRATA = {"Difficulty": "Easy", "Camera": "Fixed", "occluder": "None", "visibility": "visible", "game_name": "g",
          "env": "e"}


def _metric(name, value, lo, hi, n, *, subset="all", agg=None, chance, unit="pairs"):
    return {"name": name, "value": value, "ci_low": lo, "ci_high": hi, "n": n, "n_clusters": n, "chance": chance,
            "subset": subset, "aggregation": agg, "unit": unit, "higher_is_better": True}


def _common(task, split, name, readout, n_items):
    return {
        "schema_version": "pjbench.results/1",
        "task": {"name": task, "split": split, "data_root": f"/data/{task}", "data_fingerprint": "sha256:" + "0" * 64,
                 "limit": None, "n_items": n_items, "n_selected": n_items, "n_scored": n_items, "skipped": [],
                 "dev_split": None, "n_dev_items": 0, "n_dev_scored": 0, "dev_skipped": [], "n_computed": n_items,
                 "n_from_cache": 0, "n_from_previous_run": 0, "n_cache_corrupt": 0, "left_out": [],
                 "n_in_metrics": n_items, "conditions": {}},
        "model": {"name": name, "checkpoint": f"hub/{name}", "checkpoint_hash": None, "revision": "r1",
                  "params": 1234, "readouts": [readout], "extra": {},
                  "preprocessing": {"resolution": 256, "frames": 48, "frame_step": 10, "sample_fps": 6.0, "tubelet": 2,
                                    "patch": 16, "crop_pct": 1.0, "mean": [0.485, 0.456, 0.406],
                                    "std": [0.229, 0.224, 0.225]},
                  "identity": {"name": name, "key": "hand"}, "cache": {"enabled": False}},
        "provenance": {"pjbench_version": "0.1.0", "git_hash": "abc", "seed": 0, "started_at": "2026-01-01T00:00:00Z",
                       "finished_at": "2026-01-01T00:01:00Z", "wall_time_s": 60.0, "libraries": {}, "python": "3.11",
                       "platform": "linux", "device": "cpu", "command": "written by hand"},
        "files": {"items": "items.jsonl"},
        "data": {"source": "real"},
        "conventions": {},
    }


def _write(run: Path, results: dict, items: list[dict], digest: bool = True) -> Path:
    run.mkdir(parents=True)
    text = "".join(json.dumps(r) + "\n" for r in items)
    (run / "items.jsonl").write_text(text)
    if digest:
        results["digests"] = {"items": "sha256:" + hashlib.sha256(text.encode()).hexdigest()}
    (run / "results.json").write_text(json.dumps(results, indent=1))
    return run


def intphys_run(root: Path) -> Path:
    """8 Main pairs (1 possible + 1 impossible each; impossible right iff STRICTLY more surprising).

    avg: pairs 0-4 right, pair 5 a tie (wrong), pairs 6 and 7 wrong        -> 5 / 8 = 0.625
    max: as avg, but pair 4's impossible max is below its possible one     -> 4 / 8 = 0.5
    condition solidity = pairs 0-3: avg 4 / 4 = 1.0, max 4 / 4 = 1.0
    condition permanence = pairs 4-7: avg 1 / 4 = 0.25, max 0 / 4 = 0.0
    """
    items = []
    for p in range(8):
        poss = 0.10 + 0.01 * p
        imp = {5: poss, 6: poss - 0.05, 7: poss - 0.02}.get(p, poss + 0.05)
        imp_max = poss - 0.01 if p == 4 else imp
        cond = "solidity" if p < 4 else "permanence"
        for label, s, smax in ((1, poss, poss), (0, imp, imp_max)):
            items.append({"name": f"{p:02d}{label}" + "a" * 61, "split": "Main", "path": f"/data/Main/{p}{label}.mp4",
                          "label": label, "pair_id": str(p), "cluster": str(p), "strata": {"condition": cond, **STRATA},
                          "surprise": {"24": [s, s]}, "scores": {"avg": s, "max": smax}, "from_cache": False,
                          "conditions": []})
    res = _common("intphys2", "Main", "hand-surprise", "surprise", 16)
    res["task"].update(dev_split="Debug", n_dev_items=60, n_dev_scored=60)
    res["protocol"] = {"readout": "surprise", "window": 48, "stride": 2, "contexts": [24], "max_context_mode": True,
                       "context_selection": {"rule": "dev", "dev_split": "Debug", "selected": 24,
                                             "dev_scores": {"24": 0.6}},
                       "threshold": {"value": {"avg": 0.12, "max": 0.13}, "source": "Debug"}, "n_boot": 1000,
                       "ci_level": 0.95, "batch_size": 8}
    res["metrics"] = [
        _metric("pairwise_accuracy", 0.625, 0.375, 0.875, 8, agg="avg", chance=0.5),
        _metric("pairwise_accuracy", 0.5, 0.25, 0.75, 8, agg="max", chance=0.5),
        _metric("pairwise_accuracy", 1.0, 1.0, 1.0, 4, agg="avg", chance=0.5, subset="condition=solidity"),
        _metric("pairwise_accuracy", 0.25, 0.0, 0.5, 4, agg="avg", chance=0.5, subset="condition=permanence"),
    ]
    return _write(root / "hand-surprise", res, items)


def mvp_run(root: Path) -> Path:
    """MVPBench answer-file run by hand, 6 pairs of 2 items (a pair counts iff both items are right).

    intuitive_physics: pairs 0-2 both right, pair 3 one right        -> pair acc 3 / 4 = 0.75; items 7 / 8
    temporal_reasoning: pairs 4-5 one right each                     -> pair acc 0 / 2 = 0.0;  items 2 / 4
    pair_accuracy (macro over configs) = (0.75 + 0.0) / 2 = 0.375; pooled = 3 / 6 = 0.5
    single_accuracy (macro) = (0.875 + 0.5) / 2 = 0.6875; pooled = 9 / 12 = 0.75
    """
    items = []
    for p in range(6):
        config = "intuitive_physics" if p < 4 else "temporal_reasoning"
        for j in range(2):
            right = p < 3 or j == 0
            label = j
            pred = label if right else 1 - label
            items.append({"name": f"{config}_{p}_{j}", "split": "mini", "path": f"/data/videos/{p}_{j}.mp4",
                          "label": label, "pair_id": f"{config}/{p}", "cluster": f"{config}/{p}",
                          "strata": {"config": config, "source": "clevrer"}, "surprise": {}, "scores": {},
                          "from_cache": False, "prediction": pred, "candidate_scores": [], "correct": right,
                          "fold": None, "conditions": []})
    res = _common("mvpbench", "mini", "hand-vlm", "answers", 12)
    res["protocol"] = {"readout": "answers", "parser": "official", "n_boot": 1000, "ci_level": 0.95}
    res["metrics"] = [
        _metric("pair_accuracy", 0.375, 0.125, 0.625, 6, chance=0.25),
        _metric("single_accuracy", 0.6875, 0.5, 0.875, 12, chance=0.5, unit="items"),
        _metric("pair_accuracy_pooled", 0.5, 0.1667, 0.8333, 6, chance=0.25),
        _metric("single_accuracy_pooled", 0.75, 0.5, 1.0, 12, chance=0.5, unit="items"),
    ]
    res["conventions"] = {"parser": "official"}
    return _write(root / "hand-vlm", res, items)


def visible(page: str) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def report(tmp_path):
    runs = tmp_path / "runs"
    a, b = intphys_run(runs), mvp_run(runs)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(main, ["report", str(a), str(b), "--out", str(out), "--n-boot", "200"])
    assert res.exit_code == 0, res.output
    return out, visible(out.read_text())


def test_hand_written_intphys2_numbers_and_ci_appear(report):
    _, text = report
    assert "62.5 [37.5, 87.5]" in text  # avg: 5 of 8 pairs
    assert "50.0 [25.0, 75.0]" in text  # max: 4 of 8 pairs
    assert "n = 8 pairs" in text
    assert "chance 50.0" in text or "Chance 50.0" in text
    # the per-pair histogram: 5 of 8 right = 62.5 %, 1 tie at 0
    assert "62.5 % right of 0" in text and "1 at 0" in text


def test_hand_written_mvpbench_numbers_and_ci_appear(report):
    _, text = report
    assert "37.5 [12.5, 62.5]" in text  # macro pair accuracy (0.75 + 0) / 2
    assert "n = 6 pairs" in text
    assert "25.0" in text  # chance of MVPBench pair accuracy


def test_breakdown_cells_show_the_hand_values_greyed_without_interval(report):
    _, text = report
    # condition breakdown (columns in name order): permanence 1/4 -> 25.0, solidity 4/4 -> 100.0;
    # n = 4 < 10 pairs -> greyed, "n too small", no interval
    assert ("by subset condition permanence solidity hand-surprise 25.0 n too small n = 4 pairs "
            "100.0 n too small n = 4 pairs") in text
    assert "25.0 [0.0, 50.0]" not in text and "100.0 [100.0, 100.0]" not in text


def test_overview_lists_both_hand_made_runs_with_their_chance(report):
    _, text = report
    assert ("IntPhys 2 · Main Pairwise acc. (avg), chance 50.0 MVPBench · mini Pair acc., chance 25.0 "
            "hand-surprise surprise hub/hand-surprise · 1.23 k params 62.5 [37.5, 87.5] n = 8 pairs") in text
    assert "hand-vlm answers hub/hand-vlm · 1.23 k params 37.5 [12.5, 62.5] n = 6 pairs" in text  # readout badges


def test_leaderboard_exports_carry_the_hand_written_numbers(report):
    out, _ = report
    rows = list(csv.DictReader((out.parent / "leaderboard.csv").open()))
    surprise = next(r for r in rows if r["model"] == "hand-surprise" and r["aggregation"] == "avg")
    assert (float(surprise["value"]), float(surprise["ci_low"]), float(surprise["ci_high"]), int(surprise["n"])) == \
           (0.625, 0.375, 0.875, 8)
    assert surprise["verified"] == "yes"
    vlm = next(r for r in rows if r["model"] == "hand-vlm")
    assert (float(vlm["value"]), float(vlm["ci_low"]), float(vlm["ci_high"]), int(vlm["n"])) == (0.375, 0.125, 0.625, 6)
    md = (out.parent / "leaderboard.md").read_text()
    assert "62.5 [37.5, 87.5] (n=8)" in md and "37.5 [12.5, 62.5] (n=6)" in md


def test_a_hand_written_headline_that_the_items_contradict_is_refused(tmp_path):
    """The same hand-made IntPhys 2 run with 0.75 typed in for the 5-of-8 headline: refused, naming both."""
    run = intphys_run(tmp_path / "runs")
    data = json.loads((run / "results.json").read_text())
    data["metrics"][0].update(value=0.75, ci_low=0.5, ci_high=1.0)
    (run / "results.json").write_text(json.dumps(data))
    out = tmp_path / "r.html"
    res = CliRunner().invoke(main, ["report", str(run), "--out", str(out)])
    assert res.exit_code == 1 and not out.exists()
    assert "results.json says 75.0 % (n = 8), items.jsonl gives 62.5 % (n = 8)" in res.output
