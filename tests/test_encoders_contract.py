"""Contract tests over every registered model: adding a model adds these tests for free."""

import pytest
import torch

from pjbench.encoders import MODELS, ModelInfo, PredictiveEncoder, Preprocessing

ALL = MODELS.names()
ANSWERERS = [n for n in ALL if "generate" in str(MODELS.get(n).info.get("readouts")).split(",")]
NAMES = [n for n in ALL if n not in ANSWERERS]  # encoders


# hub-backed entries load a tiny save_pretrained checkpoint of their family (session fixtures in conftest.py)
TINY_DIR_FIXTURES = (("videomae-base-k400", "tiny_videomae_k400_dir"), ("videomae", "tiny_videomae_dir"),
                     ("dinov2", "tiny_dinov2_dir"), ("", "tiny_vjepa2_dir"))


def build_tiny(name, request):
    entry = MODELS.get(name)
    if entry.info.get("offline") or entry.source != "builtin":
        return MODELS.build(name)
    # hub-backed entries: the real loading path, on a tiny save_pretrained checkpoint
    fixture = next(f for prefix, f in TINY_DIR_FIXTURES if name.startswith(prefix))
    return MODELS.build(name, checkpoint=str(request.getfixturevalue(fixture)))


def tiny_clip(model, batch=2, seed=0):
    pp = model.preprocessing
    g = torch.Generator().manual_seed(seed)
    frames = max(4 * pp.tubelet, 8)
    return torch.randn(batch, frames, 3, pp.resolution, pp.resolution, generator=g)


@pytest.mark.parametrize("name", NAMES)
def test_entry_declares_metadata(name):
    entry = MODELS.get(name)
    assert entry.description
    for key in ("resolution", "frames", "tubelet", "readouts"):
        assert key in entry.info, f"{name} does not declare {key}"


@pytest.mark.parametrize("name", ANSWERERS)
def test_answerer_contract(name, tmp_path, monkeypatch):
    import numpy as np

    from pjbench.encoders.answerer import Answerer, AnswererInfo, AnswerResult, Chat, Clip, FrameSampling, Generation

    entry = MODELS.get(name)
    assert entry.description and "sampling" in entry.info
    if not entry.info.get("offline"):  # a hub checkpoint: the real loading path on a tiny model of its family
        from pjbench.benchmarks.errors import PjbenchError
        from pjbench.encoders.tiny_vlm import FAMILIES, build_tiny_vlm

        family = entry.info["family"]
        assert family in FAMILIES, f"{name}: no tiny random-init control for its family {family!r}"
        # offline, the hub id itself is one clear error naming the checkpoint, no traceback
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        with pytest.raises(PjbenchError, match=entry.info["checkpoint"]):
            MODELS.build(name)
        model = MODELS.build(name, checkpoint=str(build_tiny_vlm(family, tmp_path / family)))
    else:
        model = MODELS.build(name)
    assert isinstance(model, Answerer) and isinstance(model.info, AnswererInfo)
    assert model.sampling is None or isinstance(model.sampling, FrameSampling)  # None: the benchmark's official
    clip = Clip(np.zeros((2, 8, 8, 3), dtype=np.uint8), (0.0, 0.5))
    reqs = [(clip, Chat(user="Question: q\nOption:\n(A) x\n(B) y\n")), (clip, Chat(user="no options here"))]
    out = model.generate(reqs, Generation(max_new_tokens=8))
    assert len(out) == 2 and all(isinstance(r, AnswerResult) for r in out)
    assert all((r.text is None) != (r.error is None) for r in out)  # an answer or an error, never both
    assert [r.text for r in out] == [r.text for r in model.generate(reqs, Generation(max_new_tokens=8))]


@pytest.mark.parametrize("name", NAMES)
def test_encoder_contract(name, request):
    model = build_tiny(name, request)
    assert isinstance(model.preprocessing, Preprocessing)
    assert isinstance(model.info, ModelInfo)
    pp = model.preprocessing
    clip = tiny_clip(model)
    tokens = model.encode(clip)
    t, h, w = pp.grid(clip.shape[1])
    assert tokens.ndim == 3 and tokens.shape[:2] == (2, t * h * w)
    assert tokens.dtype == torch.float32
    assert torch.equal(tokens, model.encode(clip)), "encode must be deterministic"


@pytest.mark.parametrize("name", [n for n in NAMES if "surprise" in str(MODELS.get(n).info.get("readouts"))])
def test_predictor_contract_and_no_peeking(name, request):
    model = build_tiny(name, request)
    assert isinstance(model, PredictiveEncoder)
    pp = model.preprocessing
    clip = tiny_clip(model)
    n_ctx_frames = clip.shape[1] // 2
    targets = model.targets(clip)
    pred = model.predict(clip, n_ctx_frames)
    n_ctx_tokens = pp.grid(n_ctx_frames)[0] * pp.tokens_per_frame_group()
    assert pred.shape == targets[:, n_ctx_tokens:].shape
    # changing the future must not change the prediction
    altered = clip.clone()
    altered[:, n_ctx_frames:] = torch.randn_like(altered[:, n_ctx_frames:])
    torch.testing.assert_close(model.predict(altered, n_ctx_frames), pred)
    # ... but must change the targets
    assert not torch.allclose(model.targets(altered)[:, n_ctx_tokens:], targets[:, n_ctx_tokens:])
