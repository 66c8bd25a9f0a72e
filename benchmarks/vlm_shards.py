"""The ``vlm`` readout beyond one process: shards answer, the merge reads the response cache.

Shard ``i/N`` of a ``vlm`` run (``pjbench eval --model M --task T --shard i/N``) answers the requests of the
items it owns (sha256 of the item name, :func:`pjbench.benchmarks.distributed.shard_of`) into the response
cache -- which every shard and the merge must see (``--cache-dir`` on shared storage) -- and records them in
``<out>/.shards/<i>-of-<N>/`` (``run_config.json``, ``invocation.json``, ``done.json``, ``heartbeat``). The
merge (the last shard to finish, or ``pjbench merge``) refuses, naming them, shards that have not finished
under the same configuration, then scores the whole run from the cache without generating anything: an
answer no shard stored is a recorded skip. The results equal a one-process run's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

from pjbench.benchmarks.distributed import (
    DONE_FILE,
    INVOCATION_FILE,
    RUN_CONFIG_FILE,
    Heartbeat,
    Shard,
    mark_done,
    mark_failed,
    reset_shard_dir,
    shard_dir,
    shards_done,
)
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.probe_shards import MERGE_MODES, check_may_write
from pjbench.benchmarks.results import atomic_write_text, dumps

__all__ = ["MergedAnswerer", "check_vlm_shards", "run_vlm_shard", "shard_skip_reasons"]


def run_vlm_shard(answerer: Any, requests: Sequence[tuple[str, Any, Any]], store: Any, sampling: Any, generation: Any,
                  out: Path, *, shard: Any, run_config: dict[str, Any], invocation: dict[str, Any], overwrite: str,
                  merge: str, run_id: str | None, batch_size: int, progress: bool, desc: str,
                  merge_fn: Callable[[], Any], options: dict[str, list[str]] | None = None):
    """Answer the requests of ``shard``'s items, record them, merge when this is the last shard."""
    from pjbench.benchmarks.runner import ShardOutcome
    from pjbench.benchmarks.vlm_runner import answer_requests

    if merge not in ("if-complete", "never"):
        raise PjbenchError(f"merge must be one of if-complete, never for a vlm shard; got {merge!r} "
                           f"(known modes: {', '.join(MERGE_MODES)})")
    if not store.enabled:
        raise PjbenchError("a sharded vlm run keeps its answers in the response cache: drop --no-cache (and give "
                           "every shard the same --cache-dir on shared storage)")
    shard = Shard.parse(shard)
    sdir = shard_dir(out, shard)
    check_may_write(out, shard, run_config, overwrite)
    mine = [r for r in requests if shard.owns(r[1].name)]
    sdir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with Heartbeat(sdir, run_id):
        try:
            reset_shard_dir(sdir, wipe=overwrite == "always")
            atomic_write_text(sdir / RUN_CONFIG_FILE, dumps(run_config) + "\n")
            atomic_write_text(sdir / INVOCATION_FILE, dumps(invocation) + "\n")
            texts, skipped, n_cached = answer_requests(answerer, mine, store, sampling, generation,
                                                       refresh=overwrite == "always", batch_size=batch_size,
                                                       progress=progress, desc=f"{desc} [shard {shard}]",
                                                       options=options)
            mark_done(sdir, {"shard": str(shard), "readout": "vlm", "n_requests": len(mine), "n_answered": len(texts),
                             "n_from_cache": n_cached, "skipped": skipped, "run_id": run_id,
                             "wall_time_s": round(time.time() - t0, 3)})
        except BaseException as exc:
            mark_failed(sdir, f"{type(exc).__name__}: {exc}", run_id)
            raise
    outcome = ShardOutcome(shard, sdir, len(mine), len(texts), len(skipped), len(texts) - n_cached, pending=[])
    outcome.pending = shards_done(out, shard.count, run_config)
    if merge != "never" and not outcome.pending:
        outcome.merged = merge_fn()
    return outcome


def check_vlm_shards(out: Path, count: int, run_config: dict[str, Any]) -> dict[str, str]:
    """The merge's precondition: every one of the ``count`` shards finished under ``run_config``. Returns
    :func:`shard_skip_reasons`, so that the merge names why an item has no answer."""
    pending = shards_done(out, count, run_config)
    if pending:
        raise PjbenchError(f"{out}: shard(s) {', '.join(f'{i}/{count}' for i in pending)} have not finished under "
                           f"this configuration; run them (--shard I/{count}), then `pjbench merge --out {out}`")
    return shard_skip_reasons(out, count)


def shard_skip_reasons(out: Path, count: int) -> dict[str, str]:
    """``{item name: why its shard recorded no answer}`` (an HTTP error after the retries, an undecodable
    video, ...) from the finished shards' ``done.json``, each reason tagged with its shard."""
    import json

    reasons: dict[str, str] = {}
    for i in range(count):
        path = shard_dir(out, Shard(i, count)) / DONE_FILE
        try:
            done = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for rec in done.get("skipped") or []:
            if isinstance(rec, dict) and rec.get("name"):
                reasons.setdefault(str(rec["name"]), f"{rec.get('reason', 'skipped')} (shard {i}/{count})")
    return reasons


class MergedAnswerer:
    """What a merge knows of the model: its identity and frame sampling as the shards recorded them
    (``run_config.json``). It generates nothing and loads no weights -- the merge reads the response
    cache only, so a 72B model's shards merge on a CPU-only node. ``score_options`` exists when the shards
    scored option likelihoods (so the merge reads them), and is never called."""

    def __init__(self, out: Path, count: int):
        import json

        from pjbench.encoders.answerer import AnswererInfo, FrameSampling

        config = None
        for i in range(count):
            try:
                config = json.loads((shard_dir(out, Shard(i, count)) / RUN_CONFIG_FILE).read_text())
                break
            except (OSError, ValueError):
                continue
        if config is None:
            raise PjbenchError(f"{out}: no shard of {count} recorded its run configuration; run the shards "
                               f"(--shard I/{count}), then `pjbench merge --out {out}`")
        ident = config["model"]
        self.info = AnswererInfo(name=ident["name"], backend=ident["backend"], model=ident["model"],
                                 revision=ident.get("revision"), extra=dict(ident.get("extra") or {}))
        self.sampling = FrameSampling(**config["sampling"])
        self.batch_size = None  # the run's --batch-size, set from its invocation
        if config.get("option_likelihood"):
            self.score_options = self._no_scoring

    def generate(self, requests: Sequence[Any], generation: Any) -> list[Any]:
        raise PjbenchError("a merge generates nothing (an answer no shard stored is a recorded skip)")

    def _no_scoring(self, requests: Sequence[Any], options: Sequence[Any]) -> list[Any]:
        raise PjbenchError("a merge scores nothing (it reads the likelihoods the shards stored)")
