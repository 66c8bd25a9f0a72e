"""The task: ``<root>/<split>/pairs.csv`` with columns ``pair,plausible,implausible,kind`` naming clips
in ``<root>/<split>/clips/``. Surprise readout: the implausible clip should be the more surprising."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from pjbench.benchmarks.bootstrap import cluster_bootstrap_ci
from pjbench.benchmarks.errors import DataError
from pjbench.benchmarks.results import MetricValue
from pjbench.benchmarks.tasks import ValidationReport, VideoItem

from pjbench_twoalt_example.spec import SPEC


class TwoAltTask:
    spec = SPEC
    name = SPEC.name
    description = SPEC.description
    readout = SPEC.default_readout
    splits = SPEC.splits
    default_split = SPEC.default_split
    dev_split = SPEC.dev_split
    selection_criterion = "pairwise_accuracy@avg"

    def load(self, data_root, split, limit=None):
        path = Path(data_root) / split / "pairs.csv"
        if not path.is_file():
            raise DataError("no pairs.csv", path=path.parent)
        items = []
        with open(path, newline="") as fh:
            for row, rec in enumerate(csv.DictReader(fh), start=1):
                if limit is not None and row > limit:
                    break
                for key, label in (("plausible", 1), ("implausible", 0)):
                    clip = path.parent / "clips" / rec[key]
                    items.append(VideoItem(name=f"{rec['pair']}-{key}", path=clip, split=split, label=label,
                                           pair_id=rec["pair"], cluster=rec["pair"], strata={"kind": rec["kind"]},
                                           row=row))
        return items

    def validate(self, data_root, check_videos=True, **_):
        report = ValidationReport(task=self.name, data_root=str(data_root))
        for split in self.splits:
            try:
                items = self.load(data_root, split)
            except DataError as exc:
                report.errors.append(str(exc))
                continue
            report.counts[split] = {"videos": len(items)}
            report.errors += [f"{it.path}: missing" for it in items if check_videos and not it.path.is_file()]
        return report

    def has_split(self, data_root, split):
        return (Path(data_root) / split / "pairs.csv").is_file()

    def dev_splits_for(self, split):
        return tuple(s for s in ("dev",) if s != split)

    def _pairs(self, records, agg):
        by_pair = {}
        for r in records:
            by_pair.setdefault(r.pair_id, {})[r.label] = r
        return [(p[1], p[0]) for p in by_pair.values() if 0 in p and 1 in p]

    def _accuracy(self, pairs, agg):
        # right when the implausible clip is strictly more surprising (a tie is wrong)
        return np.array([float(imp.scores[agg] > pos.scores[agg]) for pos, imp in pairs])

    def metrics(self, records, *, n_boot=1000, seed=0, threshold=None):
        rows = []
        for subset, recs in [("all", list(records))] + [
                (f"kind={k}", [r for r in records if r.strata.get("kind") == k])
                for k in sorted({r.strata.get("kind") for r in records})]:
            pairs = self._pairs(recs, "avg")
            for agg in ("avg", "max"):
                acc = self._accuracy(pairs, agg)
                lo, hi = cluster_bootstrap_ci(lambda idx: float(acc[idx].mean()), range(len(acc)), n_boot=n_boot,
                                              seed=seed) if len(acc) else (None, None)
                rows.append(MetricValue("pairwise_accuracy", float(acc.mean()) if len(acc) else None, lo, hi,
                                        n=len(acc), n_clusters=len(acc), chance=0.5, subset=subset, aggregation=agg))
        return rows

    def selection_score(self, records):
        pairs = self._pairs([r for r in records if r.label is not None], "avg")
        return float(self._accuracy(pairs, "avg").mean()) if pairs else None

    def thresholds(self, dev_records):
        return {}

    def write_submission(self, path, records, thresholds):
        return None
