"""The ``vlm`` readout: a video-language model answers each item with the benchmark's official prompt; the
answers are read by every parser of the task; results in the common schema.

For a multiple-choice task (MVPBench, CausalVQA) each item is one request: the frames of its video chosen by
time under the model's frame sampling (else the benchmark's official one; :mod:`pjbench.benchmarks.clips`)
and the official chat of the task's protocol module (``TaskSpec.vlm_protocol``: ``chat_for(item)``,
``SAMPLING``, ``GENERATION``; greedy decoding). Responses come from the response cache
(:mod:`pjbench.benchmarks.response_cache`, keyed by the video's content hash, so a hit decodes nothing)
when present, so a re-run costs nothing and an interrupted run resumes; the rest are decoded and generated
``batch_size`` requests at a time (never more clips in memory) and stored as they arrive.

Dual scoring: the headline rows are read by the ``official`` parser (the official scorer, quirks included);
every other parser of the task (``strict``, ``lenient``) gets the same rows under ``<parser>/<metric>``,
and ``task.answers`` counts the unparseable answers per parser and the items each parser reads differently
from the official one. Per-item records keep the exact prompt, the raw response and each parser's answer
(``ItemRecord.response``). A video that cannot be decoded, or a request that failed after its retries, is a
recorded skip naming the error (``task.skipped``); the other items of its pair leave the metrics with it
(``task.left_out``), so every row covers complete pairs only.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from pjbench.benchmarks.cache import FeatureCache, video_fingerprint
from pjbench.benchmarks.clips import decode_clip
from pjbench.benchmarks.errors import PjbenchError, VideoError
from pjbench.benchmarks.provenance import base_provenance, data_source, fingerprint_items, utcnow
from pjbench.benchmarks.response_cache import ResponseCache
from pjbench.benchmarks.results import ITEMS_FILE, ItemRecord, RunResults, task_conventions, write_jsonl, write_results
from pjbench.benchmarks.rundir import prepare_out
from pjbench.benchmarks.tasks import TASKS, QAItem
from pjbench.benchmarks.vlm_binary import LIKELIHOOD, likeliest, likelihood_status  # the reading that needs no parser
from pjbench.encoders.answerer import Chat, FrameSampling, identity_of, response_key
from pjbench.benchmarks.distributed import Shard
from pjbench.encoders.answerers import build_answerer

__all__ = ["LIKELIHOOD", "evaluate_vlm", "likeliest"]



def _protocol_module(task: str):
    spec = TASKS.spec(task)
    if not spec.vlm_protocol:
        raise PjbenchError(f"task {task} declares no video-language model protocol (TaskSpec.vlm_protocol)")
    return importlib.import_module(spec.vlm_protocol)


def _parse_all(task_obj: Any, text: str | None, item: QAItem) -> dict[str, int | None]:
    parsers = tuple(getattr(task_obj, "parsers", ("official",)))
    if not hasattr(task_obj, "parsers"):
        return {"official": task_obj.parse_answer(text, item)}
    return {p: task_obj.parse_answer(text, item, parser=p) for p in parsers}


def evaluate_vlm(
    model: str,
    task: str,
    data_root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    overwrite: str = "only-missing",
    progress: bool = True,
    batch_size: int = 8,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    max_concurrency: int | None = None,
    device: str = "cpu",
    checkpoint: str | None = None,
    model_args: dict[str, Any] | None = None,
    n_frames: int | None = None,
    shard: Any = None,
    require_shards: int | None = None,
    merge: str = "if-complete",
    run_id: str | None = None,
) -> Any:
    """Answer ``task``/``split`` with the video-language model ``model`` (a registered ``generate`` model or
    ``openai:NAME`` with ``base_url``); write ``results.json`` + ``items.jsonl`` to ``out``. Returns
    ``(results, path)``. ``limit``: the first N items (whole pairs: a pair cut by the limit is left out).

    Frames: the benchmark's official sampling for open models unless the model's entry declares its own;
    ``model_args["sampling"] = "api"``: the benchmark's setting for API models (CausalVQA 10 frames, IntPhys 2
    at most 50); ``n_frames``: N frames uniformly instead (a deviation, recorded with the sampling).

    ``shard="i/N"``: answer only the items shard i owns, into the response cache (which every shard and the
    merge must share: ``cache_dir`` on shared storage), and record them in ``<out>/.shards/<i>-of-<N>/``;
    returns a :class:`~pjbench.benchmarks.runner.ShardOutcome`. The last shard to finish (``merge``
    ``"if-complete"``; ``"never"``: ``pjbench merge``) merges: ``require_shards=N``, which generates nothing
    (an answer no shard stored is a recorded skip) and refuses, naming them, shards that have not finished."""
    from pjbench.benchmarks.probe_shards import locked

    return locked(_evaluate_vlm, out, shard, dict(
        model=model, task=task, data_root=data_root, out=out, split=split, limit=limit, seed=seed, n_boot=n_boot,
        overwrite=overwrite, progress=progress, batch_size=batch_size, cache=cache, cache_dir=cache_dir,
        base_url=base_url, api_key_env=api_key_env, max_concurrency=max_concurrency, device=device,
        checkpoint=checkpoint, model_args=model_args, n_frames=n_frames, shard=shard, require_shards=require_shards,
        merge=merge, run_id=run_id))


def _evaluate_vlm(model, task, data_root, out, *, split, limit, seed, n_boot, overwrite, progress, batch_size, cache,
                  cache_dir, base_url, api_key_env, max_concurrency, device, checkpoint, model_args, n_frames, shard,
                  require_shards, merge, run_id):
    t0, started_at = time.time(), utcnow()
    proto = _protocol_module(task)
    task_obj = TASKS.build(task)
    split = split or task_obj.default_split
    split = next((s for s in task_obj.splits if s.lower() == split.lower()), split)
    if split not in task_obj.splits:
        raise PjbenchError(f"task {task} has splits {', '.join(task_obj.splits)}; got --split {split}")
    model_args = dict(model_args or {})
    choice = model_args.pop("sampling", None) or "official"
    if choice not in ("official", "api") or (choice == "api" and not hasattr(proto, "SAMPLING_API")):
        raise PjbenchError(f"--model-arg sampling={choice}: one of official"
                           + (", api (the setting for API models)" if hasattr(proto, "SAMPLING_API") else
                              f" ({task} has one frame sampling for every model)"))
    if require_shards:  # the merge: the model as the shards recorded it, no weights loaded
        from pjbench.benchmarks.vlm_shards import MergedAnswerer

        answerer = MergedAnswerer(Path(out), require_shards)
    else:
        answerer = build_answerer(model, sampling=proto.SAMPLING, base_url=base_url, api_key_env=api_key_env,
                                  max_concurrency=max_concurrency, device=device, checkpoint=checkpoint,
                                  model_args=model_args, cache_dir=cache_dir)
    if batch_size and hasattr(answerer, "batch_size"):  # requests per forward pass of an in-process model
        answerer.batch_size = max(1, int(batch_size))
    sampling = proto.SAMPLING_API if choice == "api" else (getattr(answerer, "sampling", None) or proto.SAMPLING)
    if n_frames:
        sampling = FrameSampling(n_frames=int(n_frames), max_pixels=sampling.max_pixels)
    if hasattr(answerer, "sampling"):
        answerer.sampling = sampling  # the frames it is handed (and their pixel cap)
    generation = proto.GENERATION
    binary = TASKS.spec(task).item_kind == "surprise_pairs"  # IntPhys 2: is this video plausible? per prompt
    items = [it for it in task_obj.load(data_root, split, limit=limit) if binary or isinstance(it, QAItem)]
    if not items:
        raise PjbenchError(f"{task}/{split} under {data_root} has no items")
    info = answerer.info.to_dict()
    run_config = {"task": task, "split": split, "limit": limit, "data_fingerprint": fingerprint_items(items),
                  "model": identity_of(answerer.info), "sampling": sampling.to_dict(), "generation": generation.to_dict(),
                  "protocol": proto.__name__, "seed": seed,
                  "option_likelihood": callable(getattr(answerer, "score_options", None)) and hasattr(proto, "continuations")}
    out = Path(out)
    store = ResponseCache(FeatureCache(cache_dir).root if cache else None, enabled=cache)
    refresh = overwrite == "always"
    if binary:
        from pjbench.benchmarks.vlm_binary import binary_requests, finish_binary

        requests = binary_requests(proto, items)
    else:
        requests = [(it.name, it, proto.chat_for(it)) for it in items]
    options = None  # option-likelihood scoring, where the backend scores continuations
    if callable(getattr(answerer, "score_options", None)) and hasattr(proto, "continuations"):
        options = {rname: list(proto.continuations(int(rname.rsplit("#", 1)[1]) if binary else it))
                   for rname, it, _ in requests}
    desc = f"{answerer.info.name} {task}/{split}"
    if shard is not None:  # answer this shard's items into the response cache; the last shard merges
        from pjbench.benchmarks.vlm_shards import run_vlm_shard

        invocation = {"readout": "vlm", "model": model, "task": task, "data_root": str(Path(data_root).resolve()),
                      "options": {"split": split, "limit": limit, "seed": seed, "n_boot": n_boot, "n_frames": n_frames,
                                  "batch_size": batch_size, "cache": cache,
                                  "cache_dir": str(store.root.parent.resolve()) if store.root else None,
                                  # the merge sends nothing: the URL without credentials is enough
                                  "base_url": answerer.info.extra.get("base_url") if base_url else None,
                                  "api_key_env": api_key_env,
                                  "max_concurrency": max_concurrency, "checkpoint": checkpoint,
                                  "model_args": dict(model_args or {})}}
        return run_vlm_shard(
            answerer, requests, store, sampling, generation, out, shard=shard, run_config=run_config,
            invocation=invocation, overwrite=overwrite, merge=merge, run_id=run_id, batch_size=batch_size,
            progress=progress, desc=desc, options=options,
            merge_fn=lambda: evaluate_vlm(model, task, data_root, out, **{**invocation["options"], "device": device,
                                                                          "progress": progress,
                                                                          "require_shards": Shard.parse(shard).count}))
    if require_shards:
        from pjbench.benchmarks.vlm_shards import check_vlm_shards

        shard_skips = check_vlm_shards(out, require_shards, run_config)
    prepare_out(out, run_config, overwrite, keep_shards=bool(require_shards))
    texts, skipped, n_from_cache = answer_requests(answerer, requests, store, sampling, generation, refresh=refresh,
                                                   batch_size=batch_size, progress=progress, desc=desc,
                                                   offline=bool(require_shards), options=options,
                                                   offline_reasons=shard_skips if require_shards else None)
    if binary:
        return finish_binary(answerer, proto, task_obj, task, split, items, out, store, requests, texts, skipped,
                             n_from_cache, data_root=data_root, sampling=sampling, generation=generation,
                             n_boot=n_boot, seed=seed, limit=limit, device=device,
                             fingerprint=run_config["data_fingerprint"], t0=t0, started_at=started_at)
    order = {it.name: i for i, it in enumerate(items)}
    skipped.sort(key=lambda r: order[r["name"]])

    # -- records: every parser's reading; complete pairs only ----------------------------------------
    names_ok = set(texts)
    by_pair: dict[str, list[QAItem]] = {}
    for it in items:
        by_pair.setdefault(str(it.pair_id), []).append(it)
    left_out = [{"name": it.name, "path": str(it.path), "reason": f"pair {it.pair_id} incomplete"}
                for it in items if it.name in names_ok and it.pair_id is not None
                and any(o.name not in names_ok for o in by_pair[str(it.pair_id)])]
    left = {r["name"] for r in left_out}
    parsers = tuple(getattr(task_obj, "parsers", ("official",)))
    default = getattr(task_obj, "default_parser", parsers[0])
    if any(t.get("option_logprobs") for t in texts.values()):
        parsers += (LIKELIHOOD,)  # no parsing: the option the model finds likeliest
    records: dict[str, list[ItemRecord]] = {p: [] for p in parsers}
    unparseable = {p: 0 for p in parsers}
    disagree = {p: 0 for p in parsers if p != default}
    for it in items:
        if it.name not in names_ok or it.name in left:
            continue
        got = texts[it.name]
        parsed = _parse_all(task_obj, got["text"], it)
        chat = got["chat"]
        response = {"system": chat.system, "prompt": chat.user, "text": got["text"], "parsed": parsed,
                    "from_cache": got["from_cache"], "meta": got.get("meta", {})}
        if LIKELIHOOD in parsers:
            parsed[LIKELIHOOD] = likeliest(got.get("option_logprobs"))
            response.update(options=got.get("options"), option_logprobs=got.get("option_logprobs"))
        if got.get("likelihood_error"):  # why this item has no likelihood reading
            response.update(options=got.get("options"), likelihood_error=got["likelihood_error"])
        for p in parsers:
            pred = parsed.get(p)
            unparseable[p] += pred is None
            if p != default and pred != parsed.get(default):
                disagree[p] += 1
            records[p].append(ItemRecord(
                name=it.name, split=it.split, path=str(it.path), label=it.label, pair_id=it.pair_id,
                cluster=it.cluster, strata=dict(it.strata), prediction=pred, from_cache=got["from_cache"],
                correct=None if it.label is None else (pred is not None and pred == it.label), response=response))
    head = records[default]
    if not head:
        first = skipped[0]["reason"] if skipped else "?"
        raise PjbenchError(f"no item of {task}/{split} got an answer; first problem: {first}")
    labelled = any(it.label is not None for it in items)
    metrics = []
    if labelled:
        metrics = task_obj.metrics(head, n_boot=n_boot, seed=seed)
        for p in parsers:
            if p == default:
                continue
            for m in task_obj.metrics(records[p], n_boot=n_boot, seed=seed):
                m.name = f"{p}/{m.name}"
                metrics.append(m)
    files = {"items": ITEMS_FILE}
    write_jsonl(out / ITEMS_FILE, head)
    if not labelled:
        complete = not skipped and not left_out and limit is None
        name = "submission.jsonl" if complete else "submission.partial.jsonl"
        sub = task_obj.write_submission(out / name, head, [it for it in items if it.name in {r.name for r in head}])
        if sub is not None:
            files["submission" if complete else "submission_partial"] = Path(sub).name

    prov = base_provenance(seed, device)
    prov.update({"started_at": started_at, "finished_at": utcnow(), "wall_time_s": round(time.time() - t0, 3)})
    identity = {"name": info["name"], "backend": info["backend"], "model": info["model"], "revision": info["revision"],
                "key": response_key(answerer.info, Chat(user=""), "", sampling, generation)[:16]}
    results = RunResults(
        task={"name": task, "split": split, "data_root": str(Path(data_root).resolve()),
              "data_fingerprint": run_config["data_fingerprint"], "limit": limit, "n_items": len(items),
              "n_selected": len(items), "n_scored": len(head), "skipped": skipped, "left_out": left_out,
              "n_in_metrics": len(head), "dev_split": None,
              "answers": {"parser": default, "answered": len(names_ok), "unparseable": unparseable,
                          "parser_disagreements": disagree, "n_failed": len(skipped)},
              "n_computed": sum(not r.from_cache for r in head), "n_from_cache": sum(r.from_cache for r in head),
              "n_from_previous_run": 0, "n_requests_generated": len(names_ok) - n_from_cache,
              "n_cache_corrupt": store.n_corrupt},
        model={"name": info["name"], "checkpoint": info["model"], "checkpoint_hash": None, "revision": info["revision"],
               "params": None, "readouts": ["generate"], "extra": info.get("extra", {}), "backend": info["backend"],
               "identity": identity, "cache": {"enabled": store.enabled, "root": str(store.root) if store.root else None,
                                               "store": "responses"}},
        protocol={"readout": "vlm", "parser": default, "parsers": list(parsers),
                  "option_likelihood": _likelihood_protocol(options, parsers, texts), "headline": getattr(task_obj, "headline", None),
                  "prompt_protocol": proto.__name__, "sampling": sampling.to_dict(), "generation": generation.to_dict(),
                  "failed_requests": "recorded skips; their pairs leave the metrics", "n_boot": n_boot, "ci_level": 0.95,
                  "batch_size": getattr(answerer, "batch_size", None)},
        metrics=metrics, provenance=prov, files=files, data=data_source(data_root),
        conventions=task_conventions(task_obj, parser=default),
    )
    return results, write_results(out, results)


def _likelihood_protocol(options: dict[str, list[str]] | None, parsers: Sequence[str],
                         texts: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    if not options:
        return None
    return {"scored": LIKELIHOOD in parsers, "reading": "the option whose continuation has the highest summed "
            "token log-probability after the generation prompt", "example_options": next(iter(options.values())),
            **(likelihood_status(texts) or {})}


def answer_requests(answerer: Any, requests: Sequence[tuple[str, Any, Chat]], store: ResponseCache, sampling: Any,
                    generation: Any, *, refresh: bool, batch_size: int, progress: bool, desc: str,
                    offline: bool = False, options: dict[str, list[str]] | None = None,
                    offline_reasons: dict[str, str] | None = None) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]], int]:
    """Answers of ``requests`` (``(request name, item, chat)``), streamed in batches: the cache is keyed by
    the video's content hash (the frames shown follow from it and the sampling), so a cached answer needs no
    decoding; misses are decoded (one clip per video per batch, never more in memory) and sent. Returns
    ``({request name: {text, meta, from_cache, chat[, options, option_logprobs]}}, skips, n served from the
    cache)``; a skip names the item (``name``), its video and why (no video, undecodable, no answer after the
    backend's retries). ``offline`` (a merge): nothing is generated; a request without a cached answer is a
    skip, with the reason its shard recorded (``offline_reasons``, by item name) where it recorded one. ``options`` (``{request name: continuations}``) with a backend that scores continuations
    (``score_options``): each request's option log-likelihoods too, cached with its answer (a cached answer
    scored for other options is scored again, its text kept)."""
    skipped: list[dict[str, str]] = []
    texts: dict[str, dict[str, Any]] = {}
    n_from_cache = 0
    scorer = getattr(answerer, "score_options", None) if options else None
    step = max(1, batch_size or 1, int(getattr(answerer, "max_concurrency", 1) or 1))  # keep the server busy
    bar = tqdm(total=len(requests), desc=desc, disable=not progress, unit="request")
    n_ok = 0
    for start in range(0, len(requests), step):
        todo: list[tuple[str, Any, Chat, Any, str]] = []
        rescore: list[tuple[str, Any, Chat, Any, str]] = []
        clips: dict[str, Any] = {}
        for rname, it, chat in requests[start:start + step]:
            if not Path(it.path).is_file():
                skipped.append({"name": it.name, "path": str(it.path), "reason": f"{it.path}: video file not found"})
                continue
            key = response_key(answerer.info, chat, video_fingerprint(it.path), sampling, generation)
            hit = None if refresh else store.get(key)
            wanted = (options or {}).get(rname) if scorer else None
            scored = hit is not None and hit.get("options") == wanted and not hit.get("likelihood_error")
            if hit is not None and (wanted is None or scored or offline):  # a failed likelihood is tried again
                texts[rname] = {**hit, "from_cache": True, "chat": chat}
                n_from_cache += 1
                continue
            if offline:
                why = (offline_reasons or {}).get(it.name) or "no answer in the response cache (its shard did not store one)"
                skipped.append({"name": it.name, "path": str(it.path), "reason": why})
                continue
            try:
                clip = clips.get(str(it.path)) or decode_clip(it.path, sampling)
            except VideoError as exc:
                skipped.append({"name": it.name, "path": str(it.path), "reason": str(exc)})
                continue
            clips[str(it.path)] = clip
            if hit is not None:  # answered before, not (or not successfully) scored for these options
                texts[rname] = {**hit, "from_cache": True, "chat": chat}
                n_from_cache += 1
                rescore.append((rname, it, chat, clip, key))
            else:
                todo.append((rname, it, chat, clip, key))
        results = answerer.generate([(clip, chat) for _, _, chat, clip, _ in todo], generation) if todo else []
        if len(results) != len(todo):
            raise PjbenchError(f"model {answerer.info.name} returned {len(results)} answers for {len(todo)} requests")
        if todo and n_ok == 0 and n_from_cache == 0 and not any(r.ok for r in results):
            raise PjbenchError(f"model {answerer.info.name} answered none of the first {len(todo)} requests (first "
                               f"error: {results[0].error}); is the server up? Nothing was recorded")
        answered = []
        for (rname, it, chat, clip, key), res in zip(todo, results):
            if not res.ok:
                skipped.append({"name": it.name, "path": str(it.path), "reason": f"no answer: {res.error}"})
                continue
            n_ok += 1
            texts[rname] = {"text": res.text, "meta": dict(res.meta or {}), "from_cache": False, "chat": chat}
            answered.append((rname, it, chat, clip, key))
        to_score = answered + rescore if scorer else []
        if to_score:
            scored = scorer([(clip, chat) for _, _, chat, clip, _ in to_score], [options[r] for r, *_ in to_score])
            for (rname, *_), res in zip(to_score, scored):
                got = texts[rname]
                got["options"] = list(options[rname])
                if res.error is None and res.option_logprobs is not None:
                    got["option_logprobs"] = [float(x) for x in res.option_logprobs]
                    got.pop("likelihood_error", None)
                else:
                    got["option_logprobs"] = None
                    got["likelihood_error"] = res.error or "no log-likelihoods returned"
        for rname, it, chat, clip, key in answered + rescore:
            got = texts[rname]
            store.put(key, {k: v for k, v in got.items() if k not in ("from_cache", "chat")})
        bar.update(min(step, len(requests) - start))
    bar.close()
    return texts, skipped, n_from_cache


def requests_of(task: str, items: Sequence[QAItem]) -> list[Chat]:
    """The official chats of ``items`` (what the readout sends; for ``--dry-run``-style inspection)."""
    proto = _protocol_module(task)
    return [proto.chat_for(it) for it in items]
