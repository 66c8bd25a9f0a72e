import pytest
import torch

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders import MODELS, PredictiveEncoder
from pjbench.encoders.base import ModelInfo
from pjbench.encoders.videomae import VideoMAEEncoder, build_tiny_random, load_tiny_random, load_videomae, pixel_targets


def clip_for(enc, batch=2, seed=0):
    pp = enc.preprocessing
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, pp.frames, 3, pp.resolution, pp.resolution, generator=g)


def random_mask(batch, n_tokens, n_masked, seed=0):
    """Each row masks the same number of tokens (HF requires it), at scattered positions."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(batch, n_tokens, dtype=torch.bool)
    for row in mask:
        row[torch.randperm(n_tokens, generator=g)[:n_masked]] = True
    return mask


@pytest.mark.parametrize("norm_pix", [True, False])
def test_targets_reproduce_the_loss_videomae_computes_itself(norm_pix):
    """Independent reference for the patch layout and normalisation: the MSE of the HF decoder's logits
    against our targets at the masked positions equals the loss ``VideoMAEForPreTraining`` returns,
    with a scattered mask (any misordering of tokens or of pixels inside a tubelet changes the number)."""
    model = build_tiny_random(seed=0, norm_pix_loss=norm_pix)
    enc = VideoMAEEncoder(model, ModelInfo(name="t"))
    clip = clip_for(enc)
    targets = enc.targets(clip)
    n = targets.shape[1]
    assert targets.shape == (2, 4 * 4 * 4, 2 * 16 * 16 * 3)
    for mask in (random_mask(2, n, n // 2), random_mask(2, n, 10, seed=1)):
        with torch.no_grad():
            out = model(clip, bool_masked_pos=mask)
        ours = ((out.logits - targets[mask].reshape(2, -1, targets.shape[-1])) ** 2).mean()
        torch.testing.assert_close(ours, out.loss, rtol=1e-5, atol=1e-6)
        assert ours > 1e-3  # a real loss, not 0 == 0


def test_one_target_by_hand():
    """Token (t=1, h=2, w=3): frames 2-3, rows 32-47, cols 48-63; pixels laid out (frame, row, col, channel)."""
    enc = load_tiny_random(seed=0)
    pp = enc.preprocessing
    clip = clip_for(enc, batch=1)
    pixels = clip[0] * torch.tensor(pp.std).view(1, 3, 1, 1) + torch.tensor(pp.mean).view(1, 3, 1, 1)
    cube = pixels[2:4, :, 32:48, 48:64].permute(0, 2, 3, 1).reshape(-1, 3)  # (2*16*16, C)
    cube = (cube - cube.mean(0)) / (cube.std(0) + 1e-6)
    index = 1 * 16 + 2 * 4 + 3
    torch.testing.assert_close(enc.targets(clip)[0, index], cube.reshape(-1))
    raw = pixel_targets(clip, pp, norm_pix=False)
    torch.testing.assert_close(raw[0, index], pixels[2:4, :, 32:48, 48:64].permute(0, 2, 3, 1).reshape(-1))


def test_predict_is_the_decoder_output_for_the_masked_future():
    """Same numbers as the HF forward with every token after the context masked, in target order; the
    decoder output is used as it is (not zeroed)."""
    model = build_tiny_random(seed=0)
    enc = VideoMAEEncoder(model, ModelInfo(name="t"))
    clip = clip_for(enc)
    n_ctx = 2 * 16  # 4 frames = 2 tubelets of 4x4 tokens
    mask = torch.zeros(2, 64, dtype=torch.bool)
    mask[:, n_ctx:] = True
    with torch.no_grad():
        ref = model(clip, bool_masked_pos=mask)
    pred = enc.predict(clip, 4)
    torch.testing.assert_close(pred, ref.logits)
    assert pred.abs().mean() > 0.05
    # and its error against our targets is HF's own loss for that mask
    torch.testing.assert_close(((pred - enc.targets(clip)[:, n_ctx:]) ** 2).mean(), ref.loss)


def test_hf_encoder_drops_masked_tokens_before_attending():
    """Verified, not assumed: with the future masked, the raw HF forward (future frames *not* zeroed)
    does not change when the future changes."""
    model = build_tiny_random(seed=0)
    clip = clip_for(VideoMAEEncoder(model, ModelInfo(name="t")))
    mask = torch.zeros(2, 64, dtype=torch.bool)
    mask[:, 32:] = True
    altered = clip.clone()
    altered[:, 4:] = torch.randn_like(altered[:, 4:])
    with torch.no_grad():
        a = model(clip, bool_masked_pos=mask).logits
        b = model(altered, bool_masked_pos=mask).logits
    torch.testing.assert_close(a, b)


def test_surprise_readout_runs_on_the_tiny_model():
    from pjbench.probes.surprise import SurpriseConfig, video_surprise

    enc = load_tiny_random(seed=0)
    assert isinstance(enc, PredictiveEncoder)
    cfg = SurpriseConfig.for_model(enc.preprocessing, max_context_mode=False)
    assert cfg.window == 8 and cfg.contexts == (2, 4, 6)
    video = torch.randn(12, 3, 64, 64)
    out = video_surprise(enc, video, cfg)
    assert set(out) == {2, 4, 6}
    assert all(len(v) == 3 and torch.isfinite(torch.as_tensor(v)).all() for v in out.values())


def test_layer_selection_matches_a_truncated_model():
    """``layer=0`` = the first block's output through the final LayerNorm: the output of the same
    weights built with a single block."""
    model = build_tiny_random(seed=0)
    clip = clip_for(VideoMAEEncoder(model, ModelInfo(name="t")))
    one_block = build_tiny_random(seed=0, num_hidden_layers=1).videomae
    one_block.load_state_dict(model.videomae.state_dict(), strict=False)
    first = VideoMAEEncoder(model, ModelInfo(name="t"), layer=0)
    with torch.no_grad():
        torch.testing.assert_close(first.encode(clip), one_block(clip).last_hidden_state)
    last = VideoMAEEncoder(model, ModelInfo(name="t"), layer=-1)
    torch.testing.assert_close(last.encode(clip), VideoMAEEncoder(model, ModelInfo(name="t")).encode(clip))
    assert not torch.allclose(first.encode(clip), last.encode(clip))
    assert first.info.extra["layer"] == 0 and first.info.extra["feature_block"] == 0
    assert last.info.extra["feature_block"] == 1
    with pytest.raises(PjbenchError, match="out of range"):
        VideoMAEEncoder(model, ModelInfo(name="t"), layer=2)
    assert MODELS.build("videomae-tiny-random", layer=-2).info.extra["feature_block"] == 0


def test_checkpoint_without_decoder_gives_features_but_refuses_surprise(tiny_videomae_k400_dir):
    enc = MODELS.build("videomae-base-k400", checkpoint=str(tiny_videomae_k400_dir))
    assert enc.info.readouts == ("features",) and enc.info.extra["decoder"] is False
    clip = clip_for(enc)
    assert enc.encode(clip).shape == (2, 64, 32)
    with pytest.raises(PjbenchError, match="no VideoMAE pre-training decoder"):
        enc.targets(clip)
    with pytest.raises(PjbenchError, match="no VideoMAE pre-training decoder"):
        enc.predict(clip, 4)


def test_seed_determines_the_random_control():
    clip = clip_for(load_tiny_random(seed=0))
    a, b, c = load_tiny_random(seed=0), load_tiny_random(seed=0), load_tiny_random(seed=1)
    torch.testing.assert_close(a.encode(clip), b.encode(clip), rtol=0, atol=0)
    torch.testing.assert_close(a.predict(clip, 4), b.predict(clip, 4), rtol=0, atol=0)
    assert not torch.allclose(a.encode(clip), c.encode(clip))
    assert a.info.extra["control"] is True and a.info.extra["init_seed"] == 0 and a.info.checkpoint is None


def test_local_checkpoint_loads_with_identity(tiny_videomae_dir, tmp_path):
    enc = MODELS.build("videomae-base", checkpoint=str(tiny_videomae_dir))
    assert enc.info.name == "videomae-base" and enc.info.checkpoint == str(tiny_videomae_dir.resolve())
    assert enc.info.checkpoint_hash.startswith("sha256:") and enc.info.revision is None
    assert enc.info.readouts == ("surprise", "features")
    ref = VideoMAEEncoder(build_tiny_random(seed=3), ModelInfo(name="ref"))
    clip = clip_for(enc)
    torch.testing.assert_close(enc.encode(clip), ref.encode(clip))
    torch.testing.assert_close(enc.predict(clip, 2), ref.predict(clip, 2))
    other = tmp_path / "other"
    build_tiny_random(seed=4).save_pretrained(other)
    assert load_videomae(str(other)).info.checkpoint_hash != enc.info.checkpoint_hash


def test_missing_checkpoint_offline_explains_how_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PjbenchError, match="huggingface-cli download MCG-NJU/videomae-base "):
        MODELS.build("videomae-base")
    with pytest.raises(PjbenchError, match="no such directory"):
        MODELS.build("videomae-base", checkpoint="./not/here")


def test_wrong_checkpoints_and_clips_are_refused(tmp_path, tiny_vjepa2_dir):
    with pytest.raises(PjbenchError, match="no config.json"):
        load_videomae(str(tmp_path))
    with pytest.raises(PjbenchError, match="not VideoMAE"):
        load_videomae(str(tiny_vjepa2_dir))
    enc = load_tiny_random()
    with pytest.raises(ValueError, match="exactly 8 frames"):
        enc.encode(torch.randn(1, 6, 3, 64, 64))
    with pytest.raises(ValueError, match="64 px"):
        enc.encode(torch.randn(1, 8, 3, 32, 32))
    with pytest.raises(ValueError, match="multiple of 2"):
        enc.predict(torch.randn(1, 8, 3, 64, 64), 3)


def test_entries_declare_the_protocol():
    for name, frames, res in [("videomae-base", 16, 224), ("videomae-large", 16, 224), ("videomae-base-k400", 16, 224)]:
        info = MODELS.get(name).info
        assert (info["frames"], info["resolution"], info["tubelet"], info["patch"]) == (frames, res, 2, 16)
        assert info["params"] and not info["offline"]
    assert MODELS.get("videomae-base-k400").info["readouts"] == "features"
    tiny = MODELS.get("videomae-tiny-random").info
    built = MODELS.build("videomae-tiny-random")
    assert tiny["offline"] and tiny["control"]
    assert (tiny["resolution"], tiny["frames"]) == (built.preprocessing.resolution, built.preprocessing.frames)
