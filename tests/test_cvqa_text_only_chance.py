"""A text-only learner on the synthetic CausalVQA release is at chance under the task's question-grouped CV.

The video-blind control of the probe runner (same probe, video tokens zeroed) is the text-only learner.
When the gold colour cycled per type (each colour once per 5 questions), the folds that hold out a
question left the training folds short of exactly its colour, and the control scored 0-3 % instead of
20 %. With the answer drawn at random per question it must sit within chance +- 3 binomial standard errors
of the number of questions (the two askings of a question share its answer, so questions, not items, are
the independent draws).

Small settings (32 px, 4 frames, a 2x2x2 token grid, one grid point): ~40 s on 2 loaded CPU cores.
"""

from __future__ import annotations

import math

import pytest
import torch

from pjbench.benchmarks.probe_runner import evaluate_probe
from pjbench.benchmarks.results import ItemRecord, read_jsonl
from pjbench.synthetic import write_causalvqa_suite


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread is faster than two spin-waiting ones
    yield
    torch.set_num_threads(n)


def test_video_blind_control_is_at_chance_under_question_grouped_folds(tmp_path):
    root = write_causalvqa_suite(tmp_path / "cvqa", progress=False, seed=0, scale=1.0, resolution=32, n_frames=16)
    results, _ = evaluate_probe(
        "pixel-patches", "causalvqa", root, tmp_path / "run", controls=("video_blind",), n_frames=4,
        pooled_grid=(2, 2, 2), grid={"lr": [1e-3], "weight_decay": [0.01], "epochs": [15]},
        probe_config={"width": 32}, n_boot=200, progress=False, workers=0)
    cv = results.protocol["cv"]
    assert cv["group"] == "pair_id" and cv["folds"] == 5  # the task's grouped CV ...
    items = [ItemRecord(**row) for row in read_jsonl(tmp_path / "run" / "control_video_blind_items.jsonl")]
    questions = {r.name.rsplit("/", 1)[0] for r in items}
    assert all(r.pair_id == r.name.rsplit("/", 1)[0] for r in items)  # ... grouped by question
    # ... and no question has its two askings in different folds
    folds = {}
    for r in items:
        folds.setdefault(r.pair_id, set()).add(r.fold)
    assert all(len(f) == 1 for f in folds.values())

    n_questions = len(questions)
    assert n_questions == 75
    accuracy = sum(bool(r.correct) for r in items) / len(items)  # single accuracy, pooled, by hand
    control = results.metric("control_video_blind/single_accuracy_pooled")
    assert control.value == pytest.approx(accuracy)
    chance = 1 / 5
    bound = 3 * math.sqrt(chance * (1 - chance) / n_questions)  # 0.139 at 75 questions
    assert abs(accuracy - chance) <= bound, (accuracy, chance, bound)
