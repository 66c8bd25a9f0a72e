"""Frames for answerers are chosen by time: uniform segment centres or one per second, the frame on screen
at each instant, the same on any frame rate; bad files are errors naming the file."""

import numpy as np
import pytest

from pjbench.benchmarks.clips import decode_clip
from pjbench.benchmarks.errors import VideoError
from pjbench.benchmarks.video import write_video
from pjbench.encoders.answerer import FrameSampling


def _video(path, n, fps):
    # frame k: red 8 * (k % 32), green 8 * (k // 32) (distinct; survives lossless H.264 within a few levels)
    frames = np.zeros((n, 32, 32, 3), dtype=np.uint8)
    for k in range(n):
        frames[k, ..., 0], frames[k, ..., 1] = 8 * (k % 32), 8 * (k // 32)
    write_video(path, frames, fps=fps, crf=0)
    return path


def _index(clip):
    return [int(round(f[..., 0].mean() / 8)) + 32 * int(round(f[..., 1].mean() / 8)) for f in clip.frames]


@pytest.mark.parametrize("fps", [8, 24])
def test_one_frame_per_second_takes_the_frame_on_screen(tmp_path, fps):
    path = _video(tmp_path / "v.mp4", n=3 * fps, fps=fps)  # 3 s
    clip = decode_clip(path, FrameSampling(fps=1.0))
    assert clip.timestamps == pytest.approx((0.0, 1.0, 2.0), abs=1e-6)
    assert _index(clip) == [0, fps, 2 * fps]
    assert clip.frames.shape == (3, 32, 32, 3) and clip.frames.dtype == np.uint8


def test_n_frames_uniformly_are_segment_centres(tmp_path):
    path = _video(tmp_path / "v.mp4", n=24, fps=8)  # 3 s; 4 segments of 0.75 s, centres 0.375, 1.125, ...
    clip = decode_clip(path, FrameSampling(n_frames=4))
    # on screen at 0.375 s: frame 3 (0.375 s); 1.125 s: frame 9; 1.875 s: frame 15; 2.625 s: frame 21
    assert _index(clip) == [3, 9, 15, 21]
    more = decode_clip(path, FrameSampling(n_frames=48))  # more frames than the video has: repeats, in order
    assert len(more.frames) == 48 and _index(more) == sorted(_index(more))


def test_bad_files_are_errors_naming_the_file(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        decode_clip(tmp_path / "missing.mp4", FrameSampling(n_frames=4))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(VideoError, match="bad.mp4"):
        decode_clip(bad, FrameSampling(n_frames=4))
