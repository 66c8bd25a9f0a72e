"""The model registry. Built-in entries are declared here (lazy ``module:attr`` targets, so listing
them imports no model code); third-party packages add theirs through the ``pjbench.encoders``
entry-point group, pointing at a factory ``f(checkpoint=None, device="cpu", **kw) -> Encoder``. A
factory may carry a ``pjbench_info`` dict (description, resolution, readouts, ...) shown by ``pjbench list``.
"""

from __future__ import annotations

from pjbench.benchmarks.registry import Registry
from pjbench.encoders.tiny_vlm import FAMILIES as TINY_VLM_FAMILIES

MODELS: Registry = Registry("model", entry_point_group="pjbench.encoders")

_VJEPA2_SURPRISE = dict(frames=48, sample_fps=6.0, frame_step=10, tubelet=2, patch=16, readouts="surprise,features")
# `params`: approximate parameter count of the released encoder, shown by `pjbench list`
_VJEPA2_PARAMS = {"vitl": "300M", "vith": "600M", "vitg": "1B"}

MODELS.register(
    "vjepa2",
    "pjbench.encoders.vjepa2_hf:load_vjepa2",
    "V-JEPA 2 encoder + predictor via transformers VJEPA2Model (HF id, local dir, or official .pt: variant inferred)",
    checkpoint="facebook/vjepa2-vitl-fpc64-256", resolution=256, offline=False, params="300M", **_VJEPA2_SURPRISE,
)
for _name, _hf_id, _res in [
    ("vjepa2-vitl", "facebook/vjepa2-vitl-fpc64-256", 256),
    ("vjepa2-vith", "facebook/vjepa2-vith-fpc64-256", 256),
    ("vjepa2-vitg", "facebook/vjepa2-vitg-fpc64-256", 256),
    ("vjepa2-vitg-384", "facebook/vjepa2-vitg-fpc64-384", 384),
]:
    MODELS.register(
        _name,
        "pjbench.encoders.vjepa2_hf:load_vjepa2",
        f"V-JEPA 2 {_name.split('-', 1)[1].upper()} encoder + predictor ({_hf_id})",
        defaults={"checkpoint": _hf_id, "name": _name, "variant": _name.split("-", 1)[1]},  # variant: for official .pt
        checkpoint=_hf_id, resolution=_res, offline=False, params=_VJEPA2_PARAMS[_name.split("-")[1]],
        **_VJEPA2_SURPRISE,
    )
MODELS.register(
    "vjepa2-tiny-random",
    "pjbench.encoders.vjepa2_hf:load_tiny_random",
    "Random-init tiny V-JEPA 2 (hidden 64, crop 64): full predictor path offline; a control, ~chance",
    checkpoint=None, resolution=64, offline=True, params="0.18M", **_VJEPA2_SURPRISE,
)
_PIXEL = dict(checkpoint=None, resolution=32, frames=48, sample_fps=6.0, frame_step=10, tubelet=1, patch=4,
              readouts="surprise", offline=True, baseline=True, params=0)
MODELS.register(
    "pixel-copy-last",
    "pjbench.encoders.pixel:copy_last",
    "Baseline: future frames = last context frame (32 px RGB patches); the low-level-cue floor",
    **_PIXEL,
)
MODELS.register(
    "pixel-linear",
    "pjbench.encoders.pixel:linear",
    "Baseline: linear extrapolation of the last two context frames (32 px RGB patches)",
    **_PIXEL,
)
MODELS.register(
    "pixel-patches",
    "pjbench.encoders.pixel:patches",
    "Baseline features: raw 32 px RGB patches (no parameters); the probe track's pixel floor",
    **{**_PIXEL, "readouts": "features"},
)

# Video-language models (the `vlm` readout): entries declare readouts="generate" and build an Answerer
# (pjbench.encoders.answerer); openai:NAME models are served over HTTP and need no entry.
MODELS.register(
    "answer-random",
    "pjbench.encoders.answer_baselines:load_random_answerer",
    "Baseline answerer: a seeded uniform choice among the listed options (the vlm readout's chance floor)",
    checkpoint=None, readouts="generate", offline=True, baseline=True, params=0, sampling="the benchmark's official",
)
# transformers backend (the [vlm] extra): AutoModelForImageTextToText + AutoProcessor. Frame count / rate: the
# benchmark's official protocol (MVPBench / CausalVQA 16 frames, IntPhys 2 1 fps); max_pixels per frame from
# the model's published evaluation setting where there is one (MVPBench harness: Qwen2-VL 151200, Qwen2.5-VL
# 602112); elsewhere the model's processor default.
_VLM = dict(readouts="generate", backend="transformers", offline=False, sampling="the benchmark's official")
for _name, _hf_id, _params, _family, _max_pixels in [
    ("qwen2.5-vl-3b", "Qwen/Qwen2.5-VL-3B-Instruct", "3.8B", "qwen2.5-vl", 602112),
    ("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct", "8.3B", "qwen2.5-vl", 602112),
    ("qwen2.5-vl-72b", "Qwen/Qwen2.5-VL-72B-Instruct", "73B", "qwen2.5-vl", 602112),
    ("qwen2-vl-7b", "Qwen/Qwen2-VL-7B-Instruct", "8.3B", "qwen2-vl", 151200),
    ("cosmos-reason1-7b", "nvidia/Cosmos-Reason1-7B", "8.3B", "qwen2.5-vl", 602112),
    ("llava-onevision-0.5b", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "0.9B", "llava-onevision", None),
    ("llava-onevision-7b", "llava-hf/llava-onevision-qwen2-7b-ov-hf", "8.0B", "llava-onevision", None),
    ("internvl3-1b", "OpenGVLab/InternVL3-1B-hf", "0.9B", "internvl", None),
    ("internvl3-2b", "OpenGVLab/InternVL3-2B-hf", "2.1B", "internvl", None),
    ("internvl3-8b", "OpenGVLab/InternVL3-8B-hf", "7.9B", "internvl", None),
    ("perceptionlm-1b", "facebook/Perception-LM-1B", "1B", "perceptionlm", None),
    ("perceptionlm-3b", "facebook/Perception-LM-3B", "3B", "perceptionlm", None),
    ("perceptionlm-8b", "facebook/Perception-LM-8B", "8B", "perceptionlm", None),
    ("smolvlm2-256m", "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "256M", "smolvlm", None),
    ("smolvlm2-2.2b", "HuggingFaceTB/SmolVLM2-2.2B-Instruct", "2.2B", "smolvlm", None),
]:
    MODELS.register(
        _name,
        "pjbench.encoders.hf_vlm:load_transformers_vlm",
        f"Video-language model {_hf_id} (transformers backend, [vlm] extra); the vlm readout",
        defaults={"checkpoint": _hf_id, "name": _name, **({"max_pixels": _max_pixels} if _max_pixels else {})},
        checkpoint=_hf_id, params=_params, family=_family, max_pixels=_max_pixels, **_VLM,
    )
for _family in TINY_VLM_FAMILIES:  # one seeded tiny control per architecture of the entries above
    MODELS.register(
        f"{_family}-tiny-random",
        "pjbench.encoders.hf_vlm:load_tiny_vlm",
        f"Random-init tiny {_family} (hidden 64, 2 layers; built offline from its config, tokenizer trained "
        "locally): the transformers VLM path end to end; a control, ~chance",
        defaults={"family": _family}, checkpoint=None, params="0.2M", family=_family, control=True,
        **{**_VLM, "offline": True},
    )

# VideoMAE: 16 frames at 224 px, tubelet 2, patch 16; sampled at 6 fps like every surprise model here.
_VIDEOMAE = dict(resolution=224, frames=16, sample_fps=6.0, frame_step=10, tubelet=2, patch=16, offline=False)
for _name, _hf_id, _params, _readouts, _what in [
    ("videomae-base", "MCG-NJU/videomae-base", "86M", "surprise,features", "ViT-B, K400 self-supervised, with decoder"),
    ("videomae-large", "MCG-NJU/videomae-large", "304M", "surprise,features", "ViT-L, K400 self-supervised, with decoder"),
    ("videomae-base-k400", "MCG-NJU/videomae-base-finetuned-kinetics", "86M", "features",
     "ViT-B fine-tuned on K400 labels, no decoder"),
]:
    MODELS.register(
        _name,
        "pjbench.encoders.videomae:load_videomae",
        f"VideoMAE {_what} ({_hf_id}); surprise = masked-future pixel reconstruction error"
        if "surprise" in _readouts else f"VideoMAE {_what} ({_hf_id}): token features only",
        defaults={"checkpoint": _hf_id, "name": _name},
        checkpoint=_hf_id, params=_params, readouts=_readouts, **_VIDEOMAE,
    )
MODELS.register(
    "videomae-tiny-random",
    "pjbench.encoders.videomae:load_tiny_random",
    "Random-init tiny VideoMAE with decoder (hidden 32, 64 px, 8 frames): pixel-surprise path offline; a control",
    checkpoint=None, resolution=64, frames=8, sample_fps=6.0, frame_step=10, tubelet=2, patch=16,
    readouts="surprise,features", offline=True, control=True, params="0.13M",
)
# DINOv2 per frame (tubelet 1, patch 14): the image-only control, features only.
_DINOV2 = dict(resolution=224, frames=16, sample_fps=6.0, frame_step=10, tubelet=1, patch=14, readouts="features",
               offline=False)
for _name, _params in [("dinov2-small", "22M"), ("dinov2-base", "86M"), ("dinov2-large", "304M")]:
    MODELS.register(
        _name,
        "pjbench.encoders.dinov2:load_dinov2",
        f"DINOv2 {_name.split('-')[1]} on every frame independently (facebook/{_name}): image-only features",
        defaults={"checkpoint": f"facebook/{_name}", "name": _name},
        checkpoint=f"facebook/{_name}", params=_params, **_DINOV2,
    )
MODELS.register(
    "dinov2-tiny-random",
    "pjbench.encoders.dinov2:load_tiny_random",
    "Random-init tiny DINOv2 per frame (hidden 32, 56 px): image-only features path offline; a control",
    checkpoint=None, **{**_DINOV2, "resolution": 56, "offline": True}, control=True, params="0.04M",
)
