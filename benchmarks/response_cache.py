"""The response cache of video-language models: one JSON file per (model identity incl. revision, exact
prompt, frames shown, frame sampling, decoding parameters) key (:func:`pjbench.encoders.answerer.response_key`),
under ``<cache root>/responses/<key[:2]>/<key>.json``.

A re-run costs nothing, an interrupted run resumes (every answered request is stored as it arrives), and
shards share it. Entries are written atomically and carry the sha256 of their payload and their own key;
an entry that fails either check is removed and recomputed (counted), never served. Only successful
responses are stored: an error is retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pjbench.benchmarks.results import atomic_write_text

__all__ = ["ResponseCache"]


class ResponseCache:
    """``get(key)`` -> the stored payload dict or ``None``; ``put(key, payload)``; ``n_corrupt`` counts
    entries that failed verification (removed). ``root=None`` or ``enabled=False``: a cache that stores
    nothing."""

    def __init__(self, root: str | os.PathLike | None, enabled: bool = True):
        self.enabled = bool(enabled and root is not None)
        self.root = Path(root) / "responses" if root is not None else None
        self.n_corrupt = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    @staticmethod
    def _digest(payload: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            ok = entry.get("key") == key and entry.get("sha256") == self._digest(entry["payload"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            self.n_corrupt += 1
            path.unlink(missing_ok=True)
            return None
        return entry["payload"]

    def put(self, key: str, payload: dict[str, Any]) -> None:
        if not self.enabled:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"key": key, "sha256": self._digest(payload), "payload": payload}
        atomic_write_text(path, json.dumps(entry, ensure_ascii=False) + "\n")
