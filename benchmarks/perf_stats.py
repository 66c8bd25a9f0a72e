"""Timings of the statistics (``pjbench perf --only bootstrap`` / ``--only metrics``): absolute seconds on the
workloads the test suite checks for correctness only (tests never assert on wall-clock time).

- ``bootstrap``: 10 weighted and 10 index-based cluster-bootstrap CIs of 1000 resamples over 500 pairs
  (goal <= 3 s);
- ``metrics``: every IntPhys 2 metric row with CIs on a Main-sized split (506 pairs, 253 scenes, 1000
  resamples; goal <= 5 s).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_bootstrap(out_dir: Path, quick: bool):
    from pjbench.benchmarks.bootstrap import cluster_bootstrap_ci, cluster_bootstrap_ci_weighted
    from pjbench.benchmarks.perf import Measurement

    n_boot = 100 if quick else 1000
    rng = np.random.default_rng(6)
    x = rng.random(500)
    clusters = np.arange(500) // 2

    def work() -> None:
        for seed in range(10):
            cluster_bootstrap_ci_weighted(lambda w: (w @ x) / w.sum(axis=1), clusters, n_boot=n_boot, seed=seed)
        for seed in range(10):
            cluster_bootstrap_ci(lambda idx: x[idx].mean(), clusters, n_boot=n_boot, seed=seed)

    return Measurement("bootstrap", f"20 cluster-bootstrap CIs, {n_boot} resamples of 500 pairs (seconds)",
                       round(_seconds(work), 3), 3.0, "le", unit="s", detail={"n_boot": n_boot, "n_cis": 20})


def main_sized_records(n_scenes: int = 253, effect: float = 0.3, seed: int = 0) -> list:
    """Labelled IntPhys 2 records shaped like Main: 2 pairs per scene, scene-level shifts, all breakdowns."""
    from pjbench.benchmarks.results import ItemRecord

    rng = np.random.default_rng(seed)
    conds = ["permanence", "immutability", "continuity", "solidity"]
    records = []
    for sc in range(n_scenes):
        shift = rng.normal()
        for run in (1, 2):
            for label in (1, 0):
                s = float(shift + rng.normal() + (effect if label == 0 else 0.0))
                records.append(ItemRecord(
                    name=f"{sc}_{run}_{label}", split="Main", path="", label=label, pair_id=f"{sc}|{run}",
                    cluster=str(sc), scores={"avg": s, "max": s + abs(float(rng.normal()))},
                    strata={"condition": conds[sc % 4], "Difficulty": ["Easy", "Medium", "Hard"][sc % 3],
                            "Camera": ["Fixed", "Moving"][sc % 2], "visibility": ["visible", "occluded"][run - 1]}))
    return records


def measure_metrics(out_dir: Path, quick: bool):
    from pjbench.benchmarks.perf import Measurement
    from pjbench.intphys2.metrics import compute_metrics

    n_boot = 100 if quick else 1000
    records = main_sized_records()
    rows: list = []
    took = _seconds(lambda: rows.extend(compute_metrics(records, n_boot=n_boot, seed=0)))
    return Measurement("metrics", f"every IntPhys 2 metric row, 506 pairs, {n_boot} resamples (seconds)",
                       round(took, 3), 5.0, "le", unit="s", detail={"n_boot": n_boot, "rows": len(rows)})
