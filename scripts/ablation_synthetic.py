"""Measure the README's "Differences from the official code" effects on the synthetic suite.

Builds a seeded random-init V-JEPA 2 checkpoint in the official ``.pt`` layout (two encoders, 256 px, so the
published 224-px token masks, the encoder split and the antialiased resize all apply), writes the synthetic
IntPhys 2 suite at 288 px (the resize downsamples, as on the 512-px release), and runs ``pjbench ablate`` on
Main (every deviation) and on Debug (the Debug pairing). Prints both tables; writes them under OUT.

    python scripts/ablation_synthetic.py OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from pjbench.benchmarks.ablate import ablate
from pjbench.synthetic import write_intphys2_suite

D, DP = 64, 32
VARIANT = {"name": "tiny256", "hidden_size": D, "depth": 2, "heads": 4, "crop_size": 256, "pred_hidden_size": DP,
           "pred_depth": 1, "pred_heads": 2}
PFX = "module.backbone."


def _block(p, d, hidden, make):
    return {f"{p}.norm1.weight": 1 + make(d), f"{p}.norm1.bias": make(d),
            f"{p}.attn.qkv.weight": make(3 * d, d, std=d ** -0.5), f"{p}.attn.qkv.bias": make(3 * d),
            f"{p}.attn.proj.weight": make(d, d, std=d ** -0.5), f"{p}.attn.proj.bias": make(d),
            f"{p}.norm2.weight": 1 + make(d), f"{p}.norm2.bias": make(d),
            f"{p}.mlp.fc1.weight": make(hidden, d, std=d ** -0.5), f"{p}.mlp.fc1.bias": make(hidden),
            f"{p}.mlp.fc2.weight": make(d, hidden, std=hidden ** -0.5), f"{p}.mlp.fc2.bias": make(d)}


def official_checkpoint(path: Path, seed: int = 11) -> Path:
    g = torch.Generator().manual_seed(seed)

    def make(*shape, std=0.05):
        return torch.randn(*shape, generator=g) * std

    def encoder():
        sd = {"patch_embed.proj.weight": make(D, 3, 2, 16, 16, std=0.02), "patch_embed.proj.bias": make(D),
              "pos_embed": make(1, 32, D), "norm.weight": 1 + make(D), "norm.bias": make(D)}
        for i in range(2):
            sd.update(_block(f"blocks.{i}", D, 2 * D, make))
        return {PFX + k: v for k, v in sd.items()}

    pred = {"predictor_embed.weight": make(DP, D, std=D ** -0.5), "predictor_embed.bias": make(DP),
            "predictor_pos_embed": make(1, 32, DP), "predictor_norm.weight": 1 + make(DP),
            "predictor_norm.bias": make(DP), "predictor_proj.weight": make(D, DP, std=DP ** -0.5),
            "predictor_proj.bias": make(D)}
    for j in range(10):
        pred[f"mask_tokens.{j}"] = make(1, 1, DP, std=1.0)
    pred.update(_block("predictor_blocks.0", DP, 2 * DP, make))
    torch.save({"encoder": encoder(), "predictor": {PFX + k: v for k, v in pred.items()},
                "target_encoder": encoder(), "epoch": 1}, path)
    return path


def main(out: str) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = official_checkpoint(out_dir / "tiny256.pt")
    suite = write_intphys2_suite(out_dir / "IntPhys2", seed=0, scale=1.0, resolution=288, fps=12, n_frames=36,
                                 splits=("Debug", "Main"), progress=False)
    common = dict(checkpoint=str(ckpt), model_args={"variant": VARIANT}, window=8, stride=2,
                  contexts=(4, 6), n_boot=1000, seed=0, workers=0, progress=True,
                  cache_dir=str(out_dir / "cache"))
    main_ab, _ = ablate("vjepa2", suite, out_dir / "main", split="Main", **common)
    debug_ab, _ = ablate("vjepa2", suite, out_dir / "debug", split="Debug", deviations=["debug-pairing"],
                         context=6, **common)
    print(main_ab.table())
    print()
    print(debug_ab.table())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ablation-synthetic")
