"""`pjbench eval --task causalvqa` end to end through the CLI on the synthetic release: the headline
(paired accuracy, macro over type x difficulty), question-grouped and type-stratified folds, the probe -
video-blind control difference, and `--split test` (trained on debug) writing the submission file.
Expectations are computed by hand from items.jsonl and the release's CSV files."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pjbench.benchmarks.cli import main

FOLDS = 3
PROBE = ["--frames", "4", "--pooled-grid", "2,2,2", "--n-boot", "200", "--workers", "0", "-q"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def cvqa_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cvqa-e2e") / "cvqa"
    res = CliRunner().invoke(main, ["synth", "-b", "causalvqa", "--out", str(root), "--scale", "0.4",
                                    "--resolution", "32", "--n-frames", "16"])
    assert res.exit_code == 0, res.output
    return root


def _read_run(out):
    results = json.loads((out / "results.json").read_text())
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    return results, items


@pytest.fixture(scope="module")
def debug_run(cvqa_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("cvqa-runs") / "debug"
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-patches", "--task", "causalvqa", "--data-root", str(cvqa_root),
                                    "--out", str(out), "--folds", str(FOLDS), *PROBE])
    assert res.exit_code == 0, res.output
    results, items = _read_run(out)
    control = [json.loads(x) for x in (out / "control_video_blind_items.jsonl").read_text().splitlines()]
    return res.output, results, items, control


def _metric(results, name, subset="all"):
    rows = [m for m in results["metrics"] if m["name"] == name and m["subset"] == subset]
    assert len(rows) == 1, (name, subset)
    return rows[0]


def _csv(root, split):
    path = next(root.rglob(f"{split}_metadata.csv"))
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _paired_by_stratum(items):
    """{type_difficulty: mean over its questions of (both askings right)} from raw item lines."""
    by_q = defaultdict(list)
    stratum = {}
    for r in items:
        by_q[r["pair_id"]].append(r["prediction"] == r["label"])
        stratum[r["pair_id"]] = (r["strata"]["type"], r["strata"]["difficulty"])
    per = defaultdict(list)
    for q, v in by_q.items():
        assert len(v) == 2
        per[stratum[q]].append(float(all(v)))
    return {s: float(np.mean(v)) for s, v in per.items()}, len(by_q)


def test_headline_paired_accuracy_has_n_ci_and_chance(debug_run, cvqa_root):
    output, results, items, _ = debug_run
    rows = _csv(cvqa_root, "debug")
    assert results["task"]["split"] == "debug" and len(items) == 2 * len(rows)
    # item names are <qid>/1 and <qid>/2; pairs are questions
    assert {r["name"] for r in items} == {f"{row['qid']}/{k}" for row in rows for k in (1, 2)}
    assert all(r["pair_id"] == r["name"].rsplit("/", 1)[0] for r in items)
    # labels follow the CSV's correct1 / correct2 (option numbers, 1-based)
    gold = {f"{row['qid']}/{k}": int(row[f"correct{k}"]) - 1 for row in rows for k in (1, 2)}
    assert {r["name"]: r["label"] for r in items} == gold
    head = _metric(results, "paired_accuracy")
    by_stratum, n_q = _paired_by_stratum(items)
    assert head["n"] == n_q == len(rows) and head["unit"] == "pairs"
    assert head["chance"] == pytest.approx(0.04)
    assert head["value"] == pytest.approx(np.mean(list(by_stratum.values())))
    assert head["ci_low"] is not None and 0.0 <= head["ci_low"] <= head["value"] <= head["ci_high"] <= 1.0
    assert f"paired accuracy {100 * head['value']:.1f} [{100 * head['ci_low']:.1f}, {100 * head['ci_high']:.1f}] " \
           f"over {n_q} pairs (chance 4)" in output
    pooled = _metric(results, "single_accuracy_pooled")
    assert pooled["value"] == pytest.approx(np.mean([r["prediction"] == r["label"] for r in items]))
    assert pooled["chance"] == pytest.approx(0.2)


def test_folds_are_grouped_by_question_and_stratified_by_type(debug_run):
    _, results, items, control = debug_run
    cv = results["protocol"]["cv"]
    assert cv["folds"] == FOLDS and cv["group"] == "pair_id" and cv["stratum"] == "type"
    fold_of_q = defaultdict(set)
    for r in items:
        assert r["fold"] in range(FOLDS)
        fold_of_q[r["pair_id"]].add(r["fold"])
    assert all(len(f) == 1 for f in fold_of_q.values()), "a question's two askings are in different folds"
    counts = defaultdict(lambda: np.zeros(FOLDS, int))
    seen = set()
    for r in items:
        if r["pair_id"] not in seen:
            seen.add(r["pair_id"])
            counts[r["strata"]["type"]][r["fold"]] += 1
    assert len(counts) >= 3
    for t, c in counts.items():
        assert c.max() - c.min() <= 1, (t, c)
        if c.sum() >= FOLDS:
            assert (c > 0).all(), (t, c)
    assert sum(c.sum() >= FOLDS for c in counts.values()) >= 2
    assert {r["name"]: r["fold"] for r in control} == {r["name"]: r["fold"] for r in items}


def test_macro_probe_minus_control_difference_is_recorded(debug_run):
    output, results, items, control = debug_run
    probe = np.mean(list(_paired_by_stratum(items)[0].values()))
    ctrl = np.mean(list(_paired_by_stratum(control)[0].values()))
    assert _metric(results, "control_video_blind/paired_accuracy")["value"] == pytest.approx(ctrl)
    diff = _metric(results, "probe_minus_video_blind/paired_accuracy")
    assert diff["value"] == pytest.approx(probe - ctrl) and diff["chance"] == 0.0
    vb = results["protocol"]["controls"]["video_blind"]
    assert vb["difference"] == pytest.approx(probe - ctrl) and "macro" in vb["statistic"]
    assert (vb["ci_low"], vb["ci_high"]) == (diff["ci_low"], diff["ci_high"])
    assert diff["ci_low"] is not None and diff["ci_low"] <= diff["value"] <= diff["ci_high"]
    beats = results["protocol"]["probe_beats_video_blind"]
    assert beats is (diff["ci_low"] > 0) and vb["probe_beats_video_blind"] is beats
    assert "probe vs video-blind control: " + ("better" if beats else "NOT distinguishable") in output


def _option_number(choices: str, index: int) -> int:
    """The N of the index-th "N. text" option of a CSV choices cell."""
    return int(choices.split(" | ")[index].split(".", 1)[0])


def test_test_split_trains_on_debug_and_writes_one_submission_line_per_question(cvqa_root, tmp_path):
    out = tmp_path / "test"
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-patches", "--task", "causalvqa", "--split", "test",
                                    "--data-root", str(cvqa_root), "--out", str(out), "--folds", str(FOLDS), *PROBE])
    assert res.exit_code == 0, res.output
    results, items = _read_run(out)
    rows = _csv(cvqa_root, "test")
    n_debug = 2 * len(_csv(cvqa_root, "debug"))
    t = results["task"]
    assert t["split"] == "test" and t["dev_split"] == "debug"
    assert t["n_dev_items"] == n_debug and t["n_dev_scored"] == n_debug
    assert results["protocol"]["cv"]["per_fold"][0]["trained_on"] == "debug"
    assert results["files"]["submission"] == "submission.jsonl"
    assert not (out / "submission.partial.jsonl").exists()
    assert str(out / "submission.jsonl") in res.output
    assert len(items) == 2 * len(rows)
    assert all(r["label"] is None and r["correct"] is None and r["fold"] is None for r in items)
    lines = [json.loads(x) for x in (out / "submission.jsonl").read_text().splitlines()]
    assert len(lines) == len(rows)
    assert all(set(line) == {"qid", "answer1", "answer2"} for line in lines)
    assert sorted(line["qid"] for line in lines) == sorted(row["qid"] for row in rows)
    # the option numbers are the ones the probe's predictions point at in each asking's own option list
    pred = {r["name"]: r["prediction"] for r in items}
    by_qid = {row["qid"]: row for row in rows}
    for line in lines:
        row = by_qid[line["qid"]]
        for k in (1, 2):
            assert isinstance(line[f"answer{k}"], int) and 1 <= line[f"answer{k}"] <= 5
            assert line[f"answer{k}"] == _option_number(row[f"choices{k}"], pred[f"{line['qid']}/{k}"])


def test_limited_test_run_trains_on_all_of_debug_and_writes_a_partial_submission(cvqa_root, tmp_path):
    out = tmp_path / "lim"
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-patches", "--task", "causalvqa", "--split", "test",
                                    "--limit", "2", "--data-root", str(cvqa_root), "--out", str(out),
                                    "--folds", str(FOLDS), *PROBE])
    assert res.exit_code == 0, res.output
    results, items = _read_run(out)
    n_debug = 2 * len(_csv(cvqa_root, "debug"))
    t = results["task"]
    assert t["limit"] == 2 and t["n_items"] == 2 * len(_csv(cvqa_root, "test"))
    assert len({r["pair_id"] for r in items}) == 2 and len(items) == 4
    assert t["n_dev_items"] == t["n_dev_scored"] == n_debug  # the training split is not limited
    assert not (out / "submission.jsonl").exists() and "submission" not in results["files"]
    assert results["files"]["submission_partial"] == "submission.partial.jsonl"
    lines = [json.loads(x) for x in (out / "submission.partial.jsonl").read_text().splitlines()]
    assert sorted(x["qid"] for x in lines) == sorted({r["pair_id"] for r in items})
