"""Provenance: everything needed to know where a number came from."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import pjbench

LIBRARIES = ("torch", "transformers", "numpy", "pandas", "scikit-learn", "av", "safetensors", "jinja2", "click")


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_hash() -> str | None:
    """Commit of the pjbench source tree (``+dirty`` if modified), or None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def base_provenance(seed: int, device: str) -> dict[str, Any]:
    return {
        "pjbench_version": pjbench.__version__,
        "git_hash": git_hash(),
        "seed": seed,
        "started_at": utcnow(),
        "libraries": library_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "command": " ".join(sys.argv),
    }


def fingerprint_items(items: Iterable[Any]) -> str:
    """Content fingerprint of a task's items: names, labels, pairs, strata and video file sizes.

    Cheap (no video bytes read), yet changes when any metadata row or any video file size changes."""
    h = hashlib.sha256()
    for it in sorted(items, key=lambda x: x.name):
        size = Path(it.path).stat().st_size if Path(it.path).exists() else -1
        row = [it.name, it.split, it.label, it.pair_id, it.cluster, sorted(it.strata.items()), size]
        h.update(repr(row).encode())
    return "sha256:" + h.hexdigest()


SYNTHETIC_MANIFEST = "suite.json"
SYNTHETIC_GENERATOR_PREFIX = "pjbench.synthetic."


def data_source(data_root: str | Path | None) -> dict[str, Any]:
    """Where a run's videos came from: ``{"source": "synthetic", "generator", "seed", "manifest"}`` when the
    data root (or its parent: ``pjbench synth --benchmark causalvqa`` writes ``suite.json`` above
    ``CausalVQA/``) holds the manifest ``pjbench synth`` writes, else ``{"source": "real"}``.

    Results on the synthetic suite must never pass for results on the released benchmarks: the report
    badges them and keeps published real-data numbers apart."""
    if data_root is None:
        return {"source": "real"}
    root = Path(data_root).resolve()
    for d in (root, root.parent):
        manifest = d / SYNTHETIC_MANIFEST
        try:
            found = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None
        except (OSError, ValueError):
            found = None
        gen = found.get("generator") if isinstance(found, dict) else None
        if isinstance(gen, str) and gen.startswith(SYNTHETIC_GENERATOR_PREFIX):
            spec = found.get("spec") if isinstance(found.get("spec"), dict) else {}
            return {"source": "synthetic", "generator": gen, "seed": spec.get("seed"), "manifest": str(manifest)}
    return {"source": "real"}
