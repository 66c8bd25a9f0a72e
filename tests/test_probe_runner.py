"""Probe track end to end on a tiny fake QA task whose answer is in the video (red vs blue): features and
their cache, grouped CV, the video-blind control, skips, re-runs, and the unlabelled-split submission."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pjbench.benchmarks.bootstrap import cluster_bootstrap_ci
from pjbench.benchmarks.cache import FeatureCache
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.probe_runner import evaluate_probe, paired_difference, usable_items
from pjbench.benchmarks.results import ItemRecord, MetricValue, load_items, load_results, read_jsonl, write_jsonl
from pjbench.benchmarks.tasks import TASKS, QAItem, ValidationReport
from pjbench.benchmarks.video import write_video
from pjbench.encoders.base import Preprocessing
from pjbench.encoders.registry import MODELS
from pjbench.probes.features import (
    clip_for_features,
    extract_features,
    feature_bytes,
    feature_protocol,
    pool_tokens,
    sample_indices,
)
from pjbench.probes.text import LearnedTextEncoder

TASK = "fake-colour-qa"
COLORS = {"red": (200, 30, 30), "blue": (30, 30, 200)}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Tiny ops on a loaded 2-core machine: 2 intra-op threads are 10-40x slower than 1 (spin-waiting).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class FakeColourQA:
    """Minimal QATask: ``<root>/<split>/items.json`` + videos; pair accuracy metrics (complete pairs)."""

    name = TASK
    description = "test task: what colour is the ball?"
    readout = "probe"
    splits = ("dev", "test")
    default_split = "dev"
    dev_split = None
    n_choices = 2
    cv_stratum = "source"

    def load(self, data_root, split, limit=None):
        d = Path(data_root) / split
        rows = json.loads((d / "items.json").read_text())
        items = [QAItem(name=r["name"], path=d / r["video"], split=split, label=r["label"], pair_id=r["pair"],
                        cluster=r["pair"], strata={"source": r["source"]}, question=r["question"],
                        candidates=tuple(r["candidates"]), answer_keys=tuple(r["candidates"]), source=r["source"])
                 for r in rows]
        return items[:limit] if limit else items

    def validate(self, data_root, check_videos=True):
        return ValidationReport(self.name, str(data_root))

    def metrics(self, records, *, n_boot, seed, threshold=None):
        pairs = pair_accuracy_by_hand(records)
        keys = sorted(pairs)
        vals = np.array([pairs[k] for k in keys], dtype=float)
        lo, hi = cluster_bootstrap_ci(lambda idx: vals[idx].mean(), keys, n_boot=n_boot, seed=seed)
        return [MetricValue("pair_accuracy", float(vals.mean()) if len(vals) else None, lo, hi, n=len(keys),
                            n_clusters=len(keys), chance=0.25)]

    def has_split(self, data_root, split):
        return (Path(data_root) / split / "items.json").is_file()

    def dev_splits_for(self, split):
        return tuple(s for s in ("dev",) if s != split)

    def parse_answer(self, answer, item):
        return item.candidates.index(answer) if answer in item.candidates else None

    def conventions(self, parser=None):
        return {"pairing": "both items right", "parser": parser or "none (probe)"}

    def write_submission(self, path, records, items):
        by_name = {it.name: it for it in items}
        write_jsonl(path, [{"row_id": r.name, "model_answer": by_name[r.name].answer_keys[r.prediction]} for r in records])
        return Path(path)


def pair_accuracy_by_hand(records):
    """{pair: 1.0 if both items right} over pairs whose two items are both labelled."""
    by = {}
    for r in records:
        if r.label is not None:
            by.setdefault(r.pair_id, []).append(r.prediction == r.label)
    return {k: float(all(v)) for k, v in by.items() if len(v) == 2}


@pytest.fixture(scope="module", autouse=True)
def fake_task():
    TASKS.register(TASK, FakeColourQA, "test", readout="probe", overwrite=True)
    yield
    TASKS._entries.pop(TASK, None)


def write_fake_qa(root: Path, split: str, n_pairs: int, seed: int, labelled: bool = True,
                  informative: bool = True) -> Path:
    """Pairs of 8-frame 32 px noisy screens, one red and one blue; same question and candidate order within
    a pair (random across pairs), opposite answers. ``informative=False``: both videos are red (the
    labels still differ), so nothing in the video tells the answers apart."""
    rng = np.random.default_rng(seed)
    d = root / split
    rows = []
    for p in range(n_pairs):
        cands = ["red", "blue"] if rng.random() < 0.5 else ["blue", "red"]
        source = "ssv2" if p % 3 else "clevrer"
        for j, colour in enumerate(("red", "blue")):
            shown = colour if informative else "red"
            frames = np.clip(np.array(COLORS[shown])[None, None, None] + rng.normal(0, 25, (8, 32, 32, 3)), 0, 255)
            video = f"{split}_{p}_{j}.mp4"
            write_video(d / video, frames.astype(np.uint8), fps=8)
            rows.append({"name": f"{split}_{p}_{j}", "video": video, "pair": f"{split}_{p}", "source": source,
                         "question": "what colour is the screen?", "candidates": cands,
                         "label": cands.index(colour) if labelled else None})
    (d / "items.json").write_text(json.dumps(rows))
    return root


FAST = dict(text_encoder=LearnedTextEncoder(dim=16, n_buckets=1 << 10), n_frames=4, pooled_grid=(2, 2, 2), folds=4, n_boot=200, workers=0, progress=False,
            grid={"lr": [1e-2], "weight_decay": [0.01], "epochs": [4, 10]},
            probe_config={"width": 32, "n_queries": 2, "n_heads": 4, "batch_size": 8})


@pytest.fixture(scope="module")
def qa_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fakeqa")
    write_fake_qa(root, "dev", n_pairs=16, seed=0)
    write_fake_qa(root, "test", n_pairs=3, seed=1, labelled=False)
    return root


@pytest.fixture(scope="module")
def probe_run(_one_thread, qa_root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("runs") / "probe"
    results, path = evaluate_probe("pixel-patches", TASK, qa_root, out, cache_dir=cache, **FAST)
    return results, out, cache


# -- features ---------------------------------------------------------------------------------------------
def test_sample_indices():
    idx, pad = sample_indices(100, 4)
    assert idx.tolist() == [12, 37, 62, 87] and pad == 0
    idx, pad = sample_indices(16, 16)
    assert idx.tolist() == list(range(16)) and pad == 0
    idx, pad = sample_indices(3, 6)
    assert idx.tolist() == [0, 1, 2, 2, 2, 2] and pad == 3


def test_pool_tokens_against_manual_means():
    t, h, w, d = 4, 6, 6, 3
    grid_tokens = torch.arange(t * h * w * d, dtype=torch.float32).reshape(t, h, w, d)
    pooled, out_grid = pool_tokens(grid_tokens.reshape(-1, d), (t, h, w), (2, 3, 8))
    assert out_grid == (2, 3, 6) and pooled.shape == (2 * 3 * 6, d)  # w is never upsampled
    # cell (1, 2, 5): frames 2-3, rows 4-5, column 5
    manual = grid_tokens[2:4, 4:6, 5].reshape(-1, d).mean(0)
    assert torch.allclose(pooled.reshape(2, 3, 6, d)[1, 2, 5], manual)
    with pytest.raises(PjbenchError, match="expected a 4x6x6 grid"):
        pool_tokens(torch.zeros(10, d), (t, h, w), (2, 2, 2))
    assert feature_bytes((8, 4, 4), 1024) == 128 * 1024 * 2


def test_clip_for_features_pads_short_videos(tmp_path):
    pp = Preprocessing(resolution=32, frames=8, frame_step=1, tubelet=2, patch=4, mean=(0, 0, 0), std=(1, 1, 1))
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    frames[:, :, :, 0] = np.array([10, 20, 30])[:, None, None]
    clip, info = clip_for_features(frames, pp, 6)
    assert clip.shape == (6, 3, 32, 32) and info == {"n_source_frames": 3, "n_padded": 3}
    assert torch.allclose(clip[3:, 0, 0, 0], torch.full((3,), 30 / 255))
    write_video(tmp_path / "v.mp4", np.repeat(frames, 20, axis=0), fps=10)  # 60 frames
    clip, info = clip_for_features(tmp_path / "v.mp4", pp, 6)
    assert clip.shape == (6, 3, 32, 32) and info["n_padded"] == 0 and info["n_source_frames"] == 60
    # segment centres of 60 frames: 5, 15, 25, 35, 45, 55 -> source frames 0,0,1,1,2,2 -> red 10,10,20,20,30,30
    assert np.allclose(clip[:, 0, 16, 16].numpy() * 255, [10, 10, 20, 20, 30, 30], atol=3)
    with pytest.raises(PjbenchError, match="multiple of the encoder's tubelet"):
        clip_for_features(frames, pp, 5)


def test_extract_features_dedupes_caches_and_records_failures(qa_root, tmp_path):
    enc = MODELS.build("pixel-patches")
    items = FakeColourQA().load(qa_root, "dev")[:4]
    shared = QAItem(name="shared", path=items[0].path, split="dev", label=0, pair_id="x", question="q",
                    candidates=("a", "b"))
    missing = QAItem(name="gone", path=tmp_path / "nope.mp4", split="dev", label=0, pair_id="y",
                     question="q", candidates=("a", "b"))
    store = FeatureCache(tmp_path / "cache").store({"name": "pixel", "key": "k"}, "features", feature_protocol(4, (2, 2, 2)))
    index = extract_features(enc, [*items, shared, missing], store, n_frames=4, pooled_grid=(2, 2, 2), progress=False)
    st = index.stats
    assert (st.n_items, st.n_videos, st.n_computed, st.n_hit, st.n_failed) == (6, 5, 4, 0, 1)
    assert st.failed[0]["name"] == "gone" and "not found" in st.failed[0]["reason"]
    assert st.pooled_grid == (2, 2, 2) and st.dim == 48 and st.bytes_per_video == 8 * 48 * 2
    toks = index.tokens([items[0].path, items[1].path])
    assert toks.shape == (2, 8, 48) and toks.dtype == torch.float32
    assert index.array(items[0].path).dtype == np.float16
    # the red video's pooled tokens: red channel high, blue low (patch layout c*p*p: red first 16 values)
    assert toks[0, :, :16].mean() > 0.6 and toks[0, :, 32:].mean() < 0.3
    again = extract_features(enc, items, store, n_frames=4, pooled_grid=(2, 2, 2), progress=False)
    assert (again.stats.n_hit, again.stats.n_computed) == (4, 0) and again.from_cache == {str(i.path) for i in items}
    assert torch.equal(again.tokens([items[0].path]), toks[:1])
    small = extract_features(enc, items, store, n_frames=4, pooled_grid=(2, 2, 2), progress=False, max_bytes=2000)
    small.tokens([it.path for it in items] * 2)
    assert small._lru_bytes <= 2000  # the in-memory LRU stays bounded


# -- pure helpers -------------------------------------------------------------------------------------------
def _rec(name, pair, label, pred, cluster=None):
    return ItemRecord(name=name, split="dev", path="", label=label, pair_id=pair, cluster=cluster or pair,
                      prediction=pred, correct=pred == label)


def test_paired_difference_pooled_and_macro():
    probe = [_rec("a0", "a", 0, 0), _rec("a1", "a", 1, 1), _rec("b0", "b", 0, 0), _rec("b1", "b", 1, 0),
             _rec("c0", "c", 0, 0), _rec("c1", "c", 1, 1), _rec("d0", "d", 0, 0), _rec("d1", "d", 1, 1)]
    control = [_rec("a0", "a", 0, 0), _rec("a1", "a", 1, 0), _rec("b0", "b", 0, 0), _rec("b1", "b", 1, 0),
               _rec("c0", "c", 0, 0), _rec("c1", "c", 1, 1), _rec("d0", "d", 0, 1), _rec("d1", "d", 1, 1)]
    # per pair probe - control: a +1, b 0, c 0, d +1
    diff = paired_difference(probe, control, n_boot=500, seed=0, name="x")
    assert diff.value == pytest.approx(0.5) and diff.n == 4 and diff.chance == 0.0 and diff.name == "x"
    assert 0.0 <= diff.ci_low <= diff.value <= diff.ci_high <= 1.0  # paired: no pair is worse here
    for recs in (probe, control):
        for r in recs:
            r.strata = {"config": "big" if r.pair_id in "abc" else "small"}
    macro = paired_difference(probe, control, n_boot=500, seed=0, macro_over="config")
    assert macro.value == pytest.approx((1 / 3 + 1) / 2)  # mean over configs of the mean difference


def test_usable_items_drops_incomplete_pairs():
    def qa(name, pair, label=0, cands=("a", "b")):
        return QAItem(name=name, path=Path(name), split="dev", label=label, pair_id=pair, candidates=cands)

    items = [qa("p0", "p"), qa("p1", "p"), qa("q0", "q"), qa("q1", "q"), qa("r0", "r", cands=("a",)), qa("r1", "r"),
             qa("s0", "s", label=None), qa("s1", "s")]
    status = {it.name: None for it in items}
    status["q1"] = "video file not found"
    kept, skipped = usable_items(items, status, 2, need_labels=True)
    assert [it.name for it in kept] == ["p0", "p1"]
    reasons = {s["name"]: s["reason"] for s in skipped}
    assert reasons["q1"] == "video file not found" and "pair q incomplete: q1" in reasons["q0"]
    assert "1 candidates" in reasons["r0"] and "pair r incomplete" in reasons["r1"]
    assert "no valid label" in reasons["s0"]
    # a pair that --limit cut in half is not a pair
    kept, skipped = usable_items(items[:3], {it.name: None for it in items[:3]}, 2, need_labels=True,
                                 pair_sizes={"p": 2, "q": 2})
    assert [it.name for it in kept] == ["p0", "p1"] and "1 of its 2 items selected" in skipped[0]["reason"]


# -- end to end ---------------------------------------------------------------------------------------------
def test_probe_learns_the_video_and_beats_the_video_blind_control(probe_run):
    results, out, _ = probe_run
    probe = results.metric("pair_accuracy")
    control = results.metric("control_video_blind/pair_accuracy")
    assert probe.n == 16 and probe.value >= 0.8
    # same question and candidate order within a pair: a video-blind probe answers both items alike
    assert control.value == 0.0
    diff = results.metric("probe_minus_video_blind/pair_accuracy_pooled")
    assert diff.ci_low > 0 and results.protocol["probe_beats_video_blind"] is True
    assert results.protocol["controls"]["video_blind"]["probe_beats_video_blind"] is True


def test_results_files_recompute_and_protocol(probe_run):
    results, out, _ = probe_run
    loaded = load_results(out)
    items = load_items(out)
    assert len(items) == loaded.task["n_scored"] == 32 and not loaded.task["skipped"]
    # held-out predictions: every item has a fold, pairs share it, prediction = argmax of its scores
    folds = {}
    for r in items:
        assert r.fold in range(4) and len(r.candidate_scores) == 2
        assert r.prediction == int(np.argmax(r.candidate_scores)) and r.correct == (r.prediction == r.label)
        folds.setdefault(r.pair_id, set()).add(r.fold)
    assert all(len(f) == 1 for f in folds.values())
    by_hand = pair_accuracy_by_hand(items)
    assert loaded.metric("pair_accuracy").value == pytest.approx(np.mean(list(by_hand.values())))
    ctrl = [ItemRecord(**row) for row in read_jsonl(out / loaded.files["control_video_blind_items"])]
    assert loaded.metric("control_video_blind/pair_accuracy").value == pytest.approx(
        np.mean(list(pair_accuracy_by_hand(ctrl).values())))
    proto = loaded.protocol
    assert proto["readout"] == "probe" and proto["cv"]["folds"] == 4 and proto["cv"]["stratum"] == "source"
    assert len(proto["cv"]["per_fold"]) == 4
    for f in proto["cv"]["per_fold"]:
        assert f["chosen"]["epochs"] in (4, 10) and f["chosen"]["lr"] == 1e-2 and len(f["inner_validation"]) == 2
    assert proto["features"]["bytes_per_video"] == 8 * 48 * 2 and proto["features"]["n_computed"] == 32
    assert proto["text_encoder"]["kind"] == "learned-hash"
    assert loaded.provenance["n_from_cache"] == 0 and not any(r.from_cache for r in items)
    # the task's conventions, asked without a parser (the probe picks candidate indices itself)
    assert loaded.conventions == {"pairing": "both items right", "parser": "none (probe)"}


def test_rerun_reads_features_from_cache(probe_run, qa_root):
    results, out, cache = probe_run
    again, _ = evaluate_probe("pixel-patches", TASK, qa_root, out, cache_dir=cache, **FAST)
    assert again.protocol["features"]["n_hit"] == 32 and again.protocol["features"]["n_computed"] == 0
    assert again.provenance["n_from_cache"] == 32 and all(r.from_cache for r in load_items(out))
    assert [m.value for m in again.metrics] == [m.value for m in results.metrics]  # deterministic
    with pytest.raises(PjbenchError, match="different configuration"):
        evaluate_probe("pixel-patches", TASK, qa_root, out, cache_dir=cache, **{**FAST, "folds": 3})


def test_probe_does_not_beat_the_control_when_the_video_is_uninformative(tmp_path):
    write_fake_qa(tmp_path / "qa", "dev", n_pairs=16, seed=0, informative=False)
    results, _ = evaluate_probe("pixel-patches", TASK, tmp_path / "qa", tmp_path / "out", cache_dir=tmp_path / "c",
                                **{**FAST, "grid": {"lr": [1e-2], "weight_decay": [0.01], "epochs": [4]}})
    assert results.metric("pair_accuracy").value <= 0.25
    assert results.protocol["probe_beats_video_blind"] is False


def test_vjepa2_features_through_worker_processes(qa_root, tmp_path):
    enc = MODELS.build("vjepa2-tiny-random")
    items = FakeColourQA().load(qa_root, "dev")[:3]
    store = FeatureCache(tmp_path).store({"name": "tiny", "key": "k"}, "features", feature_protocol(4, (8, 4, 4)))
    index = extract_features(enc, items, store, n_frames=4, pooled_grid=(8, 4, 4), workers=1, batch_size=2,
                             progress=False)
    # 4 frames / tubelet 2 = 2 time steps, 64 px / patch 16 = 4x4: the grid is kept as is (never upsampled)
    assert index.stats.grid == (2, 4, 4) and index.stats.pooled_grid == (2, 4, 4) and index.stats.dim == 64
    assert index.stats.n_computed == 3 and index.tokens([items[2].path]).shape == (1, 32, 64)


def test_missing_video_skips_its_pair(qa_root, tmp_path):
    root = tmp_path / "qa"
    shutil.copytree(qa_root, root)
    (root / "dev" / "dev_3_1.mp4").unlink()
    results, _ = evaluate_probe("pixel-patches", TASK, root, tmp_path / "out", cache_dir=tmp_path / "c",
                                controls=(), **{**FAST, "grid": {"lr": [1e-2], "weight_decay": [0.01], "epochs": [2]}})
    reasons = {s["name"]: s["reason"] for s in results.task["skipped"]}
    assert set(reasons) == {"dev_3_0", "dev_3_1"} and "not found" in reasons["dev_3_1"]
    assert results.task["n_scored"] == 30 and results.metric("pair_accuracy").n == 15
    assert results.protocol["probe_beats_video_blind"] is None and not results.protocol["controls"]


def test_unlabelled_split_trains_on_dev_and_writes_submission(qa_root, tmp_path):
    results, _ = evaluate_probe("pixel-patches", TASK, qa_root, tmp_path / "out", split="test",
                                cache_dir=tmp_path / "c", controls=(), **FAST)
    assert results.task["dev_split"] == "dev" and results.task["n_dev_scored"] == 32
    sub = list(read_jsonl(tmp_path / "out" / results.files["submission"]))
    assert len(sub) == 6 and {s["model_answer"] for s in sub} <= {"red", "blue"}
    items = load_items(tmp_path / "out")
    assert all(r.correct is None and r.fold is None and r.prediction in (0, 1) for r in items)
    # the probe trained on dev answers the unseen test videos by colour
    truth = json.loads((qa_root / "test" / "items.json").read_text())
    colour = {r["name"]: ("red" if r["name"].endswith("_0") else "blue") for r in truth}
    assert sum(s["model_answer"] == colour[s["row_id"]] for s in sub) >= 5
    assert results.protocol["cv"]["per_fold"][0]["trained_on"] == "dev"


def test_probe_runner_refuses_bad_requests(qa_root, tmp_path):
    with pytest.raises(PjbenchError, match="not the probe"):
        evaluate_probe("pixel-patches", "intphys2", qa_root, tmp_path / "o", **FAST)
    with pytest.raises(PjbenchError, match="unknown probe control"):
        evaluate_probe("pixel-patches", TASK, qa_root, tmp_path / "o", controls=("shuffled",), **FAST)


def test_a_model_without_the_features_readout_is_refused(qa_root, tmp_path):
    # `pjbench list` says pixel-copy-last has readouts "surprise" only: the probe task refuses it, naming both sides
    with pytest.raises(PjbenchError, match=r"model pixel-copy-last has readouts surprise; task fake-colour-qa needs "
                                           r"features"):
        evaluate_probe("pixel-copy-last", TASK, qa_root, tmp_path / "o", **FAST)
    assert not (tmp_path / "o").exists()


def test_probe_records_record_non_square_videos(qa_root, tmp_path):
    root = tmp_path / "qa"
    shutil.copytree(qa_root, root)
    frames = np.full((8, 32, 64, 3), COLORS["red"], np.uint8)  # 2:1: the centre crop cuts half the width
    write_video(root / "dev" / "dev_0_0.mp4", frames, fps=8)
    results, out = evaluate_probe("pixel-patches", TASK, root, tmp_path / "out", cache_dir=tmp_path / "c",
                                  controls=(), **{**FAST, "grid": {"lr": [1e-2], "weight_decay": [0.01], "epochs": [2]}})
    conditions = {r.name: r.conditions for r in load_items(tmp_path / "out")}
    assert conditions["dev_0_0"] == ["non_square:crop 50%"] and conditions["dev_0_1"] == []
    assert results.task["conditions"] == {"non_square": 1}


def test_non_finite_features_are_recorded_failures_never_cached(qa_root, tmp_path, monkeypatch):
    enc = MODELS.build("pixel-patches")
    items = FakeColourQA().load(qa_root, "dev")[:3]
    real = enc.encode
    calls = {"n": 0}

    def encode(clips):  # the second video's tokens are NaN (a diverged checkpoint, an fp16 overflow)
        out = real(clips)
        calls["n"] += 1
        if calls["n"] == 2:
            out = out.clone()
            out[0, 0, 0] = float("nan")
        return out

    monkeypatch.setattr(enc, "encode", encode)
    store = FeatureCache(tmp_path / "cache").store({"name": "pixel", "key": "k"}, "features", feature_protocol(4, (2, 2, 2)))
    index = extract_features(enc, items, store, n_frames=4, pooled_grid=(2, 2, 2), progress=False, batch_size=1)
    st = index.stats
    assert (st.n_computed, st.n_failed) == (2, 1)
    assert st.failed[0]["name"] == items[1].name and "non-finite features (1 NaN/inf values)" in st.failed[0]["reason"]
    assert items[1].path not in index and len(list(store.entries())) == 2


def test_non_finite_probe_scores_are_an_error_naming_the_items():
    from pjbench.probes.crossval import cross_val_predict

    items = [QAItem(name=f"v{i}", path=Path(f"v{i}.mp4"), split="dev", label=0, pair_id=str(i), question="q",
                    candidates=("a", "b")) for i in range(4)]

    def fit_eval(tr, val, lr, wd, max_e, epochs, seed):
        return {e: {"accuracy": 0.5, "loss": 1.0} for e in epochs}

    def fit_predict(tr, te, lr, wd, epochs, seed):  # a diverged fit
        s = np.zeros((len(te), 2))
        s[0, 1] = np.nan
        return s

    with pytest.raises(PjbenchError, match=r"non-finite \(NaN/inf\) scores for 2 item\(s\): v0, v1"):
        cross_val_predict(items, [0, 1, 0, 1], fit_eval=fit_eval, fit_predict=fit_predict,
                          grid={"lr": [1e-3], "weight_decay": [0.0], "epochs": [1]}, inner_k=2)
