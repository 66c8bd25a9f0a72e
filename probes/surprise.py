"""Surprise readout: how badly a predictor anticipates the future of a video.

For every sliding window of ``window`` subsampled frames (``stride`` apart) and every context length C,
the model sees the first C frames and predicts the tokens of the rest of the window; the window's
surprise is ``mean |pred - target|`` over future tokens and channels. With ``max_context_mode`` the
first window is also scored with the short contexts ``step, 2*step, ..., C - step`` and those losses are
prepended to C's row, so a violation in the first frames is not missed.

Token masks are derived from the model's own grid (``Preprocessing.tokens_per_frame_group``), so the readout is correct at
any resolution (the official code assumed a 224-px grid at 256 px).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders.base import PredictiveEncoder, Preprocessing

AGGREGATIONS = ("avg", "max")


def default_contexts(window: int, tubelet: int) -> tuple[int, ...]:
    """V-JEPA 2's IntPhys 2 grid, scaled: ``k * window / 8`` for k = 2..7 (48 -> 12, 18, ..., 42), rounded
    down to a multiple of the tubelet, deduplicated."""
    out = []
    for k in range(2, 8):
        c = (k * window // 8) // tubelet * tubelet
        if 0 < c < window and c not in out:
            out.append(c)
    return tuple(out)


@dataclass(frozen=True)
class SurpriseConfig:
    """Readout parameters (frames are *subsampled* frames). Build with :meth:`for_model`."""

    window: int = 48
    stride: int = 2
    contexts: tuple[int, ...] = (12, 18, 24, 30, 36, 42)
    max_context_mode: bool = True
    tubelet: int = 2
    prefix_step: int = 2

    def __post_init__(self) -> None:
        if self.window < 2 or self.stride < 1:
            raise ValueError(f"window must be >= 2 and stride >= 1, got {self.window}, {self.stride}")
        if not self.contexts:
            raise ValueError("at least one context length is needed")
        if self.window % self.tubelet:
            raise ValueError(f"window {self.window} must be a multiple of the model's tubelet ({self.tubelet})")
        if self.prefix_step % self.tubelet:
            raise ValueError(f"prefix step {self.prefix_step} must be a multiple of the tubelet ({self.tubelet})")
        bad = [c for c in self.contexts if not 0 < c < self.window or c % self.tubelet]
        if bad:
            raise ValueError(
                f"context lengths {bad} must lie strictly inside the {self.window}-frame window and be multiples "
                f"of the tubelet ({self.tubelet})"
            )

    @classmethod
    def for_model(cls, pp: Preprocessing, **overrides: Any) -> "SurpriseConfig":
        """Defaults from the model's preprocessing (window = ``pp.frames``), then CLI overrides (None = keep).

        Raises :class:`PjbenchError` for parameters the model cannot run (a user error, not a crash)."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        window = overrides.get("window", pp.frames)
        contexts = tuple(overrides.get("contexts") or default_contexts(window, pp.tubelet))
        try:
            return cls(
                window=window,
                stride=overrides.get("stride", 2),
                contexts=tuple(sorted(set(contexts))),
                max_context_mode=overrides.get("max_context_mode", True),
                tubelet=pp.tubelet,
                prefix_step=pp.tubelet * max(1, 2 // pp.tubelet),
            )
        except ValueError as exc:
            raise PjbenchError(f"surprise readout: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["contexts"] = list(self.contexts)
        return d


def window_starts(n_frames: int, window: int, stride: int) -> list[int]:
    """Start frames of the sliding windows that fit entirely in ``n_frames`` (empty if none fits)."""
    return list(range(0, n_frames - window + 1, stride))


@torch.inference_mode()
def video_surprise(
    model: PredictiveEncoder, clip: torch.Tensor, cfg: SurpriseConfig, batch_size: int = 8
) -> dict[int, np.ndarray]:
    """Surprise of one preprocessed video ``clip (T, C, H, W)``.

    Returns ``{C: float32 array}`` per context length C: the per-window losses (``n_windows`` of them),
    preceded, with ``max_context_mode``, by the first window's losses at the shorter prefixes.
    Raises ``ValueError`` if the video is shorter than one window.
    """
    starts = window_starts(clip.shape[0], cfg.window, cfg.stride)
    if not starts:
        raise ValueError(f"video has {clip.shape[0]} sampled frames, fewer than one {cfg.window}-frame window")
    pp = model.preprocessing
    per_step = pp.tokens_per_frame_group()
    losses = {c: [] for c in cfg.contexts}
    prefix: dict[int, float] = {}
    prefix_contexts = (
        [c for c in range(cfg.prefix_step, max(cfg.contexts), cfg.prefix_step) if c not in cfg.contexts]
        if cfg.max_context_mode
        else []
    )
    for b0 in range(0, len(starts), batch_size):
        batch = torch.stack([clip[s : s + cfg.window] for s in starts[b0 : b0 + batch_size]])
        targets = model.targets(batch)
        wanted = list(cfg.contexts) + (prefix_contexts if b0 == 0 else [])
        for c in wanted:
            n_ctx = c // pp.tubelet * per_step
            pred = model.predict(batch, c)
            future = targets[:, n_ctx:]
            if pred.shape != future.shape:
                raise RuntimeError(
                    f"{model.info.name}: predicted {tuple(pred.shape)} for targets {tuple(future.shape)} at context {c}"
                )
            err = (pred.float() - future.float()).abs().mean(dim=(1, 2)).cpu().numpy()
            if c in losses:
                losses[c].extend(err.tolist())
                if b0 == 0:
                    prefix[c] = float(err[0])
            else:
                prefix[c] = float(err[0])
    out = {}
    for c in cfg.contexts:
        head = [prefix[p] for p in sorted(prefix) if p < c] if cfg.max_context_mode else []
        out[c] = np.asarray(head + losses[c], dtype=np.float32)
    return out


def aggregate(losses: Sequence[float], how: str) -> float:
    """One score per video from its per-window losses: ``avg`` (mean) or ``max``."""
    arr = np.asarray(losses, dtype=np.float64)
    if how == "avg":
        return float(arr.mean())
    if how == "max":
        return float(arr.max())
    raise ValueError(f"unknown aggregation {how!r}; use one of {AGGREGATIONS}")


def scores_at(surprise: dict[Any, Sequence[float]], context: int) -> dict[str, float]:
    """``{"avg": ..., "max": ...}`` at one context length (keys may be ints or JSON strings)."""
    row = surprise.get(context, surprise.get(str(context)))
    if row is None:
        raise KeyError(f"no surprise computed at context {context}; have {sorted(surprise)}")
    return {how: aggregate(row, how) for how in AGGREGATIONS}
