import pytest
import torch

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders import MODELS, PredictiveEncoder
from pjbench.encoders.base import ModelInfo
from pjbench.encoders.dinov2 import DINOv2Frames, build_tiny_random, load_dinov2, load_tiny_random


def clip_at(res, frames=3, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, 3, res, res, generator=g)


@pytest.mark.parametrize("registers", [0, 2])
def test_tokens_are_each_frame_encoded_alone(registers):
    """Reference: ``Dinov2Model`` on one frame at a time, CLS (and register) tokens dropped, frames in order."""
    model = build_tiny_random(seed=0, registers=registers)
    enc = DINOv2Frames(model, ModelInfo(name="t"), resolution=56, frames_per_batch=4)
    clip = clip_at(56)
    tokens = enc.encode(clip)
    assert tokens.shape == (2, 3 * 16, 32)
    with torch.no_grad():
        for b in range(2):
            for t in range(3):
                alone = model(clip[b, t : t + 1]).last_hidden_state[0]
                assert alone.shape[0] == 1 + registers + 16
                torch.testing.assert_close(tokens[b, t * 16 : (t + 1) * 16], alone[1 + registers :])
    # no temporal mixing: changing frame 2 changes only frame 2's tokens
    altered = clip.clone()
    altered[:, 2] = torch.randn_like(altered[:, 2])
    other = enc.encode(altered)
    torch.testing.assert_close(other[:, :32], tokens[:, :32])
    assert not torch.allclose(other[:, 32:], tokens[:, 32:])
    assert enc.info.extra["dropped_prefix_tokens"] == 1 + registers and enc.info.readouts == ("features",)


def test_layer_selection_matches_a_truncated_model():
    model = build_tiny_random(seed=0)
    clip = clip_at(56)
    one_block = build_tiny_random(seed=0, num_hidden_layers=1)
    one_block.load_state_dict(model.state_dict(), strict=False)
    first = DINOv2Frames(model, ModelInfo(name="t"), resolution=56, layer=0)
    ref = DINOv2Frames(one_block, ModelInfo(name="t"), resolution=56)
    torch.testing.assert_close(first.encode(clip), ref.encode(clip))
    last = DINOv2Frames(model, ModelInfo(name="t"), resolution=56, layer=-1)
    torch.testing.assert_close(last.encode(clip), DINOv2Frames(model, ModelInfo(name="t"), resolution=56).encode(clip))
    assert not torch.allclose(first.encode(clip), last.encode(clip))
    assert (first.info.extra["layer"], first.info.extra["feature_block"]) == (0, 0)
    with pytest.raises(PjbenchError, match="out of range"):
        DINOv2Frames(model, ModelInfo(name="t"), resolution=56, layer=-3)


def test_local_checkpoint_at_224_with_identity(tiny_dinov2_dir, tmp_path):
    """Hub entries run at 224 px: the tiny 56-px checkpoint resamples its position table, as the real
    518-px checkpoints do."""
    enc = MODELS.build("dinov2-small", checkpoint=str(tiny_dinov2_dir))
    assert not isinstance(enc, PredictiveEncoder)
    assert enc.info.name == "dinov2-small" and enc.info.checkpoint == str(tiny_dinov2_dir.resolve())
    assert enc.info.checkpoint_hash.startswith("sha256:")
    pp = enc.preprocessing
    assert (pp.resolution, pp.patch, pp.tubelet, pp.frames) == (224, 14, 1, 16)
    clip = clip_at(224, frames=2, batch=1)
    tokens = enc.encode(clip)
    assert tokens.shape == (1, 2 * 16 * 16, 32)
    with torch.no_grad():
        ref = build_tiny_random(seed=3)(clip[0, 1:]).last_hidden_state[0, 1:]
    torch.testing.assert_close(tokens[0, 256:], ref)
    other = tmp_path / "other"
    build_tiny_random(seed=4).save_pretrained(other)
    assert load_dinov2(str(other)).info.checkpoint_hash != enc.info.checkpoint_hash


def test_seed_determines_the_random_control():
    clip = clip_at(56)
    a, b, c = load_tiny_random(seed=0), load_tiny_random(seed=0), load_tiny_random(seed=1)
    torch.testing.assert_close(a.encode(clip), b.encode(clip), rtol=0, atol=0)
    assert not torch.allclose(a.encode(clip), c.encode(clip))
    assert a.info.extra["control"] is True and a.info.extra["init_seed"] == 0 and a.info.checkpoint is None


def test_missing_checkpoint_offline_explains_how_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PjbenchError, match="huggingface-cli download facebook/dinov2-small "):
        MODELS.build("dinov2-small")
    with pytest.raises(PjbenchError, match="no such directory"):
        MODELS.build("dinov2-base", checkpoint="/not/here")


def test_bad_inputs_are_refused(tiny_videomae_dir, tiny_dinov2_dir):
    with pytest.raises(PjbenchError, match="not DINOv2"):
        load_dinov2(str(tiny_videomae_dir))
    with pytest.raises(PjbenchError, match="not a multiple of its patch size 14"):
        load_dinov2(str(tiny_dinov2_dir), resolution=256)
    with pytest.raises(ValueError, match="56 px"):
        load_tiny_random().encode(clip_at(64))


def test_entries_declare_the_protocol():
    for name, params in [("dinov2-small", "22M"), ("dinov2-base", "86M"), ("dinov2-large", "304M")]:
        info = MODELS.get(name).info
        assert (info["resolution"], info["patch"], info["tubelet"], info["readouts"]) == (224, 14, 1, "features")
        assert info["params"] == params and info["checkpoint"] == f"facebook/{name}"
    tiny = MODELS.get("dinov2-tiny-random").info
    assert tiny["offline"] and tiny["control"] and tiny["resolution"] == 56
    assert MODELS.build("dinov2-tiny-random").preprocessing.resolution == 56
