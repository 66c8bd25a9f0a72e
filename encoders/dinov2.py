"""DINOv2 per frame through HF transformers: the image-only control for the video encoders.

Every frame is encoded on its own (no temporal mixing at all); the patch tokens of each frame (CLS and
register tokens dropped) are stacked over time, so a clip ``(B, T, C, H, W)`` becomes tokens
``(B, T * (H/14) * (W/14), D)`` in (t, h, w) order with tubelet 1. Whatever a probe reads from these
tokens, it reads from single images. ``Dinov2Model`` resamples its position table to the input size
(the hub checkpoints declare ``image_size`` 518 and are used at 224), so the resolution is a loader
choice, a multiple of the patch size.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders.base import ModelInfo, Preprocessing, count_params
from pjbench.encoders.videomae import (from_pretrained_checked, read_config, resolve_checkpoint, resolve_layer,
                                       select_hidden)

DEFAULT_CHECKPOINT = "facebook/dinov2-base"
MODEL_TYPES = ("dinov2", "dinov2_with_registers")


def frame_preprocessing(config: Any, resolution: int = 224, frames: int = 16) -> Preprocessing:
    """224 px full square frame, ImageNet mean/std (``BitImageProcessor`` of the hub checkpoints), tubelet
    1; clips of ``frames`` frames at 6 fps, matching the VideoMAE entries it is a control for."""
    patch = int(config.patch_size)
    if resolution % patch:
        raise PjbenchError(f"DINOv2 resolution {resolution} is not a multiple of its patch size {patch}")
    return Preprocessing(resolution=resolution, frames=frames, frame_step=10, sample_fps=6.0, tubelet=1,
                         patch=patch, crop_pct=1.0)


class DINOv2Frames:
    """A transformers ``Dinov2Model`` (or ``Dinov2WithRegistersModel``) run on every frame independently.

    ``layer`` picks the block whose patch tokens ``encode`` returns (0-based; None or -1 = the last, i.e. the
    model's output after its final LayerNorm; an intermediate block gets the same LayerNorm). ``frames_per_batch`` bounds how
    many frames go through the model at once (memory only; results do not depend on it)."""

    def __init__(self, model: Any, info: ModelInfo, device: str = "cpu", layer: int | None = None,
                 resolution: int = 224, frames: int = 16, frames_per_batch: int = 64):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = model.config
        block = resolve_layer(layer, self.config.num_hidden_layers, info.name)
        self.layer = None if layer is None else int(layer)
        self.n_prefix = 1 + int(getattr(self.config, "num_register_tokens", 0) or 0)  # CLS + registers
        self.frames_per_batch = max(1, int(frames_per_batch))
        self.preprocessing = frame_preprocessing(self.config, resolution=resolution, frames=frames)
        self.info = dataclasses.replace(info, readouts=("features",), extra={
            **info.extra, "layer": self.layer, "feature_block": block, "feature_norm": "final LayerNorm",
            "per_frame": True, "dropped_prefix_tokens": self.n_prefix})

    @torch.inference_mode()
    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` -> patch tokens ``(B, T * (H/patch) * (W/patch), D)``, frame by frame."""
        if clips.ndim != 5:
            raise ValueError(f"expected clips (B, T, C, H, W), got {tuple(clips.shape)}")
        b, t, c, h, w = clips.shape
        res = self.preprocessing.resolution
        if h != res or w != res:
            raise ValueError(f"DINOv2 at {res} px got frames of {h}x{w}")
        images = clips.reshape(b * t, c, h, w)
        chunks = []
        for i in range(0, b * t, self.frames_per_batch):
            batch = images[i : i + self.frames_per_batch].to(self.device)
            out = self.model(batch, output_hidden_states=self.layer is not None)
            chunks.append(select_hidden(out, self.layer, self.model.layernorm)[:, self.n_prefix :])
        tokens = torch.cat(chunks)  # (B*T, h*w, D), frames in (b, t) order
        return tokens.reshape(b, t * tokens.shape[1], tokens.shape[2])


def load_dinov2(checkpoint: str | None = None, device: str = "cpu", name: str = "dinov2-base",
                layer: int | None = None, resolution: int = 224, frames: int = 16,
                allow_pickle: bool = False) -> DINOv2Frames:
    """Load DINOv2 (with or without registers) from an HF id or a local ``save_pretrained`` directory."""
    from transformers import AutoModel

    checkpoint = checkpoint or DEFAULT_CHECKPOINT
    source, local = resolve_checkpoint(checkpoint, DEFAULT_CHECKPOINT)
    config = read_config(source, local, "DINOv2", "Dinov2Model")
    if config.get("model_type") not in MODEL_TYPES:
        raise PjbenchError(f"{checkpoint}: a {config.get('model_type')!r} checkpoint, not DINOv2")
    model, _, identity = from_pretrained_checked(AutoModel, source, local, "DINOv2", ("embeddings.", "encoder."),
                                                 allow_pickle)
    info = ModelInfo(name=name, params=count_params(model), **identity)
    return DINOv2Frames(model, info, device=device, layer=layer, resolution=resolution, frames=frames)


def tiny_config(registers: int = 0, **overrides: Any):
    """A tiny DINOv2 config (hidden 32, 2 layers, patch 14, 56 px), with ``registers`` register tokens."""
    from transformers import Dinov2Config, Dinov2WithRegistersConfig

    kw = dict(image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              mlp_ratio=2)
    kw.update(overrides)
    return Dinov2WithRegistersConfig(num_register_tokens=registers, **kw) if registers else Dinov2Config(**kw)


def build_tiny_random(seed: int = 0, registers: int = 0, **overrides: Any):
    """A seeded random-init tiny ``Dinov2Model`` (``Dinov2WithRegistersModel`` when ``registers``)."""
    from transformers import Dinov2Model, Dinov2WithRegistersModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cls = Dinov2WithRegistersModel if registers else Dinov2Model
        model = cls(tiny_config(registers=registers, **overrides))
    return model.eval()


def load_tiny_random(checkpoint: str | None = None, device: str = "cpu", seed: int = 0, layer: int | None = None,
                     frames: int = 16) -> DINOv2Frames:
    """Random-init tiny DINOv2 at 56 px: the per-frame features path offline (a control)."""
    if checkpoint:
        return load_dinov2(checkpoint, device=device, name="dinov2-tiny-random", layer=layer, resolution=56,
                           frames=frames)
    model = build_tiny_random(seed)
    info = ModelInfo(name="dinov2-tiny-random", checkpoint=None, params=count_params(model),
                     extra={"init": "random", "init_seed": seed, "control": True})
    return DINOv2Frames(model, info, device=device, layer=layer, resolution=56, frames=frames)
