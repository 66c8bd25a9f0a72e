"""VideoMAE through HF transformers: token features, and surprise from masked-future pixel reconstruction.

Features (``encode``): ``VideoMAEModel`` tokens of the whole clip, ``(B, T/2 * (H/16) * (W/16), D)`` in
(t, h, w) order (the Conv3d tubelet embedding flattens exactly so), optionally from an intermediate layer.

Surprise (``targets`` / ``predict``), the VideoMAE analogue of V-JEPA 2's latent prediction: every token
after the context is masked, the encoder sees only the context tokens (``VideoMAEEmbeddings`` drops masked
tokens before the first block, and the tubelet Conv3d never mixes tubelets; the future frames are also
zeroed before the call so this does not rest on either fact), and the pre-training decoder reconstructs
the masked tubelets. Targets are the pixels of every tubelet in the layout and normalisation of
``VideoMAEForPreTraining``'s own labels: ``(tubelet, patch, patch, C)`` flattened, each channel of each
tubelet normalised by its own mean and (unbiased) std when ``config.norm_pix_loss`` (the released
checkpoints), after un-normalising the clip back to [0, 1] pixels. The decoder output is scored as it is
(one published codebase zeroed the predictions, which turns the score into the target's norm).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders.hf_loading import check_weight_files, from_pretrained_quiet
from pjbench.encoders.base import ModelInfo, Preprocessing, count_params
from pjbench.encoders.vjepa2_hf import hash_weights

DEFAULT_CHECKPOINT = "MCG-NJU/videomae-base"
DECODER_PREFIXES = ("decoder.", "encoder_to_decoder.", "mask_token")


# -- loading shared by the transformers-backed encoders (DINOv2 uses it too) ------------------------------

def offline_hint(family: str, checkpoint: str, model_class: str) -> str:
    """What to do when a hub id is neither cached nor reachable."""
    folder = checkpoint.split("/")[-1]
    return (
        f"cannot load {family} checkpoint {checkpoint!r}: it is not a local directory and not in the Hugging "
        f"Face cache, and the hub cannot be reached. On a machine with internet run `huggingface-cli download "
        f"{checkpoint} --local-dir {folder}` (or `python -c \"from transformers import {model_class}; "
        f"{model_class}.from_pretrained('{checkpoint}')\"` to fill the cache), copy the folder here and pass "
        f"`--checkpoint /path/to/{folder}`."
    )


def resolve_checkpoint(checkpoint: str, example: str) -> tuple[str, Path | None]:
    """``(source for from_pretrained, local directory or None)``; refuses paths that do not exist
    (``example``: a hub id shown in the message)."""
    local = Path(checkpoint).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise PjbenchError(f"{local}: not a transformers checkpoint directory (no config.json)")
        return str(local), local
    if checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") != 1:
        raise PjbenchError(f"checkpoint {checkpoint!r}: no such directory, and not a hub id like {example!r}")
    return checkpoint, None


def read_config(source: str, local: Path | None, family: str, model_class: str) -> dict[str, Any]:
    """The checkpoint's ``config.json`` as a dict (hub ids through the HF cache)."""
    if local is not None:
        try:
            return json.loads((local / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise PjbenchError(f"{local / 'config.json'}: unreadable ({exc})") from None
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source).to_dict()
    except OSError:
        raise PjbenchError(offline_hint(family, source, model_class)) from None


def from_pretrained_checked(model_cls: Any, source: str, local: Path | None, family: str,
                            required: tuple[str, ...], allow_pickle: bool = False
                            ) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """``model_cls.from_pretrained`` that refuses silently random weights.

    Returns ``(model, loading_info, identity)`` where identity holds ``checkpoint`` and
    ``checkpoint_hash`` (local directory) or ``revision`` (hub). Missing keys under any ``required`` prefix
    (e.g. the encoder of a checkpoint of another architecture) are a :class:`PjbenchError`. Pickled weights
    are refused unless ``allow_pickle`` (:mod:`pjbench.encoders.hf_loading`); transformers' report is captured."""
    if local is not None:
        check_weight_files(local, family, allow_pickle)
    try:
        model, loading = from_pretrained_quiet(model_cls, source, allow_pickle=allow_pickle, output_loading_info=True)
    except OSError as exc:
        if local is None:
            raise PjbenchError(offline_hint(family, source, model_cls.__name__)) from None
        raise PjbenchError(f"{local}: cannot load {family} weights ({exc})") from None
    except ValueError as exc:
        raise PjbenchError(f"{source}: cannot load {family} weights ({exc})") from None
    missing = sorted(k for k in loading.get("missing_keys", []) if k.startswith(required))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise PjbenchError(f"{source}: the checkpoint lacks {len(missing)} {family} weights ({shown}); "
                           "is it a checkpoint of another architecture?")
    if local is not None:
        identity = {"checkpoint": str(local.resolve()), "checkpoint_hash": hash_weights(local)}
    else:
        identity = {"checkpoint": source, "revision": getattr(model.config, "_commit_hash", None)}
    return model, loading, identity


def resolve_layer(layer: int | None, num_layers: int, name: str) -> int:
    """0-based block index of ``layer`` (None = last; negative from the end, -1 = last), the convention of
    every pjbench encoder; out of range is a :class:`PjbenchError`."""
    if layer is None:
        return num_layers - 1
    if not -num_layers <= int(layer) < num_layers:
        raise PjbenchError(f"{name}: layer {layer} is out of range for an encoder of {num_layers} blocks "
                           f"(use 0..{num_layers - 1}, or -1..-{num_layers} from the end)")
    return int(layer) % num_layers


def select_hidden(model_out: Any, layer: int | None, final_norm: torch.nn.Module | None) -> torch.Tensor:
    """Tokens after block ``layer`` (see :func:`resolve_layer`; HF ``hidden_states[0]`` is the embedding
    output, so block k is ``hidden_states[k + 1]``), passed through the model's final LayerNorm when it has
    one (as DINOv2's ``get_intermediate_layers(norm=True)`` and V-JEPA 2's ``out_layers`` do), so
    ``layer=-1`` equals the default ``last_hidden_state``."""
    if layer is None:
        return model_out.last_hidden_state
    hidden = model_out.hidden_states[layer + 1 if layer >= 0 else layer]
    return final_norm(hidden) if final_norm is not None else hidden


# -- VideoMAE ---------------------------------------------------------------------------------------------

def video_preprocessing(config: Any) -> Preprocessing:
    """VideoMAE's input: ``num_frames`` frames (16) at ``image_size`` (224), full square frame, ImageNet
    mean/std (what ``VideoMAEImageProcessor`` and the pre-training labels assume); sampled at 6 fps (every
    10th frame at 60 fps) like every surprise model in pjbench, so models differ only in the model."""
    size = config.image_size
    if isinstance(size, (list, tuple)):
        if size[0] != size[1]:
            raise PjbenchError(f"VideoMAE with a non-square image_size {tuple(size)} is not supported")
        size = size[0]
    return Preprocessing(resolution=int(size), frames=int(config.num_frames), frame_step=10, sample_fps=6.0,
                         tubelet=int(config.tubelet_size), patch=int(config.patch_size), crop_pct=1.0)


def pixel_targets(clips: torch.Tensor, pp: Preprocessing, norm_pix: bool = True) -> torch.Tensor:
    """``VideoMAEForPreTraining``'s reconstruction labels of every token: ``(B, T, C, H, W)`` normalised
    clip -> ``(B, N, tubelet * patch * patch * C)`` in (t, h, w) token order.

    The clip is first un-normalised with ``pp.mean/std`` back to [0, 1]; each tubelet is laid out as
    ``(tubelet, patch, patch, C)`` and, with ``norm_pix``, each channel of it standardised by its own
    mean and unbiased std (+1e-6), as in VideoMAE's ``norm_pix_loss``."""
    b, t, c, h, w = clips.shape
    ts, p = pp.tubelet, pp.patch
    mean = torch.as_tensor(pp.mean, dtype=clips.dtype, device=clips.device).view(1, 1, c, 1, 1)
    std = torch.as_tensor(pp.std, dtype=clips.dtype, device=clips.device).view(1, 1, c, 1, 1)
    frames = clips * std + mean
    frames = frames.reshape(b, t // ts, ts, c, h // p, p, w // p, p)
    frames = frames.permute(0, 1, 4, 6, 2, 5, 7, 3)  # b, t', h', w', ts, p, p, c
    frames = frames.reshape(b, (t // ts) * (h // p) * (w // p), ts * p * p, c)
    if norm_pix:
        frames = (frames - frames.mean(dim=-2, keepdim=True)) / (
            frames.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
    return frames.reshape(b, frames.shape[1], ts * p * p * c)


class VideoMAEEncoder:
    """A transformers VideoMAE model as a pjbench encoder; with a pre-training decoder also a
    :class:`pjbench.encoders.base.PredictiveEncoder` (the surprise readout).

    ``model`` is a ``VideoMAEForPreTraining`` (decoder present) or a ``VideoMAEModel`` (features only).
    ``layer`` picks the block whose tokens ``encode`` returns (0-based; None or -1 = the last block).
    """

    def __init__(self, model: Any, info: ModelInfo, device: str = "cpu", layer: int | None = None):
        from transformers import VideoMAEForPreTraining

        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = model.config
        self.has_decoder = isinstance(model, VideoMAEForPreTraining)
        self.backbone = model.videomae if self.has_decoder else model
        block = resolve_layer(layer, self.config.num_hidden_layers, info.name)
        self.layer = None if layer is None else int(layer)
        self.preprocessing = video_preprocessing(self.config)
        readouts = ("surprise", "features") if self.has_decoder else ("features",)
        norm = "encoder final LayerNorm" if self.backbone.layernorm is not None else None  # mean-pooling ckpts
        extra = {"layer": self.layer, "feature_block": block, "feature_norm": norm, "decoder": self.has_decoder}
        if self.has_decoder:
            extra["norm_pix_loss"] = bool(self.config.norm_pix_loss)
            extra["surprise_space"] = "reconstructed pixels of the masked future tubelets"
        self.info = dataclasses.replace(info, readouts=readouts, extra={**info.extra, **extra})

    @torch.inference_mode()
    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` with T = ``frames`` -> ``(B, T/tubelet * (H/patch) * (W/patch), D)``."""
        self._check(clips)
        out = self.backbone(clips.to(self.device), output_hidden_states=self.layer is not None)
        return select_hidden(out, self.layer, self.backbone.layernorm)

    @torch.inference_mode()
    def targets(self, clips: torch.Tensor) -> torch.Tensor:
        """Per-tubelet pixel targets of every token, ``(B, N, tubelet * patch * patch * 3)``."""
        self._check(clips)
        self._require_decoder()
        return pixel_targets(clips.to(self.device).float(), self.preprocessing, bool(self.config.norm_pix_loss))

    @torch.inference_mode()
    def predict(self, clips: torch.Tensor, n_context_frames: int) -> torch.Tensor:
        """Decoder reconstruction of every token after the first ``n_context_frames`` frames, in the
        order of ``targets(clips)[:, N_ctx:]``; only the context frames are read."""
        self._check(clips)
        self._require_decoder()
        b, t = clips.shape[:2]
        tub = self.preprocessing.tubelet
        if n_context_frames % tub or not 0 < n_context_frames < t:
            raise ValueError(f"context of {n_context_frames} frames must be a multiple of {tub} below {t}")
        per_step = self.preprocessing.tokens_per_frame_group()
        n_ctx, n_all = n_context_frames // tub * per_step, t // tub * per_step
        visible = clips.to(self.device).clone()
        visible[:, n_context_frames:] = 0.0
        masked = torch.zeros(b, n_all, dtype=torch.bool, device=self.device)
        masked[:, n_ctx:] = True
        # HF orders the decoder's masked outputs by position (pos_emb[bool_masked_pos]): t, h, w raster order
        return self.model(visible, bool_masked_pos=masked).logits

    def _require_decoder(self) -> None:
        if not self.has_decoder:
            raise PjbenchError(
                f"{self.info.name}: checkpoint {self.info.checkpoint} has no VideoMAE pre-training decoder (a "
                "fine-tuned classification checkpoint?), so it has no surprise readout; use a "
                "VideoMAEForPreTraining checkpoint such as MCG-NJU/videomae-base (features still work)"
            )

    def _check(self, clips: torch.Tensor) -> None:
        if clips.ndim != 5:
            raise ValueError(f"expected clips (B, T, C, H, W), got {tuple(clips.shape)}")
        pp = self.preprocessing
        if clips.shape[-1] != pp.resolution or clips.shape[-2] != pp.resolution:
            raise ValueError(f"VideoMAE at {pp.resolution} px got frames of {clips.shape[-2]}x{clips.shape[-1]}")
        if clips.shape[1] != pp.frames:
            # the position table covers exactly num_frames frames; HF would fail deep in a broadcast
            raise ValueError(f"VideoMAE takes clips of exactly {pp.frames} frames, got {clips.shape[1]}")


def load_videomae(checkpoint: str | None = None, device: str = "cpu", name: str = "videomae-base",
                  layer: int | None = None, allow_pickle: bool = False) -> VideoMAEEncoder:
    """Load VideoMAE from an HF id or a local ``save_pretrained`` directory (safetensors; pickled weights
    only with ``allow_pickle=True``).

    Pre-training checkpoints (``architectures: VideoMAEForPreTraining``) load with their decoder (surprise
    and features); any other VideoMAE checkpoint loads as ``VideoMAEModel`` (features only)."""
    from transformers import VideoMAEForPreTraining, VideoMAEModel

    checkpoint = checkpoint or DEFAULT_CHECKPOINT
    source, local = resolve_checkpoint(checkpoint, DEFAULT_CHECKPOINT)
    config = read_config(source, local, "VideoMAE", "VideoMAEForPreTraining")
    if config.get("model_type") != "videomae":
        raise PjbenchError(f"{checkpoint}: a {config.get('model_type')!r} checkpoint, not VideoMAE")
    pretraining = "VideoMAEForPreTraining" in (config.get("architectures") or [])
    cls = VideoMAEForPreTraining if pretraining else VideoMAEModel
    required = ("videomae.", *DECODER_PREFIXES) if pretraining else ("embeddings.", "encoder.")
    model, _, identity = from_pretrained_checked(cls, source, local, "VideoMAE", required, allow_pickle)
    info = ModelInfo(name=name, params=count_params(model), **identity)
    return VideoMAEEncoder(model, info, device=device, layer=layer)


def tiny_config(**overrides: Any):
    """A tiny VideoMAE config (hidden 32, 2 layers, 64 px, 8 frames, decoder 1 layer): milliseconds a clip."""
    from transformers import VideoMAEConfig

    kw = dict(image_size=64, patch_size=16, num_frames=8, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
              num_attention_heads=4, intermediate_size=64, decoder_hidden_size=32, decoder_num_hidden_layers=1,
              decoder_num_attention_heads=4, decoder_intermediate_size=64, norm_pix_loss=True,
              use_mean_pooling=False)
    kw.update(overrides)
    return VideoMAEConfig(**kw)


def build_tiny_random(seed: int = 0, head: str = "pretraining", **overrides: Any):
    """A seeded random-init tiny VideoMAE: ``head="pretraining"`` (``VideoMAEForPreTraining``, decoder
    included) or ``"classification"`` (``VideoMAEForVideoClassification``, mean pooling, no decoder: the
    shape of a fine-tuned checkpoint)."""
    from transformers import VideoMAEForPreTraining, VideoMAEForVideoClassification

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if head == "pretraining":
            model = VideoMAEForPreTraining(tiny_config(**overrides))
            # the official init draws the mask token from N(0, 0.02); HF leaves it at zero
            with torch.no_grad():
                model.mask_token.normal_(std=0.02)
        elif head == "classification":
            model = VideoMAEForVideoClassification(tiny_config(**{"use_mean_pooling": True, "num_labels": 4,
                                                                   **overrides}))
        else:
            raise ValueError(f"head must be 'pretraining' or 'classification', got {head!r}")
    return model.eval()


def load_tiny_random(checkpoint: str | None = None, device: str = "cpu", seed: int = 0,
                     layer: int | None = None) -> VideoMAEEncoder:
    """Random-init tiny VideoMAE with decoder: the surprise and features paths offline (a control)."""
    if checkpoint:
        return load_videomae(checkpoint, device=device, name="videomae-tiny-random", layer=layer)
    model = build_tiny_random(seed)
    info = ModelInfo(name="videomae-tiny-random", checkpoint=None, params=count_params(model),
                     extra={"init": "random", "init_seed": seed, "control": True})
    return VideoMAEEncoder(model, info, device=device, layer=layer)
