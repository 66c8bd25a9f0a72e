"""The README's "Every metric can be recomputed from `items.jsonl`" snippet, extracted from README.md at test
time and run verbatim (in a fresh Python process whose working directory holds `runs/vjepa2-main`, the path
the snippet names), prints the headline that results.json records."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pjbench

ROOT = Path(__file__).resolve().parents[1]
RUN_NAME = "runs/vjepa2-main"
SURPRISE = dict(window=16, n_boot=200, workers=0, progress=False)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def recompute_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    found = [b for b in blocks if "load_items" in b and "items" in b and "print(" in b]
    assert len(found) == 1, f"expected one recompute snippet in README.md, found {len(found)}"
    before = text.split(found[0], 1)[0].rstrip().splitlines()
    intro = [line for line in before[-4:] if line.strip()]
    assert any("recomputed" in line for line in intro), intro  # the block under "Every metric can be recomputed"
    return found[0]


def _run_snippet(cwd: Path) -> str:
    code = recompute_snippet()
    assert RUN_NAME in code, "the snippet no longer names runs/vjepa2-main; update RUN_NAME"
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _headline(out: Path) -> float:
    saved = json.loads((out / "results.json").read_text())
    row = [m for m in saved["metrics"] if m["name"] == "pairwise_accuracy" and m["subset"] == "all"
           and m["aggregation"] == "avg"]
    assert len(row) == 1
    return row[0]["value"]


@pytest.mark.parametrize("split", ["Main", "Debug"])
def test_readme_snippet_prints_the_recorded_headline(tiny_suite, tmp_path, split):
    out = tmp_path / RUN_NAME
    pjbench.evaluate("pixel-linear", tiny_suite, out, task="intphys2", split=split, **SURPRISE)
    printed = _run_snippet(tmp_path)
    assert float(printed) == pytest.approx(_headline(out), abs=1e-12)


def test_readme_snippet_with_a_skipped_video_counts_complete_pairs_only(tiny_suite, tmp_path):
    data = tmp_path / "IntPhys2"
    shutil.copytree(tiny_suite, data)
    victim = sorted((data / "Main" / "Videos").glob("*.mp4"))[0]
    victim.write_bytes(victim.read_bytes()[:200])  # truncated download: a recorded skip, partner left out
    out = tmp_path / RUN_NAME
    results, _ = pjbench.evaluate("pixel-linear", data, out, task="intphys2", split="Main", **SURPRISE)
    assert [s["name"] for s in results.task["skipped"]] == [victim.stem]
    assert results.task["left_out"], "the skipped video's partner is scored but outside the metrics"
    printed = _run_snippet(tmp_path)
    assert float(printed) == pytest.approx(_headline(out), abs=1e-12)


def test_the_snippet_is_not_vacuous(tmp_path):
    """An empty items file makes it fail or print None, never the headline."""
    (tmp_path / RUN_NAME).mkdir(parents=True)
    (tmp_path / RUN_NAME / "items.jsonl").write_text("")
    proc = subprocess.run([sys.executable, "-c", recompute_snippet()], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 or proc.stdout.strip() == "None"
