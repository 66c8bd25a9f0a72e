"""Run-directory ownership: concurrent runs on one --out never mix their items; a crash leaves no stale lock."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cli import main
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import read_jsonl
from pjbench.benchmarks.runlock import LOCK_FILE, run_lock


def _eval_args(suite, model, out):
    return [sys.executable, "-m", "pjbench.benchmarks.cli", "eval", "-m", model, "--data-root", str(suite),
            "--split", "Debug", "--window", "16", "--n-boot", "100", "--workers", "0", "-q", "--out", str(out)]


def _items(out):
    return [(r["name"], r["scores"]) for r in read_jsonl(out / "items.jsonl")]


@pytest.mark.slow
def test_overwrite_always_runs_of_two_models_on_one_out_never_mix(tiny_suite, tmp_path):
    env = {**os.environ, "PJBENCH_CACHE": str(tmp_path / "cache")}
    solo = {}
    for model in ("pixel-linear", "pixel-copy-last"):
        res = subprocess.run(_eval_args(tiny_suite, model, tmp_path / model), env=env, capture_output=True,
                             text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        solo[model] = _items(tmp_path / model)
    assert solo["pixel-linear"] != solo["pixel-copy-last"]
    shared = tmp_path / "shared"
    first = subprocess.Popen([*_eval_args(tiny_suite, "pixel-linear", shared), "--overwrite", "always", "--no-cache"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.1)
    second = subprocess.Popen([*_eval_args(tiny_suite, "pixel-copy-last", shared), "--overwrite", "always",
                               "--no-cache"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    results = json.loads((shared / "results.json").read_text())
    name = results["model"]["name"]
    assert _items(shared) == solo[name], "every item is the named model's"
    assert results["task"]["n_scored"] == len(solo[name])


def test_a_locked_out_refuses_with_the_holder_when_told_not_to_wait(tiny_suite, tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setenv("PJBENCH_LOCK_TIMEOUT", "0")
    args = ["eval", "-m", "pixel-linear", "--data-root", str(tiny_suite), "--split", "Debug", "--window", "16",
            "--n-boot", "100", "--workers", "0", "-q", "--limit", "2", "--out", str(out)]
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from pjbench.benchmarks.runlock import run_lock\n"
                               f"with run_lock({str(out)!r}):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1, res.output
        assert "Error:" in res.output and "in use by another pjbench run" in res.output
        assert f"pid {holder.pid}" in res.output
        assert not (out / "results.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # the holder died (kill -9): its lock went with it, the next run needs no cleanup
    assert (out / LOCK_FILE).exists()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert (out / "results.json").exists()


def test_second_run_waits_for_the_first_and_the_lock_is_reentrant(tmp_path):
    out = tmp_path / "run"
    with run_lock(out):
        with run_lock(out):  # the same process may take it again (an evaluation merging its shards)
            pass
        with pytest.raises(subprocess.TimeoutExpired):  # another process waits while it is held
            subprocess.run([sys.executable, "-c", "from pjbench.benchmarks.runlock import run_lock\n"
                            f"with run_lock({str(out)!r}, timeout=None): pass"], timeout=3, capture_output=True)
        child = subprocess.run([sys.executable, "-c", "from pjbench.benchmarks.runlock import run_lock\n"
                                f"with run_lock({str(out)!r}, timeout=0.3): pass"], capture_output=True, text=True,
                               timeout=60)
        assert child.returncode != 0 and "in use by another pjbench run" in child.stderr
    with run_lock(out, timeout=0):  # released on exit
        pass
    with pytest.raises(PjbenchError, match="not a directory"):
        (tmp_path / "file").write_text("x")
        from pjbench.benchmarks.runlock import holding_out_lock

        holding_out_lock(lambda out: None)(out=tmp_path / "file")
