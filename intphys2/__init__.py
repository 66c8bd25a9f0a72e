"""IntPhys 2 (Bordes et al. 2025): matched possible/impossible videos scored by surprise.

- :mod:`.loader`     -- the release on disk -> ``VideoItem`` s (the pairing rule lives there);
- :mod:`.metrics`    -- pairwise accuracy, AUROC, AUPRC, absolute accuracy, with cluster-bootstrap CIs;
- :mod:`.submission` -- HeldOut leaderboard JSONL files;
- :mod:`.task`       -- :class:`IntPhys2Task`, the ``Task`` registered as ``intphys2``;
- :mod:`.intphys2019` -- the original IntPhys (2019) dev quadruplets (PNG frame folders), same items.
"""

from pjbench.intphys2.loader import SPLITS, load_split, pair_problems
from pjbench.intphys2.metrics import (
    abs_accuracy,
    auprc,
    auroc,
    compute_metrics,
    pairwise_accuracy,
    threshold_from_possible,
    thresholds_from_records,
)
from pjbench.intphys2.submission import answers_from_scores, read_submission, write_submission
from pjbench.intphys2.task import IntPhys2Task

__all__ = [
    "SPLITS",
    "IntPhys2Task",
    "abs_accuracy",
    "answers_from_scores",
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
