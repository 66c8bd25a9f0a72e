"""The probe readout beyond one process: shards encode features, the last one trains the probe; the results
equal a one-process run's, and unfinished shards are named, never silently left out."""

import json

import pytest
from click.testing import CliRunner

from pjbench.benchmarks.api import evaluate, merge, synth
from pjbench.benchmarks.cli import main
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import load_items

FAST = dict(task="mvpbench", split="full", n_frames=4, pooled_grid=(2, 2, 2), folds=3, n_boot=200, workers=0,
            progress=False, grid={"lr": [1e-3], "weight_decay": [0.01], "epochs": [4]}, probe_config={"width": 32})


@pytest.fixture(scope="module")
def mvp(tmp_path_factory):
    return synth(tmp_path_factory.mktemp("mvp") / "MVPBench", benchmark="mvpbench", scale=0.25, progress=False)


def _rows(results):
    return sorted((m.name, m.subset, m.aggregation, m.value, m.ci_low, m.ci_high, m.n) for m in results.metrics)


def test_sharded_probe_run_equals_the_one_process_run(mvp, tmp_path):
    one, _ = evaluate("pixel-patches", mvp, tmp_path / "one", cache_dir=tmp_path / "c1", **FAST)
    out = tmp_path / "sharded"
    first = evaluate("pixel-patches", mvp, out, cache_dir=tmp_path / "c2", shard="0/2", **FAST)
    assert first.merged is None and first.pending == [1] and first.n_computed > 0
    assert not (out / "results.json").exists()
    done = json.loads((out / ".shards" / "0-of-2" / "done.json").read_text())
    assert done["readout"] == "probe" and done["n_videos"] == len(done["videos"]) > 0
    second = evaluate("pixel-patches", mvp, out, cache_dir=tmp_path / "c2", shard="1/2", **FAST)
    assert second.pending == [] and second.merged is not None  # the last shard to finish merged
    merged, path = second.merged
    assert path == out / "results.json"
    # the shards own disjoint videos that together are the run's
    other = json.loads((out / ".shards" / "1-of-2" / "done.json").read_text())
    assert not set(done["videos"]) & set(other["videos"])
    assert _rows(merged) == _rows(one)
    pred = {r.name: (r.prediction, r.fold) for r in load_items(out)}
    assert pred == {r.name: (r.prediction, r.fold) for r in load_items(tmp_path / "one")}
    assert merged.task["n_computed"] == 0 and merged.task["n_from_cache"] == merged.task["n_scored"]
    assert merged.protocol["probe_beats_video_blind"] == one.protocol["probe_beats_video_blind"]
    # `pjbench merge` redoes the merge from the shards' records: the same results
    again, _ = merge(out, progress=False)
    assert _rows(again) == _rows(one)


def test_probe_shards_through_the_cli_and_unfinished_shards_are_named(mvp, tmp_path):
    out = tmp_path / "run"
    args = ["eval", "-m", "pixel-patches", "-t", "mvpbench", "--data-root", str(mvp), "--split", "full",
            "--frames", "4", "--pooled-grid", "2,2,2", "--folds", "3", "--workers", "0", "-q",
            "--cache-dir", str(tmp_path / "c"), "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--shard", "1/3"])
    assert res.exit_code == 0, res.output
    assert "shard 1/3:" in res.output and "waiting for shard(s) 0, 2 of 3" in res.output
    res = CliRunner().invoke(main, ["merge", "--out", str(out), "-q"])
    assert res.exit_code == 1 and "shard(s) 0/3, 2/3 have not finished" in res.output
    assert "Traceback" not in res.output and not (out / "results.json").exists()
    # another configuration in the same --out is refused, naming what differs
    res = CliRunner().invoke(main, [*args[:-2], "--frames", "8", "--out", str(out), "--shard", "0/3"])
    assert res.exit_code == 1 and "different configuration" in res.output and "features" in res.output
    # an answer file has nothing to shard
    preds = tmp_path / "a.jsonl"
    preds.write_text("")
    res = CliRunner().invoke(main, ["eval", "-m", "x", "-t", "mvpbench", "--data-root", str(mvp), "--readout", "answers",
                                    "--predictions", str(preds), "--out", str(tmp_path / "a"), "--shard", "0/2"])
    assert res.exit_code == 1 and "--shard" in res.output


def test_a_merge_refuses_shards_that_recorded_other_videos(mvp, tmp_path):
    out = tmp_path / "run"
    for i in range(2):
        evaluate("pixel-patches", mvp, out, cache_dir=tmp_path / "c", shard=f"{i}/2", merge="never", **FAST)
    done = out / ".shards" / "0-of-2" / "done.json"
    record = json.loads(done.read_text())
    lost = record["videos"].pop()
    done.write_text(json.dumps(record))
    with pytest.raises(PjbenchError, match="in no shard's record") as err:
        merge(out, progress=False)
    assert lost in str(err.value) and "shard 0/2" in str(err.value)
