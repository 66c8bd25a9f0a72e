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

from pjbench.benchmarks.cache import CacheStore, FeatureCache, model_identity
from pjbench.benchmarks.conditions import count_conditions
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.protocol import Protocol
from pjbench.benchmarks.provenance import base_provenance, data_source, utcnow
from pjbench.benchmarks.rundir import RUN_CONFIG_FILE, prepare_out
from pjbench.benchmarks.runlock import holding_out_lock, run_lock
from pjbench.benchmarks.results import (
    ITEMS_FILE,
    ItemRecord,
    RunResults,
    atomic_write_text,
    dumps,
    task_conventions,
    write_jsonl,
    write_results,
)
from pjbench.benchmarks.surprise_dry_run import plan_eval, sampled_frame_count
from pjbench.benchmarks.surprise_plan import RunPlan, make_plan, pin_memory_for, plan_kwargs, plan_store
from pjbench.benchmarks.surprise_scoring import build_records, score_split, select_context

if TYPE_CHECKING:
    from pjbench.benchmarks.distributed import Shard


__all__ = ["ShardOutcome", "build_records", "evaluate", "left_out_summary", "plan_eval", "run_shard",
           "sampled_frame_count", "score_split", "select_context"]


def _shard_rows(plan: RunPlan, out: Path, count: int | None, strict: bool) -> tuple[dict[str, dict], dict[str, dict]]:
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


def _score_and_finish(plan: RunPlan, out: Path, *, workers: int | None, progress: bool, read_cache: bool,
                      dev_prior: dict[str, dict] | None = None, prior: dict[str, dict] | None = None
                      ) -> tuple[RunResults, Path]:
    enc, cfg, split, dev_split = plan.enc, plan.cfg, plan.split, plan.dev_split
    store = plan_store(plan)
    dev_surprise: dict[str, dict[str, list[float]]] = {}
    dev_skipped: list[dict[str, str]] = []
    conditions: dict[str, list[str]] = {}
    dev_conditions: dict[str, list[str]] = {}
    corrupt: set[str] = set()
    if plan.dev_items:
        dev_surprise, dev_skipped, _ = score_split(
            enc, plan.dev_items, cfg, partial_path=out / ".partial" / f"dev-{dev_split}.jsonl",
            batch_size=plan.sizer, workers=workers, desc=f"{enc.info.name} {plan.task}/{dev_split} (dev)",
            progress=progress, store=store, read_cache=read_cache, prior=dev_prior, pin_memory=pin_memory_for(plan),
            conditions=dev_conditions, corrupt=corrupt)
    surprise, skipped, origin = score_split(
        enc, plan.items, cfg, partial_path=out / ".partial" / f"{split}.jsonl", batch_size=plan.sizer,
        workers=workers, desc=f"{enc.info.name} {plan.task}/{split}", progress=progress, store=store,
        read_cache=read_cache, prior=prior, pin_memory=pin_memory_for(plan), conditions=conditions, corrupt=corrupt)
    return _finish(plan, out, store, surprise, skipped, origin, dev_surprise, dev_skipped,
                   conditions=conditions, dev_conditions=dev_conditions, n_cache_corrupt=len(corrupt))


def _finish(plan: RunPlan, out: Path, store: CacheStore, surprise: dict[str, dict[str, list[float]]],
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
                 "pin_memory": pin_memory_for(plan)})
    n_origin = {k: sum(1 for r in records if origin.get(r.name) == k) for k in ("computed", "cache", "previous_run")}
    protocol = {"readout": "surprise", "name": proto.name, **cfg.to_dict(), "context_selection": selection,
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
    task: str | None = None,
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
    if task is None:
        from pjbench.benchmarks.tasks import default_task

        task = default_task()
    plan = make_plan(model, data_root, out, task=task, split=split, checkpoint=checkpoint, limit=limit,
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


def _merge_shards(plan: RunPlan, out: Path, count: int, *, workers: int | None, progress: bool) -> tuple[RunResults, Path]:
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
            plan = make_plan(model, data_root, out, overwrite=overwrite, **plan_kwargs(kwargs))
            _prepare_shard(out, sdir, plan, overwrite, kwargs, model)
            store = plan_store(plan)
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
                    batch_size=plan.sizer, workers=workers, progress=progress, store=store, pin_memory=pin_memory_for(plan),
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


def _prepare_shard(out: Path, sdir: Path, plan: RunPlan, overwrite: str, kwargs: dict[str, Any], model: str) -> None:
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
    given = plan_kwargs(kwargs)
    invocation = {
        **{k: v for k, v in given.items() if k != "device"},
        "model": model, "data_root": plan.data_root,
        "split": plan.split, "dev_split": plan.dev_split,
        "contexts": list(given["contexts"]) if given["contexts"] is not None else None,
        "cache_dir": str(FeatureCache(plan.cache_dir).root) if plan.cache else None,
    }
    atomic_write_text(sdir / dist.INVOCATION_FILE, dumps(invocation) + "\n")
