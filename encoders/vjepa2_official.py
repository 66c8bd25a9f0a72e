"""Official V-JEPA 2 ``.pt`` checkpoints (facebookresearch/vjepa2) loaded into HF ``VJEPA2Model``.

The training loop saves ``{"encoder", "predictor", "target_encoder", "epoch", "opt", ...}``; every parameter
key starts with ``module.backbone.`` (DDP + the multi-sequence wrapper). The encoder is the official
``VisionTransformer`` with RoPE, the predictor ``VisionTransformerPredictor`` with mask tokens; HF's
``VJEPA2Model`` is the same network under other names (key map below, as in transformers'
``convert_vjepa2_to_hf.py``):

==================================  ===============================================================
official                            HF ``VJEPA2Model``
==================================  ===============================================================
``patch_embed.proj.*``              ``encoder.embeddings.patch_embeddings.proj.*``
``blocks.i.attn.qkv.*`` (q|k|v)     ``encoder.layer.i.attention.{query,key,value}.*`` (row blocks)
``blocks.i.{norm1,norm2}``          ``encoder.layer.i.{norm1,norm2}``
``blocks.i.attn.proj``              ``encoder.layer.i.attention.proj``
``blocks.i.mlp.{fc1,fc2}``          ``encoder.layer.i.mlp.{fc1,fc2}``
``norm``                            ``encoder.layernorm``
``predictor_embed``                 ``predictor.embeddings.predictor_embeddings``
``mask_tokens.j`` ([1,1,Dp])        ``predictor.embeddings.mask_tokens`` (stacked, [n,1,1,Dp])
``predictor_blocks.i.*``            ``predictor.layer.i.*`` (as the encoder blocks)
``predictor_norm`` / ``_proj``      ``predictor.layernorm`` / ``predictor.proj``
``pos_embed``, ``predictor_pos_embed``  dropped (unused with RoPE)
==================================  ===============================================================

Both sides use LayerNorm eps 1e-6, GELU MLPs, and the same 3-axis RoPE (including the official
duplicated-frequency quirk, which HF keeps). Head counts cannot be read from the weights: they come from
the variant table; widths, depths, MLP ratios, patch/tubelet and the number of mask tokens are read from
the tensors and checked against it, so a file for the wrong ``--model`` is refused, not silently
mis-run.
"""

from __future__ import annotations

import math
import pickle
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import torch

from pjbench.benchmarks.errors import PjbenchError

OFFICIAL_SUFFIXES = (".pt", ".pth", ".tar")
_PREFIXES = ("module.", "backbone.")


@dataclass(frozen=True)
class Variant:
    """Architecture of one V-JEPA 2 release (what the weights alone do not tell)."""

    name: str
    hidden_size: int
    depth: int
    heads: int
    crop_size: int = 256
    pred_hidden_size: int = 384
    pred_depth: int = 12
    pred_heads: int = 12
    patch_size: int = 16
    tubelet_size: int = 2
    frames_per_clip: int = 64


#: ``vit_large`` / ``vit_huge`` / ``vit_giant_xformers`` of the official hub (``src/hub/backbones.py``).
VARIANTS: dict[str, Variant] = {
    "vitl": Variant("vitl", hidden_size=1024, depth=24, heads=16),
    "vith": Variant("vith", hidden_size=1280, depth=32, heads=16),
    "vitg": Variant("vitg", hidden_size=1408, depth=40, heads=22),
}
RESOLUTIONS = (256, 384)


def resolve_variant(variant: str | Variant, crop_size: int | None = None) -> Variant:
    """``"vitl"``, ``"vitg-384"``, ``"vjepa2-vitg-384"`` or a :class:`Variant` -> a :class:`Variant`.

    ``crop_size`` (when given) overrides the resolution the name implies."""
    if isinstance(variant, Variant):
        return replace(variant, crop_size=crop_size) if crop_size else variant
    name = str(variant).lower()
    name = name[len("vjepa2-"):] if name.startswith("vjepa2-") else name
    base, _, res = name.partition("-")
    if base not in VARIANTS or (res and not res.isdigit()):
        raise PjbenchError(f"unknown V-JEPA 2 variant {variant!r}; known: {', '.join(VARIANTS)} "
                           f"(optionally with a resolution suffix, e.g. 'vitg-384')")
    crop = crop_size or (int(res) if res else VARIANTS[base].crop_size)
    if crop not in RESOLUTIONS:
        raise PjbenchError(f"V-JEPA 2 variant {variant!r}: resolution {crop} is not one of {RESOLUTIONS}")
    return replace(VARIANTS[base], crop_size=crop)


def infer_variant(hidden_size: int, depth: int, source: str = "checkpoint") -> Variant:
    """The table entry with this encoder width and depth (256 px unless told otherwise)."""
    for v in VARIANTS.values():
        if (v.hidden_size, v.depth) == (hidden_size, depth):
            return v
    known = "; ".join(f"{k}: width {v.hidden_size}, {v.depth} blocks" for k, v in VARIANTS.items())
    raise PjbenchError(f"{source}: encoder of width {hidden_size} with {depth} blocks matches no V-JEPA 2 "
                       f"variant ({known})")


def strip_prefixes(state: Mapping[str, Any], source: str, part: str) -> dict[str, Any]:
    """Drop leading ``module.`` / ``backbone.`` (any order, any number) from every key."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        short = key
        while short.startswith(_PREFIXES):
            short = short.split(".", 1)[1]
        if short in out:
            raise PjbenchError(f"{source}: {part} has both {key!r} and another key that reads {short!r} "
                               "once the module./backbone. prefixes are stripped")
        out[short] = value
    return out


def select_encoder(ckpt: Mapping[str, Any], which_encoder: str = "target_encoder",
                   source: str = "checkpoint") -> str:
    """Which top-level entry holds the encoder: ``which_encoder`` if present; ``target_encoder`` falls back
    to ``encoder`` (older files and the hub's own loader)."""
    if which_encoder not in ("target_encoder", "encoder"):
        raise PjbenchError(f"which_encoder must be 'target_encoder' or 'encoder', got {which_encoder!r}")
    if not isinstance(ckpt, Mapping):
        raise PjbenchError(f"{source}: not an official V-JEPA 2 checkpoint (holds a {type(ckpt).__name__}, "
                           "not a dict with 'encoder'/'target_encoder'/'predictor')")
    candidates = [which_encoder] + (["encoder"] if which_encoder == "target_encoder" else [])
    for key in candidates:
        if isinstance(ckpt.get(key), Mapping) and ckpt[key]:
            return key
    raise PjbenchError(f"{source}: no {' or '.join(repr(c) for c in candidates)} state dict in this file "
                       f"(top-level keys: {', '.join(map(str, list(ckpt)[:12]))}); not an official V-JEPA 2 "
                       "training checkpoint")


_BLOCK = re.compile(r"^(blocks|predictor_blocks)\.(\d+)\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)"
                    r"\.(weight|bias)$")
_SIMPLE = {
    "patch_embed.proj": "encoder.embeddings.patch_embeddings.proj",
    "norm": "encoder.layernorm",
    "predictor_embed": "predictor.embeddings.predictor_embeddings",
    "predictor_norm": "predictor.layernorm",
    "predictor_proj": "predictor.proj",
}
_BLOCK_PART = {"norm1": "norm1", "norm2": "norm2", "attn.proj": "attention.proj", "mlp.fc1": "mlp.fc1",
               "mlp.fc2": "mlp.fc2"}
_DROPPED = ("pos_embed", "predictor_pos_embed")
_MASK_TOKEN = re.compile(r"^mask_tokens\.(\d+)$")


def _map_part(state: dict[str, torch.Tensor], part: str, label: str, source: str, out: dict[str, torch.Tensor],
              unmapped: list[str], mask_tokens: dict[int, torch.Tensor]) -> None:
    """Rename one official sub-state-dict (``part`` = ``encoder`` or ``predictor``; ``label`` = its
    top-level key, for messages) into ``out`` (HF names)."""
    own_blocks = "blocks" if part == "encoder" else "predictor_blocks"
    own_simple = {"patch_embed.proj", "norm"} if part == "encoder" else {"predictor_embed", "predictor_norm",
                                                                          "predictor_proj"}
    for key, value in state.items():
        if key in _DROPPED:
            continue
        if not isinstance(value, torch.Tensor):
            unmapped.append(f"{label}.{key} (not a tensor)")
            continue
        if value.is_floating_point() and value.dtype != torch.float32:
            value = value.float()
        m = _BLOCK.match(key)
        if m and m.group(1) == own_blocks:
            prefix = ("encoder" if part == "encoder" else "predictor") + f".layer.{int(m.group(2))}."
            what, kind = m.group(3), m.group(4)
            if what == "attn.qkv":
                if value.shape[0] % 3:
                    raise PjbenchError(f"{source}: {label} key {key!r} has {value.shape[0]} rows, not a fused "
                                       "q|k|v of three equal blocks")
                for name, chunk in zip(("query", "key", "value"), value.chunk(3, dim=0)):
                    out[f"{prefix}attention.{name}.{kind}"] = chunk
            else:
                out[f"{prefix}{_BLOCK_PART[what]}.{kind}"] = value
            continue
        base, _, kind = key.rpartition(".")
        if base in own_simple and kind in ("weight", "bias"):
            out[f"{_SIMPLE[base]}.{kind}"] = value
            continue
        m = _MASK_TOKEN.match(key)
        if m and part == "predictor":
            mask_tokens[int(m.group(1))] = value
            continue
        unmapped.append(f"{label}.{key}")


def _count_blocks(state: Mapping[str, Any], prefix: str) -> int:
    ids = {int(k.split(".")[1]) for k in state if k.startswith(prefix + ".") and k.split(".")[1].isdigit()}
    return max(ids) + 1 if ids else 0


def _mlp_ratio(rows: int, width: int) -> float:
    """A ratio ``r`` with ``int(width * r) == rows`` (how both implementations size the MLP)."""
    r = rows / width
    for _ in range(8):
        if int(width * r) == rows:
            return r
        r = math.nextafter(r, math.inf)
    raise ValueError(f"no float MLP ratio gives {rows} hidden units at width {width}")


def _shape(state: Mapping[str, Any], key: str, part: str, source: str, ndim: int) -> tuple[int, ...]:
    t = state.get(key)
    if not isinstance(t, torch.Tensor) or t.ndim != ndim:
        got = "missing" if t is None else f"shape {tuple(getattr(t, 'shape', ()))}"
        raise PjbenchError(f"{source}: {part} key {key!r} is {got}; expected a {ndim}-d tensor")
    return tuple(t.shape)


def _describe(hidden: int, depth: int) -> str:
    match = [k for k, v in VARIANTS.items() if (v.hidden_size, v.depth) == (hidden, depth)]
    return f" (that is {match[0]})" if match else ""


def convert_official_state_dict(ckpt: Mapping[str, Any], variant: str | Variant | None,
                                which_encoder: str = "target_encoder", *, source: str = "checkpoint",
                                crop_size: int | None = None):
    """An official training checkpoint -> ``(VJEPA2Config, state dict with HF VJEPA2Model names)``.

    ``variant``: ``"vitl"``/``"vith"``/``"vitg"`` (``"vitg-384"`` or ``crop_size=384`` for the 384-px
    release), a :class:`Variant`, or ``None`` to infer it from the encoder width and depth. The encoder is
    ``which_encoder`` (``target_encoder`` falls back to ``encoder``; :func:`select_encoder` says which).
    Refuses (``PjbenchError`` naming ``source``) a missing predictor, any key it cannot map, any HF key
    left without a value, and any tensor whose shape disagrees with the variant.
    """
    from transformers import VJEPA2Config, VJEPA2Model

    enc_key = select_encoder(ckpt, which_encoder, source)
    enc = strip_prefixes(ckpt[enc_key], source, enc_key)
    pred_raw = ckpt.get("predictor")
    if not isinstance(pred_raw, Mapping) or not pred_raw:
        raise PjbenchError(f"{source}: no 'predictor' state dict (top-level keys: "
                           f"{', '.join(map(str, list(ckpt)[:12]))}); the surprise readout needs the predictor, "
                           "so an encoder-only file cannot be evaluated")
    pred = strip_prefixes(pred_raw, source, "predictor")

    # Geometry read from the tensors.
    hidden, in_chans, tubelet, patch, patch_w = _shape(enc, "patch_embed.proj.weight", enc_key, source, 5)
    depth = _count_blocks(enc, "blocks")
    if variant is None:
        v = infer_variant(hidden, depth, source)
        v = replace(v, crop_size=crop_size) if crop_size else v
    else:
        v = resolve_variant(variant, crop_size)
    if (hidden, depth) != (v.hidden_size, v.depth):
        raise PjbenchError(
            f"{source}: the {enc_key} has width {hidden} and {depth} blocks{_describe(hidden, depth)}, but "
            f"variant {v.name} needs width {v.hidden_size} and {v.depth} blocks: wrong --model for this file?")
    if (patch, patch_w, tubelet) != (v.patch_size, v.patch_size, v.tubelet_size):
        raise PjbenchError(f"{source}: patch embedding is {patch}x{patch_w} px x {tubelet} frames; variant "
                           f"{v.name} expects patch {v.patch_size}, tubelet {v.tubelet_size}")
    pred_hidden, pred_in = _shape(pred, "predictor_embed.weight", "predictor", source, 2)
    pred_depth = _count_blocks(pred, "predictor_blocks")
    if (pred_hidden, pred_depth, pred_in) != (v.pred_hidden_size, v.pred_depth, hidden):
        raise PjbenchError(
            f"{source}: predictor has width {pred_hidden}, {pred_depth} blocks and input width {pred_in}; "
            f"variant {v.name} needs width {v.pred_hidden_size}, {v.pred_depth} blocks, input {hidden} "
            "(an action-conditioned or otherwise different predictor?)")
    fc1 = _shape(enc, "blocks.0.mlp.fc1.weight", enc_key, source, 2)[0]
    pred_fc1 = _shape(pred, "predictor_blocks.0.mlp.fc1.weight", "predictor", source, 2)[0]

    # Rename.
    out: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    mask_tokens: dict[int, torch.Tensor] = {}
    _map_part(enc, "encoder", enc_key, source, out, unmapped, mask_tokens)
    _map_part(pred, "predictor", "predictor", source, out, unmapped, mask_tokens)
    if unmapped:
        shown = ", ".join(unmapped[:8]) + (f" ... ({len(unmapped)} in all)" if len(unmapped) > 8 else "")
        raise PjbenchError(f"{source}: keys with no place in VJEPA2Model: {shown}; not a V-JEPA 2 "
                           "encoder/predictor checkpoint of the supported layout")
    if not mask_tokens:
        raise PjbenchError(f"{source}: the predictor has no mask_tokens.j entries")
    if sorted(mask_tokens) != list(range(len(mask_tokens))):
        raise PjbenchError(f"{source}: predictor mask tokens are numbered {sorted(mask_tokens)}, not 0..n-1")
    shapes = {tuple(t.shape) for t in mask_tokens.values()}
    if shapes != {(1, 1, pred_hidden)}:
        raise PjbenchError(f"{source}: predictor mask tokens have shapes {sorted(shapes)}, expected "
                           f"(1, 1, {pred_hidden})")
    out["predictor.embeddings.mask_tokens"] = torch.stack([mask_tokens[i] for i in range(len(mask_tokens))])

    config = VJEPA2Config(
        crop_size=v.crop_size, patch_size=v.patch_size, tubelet_size=v.tubelet_size,
        frames_per_clip=v.frames_per_clip, in_chans=in_chans, hidden_size=hidden, num_hidden_layers=depth,
        num_attention_heads=v.heads, mlp_ratio=_mlp_ratio(fc1, hidden), layer_norm_eps=1e-6, qkv_bias=True,
        hidden_act="gelu", pred_hidden_size=pred_hidden, pred_num_hidden_layers=pred_depth,
        pred_num_attention_heads=v.pred_heads, pred_mlp_ratio=_mlp_ratio(pred_fc1, pred_hidden),
        pred_num_mask_tokens=len(mask_tokens),
    )
    # Every HF key must be filled with a tensor of exactly the expected shape (built on the meta device:
    # shapes only, no memory, no random init).
    with torch.device("meta"):
        expected = {k: tuple(t.shape) for k, t in VJEPA2Model(config).state_dict().items()}
    missing = sorted(set(expected) - set(out))
    extra = sorted(set(out) - set(expected))
    bad = [f"{k}: file {tuple(out[k].shape)} vs model {expected[k]}" for k in sorted(set(out) & set(expected))
           if tuple(out[k].shape) != expected[k]]
    for problem, items in (("lacks weights for", missing), ("has weights with no place in the model:", extra),
                           ("has tensors of the wrong shape for variant " + v.name + ":", bad)):
        if items:
            shown = "; ".join(items[:6]) + (f" ... ({len(items)} in all)" if len(items) > 6 else "")
            raise PjbenchError(f"{source}: {problem} {shown}")
    return config, out


def load_checkpoint_file(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` (memory-mapped when the format allows), errors as PjbenchError."""
    path = Path(path)
    kw = dict(map_location="cpu", weights_only=True)
    try:
        try:
            return torch.load(path, mmap=True, **kw)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            return torch.load(path, **kw)  # legacy (non-zip) format: no mmap
    except pickle.UnpicklingError as exc:
        raise PjbenchError(f"{path}: torch.load(weights_only=True) refuses this file: it holds objects other "
                           f"than tensors and plain containers ({str(exc).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise PjbenchError(f"{path}: cannot read as a torch checkpoint ({exc})") from None


CONTEXT_ENCODERS = ("encoder", "target_encoder")


def load_official_checkpoint(path: str | Path, variant: str | Variant | Mapping[str, Any] | None = None,
                             device: str = "cpu", name: str = "vjepa2", frames: int = 48,
                             context_encoder: str = "encoder", crop_size: int | None = None,
                             layer: int | None = None, mask_index: int = 0):
    """An official V-JEPA 2 ``.pt`` -> :class:`pjbench.encoders.vjepa2_hf.VJEPA2Surprise`.

    Targets come from ``target_encoder`` (``encoder`` in files without one) and, by default, the context
    from ``encoder``: the split of the official IntPhys 2 eval (IntPhys2 ``prediction_evals/app/vjepa/
    modelcustom/default_wrapper.py``, config ``evals/intphys2/configs/vjepa_2.yaml``: ``checkpoint_key:
    encoder`` / ``target_encoder``). ``context_encoder="target_encoder"`` encodes the context with the
    target encoder too (pjbench's earlier behaviour). Which encoder did what is recorded in ``info.extra``
    (``context_encoder``, ``target_encoder``); ``context_encoder`` as asked is part of the identity. The
    features readout (``encode``) reads the target encoder.
    """
    from transformers import VJEPA2Model
    from transformers.models.vjepa2.modeling_vjepa2 import VJEPA2Encoder

    from pjbench.encoders.base import ModelInfo, count_params
    from pjbench.encoders.vjepa2_hf import VJEPA2Surprise, hash_file

    if context_encoder not in CONTEXT_ENCODERS:
        raise PjbenchError(f"context_encoder must be one of {', '.join(CONTEXT_ENCODERS)}, got {context_encoder!r}")
    if isinstance(variant, Mapping):
        try:
            variant = Variant(**variant)
        except TypeError as exc:
            raise PjbenchError(f"variant {dict(variant)!r}: not a V-JEPA 2 architecture ({exc})") from None
    path = Path(path).expanduser()
    if not path.is_file():
        raise PjbenchError(f"{path}: no such checkpoint file")
    ckpt = load_checkpoint_file(path)
    tgt_key = select_encoder(ckpt, "target_encoder", str(path))
    config, state = convert_official_state_dict(ckpt, variant, "target_encoder", source=str(path),
                                                crop_size=crop_size)
    with torch.device("meta"):
        model = VJEPA2Model(config)
    model.load_state_dict(state, strict=True, assign=True)
    model.eval()
    ctx_key, ctx_module = tgt_key, None
    if context_encoder == "encoder" and tgt_key != "encoder":
        if not (isinstance(ckpt.get("encoder"), Mapping) and ckpt["encoder"]):
            raise PjbenchError(f"{path}: no 'encoder' state dict to encode the context with (the official split); "
                               "pass --model-arg context_encoder=target_encoder to use the target encoder for both")
        _, ctx_state = convert_official_state_dict(ckpt, variant, "encoder", source=str(path), crop_size=crop_size)
        with torch.device("meta"):
            ctx_module = VJEPA2Encoder(config)
        prefix = "encoder."
        ctx_module.load_state_dict({k[len(prefix):]: v for k, v in ctx_state.items() if k.startswith(prefix)},
                                   strict=True, assign=True)
        ctx_module.eval()
        ctx_key = "encoder"
    epoch = ckpt.get("epoch") if isinstance(ckpt, Mapping) else None
    if variant is None:
        v_name = infer_variant(config.hidden_size, config.num_hidden_layers, str(path)).name + " (inferred)"
    else:
        v_name = variant.name if isinstance(variant, Variant) else str(variant)
    if ctx_key == tgt_key:
        why = ("the file has no target_encoder" if tgt_key == "encoder" else "context_encoder=target_encoder")
        note = f"one encoder ({tgt_key}) for context and targets ({why}); the official eval splits them"
    else:
        note = "context from encoder, targets from target_encoder, as the official IntPhys 2 eval"
    params = count_params(model) + (count_params(ctx_module) if ctx_module is not None else 0)
    info = ModelInfo(
        name=name, checkpoint=str(path.resolve()), checkpoint_hash=hash_file(path), params=params,
        extra={"format": "official-pt", "encoder": tgt_key, "variant": v_name,
               "crop_size": int(config.crop_size), "epoch": epoch if isinstance(epoch, int) else None,
               "context_encoder": ctx_key, "target_encoder": tgt_key, "encoders": note},
    )
    return VJEPA2Surprise(model, info, device=device, frames=frames, mask_index=mask_index, layer=layer,
                          context_encoder=ctx_module)
