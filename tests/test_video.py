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


# -- variable frame rate: sampling by presentation time ------------------------------------------------------
def write_vfr(path, times_ms, side=32):
    """An H.264 mp4 whose frame ``i`` (grey level 8*i) is shown at ``times_ms[i]``: pts set explicitly."""
    from fractions import Fraction

    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"crf": "0", "preset": "veryfast"}
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((side, side, 3), (8 * i) % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _levels(frames):
    return np.round(frames.mean(axis=(1, 2, 3)) / 8).astype(int).tolist()


def _index_sampling(path, sample_fps):
    """What decode_video kept before timestamp sampling: every round(fps / sample_fps)-th decoded frame."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        step = max(1, round(float(stream.average_rate) / sample_fps))
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)][::step])


@pytest.mark.parametrize("fps,sample_fps,n", [(60, 6, 70), (25, 6, 40), (12, 6, 24), (30, 4, 31)])
def test_constant_frame_rate_files_keep_exactly_the_same_frames(tmp_path, fps, sample_fps, n):
    rng = np.random.default_rng(fps)
    frames = rng.integers(0, 255, (n, 32, 48, 3), dtype=np.uint8)
    path = tmp_path / f"cfr{fps}.mp4"
    write_video(path, frames, fps=fps)
    from pjbench.benchmarks.video import frame_times, sampled_count

    assert frame_times(path).vfr is False
    got = decode_video(path, sample_fps=sample_fps)
    ref = _index_sampling(path, sample_fps)
    assert got.shape == ref.shape and np.array_equal(got, ref)  # same arrays, bit for bit
    assert sampled_count(path, sample_fps=sample_fps) == len(got)


def test_timestamp_rule_equals_index_rule_on_constant_rate():
    from fractions import Fraction

    from pjbench.benchmarks.video import FrameTimes, timestamp_targets

    ft = FrameTimes(tuple(range(0, 636 * 256, 256)), Fraction(1, 15360), Fraction(60), vfr=False)  # 636 frames at 60 fps
    assert timestamp_targets(ft, 6) == [256 * 10 * k for k in range(64)]  # frames 0, 10, ..., 630


def test_variable_frame_rate_files_are_sampled_by_timestamp(tmp_path):
    from pjbench.benchmarks.video import frame_times, probe_video, sampled_count

    # shown at (ms): a burst, a 300 ms gap, a burst, a 400 ms gap, ...: 12 frames over 1.5 s
    times = [0, 50, 100, 400, 450, 500, 900, 1000, 1100, 1150, 1200, 1500]
    path = write_vfr(tmp_path / "vfr.mp4", times)
    assert frame_times(path).vfr is True and probe_video(path).vfr is True
    # 4 fps -> targets 0, 250, 500, ..., 1500 ms; nearest shown frames (ties to the earlier one):
    # 0->0 ms (f0), 250->100 ms (f2; 400 is as far), 500->f5, 750->900 ms (f6), 1000->f7, 1250->1200 ms (f10), 1500->f11
    got = decode_video(path, sample_fps=4)
    assert _levels(got) == [0, 2, 5, 6, 7, 10, 11]
    assert sampled_count(path, sample_fps=4) == 7
    # index sampling by the average rate (7.8 fps -> every 2nd frame) would have kept frames 0, 2, 4, ..., 10
    assert _levels(_index_sampling(path, 4)) == [0, 2, 4, 6, 8, 10]
    # a frame on screen for long is what the viewer saw at both times: 2 fps -> 0, 500, 1000, 1500 ms
    assert _levels(decode_video(path, sample_fps=2)) == [0, 5, 7, 11]
    assert _levels(decode_video(path, sample_fps=10))[:6] == [0, 2, 2, 3, 3, 5]  # 0..500 ms every 100 ms
    assert _levels(decode_video(path, sample_fps=4, max_frames=3)) == [0, 2, 5]
