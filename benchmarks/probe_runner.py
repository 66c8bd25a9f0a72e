"""Run orchestration for the probe track (MVPBench, CausalVQA): load items -> frozen-encoder features
(cached per video) -> attentive probe trained by grouped cross-validation -> held-out predictions per
item -> metrics -> results files.

Labelled split (MVPBench ``mini``/``full``, CausalVQA ``debug``): ``folds``-fold cross-validation grouped
by pair and stratified (:mod:`pjbench.probes.crossval`); every item gets a prediction from the fold in
which it was held out. Unlabelled split (CausalVQA ``test``): the probe is trained on the task's labelled
dev split (``task.dev_splits_for(split)``) and predicts the split, which becomes a submission file.

Metrics scheme of ``results.json``:

- ``task.metrics(records)`` of the probe, unchanged (e.g. ``pair_accuracy[all]``, ``pair_accuracy[config=...]``);
- the same rows for each control with the name prefixed: ``control_video_blind/pair_accuracy``;
- ``probe_minus_video_blind/<headline>``: probe minus control in the task's headline (``task.headline``
  macro-averaged over ``task.macro_over``: MVPBench ``pair_accuracy`` over configs, CausalVQA
  ``paired_accuracy`` over type x difficulty; a task declaring no ``macro_over`` gets
  ``pair_accuracy_pooled``), 95 % CI by a *paired* cluster bootstrap (both runs resampled with the same
  pairs); ``protocol.controls.video_blind.probe_beats_video_blind`` says whether that CI lies above 0
  (also ``protocol.probe_beats_video_blind``; ``None`` when no control ran or the CI is undefined).

Resumable enough: features come from the cache on a re-run, so only the probe training is recomputed
(``provenance.n_from_cache`` counts the videos read from the cache).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from pjbench.benchmarks.cache import FeatureCache, model_identity
from pjbench.benchmarks.conditions import conditions_by_path, count_conditions
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.probe_records import (  # noqa: F401  (paired_difference, usable_items: re-exported)
    CONTROL_ITEMS,
    CONTROLS,
    cv_stratum,
    paired_difference,
    probe_record,
    usable_items,
)
from pjbench.benchmarks.provenance import base_provenance, data_source, fingerprint_items, utcnow
from pjbench.benchmarks.results import (
    ITEMS_FILE,
    ItemRecord,
    RunResults,
    task_conventions,
    write_jsonl,
    write_results,
)
from pjbench.benchmarks.rundir import OVERWRITE_MODES, check_device, default_workers, prepare_out
from pjbench.benchmarks.tasks import TASKS, QAItem, check_model_readouts, spec_of
from pjbench.encoders.registry import MODELS
from pjbench.probes.attentive import AttentiveProbe, ProbeConfig, ProbeData, TrainParams, predict_scores, train_probe
from pjbench.probes.crossval import cross_val_predict, fit_select_predict, grid_to_dict, grouped_stratified_folds
from pjbench.probes.features import DEFAULT_LRU_BYTES, DEFAULT_POOLED_GRID, extract_features, feature_protocol
from pjbench.probes.text import build_text_encoder

__all__ = ["CONTROLS", "evaluate_probe", "paired_difference", "usable_items"]

# ------------------------------------------------------------------------------------------------------
def evaluate_probe(
    model: str,
    task: str,
    data_root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split: str | None = None,
    checkpoint: str | None = None,
    text_encoder: Any = None,
    folds: int = 5,
    n_frames: int = 16,
    pooled_grid: Sequence[int] = DEFAULT_POOLED_GRID,
    limit: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    workers: int | None = None,
    n_boot: int = 1000,
    overwrite: str = "only-missing",
    controls: Sequence[str] = ("video_blind",),
    progress: bool = True,
    model_args: Mapping[str, Any] | None = None,
    batch_size: int = 8,
    grid: Mapping[str, Sequence[Any]] | None = None,
    probe_config: ProbeConfig | Mapping[str, Any] | None = None,
    dev_split: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    feature_memory_bytes: int = DEFAULT_LRU_BYTES,
    shard: Any = None,
    require_shards: int | None = None,
    merge: str = "if-complete",
    barrier_timeout: float | None = None,
    run_id: str | None = None,
) -> Any:
    """Attentive probe on frozen ``model`` features for a QA task; writes ``results.json``, ``items.jsonl``
    (held-out predictions), ``control_<name>_items.jsonl`` per control, and for an unlabelled split a
    submission file. Returns ``(results, path to results.json)``.

    ``text_encoder``: ``None``/``"learned"`` (hashed words, trained with the probe), an HF id or local
    directory of a frozen text model, or a :class:`pjbench.probes.text.TextEncoder`. ``grid``: overrides of
    ``{"lr", "weight_decay", "epochs"}`` value lists (chosen per fold by inner validation).
    ``probe_config``: :class:`ProbeConfig` or its fields. ``batch_size``: clips per encoder call.
    ``cache_dir``/``use_cache``: feature cache root (default ``$PJBENCH_CACHE``); with ``use_cache=False``
    features go to ``<out>/.features`` instead (still streamed from disk). ``feature_memory_bytes`` bounds
    the in-memory LRU of features during training (default 1 GiB = 4096 videos of a ViT-L at the default
    grid; beyond it features are re-read from their files per batch). ``dev_split``: only for an
    unlabelled split, the labelled split to train on (default: the first of ``task.dev_splits_for``
    present under ``data_root``); a labelled split is cross-validated on itself.

    Beyond one process (:mod:`pjbench.benchmarks.probe_shards`): ``shard="i/N"`` encodes only the videos
    that shard owns into the feature store and ``<out>/.shards/<i>-of-<N>/`` (no probe is trained) and
    returns a :class:`~pjbench.benchmarks.runner.ShardOutcome`; the last shard to finish (``merge``
    ``"if-complete"``; ``"wait"``: wait for the others, torchrun's rank 0; ``"never"``: ``pjbench merge``)
    trains the probe on every shard's features: ``require_shards=N``, which refuses, naming them, shards
    that have not finished. The results equal a one-process run's.
    """
    from pjbench.benchmarks import probe_shards

    return probe_shards.locked(_evaluate_probe, out, shard, dict(
        model=model, task=task, data_root=data_root, out=out, split=split, checkpoint=checkpoint,
        text_encoder=text_encoder, folds=folds, n_frames=n_frames, pooled_grid=pooled_grid, limit=limit,
        device=device, seed=seed, workers=workers, n_boot=n_boot, overwrite=overwrite, controls=controls,
        progress=progress, model_args=model_args, batch_size=batch_size, grid=grid, probe_config=probe_config,
        dev_split=dev_split, cache_dir=cache_dir, use_cache=use_cache, feature_memory_bytes=feature_memory_bytes,
        shard=shard, require_shards=require_shards, merge=merge, barrier_timeout=barrier_timeout, run_id=run_id))


def _evaluate_probe(model, task, data_root, out, *, split, checkpoint, text_encoder, folds, n_frames, pooled_grid,
                    limit, device, seed, workers, n_boot, overwrite, controls, progress, model_args, batch_size, grid,
                    probe_config, dev_split, cache_dir, use_cache, feature_memory_bytes, shard, require_shards, merge,
                    barrier_timeout, run_id):
    from pjbench.benchmarks import probe_shards

    t0 = time.time()
    started_at = utcnow()
    if overwrite not in OVERWRITE_MODES:
        raise PjbenchError(f"--overwrite must be one of {', '.join(OVERWRITE_MODES)}")
    device = check_device(device)
    unknown = [c for c in controls if c not in CONTROLS]
    if unknown:
        raise PjbenchError(f"unknown probe control(s) {unknown}; available: {', '.join(CONTROLS)}")
    torch.manual_seed(seed)
    np.random.seed(seed)
    task_obj = TASKS.build(task)
    spec = spec_of(task)
    if (spec is not None and spec.item_kind != "multiple_choice") or not hasattr(task_obj, "n_choices"):
        kind = spec.item_kind if spec is not None else "no multiple-choice"
        raise PjbenchError(f"task {task} has {kind} items, not the probe's multiple-choice items")
    if MODELS.get(model).info.get("readouts"):  # what `pjbench list` declares, before any data or weights load
        check_model_readouts(model, MODELS.get(model).info["readouts"], task, "probe")
    split = split or task_obj.default_split
    split = next((s for s in task_obj.splits if s.lower() == split.lower()), split)
    if split not in task_obj.splits:
        raise PjbenchError(f"task {task} has splits {', '.join(task_obj.splits)}; got --split {split}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PjbenchError(f"--out {out}: exists and is not a directory")
    if folds < 2:
        raise PjbenchError(f"--folds must be >= 2, got {folds}")
    pooled_grid = tuple(int(g) for g in pooled_grid)
    if len(pooled_grid) != 3 or min(pooled_grid) < 1:
        raise PjbenchError(f"pooled grid must be three positive ints (t, h, w), got {pooled_grid}")
    grid = grid_to_dict(grid)
    cfg = probe_config if isinstance(probe_config, ProbeConfig) else ProbeConfig(**dict(probe_config or {}))

    items = task_obj.load(data_root, split, limit=limit)
    full_split = task_obj.load(data_root, split) if limit else items
    n_in_split = len(full_split)
    pair_sizes = Counter(it.pair_id for it in full_split if it.pair_id is not None)
    if not items:
        raise PjbenchError(f"{data_root}: split {split} has no items")
    labelled = any(it.label is not None for it in items)
    dev_items: list[QAItem] = []
    if labelled:
        dev_split = None  # cross-validation on the split itself; no separate dev split is used
    else:
        if dev_split is None:
            dev_split = next((s for s in task_obj.dev_splits_for(split) if task_obj.has_split(data_root, s)), None)
        elif dev_split == split:
            raise PjbenchError(f"--dev-split {dev_split} is the reported split")
        dev_items = task_obj.load(data_root, dev_split) if dev_split else []
        if not any(it.label is not None for it in dev_items):
            raise PjbenchError(
                f"split {split} has no labels: the probe is trained on a labelled dev split "
                f"({' or '.join(task_obj.dev_splits_for(split)) or 'none declared'}), not found under {data_root}")

    enc = MODELS.build(model, checkpoint=checkpoint, device=device, **dict(model_args or {}))
    check_model_readouts(model, getattr(enc.info, "readouts", ()), task, "probe")  # e.g. a checkpoint without them
    text = build_text_encoder(text_encoder, device=device)
    feat_protocol = feature_protocol(n_frames, pooled_grid)
    data_fp = fingerprint_items(items)
    run_config = {
        "task": task, "split": split, "dev_split": dev_split, "limit": limit, "data_fingerprint": data_fp,
        "dev_fingerprint": fingerprint_items(dev_items) if dev_items else None,
        "model": enc.info.to_dict(), "preprocessing": enc.preprocessing.to_dict(), "features": feat_protocol,
        "probe": cfg.to_dict(), "grid": grid, "folds": folds, "text_encoder": text.describe(),
        "controls": list(controls), "seed": seed,
    }
    # -- features ------------------------------------------------------------------------------------
    cache = FeatureCache(cache_dir, enabled=True) if use_cache else FeatureCache(out / ".features")
    store = cache.store(model_identity(enc), kind="features", protocol=feat_protocol)
    pool = list(dev_items) + list(items)  # probe positions: [dev (training pool, unlabelled case) | split]
    extract = dict(n_frames=n_frames, pooled_grid=pooled_grid, batch_size=batch_size, progress=progress,
                   workers=default_workers() if workers is None else workers, max_bytes=feature_memory_bytes)
    if shard is not None:  # encode this shard's videos; the last shard to finish trains the probe
        invocation = probe_shards.invocation_of(model, task, data_root, locals_=dict(
            split=split, checkpoint=checkpoint, text_encoder=text_encoder, folds=folds, n_frames=n_frames,
            pooled_grid=list(pooled_grid), limit=limit, seed=seed, n_boot=n_boot, controls=list(controls),
            model_args=dict(model_args or {}), batch_size=batch_size, grid=grid, probe_config=cfg.to_dict(),
            dev_split=dev_split, cache_dir=str(cache.root) if use_cache else None, use_cache=use_cache,
            feature_memory_bytes=feature_memory_bytes))
        return probe_shards.run_feature_shard(
            enc, pool, store, out, data_root, shard=shard, run_config=run_config, invocation=invocation,
            overwrite=overwrite, merge=merge, barrier_timeout=barrier_timeout, run_id=run_id, extract=extract,
            merge_fn=lambda: evaluate_probe(model, task, data_root, out, **{
                **invocation["options"], "device": device, "workers": workers, "progress": progress,
                "require_shards": probe_shards.Shard.parse(shard).count}))
    if require_shards:
        probe_shards.check_shards(out, require_shards, run_config, pool, data_root)
    prepare_out(out, run_config, overwrite, keep_shards=bool(require_shards))
    extra_files = [CONTROL_ITEMS.format(c) for c in CONTROLS] + ["submission.jsonl", "submission.partial.jsonl"]
    if overwrite == "always" or require_shards:
        for stale in extra_files:
            (out / stale).unlink(missing_ok=True)
    index = extract_features(enc, pool, store, **extract)
    fstats = index.stats
    failed = {row["name"]: row["reason"] for row in fstats.failed}

    def status(its: Sequence[QAItem]) -> dict[str, str | None]:
        return {it.name: (None if str(it.path) in index else failed.get(it.name, "no features")) for it in its}

    kept, skipped = usable_items(items, status(items), task_obj.n_choices, need_labels=labelled,
                                 pair_sizes=pair_sizes)
    dev_kept, dev_skipped = usable_items(dev_items, status(dev_items), task_obj.n_choices, need_labels=True)
    if not kept:
        first = skipped[0]["reason"] if skipped else "?"
        raise PjbenchError(f"no item of {split} could be used by the probe; first problem: {first}")
    train_pool = dev_kept if not labelled else kept
    if not train_pool:
        raise PjbenchError(f"no labelled item of {dev_split} could be used to train the probe; "
                           f"first problem: {dev_skipped[0]['reason'] if dev_skipped else '?'}")

    # -- probe data ----------------------------------------------------------------------------------
    probe_items = list(train_pool) + ([] if labelled else list(kept))
    k = task_obj.n_choices
    text_in = text.prepare([(it.question, c) for it in probe_items for c in it.candidates])
    text_in = text_in.reshape(len(probe_items), k, *text_in.shape[1:])
    labels = torch.tensor([int(it.label) if it.label is not None else -1 for it in probe_items], dtype=torch.int64)
    paths = [str(it.path) for it in probe_items]
    n_tokens = int(np.prod(fstats.pooled_grid))
    data = ProbeData(video=lambda pos: index.tokens([paths[i] for i in pos]), text=text_in, labels=labels,
                     n_tokens=n_tokens, video_dim=int(fstats.dim), grid=tuple(fstats.pooled_grid))
    stratum, stratum_name = cv_stratum(task_obj, train_pool)

    def callbacks(video_blind: bool):
        def make() -> AttentiveProbe:
            return AttentiveProbe(data.video_dim, n_tokens, text.module(), text.out_dim, cfg, video_blind=video_blind,
                                  grid=data.grid)

        def fit_eval(tr, val, lr, wd, max_epochs, eval_epochs, s):
            return train_probe(make, data, tr, TrainParams(lr, wd, max_epochs), batch_size=cfg.batch_size, seed=s,
                               device=device, val_idx=val, eval_epochs=eval_epochs)[1]

        def fit_predict(tr, te, lr, wd, epochs, s):
            probe, _ = train_probe(make, data, tr, TrainParams(lr, wd, epochs), batch_size=cfg.batch_size, seed=s,
                                   device=device)
            return predict_scores(probe, data, te, device=device)

        return {"fit_eval": fit_eval, "fit_predict": fit_predict}

    runs: dict[str, tuple[np.ndarray, list[dict[str, Any]]]] = {}
    fold_of: list[int | None]
    if labelled:
        fold_of = list(grouped_stratified_folds(kept, k=folds, seed=seed, stratum=stratum))
        for name in ("probe", *controls):
            runs[name] = cross_val_predict(kept, fold_of, grid=grid, seed=seed, stratum=stratum, progress=progress,
                                           desc=f"{name} CV", **callbacks(name == "video_blind"))
    else:
        fold_of = [None] * len(kept)
        train_idx = np.arange(len(train_pool))
        test_idx = np.arange(len(train_pool), len(probe_items))
        scores, info = fit_select_predict(probe_items, train_idx, test_idx, grid=grid, seed=seed, stratum=stratum,
                                          **callbacks(False))
        runs["probe"] = (scores, [{"fold": None, "trained_on": dev_split, **info}])

    conditions = conditions_by_path(it.path for it in kept)

    def records_of(run: str) -> list[ItemRecord]:
        scores = runs[run][0]
        return [probe_record(it, scores[i], fold_of[i], str(it.path) in index.from_cache, conditions[str(it.path)])
                for i, it in enumerate(kept)]

    records = records_of("probe")
    metrics = task_obj.metrics(records, n_boot=n_boot, seed=seed) if labelled else []
    files = {"items": ITEMS_FILE}
    write_jsonl(out / ITEMS_FILE, records)
    controls_info: dict[str, Any] = {}
    beats: dict[str, bool | None] = {}
    # The difference follows the task's headline (``headline`` macro-averaged over ``macro_over``, as the
    # MVPBench / CausalVQA tasks declare); a task declaring neither gets pooled pair accuracy.
    macro_over = getattr(task_obj, "macro_over", None)
    headline = getattr(task_obj, "headline", None) or "pair_accuracy"
    diff_stat = headline if macro_over else f"{headline}_pooled"
    if labelled:
        for c in controls:
            crecs = records_of(c)
            write_jsonl(out / CONTROL_ITEMS.format(c), crecs)
            files[f"control_{c}_items"] = CONTROL_ITEMS.format(c)
            for m in task_obj.metrics(crecs, n_boot=n_boot, seed=seed):
                m.name = f"control_{c}/{m.name}"
                metrics.append(m)
            diff = paired_difference(records, crecs, n_boot=n_boot, seed=seed, macro_over=macro_over,
                                     name=f"probe_minus_{c}/{diff_stat}")
            metrics.append(diff)
            beats[c] = None if diff.ci_low is None else bool(diff.ci_low > 0)
            head = {m.name: m.value for m in metrics if m.subset == "all"}
            controls_info[c] = {
                "description": CONTROLS[c], "metric_prefix": f"control_{c}/", "difference_metric": diff.name,
                "statistic": diff_stat + (f" (macro mean over {macro_over})" if macro_over else " (pooled over pairs)"),
                "probe": head.get(diff_stat), "control": head.get(f"control_{c}/{diff_stat}"),
                "difference": diff.value, "ci_low": diff.ci_low, "ci_high": diff.ci_high, "n_pairs": diff.n,
                f"probe_beats_{c}": beats[c], "folds": runs[c][1],
            }
    else:
        complete = len(records) == n_in_split
        name = "submission.jsonl" if complete else "submission.partial.jsonl"
        sub = task_obj.write_submission(out / name, records, kept)
        if sub is not None:
            files["submission" if complete else "submission_partial"] = Path(sub).name

    n_from_cache = sum(1 for it in kept if str(it.path) in index.from_cache)
    prov = base_provenance(seed, device)
    prov.update({"started_at": started_at, "finished_at": utcnow(), "wall_time_s": round(time.time() - t0, 3),
                 "n_from_cache": n_from_cache, "n_from_previous_run": n_from_cache})
    protocol = {
        "readout": "probe",
        "features": {**feat_protocol, "encoder_grid": list(fstats.grid or ()),
                     "stored_grid": list(fstats.pooled_grid or ()), "dim": fstats.dim,
                     "bytes_per_video": fstats.bytes_per_video, "cache": str(store.directory) if use_cache else "run-local",
                     "n_videos": fstats.n_videos, "n_hit": fstats.n_hit, "n_computed": fstats.n_computed,
                     "n_failed": fstats.n_failed, "n_cache_corrupt": fstats.n_corrupt, "n_padded_videos_computed": fstats.n_padded_videos},
        "probe": {"architecture": "attentive (V-JEPA style): video tokens -> [dynamic (minus the temporal mean "
                                  "of their cell), static (that mean), delta (time derivative)], standardised per "
                                  "dimension on the training items of each fold; learned queries + candidate text embedding cross-attend "
                                  "over the projected video tokens; MLP; score per candidate = linear head + "
                                  "bilinear candidate x video term; softmax over candidates; cross-entropy",
                  **cfg.to_dict(), "n_tokens": n_tokens, "token_grid": list(fstats.pooled_grid or ()),
                  "optimizer": "AdamW", "lr_schedule": "constant"},
        "text_encoder": text.describe(),
        "grid": grid,
        "cv": {"rule": "grouped k-fold cross-validation on the split" if labelled else
               f"trained on the labelled dev split {dev_split}, predicts {split}",
               "folds": folds if labelled else None, "group": "pair_id", "stratum": stratum_name,
               "inner_selection": "grouped stratified 1/5 hold-out of each fold's training items",
               "per_fold": runs["probe"][1]},
        "controls": controls_info,
        "probe_beats_video_blind": beats.get("video_blind"),
        "n_boot": n_boot, "ci_level": 0.95, "batch_size": batch_size, "seed": seed,
    }
    results = RunResults(
        task={"name": task, "split": split, "data_root": str(Path(data_root).resolve()), "data_fingerprint": data_fp,
              "limit": limit, "n_items": n_in_split, "n_selected": len(items), "n_scored": len(records),
              "skipped": skipped, "dev_split": dev_split, "n_dev_items": len(dev_items),
              "n_dev_scored": len(dev_kept), "dev_skipped": dev_skipped, "conditions": count_conditions(records),
              "n_cache_corrupt": fstats.n_corrupt, "n_computed": len(records) - n_from_cache,
              "n_from_cache": n_from_cache, "n_from_previous_run": 0},
        model={**enc.info.to_dict(), "preprocessing": enc.preprocessing.to_dict(), "identity": model_identity(enc),
               "cache": {"enabled": bool(use_cache), "root": str(cache.root) if use_cache else None,
                         "store": store.key}},
        protocol=protocol, metrics=metrics, provenance=prov, files=files, data=data_source(data_root),
        conventions=task_conventions(task_obj, parser=None),
    )
    return results, write_results(out, results)
