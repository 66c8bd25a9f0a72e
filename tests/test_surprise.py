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


class OOMAbove:
    """Fake model call: runs out of memory above ``limit`` windows per pass (CUDA's error type or CPU text)."""

    def __init__(self, limit, cuda=True):
        self.limit, self.cuda, self.tried = limit, cuda, []

    def __call__(self, batch_size):
        self.tried.append(batch_size)
        if batch_size > self.limit:
            if self.cuda:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes. Out of memory")
        return batch_size


def test_auto_batch_size_halves_on_oom_and_sticks():
    from pjbench.probes.surprise import BatchSizer

    sizer = BatchSizer("auto", start=32)
    fake = OOMAbove(5)
    assert sizer.run(fake) == 4 and fake.tried == [32, 16, 8, 4]
    assert sizer.backoffs == [(32, 16), (16, 8), (8, 4)]
    assert sizer.run(fake) == 4 and fake.tried[-1] == 4  # the size sticks for the next video
    cpu = BatchSizer("auto", start=8)
    assert cpu.run(OOMAbove(2, cuda=False)) == 2
    assert sizer.to_dict() == {"batch_size": "auto", "final_batch_size": 4, "backoffs": [[32, 16], [16, 8], [8, 4]]}


def test_oom_at_fixed_size_or_at_one_is_a_clear_error_and_other_errors_pass_through():
    from pjbench.benchmarks.errors import PjbenchError
    from pjbench.probes.surprise import BatchSizer, is_out_of_memory, parse_batch_size

    fixed = OOMAbove(2)
    with pytest.raises(PjbenchError, match="out of memory at --batch-size 8"):
        BatchSizer(8).run(fixed)
    assert fixed.tried == [8]
    with pytest.raises(PjbenchError, match="even at one window"):
        BatchSizer("auto", start=4).run(OOMAbove(0))

    def broken(bs):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        BatchSizer("auto").run(broken)
    assert not is_out_of_memory(ValueError("out of memory"))
    assert parse_batch_size("AUTO") == "auto" and parse_batch_size("3") == 3
    with pytest.raises(PjbenchError, match="positive integer or 'auto'"):
        parse_batch_size("0")


def test_batch_size_auto_runs_video_surprise_to_the_same_numbers():
    """A model that runs out of memory above 2 windows per pass: auto backs off and scores the video."""
    from pjbench.probes.surprise import BatchSizer

    class Fragile(ContextEcho):
        def targets(self, clips):
            if clips.shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory")
            return super().targets(clips)

    cfg = SurpriseConfig(window=8, stride=2, contexts=(4, 6), max_context_mode=True, tubelet=2, prefix_step=2)
    clip = torch.zeros(16, 3, 16, 16)
    sizer = BatchSizer("auto", start=16)
    out = sizer.run(lambda bs: video_surprise(Fragile(), clip, cfg, batch_size=bs))
    np.testing.assert_array_equal(out[6], video_surprise(ContextEcho(), clip, cfg, batch_size=1)[6])
    assert sizer.size == 2


def test_dtype_is_part_of_the_protocol():
    pp = Preprocessing(resolution=16, frames=8, frame_step=1, tubelet=2, patch=8)
    assert SurpriseConfig.for_model(pp).to_dict()["dtype"] == "fp32"
    assert SurpriseConfig.for_model(pp, dtype="bf16").dtype == "bf16"
    from pjbench.benchmarks.errors import PjbenchError

    with pytest.raises(PjbenchError, match="dtype"):
        SurpriseConfig.for_model(pp, dtype="int8")
