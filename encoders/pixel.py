"""Pixel-space predictor baselines: the floors every surprise leaderboard needs.

Tokens are non-overlapping ``patch x patch`` RGB patches of the downsampled clip (tubelet 1), scaled to
[0, 1] (mean 0 / std 1 in the preprocessing). ``copy-last`` predicts that every future frame equals the
last context frame; ``linear`` extrapolates the last two context frames. They have no parameters, so
what they score is what low-level frame statistics alone can score.
"""

from __future__ import annotations

import torch

from pjbench.encoders.base import ModelInfo, Preprocessing


def patchify(clips: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, T, C, H, W)`` -> ``(B, T*(H/p)*(W/p), C*p*p)`` in (t, h, w) order."""
    b, t, c, h, w = clips.shape
    x = clips.reshape(b, t, c, h // patch, patch, w // patch, patch)
    x = x.permute(0, 1, 3, 5, 2, 4, 6)  # b t gh gw c p p
    return x.reshape(b, t * (h // patch) * (w // patch), c * patch * patch)


class PixelPredictor:
    """Parameter-free predictor in downsampled pixel space (``mode``: ``copy-last`` or ``linear``)."""

    MODES = ("copy-last", "linear")

    def __init__(self, mode: str = "copy-last", preprocessing: Preprocessing | None = None, device: str = "cpu"):
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.device = torch.device(device)
        self.preprocessing = preprocessing or default_preprocessing()
        self.info = ModelInfo(
            name=f"pixel-{mode}",
            params=0,
            readouts=("surprise",),
            extra={"baseline": True, "space": f"{self.preprocessing.resolution}px RGB, patch {self.preprocessing.patch}"},
        )

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        return patchify(clips.to(self.device), self.preprocessing.patch)

    targets = encode

    def predict(self, clips: torch.Tensor, n_context_frames: int) -> torch.Tensor:
        t = clips.shape[1]
        if not 1 <= n_context_frames < t:
            raise ValueError(f"context of {n_context_frames} frames in a {t}-frame window")
        ctx = clips[:, :n_context_frames].to(self.device)
        n_future = t - n_context_frames
        last = ctx[:, -1:]
        if self.mode == "linear" and n_context_frames >= 2:
            velocity = last - ctx[:, -2:-1]
            steps = torch.arange(1, n_future + 1, device=ctx.device, dtype=ctx.dtype).view(1, -1, 1, 1, 1)
            future = last + steps * velocity
        else:
            future = last.expand(-1, n_future, -1, -1, -1)
        return patchify(future, self.preprocessing.patch)


def default_preprocessing() -> Preprocessing:
    return Preprocessing(
        resolution=32, frames=48, frame_step=10, sample_fps=6.0, tubelet=1, patch=4,
        mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    )


def _no_checkpoint(checkpoint: str | None, name: str) -> None:
    if checkpoint:
        from pjbench.benchmarks.errors import PjbenchError

        raise PjbenchError(f"{name} is parameter-free and takes no --checkpoint (got {checkpoint!r})")


def copy_last(checkpoint: str | None = None, device: str = "cpu") -> PixelPredictor:
    """Predict every future frame as the last context frame."""
    _no_checkpoint(checkpoint, "pixel-copy-last")
    return PixelPredictor("copy-last", device=device)


def linear(checkpoint: str | None = None, device: str = "cpu") -> PixelPredictor:
    """Extrapolate the last two context frames linearly."""
    _no_checkpoint(checkpoint, "pixel-linear")
    return PixelPredictor("linear", device=device)


class PixelPatches:
    """Parameter-free features: the clip's downsampled RGB patches as tokens (features readout only).

    The probe track's pixel floor: what an attentive probe reads from raw low-level frame content, next to
    the video-blind control."""

    def __init__(self, device: str = "cpu"):
        self.device = torch.device(device)
        self.preprocessing = default_preprocessing()
        self.info = ModelInfo(
            name="pixel-patches", params=0, readouts=("features",),
            extra={"baseline": True, "space": f"{self.preprocessing.resolution}px RGB, patch {self.preprocessing.patch}"},
        )

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        return patchify(clips.to(self.device), self.preprocessing.patch)


def patches(checkpoint: str | None = None, device: str = "cpu") -> PixelPatches:
    """Raw RGB patches as features (no parameters)."""
    _no_checkpoint(checkpoint, "pixel-patches")
    return PixelPatches(device=device)
