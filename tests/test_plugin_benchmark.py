"""An out-of-tree benchmark package (tests/plugin_benchmark: one spec + one task class + a pyproject line) is
pip-installed and evaluated by name through the `pjbench.tasks` entry-point group, report included."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PLUGIN = Path(__file__).parent / "plugin_benchmark"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    src = tmp_path_factory.mktemp("src") / "plugin"
    shutil.copytree(PLUGIN, src)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(src)], check=True, capture_output=True, text=True)
    return site


def _clip(moving_jump: bool, seed: int) -> np.ndarray:
    """48 frames of a bright square moving right; the implausible clip teleports it halfway."""
    rng = np.random.default_rng(seed)
    frames = np.full((48, 32, 32, 3), 20, dtype=np.uint8)
    x0 = int(rng.integers(0, 6))
    for t in range(48):
        x = x0 + t // 4 + (12 if moving_jump and t >= 24 else 0)
        frames[t, 12:20, x % 24:x % 24 + 8] = 230
    return frames


@pytest.fixture(scope="module")
def twoalt_release(tmp_path_factory):
    from pjbench.benchmarks.video import write_video

    root = tmp_path_factory.mktemp("twoalt")
    for split, n in (("dev", 4), ("test", 6)):
        rows = []
        for i in range(n):
            for key, jump in (("plausible", False), ("implausible", True)):
                write_video(root / split / "clips" / f"{i}-{key}.mp4", _clip(jump, seed=i), fps=12)
            rows.append({"pair": f"p{i}", "plausible": f"{i}-plausible.mp4", "implausible": f"{i}-implausible.mp4",
                         "kind": "jump" if i % 2 else "slide"})
        with open(root / split / "pairs.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["pair", "plausible", "implausible", "kind"])
            w.writeheader()
            w.writerows(rows)
    return root


def _pjbench(args, site):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "pjbench.benchmarks.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def test_installed_benchmark_is_listed_evaluated_and_reported_by_name(plugin_site, twoalt_release, tmp_path):
    res = _pjbench(["list", "--what", "tasks"], plugin_site)
    assert res.returncode == 0, res.stderr
    assert "twoalt" in res.stdout and "source: pjbench-twoalt-example" in res.stdout
    res = _pjbench(["eval", "--help"], plugin_site)
    assert "twoalt" in res.stdout, "the --split help lists the plugin's splits from its spec"
    out = tmp_path / "run"
    res = _pjbench(["eval", "-m", "pixel-linear", "--task", "twoalt", "--data-root", str(twoalt_release), "--out",
                    str(out), "--window", "16", "--n-boot", "200", "--workers", "0", "-q"], plugin_site)
    assert res.returncode == 0, res.stderr
    assert "pixel-linear on twoalt/test: pairwise accuracy (avg)" in res.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["task"]["name"] == "twoalt" and results["task"]["dev_split"] == "dev"
    assert results["task"]["n_scored"] == 12 and results["protocol"]["context_selection"]["rule"] == "dev"
    head = next(m for m in results["metrics"] if m["name"] == "pairwise_accuracy" and m["aggregation"] == "avg"
                and m["subset"] == "all")
    assert head["n"] == 6 and head["value"] > 0.5  # a jump is surprising to a linear extrapolator
    assert {m["subset"] for m in results["metrics"]} == {"all", "kind=jump", "kind=slide"}
    report = tmp_path / "report.html"
    res = _pjbench(["report", str(out), "--out", str(report), "--n-boot", "200"], plugin_site)
    assert res.returncode == 0, res.stderr
    html = report.read_text()
    assert "Two-alternative surprise" in html and "pixel-linear" in html


def test_a_plugin_entry_point_that_is_not_a_spec_is_a_clear_error(tmp_path):
    from importlib import metadata
    from unittest import mock

    from pjbench.benchmarks.errors import PjbenchError
    from pjbench.benchmarks.tasks import TaskRegistry

    ep = metadata.EntryPoint(name="bogus", value="json:dumps", group="pjbench.tasks")
    reg = TaskRegistry()
    with mock.patch("pjbench.benchmarks.tasks.metadata.entry_points", return_value=[ep]):
        with pytest.raises(PjbenchError, match="task plugin bogus .*must name a TaskSpec"):
            reg.names()


def test_readme_shows_the_benchmark_plugin_verbatim():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    body = (PLUGIN / "pjbench_twoalt_example" / "spec.py").read_text().split('"""', 2)[2].strip()
    assert body in readme, "README's 'Add your benchmark' must show tests/plugin_benchmark/.../spec.py"
    assert 'twoalt = "pjbench_twoalt_example.spec:SPEC"' in readme
