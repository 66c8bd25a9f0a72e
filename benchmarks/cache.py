"""On-disk cache of per-video model outputs (surprise arrays, encoder features).

Key = (model identity, what is computed, video content). Concretely::

    <root>/pjbench.cache-1/<model-name>/<identity-key>/identity.json
                                       /<identity-key>/<kind>-<protocol-key>/protocol.json
                                       /<identity-key>/<kind>-<protocol-key>/<fp[:2]>/<fp>.safetensors

- **model identity** (:func:`model_identity`): registry name + checkpoint content hash (or hub id and
  revision; or the random-init seed) + preprocessing + model-level readout parameters (``ModelInfo.extra``:
  layer, predictor mask index, ...) + :data:`CACHE_SCHEMA_VERSION`. Two different checkpoints under the same
  name never share entries. A local checkpoint is identified by its content, so moving the file keeps its
  cache; a hub id without a known revision is identified by the id alone (a moved hub revision would
  share entries; the revision is recorded whenever transformers reports it).
- **protocol**: the readout parameters (surprise: window, stride, contexts, ...; features: frames, pooling).
- **video content**: :func:`video_fingerprint`, a sha256 of the file's bytes (of every frame file for a
  PNG-folder video), so renamed or re-downloaded copies of the same video hit, and a changed file misses.

Every entry carries, in its safetensors header, the sha256 of its payload (names, dtypes, shapes and bytes
of its arrays) and of the key it was written for (store key + video fingerprint); both are verified on
every read. An entry that fails (flipped bytes, truncated, copied from another key, written before the
checksum existed) is removed and reported as corrupt (:meth:`CacheStore.lookup`); the caller recomputes
it and counts it (``task.n_cache_corrupt``).

Entries are safetensors files written atomically (temp file + ``os.replace``): a killed run leaves no
half-written entry, and concurrent writers of the same entry are harmless. Surprise arrays are stored as
float32 (they are tiny, and pairwise accuracy compares two nearly equal numbers, which fp16 could tie);
features may be stored as float16 by the caller (they are only ever used as probe inputs).

The root is ``$PJBENCH_CACHE``, else ``$XDG_CACHE_HOME/pjbench``, else ``~/.cache/pjbench``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pjbench.benchmarks.errors import PjbenchError

CACHE_SCHEMA_VERSION = "pjbench.cache/1"
_LAYOUT_DIR = "pjbench.cache-1"
ENTRY_SUFFIX = ".safetensors"

__all__ = [
    "CACHE_SCHEMA_VERSION",
    "CacheStore",
    "FeatureCache",
    "default_cache_root",
    "model_identity",
    "payload_digest",
    "video_fingerprint",
]


def default_cache_root() -> Path:
    """``$PJBENCH_CACHE``, else ``$XDG_CACHE_HOME/pjbench``, else ``~/.cache/pjbench``."""
    if os.environ.get("PJBENCH_CACHE"):
        return Path(os.environ["PJBENCH_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "pjbench"


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _key(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()[:n]


def model_identity(encoder: Any) -> dict[str, Any]:
    """What makes two models the same for caching and for comparing results (see module docstring).

    The checkpoint *path* is left out when the content hash is known (same bytes = same model)."""
    info = encoder.info
    weights: dict[str, Any]
    if info.checkpoint_hash:
        weights = {"checkpoint_hash": info.checkpoint_hash}
    elif info.checkpoint:
        weights = {"checkpoint": info.checkpoint, "revision": info.revision}
    else:
        weights = {"checkpoint": None}  # parameter-free or random-init (its seed is in extra)
    identity = {
        "name": info.name,
        **weights,
        "preprocessing": encoder.preprocessing.to_dict(),
        "extra": json.loads(_canonical(info.extra or {})),
        "cache_schema": CACHE_SCHEMA_VERSION,
    }
    identity["key"] = _key({k: v for k, v in identity.items() if k != "key"})
    return identity


_FP_MEMO: dict[tuple[str, int, int], str] = {}
_FP_LOCK = threading.Lock()


def video_fingerprint(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a video's content (file bytes; for a frame folder, every file's name and bytes).

    Memoised per process on (path, size, mtime), so a file is read once per run."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise PjbenchError(f"{path}: cannot read video for fingerprinting ({exc.strerror})") from None
    memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _FP_LOCK:
        if memo_key in _FP_MEMO:
            return _FP_MEMO[memo_key]
    h = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    fp = "sha256:" + h.hexdigest()
    with _FP_LOCK:
        _FP_MEMO[memo_key] = fp
    return fp


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "model"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


_PAYLOAD_META = "pjbench.payload_sha256"
_KEY_META = "pjbench.key_sha256"


def payload_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the arrays' names, dtypes, shapes and bytes (in name order)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(_canonical([name, a.dtype.str, list(a.shape)]).encode() + b"\0")
        h.update(a.tobytes())
    return h.hexdigest()


def _write_json_once(path: Path, obj: Any) -> None:
    if not path.exists():
        _atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


@dataclass(frozen=True)
class CacheStore:
    """Entries of one (model identity, kind, protocol): one safetensors file per video fingerprint.

    Picklable (paths only), so DataLoader workers can look entries up themselves."""

    directory: Path
    key: str
    enabled: bool = True

    def path_for(self, fingerprint: str) -> Path:
        digest = fingerprint.split(":", 1)[-1]
        return self.directory / digest[:2] / f"{digest}{ENTRY_SUFFIX}"

    def key_digest(self, fingerprint: str) -> str:
        return hashlib.sha256(f"{self.key}\0{fingerprint}".encode()).hexdigest()

    def lookup(self, fingerprint: str) -> tuple[dict[str, np.ndarray] | None, bool]:
        """``(arrays, False)`` on a verified hit, ``(None, False)`` on a miss, ``(None, True)`` on a corrupt
        entry (unreadable, payload or key checksum mismatch, no checksum): it is removed, to be recomputed."""
        if not self.enabled:
            return None, False
        path = self.path_for(fingerprint)
        if not path.is_file():
            return None, False
        from safetensors import safe_open
        from safetensors.numpy import load_file

        try:
            with safe_open(str(path), framework="np") as fh:
                meta = fh.metadata() or {}
            arrays = load_file(str(path))
            ok = (meta.get(_KEY_META) == self.key_digest(fingerprint)
                  and meta.get(_PAYLOAD_META) == payload_digest(arrays))
        except Exception:  # truncated, bad header, unreadable: recompute rather than crash
            ok = False
        if ok:
            return arrays, False
        path.unlink(missing_ok=True)
        return None, True

    def get(self, fingerprint: str) -> dict[str, np.ndarray] | None:
        """The stored arrays after verification, or ``None`` (a miss, or a corrupt entry, then removed)."""
        return self.lookup(fingerprint)[0]

    def put(self, fingerprint: str, arrays: dict[str, np.ndarray], meta: dict[str, str] | None = None) -> None:
        """Store ``arrays`` for a video, atomically. ``meta`` (strings) goes into the safetensors header."""
        if not self.enabled:
            return
        from safetensors.numpy import save

        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        header = {k: str(v) for k, v in (meta or {}).items()}
        header[_PAYLOAD_META] = payload_digest(arrays)
        header[_KEY_META] = self.key_digest(fingerprint)
        data = save(arrays, metadata=header)
        _atomic_write_bytes(self.path_for(fingerprint), data)

    def __contains__(self, fingerprint: str) -> bool:
        return self.enabled and self.path_for(fingerprint).is_file()

    def entries(self) -> Iterator[Path]:
        if self.directory.is_dir():
            yield from self.directory.glob(f"*/*{ENTRY_SUFFIX}")


class FeatureCache:
    """The cache root. ``enabled=False`` gives stores that never hit and never write (``--no-cache``)."""

    def __init__(self, root: str | os.PathLike | None = None, enabled: bool = True):
        self.root = Path(root).expanduser() if root else default_cache_root()
        self.enabled = enabled

    @property
    def base(self) -> Path:
        return self.root / _LAYOUT_DIR

    def store(self, identity: dict[str, Any], kind: str, protocol: dict[str, Any]) -> CacheStore:
        """The store of ``kind`` ("surprise", "features", ...) under ``protocol`` for a model identity."""
        if not re.fullmatch(r"[a-z0-9_]+", kind):
            raise ValueError(f"cache kind must be lowercase letters, digits or _, got {kind!r}")
        ident_key = identity.get("key") or _key(identity)
        proto_key = _key({"kind": kind, "protocol": protocol})
        model_dir = self.base / _slug(str(identity.get("name", "model"))) / ident_key
        directory = model_dir / f"{kind}-{proto_key}"
        if self.enabled:
            try:
                _write_json_once(model_dir / "identity.json", identity)
                _write_json_once(directory / "protocol.json", {"kind": kind, "protocol": protocol})
            except OSError as exc:
                raise PjbenchError(f"feature cache {self.root}: cannot write ({exc.strerror}); "
                                   "set PJBENCH_CACHE to a writable folder or pass --no-cache") from None
        return CacheStore(directory=directory, key=f"{ident_key}/{kind}-{proto_key}", enabled=self.enabled)

    # -- management (``pjbench cache ls|clear``) --------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """One row per cached model identity: name, key, checkpoint, stores with entry counts and bytes."""
        rows = []
        if not self.base.is_dir():
            return rows
        for ident_file in sorted(self.base.glob("*/*/identity.json")):
            model_dir = ident_file.parent
            try:
                identity = json.loads(ident_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                identity = {"name": model_dir.parent.name}
            stores = []
            for proto_file in sorted(model_dir.glob("*/protocol.json")):
                files = list(proto_file.parent.glob(f"*/*{ENTRY_SUFFIX}"))
                stores.append({"store": proto_file.parent.name, "entries": len(files),
                               "bytes": sum(f.stat().st_size for f in files)})
            rows.append({
                "name": identity.get("name", model_dir.parent.name), "key": model_dir.name,
                "checkpoint": identity.get("checkpoint_hash") or identity.get("checkpoint"),
                "revision": identity.get("revision"), "path": str(model_dir), "stores": stores,
                "entries": sum(s["entries"] for s in stores), "bytes": sum(s["bytes"] for s in stores),
            })
        return rows

    def clear(self, model: str | None = None) -> tuple[int, int]:
        """Delete every entry (or those of models named ``model``). Returns ``(identities, bytes)`` removed."""
        rows = [r for r in self.models() if model is None or r["name"] == model]
        for r in rows:
            shutil.rmtree(r["path"], ignore_errors=True)
            parent = Path(r["path"]).parent
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
        return len(rows), sum(r["bytes"] for r in rows)
