import numpy as np
import pytest
import torch

from pjbench.benchmarks.errors import VideoError
from pjbench.benchmarks.video import decode_video, preprocess, write_video
from pjbench.encoders.base import Preprocessing


@pytest.fixture
def ramp_video(tmp_path):
    # frame i has uniform grey level 8*i: decoded frames identify themselves
    frames = np.stack([np.full((32, 48, 3), 8 * i, np.uint8) for i in range(24)])
    path = tmp_path / "ramp.mp4"
    write_video(path, frames, fps=12)
    return path


def test_decode_keeps_every_kth_frame(ramp_video):
    out = decode_video(ramp_video, frame_step=5)
    assert out.shape == (5, 32, 48, 3)  # frames 0, 5, 10, 15, 20
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), [0, 40, 80, 120, 160], atol=3)


def test_decode_sample_fps_derives_step_from_stream_rate(ramp_video):
    out = decode_video(ramp_video, sample_fps=6)  # 12 fps -> every 2nd frame
    assert out.shape[0] == 12
    np.testing.assert_allclose(out[1].mean(), 16, atol=3)


def test_missing_and_truncated_files_name_the_file(ramp_video, tmp_path):
    with pytest.raises(VideoError, match="nope.mp4"):
        decode_video(tmp_path / "nope.mp4")
    broken = tmp_path / "broken.mp4"
    data = ramp_video.read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError, match="broken.mp4"):
        decode_video(broken)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match="junk.mp4"):
        decode_video(junk)


def test_preprocess_full_frame_and_center_crop():
    frames = np.zeros((2, 40, 80, 3), np.uint8)
    frames[:, :, 20:60] = 255  # white centre band, black sides
    pp_full = Preprocessing(resolution=16, frames=2, frame_step=1, patch=8, mean=(0, 0, 0), std=(1, 1, 1))
    x = preprocess(frames, pp_full)
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    # short side 40 -> 16, long side 80 -> 32, centre crop keeps the white band exactly
    assert x[..., 1:-1].min() > 0.99 and x.mean() > 0.9
    pp = Preprocessing(resolution=16, frames=2, frame_step=1, patch=8)
    y = preprocess(frames, pp)
    expected = (1.0 - torch.tensor(pp.mean)) / torch.tensor(pp.std)
    torch.testing.assert_close(y[0, :, 8, 8], expected, atol=1e-2, rtol=0)
