"""Read-only --out and a full disk: one `Error:` line naming the file, and the run's state stays intact."""

import errno
import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cache import CacheStore
from pjbench.benchmarks.cli import main

ARGS = ["--split", "Debug", "--window", "16", "--n-boot", "100", "--workers", "0", "-q"]


def _read_only(path):
    """Make ``path`` unwritable even for root (immutable flag), else by mode."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o555)
    return lambda: path.chmod(0o755)


def test_read_only_out_is_one_error_line(tiny_suite, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    undo = _read_only(out)
    try:
        res = CliRunner().invoke(main, ["eval", "-m", "pixel-linear", "--data-root", str(tiny_suite), *ARGS,
                                        "--out", str(out)])
        assert res.exit_code == 1, res.output
        assert res.output.startswith("Error: --out ") and "choose a writable --out" in res.output
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
        # report and synth into a read-only folder: the same kind of line, no traceback
        res = CliRunner().invoke(main, ["synth", "--out", str(out / "suite"), "--scale", "0.1"])
        assert res.exit_code == 1 and res.output.startswith("Error: ") and "Traceback" not in res.output, res.output
        assert "cannot write" in res.output or "cannot create" in res.output
    finally:
        undo()


def test_disk_full_during_a_run_is_an_error_and_the_run_resumes(tiny_suite, tmp_path, monkeypatch):
    args = ["eval", "-m", "pixel-linear", "--data-root", str(tiny_suite), *ARGS]
    fresh = CliRunner().invoke(main, [*args, "--no-cache", "--out", str(tmp_path / "fresh")])
    assert fresh.exit_code == 0, fresh.output
    real_put = CacheStore.put
    calls = {"n": 0}

    def full(self, fingerprint, arrays, meta=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path_for(fingerprint)))
        return real_put(self, fingerprint, arrays, meta)

    monkeypatch.setattr(CacheStore, "put", full)
    out = tmp_path / "run"
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert res.output.startswith("Error: ") and "no space left on the device" in res.output
    assert "run the same command again" in res.output and "Traceback" not in res.output
    assert not (out / "results.json").exists()
    partial = (out / ".partial" / "Debug.jsonl").read_text().splitlines()
    assert len(partial) == 2 and all(json.loads(line) for line in partial), "finished items kept, nothing torn"
    monkeypatch.setattr(CacheStore, "put", real_put)
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["metrics"] == json.loads((tmp_path / "fresh" / "results.json").read_text())["metrics"]
    assert resumed["task"]["n_from_previous_run"] == 2


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_unwritable_feature_cache_names_the_way_out(tiny_suite, tmp_path, monkeypatch, code):
    def refuse(self, fingerprint, arrays, meta=None):
        raise OSError(code, os.strerror(code), str(self.path_for(fingerprint)))

    monkeypatch.setattr(CacheStore, "put", refuse)
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-linear", "--data-root", str(tiny_suite), *ARGS,
                                    "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "PJBENCH_CACHE" in res.output and "--no-cache" in res.output, res.output
    assert "Traceback" not in res.output
