"""Deterministic shards and their merge: a partition of the items, and 2 shards + merge == one process."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cli import main
from pjbench.benchmarks.distributed import Shard, shard_of
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import read_jsonl
from pjbench.benchmarks.runner import evaluate, run_shard

FAST = dict(window=16, n_boot=200, progress=False, workers=0)
NAMES = [f"video-{i:04d}" for i in range(400)] + ["ab12" * 16, "Main_é", ""]


def _reference_shard(name, n):  # the documented rule, written out independently
    return int(hashlib.sha256(name.encode()).hexdigest()[:16], 16) % n


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_shards_are_a_disjoint_cover_and_follow_the_documented_hash(n):
    class It:
        def __init__(self, name):
            self.name = name

    items = [It(x) for x in NAMES]
    parts = [Shard(i, n).select(items) for i in range(n)]
    seen = [it.name for part in parts for it in part]
    assert sorted(seen) == sorted(NAMES) and len(seen) == len(set(seen)), "every item in exactly one shard"
    for i, part in enumerate(parts):
        assert [it.name for it in part] == [x for x in NAMES if _reference_shard(x, n) == i], "order kept"
        assert len(part) > 0.6 * len(NAMES) / n, "a stable hash spreads names evenly"


def test_shard_assignment_is_the_same_in_other_processes():
    code = ("import json, sys; from pjbench.benchmarks.distributed import shard_of; "
            "print(json.dumps([shard_of(x, 5) for x in json.loads(sys.stdin.read())]))")
    got = []
    for seed in ("1", "2"):  # Python's own str hash changes with PYTHONHASHSEED; ours must not
        res = subprocess.run([sys.executable, "-c", code], input=json.dumps(NAMES), capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, timeout=60, check=True)
        got.append(json.loads(res.stdout))
    assert got[0] == got[1] == [shard_of(x, 5) for x in NAMES]


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1/0", "a/b", "1", "1/2/3"])
def test_bad_shard_specs_are_refused(text):
    with pytest.raises(PjbenchError, match="shard"):
        Shard.parse(text)


def test_shard_spec_parses():
    assert Shard.parse(" 3 / 4 ") == Shard(3, 4) and Shard.parse((0, 1)).name == "0-of-1"


@pytest.fixture(scope="module")
def lossy_suite(tiny_suite, tmp_path_factory):
    """The tiny suite with one undecodable video in Main and one in Debug: skips must survive sharding."""
    data = tmp_path_factory.mktemp("lossy") / "IntPhys2"
    shutil.copytree(tiny_suite, data)
    for split in ("Main", "Debug"):
        victim = sorted((data / split / "Videos").glob("*.mp4"))[1]
        victim.write_bytes(victim.read_bytes()[:300])
    return data


@pytest.fixture(scope="module")
def single(lossy_suite, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    cache = tmp_path_factory.mktemp("cache-single")
    results, _ = evaluate("pixel-copy-last", lossy_suite, out, cache_dir=cache, **FAST)
    assert len(results.task["skipped"]) == 1 and len(results.task["dev_skipped"]) == 1
    return out


def _same_run(a, b):
    """Item by item (surprise arrays, scores, labels, origin) and metric by metric."""
    for name in ("items.jsonl", "dev_items.jsonl"):
        assert list(read_jsonl(a / name)) == list(read_jsonl(b / name)), name
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert ra["metrics"] == rb["metrics"]
    assert ra["task"] == rb["task"]  # counts, skips, computed/cache origins
    assert ra["protocol"] == rb["protocol"]


def test_two_shards_then_merge_equal_one_process(lossy_suite, single, tmp_path):
    out = tmp_path / "sharded"
    cache = tmp_path / "cache"
    args = ["eval", "-m", "pixel-copy-last", "--data-root", str(lossy_suite), "--window", "16", "--n-boot", "200",
            "--workers", "0", "-q", "--out", str(out), "--cache-dir", str(cache)]
    runner = CliRunner()
    res = runner.invoke(main, [*args, "--shard", "0/2"])
    assert res.exit_code == 0, res.output
    assert "shard 0/2" in res.output and "waiting for shard(s) 1 of 2" in res.output
    assert not (out / "results.json").exists(), "a shard alone computes no metrics"

    # merging with a shard missing says which shard and which items
    res = runner.invoke(main, ["merge", "--out", str(out), "-q"])
    assert res.exit_code == 1
    assert "shards 1 of 2 are missing or unfinished" in res.output and "shard 1/2:" in res.output
    assert not (out / "results.json").exists()

    outcome = run_shard("pixel-copy-last", lossy_suite, out, shard="1/2", cache_dir=cache, **FAST)
    assert outcome.pending == [] and outcome.merged is not None, "the last shard to finish merges"
    _same_run(single, out)
    merged = json.loads((out / "results.json").read_text())
    assert merged["task"]["n_computed"] == merged["task"]["n_scored"]  # computed by the shards, not read back

    # merge again (the command): the same files
    before = (out / "items.jsonl").read_bytes()
    res = runner.invoke(main, ["merge", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert "pairwise accuracy" in res.output and (out / "items.jsonl").read_bytes() == before
    _same_run(single, out)

    # a later ordinary eval over the same --out reads the shards: nothing computed, same numbers
    results, _ = evaluate("pixel-copy-last", lossy_suite, out, cache_dir=tmp_path / "empty-cache", **FAST)
    assert not any(p.read_text().strip() for p in out.glob(".partial/*.jsonl")), "nothing was scored again"
    _same_run(single, out)

    # the shards refuse a run with another configuration in the same --out
    with pytest.raises(PjbenchError, match="different configuration"):
        run_shard("pixel-copy-last", lossy_suite, out, shard="0/3", cache_dir=cache, **{**FAST, "window": 12})
    res = runner.invoke(main, ["merge", "--out", str(out), "-q"])  # the refused shard left no phantom layout
    assert res.exit_code == 0, res.output


def test_shard_outcome_counts_and_resume(tiny_suite, tmp_path):
    out = tmp_path / "r"
    kw = dict(limit=3, cache=False, **FAST)
    first = run_shard("pixel-linear", tiny_suite, out, shard="0/3", merge="never", **kw)
    assert first.n_items == first.n_scored + first.n_skipped == first.n_computed > 0
    again = run_shard("pixel-linear", tiny_suite, out, shard="0/3", merge="never", **kw)
    assert again.n_computed == 0 and again.n_scored == first.n_scored, "a re-run resumes from the shard files"
    redo = run_shard("pixel-linear", tiny_suite, out, shard="0/3", merge="never", overwrite="always", **kw)
    assert redo.n_computed == first.n_computed
    assert not (out / ".shards" / "1-of-3").exists(), "a shard touches only its own directory"


@pytest.mark.parametrize("extra, message", [
    (["--nodes", "2"], "--nodes and --wait need --slurm-partition"),
    (["--shard", "0/2", "--slurm-partition", "p", "--nodes", "1"], "use one of --shard"),
    (["--shard", "2/2"], "need 0 <= i < N"),
    # probe runs shard too (tests/test_probe_shards.py); the model's readouts are still checked first
    (["--shard", "0/2", "--task", "mvpbench"], "task mvpbench needs features"),
    (["--slurm-partition", "p"], "needs --nodes"),
])
def test_scale_out_options_are_checked_before_any_work(tiny_suite, tmp_path, extra, message):
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-copy-last", "--data-root", str(tiny_suite), "--out",
                                    str(tmp_path / "r"), "-q", *extra])
    assert res.exit_code == 1 and message in res.output, res.output
    assert not (tmp_path / "r").exists()
