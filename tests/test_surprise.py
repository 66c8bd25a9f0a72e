import numpy as np
import pytest
import torch

from pjbench.encoders.base import ModelInfo, Preprocessing
from pjbench.encoders.pixel import PixelPredictor
from pjbench.probes.surprise import SurpriseConfig, default_contexts, scores_at, video_surprise, window_starts


class ContextEcho:
    """Targets are 0; the prediction is the context length: window loss = context length, exactly."""

    def __init__(self, tubelet=2):
        self.preprocessing = Preprocessing(resolution=16, frames=8, frame_step=1, tubelet=tubelet, patch=8)
        self.info = ModelInfo(name="echo")

    def targets(self, clips):
        t, h, w = self.preprocessing.grid(clips.shape[1])
        return torch.zeros(clips.shape[0], t * h * w, 3)

    def predict(self, clips, n_context_frames):
        t, h, w = self.preprocessing.grid(clips.shape[1] - n_context_frames)
        return torch.full((clips.shape[0], t * h * w, 3), float(n_context_frames))


def test_default_contexts_match_vjepa2_protocol():
    assert default_contexts(48, 2) == (12, 18, 24, 30, 36, 42)
    assert default_contexts(16, 2) == (4, 6, 8, 10, 12, 14)


def test_window_starts():
    assert window_starts(64, 48, 2) == list(range(0, 17, 2))
    assert window_starts(10, 12, 2) == []


def test_max_context_mode_prepends_first_window_prefix_losses():
    cfg = SurpriseConfig(window=8, stride=2, contexts=(4, 6), max_context_mode=True, tubelet=2, prefix_step=2)
    out = video_surprise(ContextEcho(), torch.zeros(12, 3, 16, 16), cfg, batch_size=2)
    # windows start at 0, 2, 4 -> 3 windows; prefixes below C: 2 (and 4 for C=6)
    np.testing.assert_array_equal(out[4], [2, 4, 4, 4])
    np.testing.assert_array_equal(out[6], [2, 4, 6, 6, 6])
    cfg_off = SurpriseConfig(window=8, stride=2, contexts=(4, 6), max_context_mode=False)
    out_off = video_surprise(ContextEcho(), torch.zeros(12, 3, 16, 16), cfg_off, batch_size=2)
    np.testing.assert_array_equal(out_off[6], [6, 6, 6])
    assert scores_at({"6": [2, 4, 6]}, 6) == {"avg": 4.0, "max": 6.0}


def test_copy_last_surprise_is_the_hand_computed_jump():
    """Constant video with one jump of +1 at frame 10: copy-last error is 1 on every future frame after
    the jump, 0 elsewhere; the window loss is the share of future frames after the jump."""
    pp = Preprocessing(resolution=8, frames=8, frame_step=1, tubelet=1, patch=4, mean=(0, 0, 0), std=(1, 1, 1))
    model = PixelPredictor("copy-last", preprocessing=pp)
    clip = torch.zeros(16, 3, 8, 8)
    clip[10:] = 1.0
    cfg = SurpriseConfig(window=8, stride=2, contexts=(4,), max_context_mode=False, tubelet=1)
    out = video_surprise(model, clip, cfg)[4]
    # windows at 0,2,4,6,8: future frames [4..8), [6..10), [8..12), [10..14), [12..16) of context end 4,6,8,10,12
    # last context frame: 3, 5, 7, 9, 11 -> values 0,0,0,0,1; future frames after jump: 0, 0, 2, 4, 0 of 4
    np.testing.assert_allclose(out, [0, 0, 0.5, 1.0, 0.0])


def test_linear_extrapolation_is_exact_on_a_linear_ramp():
    pp = Preprocessing(resolution=8, frames=8, frame_step=1, tubelet=1, patch=4, mean=(0, 0, 0), std=(1, 1, 1))
    clip = torch.arange(12, dtype=torch.float32).view(12, 1, 1, 1).expand(12, 3, 8, 8) / 12
    cfg = SurpriseConfig(window=8, stride=2, contexts=(4,), max_context_mode=False, tubelet=1)
    lin = video_surprise(PixelPredictor("linear", preprocessing=pp), clip, cfg)[4]
    last = video_surprise(PixelPredictor("copy-last", preprocessing=pp), clip, cfg)[4]
    np.testing.assert_allclose(lin, 0, atol=1e-6)
    np.testing.assert_allclose(last, 2.5 / 12, atol=1e-6)  # mean of 1..4 frames ahead


def test_contexts_outside_the_window_are_refused():
    with pytest.raises(ValueError, match="strictly inside"):
        SurpriseConfig(window=8, contexts=(8,))


def test_short_video_raises_value_error():
    cfg = SurpriseConfig(window=8, stride=2, contexts=(4,))
    with pytest.raises(ValueError, match="fewer than one 8-frame window"):
        video_surprise(ContextEcho(), torch.zeros(6, 3, 16, 16), cfg)
