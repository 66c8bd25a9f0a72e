"""The probe readout beyond one process: shards encode features, the merge trains the probe.

The expensive part of a probe run is the frozen encoder's features; the probe itself trains in minutes on
one device. So shard ``i/N`` of a probe run (``pjbench eval --task mvpbench --shard i/N``, a torchrun rank,
a Slurm array task) encodes only the videos it owns (sha256 of the video's path under the data root, as
:func:`pjbench.benchmarks.distributed.shard_of`) into the run's feature store (``--cache-dir`` /
``$PJBENCH_CACHE``, or ``<out>/.features`` with ``--no-cache``: on a cluster, a folder every node sees), and
records what it did in ``<out>/.shards/<i>-of-<N>/`` (the shard layout of
:mod:`pjbench.benchmarks.distributed`: ``run_config.json``, ``invocation.json``, ``done.json`` listing its
videos and failures, ``heartbeat``). The merge (the last shard to finish, torchrun's rank 0, or ``pjbench
merge``) checks that every shard finished under the same configuration and that every video of the run is in
some shard's record, then runs the ordinary probe evaluation, reading every feature from the store: results
equal a one-process run's.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from pjbench.benchmarks.distributed import (
    DEFAULT_BARRIER_TIMEOUT_S,
    DONE_FILE,
    INVOCATION_FILE,
    RUN_CONFIG_FILE,
    Heartbeat,
    Shard,
    mark_done,
    mark_failed,
    reset_shard_dir,
    shard_dir,
    shard_of,
    shards_done,
    wait_for_shards,
)
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import atomic_write_text, dumps
from pjbench.benchmarks.runlock import run_lock

__all__ = ["Shard", "check_may_write", "check_shards", "invocation_of", "locked", "run_feature_shard", "video_key"]

MERGE_MODES = ("if-complete", "wait", "never")


def locked(fn: Callable[..., Any], out: str | os.PathLike, shard: Any, kwargs: dict[str, Any]) -> Any:
    """``fn(**kwargs)`` holding the lock of the run folder, or of the shard's folder for a shard (shards of
    one run work side by side; each merge takes the run folder's lock)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PjbenchError(f"--out {out}: exists and is not a directory")
    with run_lock(shard_dir(out, Shard.parse(shard)) if shard is not None else out):
        return fn(**kwargs)


def video_key(path: str | os.PathLike, data_root: str | os.PathLike) -> str:
    """A video's name in shard records: its path under the data root (the same on every node)."""
    p, root = Path(path).resolve(), Path(data_root).resolve()
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


def invocation_of(model: str, task: str, data_root: str | os.PathLike, locals_: dict[str, Any]) -> dict[str, Any]:
    """What ``pjbench merge`` needs to rebuild the run: ``{readout, model, task, data_root, options}``."""
    if not isinstance(locals_.get("text_encoder"), (str, type(None))):
        raise PjbenchError("a sharded probe run needs the text encoder by name ('learned', an HF id or a "
                           "folder), not an object: the merge rebuilds it from the shards' invocation.json")
    return {"readout": "probe", "model": model, "task": task, "data_root": str(Path(data_root).resolve()),
            "options": json.loads(dumps(locals_))}


def check_may_write(out: Path, shard: Shard, run_config: dict[str, Any], overwrite: str) -> None:
    """Refuse to mix configurations: the run's, this shard's and its sibling shards' (same layout) must agree
    (``overwrite="always"`` replaces this shard's own record only)."""
    config = json.loads(dumps(run_config))
    top, mine = out / RUN_CONFIG_FILE, shard_dir(out, shard) / RUN_CONFIG_FILE
    if overwrite == "never" and (top.exists() or mine.exists()):
        raise PjbenchError(f"{out} already holds a run; --overwrite never refuses to touch it")
    siblings = [shard_dir(out, Shard(i, shard.count)) / RUN_CONFIG_FILE for i in range(shard.count) if i != shard.index]
    for path in (top, *siblings):
        if path.exists():
            previous = json.loads(path.read_text(encoding="utf-8"))
            if previous != config:
                diff = sorted(k for k in config if config.get(k) != previous.get(k))
                raise PjbenchError(f"{path.parent} holds a run with a different configuration ({', '.join(diff)} "
                                   "differ) than this shard; every shard of a run needs the same options (or use "
                                   "another --out)")
    for path in (mine,):
        if overwrite != "always" and path.exists():
            previous = json.loads(path.read_text(encoding="utf-8"))
            if previous != config:
                diff = sorted(k for k in config if config.get(k) != previous.get(k))
                raise PjbenchError(f"{path.parent} holds a run with a different configuration ({', '.join(diff)} "
                                   "differ); pass --overwrite always to replace it or choose another --out")


def run_feature_shard(enc: Any, pool: Sequence[Any], store: Any, out: str | os.PathLike,
                      data_root: str | os.PathLike, *, shard: Any, run_config: dict[str, Any],
                      invocation: dict[str, Any], overwrite: str, merge: str, barrier_timeout: float | None,
                      run_id: str | None, extract: dict[str, Any], merge_fn: Callable[[], Any]):
    """Encode the videos of ``pool`` that ``shard`` owns into ``store``, record them, and merge when this is
    the last shard (``merge``). Returns a :class:`~pjbench.benchmarks.runner.ShardOutcome`."""
    from pjbench.benchmarks.runner import ShardOutcome
    from pjbench.probes.features import extract_features

    if merge not in MERGE_MODES:
        raise PjbenchError(f"merge must be one of {', '.join(MERGE_MODES)}; got {merge!r}")
    shard = Shard.parse(shard)
    out = Path(out)
    sdir = shard_dir(out, shard)
    check_may_write(out, shard, run_config, overwrite)
    mine = [it for it in pool if shard.owns(video_key(it.path, data_root))]
    t_start = time.time()
    sdir.mkdir(parents=True, exist_ok=True)
    with Heartbeat(sdir, run_id):
        try:
            reset_shard_dir(sdir, wipe=overwrite == "always")
            sdir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(sdir / RUN_CONFIG_FILE, dumps(run_config) + "\n")
            atomic_write_text(sdir / INVOCATION_FILE, dumps(invocation) + "\n")
            index = extract_features(enc, mine, store, **extract)
            st = index.stats
            videos = sorted({video_key(it.path, data_root) for it in mine})
            mark_done(sdir, {"shard": str(shard), "readout": "probe", "n_items": len(mine), "n_videos": len(videos),
                             "n_computed": st.n_computed, "n_from_cache": st.n_hit, "n_failed": st.n_failed,
                             "failed": st.failed, "videos": videos, "run_id": run_id})
        except BaseException as exc:
            mark_failed(sdir, f"{type(exc).__name__}: {exc}", run_id)
            raise
    n_skipped = len(st.failed)
    outcome = ShardOutcome(shard, sdir, len(mine), len(mine) - n_skipped, n_skipped, st.n_computed, pending=[])
    if merge == "wait":
        wait_for_shards(out, shard.count, run_config, run_id=run_id, since=t_start,
                        timeout=DEFAULT_BARRIER_TIMEOUT_S if barrier_timeout is None else barrier_timeout)
    outcome.pending = shards_done(out, shard.count, run_config)
    if merge != "never" and not outcome.pending:
        outcome.merged = merge_fn()
    return outcome


def check_shards(out: str | os.PathLike, count: int, run_config: dict[str, Any], pool: Sequence[Any],
                 data_root: str | os.PathLike) -> None:
    """The merge's precondition: all ``count`` shards finished under ``run_config`` and together recorded
    every video of ``pool``; else a :class:`PjbenchError` naming the shards (and a missing video)."""
    pending = shards_done(out, count, run_config)
    if pending:
        raise PjbenchError(f"{out}: shard(s) {', '.join(f'{i}/{count}' for i in pending)} have not finished under "
                           f"this configuration; run them (--shard I/{count}), then `pjbench merge --out {out}`")
    covered: set[str] = set()
    for i in range(count):
        done = json.loads((shard_dir(out, Shard(i, count)) / DONE_FILE).read_text(encoding="utf-8"))
        covered.update(done.get("videos") or ())
    missing = sorted({video_key(it.path, data_root) for it in pool} - covered)
    if missing:
        raise PjbenchError(f"{out}: {len(missing)} video(s) of the run are in no shard's record (first: {missing[0]}, "
                           f"owned by shard {shard_of(missing[0], count)}/{count}); re-run that shard")
