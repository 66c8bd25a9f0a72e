"""V-JEPA 2 (encoder + predictor) through HF transformers' ``VJEPA2Model``.

Surprise needs an honest predictor step: the one-call ``VJEPA2Model(...)`` API encodes the whole clip and
then gathers the context tokens, so those tokens have already seen the future. Here the context frames
are encoded alone, then ``model.predictor`` predicts the future tokens from them; targets are the
full-window encoding, LayerNormed (no affine) as in the official IntPhys 2 eval. Token indices come from
the model's real grid (``crop_size // patch_size``), never from a hard-coded 224-px grid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders.base import ModelInfo, Preprocessing, count_params

DEFAULT_CHECKPOINT = "facebook/vjepa2-vitl-fpc64-256"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def hash_weights(directory: str | os.PathLike) -> str | None:
    """sha256 over the weight files of a local checkpoint directory (name + content, sorted)."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        return None
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode())
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return "sha256:" + h.hexdigest()


def surprise_preprocessing(config: Any, frames: int = 48) -> Preprocessing:
    """The IntPhys 2 surprise protocol for a V-JEPA 2 config: full square frame resized to ``crop_size``,
    6 fps (every 10th frame at 60 fps), windows of ``frames`` subsampled frames, ImageNet mean/std."""
    return Preprocessing(
        resolution=int(config.crop_size),
        frames=frames,
        frame_step=10,
        sample_fps=6.0,
        tubelet=int(config.tubelet_size),
        patch=int(config.patch_size),
        crop_pct=1.0,
    )


def run_predictor(predictor: Any, ctx_tokens: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor,
                  mask_index: int) -> torch.Tensor:
    """``VJEPA2Predictor.forward`` with an explicit mask token.

    HF's forward never passes ``mask_index`` on, so it always uses ``mask_tokens[1]``; the official code
    wraps the predictor in ``PredictorMultiSeqWrapper``, which passes the index of the clip-length group:
    0 for a single clip length, as in the surprise evaluation. Same layers, same order: ``mask_index=1``
    reproduces HF's output exactly (tested). Returns ``(B, n_targets, D_encoder)``.
    """
    emb, pos = predictor.embeddings(ctx_tokens, [ctx_idx], [tgt_idx], mask_index=mask_index)
    n_ctx = ctx_tokens.shape[1]
    order = torch.argsort(pos, dim=1)
    hidden, pos = predictor.sort_tokens(emb, pos, order)
    for layer in predictor.layer:
        hidden = layer(hidden, pos)[0]
    hidden = predictor.unsort_tokens(predictor.layernorm(hidden), order)[:, n_ctx:]
    return predictor.proj(hidden)


class VJEPA2Surprise:
    """Wraps a ``transformers.VJEPA2Model`` as a :class:`pjbench.encoders.base.PredictiveEncoder`.

    HF checkpoints hold one encoder (converted from the official ``target_encoder``): it encodes both the
    context and the targets, as in the official IntPhys evaluation of the hub models.
    """

    def __init__(self, model: Any, info: ModelInfo, device: str = "cpu", frames: int = 48, mask_index: int = 0):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = model.config
        self.preprocessing = surprise_preprocessing(self.config, frames=frames)
        self.mask_index = mask_index
        self.info = dataclasses.replace(info, extra={**info.extra, "predictor_mask_index": mask_index,
                                                     "context_encoder": "target_encoder (the one HF encoder)"})

    @torch.inference_mode()
    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` with even T -> ``(B, T/2 * (H/16) * (W/16), D)``."""
        self._check(clips)
        return self.model.encoder(pixel_values_videos=clips.to(self.device)).last_hidden_state

    @torch.inference_mode()
    def targets(self, clips: torch.Tensor) -> torch.Tensor:
        tokens = self.encode(clips)
        return F.layer_norm(tokens, (tokens.size(-1),))

    @torch.inference_mode()
    def predict(self, clips: torch.Tensor, n_context_frames: int) -> torch.Tensor:
        self._check(clips)
        b, t = clips.shape[:2]
        tub = self.preprocessing.tubelet
        if n_context_frames % tub or not 0 < n_context_frames < t:
            raise ValueError(f"context of {n_context_frames} frames must be a multiple of {tub} below {t}")
        per_step = self.preprocessing.tokens_per_frame_group()
        n_ctx = n_context_frames // tub * per_step
        n_all = t // tub * per_step
        ctx_tokens = self.encode(clips[:, :n_context_frames])
        ctx_idx = torch.arange(n_ctx, device=self.device).unsqueeze(0).expand(b, -1)
        tgt_idx = torch.arange(n_ctx, n_all, device=self.device).unsqueeze(0).expand(b, -1)
        return run_predictor(self.model.predictor, ctx_tokens, ctx_idx, tgt_idx, self.mask_index)

    def _check(self, clips: torch.Tensor) -> None:
        if clips.ndim != 5:
            raise ValueError(f"expected clips (B, T, C, H, W), got {tuple(clips.shape)}")
        res = self.preprocessing.resolution
        if clips.shape[-1] != res or clips.shape[-2] != res:
            raise ValueError(f"V-JEPA 2 at crop {res} got frames of {clips.shape[-2]}x{clips.shape[-1]}")
        if clips.shape[1] % self.preprocessing.tubelet:
            # HF silently drops the odd frame; we refuse instead.
            raise ValueError(f"{clips.shape[1]} frames is not a multiple of tubelet {self.preprocessing.tubelet}")


def _offline_hint(checkpoint: str) -> str:
    return (
        f"cannot load V-JEPA 2 checkpoint {checkpoint!r}: it is not a local directory and not in the "
        "Hugging Face cache, and the hub cannot be reached. On a machine with internet run "
        f"`huggingface-cli download {checkpoint} --local-dir vjepa2-ckpt` (or `python -c \"from transformers "
        f"import VJEPA2Model; VJEPA2Model.from_pretrained('{checkpoint}')\"` to fill the cache), copy the "
        "folder here and pass `--checkpoint /path/to/vjepa2-ckpt`."
    )


def _require_weights(loading: dict[str, Any], where: str) -> None:
    """A checkpoint without predictor (or encoder) weights would silently score with random ones."""
    missing = [k for k in loading.get("missing_keys", []) if k.startswith(("encoder.", "predictor."))]
    if missing:
        shown = ", ".join(sorted(missing)[:5]) + (" ..." if len(missing) > 5 else "")
        raise PjbenchError(
            f"{where}: the checkpoint lacks {len(missing)} encoder/predictor weights ({shown}); surprise needs "
            "both (a classification-only checkpoint has no predictor)"
        )


def load_vjepa2(checkpoint: str | None = None, device: str = "cpu", frames: int = 48, name: str = "vjepa2", **_: Any) -> VJEPA2Surprise:
    """Load ``VJEPA2Model`` from an HF id or a local ``save_pretrained`` directory."""
    from transformers import VJEPA2Model

    checkpoint = checkpoint or DEFAULT_CHECKPOINT
    local = Path(checkpoint).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise PjbenchError(f"{local}: not a transformers checkpoint directory (no config.json)")
        try:
            model, loading = VJEPA2Model.from_pretrained(str(local), output_loading_info=True)
        except (OSError, ValueError) as exc:
            raise PjbenchError(f"{local}: cannot load V-JEPA 2 weights ({exc})") from None
        _require_weights(loading, str(local))
        info = ModelInfo(name=name, checkpoint=str(local.resolve()), checkpoint_hash=hash_weights(local),
                         params=count_params(model))
    else:
        if checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") != 1:
            raise PjbenchError(f"checkpoint {checkpoint!r}: no such directory, and not a hub id like 'facebook/vjepa2-vitl-fpc64-256'")
        try:
            model, loading = VJEPA2Model.from_pretrained(checkpoint, output_loading_info=True)
        except OSError:
            raise PjbenchError(_offline_hint(checkpoint)) from None
        _require_weights(loading, checkpoint)
        revision = getattr(model.config, "_commit_hash", None)
        info = ModelInfo(name=name, checkpoint=checkpoint, revision=revision, params=count_params(model))
    return VJEPA2Surprise(model, info, device=device, frames=frames)


def tiny_config(**overrides: Any):
    """A tiny V-JEPA 2 config (hidden 64, 2 layers, crop 64, predictor 1 layer): milliseconds per clip."""
    from transformers import VJEPA2Config

    kw = dict(
        crop_size=64, patch_size=16, tubelet_size=2, frames_per_clip=64, hidden_size=64, num_hidden_layers=2,
        num_attention_heads=4, mlp_ratio=2.0, pred_hidden_size=32, pred_num_hidden_layers=1,
        pred_num_attention_heads=4, pred_mlp_ratio=2.0, pred_num_mask_tokens=10, num_pooler_layers=1,
    )
    kw.update(overrides)
    return VJEPA2Config(**kw)


def build_tiny_random(seed: int = 0, **overrides: Any):
    """A seeded random-init tiny ``VJEPA2Model`` (for tests and the offline demo)."""
    from transformers import VJEPA2Model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VJEPA2Model(tiny_config(**overrides))
    # Zero-initialised mask tokens would make every prediction identical; give them signal.
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        model.predictor.embeddings.mask_tokens.normal_(std=0.02)
    return model.eval()


def load_tiny_random(checkpoint: str | None = None, device: str = "cpu", seed: int = 0, **_: Any) -> VJEPA2Surprise:
    """Random-init tiny V-JEPA 2: exercises the full encoder + predictor path offline (scores ~ chance)."""
    if checkpoint:
        return load_vjepa2(checkpoint, device=device, name="vjepa2-tiny-random")
    model = build_tiny_random(seed)
    info = ModelInfo(name="vjepa2-tiny-random", checkpoint=None, params=count_params(model),
                     extra={"init": "random", "init_seed": seed, "control": True})
    return VJEPA2Surprise(model, info, device=device)
