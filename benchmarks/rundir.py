"""The run directory every readout writes: its configuration file, the overwrite modes, stale-file cleanup,
and the device / worker defaults the runners share (one definition, used by the surprise, probe and
answer-file readouts).

- ``run_config.json`` records what makes a run: a second run with the same configuration resumes
  (``only-missing``), a different one is refused unless ``--overwrite always`` (which clears every result
  file of the old run first), and ``never`` refuses to touch an existing run.
- The run's lock (:mod:`pjbench.benchmarks.runlock`) is taken by the readouts' entry points.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import ITEMS_FILE, RESULTS_FILE, atomic_write_text, dumps

OVERWRITE_MODES = ("only-missing", "always", "never")
RUN_CONFIG_FILE = "run_config.json"

__all__ = ["OVERWRITE_MODES", "RUN_CONFIG_FILE", "check_device", "clear_run", "default_workers", "prepare_out"]


def check_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PjbenchError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__})")
    if device not in ("cpu",) and not device.startswith(("cuda", "mps")):
        raise PjbenchError(f"--device {device!r}: use cpu, cuda or cuda:N")
    return device


def default_workers() -> int:
    return min(4, max(0, (os.cpu_count() or 1) - 1))


def prepare_out(out: Path, run_config: dict[str, Any], overwrite: str, keep_shards: bool = False) -> None:
    cfg_path = out / RUN_CONFIG_FILE
    if cfg_path.exists():
        previous = json.loads(cfg_path.read_text(encoding="utf-8"))
        if overwrite == "never":
            raise PjbenchError(f"{out} already holds a run; --overwrite never refuses to touch it")
        if overwrite == "always" or previous == json.loads(dumps(run_config)):
            if overwrite == "always":  # nothing of the old run may survive into the new one
                clear_run(out, keep_shards)
        else:
            diff = sorted(k for k in run_config if json.loads(dumps(run_config)).get(k) != previous.get(k))
            raise PjbenchError(
                f"{out} holds a run with a different configuration ({', '.join(diff)} differ); "
                "pass --overwrite always to replace it or choose another --out"
            )
    elif overwrite == "always" and out.is_dir():  # shards of an earlier run may exist before any merge
        clear_run(out, keep_shards)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg_path, dumps(run_config) + "\n")


def clear_run(out: Path, keep_shards: bool) -> None:
    """Remove every result file of an earlier run in ``out`` (and its shards unless ``keep_shards``)."""
    import shutil

    from pjbench.benchmarks.distributed import SHARDS_DIR

    shutil.rmtree(out / ".partial", ignore_errors=True)
    if not keep_shards:
        shutil.rmtree(out / SHARDS_DIR, ignore_errors=True)
    for stale in (RESULTS_FILE, ITEMS_FILE, "dev_items.jsonl", "submission.jsonl", "submission.partial.jsonl"):
        (out / stale).unlink(missing_ok=True)
