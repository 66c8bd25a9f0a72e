"""What a surprise run decides before its first video: :class:`RunPlan` (task, items, encoder, protocol, run
configuration, batch sizer), built once by :func:`make_plan` and shared by the run, its shards and the merge."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from pjbench.benchmarks.cache import CacheStore, FeatureCache, model_identity
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.protocol import Protocol, check_published_masks, named
from pjbench.benchmarks.provenance import fingerprint_items, utcnow
from pjbench.benchmarks.rundir import OVERWRITE_MODES, check_device
from pjbench.benchmarks.surprise_scoring import check_dtype
from pjbench.benchmarks.tasks import TASKS, VideoItem, check_model_readouts
from pjbench.encoders.registry import MODELS
from pjbench.probes.surprise import (
    BatchSizer,
    SurpriseConfig,
    compile_model,
    prefix_contexts,
)


@dataclasses.dataclass
class RunPlan:
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


def make_plan(model: str, data_root: str | os.PathLike, out: Path | None, *, task: str, split: str | None,
          checkpoint: str | None, limit: int | None, batch_size: int | str, device: str, seed: int,
          context: int | None, frame_step: int | None, window: int | None, stride: int | None,
          contexts: Sequence[int] | None, max_context_mode: bool | None, dev_split: str | None, n_boot: int,
          overwrite: str, cache: bool, cache_dir: str | os.PathLike | None, model_args: dict[str, Any] | None,
          dtype: str | None = None, compile: bool = False, computes: bool = True,
          protocol: str | Protocol = "corrected") -> RunPlan:
    """``computes=False``: this process runs no forward pass (a merge), so the dtype is not checked against
    the device (the shards ran it elsewhere) and nothing is compiled. ``task=None``: the default task."""
    if task is None:
        from pjbench.benchmarks.tasks import default_task

        task = default_task()
    t0 = time.time()
    if overwrite not in OVERWRITE_MODES:
        raise PjbenchError(f"--overwrite must be one of {', '.join(OVERWRITE_MODES)}")
    proto = named(protocol or "corrected") if isinstance(protocol, (str, type(None))) else protocol
    model_args, dtype = protocol_model_args(proto, model_args, dtype)
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
    check_model_readouts(model, getattr(enc.info, "readouts", ("surprise",)), task, "surprise")
    if frame_step is not None:  # a fixed step replaces the model's fps-based sampling
        enc.preprocessing = dataclasses.replace(enc.preprocessing, frame_step=frame_step, sample_fps=None)
    if not proto.antialias:
        enc.preprocessing = dataclasses.replace(enc.preprocessing, antialias=False)
    mask_grid = published_mask_grid(proto, enc, model)
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
    items, invalid = without_invalid(task_obj, items)
    dev_items, dev_invalid = without_invalid(task_obj, dev_items)
    if not items:
        raise PjbenchError(f"{data_root}: split {split} has no valid item; first problem: {invalid[0]['reason']}")
    run_config = {
        "task": task, "split": split, "dev_split": dev_split, "limit": limit, "data_fingerprint": data_fp,
        "dev_fingerprint": dev_fp,
        "model": enc.info.to_dict(), "preprocessing": enc.preprocessing.to_dict(), "protocol": cfg.to_dict(),
        "protocol_name": proto.name, "protocol_deviations": proto.to_dict(),
    }
    return RunPlan(task=task, task_obj=task_obj, split=split, dev_split=dev_split, items=items, dev_items=dev_items,
                 n_in_split=n_in_split, enc=enc, cfg=cfg, run_config=run_config, data_fp=data_fp,
                 data_root=str(Path(data_root).resolve()), limit=limit, context=context, device=device, seed=seed,
                 n_boot=n_boot, batch_size=batch_size, cache=cache, cache_dir=cache_dir, started_at=started_at, t0=t0,
                 sizer=sizer, protocol=proto, compile=bool(compile), compiled=compiled, invalid=invalid,
                 dev_invalid=dev_invalid, order=order)


def without_invalid(task_obj: Any, items: list[VideoItem]) -> tuple[list[VideoItem], list[dict[str, str]]]:
    """``items`` without those the task declares invalid (``Task.invalid_items``), and those as skips."""
    reasons = task_obj.invalid_items(items) if hasattr(task_obj, "invalid_items") and items else {}
    if not reasons:
        return items, []
    return ([it for it in items if it.name not in reasons],
            [{"name": it.name, "path": str(it.path), "reason": reasons[it.name]} for it in items if it.name in reasons])


def protocol_model_args(proto: Protocol, model_args: dict[str, Any] | None,
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


def published_mask_grid(proto: Protocol, enc: Any, model: str) -> int | None:
    """224 under the published masks, for a model that implements them; else a clear refusal."""
    if not proto.mask_grid_224:
        return None
    if not hasattr(enc, "set_mask_grid"):
        raise PjbenchError(f"--protocol {proto.name}: model {model} has no published token-mask convention (the "
                           "published surprise loop is V-JEPA 2's); use --protocol corrected")
    from pjbench.benchmarks.protocol import PUBLISHED_GRID_PX

    return PUBLISHED_GRID_PX


def pin_memory_for(plan: RunPlan) -> bool:
    return torch.device(plan.device).type == "cuda"


def plan_store(plan: RunPlan, create: bool = True) -> CacheStore:
    """The run's cache store; ``create=False`` only locates it (writes nothing: for ``plan_eval``)."""
    store = FeatureCache(plan.cache_dir, enabled=plan.cache and create).store(
        model_identity(plan.enc), "surprise", {"readout": "surprise", **plan.cfg.to_dict()})
    return store if create else dataclasses.replace(store, enabled=plan.cache)


PLAN_DEFAULTS: dict[str, Any] = dict(
    task=None, split=None, checkpoint=None, limit=None, batch_size=8, device="cpu", seed=0, context=None,
    frame_step=None, window=None, stride=None, contexts=None, max_context_mode=None, dev_split=None, n_boot=1000,
    cache=True, cache_dir=None, model_args=None, dtype=None, compile=False, protocol="corrected",
)


def plan_kwargs(kwargs: dict[str, Any], who: str = "run_shard") -> dict[str, Any]:
    unknown = set(kwargs) - set(PLAN_DEFAULTS)
    if unknown:
        raise TypeError(f"{who}() got unexpected arguments: {', '.join(sorted(unknown))}")
    return {**PLAN_DEFAULTS, **kwargs}
