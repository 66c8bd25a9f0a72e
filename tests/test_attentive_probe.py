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


def make(data, text, blind=False):
    return lambda: AttentiveProbe(data.video_dim, data.n_tokens, text.module(), text.out_dim, CFG, video_blind=blind)


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
