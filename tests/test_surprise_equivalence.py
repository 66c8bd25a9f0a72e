"""The fast surprise path equals the straightforward per-window, per-context loop, and does less work.

Fast: targets once per window, windows batched, prefixes on the first window only, one predictor pass for
all context lengths (V-JEPA 2's ``predict_many``). Reference: one ``targets`` + one ``predict`` call per
(window, context), as the official evaluation does. Counts are measured (calls, tokens, FLOPs), not
claimed, and checked against :func:`plan_surprise`.
"""

import numpy as np
import pytest
import torch

from pjbench.benchmarks.perf import WorkCounter, count_flops
from pjbench.encoders.base import ModelInfo, Preprocessing
from pjbench.encoders.pixel import PixelPredictor
from pjbench.encoders.vjepa2_hf import VJEPA2Surprise, build_tiny_random, run_predictor, run_predictor_many
from pjbench.probes.surprise import (
    SurpriseConfig,
    plan_surprise,
    predict_many,
    prefix_contexts,
    video_surprise,
    video_surprise_reference,
)

TIGHT = dict(rtol=1e-5, atol=1e-6)
SIDE = 32  # 2 x 2 tokens per tubelet: the path is the same, the tests are fast


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny():
    return VJEPA2Surprise(build_tiny_random(seed=5, crop_size=SIDE), ModelInfo(name="tiny"))


def _clip(n, side, seed=0):
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


CONFIGS = [
    SurpriseConfig(window=8, stride=2, contexts=(4, 6), max_context_mode=True, tubelet=2, prefix_step=2),
    SurpriseConfig(window=12, stride=4, contexts=(4, 8), max_context_mode=True, tubelet=2, prefix_step=2),
    SurpriseConfig(window=8, stride=2, contexts=(2, 4, 6), max_context_mode=False, tubelet=2, prefix_step=2),
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_vjepa2_fast_path_equals_reference(tiny, cfg, batch_size):
    clip = _clip(17, SIDE, seed=batch_size)
    fast = video_surprise(tiny, clip, cfg, batch_size=batch_size)
    ref = video_surprise_reference(tiny, clip, cfg)
    assert sorted(fast) == sorted(ref) == list(cfg.contexts)
    for c in cfg.contexts:
        assert fast[c].dtype == np.float32 and fast[c].shape == ref[c].shape
        torch.testing.assert_close(torch.from_numpy(fast[c]), torch.from_numpy(ref[c]), **TIGHT)


@pytest.mark.parametrize("mode", PixelPredictor.MODES)
def test_pixel_fast_path_equals_reference(mode):
    pp = Preprocessing(resolution=16, frames=8, frame_step=1, tubelet=1, patch=4, mean=(0, 0, 0), std=(1, 1, 1))
    model = PixelPredictor(mode, preprocessing=pp)
    cfg = SurpriseConfig(window=8, stride=1, contexts=(3, 5), max_context_mode=True, tubelet=1, prefix_step=1)
    clip = torch.rand(13, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    fast, ref = video_surprise(model, clip, cfg, batch_size=4), video_surprise_reference(model, clip, cfg)
    for c in cfg.contexts:
        torch.testing.assert_close(torch.from_numpy(fast[c]), torch.from_numpy(ref[c]), rtol=0, atol=0)
    assert len(fast[5]) == 4 + 6  # prefixes 1..4, then 6 windows


def test_predict_many_equals_predict_per_context(tiny):
    clips = _clip(8, SIDE).unsqueeze(0).expand(3, -1, -1, -1, -1).clone()
    clips[1] += 0.5
    many = tiny.predict_many(clips, [2, 4, 6])
    for c in (2, 4, 6):
        torch.testing.assert_close(many[c], tiny.predict(clips, c), **TIGHT)
    assert predict_many(PixelPredictor(), torch.zeros(1, 4, 3, 32, 32), [1, 2])[2].shape == (1, 2 * 64, 48)


def test_run_predictor_many_is_run_predictor_per_group(tiny):
    pred = tiny.model.predictor
    groups = []
    for n_ctx, b in ((4, 2), (12, 1)):  # a 4-tubelet window of 4 tokens each: 16 tokens
        ctx = torch.randn(b, n_ctx, 64, generator=torch.Generator().manual_seed(n_ctx))
        groups.append((ctx, torch.arange(n_ctx).expand(b, -1), torch.arange(n_ctx, 16).expand(b, -1)))
    with torch.inference_mode():
        outs = run_predictor_many(pred, groups, 0)
        for (ctx, ci, ti), out in zip(groups, outs):
            torch.testing.assert_close(out, run_predictor(pred, ctx, ci, ti, 0), **TIGHT)


def test_fast_path_encodes_no_context_frames_of_the_future(tiny):
    """Changing frames after a window's context leaves that context's prediction unchanged."""
    clips = _clip(8, SIDE).unsqueeze(0)
    changed = clips.clone()
    changed[:, 4:] += 1.0
    a, b = tiny.predict_many(clips, [2, 4]), tiny.predict_many(changed, [2, 4])
    torch.testing.assert_close(a[4], b[4], rtol=0, atol=0)
    torch.testing.assert_close(a[2], b[2], rtol=0, atol=0)


def test_measured_work_matches_the_plan_and_saves_target_encodings(tiny):
    cfg = SurpriseConfig(window=8, stride=2, contexts=(4, 6), max_context_mode=True, tubelet=2, prefix_step=2)
    n_frames = 17  # windows at 0, 2, ..., 8: 5 windows; prefix contexts 2
    clip = _clip(n_frames, SIDE)
    with WorkCounter(tiny) as fast:
        video_surprise(tiny, clip, cfg, batch_size=2)
    with WorkCounter(tiny) as ref:
        video_surprise_reference(tiny, clip, cfg)
    plan = plan_surprise([n_frames], cfg, tiny.preprocessing, batch_size=2)
    for key in ("target_windows", "context_passes", "tokens_encoded", "predictor_tokens", "encoder_calls", "predictor_calls"):
        assert fast.counts[key] == plan["total"][key], key
        assert ref.counts[key] == plan["reference"][key], key
    # by hand: 4 tokens per tubelet; targets 5 windows x 4 tubelets; contexts 5 x (2 + 3) + prefix 1 tubelet
    assert plan["total"]["tokens_encoded"] == 4 * (5 * 4 + 5 * 5 + 1)
    assert plan["reference"]["tokens_encoded"] == 4 * (11 * 4 + 5 * 5 + 1)
    assert fast.counts["targets_calls"] == 3 and ref.counts["targets_calls"] == 11
    _, flops_fast = count_flops(lambda: video_surprise(tiny, clip, cfg, batch_size=2))
    _, flops_ref = count_flops(lambda: video_surprise_reference(tiny, clip, cfg))
    assert flops_ref > 1.3 * flops_fast
    # the counter restores the model
    assert "targets" not in vars(tiny) and "predict_many" not in vars(tiny)


def test_plan_counts_by_hand():
    pp = Preprocessing(resolution=32, frames=48, frame_step=10, tubelet=2, patch=16)  # 4 tokens per tubelet
    cfg = SurpriseConfig.for_model(pp)  # window 48, contexts 12..42, prefixes 2..40 not in contexts
    assert prefix_contexts(cfg) == [2, 4, 6, 8, 10, 14, 16, 20, 22, 26, 28, 32, 34, 38, 40]
    plan = plan_surprise([64, 64, 40], cfg, pp, batch_size=8)
    assert plan["videos"] == 3 and plan["too_short"] == 1
    v = plan["per_video"][0]
    assert v["windows"] == 9 and v["context_passes"] == 9 * 6 + 15
    ctx_frames = 9 * (12 + 18 + 24 + 30 + 36 + 42) + (2 + 4 + 6 + 8 + 10 + 14 + 16 + 20 + 22 + 26 + 28 + 32 + 34 + 38 + 40)
    assert v["tokens_encoded"] == (9 * 48 + ctx_frames) // 2 * 4
    assert v["encoder_calls"] == 2 * 7 + 15 and v["predictor_calls"] == 2 + 1
    assert plan["total"]["windows"] == 18 and plan["per_video"][2]["windows"] == 0
    assert plan["reference"]["target_windows"] == 2 * 69
    assert plan["saving"]["target_windows"] == pytest.approx(69 / 9)
    no_prefix = plan_surprise([64], SurpriseConfig.for_model(pp, max_context_mode=False), pp)
    assert no_prefix["total"]["context_passes"] == 54 and no_prefix["prefix_contexts"] == []


def test_bf16_autocast_runs_and_stays_close_to_fp32(tiny):
    cfg = SurpriseConfig(window=8, stride=2, contexts=(4, 6), tubelet=2, prefix_step=2)
    cfg16 = SurpriseConfig(window=8, stride=2, contexts=(4, 6), tubelet=2, prefix_step=2, dtype="bf16")
    clip = _clip(12, SIDE)
    full, half = video_surprise(tiny, clip, cfg), video_surprise(tiny, clip, cfg16)
    ref16 = video_surprise_reference(tiny, clip, cfg16)
    for c in cfg.contexts:
        np.testing.assert_allclose(half[c], full[c], rtol=0.05)
        assert not np.array_equal(half[c], full[c])  # autocast really ran in bf16
        np.testing.assert_allclose(half[c], ref16[c], rtol=0.02)
    assert cfg16.to_dict()["dtype"] == "bf16"
    with pytest.raises(ValueError, match="dtype"):
        SurpriseConfig(dtype="fp8")


def test_compile_flag_compiles_encoder_and_predictor_blocks():
    from pjbench.probes.surprise import compile_model

    model = VJEPA2Surprise(build_tiny_random(seed=5, crop_size=SIDE), ModelInfo(name="tiny"))
    assert compile_model(model, backend="eager")
    assert model.model.encoder._compiled_call_impl is not None
    assert all(layer._compiled_call_impl is not None for layer in model.model.predictor.layer)
    assert compile_model(PixelPredictor()) is False  # no compile method: nothing happens, reported as False
