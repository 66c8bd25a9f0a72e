"""Shared fixtures: tiny checkpoints and tiny datasets are *built* here, never downloaded."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

# Session-wide fallback (module- and session-scoped fixtures run outside the per-test fixture below):
# tests never touch the user's ~/.cache/pjbench.
_SESSION_CACHE = tempfile.mkdtemp(prefix="pjbench-test-cache-")
atexit.register(shutil.rmtree, _SESSION_CACHE, ignore_errors=True)
os.environ["PJBENCH_CACHE"] = _SESSION_CACHE
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _private_feature_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty feature cache (never the user's ~/.cache/pjbench)."""
    monkeypatch.setenv("PJBENCH_CACHE", str(tmp_path_factory.mktemp("pjbench-cache")))


@pytest.fixture(scope="session")
def tiny_vjepa2_dir(tmp_path_factory) -> Path:
    """A random-init tiny V-JEPA 2 saved with ``save_pretrained`` (the real loading path reads it)."""
    from pjbench.encoders.vjepa2_hf import build_tiny_random

    path = tmp_path_factory.mktemp("ckpt") / "tiny-vjepa2"
    build_tiny_random(seed=3).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_videomae_dir(tmp_path_factory) -> Path:
    """A random-init tiny ``VideoMAEForPreTraining`` (decoder included) saved with ``save_pretrained``."""
    from pjbench.encoders.videomae import build_tiny_random

    path = tmp_path_factory.mktemp("ckpt") / "tiny-videomae"
    build_tiny_random(seed=3).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_videomae_k400_dir(tmp_path_factory) -> Path:
    """A tiny ``VideoMAEForVideoClassification`` (no decoder): the shape of a fine-tuned checkpoint."""
    from pjbench.encoders.videomae import build_tiny_random

    path = tmp_path_factory.mktemp("ckpt") / "tiny-videomae-k400"
    build_tiny_random(seed=3, head="classification").save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_dinov2_dir(tmp_path_factory) -> Path:
    """A random-init tiny ``Dinov2Model`` saved with ``save_pretrained``."""
    from pjbench.encoders.dinov2 import build_tiny_random

    path = tmp_path_factory.mktemp("ckpt") / "tiny-dinov2"
    build_tiny_random(seed=3).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_suite(tmp_path_factory) -> Path:
    """A tiny synthetic IntPhys 2 release (64 px, 48 frames at 12 fps)."""
    from pjbench.synthetic import write_intphys2_suite

    out = tmp_path_factory.mktemp("suite") / "IntPhys2"
    return write_intphys2_suite(out, seed=0, scale=0.25, resolution=64, fps=12, n_frames=48, progress=False)
