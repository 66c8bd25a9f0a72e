"""The ``vlm`` readout on a surprise-pairs benchmark (IntPhys 2): every video is asked whether its events are
physically plausible, once per official prompt (``PROMPT_IDS`` of the task's protocol module, e.g.
:mod:`pjbench.intphys2.prompts`: three system prompts), and each answer is read by every parser of the
protocol (``PARSERS``: ``official``, the official substring rule with its quirks; ``strict``).

Metrics (per video: 1 = possible / plausible, 0 = impossible; an answer no parser can read is wrong):
``prompt<k>/accuracy`` per prompt; ``accuracy`` -- the headline of the readout -- the mean over prompts (per
video, the share of prompts it was answered right under, averaged; never the official notebook's max over
prompts), by condition / Difficulty / Camera / visibility too; ``accuracy_sd_over_prompts`` (the spread of
the per-prompt accuracies); the same rows for every other parser as ``<parser>/...``. 95 % CIs resample
scenes (``cluster``); chance 0.5. Videos without an answer to every prompt are recorded skips and take their
matched partner out of the metrics, as for the surprise readout. Pairwise accuracy and AUROC need a score
per video: with a backend that scores continuations (``score_options``), each answer word's likelihood as
the answer's first word (``continuations`` of the protocol module) gives a ``likelihood`` reading (the
likelier word) and a surprise score, the log-odds of the impossible answer, on which the encoders' pair
metrics are computed (:func:`surprise_rows`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pjbench.benchmarks.bootstrap import cluster_bootstrap_ci
from pjbench.benchmarks.provenance import base_provenance, data_source, utcnow
from pjbench.benchmarks.results import ITEMS_FILE, ItemRecord, MetricValue, RunResults, write_jsonl, write_results
from pjbench.encoders.answerer import Chat, response_key

LIKELIHOOD = "likelihood"  # as pjbench.benchmarks.vlm_runner.LIKELIHOOD (which imports this module lazily)


def likeliest(logprobs: Sequence[float] | None) -> int | None:
    """Index of the likeliest option (the first on a tie), ``None`` without scores."""
    if not logprobs:
        return None
    return max(range(len(logprobs)), key=lambda i: (logprobs[i], -i))


def likelihood_status(texts: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """How option scoring went over a run's answers: requests asked, scored, failed (with the first error);
    ``None`` when no request was asked for likelihoods."""
    asked = [t for t in texts.values() if t.get("options") is not None]
    if not asked:
        return None
    errors = [t.get("likelihood_error") for t in asked if not t.get("option_logprobs")]
    return {"n_requests": len(asked), "n_scored": len(asked) - len(errors), "n_errors": len(errors),
            "first_error": next((e for e in errors if e), None)}


__all__ = ["binary_requests", "finish_binary", "likelihood_status", "prompt_accuracy", "surprise_rows"]


def surprise_rows(task_obj: Any, records: Sequence[ItemRecord], prompts: Sequence[str], *, n_boot: int,
                  seed: int) -> list[MetricValue]:
    """The encoders' pair metrics (pairwise accuracy, AUROC, ...) on the likelihood surprise
    ``log p(impossible answer) - log p(possible answer)``: per prompt (``likelihood/prompt<k>/...``) and on
    its mean over prompts (``likelihood/...``, with the task's breakdowns), computed by the task's own
    metrics on the same complete pairs; no absolute-accuracy threshold (there is no dev split to fit it on).
    Videos without a score under every prompt are left out of these rows (counted in their ``n``)."""
    keep = [r for r in records if all(r.response["prompts"][k].get("surprise") is not None for k in prompts)]
    rows: list[MetricValue] = []
    for k in [*prompts, None]:
        recs = []
        for r in keep:
            vals = [r.response["prompts"][q]["surprise"] for q in ([k] if k else prompts)]
            recs.append(dataclasses.replace(r, scores={"avg": float(np.mean(vals))}))
        for m in task_obj.metrics(recs, n_boot=n_boot, seed=seed, threshold={}):
            if k is not None and m.subset != "all":
                continue
            m.name = f"{LIKELIHOOD}/prompt{k}/{m.name}" if k else f"{LIKELIHOOD}/{m.name}"
            m.aggregation = None
            rows.append(m)
    return rows


def prompt_accuracy(records: Sequence[ItemRecord], parser: str, prompt: str | None) -> np.ndarray:
    """Per record, 1 if the video was answered right under ``prompt`` (``None``: the share of its prompts)."""
    out = []
    for r in records:
        answers = r.response["prompts"]
        keys = [prompt] if prompt is not None else sorted(answers)
        out.append(float(np.mean([answers[k]["parsed"].get(parser) == r.label for k in keys])))
    return np.asarray(out, dtype=float)


def _row(name: str, values: np.ndarray, clusters: list[str], subset: str, *, n_boot: int, seed: int) -> MetricValue:
    if values.size == 0:
        return MetricValue(name, None, None, None, n=0, n_clusters=0, chance=0.5, subset=subset, unit="videos")
    lo, hi = cluster_bootstrap_ci(lambda idx: float(values[idx].mean()), clusters, n_boot=n_boot, seed=seed)
    return MetricValue(name, float(values.mean()), lo, hi, n=int(values.size), n_clusters=len(set(clusters)),
                       chance=0.5, subset=subset, unit="videos")


def binary_requests(proto: Any, items: Sequence[Any]) -> list[tuple[str, Any, Any]]:
    """``(request name, item, chat)`` for every video and prompt: ``<item>#<prompt>``."""
    return [(f"{it.name}#{k}", it, proto.chat(int(k))) for it in items for k in map(str, proto.PROMPT_IDS)]


def finish_binary(answerer: Any, proto: Any, task_obj: Any, task: str, split: str, items: Sequence[Any], out: Path,
                  store: Any, requests: Sequence[Any], texts: dict[str, dict[str, Any]],
                  skipped_rows: list[dict[str, str]], n_from_cache: int, *, data_root: Any, sampling: Any,
                  generation: Any, n_boot: int, seed: int, limit: int | None, device: str, fingerprint: str,
                  t0: float, started_at: str) -> tuple[RunResults, Path]:
    """Records, metrics and results of the answered ``requests`` (see the module docstring)."""
    from pjbench.benchmarks.tasks import TASKS

    prompts = [str(k) for k in proto.PROMPT_IDS]
    skipped: dict[str, dict[str, str]] = {}
    for row in skipped_rows:
        skipped.setdefault(row["name"], row)
    for it in items:  # a video needs an answer to every prompt
        if it.name not in skipped and any(f"{it.name}#{k}" not in texts for k in prompts):
            skipped[it.name] = {"name": it.name, "path": str(it.path), "reason": "no answer to every prompt"}
    by_pair: dict[str, list[Any]] = {}
    for it in items:
        by_pair.setdefault(str(it.pair_id), []).append(it)
    left_out = [{"name": it.name, "path": str(it.path), "reason": f"pair {it.pair_id} incomplete (partner skipped)"}
                for it in items if it.name not in skipped and it.pair_id is not None
                and any(o.name in skipped for o in by_pair[str(it.pair_id)])]
    out_names = set(skipped) | {r["name"] for r in left_out}
    parsers = list(proto.PARSERS)
    scored = any(t.get("option_logprobs") for t in texts.values())
    if scored:
        parsers.append(LIKELIHOOD)
    records = []
    for it in items:
        if it.name in out_names:
            continue
        answers = {}
        for k in prompts:
            got = texts[f"{it.name}#{k}"]
            parsed = {p: fn(got["text"], int(k)) for p, fn in proto.PARSERS.items()}
            answers[k] = {"system": got["chat"].system, "prompt": got["chat"].user, "text": got["text"],
                          "parsed": parsed, "from_cache": got["from_cache"], "meta": got.get("meta", {})}
            if scored:  # options index = label (0 impossible, 1 possible)
                lp = got.get("option_logprobs")
                parsed[LIKELIHOOD] = likeliest(lp)
                answers[k].update(options=got.get("options"), option_logprobs=lp,
                                  surprise=None if not lp else float(lp[0] - lp[1]))
            if got.get("likelihood_error"):  # why this answer has no likelihood reading
                answers[k].update(options=got.get("options"), likelihood_error=got["likelihood_error"])
        records.append(ItemRecord(
            name=it.name, split=it.split, path=str(it.path), label=it.label, pair_id=it.pair_id, cluster=it.cluster,
            strata=dict(it.strata), from_cache=all(a["from_cache"] for a in answers.values()),
            response={"prompts": answers}))
    labelled = [r for r in records if r.label in (0, 1)]
    metrics: list[MetricValue] = []
    breakdowns = TASKS.spec(task).breakdowns
    unparseable = {p: {k: sum(r.response["prompts"][k]["parsed"].get(p) is None for r in records) for k in prompts}
                   for p in parsers}
    disagree = {p: sum(r.response["prompts"][k]["parsed"].get(p) != r.response["prompts"][k]["parsed"]["official"]
                       for r in records for k in prompts) for p in parsers if p != "official"}
    if labelled:
        clusters = [str(r.cluster if r.cluster is not None else r.pair_id) for r in labelled]
        for p in parsers:
            pre = "" if p == "official" else f"{p}/"
            mean = prompt_accuracy(labelled, p, None)
            metrics.append(_row(f"{pre}accuracy", mean, clusters, "all", n_boot=n_boot, seed=seed))
            per = []
            for k in prompts:
                v = prompt_accuracy(labelled, p, k)
                per.append(float(v.mean()))
                metrics.append(_row(f"{pre}prompt{k}/accuracy", v, clusters, "all", n_boot=n_boot, seed=seed))
            metrics.append(MetricValue(f"{pre}accuracy_sd_over_prompts", float(np.std(per, ddof=1)) if len(per) > 1
                                       else None, None, None, n=len(per), n_clusters=len(per), chance=0.0,
                                       subset="all", unit="prompts", higher_is_better=False))
            if p != "official":
                continue
            for col in breakdowns:
                for val in sorted({r.strata.get(col) for r in labelled if r.strata.get(col) is not None}):
                    idx = [j for j, r in enumerate(labelled) if r.strata.get(col) == val]
                    metrics.append(_row("accuracy", mean[idx], [clusters[j] for j in idx], f"{col}={val}",
                                        n_boot=n_boot, seed=seed))
    if scored and labelled:
        metrics.extend(surprise_rows(task_obj, labelled, prompts, n_boot=n_boot, seed=seed))
    files = {"items": ITEMS_FILE}
    submission = None
    if records and not labelled and hasattr(task_obj, "write_answers_submission"):  # HeldOut: the leaderboard file
        answers, n_none = [], 0
        for r in records:
            votes = [a["parsed"]["official"] for a in r.response["prompts"].values() if a["parsed"]["official"] is not None]
            n_none += not votes
            answers.append(1 if votes and (2 * sum(votes) > len(votes) or (2 * sum(votes) == len(votes) and votes[0]))
                           else 0)
        task_obj.write_answers_submission(out / "submission.jsonl", [r.name for r in records], answers)
        files["submission"] = "submission.jsonl"
        submission = {"rule": "majority of the prompts' official readings (a tie: the first readable prompt's; "
                              "no readable answer: 0, impossible)", "n_videos": len(records), "n_no_answer": n_none}
    write_jsonl(out / ITEMS_FILE, records)
    prov = base_provenance(seed, device)
    prov.update({"started_at": started_at, "finished_at": utcnow(), "wall_time_s": round(time.time() - t0, 3)})
    info = answerer.info.to_dict()
    n_cached = sum(r.from_cache for r in records)
    results = RunResults(
        task={"name": task, "split": split, "data_root": str(Path(data_root).resolve()), "data_fingerprint": fingerprint,
              "limit": limit, "n_items": len(items), "n_selected": len(items), "n_scored": len(records),
              "skipped": list(skipped.values()), "left_out": left_out, "n_in_metrics": len(labelled), "dev_split": None,
              "answers": {"parser": "official", "prompts": prompts, "unparseable": unparseable,
                          "parser_disagreements": disagree,
                          "n_requests": len(requests), "n_answered": len(texts)}, "submission": submission,
              "n_computed": len(records) - n_cached, "n_from_cache": n_cached, "n_from_previous_run": 0,
              "n_requests_generated": len(texts) - n_from_cache, "n_cache_corrupt": store.n_corrupt},
        model={"name": info["name"], "checkpoint": info["model"], "checkpoint_hash": None, "revision": info["revision"],
               "params": None, "readouts": ["generate"], "extra": info.get("extra", {}), "backend": info["backend"],
               "identity": {"name": info["name"], "backend": info["backend"], "model": info["model"],
                            "revision": info["revision"],
                            "key": response_key(answerer.info, Chat(user=""), "", sampling, generation)[:16]},
               "cache": {"enabled": store.enabled, "root": str(store.root) if store.root else None,
                         "store": "responses"}},
        protocol={"readout": "vlm", "parser": "official", "parsers": parsers, "headline": "accuracy",
                  "prompts": prompts, "prompt_protocol": proto.__name__, "sampling": sampling.to_dict(),
                  "generation": generation.to_dict(), "prompt_aggregation": "mean over prompts (not the max)",
                  "option_likelihood": None if likelihood_status(texts) is None else {
                      "scored": scored, "reading": "the likelier answer word as the answer's first word",
                      "surprise": "log p(impossible answer) - log p(possible answer), per prompt; mean over prompts",
                      "options": {k: texts[next(iter(texts))].get("options") for k in prompts[:1]},
                      **likelihood_status(texts)},
                  "n_boot": n_boot, "ci_level": 0.95, "batch_size": getattr(answerer, "batch_size", None)},
        metrics=metrics, provenance=prov, files=files, data=data_source(data_root),
        conventions={"source": "official IntPhys 2 VLM scripts (prompts, substring answer rule)",
                     "accuracy": "share of videos answered right (1 possible / 0 impossible), mean over the "
                                 "prompts; an unreadable answer is wrong", "pairing": "complete pairs only"},
    )
    return results, write_results(out, results)
