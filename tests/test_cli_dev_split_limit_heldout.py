"""IntPhys 2 through the CLI: `--dev-split` (recorded; the reported split is refused), the dev split scored in
full under `--limit`, and a lossy HeldOut run writing `submission.partial.jsonl` (never a `submission.jsonl`
that misses videos). Counts come from the release's own files (metadata.csv, Videos/), not from pjbench."""

from __future__ import annotations

import csv
import json
import math
import shutil

import pytest
import torch
from click.testing import CliRunner

from pjbench.benchmarks.cli import main

FAST = ["--window", "16", "--n-boot", "200", "--workers", "0", "-q"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _eval(data, out, *args, model="pixel-copy-last"):
    return CliRunner().invoke(main, ["eval", "-m", model, "--data-root", str(data), "--out", str(out), *FAST, *args])


def _ok(data, out, *args):
    res = _eval(data, out, *args)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    return res, results


def _jsonl(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _rows(data, split):
    with open(data / split / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


# -- --dev-split ------------------------------------------------------------------------------------------
def test_dev_split_named_explicitly_is_recorded(tiny_suite, tmp_path):
    # Debug has no default dev split (the context is fixed); naming Main makes the context a dev choice
    _, fixed = _ok(tiny_suite, tmp_path / "fixed", "--split", "Debug")
    assert fixed["protocol"]["context_selection"]["rule"] == "fixed"
    assert fixed["task"]["dev_split"] is None and "dev_items" not in fixed["files"]

    _, chosen = _ok(tiny_suite, tmp_path / "dev", "--split", "Debug", "--dev-split", "Main")
    sel = chosen["protocol"]["context_selection"]
    assert sel["rule"] == "dev" and sel["dev_split"] == "Main"
    assert chosen["task"]["dev_split"] == "Main"
    assert sel["selected"] in [int(c) for c in sel["dev_scores"]]
    # the selected context is the best on the dev split (ties: the first listed)
    best = max(sel["dev_scores"].values())
    assert sel["dev_scores"][str(sel["selected"])] == best
    dev = _jsonl(tmp_path / "dev" / chosen["files"]["dev_items"])
    assert {r["split"] for r in dev} == {"Main"} and len(dev) == len(_rows(tiny_suite, "Main"))
    assert chosen["protocol"]["threshold"]["source"] == "Main"


def test_heldout_with_debug_named_as_dev_split_takes_its_threshold_from_debug(tiny_suite, tmp_path):
    _, res = _ok(tiny_suite, tmp_path / "ho", "--split", "HeldOut", "--dev-split", "Debug")  # default: Main
    assert res["task"]["dev_split"] == "Debug" and res["task"]["n_dev_items"] == len(_rows(tiny_suite, "Debug"))
    assert res["protocol"]["context_selection"]["dev_split"] == "Debug"
    assert res["protocol"]["threshold"]["source"] == "Debug"


@pytest.mark.parametrize("split", ["Main", "Debug", "HeldOut"])
def test_naming_the_reported_split_as_dev_split_is_refused(tiny_suite, tmp_path, split):
    res = _eval(tiny_suite, tmp_path / "r", "--split", split, "--dev-split", split)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"Error: --dev-split {split} is the reported split" in res.output
    assert not (tmp_path / "r" / "results.json").exists()


def test_unknown_dev_split_is_refused(tiny_suite, tmp_path):
    res = _eval(tiny_suite, tmp_path / "r", "--split", "Main", "--dev-split", "Validation")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "Error:" in res.output and "Validation" in res.output


# -- --limit: the dev split is scored in full ----------------------------------------------------------------
def test_limit_applies_to_the_reported_split_only(tiny_suite, tmp_path):
    main_rows, debug_rows = _rows(tiny_suite, "Main"), _rows(tiny_suite, "Debug")
    _, lim = _ok(tiny_suite, tmp_path / "lim", "--split", "Main", "--limit", "2")
    t = lim["task"]
    assert t["limit"] == 2 and t["n_items"] == len(main_rows)
    assert t["dev_split"] == "Debug" and t["n_dev_items"] == len(debug_rows) == t["n_dev_scored"]
    items = _jsonl(tmp_path / "lim" / "items.jsonl")
    dev = _jsonl(tmp_path / "lim" / "dev_items.jsonl")
    assert len({r["pair_id"] for r in items}) == 2 and len(items) == t["n_selected"] == 4  # Main: 1 + 1 per pair
    assert len(dev) == len(debug_rows) and {r["name"] for r in dev} == {r["name"] for r in debug_rows}
    head = next(m for m in lim["metrics"] if m["name"] == "pairwise_accuracy" and m["subset"] == "all"
                and m["aggregation"] == "avg")
    assert head["n"] == 2
    # the dev-side choices are those of the unlimited run (the dev split does not shrink with --limit)
    _, full = _ok(tiny_suite, tmp_path / "full", "--split", "Main")
    assert full["task"]["n_dev_items"] == t["n_dev_items"]
    assert lim["protocol"]["context_selection"] == full["protocol"]["context_selection"]
    assert lim["protocol"]["threshold"]["value"] == full["protocol"]["threshold"]["value"]


# -- a lossy HeldOut run --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def heldout_runs(tiny_suite, tmp_path_factory):
    root = tmp_path_factory.mktemp("heldout")
    data = root / "IntPhys2"
    shutil.copytree(tiny_suite, data)
    videos = sorted((data / "HeldOut" / "Videos").glob("*.mp4"))
    broken = videos[3]
    broken.write_bytes(b"\x00garbage, not an mp4\xff" * 300)  # same name, undecodable bytes
    _, lossy = _ok(data, root / "lossy", "--split", "HeldOut")
    _, whole = _ok(tiny_suite, root / "whole", "--split", "HeldOut")
    return data, videos, broken, (root / "lossy", lossy), (root / "whole", whole)


def test_lossy_heldout_run_writes_only_a_partial_submission(heldout_runs):
    data, videos, broken, (out, results), _ = heldout_runs
    assert not (out / "submission.jsonl").exists()
    assert (out / "submission.partial.jsonl").is_file()
    assert results["files"].get("submission_partial") == "submission.partial.jsonl"
    assert "submission" not in results["files"]
    t = results["task"]
    assert t["limit"] is None and t["n_items"] == len(videos) and t["n_scored"] == len(videos) - 1
    assert [s["name"] for s in t["skipped"]] == [broken.stem]
    reason = t["skipped"][0]["reason"]
    assert broken.name in reason and ("cannot decode" in reason or "no video stream" in reason), reason
    lines = _jsonl(out / "submission.partial.jsonl")
    assert sorted(x["row_id"] for x in lines) == sorted(v.stem for v in videos if v != broken)
    assert all(x["data_name"] == "intphys2" and x["task"] == "HeldOut" and x["model_answer"] in (0, 1) for x in lines)


def test_complete_heldout_run_writes_the_submission(heldout_runs):
    _, videos, _, _, (out, results) = heldout_runs
    assert (out / "submission.jsonl").is_file() and not (out / "submission.partial.jsonl").exists()
    assert results["files"].get("submission") == "submission.jsonl" and not results["task"]["skipped"]
    lines = _jsonl(out / "submission.jsonl")
    assert sorted(x["row_id"] for x in lines) == sorted(v.stem for v in videos)


def test_heldout_answers_follow_the_threshold_chosen_on_main(heldout_runs):
    _, _, _, (out, results), _ = heldout_runs
    assert results["task"]["dev_split"] == "Main" and results["protocol"]["threshold"]["source"] == "Main"
    # the README rule by hand: possible videos' max surprise on Main, sorted, at index ceil(0.9 n) (clamped)
    dev = _jsonl(out / "dev_items.jsonl")
    possible = sorted(r["scores"]["max"] for r in dev if r["label"] == 1)
    threshold = possible[min(math.ceil(0.9 * len(possible)), len(possible) - 1)]
    assert results["protocol"]["threshold"]["value"]["max"] == pytest.approx(threshold)
    score = {r["name"]: r["scores"]["max"] for r in _jsonl(out / "items.jsonl")}
    for x in _jsonl(out / "submission.partial.jsonl"):
        assert x["model_answer"] == (0 if score[x["row_id"]] > threshold else 1)


def test_limited_heldout_run_is_partial_too(tiny_suite, tmp_path):
    res, results = _ok(tiny_suite, tmp_path / "lim", "--split", "HeldOut", "--limit", "3")
    assert not (tmp_path / "lim" / "submission.jsonl").exists()
    assert len(_jsonl(tmp_path / "lim" / "submission.partial.jsonl")) == 3
    assert results["task"]["n_dev_items"] == len(_rows(tiny_suite, "Main"))  # dev split still whole
