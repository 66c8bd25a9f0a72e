"""Surprise readout: how badly a predictor anticipates the future of a video.

For every sliding window of ``window`` subsampled frames (``stride`` apart) and every context length C,
the model sees the first C frames and predicts the tokens of the rest of the window; the window's
surprise is ``mean |pred - target|`` over future tokens and channels. With ``max_context_mode`` the
first window is also scored with the short contexts ``step, 2*step, ..., C - step`` and those losses are
prepended to C's row, so a violation in the first frames is not missed.

Token masks are derived from the model's own grid (``Preprocessing.tokens_per_frame_group``), so the readout is correct at
any resolution (the official code assumed a 224-px grid at 256 px). ``SurpriseConfig.mask_grid = 224`` reproduces that
bug on models that implement it (``set_mask_grid`` / ``token_counts``, V-JEPA 2): ``--protocol as-published``.

Work done per video (:func:`plan_surprise` counts it, :func:`video_surprise_reference` is the naive loop it
must equal): each window's targets are encoded once and shared by every context length (the official code
re-encodes them per context); windows are batched; the short prefixes of ``max_context_mode`` run on the
first window only; the clip is moved to the model's device once. What cannot be shared, exactly: context
encodings of different lengths (every context token attends to every context frame, so a prefix of a longer
encoding is not the shorter encoding) and the targets of overlapping windows (same reason). Encoders may
implement ``predict_many(clips, contexts)`` to batch the rest (V-JEPA 2 runs one predictor pass for all
context lengths: its predictor sequence is always the whole window).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import torch

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.surprise_pairs import AGGREGATIONS, aggregate  # noqa: F401  (aggregate: re-exported)
from pjbench.encoders.base import PredictiveEncoder, Preprocessing

DTYPES = ("fp32", "bf16", "fp16")
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
T = TypeVar("T")


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
    dtype: str = "fp32"  # compute dtype of the forward passes (autocast); part of the protocol: it moves numbers
    mask_grid: int | None = None  # px of the grid token masks are built for; None = the model's real grid

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
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
                dtype=overrides.get("dtype", "fp32"),
                mask_grid=overrides.get("mask_grid"),
            )
        except ValueError as exc:
            raise PjbenchError(f"surprise readout: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["contexts"] = list(self.contexts)
        if self.mask_grid is None:  # the default is left out so that cache keys written before the field stay valid
            del d["mask_grid"]
        return d


def window_starts(n_frames: int, window: int, stride: int) -> list[int]:
    """Start frames of the sliding windows that fit entirely in ``n_frames`` (empty if none fits)."""
    return list(range(0, n_frames - window + 1, stride))


def prefix_contexts(cfg: SurpriseConfig) -> list[int]:
    """The short contexts ``max_context_mode`` scores on the first window only (those not already in
    ``cfg.contexts``, whose first-window loss is reused)."""
    if not cfg.max_context_mode:
        return []
    return [c for c in range(cfg.prefix_step, max(cfg.contexts), cfg.prefix_step) if c not in cfg.contexts]


def autocast(dtype: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` (``fp32``: no autocast) on ``device``'s type (cpu, cuda, ...)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=_AUTOCAST[dtype])


def predict_many(model: PredictiveEncoder, clips: torch.Tensor, contexts: Sequence[int]) -> dict[int, torch.Tensor]:
    """``{c: model.predict(clips, c)}``, through the model's own ``predict_many`` when it has one (which may
    batch the work across context lengths)."""
    fn = getattr(model, "predict_many", None)
    if fn is None:
        return {c: model.predict(clips, c) for c in contexts}
    out = fn(clips, list(contexts))
    missing = [c for c in contexts if c not in out]
    if missing:
        raise RuntimeError(f"{model.info.name}: predict_many returned no prediction for contexts {missing}")
    return out


def use_mask_grid(model: Any, cfg: SurpriseConfig) -> None:
    """Put the model on ``cfg.mask_grid`` (``None``: its real grid). A model without published masks cannot
    run a config that asks for them (:class:`PjbenchError`)."""
    if getattr(model, "mask_grid", None) == cfg.mask_grid:
        return
    setter = getattr(model, "set_mask_grid", None)
    if setter is None:
        if cfg.mask_grid is None:
            return
        raise PjbenchError(f"{model.info.name}: has no published token-mask convention (the {cfg.mask_grid}-px "
                           "masks of the published V-JEPA loop); use --protocol corrected")
    setter(cfg.mask_grid)


def _n_context_tokens(model: PredictiveEncoder, window: int, c: int) -> int:
    counts = getattr(model, "token_counts", None)
    if counts is not None:
        return counts(window, c)[0]
    pp = model.preprocessing
    return c // pp.tubelet * pp.tokens_per_frame_group()


def _window_losses(model: PredictiveEncoder, pred: torch.Tensor, targets: torch.Tensor, c: int,
                   window: int) -> np.ndarray:
    """``mean |pred - target|`` over future tokens and channels, per window: ``(B,)`` float64 numpy. Computed in
    float32 whatever the forward dtype."""
    n_ctx = _n_context_tokens(model, window, c)
    future = targets[:, n_ctx:]
    if pred.shape != future.shape:
        raise RuntimeError(
            f"{model.info.name}: predicted {tuple(pred.shape)} for targets {tuple(future.shape)} at context {c}"
        )
    return (pred.float() - future.float()).abs().mean(dim=(1, 2)).cpu().numpy()


def _assemble(cfg: SurpriseConfig, losses: dict[int, list[float]], prefix: dict[int, float]) -> dict[int, np.ndarray]:
    out = {}
    for c in cfg.contexts:
        head = [prefix[p] for p in sorted(prefix) if p < c] if cfg.max_context_mode else []
        out[c] = np.asarray(head + losses[c], dtype=np.float32)
    return out


def _starts_or_raise(clip: torch.Tensor, cfg: SurpriseConfig) -> list[int]:
    starts = window_starts(clip.shape[0], cfg.window, cfg.stride)
    if not starts:
        raise ValueError(f"video has {clip.shape[0]} sampled frames, fewer than one {cfg.window}-frame window")
    return starts


def _on_model_device(model: Any, clip: torch.Tensor) -> torch.Tensor:
    """One host-to-device copy per video (not one per forward call); non-blocking from pinned memory."""
    device = getattr(model, "device", None)
    if device is None:
        return clip
    return clip.to(device, non_blocking=True)


@torch.inference_mode()
def video_surprise(
    model: PredictiveEncoder, clip: torch.Tensor, cfg: SurpriseConfig, batch_size: int = 8
) -> dict[int, np.ndarray]:
    """Surprise of one preprocessed video ``clip (T, C, H, W)``.

    Returns ``{C: float32 array}`` per context length C: the per-window losses (``n_windows`` of them),
    preceded, with ``max_context_mode``, by the first window's losses at the shorter prefixes.
    ``batch_size`` windows go through each forward pass; the result does not depend on it (beyond float
    rounding). Equals :func:`video_surprise_reference` (tested). Raises ``ValueError`` if the video is
    shorter than one window.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    starts = _starts_or_raise(clip, cfg)
    use_mask_grid(model, cfg)
    clip = _on_model_device(model, clip)
    losses: dict[int, list[float]] = {c: [] for c in cfg.contexts}
    prefix: dict[int, float] = {}
    short = prefix_contexts(cfg)
    with autocast(cfg.dtype, clip.device):
        for b0 in range(0, len(starts), batch_size):
            batch = torch.stack([clip[s : s + cfg.window] for s in starts[b0 : b0 + batch_size]])
            targets = model.targets(batch)  # once per window, shared by every context length
            for c, pred in predict_many(model, batch, cfg.contexts).items():
                if c not in losses:
                    continue
                err = _window_losses(model, pred, targets, c, cfg.window)
                losses[c].extend(err.tolist())
                if b0 == 0:
                    prefix[c] = float(err[0])
            if b0 == 0 and short:  # the first window only: a batch of one
                for c, pred in predict_many(model, batch[:1], short).items():
                    prefix[c] = float(_window_losses(model, pred, targets[:1], c, cfg.window)[0])
    return _assemble(cfg, losses, prefix)


@torch.inference_mode()
def video_surprise_reference(model: PredictiveEncoder, clip: torch.Tensor, cfg: SurpriseConfig) -> dict[int, np.ndarray]:
    """The straightforward loop :func:`video_surprise` must equal: per window, per context length, one
    ``targets`` and one ``predict`` call on that window alone (targets re-encoded for every context, as the
    official evaluation does). For tests and the performance benchmark; same output format."""
    starts = _starts_or_raise(clip, cfg)
    use_mask_grid(model, cfg)
    losses: dict[int, list[float]] = {c: [] for c in cfg.contexts}
    prefix: dict[int, float] = {}
    with autocast(cfg.dtype, getattr(model, "device", clip.device)):
        for s in starts:
            window = clip[s : s + cfg.window].unsqueeze(0)
            for c in list(cfg.contexts) + (prefix_contexts(cfg) if s == 0 else []):
                err = float(_window_losses(model, model.predict(window, c), model.targets(window), c, cfg.window)[0])
                if c in losses:
                    losses[c].append(err)
                if s == 0:
                    prefix[c] = err
    return _assemble(cfg, losses, prefix)


def plan_surprise(
    n_frames_per_video: Sequence[int], cfg: SurpriseConfig, pp: Preprocessing, batch_size: int = 8
) -> dict[str, Any]:
    """The work :func:`video_surprise` will do, before anything runs (for ``eval --dry-run``).

    ``n_frames_per_video``: sampled frames (after ``frame_step``) of each video. Counts, per video and in
    total: ``windows``; ``target_windows`` (windows encoded as targets); ``context_passes`` (window x
    context predictions, prefixes included); ``tokens_encoded`` (encoder output tokens: targets + contexts);
    ``predictor_tokens`` (the predictor sees the whole window, context + mask tokens, per context pass);
    ``encoder_calls`` and ``predictor_calls`` (batched forward passes of an encoder that batches contexts
    in one predictor pass, like V-JEPA 2). ``reference`` holds the same totals for
    :func:`video_surprise_reference`, ``saving`` the ratios reference / planned. Videos shorter than one
    window count as ``too_short`` (they are skipped, not scored).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    per_step = pp.tokens_per_frame_group()

    def tokens(frames: int) -> int:
        return frames // cfg.tubelet * per_step

    short = prefix_contexts(cfg)
    n_window_tokens = tokens(cfg.window)
    ctx_tokens = sum(tokens(c) for c in cfg.contexts)
    prefix_tokens = sum(tokens(c) for c in short)
    keys = ("windows", "target_windows", "context_passes", "tokens_encoded", "predictor_tokens", "encoder_calls",
            "predictor_calls")
    total = dict.fromkeys(keys, 0)
    reference = dict.fromkeys(keys, 0)
    per_video = []
    too_short = 0
    for n_frames in n_frames_per_video:
        w = len(window_starts(int(n_frames), cfg.window, cfg.stride))
        if w == 0:
            too_short += 1
            per_video.append(dict.fromkeys(keys, 0))
            continue
        batches = math.ceil(w / batch_size)
        passes = w * len(cfg.contexts) + len(short)
        ctx = w * ctx_tokens + prefix_tokens
        row = {
            "windows": w, "target_windows": w, "context_passes": passes,
            "tokens_encoded": w * n_window_tokens + ctx, "predictor_tokens": passes * n_window_tokens,
            "encoder_calls": batches * (1 + len(cfg.contexts)) + len(short),
            "predictor_calls": batches + (1 if short else 0),
        }
        ref = {
            "windows": w, "target_windows": passes, "context_passes": passes,
            "tokens_encoded": passes * n_window_tokens + ctx, "predictor_tokens": passes * n_window_tokens,
            "encoder_calls": 2 * passes, "predictor_calls": passes,
        }
        per_video.append(row)
        for k in keys:
            total[k] += row[k]
            reference[k] += ref[k]
    saving = {k: (reference[k] / total[k] if total[k] else None) for k in ("target_windows", "tokens_encoded",
                                                                          "encoder_calls", "predictor_calls")}
    return {"videos": len(per_video), "too_short": too_short, "batch_size": batch_size,
            "tokens_per_window": n_window_tokens, "prefix_contexts": short, "per_video": per_video,
            "total": total, "reference": reference, "saving": saving}


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's ``OutOfMemoryError``, or a ``RuntimeError`` that says it ran out of memory (CPU, MPS)."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def parse_batch_size(value: int | str) -> int | str:
    """``"auto"`` or a positive int (CLI strings accepted)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise PjbenchError(f"--batch-size must be a positive integer or 'auto', got {value!r}") from None
    if n < 1:
        raise PjbenchError(f"--batch-size must be a positive integer or 'auto', got {value!r}")
    return n


class BatchSizer:
    """Windows per forward pass, fixed or ``"auto"``.

    ``auto`` starts at ``start`` and halves whenever a call runs out of memory, retrying the same call (a
    whole video, so no partial result survives); the smaller size then sticks for the rest of the run.
    A fixed size that runs out of memory, or ``auto`` at 1, raises :class:`PjbenchError` saying what to do,
    instead of a CUDA traceback. ``backoffs`` records each ``(from, to)`` halving.
    """

    def __init__(self, batch_size: int | str = 8, start: int = 32):
        batch_size = parse_batch_size(batch_size)
        self.auto = batch_size == "auto"
        self.size = max(1, int(start)) if self.auto else int(batch_size)
        self.backoffs: list[tuple[int, int]] = []

    def run(self, fn: Callable[[int], T]) -> T:
        while True:
            try:
                return fn(self.size)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                _free_cached_memory()
                if not self.auto:
                    raise PjbenchError(
                        f"out of memory at --batch-size {self.size}; pass a smaller --batch-size, or --batch-size auto"
                    ) from None
                if self.size == 1:
                    raise PjbenchError(
                        "out of memory even at one window per forward pass: use a smaller model, "
                        "--dtype bf16, or a device with more memory"
                    ) from None
                self.backoffs.append((self.size, self.size // 2))
                self.size //= 2

    def to_dict(self) -> dict[str, Any]:
        return {"batch_size": "auto" if self.auto else self.size, "final_batch_size": self.size,
                "backoffs": [list(b) for b in self.backoffs]}


def _free_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def compile_model(model: Any, **kwargs: Any) -> bool:
    """``torch.compile`` the model's forward modules through its ``compile(**kwargs)`` method; ``False`` (and
    nothing changed) for a model without one. Numbers are unchanged up to float rounding."""
    fn = getattr(model, "compile", None)
    if fn is None:
        return False
    fn(**kwargs)
    return True


def scores_at(surprise: dict[Any, Sequence[float]], context: int) -> dict[str, float]:
    """``{"avg": ..., "max": ...}`` at one context length (keys may be ints or JSON strings)."""
    row = surprise.get(context, surprise.get(str(context)))
    if row is None:
        raise KeyError(f"no surprise computed at context {context}; have {sorted(surprise)}")
    return {how: aggregate(row, how) for how in AGGREGATIONS}
