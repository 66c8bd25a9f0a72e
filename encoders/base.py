"""The Encoder protocol and the preprocessing config that travels with every encoder entry.

Shapes used throughout:
- a *clip* is a float tensor ``(B, T, C, H, W)``, already resized and normalised with the encoder's
  ``Preprocessing`` (see :func:`pjbench.benchmarks.video.preprocess`);
- *tokens* are ``(B, N, D)`` in (t, h, w) raster order, ``N = (T // tubelet) * (H // patch) * (W // patch)``.

Encoders are structural (``typing.Protocol``): a third-party model needs no pjbench base class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How raw video becomes a clip for this encoder.

    resolution: square side in pixels fed to the model.
    crop_pct:   frames are resized so the short side is ``resolution / crop_pct`` and then center-cropped
                to ``resolution``. ``1.0`` = full frame (what the IntPhys 2 protocol uses on square video);
                V-JEPA 2's classifier eval uses 224/256 = 0.875.
    frames:     clip length (frames after subsampling) the model is run on; for the surprise readout
                this is the sliding-window length M.
    frame_step: keep every ``frame_step``-th decoded frame (IntPhys 2: 60 fps -> 6 fps is 10).
    sample_fps: if set, the step is chosen per video as ``round(video_fps / sample_fps)`` instead, so the
                same protocol runs on 60 fps releases and lower-fps synthetic suites alike.
    tubelet:    frames per temporal token; patch: pixels per spatial token side.
    mean/std:   per-channel normalisation applied after scaling pixels to [0, 1].
    antialias:  antialias the bilinear resize (``False``: the published IntPhys 2 code's plain bilinear).
    """

    resolution: int
    frames: int
    frame_step: int
    sample_fps: float | None = None
    tubelet: int = 1
    patch: int = 16
    crop_pct: float = 1.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    antialias: bool = True

    def __post_init__(self) -> None:
        if self.resolution % self.patch:
            raise ValueError(f"resolution {self.resolution} is not a multiple of patch {self.patch}")
        if self.frames % self.tubelet:
            raise ValueError(f"frames {self.frames} is not a multiple of tubelet {self.tubelet}")
        if not (0 < self.crop_pct <= 1.0):
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")

    def grid(self, num_frames: int) -> tuple[int, int, int]:
        """Token grid ``(t, h, w)`` of a clip of ``num_frames`` frames at this resolution."""
        if num_frames % self.tubelet:
            raise ValueError(f"{num_frames} frames is not a multiple of tubelet {self.tubelet}")
        side = self.resolution // self.patch
        return num_frames // self.tubelet, side, side

    def tokens_per_frame_group(self) -> int:
        """Tokens per tubelet (one temporal step of the grid)."""
        side = self.resolution // self.patch
        return side * side

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        if self.antialias:  # the default is left out so that cache keys written before the field existed stay valid
            del d["antialias"]
        return d


@dataclass(frozen=True)
class ModelInfo:
    """Identity of a built model, recorded in every results file."""

    name: str
    checkpoint: str | None = None  # HF id, local dir or file, or None for random-init / parameter-free
    checkpoint_hash: str | None = None  # sha256 of the weight files, when read from disk
    revision: str | None = None  # hub commit, when loaded from a hub cache
    params: int = 0
    readouts: tuple[str, ...] = ("surprise",)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["readouts"] = list(self.readouts)
        return d


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns clips into tokens."""

    info: ModelInfo
    preprocessing: Preprocessing

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` -> tokens ``(B, N, D)`` in (t, h, w) order."""
        ...


@runtime_checkable
class PredictiveEncoder(Encoder, Protocol):
    """An encoder with a predictor: what the surprise readout needs.

    The readout calls ``targets`` once per window and ``predict`` once per context length, and scores
    ``|predict(...) - targets(...)[:, n_context_tokens:]|``. ``predict`` must look only at the first
    ``n_context_frames`` frames of the window (no peeking at the future).
    """

    def targets(self, clips: torch.Tensor) -> torch.Tensor:
        """Target representation of every token of the window: ``(B, T, ...)`` -> ``(B, N, D)``."""
        ...

    def predict(self, clips: torch.Tensor, n_context_frames: int) -> torch.Tensor:
        """Predicted target tokens for every token after the first ``n_context_frames`` frames:
        ``(B, T, C, H, W)`` -> ``(B, N - N_ctx, D)``, same order as ``targets(clips)[:, N_ctx:]``."""
        ...


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
