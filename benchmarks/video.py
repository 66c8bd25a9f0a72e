"""Video I/O in one place: PyAV decoding of only the frames a protocol keeps, torch preprocessing,
and an H.264 writer for the synthetic suites.

Every failure names the file: a newcomer with one corrupt download out of a thousand should learn
which one, not read a libav traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from pjbench.benchmarks.errors import DataError, VideoError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from pjbench.encoders.base import Preprocessing


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    frames: int  # frame count declared by the container (decode_video checks it against what decodes)
    vfr: bool = False  # variable frame rate: frame durations differ (see frame_times)
    decoded: int = 0  # frames that actually decode


@dataclass(frozen=True)
class FrameTimes:
    """Presentation times of a video stream's frames, read from the demuxed packets (nothing decoded).

    times:    ``pts`` of every frame in presentation order, in ``time_base`` ticks (exact integers).
    rate:     the container's average frame rate (frames per second, exact), or ``None`` if unknown.
    vfr:      frame durations differ by more than timestamp rounding (one tick or 2 %): variable frame rate.
    width, height: the frame size the stream header declares.
    """

    times: tuple[int, ...]
    time_base: Fraction
    rate: Fraction | None
    vfr: bool
    width: int = 0
    height: int = 0


def frame_times(path: str | os.PathLike) -> FrameTimes | None:
    """:class:`FrameTimes` of ``path``'s first video stream, or ``None`` when its packets carry no timestamps
    (then only index-based sampling is possible). Raises :class:`VideoError` naming the file."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError("no video stream in file", path=path)
            stream = container.streams.video[0]
            pts = [pk.pts for pk in container.demux(stream) if pk.size]
            rate = stream.average_rate or stream.base_rate
            time_base = stream.time_base
            width, height = int(stream.width or 0), int(stream.height or 0)
    except VideoError:
        raise
    except Exception as exc:  # av raises many types
        raise VideoError(f"cannot read video timestamps ({type(exc).__name__}: {exc})", path=path) from exc
    if not pts or any(t is None for t in pts) or time_base is None:
        return None
    times = tuple(sorted(pts))  # packets come in decode order; frames come out in presentation order
    diffs = np.diff(np.asarray(times, dtype=np.int64))
    vfr = bool(diffs.size and diffs.max() - diffs.min() > max(1.0, 0.02 * float(np.median(diffs))))
    return FrameTimes(times, Fraction(time_base), Fraction(rate) if rate else None, vfr, width, height)


def timestamp_targets(ft: FrameTimes, target_fps: float | Fraction) -> list[int]:
    """The frame pts to keep when sampling ``target_fps`` frames per second by TIME: for ``k = 0, 1, ...`` the
    frame whose presentation time is nearest to ``t0 + k / target_fps`` (ties: the earlier frame), up to the
    last frame. A frame shown for long may be kept twice: it is what was on screen at both times.

    On a constant-rate stream whose fps is a multiple of ``target_fps`` these are exactly frames
    ``0, step, 2*step, ...`` with ``step = fps / target_fps``."""
    times = np.asarray(ft.times, dtype=np.int64)
    interval = 1 / Fraction(target_fps) / ft.time_base  # target spacing in ticks, exact
    out = []
    k = 0
    while True:
        target = ft.times[0] + k * interval
        if target > ft.times[-1]:
            return out
        j = int(np.searchsorted(times, int(target), side="right"))  # times[j-1] <= target < times[j]
        lo, hi = max(j - 1, 0), min(j, len(times) - 1)
        out.append(int(times[hi] if abs(times[hi] - target) < abs(target - times[lo]) else times[lo]))
        k += 1


def decode_video(
    path: str | os.PathLike,
    frame_step: int = 1,
    max_frames: int | None = None,
    sample_fps: float | None = None,
) -> np.ndarray:
    """Decode frames ``0, frame_step, 2*frame_step, ...`` of ``path`` as ``uint8 (T, H, W, 3)`` RGB.

    With ``sample_fps`` the step is ``round(video_fps / sample_fps)`` (``video_fps``: the stream's average
    rate) on a constant-frame-rate file (unchanged since index and time agree there); on a variable-frame-rate
    file (:func:`frame_times`) frames are chosen by presentation TIME instead: the frame nearest to each
    ``k / sample_fps`` seconds (:func:`timestamp_targets`), not the ``k * step``-th one.

    H.264 has to be decoded frame by frame anyway; we skip the costly RGB conversion of the frames the
    protocol drops. Raises :class:`VideoError` naming the file if it is missing, unreadable, empty, or
    ends well before the container says it does (a truncated download).
    """
    import av

    path = Path(path)
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    if path.is_dir():  # a movie stored as PNG frames (IntPhys 2019): no frame rate, frame_step applies
        return read_frame_folder(path, frame_step=frame_step, max_frames=max_frames)
    if not path.is_file():
        raise VideoError("video file not found", path=path)
    kept: list[np.ndarray] = []
    decoded = 0
    declared = 0
    wanted: dict[int, int] | None = None  # pts -> times kept (timestamp sampling of a VFR stream)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError("no video stream in file", path=path)
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            declared = int(stream.frames or 0)
            if sample_fps:
                rate = float(stream.average_rate or stream.base_rate or 0)
                if rate <= 0:
                    raise VideoError("cannot read the frame rate needed for sample_fps", path=path)
                frame_step = max(1, round(rate / sample_fps))
                ft = frame_times(path)
                if ft is not None and ft.vfr:  # CFR: index sampling keeps exactly the timestamp-nearest frames
                    if declared and len(ft.times) < 0.9 * declared:
                        raise VideoError(f"video is truncated: {len(ft.times)} of {declared} frames present", path=path)
                    wanted = {}
                    for t in timestamp_targets(ft, sample_fps)[:max_frames]:
                        wanted[t] = wanted.get(t, 0) + 1
            for frame in container.decode(stream):
                take = (decoded % frame_step == 0) if wanted is None else wanted.pop(frame.pts, 0)
                if take:
                    rgb = frame.to_ndarray(format="rgb24")
                    kept.extend([rgb] * int(take))
                    if (max_frames is not None and len(kept) >= max_frames) or (wanted is not None and not wanted):
                        decoded += 1
                        break
                decoded += 1
    except VideoError:
        raise
    except Exception as exc:  # av raises many types (InvalidDataError, OSError, ValueError ...)
        raise VideoError(f"cannot decode video ({type(exc).__name__}: {exc})", path=path) from exc
    if not kept:
        raise VideoError("video has no decodable frames", path=path)
    if wanted:
        raise VideoError(f"video is truncated: {len(wanted)} frame(s) listed in the container did not decode", path=path)
    if max_frames is None and wanted is None and declared and decoded < 0.9 * declared:
        raise VideoError(f"video is truncated: decoded {decoded} of {declared} frames", path=path)
    return np.stack(kept)


def read_frame_folder(
    path: str | os.PathLike, frame_step: int = 1, max_frames: int | None = None
) -> np.ndarray:
    """Frames ``0, frame_step, ...`` of a folder of PNGs (natural file-name order) as ``uint8 (T, H, W, 3)``.

    The frame-folder counterpart of :func:`pjbench.benchmarks.video.decode_video`. Raises
    :class:`VideoError` naming the folder or file that is missing, empty or undecodable, or frames of
    different sizes.
    """
    import av

    path = Path(path)
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    if not path.is_dir():
        raise VideoError("frame folder not found", path=path)
    files = sorted(path.glob("*.png"), key=lambda p: natural_key(p.name))[::frame_step]
    if max_frames is not None:
        files = files[:max_frames]
    if not files:
        raise VideoError("no .png frames in folder", path=path)
    frames = []
    for f in files:
        try:
            with av.open(str(f)) as container:
                frame = next(container.decode(video=0))
                frames.append(frame.to_ndarray(format="rgb24"))
        except Exception as exc:  # av raises many types; name the file
            raise VideoError(f"cannot decode frame ({type(exc).__name__}: {exc})", path=f) from exc
    if len({fr.shape for fr in frames}) > 1:
        raise VideoError(f"frames differ in size: {sorted({fr.shape for fr in frames})}", path=path)
    return np.stack(frames)


def natural_key(text: str) -> tuple:
    """``frame_2.png`` before ``frame_10.png``."""
    import re

    return tuple(int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", text))


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open ``path`` and decode it fully (to catch truncation); return its size, fps, the frame count the
    container declares, how many frames decode, and whether its frame rate is variable."""
    import av

    path = Path(path)
    frames = decode_video(path, frame_step=1 << 30)  # decode everything, convert only frame 0
    ft = frame_times(path)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.base_rate or 0)
            n = int(stream.frames or 0)
    except Exception as exc:  # pragma: no cover - decode_video already opened it
        raise VideoError(f"cannot read video header ({exc})", path=path) from exc
    decoded = len(ft.times) if ft is not None else n
    return VideoInfo(str(path), width=frames.shape[2], height=frames.shape[1], fps=fps, frames=n,
                     vfr=bool(ft is not None and ft.vfr), decoded=decoded)


def sampled_count(path: str | os.PathLike, frame_step: int = 1, sample_fps: float | None = None) -> int:
    """How many frames :func:`decode_video` keeps of ``path`` (from the packets' timestamps; nothing decoded)."""
    path = Path(path)
    if path.is_dir():
        return len(list(path.glob("*.png"))[::frame_step])
    ft = frame_times(path)
    if ft is None:
        raise VideoError("cannot count frames: the packets carry no timestamps", path=path)
    if sample_fps:
        if ft.rate is None or ft.rate <= 0:
            raise VideoError("cannot read the frame rate needed for sample_fps", path=path)
        if ft.vfr:
            return len(timestamp_targets(ft, sample_fps))
        frame_step = max(1, round(float(ft.rate) / sample_fps))
    return -(-len(ft.times) // frame_step)


def preprocess(frames: "np.ndarray | torch.Tensor", pp: "Preprocessing") -> "torch.Tensor":
    """``uint8 (T, H, W, 3)`` -> normalised ``float32 (T, 3, R, R)`` for ``pp.resolution = R``.

    Short side resized to ``round(R / crop_pct)`` (bilinear, antialiased unless ``pp.antialias`` is off), center crop to ``R``, scaled to
    [0, 1], then ImageNet-style mean/std. The same function serves every encoder; only ``pp`` differs.
    """
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected frames (T, H, W, 3), got {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    _, _, h, w = x.shape
    short = round(pp.resolution / pp.crop_pct)
    scale = short / min(h, w)
    new_h, new_w = max(pp.resolution, round(h * scale)), max(pp.resolution, round(w * scale))
    if (new_h, new_w) != (h, w):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=pp.antialias, align_corners=False)
    top, left = (new_h - pp.resolution) // 2, (new_w - pp.resolution) // 2
    x = x[:, :, top : top + pp.resolution, left : left + pp.resolution]
    mean = torch.tensor(pp.mean, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(pp.std, dtype=x.dtype).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 30, crf: int = 18) -> None:
    """Write ``uint8 (T, H, W, 3)`` RGB frames as H.264 (yuv420p) mp4, atomically (tmp file + rename)."""
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 yuv420p needs even width and height, got {w}x{h}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.mp4")
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            for i in range(t):
                for packet in stream.encode(av.VideoFrame.from_ndarray(frames[i], format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def unreadable_videos(paths: Iterable[str | os.PathLike], label: str) -> list[str]:
    """``"<label>: <error>"`` for every existing video among ``paths`` that cannot be opened (checked in
    parallel threads, each file once). What ``validate`` reports for QA tasks."""
    from concurrent.futures import ThreadPoolExecutor

    def check(path: Path) -> str | None:
        try:
            probe_video(path)
        except DataError as exc:
            return f"{label}: {exc}"
        return None

    unique = sorted({Path(p) for p in paths if Path(p).is_file()})
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return [msg for msg in pool.map(check, unique) if msg]
