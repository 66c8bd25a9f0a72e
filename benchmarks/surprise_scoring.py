"""Surprise of every video of a split: decode (DataLoader workers) -> the surprise readout -> the feature cache;
per-item records at a context length, and the context chosen on a dev split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from pjbench.benchmarks.cache import CacheStore, video_fingerprint
from pjbench.benchmarks.conditions import file_conditions
from pjbench.benchmarks.errors import PjbenchError, VideoError
from pjbench.benchmarks.rundir import default_workers
from pjbench.benchmarks.results import ItemRecord, read_jsonl
from pjbench.benchmarks.tasks import VideoItem
from pjbench.benchmarks.video import decode_video, preprocess
from pjbench.encoders.base import Preprocessing
from pjbench.probes.surprise import (
    DTYPES,
    BatchSizer,
    SurpriseConfig,
    scores_at,
    video_surprise,
)


class ClipDataset(torch.utils.data.Dataset):
    """Per index: the cached outputs of the video if the cache has them, else the decoded, preprocessed clip.

    Runs in DataLoader workers, so fingerprinting (reading the file) and decoding are parallel. Errors come
    back as values (recorded as skips). Returns ``(i, fingerprint, cached arrays | None, clip | None, error,
    conditions, corrupt)``; ``conditions``: :func:`pjbench.benchmarks.conditions.file_conditions` (cached items
    too); ``corrupt``: the cache held an entry for the video that failed verification (removed; recomputed).
    """

    def __init__(self, items: Sequence[VideoItem], pp: Preprocessing, store: CacheStore | None = None,
                 read_cache: bool = True):
        self.items = list(items)
        self.pp = pp
        self.store = store
        self.read_cache = read_cache

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, str | None, dict[str, np.ndarray] | None, torch.Tensor | None,
                                           str | None, list[str], bool]:
        item = self.items[i]
        fp = None
        corrupt = False
        try:
            if self.store is not None and self.store.enabled:
                fp = video_fingerprint(item.path)
                if self.read_cache:
                    cached, corrupt = self.store.lookup(fp)
                    if cached is not None:  # its conditions were stored with it (reading them costs a demux)
                        conditions = _cached_conditions(cached)
                        return (i, fp, cached, None, None,
                                file_conditions(item.path) if conditions is None else conditions, False)
            frames = decode_video(item.path, frame_step=self.pp.frame_step, sample_fps=self.pp.sample_fps)
            return i, fp, None, preprocess(frames, self.pp), None, file_conditions(item.path), corrupt
        except VideoError as exc:
            return i, fp, None, None, str(exc), [], corrupt
        except PjbenchError as exc:  # e.g. the file vanished before fingerprinting
            return i, fp, None, None, str(exc), [], corrupt


def _as_is(sample: Any) -> Any:
    return sample


# A cache entry also holds the video's condition tags (facts about the file, the same for every model), as
# UTF-8 JSON bytes, so a warm run need not read the file's timestamps again.
_CONDITIONS_KEY = "conditions_json"


def _surprise_to_arrays(surprise: dict[int, np.ndarray], conditions: list[str] | None = None) -> dict[str, np.ndarray]:
    arrays = {f"c{c}": np.asarray(v, dtype=np.float32) for c, v in surprise.items()}
    if conditions is not None:
        arrays[_CONDITIONS_KEY] = np.frombuffer(json.dumps(conditions).encode(), dtype=np.uint8)
    return arrays


def _cached_conditions(arrays: dict[str, np.ndarray]) -> list[str] | None:
    raw = arrays.get(_CONDITIONS_KEY)
    return None if raw is None else list(json.loads(bytes(np.asarray(raw, dtype=np.uint8)).decode()))


def _arrays_to_surprise(arrays: dict[str, np.ndarray], cfg: SurpriseConfig) -> dict[str, list[float]] | None:
    """Cached arrays -> ``{"12": [...], ...}``; ``None`` if the entry lacks a context of ``cfg`` (treated as a miss)."""
    out = {}
    for c in cfg.contexts:
        arr = arrays.get(f"c{c}")
        if arr is None:
            return None
        out[str(c)] = [float(x) for x in arr]
    return out


def score_split(
    model: Any,
    items: Sequence[VideoItem],
    cfg: SurpriseConfig,
    *,
    partial_path: Path,
    batch_size: int | str | BatchSizer = 8,
    workers: int | None = None,
    desc: str = "scoring",
    progress: bool = True,
    store: CacheStore | None = None,
    read_cache: bool = True,
    prior: dict[str, dict[str, Any]] | None = None,
    pin_memory: bool = False,
    conditions: dict[str, list[str]] | None = None,
    corrupt: set[str] | None = None,
) -> tuple[dict[str, dict[str, list[float]]], list[dict[str, str]], dict[str, str]]:
    """Surprise for every item, resuming from ``partial_path`` and reading/writing the feature cache ``store``.

    ``batch_size``: windows per forward pass, an int, ``"auto"`` or a :class:`BatchSizer` (pass one sizer to
    every split of a run so a size that ran out of memory stays reduced). ``pin_memory``: decoded clips land
    in pinned host memory (for a CUDA model: faster, asynchronous copies).

    ``prior``: rows already finished elsewhere (the shards of this run, in the same format as the partial
    file); they keep the origin they were recorded with, and their skips stay skips. ``conditions``, if given,
    is filled with each scored item's condition tags (``non_square:crop N%``, ``vfr``; also written to the
    partial and shard rows, so resumed and merged runs keep them).
    Returns ``(surprise by item name, skipped [{name, path, reason}], origin by item name)`` where origin is
    ``"previous_run"`` (the partial file of an interrupted run in the same --out), ``"cache"`` or ``"computed"``."""
    done: dict[str, dict[str, list[float]]] = {}
    skipped: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    conds = conditions if conditions is not None else {}
    bad = corrupt if corrupt is not None else set()
    for row in [*(prior or {}).values(), *(read_jsonl(partial_path) if partial_path.exists() else [])]:
        if row.get("cache_corrupt"):
            bad.add(row["name"])
    for row in (prior or {}).values():
        if "skip" in row:
            skipped[row["name"]] = {"name": row["name"], "path": row["path"], "reason": row["skip"]}
        else:
            done[row["name"]] = row["surprise"]
            conds[row["name"]] = list(row.get("conditions") or [])
            origin[row["name"]] = row.get("origin") if row.get("origin") in ("computed", "cache") else "previous_run"
    if partial_path.exists():
        for row in read_jsonl(partial_path):
            if "skip" in row:
                done.pop(row["name"], None)
                skipped[row["name"]] = {"name": row["name"], "path": row["path"], "reason": row["skip"]}
            else:
                skipped.pop(row["name"], None)
                done[row["name"]] = row["surprise"]
                conds[row["name"]] = list(row.get("conditions") or [])
                origin[row["name"]] = "cache" if row.get("origin") == "cache" else "previous_run"
    wanted = {it.name for it in items}
    done = {k: v for k, v in done.items() if k in wanted}
    skipped = {k: v for k, v in skipped.items() if k in wanted}
    origin = {k: v for k, v in origin.items() if k in done}
    todo = [it for it in items if it.name not in done and it.name not in skipped]
    if not todo:
        return done, list(skipped.values()), origin
    sizer = batch_size if isinstance(batch_size, BatchSizer) else BatchSizer(batch_size)
    workers = default_workers() if workers is None else workers
    loader = torch.utils.data.DataLoader(
        ClipDataset(todo, model.preprocessing, store=store, read_cache=read_cache), batch_size=None,
        num_workers=workers, collate_fn=_as_is, prefetch_factor=2 if workers else None, pin_memory=pin_memory,
    )
    partial_path.parent.mkdir(parents=True, exist_ok=True)
    with open(partial_path, "a", encoding="utf-8") as log, tqdm(
        total=len(items), initial=len(items) - len(todo), desc=desc, unit="video", disable=not progress
    ) as bar:
        for i, fp, cached, clip, error, item_conditions, was_corrupt in loader:
            item = todo[i]
            if was_corrupt:
                bad.add(item.name)
            result = _arrays_to_surprise(cached, cfg) if cached is not None else None
            if result is not None and not all(np.isfinite(v).all() for v in result.values()):
                result, cached, clip = None, None, None  # written before finiteness was checked: recompute
            if result is not None:
                origin[item.name] = "cache"
            elif error is None:
                if clip is None:  # an incomplete cache entry: decode now
                    try:
                        frames = decode_video(item.path, frame_step=model.preprocessing.frame_step,
                                              sample_fps=model.preprocessing.sample_fps)
                        clip = preprocess(frames, model.preprocessing)
                    except VideoError as exc:
                        error = str(exc)
                if error is None:
                    try:
                        surprise = sizer.run(lambda bs: video_surprise(model, clip, cfg, batch_size=bs))
                    except ValueError as exc:  # e.g. shorter than one window: a recorded skip, not a crash
                        error = f"{item.path}: {exc}"
                    else:
                        n_bad = sum(int((~np.isfinite(np.asarray(v, dtype=np.float64))).sum()) for v in surprise.values())
                        n_all = sum(int(np.asarray(v).size) for v in surprise.values())
                        if n_bad:  # never cache or score them: a recorded skip naming the video
                            error = (f"{item.path}: non-finite surprise (NaN/inf) in {n_bad} of {n_all} windows; "
                                     "check the checkpoint and --dtype")
                            surprise = None
                    if error is None and surprise is not None:
                        result = {str(c): [float(x) for x in v] for c, v in surprise.items()}
                        origin[item.name] = "computed"
                        if store is not None and fp is not None:
                            store.put(fp, _surprise_to_arrays(surprise, item_conditions), meta={"name": item.name})
            if error is not None or result is None:
                skipped[item.name] = {"name": item.name, "path": str(item.path), "reason": error}
                row = {"name": item.name, "path": str(item.path), "skip": error}
            else:
                done[item.name] = result
                conds[item.name] = item_conditions
                row = {"name": item.name, "surprise": result, "origin": origin[item.name],
                       "conditions": item_conditions}
            if was_corrupt:
                row["cache_corrupt"] = True
            log.write(json.dumps(row) + "\n")
            log.flush()
            bar.update(1)
    return done, list(skipped.values()), origin


def build_records(items: Sequence[VideoItem], surprise: dict[str, dict[str, list[float]]], context: int,
                  origin: dict[str, str] | None = None,
                  conditions: dict[str, list[str]] | None = None, pad: str = "none") -> list[ItemRecord]:
    """One record per scored item, its ``scores`` aggregated at ``context``: over its own windows
    (``pad="none"``), or, as the published ``compute_metrics``, over its row zero-padded to the longest row
    of these items (``pad="zero"``: :func:`pjbench.intphys2.metrics.aggregate_padded`)."""
    scored = [it for it in items if it.name in surprise]
    if pad == "zero":
        from pjbench.intphys2.metrics import aggregate_padded  # the published convention lives with its metric

        rows = [surprise[it.name].get(context, surprise[it.name].get(str(context))) for it in scored]
        if any(r is None for r in rows):
            raise KeyError(f"no surprise computed at context {context}")
        padded = {how: aggregate_padded(rows, how) for how in ("avg", "max")}
        scores = [{how: float(padded[how][i]) for how in padded} for i in range(len(scored))]
    elif pad == "none":
        scores = [scores_at(surprise[it.name], context) for it in scored]
    else:
        raise ValueError(f"pad must be 'none' or 'zero', got {pad!r}")
    records = []
    for it, sc in zip(scored, scores):
        records.append(ItemRecord(
            name=it.name, split=it.split, path=str(it.path), label=it.label, pair_id=it.pair_id,
            cluster=it.cluster, strata=dict(it.strata), surprise=surprise[it.name], scores=sc,
            from_cache=bool(origin and origin.get(it.name, "computed") != "computed"),
            conditions=list((conditions or {}).get(it.name, [])),
        ))
    return records


def select_context(task: Any, records_by_context: dict[int, list[ItemRecord]]) -> tuple[int, dict[str, float | None]]:
    """Context length with the best ``task.selection_score`` on the dev split; ties -> shortest context."""
    scores = {str(c): task.selection_score(recs) for c, recs in sorted(records_by_context.items())}
    valid = {int(c): v for c, v in scores.items() if v is not None and np.isfinite(v)}
    if not valid:
        raise PjbenchError("the dev split has no scorable labelled pairs; pass --context N to fix the context length")
    best = max(valid.values())
    return min(c for c, v in valid.items() if v == best), scores


def check_dtype(dtype: str | None, device: str) -> str:
    """The forward dtype for ``device`` (``None`` = fp32). ``fp16`` is refused on cpu: CPU kernels gain
    nothing from it and its narrow range can overflow; bf16 is the CPU's reduced precision."""
    dtype = dtype or "fp32"
    if dtype not in DTYPES:
        raise PjbenchError(f"--dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if dtype == "fp16" and torch.device(device).type == "cpu":
        raise PjbenchError("--dtype fp16 runs on CUDA GPUs only; on cpu use --dtype bf16 (or fp32)")
    return dtype
