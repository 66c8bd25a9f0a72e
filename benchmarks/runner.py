"""Run orchestration for the surprise track: load items -> decode (DataLoader workers) -> readout ->
per-item records -> metrics -> results files.

Resumable: every scored video is appended to ``<out>/.partial/<split>.jsonl`` as soon as it is done; a
re-run with the same configuration (``run_config.json``) scores only what is missing. Final files are
written atomically.

Beyond one process: :func:`run_shard` scores one hash-shard of the items into ``<out>/.shards/<i>-of-<N>/``
(no metrics), and the merge is :func:`evaluate` reading every item from those shard files
(``require_shards=N``); see :mod:`pjbench.benchmarks.distributed` for the layout, the barrier and torchrun.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from pjbench.benchmarks.cache import CacheStore, FeatureCache, model_identity, video_fingerprint
from pjbench.benchmarks.conditions import count_conditions, file_conditions
from pjbench.benchmarks.errors import PjbenchError, VideoError
from pjbench.benchmarks.protocol import Protocol, check_published_masks, named
from pjbench.benchmarks.provenance import base_provenance, data_source, fingerprint_items, utcnow
from pjbench.benchmarks.rundir import OVERWRITE_MODES, RUN_CONFIG_FILE, check_device, default_workers, prepare_out
from pjbench.benchmarks.runlock import holding_out_lock, run_lock
from pjbench.benchmarks.results import (
    ITEMS_FILE,
    ItemRecord,
    RunResults,
    atomic_write_text,
    dumps,
    read_jsonl,
    task_conventions,
    write_jsonl,
    write_results,
)
from pjbench.benchmarks.tasks import TASKS, VideoItem, check_model_readouts
from pjbench.benchmarks.video import decode_video, frame_times, preprocess, timestamp_targets
from pjbench.encoders.base import Preprocessing
from pjbench.encoders.registry import MODELS
from pjbench.probes.surprise import (
    DTYPES,
    BatchSizer,
    SurpriseConfig,
    compile_model,
    plan_surprise,
    prefix_contexts,
    scores_at,
    video_surprise,
)

if TYPE_CHECKING:
    from pjbench.benchmarks.distributed import Shard



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


@dataclasses.dataclass
class _Plan:
    """Everything decided before the first video is scored (shared by a whole run, its shards and the merge)."""

    task: str
    task_obj: Any
    split: str
    dev_split: str | None
    items: list[VideoItem]
    dev_items: list[VideoItem]
    n_in_split: int
    enc: Any
    cfg: SurpriseConfig
    run_config: dict[str, Any]
    data_fp: str
    data_root: str
    limit: int | None
    context: int | None
    device: str
    seed: int
    n_boot: int
    batch_size: int | str
    cache: bool
    cache_dir: str | os.PathLike | None
    started_at: str
    t0: float
    sizer: BatchSizer  # one per run: shared by the dev and the reported split
    protocol: Protocol = Protocol()
    compile: bool = False  # asked for
    compiled: bool = False  # done (the model has a ``compile`` method)
    # items the task leaves out before scoring (invalid pairs), as recorded skips {name, path, reason}
    invalid: list[dict[str, str]] = dataclasses.field(default_factory=list)
    dev_invalid: list[dict[str, str]] = dataclasses.field(default_factory=list)
    order: dict[str, int] = dataclasses.field(default_factory=dict)  # item name -> rank in the split files


def _plan(model: str, data_root: str | os.PathLike, out: Path | None, *, task: str, split: str | None,
          checkpoint: str | None, limit: int | None, batch_size: int | str, device: str, seed: int,
          context: int | None, frame_step: int | None, window: int | None, stride: int | None,
          contexts: Sequence[int] | None, max_context_mode: bool | None, dev_split: str | None, n_boot: int,
          overwrite: str, cache: bool, cache_dir: str | os.PathLike | None, model_args: dict[str, Any] | None,
          dtype: str | None = None, compile: bool = False, computes: bool = True,
          protocol: str | Protocol = "corrected") -> _Plan:
    """``computes=False``: this process runs no forward pass (a merge), so the dtype is not checked against
    the device (the shards ran it elsewhere) and nothing is compiled."""
    t0 = time.time()
    if overwrite not in OVERWRITE_MODES:
        raise PjbenchError(f"--overwrite must be one of {', '.join(OVERWRITE_MODES)}")
    proto = named(protocol or "corrected") if isinstance(protocol, (str, type(None))) else protocol
    model_args, dtype = _protocol_model_args(proto, model_args, dtype)
    device = check_device(device)
    sizer = BatchSizer(batch_size)
    dtype = check_dtype(dtype, device) if computes else (dtype or "fp32")
    torch.manual_seed(seed)
    np.random.seed(seed)
    task_obj = TASKS.build(task)
    started_at = utcnow()
    split = split or task_obj.default_split
    split = next((s for s in task_obj.splits if s.lower() == split.lower()), split)
    if split not in task_obj.splits:
        raise PjbenchError(f"task {task} has splits {', '.join(task_obj.splits)}; got --split {split}")
    if out is not None and out.exists() and not out.is_dir():
        raise PjbenchError(f"--out {out}: exists and is not a directory")
    items = task_obj.load(data_root, split, limit=limit)
    n_in_split = len(task_obj.load(data_root, split)) if limit else len(items)
    if not items:
        raise PjbenchError(f"{data_root}: split {split} has no items")

    enc = MODELS.build(model, checkpoint=checkpoint, device=device, **(model_args or {}))
    check_model_readouts(model, getattr(enc.info, "readouts", ("surprise",)), task, task_obj.readout)
    if frame_step is not None:  # a fixed step replaces the model's fps-based sampling
        enc.preprocessing = dataclasses.replace(enc.preprocessing, frame_step=frame_step, sample_fps=None)
    if not proto.antialias:
        enc.preprocessing = dataclasses.replace(enc.preprocessing, antialias=False)
    mask_grid = _published_mask_grid(proto, enc, model)
    cfg = SurpriseConfig.for_model(enc.preprocessing, window=window, stride=stride, contexts=contexts,
                                   max_context_mode=max_context_mode, dtype=dtype, mask_grid=mask_grid)
    if context is not None and context not in cfg.contexts:
        cfg = SurpriseConfig.for_model(enc.preprocessing, window=cfg.window, stride=cfg.stride,
                                       contexts=(*cfg.contexts, context), max_context_mode=cfg.max_context_mode,
                                       dtype=cfg.dtype, mask_grid=mask_grid)
    if mask_grid is not None:
        pp = enc.preprocessing
        check_published_masks(pp.resolution, cfg.window, (*cfg.contexts, *prefix_contexts(cfg)), pp.patch,
                              pp.tubelet, model)
    compiled = compile_model(enc) if compile and computes else False

    # Dev split: where hyper-parameters (context length, thresholds) are chosen. Never the reported one.
    if dev_split is None:
        dev_split = next((s for s in task_obj.dev_splits_for(split) if task_obj.has_split(data_root, s)), None)
    elif dev_split == split:
        raise PjbenchError(f"--dev-split {dev_split} is the reported split; choose hyper-parameters elsewhere")
    dev_items = task_obj.load(data_root, dev_split) if dev_split else []
    if all(it.label is None for it in items) and not any(it.label is not None for it in dev_items):
        raise PjbenchError(
            f"split {split} has no labels: its submission needs a threshold from a labelled dev split "
            f"({' or '.join(task_obj.dev_splits_for(split))}) under {data_root}"
        )

    data_fp = fingerprint_items(items)
    dev_fp = fingerprint_items(dev_items) if dev_items else None
    order = {it.name: i for i, it in enumerate([*dev_items, *items])}
    items, invalid = _without_invalid(task_obj, items)
    dev_items, dev_invalid = _without_invalid(task_obj, dev_items)
    if not items:
        raise PjbenchError(f"{data_root}: split {split} has no valid item; first problem: {invalid[0]['reason']}")
    run_config = {
        "task": task, "split": split, "dev_split": dev_split, "limit": limit, "data_fingerprint": data_fp,
        "dev_fingerprint": dev_fp,
        "model": enc.info.to_dict(), "preprocessing": enc.preprocessing.to_dict(), "protocol": cfg.to_dict(),
        "protocol_name": proto.name, "protocol_deviations": proto.to_dict(),
    }
    return _Plan(task=task, task_obj=task_obj, split=split, dev_split=dev_split, items=items, dev_items=dev_items,
                 n_in_split=n_in_split, enc=enc, cfg=cfg, run_config=run_config, data_fp=data_fp,
                 data_root=str(Path(data_root).resolve()), limit=limit, context=context, device=device, seed=seed,
                 n_boot=n_boot, batch_size=batch_size, cache=cache, cache_dir=cache_dir, started_at=started_at, t0=t0,
                 sizer=sizer, protocol=proto, compile=bool(compile), compiled=compiled, invalid=invalid,
                 dev_invalid=dev_invalid, order=order)


def _without_invalid(task_obj: Any, items: list[VideoItem]) -> tuple[list[VideoItem], list[dict[str, str]]]:
    """``items`` without those the task declares invalid (``Task.invalid_items``), and those as skips."""
    reasons = task_obj.invalid_items(items) if hasattr(task_obj, "invalid_items") and items else {}
    if not reasons:
        return items, []
    return ([it for it in items if it.name not in reasons],
            [{"name": it.name, "path": str(it.path), "reason": reasons[it.name]} for it in items if it.name in reasons])


def _protocol_model_args(proto: Protocol, model_args: dict[str, Any] | None,
                         dtype: str | None) -> tuple[dict[str, Any], str | None]:
    """The model arguments and dtype a protocol implies; explicit options that contradict it are refused."""
    args = dict(model_args or {})
    if not proto.encoder_split:
        if args.get("context_encoder", "target_encoder") != "target_encoder":
            raise PjbenchError(f"--protocol {proto.name} encodes the context with target_encoder; drop --model-arg "
                               f"context_encoder={args['context_encoder']}")
        args["context_encoder"] = "target_encoder"
    elif proto.name == "as-published" and args.get("context_encoder") == "target_encoder":
        raise PjbenchError("--protocol as-published uses the official encoder split (context from encoder); drop "
                           "--model-arg context_encoder=target_encoder")
    if proto.dtype is not None:
        if dtype is not None and dtype != proto.dtype:
            raise PjbenchError(f"--protocol {proto.name} runs in {proto.dtype} (the published config); drop --dtype {dtype}")
        dtype = proto.dtype
    return args, dtype


def _published_mask_grid(proto: Protocol, enc: Any, model: str) -> int | None:
    """224 under the published masks, for a model that implements them; else a clear refusal."""
    if not proto.mask_grid_224:
        return None
    if not hasattr(enc, "set_mask_grid"):
        raise PjbenchError(f"--protocol {proto.name}: model {model} has no published token-mask convention (the "
                           "published surprise loop is V-JEPA 2's); use --protocol corrected")
    from pjbench.benchmarks.protocol import PUBLISHED_GRID_PX

    return PUBLISHED_GRID_PX


def _pin(plan: _Plan) -> bool:
    return torch.device(plan.device).type == "cuda"


def _store(plan: _Plan, create: bool = True) -> CacheStore:
    """The run's cache store; ``create=False`` only locates it (writes nothing: for ``plan_eval``)."""
    store = FeatureCache(plan.cache_dir, enabled=plan.cache and create).store(
        model_identity(plan.enc), "surprise", {"readout": "surprise", **plan.cfg.to_dict()})
    return store if create else dataclasses.replace(store, enabled=plan.cache)


def _shard_rows(plan: _Plan, out: Path, count: int | None, strict: bool) -> tuple[dict[str, dict], dict[str, dict]]:
    """Finished rows of the shards in ``out`` for the dev split and the reported split. ``strict`` (the merge):
    every item must have one, else an error naming the unfinished shards and their missing items."""
    from pjbench.benchmarks import distributed as dist

    dev_rows, ignored = (dist.read_shard_rows(out, plan.run_config, dist.split_file(plan.dev_split, dev=True), count)
                         if plan.dev_items else ({}, []))
    rows, ignored2 = dist.read_shard_rows(out, plan.run_config, dist.split_file(plan.split), count)
    if strict:
        missing = [it.name for it in plan.dev_items if it.name not in dev_rows]
        missing += [it.name for it in plan.items if it.name not in rows]
        if missing:
            assert count is not None
            by_shard = dist.missing_by_shard(missing, count)
            detail = "; ".join(f"shard {s}/{count}: {len(names)} item(s), e.g. {', '.join(names[:3])}"
                               for s, names in by_shard.items())
            note = (f" (shard directories with another configuration were ignored: {', '.join(sorted(set(ignored + ignored2)))})"
                    if ignored or ignored2 else "")
            raise PjbenchError(
                f"cannot merge {out}: {len(missing)} of {len(plan.items) + len(plan.dev_items)} items have no shard "
                f"result -- shards {', '.join(str(s) for s in by_shard)} of {count} are missing or unfinished{note}. "
                f"Missing: {detail}. Run (or re-run) those shards with --shard I/{count}, then merge again")
    return dev_rows, rows


def _score_and_finish(plan: _Plan, out: Path, *, workers: int | None, progress: bool, read_cache: bool,
                      dev_prior: dict[str, dict] | None = None, prior: dict[str, dict] | None = None
                      ) -> tuple[RunResults, Path]:
    enc, cfg, split, dev_split = plan.enc, plan.cfg, plan.split, plan.dev_split
    store = _store(plan)
    dev_surprise: dict[str, dict[str, list[float]]] = {}
    dev_skipped: list[dict[str, str]] = []
    conditions: dict[str, list[str]] = {}
    dev_conditions: dict[str, list[str]] = {}
    corrupt: set[str] = set()
    if plan.dev_items:
        dev_surprise, dev_skipped, _ = score_split(
            enc, plan.dev_items, cfg, partial_path=out / ".partial" / f"dev-{dev_split}.jsonl",
            batch_size=plan.sizer, workers=workers, desc=f"{enc.info.name} {plan.task}/{dev_split} (dev)",
            progress=progress, store=store, read_cache=read_cache, prior=dev_prior, pin_memory=_pin(plan),
            conditions=dev_conditions, corrupt=corrupt)
    surprise, skipped, origin = score_split(
        enc, plan.items, cfg, partial_path=out / ".partial" / f"{split}.jsonl", batch_size=plan.sizer,
        workers=workers, desc=f"{enc.info.name} {plan.task}/{split}", progress=progress, store=store,
        read_cache=read_cache, prior=prior, pin_memory=_pin(plan), conditions=conditions, corrupt=corrupt)
    return _finish(plan, out, store, surprise, skipped, origin, dev_surprise, dev_skipped,
                   conditions=conditions, dev_conditions=dev_conditions, n_cache_corrupt=len(corrupt))


def _finish(plan: _Plan, out: Path, store: CacheStore, surprise: dict[str, dict[str, list[float]]],
            skipped: list[dict[str, str]], origin: dict[str, str], dev_surprise: dict[str, dict[str, list[float]]],
            dev_skipped: list[dict[str, str]], *, conditions: dict[str, list[str]] | None = None,
            dev_conditions: dict[str, list[str]] | None = None, n_cache_corrupt: int = 0) -> tuple[RunResults, Path]:
    """Context selection on the dev split, metrics, results files."""
    task_obj, cfg, enc, split, dev_split, items, dev_items = (
        plan.task_obj, plan.cfg, plan.enc, plan.split, plan.dev_split, plan.items, plan.dev_items)
    context, seed, n_boot = plan.context, plan.seed, plan.n_boot
    # skips in item order, whatever order the workers (or the shards) finished them in
    skipped = _in_item_order([*plan.invalid, *skipped], plan.order)
    dev_skipped = _in_item_order([*plan.dev_invalid, *dev_skipped], plan.order)
    if not surprise:
        raise PjbenchError(f"no video of {split} could be scored; first problem: {skipped[0]['reason'] if skipped else '?'}")

    proto = plan.protocol
    pad = "zero" if proto.zero_pad else "none"
    selection: dict[str, Any]
    if context is not None:
        chosen, selection = context, {"rule": "fixed", "selected": context, "why": "--context given"}
    elif proto.context_on_reported and any(it.label is not None for it in items):
        by_c = {c: build_records(items, surprise, c, pad=pad) for c in cfg.contexts}
        chosen, scores = select_context(task_obj, by_c)
        selection = {"rule": "reported", "split": split, "selected": chosen, "criterion": task_obj.selection_criterion,
                     "scores": scores, "optimistic": True,
                     "why": f"--protocol {proto.name}: best context picked on the reported split, as the published "
                            "tables do (optimistic: the number is selected on the data it reports)"}
    elif dev_items and dev_surprise and any(it.label is not None for it in dev_items):
        by_c = {c: build_records(dev_items, dev_surprise, c, pad=pad) for c in cfg.contexts}
        chosen, dev_scores = select_context(task_obj, by_c)
        selection = {"rule": "dev", "dev_split": dev_split, "selected": chosen, "criterion": task_obj.selection_criterion,
                     "dev_scores": dev_scores}
    else:
        chosen = cfg.contexts[(len(cfg.contexts) - 1) // 2]
        selection = {"rule": "fixed", "selected": chosen, "why": "no separate labelled dev split; default = middle context"}

    records = build_records(items, surprise, chosen, origin=origin, conditions=conditions, pad=pad)
    dev_records = build_records(dev_items, dev_surprise, chosen, conditions=dev_conditions, pad=pad) if dev_items else []
    thresholds = task_obj.thresholds(dev_records) if dev_records and not proto.context_on_reported else {}
    rule = getattr(task_obj, "threshold_rule", "the task's threshold of the possible videos' score")
    if proto.context_on_reported:
        threshold = {"value": None, "source": split, "optimistic": True,
                     "rule": "fitted on the reported split's possible videos, as the published compute_metrics "
                             f"(--protocol {proto.name}; optimistic)"}
    elif thresholds:
        threshold = {"value": thresholds, "source": dev_split, "rule": rule}
    else:
        threshold = {"value": None, "source": split,
                     "rule": f"{rule}, fitted on the reported split (no dev split: optimistic)"}
    metrics = task_obj.metrics(records, n_boot=n_boot, seed=seed, threshold=thresholds or None)

    files = {"items": ITEMS_FILE}
    write_jsonl(out / ITEMS_FILE, records)
    if dev_records:
        write_jsonl(out / "dev_items.jsonl", dev_records)
        files["dev_items"] = "dev_items.jsonl"
    if not any(r.label is not None for r in records):  # unlabelled split: a leaderboard file instead
        # A leaderboard file must list every video: a limited or lossy run writes a clearly named partial file.
        complete = len(records) == plan.n_in_split
        name = "submission.jsonl" if complete else "submission.partial.jsonl"
        sub = task_obj.write_submission(out / name, records, thresholds)
        if sub is not None:
            files["submission" if complete else "submission_partial"] = sub.name

    prov = base_provenance(seed, plan.device)
    prov["started_at"] = plan.started_at
    prov.update({"finished_at": utcnow(), "wall_time_s": round(time.time() - plan.t0, 3),
                 "compile": {"requested": plan.compile, "compiled": plan.compiled},
                 "pin_memory": _pin(plan)})
    n_origin = {k: sum(1 for r in records if origin.get(r.name) == k) for k in ("computed", "cache", "previous_run")}
    protocol = {"readout": task_obj.readout, "name": proto.name, **cfg.to_dict(), "context_selection": selection,
                "threshold": threshold, "n_boot": n_boot, "ci_level": 0.95, "batch_size": plan.sizer.to_dict(),
                "deviations": proto.to_dict(), "optimistic": proto.optimistic,
                "encoders": {"context": enc.info.extra.get("context_encoder"),
                             "targets": enc.info.extra.get("target_encoder"), "note": enc.info.extra.get("encoders")}}
    results = RunResults(
        task={"name": plan.task, "split": split, "data_root": plan.data_root, "data_fingerprint": plan.data_fp,
              "limit": plan.limit, "n_items": plan.n_in_split, "n_selected": len(items) + len(plan.invalid), "n_scored": len(records),
              "skipped": skipped, "dev_split": dev_split, "n_dev_items": len(dev_items),
              "n_dev_scored": len(dev_surprise), "dev_skipped": dev_skipped,
              "n_computed": n_origin["computed"], "n_from_cache": n_origin["cache"],
              "n_from_previous_run": n_origin["previous_run"], "n_cache_corrupt": n_cache_corrupt,
              **left_out_summary(task_obj, records),
              "conditions": count_conditions(records)},
        model={**enc.info.to_dict(), "preprocessing": enc.preprocessing.to_dict(), "identity": model_identity(enc),
               "cache": {"enabled": plan.cache, "root": str(FeatureCache(plan.cache_dir).root) if plan.cache else None,
                         "store": store.key}},
        protocol=protocol, metrics=metrics, provenance=prov, files=files, data=data_source(plan.data_root),
        conventions=task_conventions(task_obj, zero_pad=proto.zero_pad, debug_pairing=proto.debug_pairing),
    )
    return results, write_results(out, results)


def left_out_summary(task_obj: Any, records: Sequence[ItemRecord]) -> dict[str, Any]:
    """``{"left_out": [{name, reason}], "n_in_metrics": N}``: scored records the task's metrics leave out
    (``Task.left_out``: e.g. an IntPhys 2 video whose partner was skipped), so coverage is never silent."""
    reasons = task_obj.left_out(records) if hasattr(task_obj, "left_out") else {}
    return {"left_out": [{"name": r.name, "reason": reasons[r.name]} for r in records if r.name in reasons],
            "n_in_metrics": sum(1 for r in records if r.name not in reasons)}


def _in_item_order(skipped: list[dict[str, str]], rank: dict[str, int]) -> list[dict[str, str]]:
    return sorted(skipped, key=lambda s: rank.get(s["name"], len(rank)))


@holding_out_lock
def evaluate(
    model: str,
    data_root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    task: str = "intphys2",
    split: str | None = None,
    checkpoint: str | None = None,
    limit: int | None = None,
    batch_size: int | str = 8,
    device: str = "cpu",
    seed: int = 0,
    workers: int | None = None,
    context: int | None = None,
    frame_step: int | None = None,
    window: int | None = None,
    stride: int | None = None,
    contexts: Sequence[int] | None = None,
    max_context_mode: bool | None = None,
    dev_split: str | None = None,
    n_boot: int = 1000,
    overwrite: str = "only-missing",
    progress: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    model_args: dict[str, Any] | None = None,
    require_shards: int | None = None,
    dtype: str | None = None,
    compile: bool = False,
    protocol: str | Protocol = "corrected",
) -> tuple[RunResults, Path]:
    """Score ``model`` on ``task``/``split`` under ``data_root``; write ``results.json`` + ``items.jsonl`` to ``out``.

    Context length: ``context`` fixes it; otherwise it is chosen on the task's dev split (IntPhys 2: Debug;
    for HeldOut: Main, else Debug) when that split exists and is not the reported one, else it is fixed at
    half the window. The HeldOut split also gets ``submission.jsonl`` thresholded on the dev split.

    Per-video surprise is read from / written to the feature cache (``cache_dir``, default ``$PJBENCH_CACHE``
    or the XDG cache) under the model's identity; ``cache=False`` neither reads nor writes it, and
    ``overwrite="always"`` recomputes every video and rewrites its entry. ``model_args`` go to the model's
    factory (e.g. ``{"layer": -4}``) and become part of its identity.

    Items finished by shards of this run in ``out`` (:func:`run_shard`, same configuration) are taken from
    their shard files with their recorded origin and skips; the rest is computed. ``require_shards=N`` is the
    merge of an ``N``-shard run: every item must come from those shards, nothing is computed, and a missing
    item is an error naming its shard (see :mod:`pjbench.benchmarks.distributed`).

    Speed: ``batch_size`` windows per forward pass, or ``"auto"`` (start at 32, halve on out-of-memory and
    keep the smaller size; recorded in ``protocol.batch_size``); ``compile``: ``torch.compile`` the model
    where it supports it (recorded in ``provenance.compile``); on CUDA, decoded clips are pinned in host
    memory. These change no number beyond float rounding. ``dtype`` ``fp32``/``bf16``/``fp16`` is the
    autocast compute dtype (``fp16``: CUDA only); it does move the numbers, so it is part of the protocol,
    of the run configuration and of the cache key. :func:`plan_eval` counts the work before a run.

    ``protocol``: ``"corrected"`` (default) or ``"as-published"`` (the published code's numbers, bugs
    included), or a :class:`~pjbench.benchmarks.protocol.Protocol` with single deviations (``pjbench
    ablate``); its name is in the run configuration and ``results.protocol.name``, and the deviations that
    change per-video surprise (masks, antialias, dtype, encoders) are in the cache key.
    Returns ``(results, path to results.json)``.
    """
    out = Path(out)
    plan = _plan(model, data_root, out, task=task, split=split, checkpoint=checkpoint, limit=limit,
                 batch_size=batch_size, device=device, seed=seed, context=context, frame_step=frame_step,
                 window=window, stride=stride, contexts=contexts, max_context_mode=max_context_mode,
                 dev_split=dev_split, n_boot=n_boot, overwrite=overwrite, cache=cache, cache_dir=cache_dir,
                 model_args=model_args, dtype=dtype, compile=compile, computes=not require_shards,
                 protocol=protocol)
    if require_shards:
        return _merge_shards(plan, out, require_shards, workers=workers, progress=progress)
    prepare_out(out, plan.run_config, overwrite)
    dev_prior, prior = _shard_rows(plan, out, None, strict=False) if overwrite != "always" else ({}, {})
    return _score_and_finish(plan, out, workers=workers, progress=progress, read_cache=overwrite != "always",
                             dev_prior=dev_prior, prior=prior)


def _merge_shards(plan: _Plan, out: Path, count: int, *, workers: int | None, progress: bool) -> tuple[RunResults, Path]:
    dev_prior, prior = _shard_rows(plan, out, count, strict=True)
    # The merge rewrites every result file of --out from the shards (idempotent); the shards stay.
    prepare_out(out, plan.run_config, "always", keep_shards=True)
    return _score_and_finish(plan, out, workers=workers, progress=progress, read_cache=False,
                             dev_prior=dev_prior, prior=prior)


@dataclasses.dataclass
class ShardOutcome:
    """What one shard did. ``merged`` is ``(results, path)`` when this process also merged the run;
    ``pending`` lists the shards not finished when it looked (empty once merged)."""

    shard: "Shard"
    directory: Path
    n_items: int  # of the reported split and the dev split, owned by this shard
    n_scored: int
    n_skipped: int
    n_computed: int  # in this attempt (the rest: the shard's earlier attempt or the feature cache)
    pending: list[int]
    merged: tuple[RunResults, Path] | None = None


def run_shard(
    model: str,
    data_root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    shard: Any,
    merge: str = "if-complete",
    barrier_timeout: float | None = None,
    run_id: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    overwrite: str = "only-missing",
    **kwargs: Any,
) -> ShardOutcome:
    """Score shard ``shard`` (``"i/N"`` or a :class:`~pjbench.benchmarks.distributed.Shard`) of a run: only the
    items of the reported and dev splits it owns, into ``<out>/.shards/<i>-of-<N>/`` and the feature cache;
    no metrics. ``kwargs`` are :func:`evaluate`'s (same meaning; every shard of a run must get the same).

    ``merge``: ``"if-complete"`` merges when this shard finds every shard done (the last one to finish
    merges); ``"wait"`` waits for the others (file barrier; a dead or failed shard is an error after
    ``barrier_timeout`` seconds) and merges (torchrun's rank 0); ``"never"`` leaves it to ``pjbench merge``.
    ``overwrite="always"`` recomputes this shard's items (it never touches other shards' files)."""
    from pjbench.benchmarks import distributed as dist

    if merge not in ("if-complete", "wait", "never"):
        raise PjbenchError(f"merge must be if-complete, wait or never; got {merge!r}")
    shard = dist.Shard.parse(shard)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PjbenchError(f"--out {out}: exists and is not a directory")
    sdir = dist.shard_dir(out, shard)
    t_start = time.time()
    with run_lock(sdir), dist.Heartbeat(sdir, run_id):
        try:
            plan = _plan(model, data_root, out, overwrite=overwrite, **_plan_kwargs(kwargs))
            _prepare_shard(out, sdir, plan, overwrite, kwargs, model)
            store = _store(plan)
            read_cache = overwrite != "always"
            tag = f" [shard {shard}]"
            dev_mine = shard.select(plan.dev_items)
            mine = shard.select(plan.items)
            results = []
            for part, is_dev, split in ((dev_mine, True, plan.dev_split), (mine, False, plan.split)):
                if not part:
                    continue
                results.append(score_split(
                    plan.enc, part, plan.cfg, partial_path=sdir / dist.split_file(split, dev=is_dev),
                    batch_size=plan.sizer, workers=workers, progress=progress, store=store, pin_memory=_pin(plan),
                    read_cache=read_cache, desc=f"{plan.enc.info.name} {plan.task}/{split}{' (dev)' if is_dev else ''}{tag}"))
            n_scored = sum(len(r[0]) for r in results)
            n_skipped = sum(len(r[1]) for r in results)
            n_computed = sum(sum(1 for o in r[2].values() if o == "computed") for r in results)
            dist.mark_done(sdir, {"shard": str(shard), "n_items": len(mine) + len(dev_mine), "n_scored": n_scored,
                                  "n_skipped": n_skipped, "n_computed": n_computed, "run_id": run_id,
                                  "batch_size": plan.sizer.to_dict()})
        except BaseException as exc:
            dist.mark_failed(sdir, f"{type(exc).__name__}: {exc}", run_id)
            raise
        outcome = ShardOutcome(shard, sdir, len(mine) + len(dev_mine), n_scored, n_skipped, n_computed, pending=[])
        if merge == "wait":
            dist.wait_for_shards(out, shard.count, plan.run_config, run_id=run_id, since=t_start,
                                 timeout=dist.DEFAULT_BARRIER_TIMEOUT_S if barrier_timeout is None else barrier_timeout)
        outcome.pending = dist.shards_done(out, shard.count, plan.run_config)
        if merge != "never" and not outcome.pending:
            with run_lock(out):
                outcome.merged = _merge_shards(plan, out, shard.count, workers=workers, progress=progress)
    return outcome


_PLAN_DEFAULTS: dict[str, Any] = dict(
    task="intphys2", split=None, checkpoint=None, limit=None, batch_size=8, device="cpu", seed=0, context=None,
    frame_step=None, window=None, stride=None, contexts=None, max_context_mode=None, dev_split=None, n_boot=1000,
    cache=True, cache_dir=None, model_args=None, dtype=None, compile=False, protocol="corrected",
)


def _plan_kwargs(kwargs: dict[str, Any], who: str = "run_shard") -> dict[str, Any]:
    unknown = set(kwargs) - set(_PLAN_DEFAULTS)
    if unknown:
        raise TypeError(f"{who}() got unexpected arguments: {', '.join(sorted(unknown))}")
    return {**_PLAN_DEFAULTS, **kwargs}


def _prepare_shard(out: Path, sdir: Path, plan: _Plan, overwrite: str, kwargs: dict[str, Any], model: str) -> None:
    """Check the shard may write here, reset its completion markers, record its configuration and invocation."""
    from pjbench.benchmarks import distributed as dist

    config = json.loads(dumps(plan.run_config))
    top = out / RUN_CONFIG_FILE
    mine = sdir / dist.RUN_CONFIG_FILE
    if overwrite == "never" and (top.exists() or mine.exists()):
        raise PjbenchError(f"{out} already holds a run; --overwrite never refuses to touch it")
    for path in (top, mine):
        if overwrite != "always" and path.exists() and json.loads(path.read_text(encoding="utf-8")) != config:
            previous = json.loads(path.read_text(encoding="utf-8"))
            diff = sorted(k for k in config if config.get(k) != previous.get(k))
            raise PjbenchError(
                f"{path.parent} holds a run with a different configuration ({', '.join(diff)} differ); "
                "pass --overwrite always to replace it or choose another --out")
    dist.reset_shard_dir(sdir, wipe=overwrite == "always")
    sdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(mine, dumps(plan.run_config) + "\n")
    plan_kwargs = _plan_kwargs(kwargs)
    invocation = {
        **{k: v for k, v in plan_kwargs.items() if k != "device"},
        "model": model, "data_root": plan.data_root,
        "split": plan.split, "dev_split": plan.dev_split,
        "contexts": list(plan_kwargs["contexts"]) if plan_kwargs["contexts"] is not None else None,
        "cache_dir": str(FeatureCache(plan.cache_dir).root) if plan.cache else None,
    }
    atomic_write_text(sdir / dist.INVOCATION_FILE, dumps(invocation) + "\n")


# -- eval --dry-run ---------------------------------------------------------------------------------------


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

    task = kwargs.get("task", _PLAN_DEFAULTS["task"])
    readout = TASKS.get(task).info.get("readout")
    if readout != "surprise":
        raise PjbenchError(f"--dry-run plans surprise tasks; task {task} is scored by a {readout} readout")
    kwargs = _plan_kwargs(kwargs, who="plan_eval")
    kwargs["compile"] = False  # planning runs nothing
    out_path = Path(out) if out is not None else None
    plan = _plan(model, data_root, out_path, overwrite=overwrite, **kwargs)
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
    store = _store(plan, create=False) if read_cache else None

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
