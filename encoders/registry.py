"""The model registry. Built-in entries are declared here (lazy ``module:attr`` targets, so listing
them imports no model code); third-party packages add theirs through the ``pjbench.encoders``
entry-point group, pointing at a factory ``f(checkpoint=None, device="cpu", **kw) -> Encoder``. A
factory may carry a ``pjbench_info`` dict (description, resolution, readouts, ...) shown by ``pjbench list``.
"""

from __future__ import annotations

from pjbench.benchmarks.registry import Registry

MODELS: Registry = Registry("model", entry_point_group="pjbench.encoders")

_VJEPA2_SURPRISE = dict(frames=48, sample_fps=6.0, frame_step=10, tubelet=2, patch=16, readouts="surprise")

MODELS.register(
    "vjepa2",
    "pjbench.encoders.vjepa2_hf:load_vjepa2",
    "V-JEPA 2 encoder + predictor via transformers VJEPA2Model (HF id or local dir)",
    checkpoint="facebook/vjepa2-vitl-fpc64-256", resolution=256, offline=False, **_VJEPA2_SURPRISE,
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
        defaults={"checkpoint": _hf_id, "name": _name},
        checkpoint=_hf_id, resolution=_res, offline=False, **_VJEPA2_SURPRISE,
    )
MODELS.register(
    "vjepa2-tiny-random",
    "pjbench.encoders.vjepa2_hf:load_tiny_random",
    "Random-init tiny V-JEPA 2 (hidden 64, crop 64): full predictor path offline; a control, ~chance",
    checkpoint=None, resolution=64, offline=True, **_VJEPA2_SURPRISE,
)
_PIXEL = dict(checkpoint=None, resolution=32, frames=48, sample_fps=6.0, frame_step=10, tubelet=1, patch=4,
              readouts="surprise", offline=True, baseline=True)
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
