"""Shared fixtures: tiny checkpoints and tiny datasets are *built* here, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def tiny_vjepa2_dir(tmp_path_factory) -> Path:
    """A random-init tiny V-JEPA 2 saved with ``save_pretrained`` (the real loading path reads it)."""
    from pjbench.encoders.vjepa2_hf import build_tiny_random

    path = tmp_path_factory.mktemp("ckpt") / "tiny-vjepa2"
    build_tiny_random(seed=3).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_suite(tmp_path_factory) -> Path:
    """A tiny synthetic IntPhys 2 release (64 px, 48 frames at 12 fps)."""
    from pjbench.synthetic import write_intphys2_suite

    out = tmp_path_factory.mktemp("suite") / "IntPhys2"
    return write_intphys2_suite(out, seed=0, scale=0.25, resolution=64, fps=12, n_frames=48, progress=False)
