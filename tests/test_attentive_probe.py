"""The attentive probe, its video-blind control, and both text sides (hashed words; a frozen tiny BERT)."""

import numpy as np
import pytest
import torch

from pjbench.benchmarks.errors import PjbenchError
from pjbench.probes.attentive import (
    AttentiveProbe,
    ProbeConfig,
    ProbeData,
    TrainParams,
    evaluate_scores,
    predict_scores,
    static_dynamic,
    train_probe,
)
from pjbench.probes.text import FrozenHFTextEncoder, LearnedTextEncoder, build_text_encoder



@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny ops on a loaded 2-core machine: 2 intra-op threads are 10-40x slower than 1 (spin-waiting).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


CFG = ProbeConfig(width=32, n_queries=2, n_heads=4, mlp_ratio=2.0, batch_size=16)


def color_data(n=96, n_tokens=8, dim=12, seed=0, informative=True):
    """Items 'what colour is the ball?' with candidates red/blue in random order; the video features carry
    the colour (+1 or -1 on feature 0, plus noise) unless ``informative`` is False."""
    rng = np.random.default_rng(seed)
    text = LearnedTextEncoder(dim=16, n_buckets=1 << 12)
    colors = rng.integers(0, 2, n)  # 0 = red, 1 = blue
    video = rng.normal(0, 0.5, (n, n_tokens, dim)).astype(np.float32)
    if informative:
        video[:, :, 0] += np.where(colors == 0, 1.0, -1.0)[:, None]
    flip = rng.integers(0, 2, n).astype(bool)
    cands = [("blue", "red") if f else ("red", "blue") for f in flip]
    labels = np.array([c.index(["red", "blue"][col]) for c, col in zip(cands, colors)])
    prepared = text.prepare([("what colour is the ball?", c) for cs in cands for c in cs])
    prepared = prepared.reshape(n, 2, -1)
    vt = torch.from_numpy(video)
    data = ProbeData(video=lambda pos: vt[list(pos)], text=prepared, labels=torch.from_numpy(labels),
                     n_tokens=n_tokens, video_dim=dim)
    return data, text, labels


def make(data, text, blind=False, cfg=CFG):
    return lambda: AttentiveProbe(data.video_dim, data.n_tokens, text.module(), text.out_dim, cfg, video_blind=blind,
                                  grid=data.grid)


def test_shapes_and_video_blind_ignores_video():
    torch.manual_seed(0)
    data, text, _ = color_data(n=6)
    video, txt, _ = data.batch([0, 1, 2], torch.device("cpu"))
    probe = make(data, text)()
    assert probe(video, txt).shape == (3, 2)
    other = torch.randn_like(video) * 5
    assert not torch.allclose(probe(video, txt), probe(other, txt))
    blind = make(data, text, blind=True)()
    assert torch.equal(blind(video, txt), blind(other, txt))


def test_learns_video_dependent_answer_and_blind_control_stays_at_chance():
    data, text, labels = color_data(n=128)
    train, test = np.arange(96), np.arange(96, 128)
    params = TrainParams(lr=3e-3, weight_decay=0.01, epochs=10)
    probe, hist = train_probe(make(data, text), data, train, params, batch_size=16, seed=0,
                              val_idx=test, eval_epochs=[2, 10])
    assert set(hist) == {2, 10}
    acc = evaluate_scores(predict_scores(probe, data, test), labels[test])["accuracy"]
    assert acc >= 0.9
    blind, _ = train_probe(make(data, text, blind=True), data, train, params, batch_size=16, seed=0)
    blind_acc = evaluate_scores(predict_scores(blind, data, test), labels[test])["accuracy"]
    assert blind_acc <= 0.75  # candidate order is random: text alone cannot know the colour


def test_uninformative_video_is_not_learned():
    data, text, labels = color_data(n=128, informative=False)
    probe, _ = train_probe(make(data, text), data, np.arange(96), TrainParams(3e-3, 0.01, 10), batch_size=16)
    acc = evaluate_scores(predict_scores(probe, data, np.arange(96, 128)), labels[96:])["accuracy"]
    assert acc <= 0.75


def test_training_is_deterministic():
    data, text, _ = color_data(n=40)
    p = TrainParams(1e-3, 0.0, 2)
    a = predict_scores(train_probe(make(data, text), data, np.arange(30), p, seed=5)[0], data, np.arange(30, 40))
    b = predict_scores(train_probe(make(data, text), data, np.arange(30), p, seed=5)[0], data, np.arange(30, 40))
    c = predict_scores(train_probe(make(data, text), data, np.arange(30), p, seed=6)[0], data, np.arange(30, 40))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


GRID = (4, 2, 2)
TEMPLATES = (  # (question, candidates, the candidate that a rising ramp on feature 0 makes right)
    ("Is the object moved up or down?", ("Up", "Down"), "Up"),
    ("Does the object fall?", ("Yes", "No"), "No"),
    ("In which direction does the object move?", ("To the left", "To the right"), "To the right"),
)


def minimal_pair_data(n_pairs=48, seed=0, scene_std=3.0, signal=0.4):
    """MVPBench-like minimal pairs on a (4, 2, 2) token grid: both videos of a pair share one scene (a
    static pattern of std ``scene_std``, drawn per pair, 7x the signal) and differ only in the direction of a
    small ramp over time on feature 0 of one cell (played forwards or backwards). Same question and
    candidate order within a pair, opposite answers; which candidate the ramp makes right depends on
    the question, so the score needs candidate x video. Returns (data, text, pair of each item)."""
    rng = np.random.default_rng(seed)
    text = LearnedTextEncoder(dim=16, n_buckets=1 << 12)
    t, h, w = GRID
    d = 8
    ramp = np.linspace(-1.0, 1.0, t) * signal
    videos, pairs_text, labels, pair_of = [], [], [], []
    for p in range(n_pairs):
        question, answers, rising_answer = TEMPLATES[p % len(TEMPLATES)]
        cands = answers if rng.random() < 0.5 else answers[::-1]
        scene = rng.normal(0, scene_std, (1, h * w, d))
        cell = rng.integers(h * w)
        for direction in (+1, -1):
            v = np.repeat(scene, t, axis=0) + rng.normal(0, 0.02, (t, h * w, d))
            v[:, cell, 0] += direction * ramp
            other = [a for a in answers if a != rising_answer][0]
            right = rising_answer if direction > 0 else other
            videos.append(v.reshape(t * h * w, d))
            pairs_text += [(question, c) for c in cands]
            labels.append(cands.index(right))
            pair_of.append(p)
    video = torch.tensor(np.stack(videos), dtype=torch.float32)
    prepared = text.prepare(pairs_text).reshape(len(labels), 2, -1)
    data = ProbeData(video=lambda pos: video[list(pos)], text=prepared, labels=torch.tensor(labels),
                     n_tokens=t * h * w, video_dim=d, grid=GRID)
    return data, text, np.array(pair_of)


def pair_accuracy(pred, labels, pair_of):
    ok = pred == labels
    return float(np.mean([ok[pair_of == p].all() for p in np.unique(pair_of)]))


def test_probe_beats_video_blind_control_on_minimal_pairs_with_a_large_static_scene():
    """Regression: the answer is a small change over time (one video is the other played backwards, as in
    synthetic MVPBench's up/down pairs) under a large per-scene pattern, and depends on question x candidate
    x video. The probe on raw LayerNorm-ed tokens sat at the text prior here (single 0.5, pair 0.0: the same
    answer for both videos of every pair); with static / dynamic / delta tokens standardised on the training
    items it answers from the video."""
    data, text, pair_of = minimal_pair_data()
    labels = data.labels.numpy()
    train, test = np.flatnonzero(pair_of < 36), np.flatnonzero(pair_of >= 36)
    params = TrainParams(lr=3e-3, weight_decay=0.01, epochs=30)
    probe, _ = train_probe(make(data, text), data, train, params, batch_size=16, seed=0)
    pred = predict_scores(probe, data, test).argmax(1)
    blind, _ = train_probe(make(data, text, blind=True), data, train, params, batch_size=16, seed=0)
    blind_pred = predict_scores(blind, data, test).argmax(1)
    assert (pred == labels[test]).mean() >= 0.85
    assert pair_accuracy(pred, labels[test], pair_of[test]) >= 0.7
    # same text and candidate order within a pair: the control answers both alike, one of them wrongly
    assert (blind_pred[0::2] == blind_pred[1::2]).all() and pair_accuracy(blind_pred, labels[test], pair_of[test]) == 0.0


def test_static_dynamic_delta_features_and_standardisation_fitted_on_training_items():
    video = torch.arange(2 * 16 * 3, dtype=torch.float32).reshape(2, 16, 3) ** 1.5
    out = static_dynamic(video, GRID)
    assert out.shape == (2, 16, 9)
    x = video.reshape(2, 4, 4, 3).double()
    static = x.mean(1, keepdim=True).expand_as(x)
    delta = torch.stack([x[:, 1] - x[:, 0], (x[:, 2] - x[:, 0]) / 2, (x[:, 3] - x[:, 1]) / 2, x[:, 3] - x[:, 2]], 1)
    ref = torch.cat([x - static, static, delta], -1).reshape(2, 16, 9)
    assert torch.allclose(out.double(), ref, rtol=1e-5)
    backwards = video.reshape(2, 4, 4, 3).flip(1).reshape(2, 16, 3)  # played backwards: the delta flips sign
    assert torch.allclose(static_dynamic(backwards, GRID).reshape(2, 4, 4, 9)[..., 6:].flip(1), -out.reshape(2, 4, 4, 9)[..., 6:])
    assert torch.equal(static_dynamic(video, (1, 4, 4))[..., 6:], torch.zeros(2, 16, 3))  # one time step: no delta
    with pytest.raises(ValueError, match="do not form the grid"):
        static_dynamic(video[:, :15], GRID)
    data, text, pair_of = minimal_pair_data(n_pairs=6)
    train = np.flatnonzero(pair_of < 4)
    probe, _ = train_probe(make(data, text), data, train, TrainParams(1e-3, 0.0, 1), batch_size=4)
    inputs = static_dynamic(data.video(list(train)), GRID).double().reshape(-1, 24)
    std = inputs.std(0, unbiased=False)
    assert torch.allclose(probe.video_mean.double(), inputs.mean(0), atol=1e-5)
    assert torch.allclose(probe.video_std.double(), std.clamp_min(0.01 * float(std.mean())), atol=1e-4)
    z = (static_dynamic(data.video(list(train)), GRID) - probe.video_mean) / probe.video_std
    assert z.reshape(-1, 24).mean(0).abs().max() < 1e-4  # standardised on exactly the training items
    blind, _ = train_probe(make(data, text, blind=True), data, train, TrainParams(1e-3, 0.0, 1), batch_size=4)
    assert torch.equal(blind.video_mean, torch.zeros(24))  # the control never reads the video


def test_evaluate_scores_reference():
    scores = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    labels = np.array([0, 0, 1])
    out = evaluate_scores(scores, labels)
    assert out["accuracy"] == pytest.approx(1 / 3)
    lse = np.log(np.exp(scores).sum(1))
    assert out["loss"] == pytest.approx(np.mean(lse - scores[np.arange(3), labels]))


# -- text side ------------------------------------------------------------------------------------------
def test_learned_text_features_are_namespaced_hashed_and_padded():
    enc = LearnedTextEncoder(dim=8, n_buckets=1 << 12, max_features=5)
    ids = enc.prepare([("Is the ball red?", "red"), ("", "blue ball")])
    assert ids.dtype == torch.int64 and ids.shape == (2, 5)
    assert (ids >= 0).all() and (ids < 1 << 12).all()
    # row 0: candidate "red" (1 feature) kept, then 4 question features; row 1: 3 candidate features + padding
    assert (ids[0] > 0).sum() == 5 and (ids[1] > 0).sum() == 3 and (ids[1, 3:] == 0).all()
    assert enc.bucket("q:red") != enc.bucket("c:red")  # question and candidate words are different features
    assert enc.bucket("c:red") in ids[0].tolist()
    assert enc.prepare([("Is the ball red?", "red")]).tolist() == ids[:1].tolist()  # stable hashing
    emb = enc.module()
    out = emb(ids)
    assert out.shape == (2, 8)
    manual = emb.table.weight[ids[1, :3]].mean(0)
    assert torch.allclose(out[1], manual)


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizer

    d = tmp_path_factory.mktemp("bert") / "tiny-bert"
    d.mkdir()
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "what", "colour", "is", "the", "ball", "red", "blue", "?"]
    (d / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = BertTokenizer.from_pretrained(str(d))  # reads the WordPiece vocab.txt (transformers 4 and 5)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).eval().save_pretrained(d)
    tok.save_pretrained(d)
    return d


def test_frozen_hf_text_encoder(tiny_bert_dir):
    enc = build_text_encoder(str(tiny_bert_dir))
    assert isinstance(enc, FrozenHFTextEncoder) and enc.out_dim == 16
    pairs = [("what colour is the ball?", "red"), ("what colour is the ball?", "blue"), ("what colour is the ball?", "red")]
    emb = enc.prepare(pairs)
    assert emb.shape == (3, 16) and emb.dtype == torch.float32
    assert torch.equal(emb[0], emb[2]) and not torch.allclose(emb[0], emb[1])
    assert len(enc._cache) == 2  # each distinct pair embedded once
    # mean pooling reference: one pair alone, computed by hand from the model
    t = enc.tokenizer(["what colour is the ball?"], ["blue"], return_tensors="pt")
    with torch.no_grad():
        ref = enc.model(**t).last_hidden_state.mean(1)[0]
    assert torch.allclose(emb[1], ref, atol=1e-5)
    assert not any(p.requires_grad for p in enc.model.parameters())
    assert enc.describe()["checkpoint_hash"].startswith("sha256:")
    assert isinstance(enc.module(), torch.nn.Identity)


def test_frozen_hf_text_encoder_offline_error(tmp_path):
    with pytest.raises(PjbenchError, match="Nothing is downloaded"):
        FrozenHFTextEncoder("nobody/no-such-text-model-xyz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PjbenchError, match="no config.json"):
        FrozenHFTextEncoder(str(tmp_path / "empty"))
