"""What eval will do to each video under a model's protocol: found before a run by ``pjbench validate
--model`` and recorded per item by eval (``ItemRecord.conditions``), so neither is a surprise.

Condition tags (``ItemRecord.conditions``):

- ``non_square:crop N%``: the frames are not square; preprocessing resizes the short side to the model's
  resolution and centre-crops the long side, so ``N`` % of the long side is never seen by the model;
- ``vfr``: variable frame rate; frames are sampled by presentation time
  (:func:`pjbench.benchmarks.video.timestamp_targets`), not by index.

Fewer frames after sampling than one window is not a condition but a skip: eval cannot score the video
(surprise tasks). The probe track samples ``--frames`` frames uniformly and repeats the last frame of a
shorter video instead (``validate`` warns).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pjbench.benchmarks.errors import DataError, PjbenchError


PROBE_FRAMES = 16  # eval's --frames default on probe tasks (pjbench.benchmarks.probe_runner.evaluate_probe)


@dataclass(frozen=True)
class ModelProtocol:
    """The part of a model's preprocessing and readout that decides whether eval can use a video.

    window:     surprise readout: sampled frames per window (a shorter video is skipped); probe: ``None``.
    sample_fps: frames per second kept (``None``: every ``frame_step``-th frame instead).
    n_frames:   probe readout: frames sampled uniformly per video (a shorter video is padded); else ``None``.
    """

    model: str
    readout: str
    resolution: int
    window: int | None
    sample_fps: float | None
    frame_step: int
    n_frames: int | None = None

    def sampling(self) -> str:
        return f"{self.sample_fps:g} fps" if self.sample_fps else f"every {self.frame_step} frame(s)"

    def describe(self) -> str:
        if not self.window:
            return (f"{self.model}: {self.n_frames} frames sampled uniformly over each video (short ones padded), "
                    f"{self.resolution} px square")
        return f"{self.model}: {self.window}-frame windows at {self.sampling()}, {self.resolution} px square"


def model_protocol(model: str | None = None, task: str | None = None, *, window: int | None = None,
                   frame_step: int | None = None, n_frames: int | None = None) -> ModelProtocol:
    """The protocol eval would run ``model`` with on ``task`` (``model=None``: the task's reference model,
    ``reference_model`` in the task registry). ``window``/``frame_step``/``n_frames`` as eval's ``--window``/
    ``--frame-step`` (surprise) and ``--frames`` (probe, default 16).
    Read from the model registry's metadata (nothing is loaded); a plugin that declares no frames, resolution
    or frame sampling is built without a checkpoint to read its preprocessing."""
    from pjbench.benchmarks.tasks import TASKS, default_task
    from pjbench.encoders.registry import MODELS

    tinfo = TASKS.get(task or default_task()).info
    model = model or tinfo.get("reference_model") or "vjepa2"
    info = MODELS.get(model).info
    if not all(k in info for k in ("resolution", "frames")) or not {"sample_fps", "frame_step"} & set(info):
        pp = MODELS.build(model).preprocessing
        info = {**info, "resolution": pp.resolution, "frames": pp.frames, "sample_fps": pp.sample_fps,
                "frame_step": pp.frame_step}
    sample_fps = info.get("sample_fps")
    step = int(info.get("frame_step") or 1)
    if frame_step is not None:  # a fixed step replaces the fps-based sampling, as in eval
        sample_fps, step = None, frame_step
    readout = tinfo.get("readout", "surprise")
    return ModelProtocol(model=model, readout=readout, resolution=int(info["resolution"]),
                         window=(window or int(info["frames"])) if readout == "surprise" else None,
                         sample_fps=float(sample_fps) if sample_fps else None, frame_step=step,
                         n_frames=(n_frames or PROBE_FRAMES) if readout == "probe" else None)


def frame_conditions(width: int, height: int, vfr: bool) -> list[str]:
    """Condition tags of a video of ``width x height`` frames (see the module docstring)."""
    tags = []
    if width != height and min(width, height) > 0:
        cut = 1 - min(width, height) / max(width, height)
        tags.append(f"non_square:crop {round(100 * cut)}%" if cut >= 0.005 else "non_square:crop <1%")
    if vfr:
        tags.append("vfr")
    return tags


def file_conditions(path: str | os.PathLike) -> list[str]:
    """:func:`frame_conditions` of a video file read from its header and packet timestamps (nothing is
    decoded, so it is cheap enough for every item of a run, cached ones included). ``[]`` when unreadable:
    the decoding step names that problem."""
    import av

    from pjbench.benchmarks.video import frame_times

    path = Path(path)
    if path.is_dir():  # PNG frames: constant rate by construction; the size is the first frame's
        first = sorted(path.glob("*.png"))[:1]
        if not first:
            return []
        try:
            with av.open(str(first[0])) as container:
                s = container.streams.video[0]
                return frame_conditions(s.width, s.height, False)
        except Exception:  # the decoding step names it
            return []
    try:
        ft = frame_times(path)  # one open: header size and packet timestamps
    except Exception:  # VideoError or av's own: the decoding step names it
        return []
    return frame_conditions(ft.width, ft.height, ft.vfr) if ft is not None else []


def conditions_by_path(paths: Iterable[str | os.PathLike]) -> dict[str, list[str]]:
    """``{str(path): file_conditions(path)}`` for every distinct path (threads: header and packet reads)."""
    unique = sorted({str(p) for p in paths})
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return dict(zip(unique, pool.map(file_conditions, unique)))


def count_conditions(records: Iterable[Any]) -> dict[str, int]:
    """``{tag kind: number of records}`` over records carrying ``conditions`` (``non_square``, ``vfr``)."""
    out: dict[str, int] = {}
    for r in records:
        for kind in sorted({t.split(":", 1)[0] for t in getattr(r, "conditions", None) or []}):
            out[kind] = out.get(kind, 0) + 1
    return out


@dataclass
class VideoCheck:
    """One video under a protocol: ``error`` (cannot be decoded to the end), else its size, frame counts and
    conditions."""

    path: str
    error: str | None = None
    width: int = 0
    height: int = 0
    decoded: int = 0
    sampled: int = 0
    conditions: list[str] = field(default_factory=list)

    def too_short(self, proto: ModelProtocol) -> bool:
        return self.error is None and proto.window is not None and self.sampled < proto.window


def check_video(path: str | os.PathLike, proto: ModelProtocol) -> VideoCheck:
    """Decode ``path`` fully (truncation), count the frames ``proto`` keeps and list its conditions."""
    from pjbench.benchmarks.video import probe_video, read_frame_folder, sampled_count

    path = Path(path)
    try:
        if path.is_dir():
            first = read_frame_folder(path, max_frames=1)
            n = len(list(path.glob("*.png")))
            return VideoCheck(str(path), width=first.shape[2], height=first.shape[1], decoded=n,
                              sampled=math.ceil(n / proto.frame_step),
                              conditions=frame_conditions(first.shape[2], first.shape[1], False))
        info = probe_video(path)
        sampled = sampled_count(path, proto.frame_step, proto.sample_fps)
    except (DataError, PjbenchError) as exc:  # VideoError names the file
        return VideoCheck(str(path), error=str(exc))
    return VideoCheck(str(path), width=info.width, height=info.height, decoded=info.decoded or info.frames,
                      sampled=sampled, conditions=frame_conditions(info.width, info.height, info.vfr))


def check_videos(paths: Iterable[str | os.PathLike], proto: ModelProtocol) -> list[VideoCheck]:
    """:func:`check_video` of every existing path (each once, in parallel threads: decoding is native code)."""
    unique = sorted({Path(p) for p in paths if Path(p).exists()})
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda p: check_video(p, proto), unique))


def report_checks(checks: list[VideoCheck], proto: ModelProtocol, label: str) -> dict[str, Any]:
    """What ``validate`` prints for ``checks``: ``errors`` (unreadable; too short for one window: eval skips
    them), ``warnings`` (non-square: how much eval crops away; variable frame rate) and ``counts``."""
    errors = [f"{label}: {c.error}" for c in checks if c.error]
    short = [c for c in checks if c.too_short(proto)]
    errors += [f"{label}: {c.path}: {c.sampled} frame(s) after sampling "
               f"{f'every {proto.frame_step} frame(s)' if Path(c.path).is_dir() else 'at ' + proto.sampling()} ({c.decoded} decoded), "
               f"fewer than one {proto.window}-frame window of {proto.model}: eval skips it"
               for c in short]
    warnings = []
    padded = [c for c in checks if c.error is None and proto.n_frames and c.decoded < proto.n_frames]
    warnings += [f"{label}: {c.path}: {c.decoded} frame(s), fewer than the probe's {proto.n_frames}: eval repeats "
                 f"the last frame {proto.n_frames - c.decoded} time(s)" for c in padded]
    for c in checks:
        for tag in c.conditions:
            if tag.startswith("non_square"):
                side = "width" if c.width > c.height else "height"
                short_side = min(c.width, c.height)
                warnings.append(f"{label}: {c.path}: {c.width}x{c.height} is not square: eval centre-crops it to "
                                f"{short_side}x{short_side} ({tag.split(' ', 1)[1]} of the {side} is cut away) "
                                f"before resizing to {proto.resolution} px")
            elif tag == "vfr" and proto.window:
                warnings.append(f"{label}: {c.path}: variable frame rate: eval samples it by presentation time "
                                f"at {proto.sampling()}, not by frame index")
            elif tag == "vfr":
                warnings.append(f"{label}: {c.path}: variable frame rate: the probe's frames are spaced evenly by "
                                "frame index, so unevenly in time")
    counts = {"unreadable_videos": sum(1 for c in checks if c.error),
              **({"too_short_videos": len(short)} if proto.window else {"padded_videos": len(padded)}),
              "non_square_videos": sum(any(t.startswith("non_square") for t in c.conditions) for c in checks),
              "vfr_videos": sum("vfr" in c.conditions for c in checks)}
    return {"errors": errors, "warnings": warnings, "counts": counts}


def validate_videos(report: Any, split: str, paths: Iterable[str | os.PathLike], proto: ModelProtocol,
                    capped: Any = lambda lines, what: lines) -> None:
    """Check ``paths`` (the existing videos of ``split``) under ``proto`` into a
    :class:`~pjbench.benchmarks.tasks.ValidationReport`: counts into ``report.counts[split]``, errors and
    warnings through ``capped(lines, what)`` (the task's cap on long lists)."""
    found = report_checks(check_videos(paths, proto), proto, split)
    report.counts.setdefault(split, {}).update(found["counts"])
    report.errors.extend(capped(found["errors"], "video problems"))
    report.warnings.extend(capped(found["warnings"], "video warnings"))


__all__ = ["ModelProtocol", "VideoCheck", "check_video", "check_videos", "conditions_by_path", "count_conditions", "file_conditions",
           "frame_conditions", "model_protocol", "report_checks", "validate_videos"]
