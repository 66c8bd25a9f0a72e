"""Beyond one process: deterministic shards, the shard files in ``--out``, a file barrier, the merge, torchrun.

A run over ``N`` shards splits the items of the reported split *and* of the dev split by a stable hash of
the item name (:func:`shard_of`, sha256 -- never Python's salted ``hash``), so every item belongs to exactly
one shard whatever the process, machine or launch order. Shard ``i`` scores only its items and writes::

    <out>/.shards/<i>-of-<N>/run_config.json   the run's configuration (must equal the merge's)
                            /invocation.json   the evaluate() arguments, so ``pjbench merge`` can rebuild the run
                            /<split>.jsonl     per-item surprise or recorded skip, appended as each video is done
                            /dev-<dev>.jsonl   the same for its part of the dev split
                            /heartbeat         touched every few seconds while the shard is alive
                            /done.json         written last: the shard is complete
                            /failed.json       written instead when the shard raised

and fills the shared feature cache. Shards compute no metrics. The merge is the ordinary
:func:`pjbench.benchmarks.runner.evaluate` reading every item from the shard files instead of computing it
(``require_shards=True``): same records in the same order, same skips, same metrics as one process, no
padding duplicates, and running it again gives the same files. It runs automatically in the shard that
finds all shards done (and in torchrun's rank 0, which waits for the others), or as ``pjbench merge``.

Waiting (:func:`wait_for_shards`) never hangs on a dead rank: a shard that wrote ``failed.json`` stops the
wait at once, and one whose heartbeat is older than the timeout (or that never started) stops it with an
error naming it. Re-running the same command resumes: each shard keeps its finished items (its ``.jsonl``
files, then the feature cache).

This module is stdlib-only (no torch import): sharding a list of names is cheap in any process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, TypeVar

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import atomic_write_text, dumps, read_jsonl

SHARDS_DIR = ".shards"
RUN_CONFIG_FILE = "run_config.json"
INVOCATION_FILE = "invocation.json"
DONE_FILE = "done.json"
FAILED_FILE = "failed.json"
HEARTBEAT_FILE = "heartbeat"
DEFAULT_BARRIER_TIMEOUT_S = 600.0
_SHARD_DIR_RE = re.compile(r"^(\d+)-of-(\d+)$")

T = TypeVar("T")

__all__ = [
    "Shard", "shard_of", "shard_dir", "split_file", "shard_layouts", "read_shard_rows", "missing_by_shard",
    "shards_done", "wait_for_shards", "Heartbeat", "LaunchEnv", "torchrun_env", "rank_device", "merge",
    "torchrun_eval",
]


def shard_of(name: str, count: int) -> int:
    """The shard (``0 <= s < count``) that owns item ``name``: first 8 bytes of sha256(name) mod ``count``."""
    if count < 1:
        raise ValueError(f"shard count must be >= 1, got {count}")
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based), written ``index/count`` on the command line."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise PjbenchError(f"--shard {self.index}/{self.count}: need 0 <= i < N (0-based shard index)")

    @classmethod
    def parse(cls, text: "str | Shard | tuple[int, int]") -> "Shard":
        if isinstance(text, Shard):
            return text
        if isinstance(text, tuple):
            return cls(int(text[0]), int(text[1]))
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not m:
            raise PjbenchError(f"--shard {text!r}: expected I/N, e.g. 0/4 (0-based shard index of N shards)")
        return cls(int(m.group(1)), int(m.group(2)))

    @property
    def name(self) -> str:
        return f"{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index

    def select(self, items: Sequence[T]) -> list[T]:
        """The items (anything with ``.name``) this shard owns, in their original order."""
        return [it for it in items if self.owns(it.name)]  # type: ignore[attr-defined]


def shard_dir(out: str | os.PathLike, shard: Shard) -> Path:
    return Path(out) / SHARDS_DIR / shard.name


def split_file(split: str, dev: bool = False) -> str:
    """Name of a shard's per-item log for ``split`` (the same names as the single-process ``.partial/``)."""
    return f"dev-{split}.jsonl" if dev else f"{split}.jsonl"


def _same_config(path: Path, run_config: Mapping[str, Any]) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")) == json.loads(dumps(run_config))
    except (OSError, json.JSONDecodeError):
        return False


def shard_layouts(out: str | os.PathLike) -> dict[int, list[Shard]]:
    """Shard directories present in ``out`` (those that got as far as recording their configuration; a shard
    refused at start leaves only its failure marker), grouped by shard count ``N``."""
    layouts: dict[int, list[Shard]] = {}
    base = Path(out) / SHARDS_DIR
    if base.is_dir():
        for d in sorted(base.iterdir()):
            m = _SHARD_DIR_RE.match(d.name)
            if m and (d / RUN_CONFIG_FILE).is_file() and int(m.group(1)) < int(m.group(2)):
                s = Shard(int(m.group(1)), int(m.group(2)))
                layouts.setdefault(s.count, []).append(s)
    return layouts


def read_shard_rows(out: str | os.PathLike, run_config: Mapping[str, Any], filename: str,
                    count: int | None = None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per-item rows (``{"name", "surprise", "origin"}`` or ``{"name", "path", "skip"}``) from every shard
    directory of ``out`` (only the ``count``-shard layout when given) whose configuration equals
    ``run_config``. Returns ``(rows by item name, names of shard directories ignored for another config)``."""
    rows: dict[str, dict[str, Any]] = {}
    ignored: list[str] = []
    for n, shards in sorted(shard_layouts(out).items()):
        if count is not None and n != count:
            continue
        for s in shards:
            d = shard_dir(out, s)
            if not (d / RUN_CONFIG_FILE).exists():
                continue
            if not _same_config(d / RUN_CONFIG_FILE, run_config):
                ignored.append(s.name)
                continue
            if (d / filename).is_file():
                for row in read_jsonl(d / filename):
                    rows[row["name"]] = row
    return rows, ignored


def missing_by_shard(names: Iterable[str], count: int) -> dict[int, list[str]]:
    """Group item names by the shard of ``count`` that owns them."""
    out: dict[int, list[str]] = {}
    for name in names:
        out.setdefault(shard_of(name, count), []).append(name)
    return dict(sorted(out.items()))


def shards_done(out: str | os.PathLike, count: int, run_config: Mapping[str, Any]) -> list[int]:
    """Indices of the ``count`` shards that have *not* finished under ``run_config`` (empty: all done)."""
    pending = []
    for i in range(count):
        d = shard_dir(out, Shard(i, count))
        if not ((d / DONE_FILE).is_file() and _same_config(d / RUN_CONFIG_FILE, run_config)):
            pending.append(i)
    return pending


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def wait_for_shards(out: str | os.PathLike, count: int, run_config: Mapping[str, Any], *,
                    timeout: float = DEFAULT_BARRIER_TIMEOUT_S, run_id: str | None = None, poll: float = 0.5,
                    since: float | None = None) -> None:
    """Block until all ``count`` shards are done; raise :class:`PjbenchError` naming the shards that failed,
    died or never started.

    A shard counts as dead when its heartbeat (of this ``run_id``, when given) is older than ``timeout``
    seconds, or when it has none and ``timeout`` seconds have passed since the wait began. A ``failed.json``
    of this ``run_id`` (without one: written after ``since``) ends the wait at once."""
    t_start = time.time()
    since = t_start if since is None else since
    while True:
        pending = shards_done(out, count, run_config)
        if not pending:
            return
        now = time.time()
        problems = []
        for i in pending:
            d = shard_dir(out, Shard(i, count))
            failed = _read_json(d / FAILED_FILE)
            if failed and (failed.get("run_id") == run_id if run_id else failed.get("time", 0) >= since):
                problems.append(f"shard {i}/{count} failed: {failed.get('error', '?')}")
                continue
            beat = d / HEARTBEAT_FILE
            try:
                alive = run_id is None or beat.read_text(encoding="utf-8").strip() == run_id
                age = now - beat.stat().st_mtime
            except OSError:
                alive, age = False, None
            if alive and age is not None:
                if age > timeout:
                    problems.append(f"shard {i}/{count} stopped: no sign of life for {age:.0f} s (killed?)")
            elif now - t_start > timeout:
                problems.append(f"shard {i}/{count} never started within {timeout:.0f} s")
        if problems:
            raise PjbenchError(
                "; ".join(problems) + f". Finished work is kept in {Path(out) / SHARDS_DIR} and the feature cache: "
                "re-run the same command to resume, or `pjbench merge --out` once every shard is done")
        time.sleep(poll)


class Heartbeat:
    """Context manager: a daemon thread rewrites ``<dir>/heartbeat`` (content: ``run_id``) every
    ``interval`` seconds, so a waiting rank can tell a slow shard from a dead one."""

    def __init__(self, directory: Path, run_id: str | None = None, interval: float = 5.0):
        self.path = Path(directory) / HEARTBEAT_FILE
        self.run_id = run_id or ""
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(self.run_id + "\n", encoding="utf-8")
        except OSError:  # a full or vanished disk must not kill the shard; the waiter then times out
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def __enter__(self) -> "Heartbeat":
        self.beat()
        self._thread = threading.Thread(target=self._run, name="pjbench-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)


def mark_done(directory: Path, summary: Mapping[str, Any]) -> None:
    (directory / FAILED_FILE).unlink(missing_ok=True)
    atomic_write_text(directory / DONE_FILE, dumps({**summary, "time": time.time()}) + "\n")


def mark_failed(directory: Path, error: str, run_id: str | None) -> None:
    try:
        atomic_write_text(directory / FAILED_FILE, dumps({"error": error, "run_id": run_id, "time": time.time()}) + "\n")
    except OSError:
        pass


def reset_shard_dir(directory: Path, wipe: bool) -> None:
    """Forget the shard's completion state; with ``wipe`` also its per-item logs (``--overwrite always``)."""
    for name in (DONE_FILE, FAILED_FILE):
        (directory / name).unlink(missing_ok=True)
    if wipe and directory.is_dir():
        from pjbench.benchmarks.runlock import LOCK_FILE

        for p in directory.iterdir():
            if p.name in (HEARTBEAT_FILE, LOCK_FILE):  # the lock is held by this very shard
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


# -- launchers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchEnv:
    """Where this process sits in a torchrun launch (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""

    rank: int
    world_size: int
    local_rank: int
    run_id: str | None = None

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.world_size)


def torchrun_env(environ: Mapping[str, str] | None = None) -> LaunchEnv | None:
    """The torchrun (torch.distributed.run) environment of this process, or ``None`` outside one (or with a
    world of one process, which is an ordinary run)."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", rank))
    except ValueError:
        raise PjbenchError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers, got {env.get('RANK')!r}, "
                           f"{env.get('WORLD_SIZE')!r}, {env.get('LOCAL_RANK')!r}") from None
    if world <= 1:
        return None
    run_id = env.get("TORCHELASTIC_RUN_ID")
    if run_id is not None:  # a restarted worker group is a new attempt: its markers must not mix with the old
        run_id = f"{run_id}:{env.get('TORCHELASTIC_RESTART_COUNT', '0')}"
    return LaunchEnv(rank, world, local, run_id)


def rank_device(device: str, local_rank: int) -> str:
    """``cuda`` -> ``cuda:<local_rank>`` (one GPU per rank); anything else (``cpu``, ``cuda:3``) unchanged."""
    return f"cuda:{local_rank}" if device == "cuda" else device


def torchrun_eval(model: str, data_root: str | os.PathLike, out: str | os.PathLike, *, launch: LaunchEnv,
                  device: str = "cpu", barrier_timeout: float = DEFAULT_BARRIER_TIMEOUT_S, **kwargs: Any):
    """One torchrun rank: score shard ``RANK/WORLD_SIZE`` on ``cuda:LOCAL_RANK`` (with ``device="cuda"``);
    rank 0 then waits for the others (file barrier, ``barrier_timeout``) and merges. Returns the
    :class:`~pjbench.benchmarks.runner.ShardOutcome` (``merged`` is set on rank 0)."""
    from pjbench.benchmarks.api import evaluate

    return evaluate(model, data_root, out, shard=launch.shard, device=rank_device(device, launch.local_rank),
                    merge="wait" if launch.rank == 0 else "never", barrier_timeout=barrier_timeout,
                    run_id=launch.run_id, **kwargs)


def merge(out: str | os.PathLike, *, shards: int | None = None, progress: bool = True, device: str = "cpu"):
    """``pjbench merge``: results of a sharded run in ``out`` from its shard files, identical to one process.

    Rebuilds the run from the shards' ``invocation.json`` (the model is built on ``device`` but runs no
    forward pass), and raises :class:`PjbenchError` naming the unfinished shards and their missing items.
    ``shards`` picks the layout when ``out`` holds several shard counts. Returns ``(RunResults, path)``."""
    from pjbench.benchmarks.runner import evaluate

    layouts = shard_layouts(out)
    if not layouts:
        raise PjbenchError(f"{out}: no shard directories ({SHARDS_DIR}/I-of-N); was it run with --shard or torchrun?")
    if shards is None:
        if len(layouts) > 1:
            raise PjbenchError(f"{out} holds shards of several layouts (N = {', '.join(map(str, sorted(layouts)))}); "
                               "pass --shards N")
        shards = next(iter(layouts))
    elif shards not in layouts:
        raise PjbenchError(f"{out}: no shards of a {shards}-shard layout (found N = {', '.join(map(str, sorted(layouts)))})")
    invocation = None
    for s in layouts[shards]:
        invocation = _read_json(shard_dir(out, s) / INVOCATION_FILE)
        if invocation is not None:
            break
    if invocation is None:
        raise PjbenchError(f"{out}: no shard of {shards} wrote {INVOCATION_FILE}; re-run the shards")
    if invocation.get("readout") == "vlm":
        from pjbench.benchmarks.vlm_runner import evaluate_vlm

        return evaluate_vlm(invocation["model"], invocation["task"], invocation["data_root"], out,
                            **invocation["options"], device=device, progress=progress, require_shards=shards)
    if invocation.get("readout") == "probe":
        from pjbench.benchmarks.probe_runner import evaluate_probe

        return evaluate_probe(invocation["model"], invocation["task"], invocation["data_root"], out,
                              **invocation["options"], device=device, progress=progress, workers=0,
                              require_shards=shards)
    model = invocation.pop("model")
    data_root = invocation.pop("data_root")
    if invocation.get("contexts") is not None:
        invocation["contexts"] = tuple(invocation["contexts"])
    return evaluate(model, data_root, out, **invocation, device=device, progress=progress, workers=0,
                    require_shards=shards)
