"""``eval --dry-run`` for the surprise readout: the work a run would do, counted from container headers and the
run plan, with the feature-cache and ``--out`` hits; nothing is scored or written."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from pjbench.benchmarks.cache import FeatureCache, video_fingerprint
from pjbench.benchmarks.errors import PjbenchError, VideoError
from pjbench.benchmarks.rundir import RUN_CONFIG_FILE, default_workers
from pjbench.benchmarks.results import dumps, read_jsonl
from pjbench.benchmarks.surprise_plan import make_plan, plan_kwargs, plan_store
from pjbench.benchmarks.tasks import TASKS, VideoItem, default_task
from pjbench.benchmarks.video import frame_times, timestamp_targets
from pjbench.encoders.base import Preprocessing
from pjbench.probes.surprise import plan_surprise


def sampled_frame_count(path: str | os.PathLike, pp: Preprocessing) -> int:
    """How many frames :func:`~pjbench.benchmarks.video.decode_video` keeps of ``path`` under ``pp``, without
    decoding: the container header's frame count (demuxed packets where the header has none) sampled every
    ``round(fps / pp.sample_fps)`` frames, or every ``pp.frame_step`` (always so for a PNG-frame folder, whose
    files are counted); a variable-frame-rate file: its timestamp targets (packet timestamps, demuxed). Raises :class:`VideoError` naming the file if its header cannot be read."""
    import av

    path = Path(path)
    if path.is_dir():
        n, step = sum(1 for _ in path.glob("*.png")), pp.frame_step
    else:
        if not path.is_file():
            raise VideoError("video file not found", path=path)
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise VideoError("no video stream in file", path=path)
                stream = container.streams.video[0]
                n = int(stream.frames or 0)
                if n == 0:  # no count in the header (some WebM/MKV): count packets, still nothing decoded
                    n = sum(1 for packet in container.demux(stream) if packet.size)
                rate = float(stream.average_rate or stream.base_rate or 0)
        except VideoError:
            raise
        except Exception as exc:  # av raises many types
            raise VideoError(f"cannot read video header ({type(exc).__name__}: {exc})", path=path) from exc
        if pp.sample_fps:
            if rate <= 0:
                raise VideoError("cannot read the frame rate needed for sample_fps", path=path)
            step = max(1, round(rate / pp.sample_fps))  # decode_video's rule
            ft = frame_times(path)
            if ft is not None and ft.vfr:  # decode_video samples these by timestamp
                return len(timestamp_targets(ft, pp.sample_fps))
        else:
            step = pp.frame_step
    if n == 0:
        raise VideoError("video has no frames" if not path.is_dir() else "no .png frames in folder", path=path)
    return -(-n // step)


_WORK_KEYS = ("windows", "encoder_calls", "predictor_calls", "context_passes", "tokens_encoded", "predictor_tokens")


def plan_eval(model: str, data_root: str | os.PathLike, out: str | os.PathLike | None = None, *,
              overwrite: str = "only-missing", shard: Any = None, progress: bool = True, workers: int | None = None,
              warmup: bool = False, **kwargs: Any) -> dict[str, Any]:
    """What ``evaluate(model, data_root, out, **kwargs)`` (or its shard ``shard``, ``"i/N"``) would do, before
    anything runs: nothing is scored or compiled, nothing is written to ``out`` or to the feature cache.

    Per split (``"reported"``, then ``"dev"``): ``videos``; ``n_frames`` (sampled frames per video, from the
    container headers: :func:`sampled_frame_count`); ``unreadable`` (headers that cannot be read: the run
    records them as skips); ``work``: :func:`~pjbench.probes.surprise.plan_surprise` totals over every
    readable video (``windows``, ``encoder_calls``, ``predictor_calls``, ``context_passes``, ``tokens_encoded``,
    ``predictor_tokens``; ``too_short``), with ``reference`` and ``saving`` against the per-window,
    per-context loop; ``in_out`` (already finished in ``out``'s partial or shard files, a run with the same
    configuration: they are not redone), ``in_cache`` (of the rest, in the feature cache: one content
    fingerprint per video) and ``to_compute`` (the same totals for what is left). With
    ``batch_size="auto"`` the call counts assume the starting size (32). ``kwargs``: :func:`evaluate`'s
    (``n_boot``, ``seed`` and the like are accepted and unused). Surprise tasks only.

    ``warmup``: also time one batch of windows of the first video still to compute and extrapolate
    (``estimate``: :func:`pjbench.benchmarks.estimate.warmup_estimate`); that forward pass is the only
    computation, and its result is discarded."""
    from pjbench.benchmarks import distributed as dist

    task = kwargs.get("task") or default_task()
    readout = TASKS.get(task).info.get("readout")
    if readout != "surprise":
        raise PjbenchError(f"--dry-run plans surprise tasks; task {task} is scored by a {readout} readout")
    kwargs = plan_kwargs(kwargs, who="plan_eval")
    kwargs["compile"] = False  # planning runs nothing
    out_path = Path(out) if out is not None else None
    plan = make_plan(model, data_root, out_path, overwrite=overwrite, **kwargs)
    shard = dist.Shard.parse(shard) if shard is not None else None
    pp, cfg = plan.enc.preprocessing, plan.cfg
    planned_bs = plan.sizer.size

    # What --out already holds, exactly as evaluate / run_shard would read it.
    config = json.loads(dumps(plan.run_config))
    cfg_files = [] if out_path is None else [out_path / RUN_CONFIG_FILE] + (
        [dist.shard_dir(out_path, shard) / dist.RUN_CONFIG_FILE] if shard else [])
    recorded = [json.loads(f.read_text(encoding="utf-8")) for f in cfg_files if f.is_file()]
    if not recorded:
        out_state = "replaced (--overwrite always)" if overwrite == "always" and out_path is not None and out_path.is_dir() else "new"
    elif overwrite == "always":
        out_state = "replaced (--overwrite always)"
    elif overwrite == "never":
        out_state = "holds a run: --overwrite never refuses it"
    elif all(r == config for r in recorded):
        out_state = "resumes (same configuration)"
    else:
        out_state = "holds a different configuration: the run refuses it unless --overwrite always"
    reuse = out_state.startswith(("new", "resumes"))
    read_cache = plan.cache and overwrite != "always"
    store = plan_store(plan, create=False) if read_cache else None

    def finished_rows(split: str, dev: bool) -> set[str]:
        if out_path is None or not reuse:
            return set()
        names = set(dist.read_shard_rows(out_path, plan.run_config, dist.split_file(split, dev=dev),
                                         shard.count if shard else None)[0])
        partial = out_path / ".partial" / (f"dev-{split}.jsonl" if dev else f"{split}.jsonl")
        if shard is None and partial.is_file():
            names |= {row["name"] for row in read_jsonl(partial)}
        return names

    todo_paths: list[str] = []  # in run order (dev split first), for the warm-up

    def plan_split(role: str, split: str, items: Sequence[VideoItem]) -> dict[str, Any]:
        if shard is not None:
            items = shard.select(items)
        done = finished_rows(split, dev=role == "dev")
        n_frames: dict[str, int] = {}
        unreadable: list[dict[str, str]] = []
        in_cache = 0
        todo: list[int] = []
        for it in tqdm(items, desc=f"planning {split}", unit="video", disable=not progress):
            try:
                n_frames[it.name] = sampled_frame_count(it.path, pp)
            except VideoError as exc:
                unreadable.append({"name": it.name, "path": str(it.path), "reason": str(exc)})
            if it.name in done:
                continue
            if store is not None:
                try:
                    if video_fingerprint(it.path) in store:
                        in_cache += 1
                        continue
                except PjbenchError:
                    pass  # unreadable: already listed
            if it.name in n_frames:
                todo.append(n_frames[it.name])
                todo_paths.append(str(it.path))
        full = plan_surprise(list(n_frames.values()), cfg, pp, batch_size=planned_bs)
        rest = plan_surprise(todo, cfg, pp, batch_size=planned_bs)
        return {
            "role": role, "split": split, "videos": len(items), "n_frames": n_frames, "unreadable": unreadable,
            "work": {"videos": len(n_frames), "too_short": full["too_short"], **full["total"]},
            "reference": full["reference"], "saving": full["saving"],
            "in_out": sum(1 for it in items if it.name in done), "in_cache": in_cache,
            "to_compute": {"videos": len(todo), "too_short": rest["too_short"], **rest["total"]},
        }

    splits = [plan_split("reported", plan.split, plan.items)]
    if plan.dev_items:
        splits.append(plan_split("dev", plan.dev_split, plan.dev_items))
    total = {part: {k: sum(s[part][k] for s in splits) for k in ("videos", "too_short", *_WORK_KEYS)}
             for part in ("work", "to_compute")}
    estimate = None
    if warmup:
        from pjbench.benchmarks.estimate import warmup_estimate

        estimate = warmup_estimate(plan.enc, cfg, plan.sizer, todo_paths, total["to_compute"],
                                   workers=default_workers() if workers is None else workers)
    return {
        "model": plan.enc.info.name, "task": plan.task, "split": plan.split, "dev_split": plan.dev_split,
        "shard": str(shard) if shard else None, "device": plan.device, "dtype": cfg.dtype,
        "batch_size": {"requested": "auto" if plan.sizer.auto else plan.sizer.size, "planned_with": planned_bs},
        "protocol": cfg.to_dict(), "tokens_per_window": pp.tokens_per_frame_group() * (cfg.window // cfg.tubelet),
        "frame_sampling": {"frame_step": pp.frame_step, "sample_fps": pp.sample_fps},
        "cache": {"enabled": plan.cache, "read": bool(read_cache),
                  "root": str(FeatureCache(plan.cache_dir).root) if plan.cache else None,
                  "store": store.key if store is not None else None},
        "out": {"path": str(out_path) if out_path is not None else None, "state": out_state},
        "splits": splits, "total": total, "estimate": estimate,
    }
