"""Clips for answerers (:mod:`pjbench.encoders.answerer`): the frames a video-language model is shown,
chosen by TIME from the video's packet timestamps (:func:`pjbench.benchmarks.video.frame_times`), so
"16 frames uniformly" and "1 frame per second" mean the same on 60 fps releases, 8 fps synthetic suites
and variable-frame-rate files.

The video's duration is the last frame's presentation time plus one frame interval (the stream's average
rate); each target time of :func:`~pjbench.encoders.answerer.sample_times` takes the frame on screen then
(the last frame whose presentation time is at or before it). A frame shown long may be taken twice.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pjbench.benchmarks.errors import VideoError
from pjbench.benchmarks.video import frame_times
from pjbench.encoders.answerer import Clip, FrameSampling, sample_times

__all__ = ["decode_clip"]


def decode_clip(path: str | os.PathLike, sampling: FrameSampling) -> Clip:
    """The :class:`Clip` of ``path`` under ``sampling``: uint8 RGB frames and their presentation times
    (seconds from the first frame). Raises :class:`VideoError` naming the file when it is missing,
    unreadable, has no timestamps or decodes fewer frames than it declares."""
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError("video file not found", path=path)
    ft = frame_times(path)
    if ft is None or not ft.times:
        raise VideoError("no frame timestamps in the file (cannot sample frames by time)", path=path)
    tb = float(ft.time_base)
    t0 = ft.times[0]
    pts_s = np.asarray([(t - t0) * tb for t in ft.times])
    step = 1.0 / float(ft.rate) if ft.rate else (float(np.median(np.diff(pts_s))) if len(pts_s) > 1 else 0.0)
    duration = float(pts_s[-1]) + step
    targets = sample_times(duration, sampling)
    # the frame on screen at each target: the last frame whose time is <= target (+ rounding slack)
    pick = [int(np.searchsorted(pts_s, t + 1e-6, side="right")) - 1 for t in targets]
    pick = [max(0, min(i, len(pts_s) - 1)) for i in pick]
    wanted = {ft.times[i] for i in pick}
    got: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                if frame.pts in wanted and frame.pts not in got:
                    got[frame.pts] = frame.to_ndarray(format="rgb24")
                    if len(got) == len(wanted):
                        break
    except Exception as exc:  # av raises many types
        raise VideoError(f"cannot decode ({type(exc).__name__}: {exc})", path=path) from exc
    missing = wanted - set(got)
    if missing:
        raise VideoError(f"{len(missing)} of the frames to show did not decode (truncated file?)", path=path)
    frames = np.stack([got[ft.times[i]] for i in pick]).astype(np.uint8, copy=False)
    return Clip(frames=frames, timestamps=tuple(float(pts_s[i]) for i in pick), path=str(path))
