"""The ``eval --dry-run`` time estimate: a short measured warm-up extrapolated to the plan.

One video still to compute is decoded and preprocessed (timed), then one batch of its windows goes through
the surprise readout (timed); the estimate is ``windows to compute x seconds per window`` plus the decoding
(``videos x seconds per video``, spread over the DataLoader workers, which overlap it with the forward
passes). Nothing is written: the warm-up's numbers are thrown away. The first forward pass carries one-time
costs (allocations, kernel selection), so the estimate errs on the long side.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from pjbench.benchmarks.errors import PjbenchError


def warmup_estimate(model: Any, cfg: Any, sizer: Any, paths: Sequence[str | Path], to_compute: dict[str, int], *,
                    workers: int, max_tries: int = 3) -> dict[str, Any]:
    """Time a warm-up on the first decodable video of ``paths`` (those still to compute, in plan order) that
    holds at least one window, and extrapolate to ``to_compute`` (``videos``, ``windows``). Returns
    ``{"status": "estimated" | "nothing to compute" | "no warm-up", "seconds", "warmup_windows", "video",
    "decode_s", "per_window_s", "why"}``."""
    import torch

    from pjbench.benchmarks.cache import video_fingerprint
    from pjbench.benchmarks.video import decode_video, preprocess
    from pjbench.probes.surprise import video_surprise, window_starts

    if not to_compute.get("videos") or not to_compute.get("windows"):
        return {"status": "nothing to compute", "seconds": 0.0}
    pp = model.preprocessing
    why = "no video to compute could be decoded with one full window"
    for path in list(paths)[:max_tries]:
        t0 = time.perf_counter()
        try:
            video_fingerprint(path)  # the run reads every file once more for its cache key
            clip = preprocess(decode_video(path, frame_step=pp.frame_step, sample_fps=pp.sample_fps), pp)
        except PjbenchError as exc:  # an unreadable video is a recorded skip in the run: try the next one
            why = str(exc)
            continue
        decode_s = time.perf_counter() - t0
        starts = window_starts(len(clip), cfg.window, cfg.stride)
        if not starts:
            continue
        k = min(sizer.size, len(starts))
        part = clip[: cfg.window + (k - 1) * cfg.stride]  # exactly the first k windows
        t1 = time.perf_counter()
        with torch.inference_mode():
            sizer.run(lambda bs: video_surprise(model, part, cfg, batch_size=bs))
        per_window = (time.perf_counter() - t1) / k
        forward = to_compute["windows"] * per_window
        decoding = to_compute["videos"] * decode_s
        seconds = max(forward, decoding / workers) if workers else forward + decoding
        return {"status": "estimated", "seconds": seconds, "warmup_windows": k, "video": str(path),
                "decode_s": decode_s, "per_window_s": per_window}
    return {"status": "no warm-up", "seconds": None, "why": why}


def describe(est: dict[str, Any], device: str) -> str:
    """The line ``--dry-run`` prints."""
    if est["status"] == "nothing to compute":
        return "estimated: nothing to compute (every video is in --out or the feature cache; only metrics are redone)"
    if est["status"] != "estimated":
        return f"estimated: unknown ({est.get('why')})"
    s = est["seconds"]
    return (f"estimated ~{s / 60:.1f} min of decoding and forward passes (~{s:.0f} s, from a warm-up of "
            f"{est['warmup_windows']} windows of {Path(est['video']).name} on {device}: {est['per_window_s']:.3f} s "
            f"per window, {est['decode_s']:.2f} s to read and decode a video; model loading and metrics come on top)")
