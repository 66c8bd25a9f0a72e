"""End-to-end runs on the tiny synthetic suite: results files, recomputation, resume, skips, HeldOut."""

import json
import shutil

import numpy as np
import pytest

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import load_items, load_results, read_jsonl
from pjbench.benchmarks.runner import evaluate
from pjbench.intphys2.metrics import auroc, pairwise_accuracy

FAST = dict(window=16, n_boot=200, progress=False, workers=0)


@pytest.fixture(scope="module")
def copy_last_run(tiny_suite, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "copy-last"
    # its own empty feature cache: a module fixture runs before the per-test cache fixture, and the session
    # cache may hold these videos from another module's runs (then every item's origin would be "cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PJBENCH_CACHE", str(tmp_path_factory.mktemp("copy-last-cache")))
        results, path = evaluate("pixel-copy-last", tiny_suite, out, **FAST)
    return results, out


def test_results_schema_and_provenance(copy_last_run):
    results, out = copy_last_run
    loaded = load_results(out)
    assert loaded.task["name"] == "intphys2" and loaded.task["split"] == "Main"
    assert loaded.task["n_items"] == loaded.task["n_scored"] > 0
    assert loaded.task["data_fingerprint"].startswith("sha256:")
    prov = loaded.provenance
    for key in ("pjbench_version", "git_hash", "seed", "started_at", "finished_at", "wall_time_s", "libraries"):
        assert key in prov
    assert prov["libraries"]["torch"]
    assert loaded.model["name"] == "pixel-copy-last" and loaded.model["preprocessing"]["resolution"] == 32
    sel = loaded.protocol["context_selection"]
    assert sel["rule"] == "dev" and sel["dev_split"] == "Debug" and sel["selected"] in loaded.protocol["contexts"]
    assert loaded.protocol["threshold"]["source"] == "Debug"
    for m in loaded.metrics:
        assert m.n > 0 and m.chance is not None
        if m.value is not None and m.subset == "all":
            assert m.ci_low <= m.value <= m.ci_high


def test_metrics_recompute_from_items(copy_last_run):
    results, out = copy_last_run
    items = load_items(out)
    labelled = [r for r in items if r.label is not None]
    c = results.protocol["context_selection"]["selected"]
    for agg in ("avg", "max"):
        # the scores are the aggregation of the per-window surprise at the reported context
        fn = np.mean if agg == "avg" else np.max
        for r in labelled:
            assert r.scores[agg] == pytest.approx(fn(r.surprise[str(c)]))
        s = np.array([r.scores[agg] for r in labelled])
        y = np.array([r.label for r in labelled])
        pa = pairwise_accuracy(s, y, [r.pair_id for r in labelled])
        assert results.metric("pairwise_accuracy", agg).value == pytest.approx(pa)
        assert results.metric("auroc", agg).value == pytest.approx(auroc(s, y))


def test_rerun_resumes_and_changed_config_is_refused(copy_last_run, tiny_suite, tmp_path):
    _, out = copy_last_run
    run = tmp_path / "again"
    shutil.copytree(out, run)
    results, _ = evaluate("pixel-copy-last", tiny_suite, run, **FAST)
    assert results.task["n_from_previous_run"] == results.task["n_scored"]
    assert all(r.from_cache for r in load_items(run))
    # simulate an interruption: drop half the finished items (and tear the last line)
    partial = run / ".partial" / "Main.jsonl"
    lines = partial.read_text().splitlines()
    partial.write_text("\n".join(lines[: len(lines) // 2]) + "\n" + lines[len(lines) // 2][:10])
    results2, _ = evaluate("pixel-copy-last", tiny_suite, run, **FAST)
    assert results2.task["n_from_previous_run"] == len(lines) // 2
    assert [m.value for m in results2.metrics] == [m.value for m in results.metrics]
    with pytest.raises(PjbenchError, match="different configuration"):
        evaluate("pixel-copy-last", tiny_suite, run, **{**FAST, "window": 12})
    with pytest.raises(PjbenchError, match="--overwrite never"):
        evaluate("pixel-copy-last", tiny_suite, run, overwrite="never", **FAST)
    results3, _ = evaluate("pixel-copy-last", tiny_suite, run, overwrite="always", **{**FAST, "window": 12})
    assert results3.task["n_from_previous_run"] == 0
    assert results3.task["n_computed"] == results3.task["n_scored"]  # "always" recomputes, cache included


def test_fixed_context_is_recorded(tiny_suite, tmp_path):
    results, _ = evaluate("pixel-linear", tiny_suite, tmp_path / "r", context=6, **FAST)
    assert results.protocol["context_selection"] == {"rule": "fixed", "selected": 6, "why": "--context given"}


def test_corrupt_video_is_a_recorded_skip(tiny_suite, tmp_path):
    data = tmp_path / "IntPhys2"
    shutil.copytree(tiny_suite, data)
    victim = sorted((data / "Main" / "Videos").glob("*.mp4"))[0]
    victim.write_bytes(victim.read_bytes()[:200])
    results, out = evaluate("pixel-copy-last", data, tmp_path / "r", **FAST)
    assert results.task["n_scored"] == results.task["n_items"] - 1
    (skip,) = results.task["skipped"]
    assert skip["name"] == victim.stem and victim.name in skip["reason"]
    assert victim.stem not in {r.name for r in load_items(out)}


def test_heldout_writes_a_valid_submission(tiny_suite, tmp_path):
    out = tmp_path / "h"
    results, _ = evaluate("pixel-copy-last", tiny_suite, out, split="HeldOut", **FAST)
    assert results.protocol["context_selection"]["dev_split"] == "Main"
    rows = list(read_jsonl(out / results.files["submission"]))
    assert len(rows) == results.task["n_scored"] > 0
    assert {r["data_name"] for r in rows} == {"intphys2"} and {r["task"] for r in rows} == {"HeldOut"}
    assert {r["model_answer"] for r in rows} <= {0, 1}
    names = {p.stem for p in (tiny_suite / "HeldOut" / "Videos").glob("*.mp4")}
    assert {r["row_id"] for r in rows} == names


def test_limited_heldout_run_writes_a_partial_file_not_a_submission(tiny_suite, tmp_path):
    out = tmp_path / "h"
    results, _ = evaluate("pixel-copy-last", tiny_suite, out, split="heldout", limit=3, **FAST)
    assert results.task["split"] == "HeldOut"  # split names are case-insensitive
    assert results.task["n_selected"] == 3 < results.task["n_items"]
    assert "submission" not in results.files and results.files["submission_partial"] == "submission.partial.jsonl"
    assert not (out / "submission.jsonl").exists()
    assert len(list(read_jsonl(out / "submission.partial.jsonl"))) == 3


def test_heldout_without_labelled_split_is_refused_before_scoring(tiny_suite, tmp_path):
    data = tmp_path / "IntPhys2"
    shutil.copytree(tiny_suite / "HeldOut", data / "HeldOut")
    with pytest.raises(PjbenchError, match="no labels"):
        evaluate("pixel-copy-last", data, tmp_path / "h", split="HeldOut", **FAST)


def test_vjepa2_from_a_local_checkpoint_end_to_end(tiny_suite, tiny_vjepa2_dir, tmp_path):
    out = tmp_path / "v"
    results, _ = evaluate("vjepa2", tiny_suite, out, checkpoint=str(tiny_vjepa2_dir), limit=4, **FAST)
    assert results.model["checkpoint_hash"].startswith("sha256:")
    assert results.task["n_scored"] == 8  # 4 complete pairs
    items = load_items(out)
    assert all(len(r.surprise) == len(results.protocol["contexts"]) for r in items)
    assert json.loads((out / "results.json").read_text())["schema_version"] == "pjbench.results/1"


def test_non_finite_surprise_is_a_recorded_skip_naming_the_video(tiny_suite, tmp_path, monkeypatch):
    import pjbench.benchmarks.surprise_scoring as runner

    real = runner.video_surprise
    calls = {"n": 0}

    def poisoned(model, clip, cfg, batch_size=None):  # the second video's windows come out NaN / inf
        out = real(model, clip, cfg, batch_size=batch_size)
        calls["n"] += 1
        if calls["n"] == 2:
            out = {c: np.where(np.arange(len(v)) == 0, np.nan, np.inf) for c, v in out.items()}
        return out

    monkeypatch.setattr(runner, "video_surprise", poisoned)
    results, out = evaluate("pixel-copy-last", tiny_suite, tmp_path / "r", cache_dir=tmp_path / "c",
                            **{**FAST, "split": "Debug"})
    (skip,) = results.task["skipped"]
    assert "non-finite surprise (NaN/inf)" in skip["reason"] and skip["path"] in skip["reason"]
    assert results.task["n_scored"] == results.task["n_items"] - 1
    assert skip["name"] not in {r.name for r in load_items(out)}
    monkeypatch.setattr(runner, "video_surprise", real)  # not cached: the next run computes it
    again, _ = evaluate("pixel-copy-last", tiny_suite, tmp_path / "r2", cache_dir=tmp_path / "c",
                        **{**FAST, "split": "Debug"})
    assert not again.task["skipped"] and again.task["n_computed"] == 1


def _retype(csv_path, edits):
    """Set the ``type`` of the rows named in ``edits`` ({row number from 1: new type})."""
    import csv

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    for i, t in edits.items():
        rows[i - 1]["type"] = t
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return rows


def test_invalid_pairs_are_recorded_skips_and_the_headline_says_so(tiny_suite, tmp_path):
    import csv

    from click.testing import CliRunner

    from pjbench.benchmarks.cli import main

    data = tmp_path / "IntPhys2"
    shutil.copytree(tiny_suite, data)
    csv_path = data / "Main" / "metadata.csv"
    rows = list(csv.DictReader(open(csv_path, newline="")))
    by_pair = {}
    for i, r in enumerate(rows, start=1):
        by_pair.setdefault((r["SceneIndex"], r["type"].split("_")[0]), []).append((i, r))
    (a, b), (c, d), (e, f) = [v for v in by_pair.values() if len(v) == 2][:3]
    # a pair holding two possibles; a 3_Possible row (its old partner is left alone too); an undecodable video
    flip = a if a[1]["type"].endswith("_Impossible") else b
    lone = c if c[1]["type"].endswith("_Possible") else d
    _retype(csv_path, {flip[0]: flip[1]["type"].replace("Impossible", "Possible"), lone[0]: "3_Possible"})
    victim = data / "Main" / e[1]["file_name"]
    victim.write_bytes(victim.read_bytes()[:200])
    results, out = evaluate("pixel-copy-last", data, tmp_path / "r", cache_dir=tmp_path / "c", **FAST)
    reasons = {s["name"]: s["reason"] for s in results.task["skipped"]}
    left = {s["name"]: s["reason"] for s in results.task["left_out"]}
    assert set(reasons) == {a[1]["name"], b[1]["name"], c[1]["name"], d[1]["name"], e[1]["name"]}, reasons
    assert "2 possible, 0 impossible" in reasons[flip[1]["name"]] and "invalid pair" in reasons[flip[1]["name"]]
    assert "1 possible, 0 impossible" in reasons[lone[1]["name"]]
    assert "0 possible, 1 impossible" in reasons[(d if lone is c else c)[1]["name"]]
    assert set(left) == {f[1]["name"]} and "partner was not scored" in left[f[1]["name"]]
    n = len(rows)
    assert results.task["n_scored"] == n - 5 and results.task["n_in_metrics"] == n - 6
    assert results.metric("pairwise_accuracy", "avg").n == (n - 6) // 2
    assert [s["name"] for s in results.task["skipped"]] == [r["name"] for r in rows if r["name"] in reasons], \
        "skips listed in file order"
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-copy-last", "--data-root", str(data), "--window", "16",
                                    "--n-boot", "100", "--workers", "0", "-q", "--cache-dir", str(tmp_path / "c"),
                                    "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert (f"coverage: {n - 6} of {n} videos in the metrics, 6 left out (5 skipped, 1 scored but out of the "
            "metrics (incomplete pair))") in res.output
