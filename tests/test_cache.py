"""The feature cache: model identity, content fingerprints, atomic entries, warm re-runs, kill-and-resume."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cache import FeatureCache, model_identity, video_fingerprint
from pjbench.benchmarks.cli import main
from pjbench.benchmarks.results import load_items, read_jsonl
from pjbench.benchmarks.runner import evaluate
from pjbench.encoders import MODELS

FAST = dict(window=16, n_boot=200, progress=False, workers=0)
DEBUG = dict(FAST, split="Debug")  # Debug has no dev split of its own: one split scored per run (fast)


def _values(results):
    return [(m.key(), m.value, m.ci_low, m.ci_high) for m in results.metrics]


def test_identity_is_content_based(tiny_vjepa2_dir, tmp_path):
    from pjbench.encoders.vjepa2_hf import build_tiny_random

    a = model_identity(MODELS.build("vjepa2", checkpoint=str(tiny_vjepa2_dir)))
    moved = tmp_path / "moved"
    shutil.copytree(tiny_vjepa2_dir, moved)
    b = model_identity(MODELS.build("vjepa2", checkpoint=str(moved)))
    assert a["key"] == b["key"], "the same weights elsewhere are the same model"
    other = tmp_path / "other"
    build_tiny_random(seed=99).save_pretrained(other)
    c = model_identity(MODELS.build("vjepa2", checkpoint=str(other)))
    assert c["name"] == a["name"] and c["key"] != a["key"], "different weights under one name must not share"
    assert a["checkpoint_hash"].startswith("sha256:") and "checkpoint" not in a
    r0 = model_identity(MODELS.build("vjepa2-tiny-random"))
    r1 = model_identity(MODELS.build("vjepa2-tiny-random", seed=1))
    assert r0["key"] != r1["key"], "random-init controls are identified by their seed"
    assert r0["cache_schema"] == "pjbench.cache/1"


def test_store_roundtrip_is_atomic_and_survives_corruption(tmp_path):
    cache = FeatureCache(tmp_path / "c")
    store = cache.store({"name": "m", "key": "k1"}, "features", {"frames": 16})
    other = cache.store({"name": "m", "key": "k1"}, "features", {"frames": 32})
    assert store.key != other.key
    arrays = {"tokens": np.arange(12, dtype=np.float16).reshape(3, 4), "grid": np.array([1, 3, 1])}
    assert store.get("sha256:ab12") is None
    store.put("sha256:ab12", arrays, meta={"name": "video-1"})
    got = store.get("sha256:ab12")
    assert got["tokens"].dtype == np.float16 and np.array_equal(got["tokens"], arrays["tokens"])
    assert other.get("sha256:ab12") is None
    assert not [p for p in store.directory.rglob(".*") if p.is_file()], "no temp files left behind"
    store.path_for("sha256:ab12").write_bytes(b"garbage")
    assert store.get("sha256:ab12") is None and "sha256:ab12" not in store
    disabled = FeatureCache(tmp_path / "d", enabled=False).store({"name": "m", "key": "k"}, "features", {})
    disabled.put("sha256:ab12", arrays)
    assert disabled.get("sha256:ab12") is None and not (tmp_path / "d").exists()


def test_video_fingerprint_follows_content_not_name(tmp_path):
    a = tmp_path / "a.mp4"
    a.write_bytes(b"\x00video bytes" * 100)
    b = tmp_path / "b.mp4"
    shutil.copy(a, b)
    assert video_fingerprint(a) == video_fingerprint(b)
    b.write_bytes(b"\x00video bytez" * 100)
    assert video_fingerprint(a) != video_fingerprint(b)
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "0001.png").write_bytes(b"x")
    fp1 = video_fingerprint(folder)
    (folder / "0002.png").write_bytes(b"y")
    os.utime(folder, ns=(1, 1))  # defeat the (path, size, mtime) memo the way a real edit would
    assert video_fingerprint(folder) != fp1


def test_second_run_is_served_from_cache_with_identical_results(tiny_suite, tmp_path):
    cold, _ = evaluate("pixel-linear", tiny_suite, tmp_path / "cold", **FAST)
    assert cold.task["n_computed"] == cold.task["n_scored"] and cold.task["n_from_cache"] == 0
    warm, out = evaluate("pixel-linear", tiny_suite, tmp_path / "warm", **FAST)
    assert warm.task["n_from_cache"] == warm.task["n_scored"] and warm.task["n_computed"] == 0
    assert warm.task["n_dev_scored"] == cold.task["n_dev_scored"]
    assert _values(warm) == _values(cold)
    assert all(r.from_cache for r in load_items(out))
    assert warm.model["identity"]["key"] == cold.model["identity"]["key"]
    assert warm.model["cache"]["store"] == cold.model["cache"]["store"]
    # a different readout protocol is a different store: nothing is served
    other, _ = evaluate("pixel-linear", tiny_suite, tmp_path / "other", **{**DEBUG, "stride": 4})
    assert other.task["n_from_cache"] == 0
    # --no-cache computes everything; --overwrite always recomputes and rewrites
    nocache, _ = evaluate("pixel-linear", tiny_suite, tmp_path / "nocache", cache=False, **DEBUG)
    assert nocache.task["n_computed"] == nocache.task["n_scored"] and not nocache.model["cache"]["enabled"]
    again, _ = evaluate("pixel-linear", tiny_suite, tmp_path / "again", overwrite="always", limit=3, **FAST)
    assert again.task["n_computed"] == again.task["n_scored"]


def test_cache_is_keyed_by_checkpoint_not_by_name(tiny_suite, tiny_vjepa2_dir, tmp_path):
    from pjbench.encoders.vjepa2_hf import build_tiny_random

    first, _ = evaluate("vjepa2", tiny_suite, tmp_path / "a", checkpoint=str(tiny_vjepa2_dir), limit=2, **DEBUG)
    other = tmp_path / "other-ckpt"
    build_tiny_random(seed=5).save_pretrained(other)
    second, _ = evaluate("vjepa2", tiny_suite, tmp_path / "b", checkpoint=str(other), limit=2, **DEBUG)
    assert second.task["n_from_cache"] == 0 and second.task["n_computed"] == second.task["n_scored"]
    third, _ = evaluate("vjepa2", tiny_suite, tmp_path / "c", checkpoint=str(tiny_vjepa2_dir), limit=2, **DEBUG)
    assert third.task["n_from_cache"] == third.task["n_scored"]
    assert _values(third) == _values(first)


def test_cache_ls_and_clear(tiny_suite, tmp_path):
    root = tmp_path / "cache-root"
    evaluate("pixel-linear", tiny_suite, tmp_path / "r1", cache_dir=root, limit=2, **FAST)
    evaluate("pixel-copy-last", tiny_suite, tmp_path / "r2", cache_dir=root, limit=2, **FAST)
    runner = CliRunner()
    res = runner.invoke(main, ["cache", "ls", "--cache-dir", str(root)])
    assert res.exit_code == 0, res.output
    assert "pixel-linear" in res.output and "pixel-copy-last" in res.output and "2 model identities" in res.output
    res = runner.invoke(main, ["cache", "clear", "--model", "pixel-linear", "--cache-dir", str(root), "--yes"])
    assert res.exit_code == 0 and "removed 1 model identity" in res.output
    names = [r["name"] for r in FeatureCache(root).models()]
    assert names == ["pixel-copy-last"]
    res = runner.invoke(main, ["cache", "clear", "--cache-dir", str(root)], input="n\n")
    assert res.exit_code != 0 and FeatureCache(root).models(), "declining the prompt keeps the cache"


def test_eval_command_says_when_it_was_served_from_cache(tiny_suite, tmp_path):
    runner = CliRunner()
    args = ["eval", "-m", "pixel-linear", "--data-root", str(tiny_suite), "--window", "16", "--n-boot", "100",
            "--workers", "0", "-q", "--limit", "2"]
    res = runner.invoke(main, [*args, "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert "served from the feature cache" not in res.output
    res = runner.invoke(main, [*args, "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "0 of 4 videos computed; 4 served from the feature cache" in res.output


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_results(tiny_suite, tmp_path):
    """SIGKILL a real `pjbench eval` process mid-run, run it again: same results as an uninterrupted run."""
    env = {**os.environ, "PJBENCH_CACHE": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "pjbench.benchmarks.cli", "eval", "-m", "vjepa2-tiny-random", "--data-root",
            str(tiny_suite), "--split", "Debug", "--window", "16", "--n-boot", "200", "--workers", "0",
            "--batch-size", "1", "-q"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def n_done():  # videos finished so far
        return sum(len(p.read_text().splitlines()) for p in (out / ".partial").glob("*.jsonl"))

    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (out / ".partial").is_dir() and n_done() >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    else:
        proc.kill()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be interrupted"
    done_before = n_done()
    assert not (out / "results.json").exists()
    res = subprocess.run([*args, "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["task"]["n_computed"] <= resumed["task"]["n_scored"] - done_before + 1  # at most a torn item redone
    fresh = tmp_path / "fresh"
    res = subprocess.run([*args, "--out", str(fresh), "--no-cache"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    uninterrupted = json.loads((fresh / "results.json").read_text())
    assert resumed["metrics"] == uninterrupted["metrics"]
    assert [r["surprise"] for r in read_jsonl(out / "items.jsonl")] == [r["surprise"] for r in read_jsonl(fresh / "items.jsonl")]


def _flip_payload_byte(path):
    """Flip one byte after the safetensors header (the header stays valid: the file still loads)."""
    data = bytearray(path.read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    data[8 + header_len + 2] ^= 0x7F
    path.write_bytes(bytes(data))


def test_store_verifies_payload_and_key_checksums(tmp_path):
    from safetensors.numpy import load_file, save_file

    store = FeatureCache(tmp_path / "c").store({"name": "m", "key": "k1"}, "surprise", {"w": 16})
    arrays = {"c12": np.linspace(0.01, 0.05, 8, dtype=np.float32)}
    store.put("sha256:aa11", arrays)
    got, corrupt = store.lookup("sha256:aa11")
    assert not corrupt and np.array_equal(got["c12"], arrays["c12"])
    _flip_payload_byte(store.path_for("sha256:aa11"))
    assert load_file(str(store.path_for("sha256:aa11")))["c12"].shape == (8,), "the flipped file still loads"
    assert store.lookup("sha256:aa11") == (None, True)
    assert not store.path_for("sha256:aa11").exists(), "a corrupt entry is removed"
    assert store.lookup("sha256:aa11") == (None, False), "then it is a plain miss"
    # an intact entry copied under another video's key is not served for that video
    store.put("sha256:aa11", arrays)
    store.path_for("sha256:bb22").parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(store.path_for("sha256:aa11"), store.path_for("sha256:bb22"))
    assert store.lookup("sha256:bb22") == (None, True)
    # an entry without a checksum (written by hand or before checksums existed) is not trusted
    save_file(arrays, str(store.path_for("sha256:cc33").parent.mkdir(parents=True, exist_ok=True)
                         or store.path_for("sha256:cc33")))
    assert store.lookup("sha256:cc33") == (None, True)


def test_corrupt_cache_payload_is_recomputed_and_reported(tiny_suite, tmp_path):
    cold, _ = evaluate("pixel-linear", tiny_suite, tmp_path / "cold", **DEBUG)
    assert cold.task["n_cache_corrupt"] == 0
    store_dir = FeatureCache().base
    entries = sorted(store_dir.rglob("*.safetensors"))
    assert entries
    _flip_payload_byte(entries[0])
    warm, out = evaluate("pixel-linear", tiny_suite, tmp_path / "warm", **DEBUG)
    assert warm.task["n_cache_corrupt"] == 1
    assert warm.task["n_computed"] == 1 and warm.task["n_from_cache"] == warm.task["n_scored"] - 1
    assert _values(warm) == _values(cold), "the corrupted value was recomputed, not served"
    # the CLI says so
    _flip_payload_byte(entries[0])
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-linear", "--data-root", str(tiny_suite), "--split", "Debug",
                                    "--window", "16", "--n-boot", "100", "--workers", "0", "-q",
                                    "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert "1 cache entry failed verification" in res.output
    assert json.loads((tmp_path / "cli" / "results.json").read_text())["task"]["n_cache_corrupt"] == 1
