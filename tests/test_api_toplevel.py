"""The Python API: `pjbench.evaluate` (and the other top-level verbs the README lists) and
`pjbench.benchmarks.api.score` / `compare` / `merge` (the README: "`pjbench.benchmarks.api` also has `score`,
`compare`, `merge`"). Numbers are checked against hand computations on the items files."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

import pjbench
from pjbench.benchmarks import api
from pjbench.benchmarks.errors import PjbenchError

SURPRISE = dict(window=16, n_boot=200, workers=0, progress=False)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _items(out):
    return [json.loads(x) for x in (Path(out) / "items.jsonl").read_text().splitlines()]


def _main_pairwise_by_hand(items, agg="avg"):
    """Main pairs are 1 possible + 1 impossible: right iff the impossible one is strictly more surprising."""
    by = {}
    for r in items:
        by.setdefault(r["pair_id"], {})[r["label"]] = r["scores"][agg]
    pairs = [v for v in by.values() if set(v) == {0, 1}]
    return sum(v[0] > v[1] for v in pairs) / len(pairs), len(pairs)


def _headline(results):
    return results.metric("pairwise_accuracy", "avg")


def test_top_level_verbs_exist_and_unknown_names_do_not():
    for name in ("evaluate", "validate", "synth", "report", "demo", "list_models", "list_tasks", "load_results"):
        assert callable(getattr(pjbench, name)), name
        assert name in pjbench.__all__
    for name in ("score", "compare", "merge", "ablate", "run_shard"):
        assert callable(getattr(api, name)), name
    with pytest.raises(AttributeError, match="no attribute 'evaluat'"):
        pjbench.evaluat  # noqa: B018


@pytest.fixture(scope="module")
def two_runs(tiny_suite, tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    a = pjbench.evaluate("pixel-copy-last", tiny_suite, root / "copy", task="intphys2", split="Main", **SURPRISE)
    b = pjbench.evaluate("pixel-linear", tiny_suite, root / "linear", task="intphys2", split="Main", **SURPRISE)
    return (root / "copy", *a), (root / "linear", *b)


def test_evaluate_returns_results_and_path_matching_the_items(two_runs):
    for out, results, path in two_runs:
        assert Path(path) == out / "results.json" and Path(path).is_file()
        head = _headline(results)
        value, n = _main_pairwise_by_hand(_items(out))
        assert head.value == pytest.approx(value) and head.n == n
        assert head.chance == 0.5 and head.ci_low <= head.value <= head.ci_high
        loaded = pjbench.load_results(out)
        assert _headline(loaded).value == head.value and loaded.model["name"] == results.model["name"]


def test_evaluate_refuses_unknown_options_and_models(tiny_suite, tmp_path):
    with pytest.raises(PjbenchError):
        pjbench.evaluate("no-such-model", tiny_suite, tmp_path / "r", task="intphys2")
    with pytest.raises(PjbenchError, match="--folds"):
        pjbench.evaluate("pixel-copy-last", tiny_suite, tmp_path / "r", task="intphys2", folds=3)


def test_compare_gives_the_paired_difference_on_shared_pairs(two_runs):
    (out_a, ra, _), (out_b, rb, _) = two_runs
    cmp = api.compare(out_a, out_b, n_boot=200)
    assert cmp.task == "intphys2" and cmp.metric == "pairwise_accuracy"
    all_row = next(r for r in cmp.comparison.rows if r.subset == "all")
    a, n = _main_pairwise_by_hand(_items(out_a))
    b, _ = _main_pairwise_by_hand(_items(out_b))
    d = all_row.result
    assert d.value_a == pytest.approx(a) and d.value_b == pytest.approx(b)
    assert d.difference == pytest.approx(a - b) and d.n == n == cmp.comparison.n_shared
    assert "A = pixel-copy-last" in cmp.table() and "B = pixel-linear" in cmp.table()
    same = api.compare(out_a, out_a, n_boot=200)
    row = next(r for r in same.comparison.rows if r.subset == "all").result
    assert row.difference == 0.0


def test_merge_of_two_shards_equals_one_process(tiny_suite, two_runs, tmp_path):
    (single, r_single, _), _ = two_runs
    out = tmp_path / "sharded"
    for i in range(2):
        outcome = api.run_shard("pixel-copy-last", tiny_suite, out, shard=f"{i}/2", split="Main", merge="never",
                                **SURPRISE)
        assert outcome.merged is None
    assert not (out / "results.json").exists()
    results, path = api.merge(out, progress=False)
    assert Path(path) == out / "results.json"
    def strip(rows):  # where an item came from (cache or computed) depends on what ran before
        return [{k: v for k, v in r.items() if k != "from_cache"} for r in rows]

    assert strip(_items(out)) == strip(_items(single))
    key = lambda m: (m.name, m.subset, m.aggregation)  # noqa: E731
    assert {key(m): (m.value, m.ci_low, m.ci_high, m.n) for m in results.metrics} == \
           {key(m): (m.value, m.ci_low, m.ci_high, m.n) for m in r_single.metrics}


def test_merge_names_the_missing_shard(tiny_suite, tmp_path):
    out = tmp_path / "half"
    api.run_shard("pixel-copy-last", tiny_suite, out, shard="0/2", split="Main", merge="never", **SURPRISE)
    with pytest.raises(PjbenchError, match="shard 1/2"):
        api.merge(out, progress=False)


def test_score_an_answer_file(tmp_path):
    data = api.synth(tmp_path / "mvp", benchmark="mvpbench", scale=0.25, progress=False)
    gold = {}
    for f in sorted(Path(data).glob("*/mini-*.parquet")):
        for r in pd.read_parquet(f).itertuples():
            gold[r.video_id] = "AB"[ast.literal_eval(r.candidates).index(r.answer)]
    names = sorted(gold)
    wrong = set(names[::3])  # every third item answered wrong
    preds = tmp_path / "answers.jsonl"
    preds.write_text("".join(json.dumps({"id": n, "answer": ("B" if gold[n] == "A" else "A") if n in wrong
                                         else gold[n]}) + "\n" for n in names))
    results, path = api.score("mvpbench", data, preds, tmp_path / "run", n_boot=200)
    assert Path(path) == tmp_path / "run" / "results.json"
    items = _items(tmp_path / "run")
    assert {r["name"] for r in items} == set(names)
    assert {r["name"] for r in items if not r["correct"]} == wrong
    pairs = {}
    for r in items:
        pairs.setdefault(r["pair_id"], []).append(r["name"] not in wrong)
    expected = sum(all(v) for v in pairs.values()) / len(pairs)
    pooled = results.metric("pair_accuracy_pooled")
    assert pooled.value == pytest.approx(expected) and pooled.n == len(pairs)
    single = results.metric("single_accuracy_pooled")
    assert single.value == pytest.approx(1 - len(wrong) / len(names))
    assert results.protocol["readout"] == "answers" and results.task["answers"]["answered"] == len(names)
