"""V-JEPA 2 (encoder + predictor) through HF transformers' ``VJEPA2Model``.

Surprise needs an honest predictor step: the one-call ``VJEPA2Model(...)`` API encodes the whole clip and
then gathers the context tokens, so those tokens have already seen the future. Here the context frames
are encoded alone, then ``model.predictor`` predicts the future tokens from them; targets are the
full-window encoding, LayerNormed (no affine) as in the official IntPhys 2 eval. Token indices come from
the model's real grid (``crop_size // patch_size``); the published 224-px masks only under
``--protocol as-published`` (:meth:`VJEPA2Surprise.set_mask_grid`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.protocol import PUBLISHED_DTYPE, published_token_counts
from pjbench.encoders.hf_loading import check_model_type, check_weight_files, from_pretrained_quiet
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
        _hash_update(h, path)
    return "sha256:" + h.hexdigest()


def hash_file(path: str | os.PathLike) -> str:
    """sha256 of one weight file's content (equals ``sha256sum FILE``; the name does not enter)."""
    h = hashlib.sha256()
    _hash_update(h, Path(path))
    return "sha256:" + h.hexdigest()


def _hash_update(h: Any, path: Path) -> None:
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


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


def run_predictor_many(predictor: Any, groups: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                       mask_index: int) -> list[torch.Tensor]:
    """:func:`run_predictor` for several ``(ctx_tokens, ctx_idx, tgt_idx)`` groups in one pass of the layers.

    Every group's sequence is the whole window (context + mask tokens, sorted by position), so groups of
    different context lengths stack along the batch; rows never attend to each other. Returns one
    ``(B_g, n_targets_g, D_encoder)`` tensor per group, equal to ``run_predictor`` on that group (tested).
    """
    hidden, pos, orders, sizes = [], [], [], []
    for ctx_tokens, ctx_idx, tgt_idx in groups:
        emb, p = predictor.embeddings(ctx_tokens, [ctx_idx], [tgt_idx], mask_index=mask_index)
        order = torch.argsort(p, dim=1)
        h, p = predictor.sort_tokens(emb, p, order)
        hidden.append(h), pos.append(p), orders.append(order), sizes.append((ctx_tokens.shape[0], ctx_tokens.shape[1]))
    if len({h.shape[1] for h in hidden}) > 1:
        raise ValueError(f"predictor groups span windows of different lengths: {[h.shape[1] for h in hidden]} tokens")
    h = torch.cat(hidden)
    p = torch.cat(pos)
    for layer in predictor.layer:
        h = layer(h, p)[0]
    h = predictor.unsort_tokens(predictor.layernorm(h), torch.cat(orders))
    out, row = [], 0
    for b, n_ctx in sizes:
        out.append(predictor.proj(h[row : row + b, n_ctx:]))
        row += b
    return out


class VJEPA2Surprise:
    """Wraps a ``transformers.VJEPA2Model`` as a :class:`pjbench.encoders.base.PredictiveEncoder`.

    ``model.encoder`` encodes the targets; ``context_encoder`` (another ``VJEPA2Encoder`` of the same
    config, e.g. an official ``.pt``'s online ``encoder``) encodes the context, ``None`` = ``model.encoder``.
    HF checkpoints hold one encoder (the online ``encoder``: transformers converts the torch.hub model,
    which loads ``encoder``), so with them one encoder serves both, unlike the official IntPhys 2 eval
    (context ``encoder``, targets ``target_encoder``); ``info.extra`` says which encoder did what.

    ``set_mask_grid(224)`` reproduces the published token masks (``--protocol as-published``): context and
    target tokens are the raster indices a 224-px grid implies, read on the real grid, and each encoder
    sees only its tokens (:func:`pjbench.benchmarks.protocol.published_token_counts`).

    Readouts: ``surprise`` (``targets``/``predict``, always the last encoder layer) and ``features``
    (``encode``). ``layer`` picks the block ``encode`` reads: ``None`` = the last block (the model output),
    ``k`` = the output of block ``k`` (0-based), negative counts from the end (``-1`` = last, so ``-1`` and
    ``None`` give the same tokens). Every block's output passes through the encoder's final LayerNorm, as
    the official ``VisionTransformer(out_layers=...)`` readout does.
    """

    #: the forward dtype of the published V-JEPA 2 IntPhys 2 config (``use_bfloat16: true``)
    published_dtype = PUBLISHED_DTYPE

    def __init__(self, model: Any, info: ModelInfo, device: str = "cpu", frames: int = 48, mask_index: int = 0,
                 layer: int | None = None, context_encoder: Any = None):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.context_encoder = (self.model.encoder if context_encoder is None
                                else context_encoder.to(self.device).eval())
        self.mask_grid: int | None = None
        self.config = model.config
        self.preprocessing = surprise_preprocessing(self.config, frames=frames)
        self.mask_index = mask_index
        depth = int(self.config.num_hidden_layers)
        if layer is not None and not -depth <= int(layer) < depth:
            raise PjbenchError(f"layer {layer} is out of range for an encoder of {depth} blocks "
                               f"(use 0..{depth - 1}, or -1..-{depth} from the end)")
        self.layer = None if layer is None else int(layer)
        self._block = depth - 1 if layer is None else int(layer) % depth
        self.info = dataclasses.replace(
            info, readouts=("surprise", "features"),
            extra={"context_encoder": "encoder", "target_encoder": "encoder",
                   "encoders": "one encoder for context and targets (HF checkpoints hold the online encoder only); "
                               "the official eval takes the targets from target_encoder", **info.extra,
                   "predictor_mask_index": mask_index, "layer": self.layer,
                   "feature_block": self._block, "feature_norm": "encoder final LayerNorm"})

    @torch.inference_mode()
    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """Features: ``(B, T, C, H, W)`` with even T -> ``(B, T/2 * (H/16) * (W/16), D)`` from ``layer``."""
        self._check(clips)
        enc = self.model.encoder
        if self._block == len(enc.layer) - 1:
            return enc(pixel_values_videos=clips.to(self.device)).last_hidden_state
        hidden = enc.embeddings(clips.to(self.device))
        for block in enc.layer[: self._block + 1]:  # stop early: later blocks are not needed
            hidden = block(hidden, None)[0]
        return enc.layernorm(hidden)

    def set_mask_grid(self, grid_px: int | None) -> None:
        """Build token masks for a ``grid_px``-px grid (the published code: 224) instead of the real one
        (``None``). Refuses a grid whose masks would index past the real tokens (the published loop
        crashes there)."""
        if grid_px is not None:
            res, patch = self.preprocessing.resolution, self.preprocessing.patch
            if (grid_px / patch) ** 2 > (res // patch) ** 2:
                raise PjbenchError(
                    f"{self.info.name}: at {res} px the published {grid_px}-px token masks index past the "
                    f"{(res // patch) ** 2} tokens per tubelet (the published loop crashes); use --protocol corrected")
        self.mask_grid = grid_px

    def token_counts(self, n_frames: int, n_context_frames: int) -> tuple[int, int]:
        """``(context tokens, window tokens)`` of a window of ``n_frames`` at this context: the real grid, or
        the published masks' counts under :meth:`set_mask_grid`. Targets are tokens ``[n_context, n_window)``."""
        tub = self.preprocessing.tubelet
        if self.mask_grid is not None:
            return published_token_counts(n_frames, n_context_frames, self.preprocessing.patch, tub, self.mask_grid)
        per_step = self.preprocessing.tokens_per_frame_group()
        return n_context_frames // tub * per_step, n_frames // tub * per_step

    def _encode_prefix(self, encoder: Any, clips: torch.Tensor, n_tokens: int) -> torch.Tensor:
        """``encoder`` output for the first ``n_tokens`` raster tokens of ``clips``, the encoder seeing only
        those tokens (the official masked forward: RoPE positions from the token indices on the real grid).
        Whole tubelets take the plain forward of the frames they cover (the same tokens, bit for bit)."""
        per_step, tub = self.preprocessing.tokens_per_frame_group(), self.preprocessing.tubelet
        n_frames = min(clips.shape[1], math.ceil(n_tokens / per_step) * tub)
        if n_tokens == n_frames // tub * per_step:
            return encoder(pixel_values_videos=clips[:, :n_frames].to(self.device)).last_hidden_state
        hidden = encoder.embeddings(clips[:, :n_frames].to(self.device))[:, :n_tokens]
        pos = torch.arange(n_tokens, device=self.device).unsqueeze(0).expand(clips.shape[0], -1)
        for block in encoder.layer:
            hidden = block(hidden, pos)[0]
        return encoder.layernorm(hidden)

    @torch.inference_mode()
    def targets(self, clips: torch.Tensor) -> torch.Tensor:
        """LayerNormed target-encoder tokens of the window: all of them, or the published full mask's prefix."""
        self._check(clips)
        tokens = self._encode_prefix(self.model.encoder, clips, self.token_counts(clips.shape[1], 0)[1])
        return F.layer_norm(tokens, (tokens.size(-1),))

    def _context_group(self, clips: torch.Tensor, c: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t = clips.shape[:2]
        tub = self.preprocessing.tubelet
        if c % tub or not 0 < c < t:
            raise ValueError(f"context of {c} frames must be a multiple of {tub} below {t}")
        n_ctx, n_all = self.token_counts(t, c)
        ctx_tokens = self._encode_prefix(self.context_encoder, clips, n_ctx)
        return (ctx_tokens, torch.arange(n_ctx, device=self.device).unsqueeze(0).expand(b, -1),
                torch.arange(n_ctx, n_all, device=self.device).unsqueeze(0).expand(b, -1))

    @torch.inference_mode()
    def predict(self, clips: torch.Tensor, n_context_frames: int) -> torch.Tensor:
        """Context = the first ``n_context_frames`` frames' tokens, encoded alone by the context encoder."""
        self._check(clips)
        return run_predictor(self.model.predictor, *self._context_group(clips, n_context_frames), self.mask_index)

    @torch.inference_mode()
    def predict_many(self, clips: torch.Tensor, contexts: list[int]) -> dict[int, torch.Tensor]:
        """``{c: predict(clips, c)}``: each context prefix is encoded alone (its tokens must not see later
        frames, so prefixes of different lengths share nothing), then one predictor pass serves every
        context length (:func:`run_predictor_many`)."""
        self._check(clips)
        groups = [self._context_group(clips, c) for c in contexts]
        return dict(zip(contexts, run_predictor_many(self.model.predictor, groups, self.mask_index)))

    def compile(self, **kwargs: Any) -> None:
        """``torch.compile`` the encoder and the predictor blocks in place (``kwargs`` go to ``torch.compile``;
        ``dynamic=True`` by default: window batches and context lengths vary)."""
        kwargs.setdefault("dynamic", True)
        self.model.encoder.compile(**kwargs)
        if self.context_encoder is not self.model.encoder:
            self.context_encoder.compile(**kwargs)
        for layer in self.model.predictor.layer:
            layer.compile(**kwargs)

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


def load_vjepa2(checkpoint: str | None = None, device: str = "cpu", frames: int = 48, name: str = "vjepa2",
                variant: Any = None, layer: int | None = None,
                context_encoder: str | None = None, allow_pickle: bool = False) -> VJEPA2Surprise:
    """Load ``VJEPA2Model`` from an HF id, a local ``save_pretrained`` directory, or an official training
    checkpoint file (``.pt``/``.pth``/``.tar``, see :mod:`pjbench.encoders.vjepa2_official`; ``variant``
    such as ``"vitl"``/``"vitg-384"`` names its architecture, ``None`` infers it from the weights).
    ``layer`` selects the block :meth:`VJEPA2Surprise.encode` reads (features readout). ``context_encoder``
    (official ``.pt`` only): ``encoder`` (default, the official split) or ``target_encoder``; an HF
    checkpoint holds one encoder, so it takes no other value there. HF folders load from safetensors only
    unless ``allow_pickle=True``; a folder of another architecture is refused from its config.json."""
    from transformers import VJEPA2Model

    checkpoint = checkpoint or DEFAULT_CHECKPOINT
    local = Path(checkpoint).expanduser()
    if local.is_file():
        from pjbench.encoders.vjepa2_official import OFFICIAL_SUFFIXES, load_official_checkpoint

        if local.suffix.lower() not in OFFICIAL_SUFFIXES:
            raise PjbenchError(f"{local}: a V-JEPA 2 checkpoint is a save_pretrained directory or an official "
                               f"training file ({'/'.join(OFFICIAL_SUFFIXES)}), not a {local.suffix or 'suffix-less'} file")
        return load_official_checkpoint(local, variant=variant, device=device, name=name, frames=frames,
                                        context_encoder=context_encoder or "encoder", layer=layer)
    if context_encoder not in (None, "encoder"):
        raise PjbenchError(f"context_encoder={context_encoder}: an HF checkpoint holds one encoder (the online "
                           "`encoder`), which encodes context and targets; the encoder split needs an official .pt")
    if local.exists():
        if not (local / "config.json").is_file():
            raise PjbenchError(f"{local}: not a transformers checkpoint directory (no config.json)")
        check_model_type(local, "V-JEPA 2", ("vjepa2",))
        check_weight_files(local, "V-JEPA 2", allow_pickle)
        try:
            model, loading = from_pretrained_quiet(VJEPA2Model, str(local), allow_pickle=allow_pickle,
                                                   output_loading_info=True)
        except (OSError, ValueError) as exc:
            raise PjbenchError(f"{local}: cannot load V-JEPA 2 weights ({exc})") from None
        _require_weights(loading, str(local))
        info = ModelInfo(name=name, checkpoint=str(local.resolve()), checkpoint_hash=hash_weights(local),
                         params=count_params(model))
    else:
        if checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") != 1:
            raise PjbenchError(f"checkpoint {checkpoint!r}: no such directory, and not a hub id like 'facebook/vjepa2-vitl-fpc64-256'")
        try:
            model, loading = from_pretrained_quiet(VJEPA2Model, checkpoint, allow_pickle=allow_pickle,
                                                   output_loading_info=True)
        except OSError:
            raise PjbenchError(_offline_hint(checkpoint)) from None
        _require_weights(loading, checkpoint)
        revision = getattr(model.config, "_commit_hash", None)
        info = ModelInfo(name=name, checkpoint=checkpoint, revision=revision, params=count_params(model))
    return VJEPA2Surprise(model, info, device=device, frames=frames, layer=layer)


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


def load_tiny_random(checkpoint: str | None = None, device: str = "cpu", seed: int = 0, layer: int | None = None,
                     context_encoder: str | None = None, allow_pickle: bool = False) -> VJEPA2Surprise:
    """Random-init tiny V-JEPA 2: exercises the full encoder + predictor path offline (scores ~ chance).
    One encoder serves context and targets (as an HF checkpoint's)."""
    if context_encoder not in (None, "encoder"):
        raise PjbenchError(f"context_encoder={context_encoder}: vjepa2-tiny-random has one encoder (no target_encoder "
                           "to split from)")
    if checkpoint:
        return load_vjepa2(checkpoint, device=device, name="vjepa2-tiny-random", layer=layer, allow_pickle=allow_pickle)
    model = build_tiny_random(seed)
    info = ModelInfo(name="vjepa2-tiny-random", checkpoint=None, params=count_params(model),
                     extra={"init": "random", "init_seed": seed, "control": True})
    return VJEPA2Surprise(model, info, device=device, layer=layer)
