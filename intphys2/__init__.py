"""IntPhys 2 (Bordes et al. 2025): matched possible/impossible videos scored by surprise.

- :mod:`.loader`     -- the release on disk -> ``VideoItem`` s (the pairing rule lives there);
- :mod:`.metrics`    -- pairwise accuracy, AUROC, AUPRC, absolute accuracy, with cluster-bootstrap CIs
  (:mod:`.ranking`: AUROC / AUPRC / AP; :mod:`.threshold`: the absolute-accuracy threshold rule;
  :mod:`.conventions`: which convention each follows, written into every results file);
- :mod:`.submission` -- HeldOut leaderboard JSONL files;
- :mod:`.task`       -- :class:`IntPhys2Task`, the ``Task`` registered as ``intphys2``;
- :mod:`.intphys2019` -- the original IntPhys (2019) dev quadruplets (PNG frame folders), same items.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names resolved on first use (PEP 562), so importing ``pjbench.intphys2.spec`` (the task registry does, to
# list tasks) does not import the metrics and their scientific stack.
_EXPORTS = {
    "SPLITS": "loader", "load_split": "loader", "pair_problems": "loader",
    "abs_accuracy": "metrics", "ap_impossible": "metrics", "auprc": "metrics", "auroc": "metrics", "compute_metrics": "metrics",
    "pairwise_accuracy": "metrics", "threshold_from_possible": "metrics", "thresholds_from_records": "metrics",
    "answers_from_scores": "submission", "read_submission": "submission", "write_submission": "submission",
    "IntPhys2Task": "task",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"pjbench.intphys2.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pjbench.intphys2' has no attribute {name!r}")


__all__ = [
    "SPLITS",
    "IntPhys2Task",
    "abs_accuracy",
    "answers_from_scores",
    "ap_impossible",
    "auprc",
    "auroc",
    "compute_metrics",
    "load_split",
    "pair_problems",
    "pairwise_accuracy",
    "read_submission",
    "threshold_from_possible",
    "thresholds_from_records",
    "write_submission",
]
