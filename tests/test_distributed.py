"""Beyond one process: torchrun ranks, a killed shard that resumes, the file barrier, Slurm job planning."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from pjbench.benchmarks import distributed as dist
from pjbench.benchmarks.distributed import Shard, torchrun_env, wait_for_shards
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import read_jsonl
from pjbench.benchmarks.runner import evaluate, run_shard

FAST = dict(window=16, n_boot=200, progress=False, workers=0)
CLI_FAST = ["--window", "16", "--n-boot", "200", "--workers", "0", "-q"]


def _env(tmp_path, name):
    # Same intra-op thread count as this process: float reductions then round identically.
    return {**os.environ, "PJBENCH_CACHE": str(tmp_path / name), "OMP_NUM_THREADS": str(torch.get_num_threads())}


@pytest.fixture(scope="module")
def single(tiny_suite, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    evaluate("pixel-copy-last", tiny_suite, out, cache_dir=tmp_path_factory.mktemp("cache-single"), **FAST)
    return out


def _same_run(a, b):
    for name in ("items.jsonl", "dev_items.jsonl"):
        assert list(read_jsonl(a / name)) == list(read_jsonl(b / name)), name
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert ra["metrics"] == rb["metrics"] and ra["task"] == rb["task"] and ra["protocol"] == rb["protocol"]


def test_torchrun_two_ranks_equal_one_process(tiny_suite, single, tmp_path):
    out = tmp_path / "torchrun"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "pjbench.benchmarks.cli", "eval",
           "-m", "pixel-copy-last", "--data-root", str(tiny_suite), "--out", str(out), *CLI_FAST]
    res = subprocess.run(cmd, env=_env(tmp_path, "cache"), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rank 1: shard 1/2" in res.stdout and "rank 0: shard 0/2" in res.stdout
    assert "pairwise accuracy" in res.stdout  # rank 0 merged
    _same_run(single, out)
    done = [json.loads(p.read_text()) for p in sorted(out.glob(".shards/*-of-2/done.json"))]
    assert [d["shard"] for d in done] == ["0/2", "1/2"]
    assert sum(d["n_items"] for d in done) == sum(1 for _ in read_jsonl(single / "items.jsonl")) + sum(
        1 for _ in read_jsonl(single / "dev_items.jsonl")), "no item lost, none duplicated"


def test_killed_shard_resumes_and_the_merge_equals_one_process(tiny_suite, single, tmp_path):
    out = tmp_path / "killed"
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "pjbench.benchmarks.cli", "eval", "-m", "pixel-copy-last", "--data-root",
           str(tiny_suite), "--out", str(out), "--cache-dir", str(cache), "--shard", "0/2", *CLI_FAST]
    proc = subprocess.Popen(cmd, env=_env(tmp_path, "unused"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sdir = out / ".shards" / "0-of-2"

    def n_done():
        return sum(len(p.read_text().splitlines()) for p in sdir.glob("*.jsonl"))

    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if sdir.is_dir() and n_done() >= 1:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    else:
        proc.kill()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the shard finished before it could be interrupted"
    assert not (sdir / "done.json").exists()
    done_before = n_done()

    resumed = run_shard("pixel-copy-last", tiny_suite, out, shard="0/2", cache_dir=cache, **FAST)
    assert resumed.merged is None and resumed.pending == [1]
    assert resumed.n_computed <= resumed.n_items - done_before + 1  # at most a torn item is redone
    last = run_shard("pixel-copy-last", tiny_suite, out, shard="1/2", cache_dir=cache, **FAST)
    assert last.merged is not None
    _same_run(single, out)  # items computed before the kill count as computed by this run's shards


# -- the file barrier ------------------------------------------------------------------------------------

CONFIG = {"task": "t", "model": {"name": "m"}}


def _finished(out, i, n, config=CONFIG):
    d = dist.shard_dir(out, Shard(i, n))
    d.mkdir(parents=True, exist_ok=True)
    (d / dist.RUN_CONFIG_FILE).write_text(json.dumps(config))
    dist.mark_done(d, {"shard": f"{i}/{n}"})
    return d


def test_barrier_returns_when_every_shard_is_done(tmp_path):
    for i in range(3):
        _finished(tmp_path, i, 3)
    wait_for_shards(tmp_path, 3, CONFIG, timeout=1, poll=0.01)
    with pytest.raises(PjbenchError, match="shard 2/3 never started"):  # done under another configuration
        _finished(tmp_path, 2, 3, config={"task": "other"})
        wait_for_shards(tmp_path, 3, CONFIG, timeout=0.2, poll=0.01)


def test_barrier_names_a_rank_that_never_started(tmp_path):
    _finished(tmp_path, 0, 2)
    with pytest.raises(PjbenchError, match=r"shard 1/2 never started.*re-run the same command"):
        wait_for_shards(tmp_path, 2, CONFIG, timeout=0.3, poll=0.02)


def test_barrier_names_a_dead_rank_and_a_failed_rank(tmp_path):
    _finished(tmp_path, 0, 3)
    dead = dist.shard_dir(tmp_path, Shard(1, 3))
    with dist.Heartbeat(dead, run_id="run-7", interval=60):
        pass
    os.utime(dead / dist.HEARTBEAT_FILE, (time.time() - 100, time.time() - 100))  # a SIGKILLed rank stops beating
    failed = dist.shard_dir(tmp_path, Shard(2, 3))
    with dist.Heartbeat(failed, run_id="run-7", interval=60):
        dist.mark_failed(failed, "VideoError: boom", "run-7")
    with pytest.raises(PjbenchError) as err:
        wait_for_shards(tmp_path, 3, CONFIG, timeout=30, poll=0.01, run_id="run-7")
    assert "shard 1/3 stopped: no sign of life" in str(err.value) and "shard 2/3 failed: VideoError: boom" in str(err.value)
    # a failure marker of an earlier launch is not this launch's failure: the live heartbeat keeps it waiting
    finish_later = threading.Timer(0.3, lambda: [_finished(tmp_path, i, 3) for i in (1, 2)])
    with dist.Heartbeat(dead, run_id="run-8", interval=0.05), dist.Heartbeat(failed, run_id="run-8", interval=0.05):
        finish_later.start()
        wait_for_shards(tmp_path, 3, CONFIG, timeout=5, poll=0.02, run_id="run-8")
    finish_later.join()


def test_torchrun_environment():
    assert torchrun_env({}) is None
    assert torchrun_env({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None  # one process: ordinary run
    env = torchrun_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "TORCHELASTIC_RUN_ID": "abc",
                        "TORCHELASTIC_RESTART_COUNT": "2"})
    assert (env.rank, env.world_size, env.local_rank, env.run_id, env.shard) == (3, 4, 1, "abc:2", Shard(3, 4))
    assert dist.rank_device("cuda", 1) == "cuda:1" and dist.rank_device("cpu", 1) == "cpu"
    assert dist.rank_device("cuda:0", 1) == "cuda:0"
    with pytest.raises(PjbenchError, match="integers"):
        torchrun_env({"RANK": "x", "WORLD_SIZE": "2"})


# -- Slurm (submitit), offline -----------------------------------------------------------------------------


def test_slurm_plan():
    from pjbench.benchmarks.slurm import plan_jobs

    plan = plan_jobs("/tmp/o", partition="gpu", nodes=3, gpus_per_node=4, time_min=90, account="acct")
    assert plan.n_shards == 12
    assert plan.shard_params["gpus_per_node"] == 1 and plan.shard_params["slurm_array_parallelism"] == 12
    assert plan.shard_params["timeout_min"] == 90 and plan.shard_params["slurm_account"] == "acct"
    assert "gpus_per_node" not in plan.merge_params
    cpu = plan_jobs("/tmp/o", partition="cpu", nodes=2, gpus_per_node=0, device="cpu")
    assert cpu.n_shards == 2 and "gpus_per_node" not in cpu.shard_params
    with pytest.raises(PjbenchError, match="needs GPUs"):
        plan_jobs("/tmp/o", partition="cpu", nodes=2, gpus_per_node=0, device="cuda")


def test_slurm_without_submitit_says_how_to_install(monkeypatch):
    from pjbench.benchmarks.slurm import require_submitit

    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(PjbenchError, match=r"pip install 'pjbench\[slurm\]'"):
        require_submitit()


def test_slurm_array_and_merge_job_run_offline(tiny_suite, single, tmp_path, monkeypatch):
    """Real submitit SlurmExecutor with `sbatch` mocked: check the scripts, then run each array task and the
    merge job in this process the way a node would, and compare with one process."""
    submitit = pytest.importorskip("submitit")
    from submitit.core import submission
    from submitit.core.test_core import MockedSubprocess

    from pjbench.benchmarks.slurm import ShardJob, submit, wait_and_merge

    out = tmp_path / "slurm-run"
    monkeypatch.setenv("SUBMITIT_FOLDER", "")  # process_job sets it; restored afterwards
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGCONT, signal.SIGUSR2)}
    mock = MockedSubprocess(known_cmds=["srun"])
    try:
        with mock.context():
            sub = submit("pixel-copy-last", tiny_suite, out, partition="gpu-p", nodes=1, gpus_per_node=2, time_min=77,
                         account="lab", eval_kwargs={**FAST, "device": "cpu", "cache_dir": str(tmp_path / "cache")},
                         executor_factory=lambda folder: submitit.AutoExecutor(folder=folder, cluster="slurm"))
            assert [j.job_id for j in sub.shard_jobs] == [f"{sub.array_id}_0", f"{sub.array_id}_1"]
            array_sbatch = sub.shard_jobs[0].paths.submission_file.read_text()
            merge_sbatch = sub.merge_job.paths.submission_file.read_text()
            for line in ("--array=0-1%2", "--partition=gpu-p", "--gpus-per-node=1", "--time=77", "--account=lab",
                         "--signal=USR2@"):
                assert line in array_sbatch, line
            assert f"--dependency=afterany:{sub.array_id}" in merge_sbatch and "--gpus-per-node" not in merge_sbatch
            for job in sub.shard_jobs:
                with mock.job_context(job.job_id):
                    submission.process_job(job.paths.folder)
                assert job.result()["n_scored"] > 0
            assert not (out / "results.json").exists(), "array tasks never merge"
            _, path = wait_and_merge(sub.shard_jobs, out, 2)  # what --wait does once the array is done
            _same_run(single, out)
            with mock.job_context(sub.merge_job.job_id):
                submission.process_job(sub.merge_job.paths.folder)
            assert sub.merge_job.result() == str(out / "results.json")
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    _same_run(single, out)
    # preemption: submitit requeues the same callable with the same shard; the re-run resumes (nothing computed)
    job_fn = ShardJob("pixel-copy-last", str(tiny_suite), str(out), {**FAST, "cache_dir": str(tmp_path / "cache")})
    delayed = job_fn.checkpoint(1, 2)
    assert delayed.function is job_fn and delayed.args == (1, 2)
    assert delayed.function(*delayed.args)["n_computed"] == 0


def test_eval_command_submits_to_slurm(tiny_suite, tmp_path):
    """The CLI path up to `sbatch` (mocked): the default executor, the array and the merge job are submitted."""
    pytest.importorskip("submitit")
    from click.testing import CliRunner
    from submitit.core.test_core import MockedSubprocess

    from pjbench.benchmarks.cli import main

    out = tmp_path / "run"
    mock = MockedSubprocess(known_cmds=["srun"])
    with mock.context():
        res = CliRunner().invoke(main, ["eval", "-m", "pixel-copy-last", "--data-root", str(tiny_suite), "--out",
                                        str(out), "--device", "cuda", "--slurm-partition", "p1", "--nodes", "2",
                                        "--slurm-gpus-per-node", "4", "--slurm-time", "30", *CLI_FAST])
    assert res.exit_code == 0, res.output
    assert "submitted 8 shards as Slurm array job 12" in res.output and "merge job 13 runs after the array" in res.output
    sbatch = sorted((out / ".slurm").glob("*_submission.sh"))
    assert len(sbatch) == 2 and "--array=0-7%8" in sbatch[0].read_text() and "--partition=p1" in sbatch[0].read_text()
