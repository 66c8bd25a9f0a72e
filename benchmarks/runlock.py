"""Ownership of a run directory: one pjbench process writes a ``--out`` (or a shard folder) at a time.

A run takes an exclusive advisory lock (``fcntl.flock``) on ``<dir>/.pjbench.lock`` before it touches the
folder and holds it until it returns or dies. The operating system releases the lock when the process ends,
``kill -9`` included, so a crashed run leaves no stale lock: the file stays, but the next run locks it at
once. The file's text (pid, host, start time, command) only names the holder in the message another run
prints. A second run on a locked folder waits for the first to finish (then runs exactly as it would have
alone: resumes, or refuses a different configuration, or replaces it under ``--overwrite always``), or, with
a timeout (``$PJBENCH_LOCK_TIMEOUT`` seconds; ``0`` = do not wait), refuses with an ``Error:`` naming the
holder. Two runs of one configuration on one folder therefore end identical, and two different runs never
mix their items.

The lock is re-entrant within a process (an evaluation that merges its shards takes it once).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from pjbench.benchmarks.errors import PjbenchError

LOCK_FILE = ".pjbench.lock"
POLL_S = 0.2

__all__ = ["LOCK_FILE", "holding_out_lock", "lock_timeout", "run_lock"]

_HELD: dict[str, int] = {}  # resolved lock path -> depth (this process)
_HELD_LOCK = threading.Lock()

F = TypeVar("F", bound=Callable[..., Any])


def lock_timeout() -> float | None:
    """``$PJBENCH_LOCK_TIMEOUT`` in seconds (``0``: refuse at once); unset: wait as long as it takes."""
    raw = os.environ.get("PJBENCH_LOCK_TIMEOUT", "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise PjbenchError(f"PJBENCH_LOCK_TIMEOUT={raw!r}: expected a number of seconds") from None
    if value < 0:
        raise PjbenchError(f"PJBENCH_LOCK_TIMEOUT={raw!r}: must be >= 0")
    return value


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another pjbench process"
    if not info:
        return "another pjbench process"
    return (f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}"
            + (f": {info['command']}" if info.get("command") else ""))


@contextlib.contextmanager
def run_lock(directory: str | os.PathLike, timeout: float | None = None, *, wait_message: bool = True) -> Iterator[Path]:
    """Hold the exclusive lock of ``directory`` (created if missing) for the ``with`` block.

    ``timeout``: seconds to wait for another holder (``None``: :func:`lock_timeout`; ``0``: refuse at once)."""
    directory = Path(directory)
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PjbenchError(f"--out {directory}: cannot create the folder ({exc.strerror})") from None
    path = directory / LOCK_FILE
    key = str(path.resolve())
    with _HELD_LOCK:
        if _HELD.get(key):
            _HELD[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield path
        finally:
            with _HELD_LOCK:
                _HELD[key] -= 1
        return
    try:
        fh = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise PjbenchError(f"--out {directory}: cannot write the run lock {path.name} ({exc.strerror}); "
                           "choose a writable --out") from None
    try:
        limit = lock_timeout() if timeout is None else timeout
        t0 = time.monotonic()
        said = False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if limit is not None and time.monotonic() - t0 >= limit:
                    raise PjbenchError(
                        f"{directory} is in use by another pjbench run ({_holder(path)}); wait for it to finish, "
                        "or choose another --out") from None
                if wait_message and not said:
                    print(f"waiting for the run holding {directory} ({_holder(path)}) to finish ...",
                          file=sys.stderr, flush=True)
                    said = True
                time.sleep(POLL_S)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]}
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(info) + "\n")
            fh.flush()
        except OSError:
            pass  # the note is informational; the lock itself is held
        with _HELD_LOCK:
            _HELD[key] = 1
        try:
            yield path
        finally:
            with _HELD_LOCK:
                _HELD.pop(key, None)
            try:
                fh.seek(0)
                fh.truncate()
            except OSError:
                pass
            if created:  # a run refused before it wrote anything leaves no folder behind
                with contextlib.suppress(OSError):
                    if [p.name for p in directory.iterdir()] == [LOCK_FILE]:
                        path.unlink()
                        directory.rmdir()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()


def holding_out_lock(func: F) -> F:
    """Decorator: run ``func`` holding the lock of its ``out`` argument's folder."""
    sig = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = sig.bind_partial(*args, **kwargs).arguments.get("out")
        if out is None:
            return func(*args, **kwargs)
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise PjbenchError(f"--out {out}: exists and is not a directory")
        with run_lock(out):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
