"""The MVPBench task: loading, ``pjbench validate`` checks, answer parsing, metrics, submissions.

Multiple choice (2 candidates) on minimal video pairs; scored by the attentive-probe track (grouped
cross-validation: no train split exists) or from a model's answer file (:mod:`pjbench.benchmarks.scoring`).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from pjbench.benchmarks.conditions import ModelProtocol, validate_videos
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.paired import qa_metrics
from pjbench.benchmarks.results import ItemRecord, MetricValue
from pjbench.benchmarks.tasks import QAItem, ValidationReport
from pjbench.mvpbench import loader
from pjbench.mvpbench import parsers as answer_parsers
from pjbench.mvpbench.submission import write_submission
from pjbench.mvpbench.spec import MVPBENCH

__all__ = ["MVPBenchTask"]

_MAX_LINES = 20


def _capped(lines: list[str], what: str) -> list[str]:
    return lines if len(lines) <= _MAX_LINES else lines[:_MAX_LINES] + [f"... and {len(lines) - _MAX_LINES} more {what}"]


class MVPBenchTask:
    """MVPBench (Krojer et al. 2025). Splits ``full`` and ``mini`` (default: ``mini``, the leaderboard's
    usual one); the 4 configs are strata of every split. No dev split exists: probes choose their
    hyper-parameters by grouped cross-validation inside the split.

    ``videos_root``: folder the ``video_path`` column points into (default ``<data root>/videos``).
    ``configs``: restrict to some configs. ``reader``: ``pandas`` or ``datasets`` for the parquet files.
    After :meth:`load`, ``last_load`` holds the :class:`~pjbench.mvpbench.loader.MVPSplit` (dropped
    invalid pairs and why).
    """

    spec = MVPBENCH
    name = MVPBENCH.name
    description = MVPBENCH.description
    readout = MVPBENCH.default_readout
    splits = MVPBENCH.splits
    default_split = MVPBENCH.default_split
    dev_split = MVPBENCH.dev_split
    n_choices = 2
    headline = MVPBENCH.headline_metric
    macro_over = MVPBENCH.macro_column
    breakdowns = tuple(c for c in MVPBENCH.breakdowns if c not in MVPBENCH.macro_over)
    pair_chance = MVPBENCH.chance
    single_chance = 0.5

    def __init__(self, videos_root: str | os.PathLike | None = None, configs: Sequence[str] | None = None,
                 reader: str = "pandas"):
        self.videos_root = videos_root
        self.configs = list(configs) if configs else None
        self.reader = reader
        self.last_load: loader.MVPSplit | None = None

    # ----------------------------------------------------------------------------------------------
    def load(self, data_root: str | os.PathLike, split: str, limit: int | None = None) -> list[QAItem]:
        """Items of valid pairs of ``split`` (see :func:`pjbench.mvpbench.loader.load_split`)."""
        self.last_load = loader.load_split(data_root, split, configs=self.configs, videos_root=self.videos_root,
                                           limit=limit, reader=self.reader)
        return self.last_load.items

    def coverage(self, items: Sequence[QAItem]) -> dict[str, Any]:
        """Items / pairs with their videos on disk, overall, per source and per config."""
        return loader.coverage(items)

    def has_split(self, data_root: str | os.PathLike, split: str) -> bool:
        try:
            root = loader.resolve_root(data_root)
            split = loader.canonical_split(split)
        except PjbenchError:
            return False
        return any(loader.parquet_path(root, c, split).is_file() for c in loader.CONFIGS)

    def dev_splits_for(self, split: str) -> tuple[str, ...]:
        """None: ``mini`` is drawn from ``full``, so neither can tune the other."""
        return ()

    # ----------------------------------------------------------------------------------------------
    parsers = tuple(answer_parsers.PARSERS)
    default_parser = answer_parsers.DEFAULT_PARSER

    def parse_answer(self, answer: Any, item: QAItem, parser: str = answer_parsers.DEFAULT_PARSER) -> int | None:
        """Candidate index of an answer under ``parser`` (:mod:`pjbench.mvpbench.parsers`): ``official``
        (default: exactly the official scorer's regex; a candidate text is not a letter), ``lenient`` (the
        candidate text first, then the official rule) or ``strict`` (a lone letter or ``Answer: X``).
        ``None`` (counted wrong) when nothing matches."""
        return answer_parsers.parse(answer, item, parser)

    def conventions(self, parser: str | None = None) -> dict[str, str]:
        """The rules behind this task's numbers, for the results' ``conventions`` block; ``parser`` is the
        answer parser of an answer-file run (``None``: a probe run, which picks a candidate index itself)."""
        return {
            "source": "official: minimal_video_pairs tasks/mvp/utils.py (mvp_process_results, compute_metrics)",
            "pairing": "pair key = video_id without its last _<idx>; a pair counts iff both items are right; "
                       "complete pairs only",
            "headline": "pair_accuracy[all] = macro mean over the configs present (pooled rows: *_pooled)",
            "missing_answers": "wrong",
            "parser": parser or "none (probe: the candidate with the highest score)",
            **({"parser_rule": answer_parsers.PARSER_RULES[parser]} if parser else {}),
        }

    def metrics(self, records: Sequence[ItemRecord], *, n_boot: int = 1000, seed: int = 0,
                threshold: Any = None) -> list[MetricValue]:
        """Rows of :func:`pjbench.benchmarks.paired.qa_metrics`: ``pair_accuracy`` / ``single_accuracy``
        macro over the configs present (``[all]``, the official headline), pooled (``*_pooled``), per
        ``config=`` and per ``source=``. Complete pairs only. Chance 0.25 (pairs), 0.5 (items)."""
        return qa_metrics(records, macro_over=self.macro_over, breakdowns=self.breakdowns,
                          pair_chance=self.pair_chance, single_chance=self.single_chance, n_boot=n_boot, seed=seed)

    def write_submission(self, path: Path, records: Sequence[ItemRecord], items: Sequence[QAItem]) -> Path:
        """Leaderboard JSONL (see :mod:`pjbench.mvpbench.submission`); validated before writing."""
        return write_submission(path, records, items)

    # ----------------------------------------------------------------------------------------------
    def validate(self, data_root: str | os.PathLike, check_videos: bool = True,
                 protocol: ModelProtocol | None = None) -> ValidationReport:
        """Check a download.

        Errors: no parquet file at all; unreadable files or wrong columns; malformed rows (candidates
        that are not a list of 2 strings, answer not a candidate, ``video_path`` escaping the videos
        root, duplicate or unpairable ``video_id``); invalid pairs; with ``check_videos``, present videos
        that cannot be decoded.
        Warnings: a config/split file not downloaded; missing videos (normal: videos come from 9
        sources), counted per source and config; split sizes differing from the official release.

        ``counts[split]``: ``items``, ``pairs``, ``invalid_pairs``, per-config and per-source item
        counts, ``pairs_by_config`` (valid pairs), and ``coverage`` (:func:`pjbench.mvpbench.loader.coverage`).
        """
        report = ValidationReport(task=self.name, data_root=str(data_root))
        try:
            root = loader.resolve_root(data_root)
        except PjbenchError as exc:
            report.errors.append(str(exc))
            return report
        report.data_root = str(root)
        vroot = Path(self.videos_root).expanduser().absolute() if self.videos_root else (root / loader.VIDEOS_DIR).absolute()
        if not vroot.is_dir():
            report.warnings.append(f"videos root {vroot} not found: no video can be scored by a probe "
                                   f"(answer files still can); pass videos_root to point elsewhere")
        configs = self.configs or list(loader.CONFIGS)
        any_file = False
        for split in self.splits:
            items: list[QAItem] = []
            invalid: set[str | None] = set()
            counts: dict[str, Any] = {}
            report.counts[split] = counts
            for config in configs:
                path = loader.parquet_path(root, config, split)
                if not path.is_file():
                    report.warnings.append(f"{split}/{config}: not found ({path})")
                    continue
                any_file = True
                its, problems = loader.read_config(path, config, split, vroot, reader=self.reader)
                report.errors.extend(_capped([str(p) for p in problems], f"problems in {path.name} of {config}"))
                bad = loader.pair_problems(its)
                report.errors.extend(_capped([f"{split}/{config}: invalid pair {pid}: {why}" for pid, why in
                                              sorted(bad.items())], "invalid pairs"))
                counts.setdefault("invalid_pairs", 0)
                counts["invalid_pairs"] += len(bad)
                invalid.update(bad)
                items.extend(its)
            if not items:
                counts["present"] = False
                continue
            counts.update({
                "present": True, "items": len(items), "pairs": len({it.pair_id for it in items}),
                "config": dict(sorted(Counter(it.strata["config"] for it in items).items())),
                "pairs_by_config": dict(sorted(Counter(
                    str(pid).split("/")[0] for pid in {it.pair_id for it in items} - invalid).items())),
                "source": dict(sorted(Counter(it.strata["source"] for it in items).items())),
            })
            cov = loader.coverage(items)
            counts["coverage"] = cov
            missing = cov["items"] - cov["with_video"]
            if missing:
                per_source = ", ".join(f"{s} {v['items'] - v['with_video']}/{v['items']}"
                                       for s, v in cov["by_source"].items() if v["with_video"] < v["items"])
                per_config = ", ".join(f"{c} {v['complete_pairs']}/{v['pairs']}" for c, v in cov["by_config"].items())
                report.warnings.append(
                    f"{split}: {missing} of {cov['items']} videos missing under {vroot} (by source: {per_source}); "
                    f"complete pairs by config: {per_config}. Probe metrics use complete pairs only."
                )
            # Suites written by `pjbench synth` carry a suite.json and have their own sizes.
            official = set(configs) == set(loader.CONFIGS) and not (root / "suite.json").is_file()
            if official and len(items) != loader.OFFICIAL_ITEMS[split]:
                report.warnings.append(f"{split}: {len(items)} items, the official release has "
                                       f"{loader.OFFICIAL_ITEMS[split]:,} (partial download?)")
            if check_videos:
                self._check_videos(split, items, report, protocol)
        if not any_file:
            report.errors.append(f"no MVPBench parquet file under {root}: expected "
                                 f"<config>/<full|mini>-00000-of-00001.parquet for {', '.join(configs)}")
        return report

    @staticmethod
    def _check_videos(split: str, items: list[QAItem], report: ValidationReport,
                      protocol: ModelProtocol | None = None) -> None:
        from pjbench.benchmarks.video import unreadable_videos

        if protocol is not None:  # unreadable, plus what the probe's preprocessing does (crop, VFR): warnings
            validate_videos(report, split, (it.path for it in items), protocol, _capped)
            return

        bad = unreadable_videos((it.path for it in items), split)
        report.counts[split]["unreadable_videos"] = len(bad)
        report.errors.extend(_capped(bad, "unreadable videos"))
