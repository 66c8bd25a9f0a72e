"""An out-of-tree model package (tests/plugin_example) is pip-installed and evaluated by name: no fork."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    src = tmp_path_factory.mktemp("src") / "plugin"
    shutil.copytree(PLUGIN, src)  # building writes build/ and *.egg-info next to the sources: not in the checkout
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(src)], check=True, capture_output=True, text=True)
    assert list(site.glob("pjbench_lab_example-*.dist-info"))
    return site


def _pjbench(args, site, **kw):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "pjbench.benchmarks.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600, **kw)


def test_installed_plugin_is_listed_and_evaluated_by_name(plugin_site, tiny_suite, tmp_path):
    res = _pjbench(["list", "--what", "models"], plugin_site)
    assert res.returncode == 0, res.stderr
    line = next(i for i, text in enumerate(res.stdout.splitlines()) if "lab-mean-context" in text)
    assert "mean of the context frames" in res.stdout.splitlines()[line]
    assert "source: pjbench-lab-example" in res.stdout.splitlines()[line + 1]
    out = tmp_path / "run"
    res = _pjbench(["eval", "-m", "lab-mean-context", "--data-root", str(tiny_suite), "--out", str(out), "--window", "16",
                    "--n-boot", "200", "--workers", "0", "-q"], plugin_site)
    assert res.returncode == 0, res.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["model"]["name"] == "lab-mean-context"
    assert results["task"]["n_scored"] == results["task"]["n_items"] > 0
    assert results["model"]["identity"]["key"]


def test_readme_shows_the_plugin_example_verbatim():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in ("pjbench_lab_example/model.py", "pyproject.toml"):
        body = (PLUGIN / name).read_text().strip()
        if name == "pyproject.toml":
            body = body.split('[project.entry-points."pjbench.encoders"]', 1)[1].split("\n\n")[0]
        assert body in readme, f"README's 'Add your model' must show tests/plugin_example/{name}"


def test_plugin_protocol_for_validate_and_its_free_model_args(plugin_site, tiny_suite, tmp_path):
    # its pjbench_info declares no frame sampling: validate reads it from the built model (6 fps)
    res = _pjbench(["validate", "--data-root", str(tiny_suite), "--model", "lab-mean-context", "--window", "16"],
                   plugin_site)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "model protocol: lab-mean-context: 16-frame windows at 6 fps, 32 px square" in res.stdout
    # a factory taking **kwargs reads its own options: any --model-arg key is accepted
    res = _pjbench(["eval", "-m", "lab-mean-context", "--model-arg", "smoothing=2", "--data-root", str(tiny_suite),
                    "--out", str(tmp_path / "run"), "--dry-run", "--window", "16", "-q"], plugin_site)
    assert res.returncode == 0 and "dry run: lab-mean-context" in res.stdout, res.stderr
