"""Surprise-track protocols: ``corrected`` (pjbench's default) and ``as-published`` (the published code's
numbers, its bugs included), each deviation individually switchable so ``pjbench ablate`` can measure
what every fix changes.

The published pipeline (IntPhys 2 ``prediction_evals``, config ``evals/intphys2/configs/vjepa_2.yaml``,
metrics of jepa-intuitive-physics ``compute_metrics``; facts in ``shared/formats.md``) differs from the
corrected one in:

- ``mask_grid_224``: token masks built by ``get_time_masks`` for a 224-px grid (``(224/patch)**2`` = 196
  tokens per tubelet at patch 16) whatever the model's resolution; see :func:`published_token_counts`;
- ``zero_pad``: per-video loss rows zero-padded to the longest row of the evaluated set before avg/max;
- ``antialias``: frames resized bilinearly WITHOUT antialiasing (``False`` there);
- ``dtype``: the V-JEPA 2 config runs in bfloat16 (``use_bfloat16: true``);
- ``context_on_reported``: the best context length (and the absolute-accuracy threshold, which
  ``compute_metrics`` fits on the videos it scores) picked on the reported split: optimistic;
- ``debug_pairing``: Debug renders paired by position instead of every possible x impossible render.

``encoder_split`` (context from the checkpoint's ``encoder``, targets from ``target_encoder``) is what the
published code does and what pjbench now does too; switching it off restores pjbench's earlier
one-encoder behaviour, so the ablation can show what that fix changed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pjbench.benchmarks.errors import PjbenchError

PROTOCOLS = ("corrected", "as-published")
PUBLISHED_GRID_PX = 224  # get_time_masks' default spatial_dim, never overridden by the published V-JEPA 2 eval
PUBLISHED_DTYPE = "bf16"  # vjepa_2.yaml: use_bfloat16: true


@dataclass(frozen=True)
class Protocol:
    """A surprise-track protocol: its name and each deviation from the corrected default.

    ``dtype`` ``None`` leaves the forward dtype to ``--dtype`` (fp32 by default)."""

    name: str = "corrected"
    mask_grid_224: bool = False
    zero_pad: bool = False
    antialias: bool = True
    dtype: str | None = None
    encoder_split: bool = True
    context_on_reported: bool = False
    debug_pairing: str = "all"

    def __post_init__(self) -> None:
        if self.debug_pairing not in ("all", "positional"):
            raise ValueError(f"debug_pairing must be 'all' or 'positional', got {self.debug_pairing!r}")

    @property
    def optimistic(self) -> bool:
        """Hyper-parameters chosen on the split that is reported."""
        return self.context_on_reported

    def deviations(self) -> dict[str, Any]:
        """The fields that differ from :data:`CORRECTED` (``{}`` for the corrected protocol)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "name" and getattr(self, f.name) != getattr(CORRECTED, f.name)}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["deviations"] = sorted(self.deviations())
        d["optimistic"] = self.optimistic
        return d


CORRECTED = Protocol()
AS_PUBLISHED = Protocol(name="as-published", mask_grid_224=True, zero_pad=True, antialias=False,
                        dtype=PUBLISHED_DTYPE, encoder_split=True, context_on_reported=True,
                        debug_pairing="positional")

#: One published deviation at a time, for ``pjbench ablate``: name -> (field, value, what it does).
DEVIATIONS: dict[str, tuple[str, Any, str]] = {
    "masks": ("mask_grid_224", True, "token masks for a 224-px grid (196 tokens/frame) at the model's resolution"),
    "padding": ("zero_pad", True, "loss rows zero-padded to the longest video before avg/max"),
    "antialias": ("antialias", False, "bilinear resize without antialiasing"),
    "dtype": ("dtype", PUBLISHED_DTYPE, "bfloat16 forward passes (use_bfloat16: true)"),
    "encoder-split": ("encoder_split", False,
                      "target_encoder for the context too (pjbench's earlier one-encoder path; official: split)"),
    "context-selection": ("context_on_reported", True,
                          "context and threshold picked on the reported split (optimistic)"),
    "debug-pairing": ("debug_pairing", "positional", "Debug renders paired by position"),
}


def named(name: str) -> Protocol:
    """``"corrected"``, ``"as-published"``, or the corrected protocol with published deviations switched on
    one by one: ``"corrected+masks"``, ``"corrected+antialias+dtype"`` (keys of :data:`DEVIATIONS`; the
    protocol's name is then the canonical ``corrected+<keys in DEVIATIONS order>``). Anything else is a
    :class:`PjbenchError`."""
    if name == "corrected":
        return CORRECTED
    if name == "as-published":
        return AS_PUBLISHED
    head, _, rest = name.partition("+")
    keys = [k for k in rest.split("+") if k]
    unknown = [k for k in keys if k not in DEVIATIONS]
    if head != "corrected" or not keys or unknown:
        raise PjbenchError(f"--protocol {name!r}: use {', '.join(PROTOCOLS)}, or corrected+DEVIATION[+...] with "
                           f"DEVIATION one of {', '.join(DEVIATIONS)}")
    ordered = [k for k in DEVIATIONS if k in keys]
    changes = {DEVIATIONS[k][0]: DEVIATIONS[k][1] for k in ordered}
    return dataclasses.replace(CORRECTED, name="corrected+" + "+".join(ordered), **changes)


def one_deviation(key: str) -> Protocol:
    """The corrected protocol with the single published deviation ``key`` (see :data:`DEVIATIONS`)."""
    if key not in DEVIATIONS:
        raise PjbenchError(f"unknown deviation {key!r}; known: {', '.join(DEVIATIONS)}")
    field, value, _ = DEVIATIONS[key]
    return dataclasses.replace(CORRECTED, name=f"corrected+{key}", **{field: value})


def published_token_counts(window: int, context: int, patch: int, tubelet: int,
                           grid_px: int = PUBLISHED_GRID_PX) -> tuple[int, int]:
    """``(n_context, n_window)`` token counts of the published ``get_time_masks(context, spatial_size=(patch,
    patch), temporal_size=tubelet, temporal_dim=window)`` with its default ``spatial_dim=(grid_px, grid_px)``.

    Context mask = token indices ``[0, n_context)``, target mask ``[n_context, n_window)``, full mask
    ``[0, n_window)``: raster (t, h, w) indices that the model then reads on its REAL grid. The arithmetic
    is the published one (float division, ``int`` truncation) so that it also holds where 224 is not a
    multiple of the patch."""
    if context % tubelet:
        raise ValueError(f"context {context} is not a multiple of the tubelet {tubelet} (the published code asserts it)")
    per_tubelet = grid_px / patch * grid_px / patch
    return int(per_tubelet * context // tubelet), int(per_tubelet * (window / tubelet))


def check_published_masks(resolution: int, window: int, contexts: tuple[int, ...] | list[int], patch: int,
                          tubelet: int, model: str = "model") -> None:
    """Refuse (``PjbenchError``) a geometry where the published masks index past the real token grid: the
    published loop would crash there (``torch.gather`` out of range), so it has no number to reproduce.

    At 224 px the masks are right; above it they cover a prefix of the real grid (at 256 px: 196 of the
    256 tokens of each tubelet's worth of indices, so contexts and targets end mid-frame); below it they
    point past the end of the window."""
    side = resolution // patch
    real = side * side * (window // tubelet)
    _, n_window = published_token_counts(window, min(contexts), patch, tubelet)
    if n_window > real:
        raise PjbenchError(
            f"--protocol as-published: at {resolution} px {model} has {side}x{side} tokens per tubelet, "
            f"{real} per {window}-frame window, but the published 224-px masks index {n_window} tokens: the "
            f"published loop crashes here (index out of range), so there is no published number to reproduce. "
            f"It runs at resolutions >= {PUBLISHED_GRID_PX} px; use --protocol corrected")
