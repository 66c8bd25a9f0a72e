"""PJBENCH_DEBUG=1 turns the one-line `Error:` into the traceback; `--model-arg` values reach the model
factory and enter the model identity (and so the feature cache key); a malformed `--model-arg` is a usage
error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from pjbench.benchmarks.cli import main
from pjbench.benchmarks.errors import PjbenchError

FAST = ["--split", "Debug", "--window", "16", "--stride", "4", "--contexts", "6,10", "--n-boot", "200", "--workers", "0",
        "-q"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops on 2 cores: one thread beats two spin-waiting ones
    yield
    torch.set_num_threads(n)


# -- PJBENCH_DEBUG ----------------------------------------------------------------------------------------
def _not_a_dataset(tmp_path):
    d = tmp_path / "not-a-dataset"
    d.mkdir()
    (d / "README.txt").write_text("holiday photos\n")
    return d


def test_user_error_is_one_error_line_without_debug(tmp_path, monkeypatch):
    monkeypatch.delenv("PJBENCH_DEBUG", raising=False)
    data = _not_a_dataset(tmp_path)
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-copy-last", "--data-root", str(data),
                                    "--out", str(tmp_path / "run")])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert str(data) in lines[0] and "Main" in lines[0]
    assert not isinstance(res.exception, PjbenchError)  # turned into click's exit, not propagated
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("off", ["0", "false", "no", ""])
def test_pjbench_debug_off_values_keep_the_one_line_error(tmp_path, off):
    data = _not_a_dataset(tmp_path)
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-copy-last", "--data-root", str(data),
                                    "--out", str(tmp_path / "run")], env={"PJBENCH_DEBUG": off})
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "Traceback" not in res.output


def test_user_error_raises_pjbench_error_with_debug(tmp_path):
    data = _not_a_dataset(tmp_path)
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-copy-last", "--data-root", str(data),
                                    "--out", str(tmp_path / "run")], env={"PJBENCH_DEBUG": "1"})
    assert res.exit_code != 0
    assert isinstance(res.exception, PjbenchError), repr(res.exception)
    assert str(data) in str(res.exception)
    assert not res.output.startswith("Error:")


def _cli(args, env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PJBENCH_DEBUG"}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "pjbench.benchmarks.cli", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def test_debug_shows_the_traceback_in_a_real_process(tmp_path):
    data = _not_a_dataset(tmp_path)
    args = ["eval", "-m", "pixel-copy-last", "--data-root", str(data), "--out", str(tmp_path / "run")]
    plain = _cli(args, {}, tmp_path)
    assert plain.returncode == 1
    err = [x for x in plain.stderr.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("Error: ") and "Traceback" not in plain.stderr, plain.stderr
    debug = _cli(args, {"PJBENCH_DEBUG": "1"}, tmp_path)
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "Error" in debug.stderr.splitlines()[-1] and str(data) in debug.stderr.splitlines()[-1]
    assert not any(x.startswith("Error: ") for x in debug.stderr.splitlines())


# -- --model-arg ------------------------------------------------------------------------------------------
def _run(tiny_suite, out, *extra):
    res = CliRunner().invoke(main, ["eval", "-m", "vjepa2-tiny-random", "--data-root", str(tiny_suite),
                                    "--out", str(out), *FAST, *extra])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    items = {json.loads(x)["name"]: json.loads(x) for x in (out / "items.jsonl").read_text().splitlines()}
    return results, items


@pytest.fixture(scope="module")
def seeded_runs(tiny_suite, tmp_path_factory):
    root = tmp_path_factory.mktemp("model-arg")
    cache = root / "cache"  # one cache for all runs: different identities must not share entries
    a = _run(tiny_suite, root / "seed1", "--model-arg", "seed=1", "--cache-dir", str(cache))
    b = _run(tiny_suite, root / "seed2", "--model-arg", "seed=2", "--cache-dir", str(cache))
    a2 = _run(tiny_suite, root / "seed1-again", "--model-arg", "seed=1", "--cache-dir", str(cache))
    return a, b, a2


def test_model_arg_reaches_the_factory_and_the_identity(seeded_runs):
    (ra, _), (rb, _), _ = seeded_runs
    assert ra["model"]["extra"]["init_seed"] == 1 and rb["model"]["extra"]["init_seed"] == 2
    assert ra["model"]["identity"] != rb["model"]["identity"]
    assert ra["model"]["identity"]["key"] != rb["model"]["identity"]["key"]
    assert ra["model"]["identity"]["extra"]["init_seed"] == 1


def test_different_seeds_give_different_surprise_and_never_share_cache_entries(seeded_runs):
    (ra, ia), (rb, ib), _ = seeded_runs
    assert set(ia) == set(ib) and ia
    assert all(ia[n]["surprise"].keys() == ib[n]["surprise"].keys() for n in ia)
    differ = [n for n in ia if ia[n]["surprise"] != ib[n]["surprise"]]
    assert len(differ) == len(ia)
    assert rb["task"]["n_from_cache"] == 0 and rb["task"]["n_computed"] == rb["task"]["n_scored"]


def test_same_seed_again_is_served_from_the_cache_with_the_same_surprise(seeded_runs):
    (ra, ia), _, (ra2, ia2) = seeded_runs
    assert ra2["model"]["identity"] == ra["model"]["identity"]
    assert ra2["task"]["n_from_cache"] == ra2["task"]["n_scored"] == len(ia)
    assert {n: r["surprise"] for n, r in ia2.items()} == {n: r["surprise"] for n, r in ia.items()}


@pytest.mark.parametrize("bad", ["foo", "=3", "seed"])
def test_malformed_model_arg_is_a_usage_error(tiny_suite, tmp_path, bad):
    res = CliRunner().invoke(main, ["eval", "-m", "vjepa2-tiny-random", "--model-arg", bad, "--data-root",
                                    str(tiny_suite), "--out", str(tmp_path / "r"), *FAST])
    assert res.exit_code == 2, res.output  # click's usage-error status
    assert "Traceback" not in res.output
    assert "Invalid value for '--model-arg'" in res.output and f"expected KEY=VALUE, got {bad!r}" in res.output
    assert not (tmp_path / "r").exists()


# a --model-arg value of the wrong type is refused from the factory signature before anything is built
@pytest.mark.parametrize("arg", ["seed=abc", "layer=abc"])
def test_model_arg_value_of_the_wrong_type_is_one_error_line(tiny_suite, tmp_path, arg):
    res = CliRunner().invoke(main, ["eval", "-m", "vjepa2-tiny-random", "--model-arg", arg, "--data-root",
                                    str(tiny_suite), "--out", str(tmp_path / "r"), *FAST])
    assert res.exit_code == 1
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    lines = [x for x in res.output.splitlines() if x.startswith("Error: ")]
    assert len(lines) == 1 and arg.split("=")[0] in lines[0], res.output
