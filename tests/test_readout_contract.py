"""Every registered (task, readout) pair runs on a tiny synthetic release through the one entry point
(`pjbench.evaluate(..., readout=...)`) and writes results in the one documented schema."""

import json

import pytest

from pjbench.benchmarks.api import evaluate
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.readouts import READOUTS, readouts_for
from pjbench.benchmarks.results import read_jsonl, schema_problems
from pjbench.benchmarks.tasks import TASKS
from pjbench.probes.text import LearnedTextEncoder

PROBE_FAST = dict(text_encoder=LearnedTextEncoder(dim=8, n_buckets=1 << 8), n_frames=4, pooled_grid=(2, 2, 2),
                  folds=3, grid={"lr": [1e-2], "weight_decay": [0.01], "epochs": [2]}, workers=0)
OPTIONS = {
    "surprise": lambda task: dict(window=16, workers=0, **({"split": "Debug"} if task == "intphys2" else {})),
    "probe": lambda task: dict(PROBE_FAST),
    "answers": lambda task: {},
    "vlm": lambda task: {},
}
BUILTIN = [s.name for s in TASKS.specs() if s.name != "intphys2019"]  # intphys2019: PNG folders, covered elsewhere
PAIRS = [(t, r) for t in BUILTIN for r in readouts_for(TASKS.spec(t).item_kind)]


@pytest.fixture(scope="module")
def releases(tiny_suite, tmp_path_factory):
    from pjbench.benchmarks.api import synth

    root = tmp_path_factory.mktemp("contract")
    return {"intphys2": tiny_suite,
            "mvpbench": synth(root / "mvp", benchmark="mvpbench", scale=0.25, progress=False),
            "causalvqa": synth(root / "cvqa", benchmark="causalvqa", scale=0.4, progress=False)}


def test_every_builtin_readout_is_paired_with_a_task():
    assert {r for _, r in PAIRS} == set(READOUTS.names())
    assert ("intphys2", "surprise") in PAIRS and ("mvpbench", "answers") in PAIRS and ("causalvqa", "probe") in PAIRS


@pytest.mark.parametrize("task,readout", PAIRS, ids=[f"{t}-{r}" for t, r in PAIRS])
def test_each_task_readout_pair_writes_the_documented_schema(task, readout, releases, tmp_path):
    data = releases[task]
    options = OPTIONS[readout](task)
    model = {"surprise": "pixel-linear", "probe": "pixel-patches", "answers": "always-a", "vlm": "answer-random"}[readout]
    if readout == "answers":  # a model that always answers the first candidate
        items = TASKS.build(task).load(data, TASKS.spec(task).default_split)
        preds = tmp_path / "answers.jsonl"
        preds.write_text("".join(json.dumps({"id": it.name, "answer": "A"}) + "\n" for it in items))
        options["predictions"] = preds
    results, path = evaluate(model, data, tmp_path / "run", task=task, readout=readout, n_boot=100, progress=False,
                             **options)
    saved = json.loads(path.read_text())
    assert schema_problems(saved, list(read_jsonl(tmp_path / "run" / "items.jsonl"))) == []
    assert saved["protocol"]["readout"] == readout and saved["task"]["name"] == task
    spec = TASKS.spec(task)
    # the task's headline, or the one the readout declares (vlm on IntPhys 2: per-video accuracy over prompts)
    headline = saved["protocol"].get("headline") or spec.headline_metric
    assert any(m["name"] == headline and m["subset"] == "all" for m in saved["metrics"])


def test_a_readout_that_cannot_read_the_task_is_refused_naming_the_ones_that_can(releases, tmp_path):
    with pytest.raises(PjbenchError, match=r"readout surprise reads surprise_pairs items; task mvpbench has "
                                           r"multiple_choice items \(readouts for it: answers, probe, vlm\)"):
        evaluate("pixel-linear", releases["mvpbench"], tmp_path / "o", task="mvpbench", readout="surprise")
    with pytest.raises(PjbenchError, match="--window: not an option of the probe readout"):
        evaluate("pixel-patches", releases["mvpbench"], tmp_path / "o", task="mvpbench", window=16)
    with pytest.raises(PjbenchError, match="unknown readout 'probes'"):
        evaluate("pixel-patches", releases["mvpbench"], tmp_path / "o", task="mvpbench", readout="probes")


def test_schema_problems_catches_what_is_missing():
    assert "model.identity: missing" in schema_problems({"schema_version": "pjbench.results/1", "model": {}})
    assert any("n_computed + n_from_cache" in p for p in schema_problems(
        {"task": {"n_computed": 1, "n_from_cache": 1, "n_from_previous_run": 0, "n_scored": 3}}))


def test_eval_reads_an_answer_file_out_by_readout(releases, tmp_path):
    from click.testing import CliRunner

    from pjbench.benchmarks.cli import main

    items = TASKS.build("mvpbench").load(releases["mvpbench"], "mini")
    preds = tmp_path / "vlm.jsonl"
    preds.write_text("".join(json.dumps({"id": it.name, "answer": "B"}) + "\n" for it in items))
    args = ["eval", "-m", "my-vlm", "--task", "mvpbench", "--data-root", str(releases["mvpbench"]), "--n-boot", "100"]
    res = CliRunner().invoke(main, [*args, "--readout", "answers", "--predictions", str(preds), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert "my-vlm on mvpbench/mini: pair accuracy" in res.output
    saved = json.loads((tmp_path / "a" / "results.json").read_text())
    assert saved["model"]["name"] == "my-vlm" and saved["protocol"]["readout"] == "answers"
    res = CliRunner().invoke(main, [*args, "--readout", "answers", "--out", str(tmp_path / "b")])
    assert res.exit_code == 1 and "needs --predictions FILE" in res.output
