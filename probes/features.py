"""Frozen-encoder features for the probe track: one clip per video, pooled tokens, cached on disk.

A video becomes ``n_frames`` frames sampled uniformly over its whole length (the V-JEPA 2 attentive-probe
evals look at the whole clip; questions are about what happens anywhere in it), preprocessed with the
encoder's :class:`~pjbench.encoders.base.Preprocessing`, encoded once, and its token grid ``(t, h, w)``
average-pooled to a bounded grid (default ``(8, 4, 4)`` = 128 tokens). What is stored per video is then
``prod(pooled_grid) * D * 2`` bytes (float16): 256 KiB for a ViT-L (D = 1024) at the default grid, so the
54,828 videos of MVPBench full take about 14 GiB on disk.

Features are keyed by video *content* (:func:`pjbench.benchmarks.cache.video_fingerprint`): items that
share a video are encoded once, and a re-run reads every feature from the cache. Training reads them
back per batch (:meth:`FeatureIndex.tokens`) through a bounded LRU; nothing requires all features in RAM.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from pjbench.benchmarks.cache import CacheStore, video_fingerprint
from pjbench.benchmarks.errors import PjbenchError, VideoError
from pjbench.benchmarks.tasks import VideoItem
from pjbench.benchmarks.video import decode_video, preprocess
from pjbench.encoders.base import Preprocessing

__all__ = [
    "DEFAULT_POOLED_GRID",
    "FeatureIndex",
    "FeatureStats",
    "clip_for_features",
    "extract_features",
    "feature_bytes",
    "feature_protocol",
    "pool_tokens",
    "sample_indices",
]

DEFAULT_POOLED_GRID = (8, 4, 4)
FEATURE_PROTOCOL_VERSION = 1
DEFAULT_LRU_BYTES = 1 << 30


def sample_indices(n_available: int, n_frames: int) -> tuple[np.ndarray, int]:
    """Uniform temporal sampling: the centre frame of each of ``n_frames`` equal segments.

    Returns ``(indices, n_padded)``. A video with fewer than ``n_frames`` frames keeps all of them and
    repeats its last frame ``n_padded = n_frames - n_available`` times."""
    if n_available < 1 or n_frames < 1:
        raise ValueError(f"need at least one frame (have {n_available}, want {n_frames})")
    if n_available < n_frames:
        idx = np.concatenate([np.arange(n_available), np.full(n_frames - n_available, n_available - 1)])
        return idx.astype(np.int64), n_frames - n_available
    idx = np.floor((np.arange(n_frames) + 0.5) * n_available / n_frames).astype(np.int64)
    return np.minimum(idx, n_available - 1), 0


def _declared_frames(path: Path) -> int:
    """Frame count the container declares (PNG folder: number of frames); 0 when unknown."""
    if path.is_dir():
        return len(list(path.glob("*.png")))
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0
            return int(container.streams.video[0].frames or 0)
    except Exception as exc:  # av raises many types; decode_video would name the same problem
        raise VideoError(f"cannot open video ({type(exc).__name__}: {exc})", path=path) from exc


def clip_for_features(
    frames_or_path: "np.ndarray | str | os.PathLike", pp: Preprocessing, n_frames: int
) -> tuple[torch.Tensor, dict[str, int]]:
    """One clip per video for feature extraction: ``float32 (n_frames, 3, R, R)`` plus ``{n_source_frames,
    n_padded}``.

    ``frames_or_path``: ``uint8 (T, H, W, 3)`` frames or a video path. From a path only about
    ``2 * n_frames`` frames are converted to RGB (decoding with a step of ``declared // n_frames``), so
    a long 1080p video does not have to fit in memory. Raises :class:`VideoError` naming the file."""
    if n_frames % pp.tubelet:
        raise PjbenchError(f"n_frames {n_frames} is not a multiple of the encoder's tubelet {pp.tubelet}")
    if isinstance(frames_or_path, (str, os.PathLike)):
        path = Path(frames_or_path)
        if not path.exists():
            raise VideoError("video file not found", path=path)
        declared = _declared_frames(path)
        step = max(1, declared // n_frames) if declared else 1
        frames = decode_video(path, frame_step=step)
        n_source = declared or len(frames)
    else:
        frames = np.asarray(frames_or_path)
        n_source = len(frames)
    idx, n_padded = sample_indices(len(frames), n_frames)
    return preprocess(frames[idx], pp), {"n_source_frames": int(n_source), "n_padded": int(n_padded)}


def pool_tokens(
    tokens: torch.Tensor, grid: Sequence[int], pooled_grid: Sequence[int]
) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Adaptive average pooling of a ``(t, h, w)`` token grid: ``(N, D)`` or ``(B, N, D)`` in (t, h, w)
    raster order -> ``(N', D)`` / ``(B, N', D)`` with ``N' = prod(out_grid)``, ``out_grid[i] =
    min(grid[i], pooled_grid[i])`` (never upsampled). Returns ``(pooled, out_grid)``."""
    t, h, w = (int(g) for g in grid)
    squeeze = tokens.ndim == 2
    x = tokens[None] if squeeze else tokens
    b, n, d = x.shape
    if n != t * h * w:
        raise PjbenchError(f"encoder returned {n} tokens, expected a {t}x{h}x{w} grid ({t * h * w}); "
                           "the probe track needs grid-ordered patch tokens (no class token)")
    out_grid = (min(t, int(pooled_grid[0])), min(h, int(pooled_grid[1])), min(w, int(pooled_grid[2])))
    x = x.float().transpose(1, 2).reshape(b, d, t, h, w)
    x = F.adaptive_avg_pool3d(x, out_grid).reshape(b, d, -1).transpose(1, 2)
    return (x[0] if squeeze else x).contiguous(), out_grid


def feature_bytes(pooled_grid: Sequence[int], dim: int) -> int:
    """Bytes stored per video: ``prod(pooled_grid) * dim * 2`` (float16)."""
    return int(np.prod([int(g) for g in pooled_grid])) * int(dim) * 2


def feature_protocol(n_frames: int, pooled_grid: Sequence[int]) -> dict[str, Any]:
    """The cache protocol of a feature store (part of the cache key)."""
    return {"readout": "probe-features", "version": FEATURE_PROTOCOL_VERSION, "n_frames": int(n_frames),
            "sampling": "uniform over the whole video (segment centres; short videos repeat the last frame)",
            "pooled_grid": [int(g) for g in pooled_grid], "pool": "adaptive_avg_pool3d", "dtype": "float16"}


@dataclass
class FeatureStats:
    """What :func:`extract_features` did. ``failed``: ``[{name, path, reason}]`` per item."""

    n_items: int = 0
    n_videos: int = 0
    n_hit: int = 0
    n_computed: int = 0
    n_failed: int = 0
    n_corrupt: int = 0  # cache entries that failed verification (removed, recomputed)
    failed: list[dict[str, str]] = field(default_factory=list)
    grid: tuple[int, int, int] | None = None
    pooled_grid: tuple[int, int, int] | None = None
    dim: int | None = None
    bytes_per_video: int | None = None
    n_padded_videos: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["failed"] = list(self.failed)
        return d


class FeatureIndex:
    """Access to cached features by video path: ``tokens(paths) -> float32 (B, N', D)``.

    Reads one safetensors file per video from the store; a least-recently-used memory cache of at most
    ``max_bytes`` (float16 arrays) avoids re-reading during training epochs."""

    def __init__(self, store: CacheStore, fingerprints: dict[str, str], from_cache: set[str],
                 stats: FeatureStats, max_bytes: int = DEFAULT_LRU_BYTES):
        self.store = store
        self.fingerprints = fingerprints  # str(video path) -> fingerprint (only videos with features)
        self.from_cache = from_cache  # str(video path) of videos whose features were cache hits, not computed
        self.stats = stats
        self.max_bytes = int(max_bytes)
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lru_bytes = 0

    def __contains__(self, path: object) -> bool:
        return str(path) in self.fingerprints

    def array(self, path: str | os.PathLike) -> np.ndarray:
        """float16 ``(N', D)`` of one video."""
        fp = self.fingerprints[str(path)]
        arr = self._lru.get(fp)
        if arr is not None:
            self._lru.move_to_end(fp)
            return arr
        entry = self.store.get(fp)
        if entry is None or "tokens" not in entry:
            raise PjbenchError(f"feature cache entry of {path} ({fp}) vanished from {self.store.directory} "
                               "during the run; re-run to recompute it")
        arr = entry["tokens"]
        if arr.nbytes <= self.max_bytes:
            self._lru[fp] = arr
            self._lru_bytes += arr.nbytes
            while self._lru_bytes > self.max_bytes:
                _, old = self._lru.popitem(last=False)
                self._lru_bytes -= old.nbytes
        return arr

    def tokens(self, paths: Sequence[str | os.PathLike]) -> torch.Tensor:
        """``float32 (B, N', D)`` for the videos at ``paths``."""
        return torch.from_numpy(np.stack([self.array(p) for p in paths]).astype(np.float32))


class _FeatureClips(torch.utils.data.Dataset):
    """Per unique video: fingerprint, cache lookup (a hit skips decoding), else the decoded clip.
    Errors come back as values (recorded as failures)."""

    def __init__(self, paths: Sequence[Path], store: CacheStore, pp: Preprocessing, n_frames: int):
        self.paths, self.store, self.pp, self.n_frames = list(paths), store, pp, n_frames

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, str | None, torch.Tensor | None, dict[str, int] | None, str | None,
                                           bool]:
        path = self.paths[i]
        try:
            if not path.exists():
                raise VideoError("video file not found", path=path)
            fp = video_fingerprint(path)
        except PjbenchError as exc:
            return i, None, None, None, str(exc), False
        entry, corrupt = self.store.lookup(fp)  # verified (payload + key checksum); a bad entry is removed
        if entry is not None and "tokens" in entry:
            return i, fp, None, None, None, False
        try:
            clip, info = clip_for_features(path, self.pp, self.n_frames)
        except (PjbenchError, ValueError) as exc:
            return i, fp, None, None, str(exc), corrupt
        return i, fp, clip, info, None, corrupt


def _as_is(sample: Any) -> Any:
    return sample


def extract_features(
    encoder: Any,
    items: Sequence[VideoItem],
    store: CacheStore,
    *,
    n_frames: int = 16,
    pooled_grid: Sequence[int] = DEFAULT_POOLED_GRID,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
    max_bytes: int = DEFAULT_LRU_BYTES,
) -> FeatureIndex:
    """Make sure every item's video has features in ``store``; return the index to read them back.

    Videos are deduplicated by path (and, through the store, by content). Misses are decoded by
    ``workers`` DataLoader processes, encoded ``batch_size`` at a time, pooled and stored as float16;
    hits are only counted. An unreadable or missing video is a recorded failure (``index.stats.failed``,
    one row per item using it), not an exception."""
    pp: Preprocessing = encoder.preprocessing
    if n_frames % pp.tubelet:
        raise PjbenchError(f"--frames {n_frames} is not a multiple of the encoder's tubelet {pp.tubelet}")
    grid = pp.grid(n_frames)
    by_path: dict[Path, list[VideoItem]] = {}
    for it in items:
        by_path.setdefault(Path(it.path), []).append(it)
    paths = list(by_path)
    stats = FeatureStats(n_items=len(items), n_videos=len(paths), grid=tuple(grid))
    fingerprints: dict[str, str] = {}
    from_cache: set[str] = set()
    if not paths:
        return FeatureIndex(store, fingerprints, from_cache, stats, max_bytes)

    def fail(path: Path, reason: str) -> None:
        stats.n_failed += 1
        for it in by_path[path]:
            stats.failed.append({"name": it.name, "path": str(path), "reason": reason})

    def done(path: Path, fp: str, hit: bool) -> None:
        fingerprints[str(path)] = fp
        if hit:
            from_cache.add(str(path))

    pending: list[tuple[Path, str, torch.Tensor, dict[str, int]]] = []

    def flush() -> None:
        if not pending:
            return
        clips = torch.stack([p[2] for p in pending])
        try:
            with torch.inference_mode():
                tokens = encoder.encode(clips)
            pooled, out_grid = pool_tokens(tokens.detach().float().cpu(), grid, pooled_grid)
        except (RuntimeError, ValueError) as exc:  # e.g. out of memory: name the videos, keep going
            for path, _, _, _ in pending:
                fail(path, f"{path}: encoder failed ({type(exc).__name__}: {exc})")
            pending.clear()
            return
        stats.pooled_grid, stats.dim = out_grid, int(pooled.shape[-1])
        stats.bytes_per_video = feature_bytes(out_grid, stats.dim)
        for (path, fp, _, info), feats in zip(pending, pooled):
            n_bad = int((~torch.isfinite(feats)).sum())
            if n_bad:  # never cache or train on them: a recorded failure naming the video
                fail(path, f"{path}: the encoder produced non-finite features ({n_bad} NaN/inf values)")
                continue
            feats16 = feats.numpy().astype(np.float16)
            if not np.isfinite(feats16).all():
                fail(path, f"{path}: features exceed the float16 range of the feature cache "
                           f"(max |x| = {float(feats.abs().max()):.3g} > 65504)")
                continue
            store.put(fp, {"tokens": feats16,
                           "n_source_frames": np.array([info["n_source_frames"]], dtype=np.int64),
                           "n_padded": np.array([info["n_padded"]], dtype=np.int64)},
                      meta={"name": by_path[path][0].name, "path": str(path)})
            stats.n_computed += 1
            stats.n_padded_videos += int(info["n_padded"] > 0)
            done(path, fp, hit=False)
        pending.clear()

    loader = torch.utils.data.DataLoader(
        _FeatureClips(paths, store, pp, n_frames), batch_size=None, num_workers=workers, collate_fn=_as_is,
        prefetch_factor=2 if workers else None,
    )
    name = getattr(getattr(encoder, "info", None), "name", "encoder")
    with tqdm(total=len(paths), desc=f"{name} features", unit="video", disable=not progress) as bar:
        for i, fp, clip, info, error, corrupt in loader:
            path = paths[i]
            stats.n_corrupt += int(corrupt)
            if error is not None:
                fail(path, error)
            elif clip is None:  # cache hit
                stats.n_hit += 1
                done(path, fp, hit=True)
            else:
                pending.append((path, fp, clip, info))
                if len(pending) >= batch_size:
                    flush()
            bar.update(1)
        flush()
    if stats.dim is None and fingerprints:  # everything was a hit: read the shape from one entry
        first = store.get(next(iter(fingerprints.values())))
        if first is not None:
            n, d = first["tokens"].shape
            stats.dim = int(d)
            stats.pooled_grid = tuple(min(g, p) for g, p in zip(grid, pooled_grid))
            stats.bytes_per_video = feature_bytes(stats.pooled_grid, d)
    return FeatureIndex(store, fingerprints, from_cache, stats, max_bytes)
