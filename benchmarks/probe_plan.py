"""``pjbench eval --dry-run`` for the probe readout: what a probe run would encode and fit, before it runs.

Counts the items of the reported split (and of the labelled split the probe trains on when the reported one
has no labels), the distinct videos behind them, how many already have features in the feature cache under
this model's identity and feature protocol (an entry that exists; it is verified when read), the encoder
work for the rest (frames per clip, tokens per clip, bytes stored per video), and the probe fits
(cross-validation folds × hyper-parameter grid, for the probe and each control). Nothing is decoded,
encoded, trained or written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from pjbench.benchmarks.cache import FeatureCache, model_identity, video_fingerprint
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.rundir import RUN_CONFIG_FILE, check_device
from pjbench.benchmarks.tasks import TASKS, check_model_readouts
from pjbench.encoders.registry import MODELS
from pjbench.probes.crossval import grid_to_dict
from pjbench.probes.features import DEFAULT_POOLED_GRID, feature_protocol

__all__ = ["plan_probe"]


def plan_probe(model: str, task: str, data_root: str | os.PathLike, out: str | os.PathLike, *, split: str | None = None,
               checkpoint: str | None = None, n_frames: int | None = None, pooled_grid: Sequence[int] | None = None,
               folds: int | None = None, grid: Mapping[str, Sequence[Any]] | None = None, limit: int | None = None,
               device: str = "cpu", model_args: Mapping[str, Any] | None = None, cache: bool = True,
               cache_dir: str | os.PathLike | None = None, overwrite: str = "only-missing",
               controls: Sequence[str] | None = None, dev_split: str | None = None, **_: Any) -> dict[str, Any]:
    """The plan of a probe run (see the module docstring) as a dict; :class:`PjbenchError` for a bad request."""
    from pjbench.benchmarks.probe_runner import CONTROLS

    n_frames = 16 if n_frames is None else int(n_frames)
    pooled_grid = tuple(DEFAULT_POOLED_GRID if pooled_grid is None else pooled_grid)
    folds = 5 if folds is None else int(folds)
    controls = tuple(CONTROLS) if controls is None else tuple(controls)
    device = check_device(device)
    if MODELS.get(model).info.get("readouts"):  # what `pjbench list` declares, before any data or weights load
        check_model_readouts(model, MODELS.get(model).info["readouts"], task, "probe")
    task_obj = TASKS.build(task)
    split = split or task_obj.default_split
    split = next((s for s in task_obj.splits if s.lower() == split.lower()), split)
    if split not in task_obj.splits:
        raise PjbenchError(f"task {task} has splits {', '.join(task_obj.splits)}; got --split {split}")
    items = task_obj.load(data_root, split, limit=limit)
    if not items:
        raise PjbenchError(f"{data_root}: split {split} has no items")
    labelled = any(it.label is not None for it in items)
    train_split, train_items = None, []
    if not labelled:
        train_split = dev_split or next((s for s in task_obj.dev_splits_for(split) if task_obj.has_split(data_root, s)),
                                        None)
        train_items = task_obj.load(data_root, train_split) if train_split else []
    enc = MODELS.build(model, checkpoint=checkpoint, device=device, **dict(model_args or {}))
    check_model_readouts(model, getattr(enc.info, "readouts", ()), task, "probe")
    store = (FeatureCache(cache_dir, enabled=True) if cache else FeatureCache(Path(out) / ".features")).store(
        model_identity(enc), kind="features", protocol=feature_protocol(n_frames, pooled_grid))
    videos = list(dict.fromkeys(Path(it.path) for it in [*train_items, *items]))
    missing, cached = [], 0
    for path in videos:
        if not path.exists():
            missing.append(str(path))
        elif overwrite != "always" and video_fingerprint(path) in store:
            cached += 1
    t, h, w = enc.preprocessing.grid(n_frames)
    grid = grid_to_dict(grid)
    settings = len(grid["lr"]) * len(grid["weight_decay"])
    fits_per_probe = (folds * (settings + 1)) if labelled else (settings + 1)
    out = Path(out)
    state = ("empty" if not (out / RUN_CONFIG_FILE).exists() else
             "holds a run (--overwrite decides: only-missing resumes the same configuration)")
    return {
        "model": model, "task": task, "split": split, "labelled": labelled, "train_split": train_split,
        "items": len(items), "train_items": len(train_items), "videos": len(videos), "videos_missing": missing,
        "videos_cached": cached, "videos_to_encode": len(videos) - cached - len(missing),
        "frames_per_clip": n_frames, "encoder_grid": [t, h, w], "tokens_per_clip": t * h * w,
        "pooled_grid": list(pooled_grid), "stored_tokens_per_video": pooled_grid[0] * pooled_grid[1] * pooled_grid[2],
        "cache": {"enabled": bool(cache), "store": store.key, "root": str(store.directory)},
        "probe": {"folds": folds if labelled else None, "grid_settings": settings, "epochs": list(grid["epochs"]),
                  "fits_per_probe": fits_per_probe, "controls": list(controls),
                  "fits_total": fits_per_probe * (1 + len(controls))},
        "out": {"path": str(out), "state": state}, "device": device,
    }
