"""The CausalVQA task: loading, ``pjbench validate`` checks, answer parsing, metrics, answer files.

Five-option questions on Ego-Exo4D clips, each asked twice (``choices1`` and a perturbed, reordered
``choices2``). Only ``debug`` has answers: probes train and evaluate by grouped cross-validation on it;
``test`` yields an answer file (:mod:`pjbench.causalvqa.submission`).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from pjbench.benchmarks.conditions import ModelProtocol, validate_videos
from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.paired import qa_metrics
from pjbench.benchmarks.results import ItemRecord, MetricValue
from pjbench.benchmarks.tasks import QAItem, ValidationReport
from pjbench.causalvqa import loader
from pjbench.causalvqa import parsers as answer_parsers
from pjbench.causalvqa.submission import write_submission
from pjbench.causalvqa.spec import CAUSALVQA

__all__ = ["CausalVQATask"]

_MAX_LINES = 20


def _capped(lines: list[str], what: str) -> list[str]:
    return lines if len(lines) <= _MAX_LINES else lines[:_MAX_LINES] + [f"... and {len(lines) - _MAX_LINES} more {what}"]


class CausalVQATask:
    """CausalVQA (Foss et al. 2025). Splits ``debug`` (labelled, default) and ``test`` (unlabelled)."""

    spec = CAUSALVQA
    name = CAUSALVQA.name
    description = CAUSALVQA.description
    readout = CAUSALVQA.default_readout
    splits = CAUSALVQA.splits
    default_split = CAUSALVQA.default_split
    dev_split = CAUSALVQA.dev_split
    n_choices = loader.N_OPTIONS
    headline = CAUSALVQA.headline_metric
    macro_over = CAUSALVQA.macro_column
    breakdowns = CAUSALVQA.breakdowns
    pair_chance = CAUSALVQA.chance
    single_chance = 0.2

    # ----------------------------------------------------------------------------------------------
    def load(self, data_root: str | os.PathLike, split: str, limit: int | None = None) -> list[QAItem]:
        """Items of ``split`` (see :func:`pjbench.causalvqa.loader.load_split`)."""
        return loader.load_split(data_root, split, limit=limit)

    def coverage(self, items: Sequence[QAItem]) -> dict[str, Any]:
        return loader.coverage(items)

    def has_split(self, data_root: str | os.PathLike, split: str) -> bool:
        try:
            loader.metadata_path(data_root, split)
        except PjbenchError:
            return False
        return True

    def dev_splits_for(self, split: str) -> tuple[str, ...]:
        """``test`` has no answers: a probe for it is trained on ``debug``."""
        return ("debug",) if loader.canonical_split(split) == "test" else ()

    # ----------------------------------------------------------------------------------------------
    parsers = tuple(answer_parsers.PARSERS)
    default_parser = answer_parsers.DEFAULT_PARSER

    def parse_answer(self, answer: Any, item: QAItem, parser: str = answer_parsers.DEFAULT_PARSER) -> int | None:
        """Candidate index of an answer under ``parser`` (:mod:`pjbench.causalvqa.parsers`): ``official``
        (default: exactly ``mcq_acc``, the last standalone letter A-E; option numbers are wrong),
        ``lenient`` (option number, lone letter, option text, then the official rule) or ``strict`` (a lone
        letter or ``Your Answer Letter: X END``). ``None`` = unparseable (counted wrong)."""
        return answer_parsers.parse(answer, item, parser)

    def conventions(self, parser: str | None = None) -> dict[str, str]:
        """The rules behind this task's numbers, for the results' ``conventions`` block; ``parser`` is the
        answer parser of an answer-file run (``None``: a probe run, which picks a candidate index itself)."""
        return {
            "source": "official: CausalVQA tasks/utils.py (mcq_acc, causalvqa_aggregate_results)",
            "pairing": "pair = one qid asked twice (choices1, choices2); it counts iff both askings are right; "
                       "complete pairs only",
            "headline": "paired_accuracy[all] = macro mean over the type x difficulty strata present",
            "gold": "letter of the option whose number equals correct1 / correct2 (prep_mllm_eval.py)",
            "missing_answers": "wrong",
            "parser": parser or "none (probe: the candidate with the highest score)",
            **({"parser_rule": answer_parsers.PARSER_RULES[parser]} if parser else {}),
        }

    def metrics(self, records: Sequence[ItemRecord], *, n_boot: int = 1000, seed: int = 0,
                threshold: Any = None) -> list[MetricValue]:
        """Rows of :func:`pjbench.benchmarks.paired.qa_metrics`: ``paired_accuracy`` / ``single_accuracy``
        macro over the type x difficulty strata present (``[all]``, the official headline), pooled
        (``*_pooled``), per ``stratum=<type>_<difficulty>``, per ``type=`` and per ``difficulty=``
        (pooled within them). Complete qids only. Chance 0.04 (pairs), 0.2 (items)."""
        return qa_metrics(records, macro_over=self.macro_over, breakdowns=self.breakdowns,
                          pair_name="paired_accuracy", pair_chance=self.pair_chance,
                          single_chance=self.single_chance, n_boot=n_boot, seed=seed)

    def write_submission(self, path: Path, records: Sequence[ItemRecord], items: Sequence[QAItem]) -> Path:
        """Test-split answer file (format and caveat in :mod:`pjbench.causalvqa.submission`)."""
        return write_submission(path, records, items)

    # ----------------------------------------------------------------------------------------------
    def validate(self, data_root: str | os.PathLike, check_videos: bool = True,
                 protocol: ModelProtocol | None = None) -> ValidationReport:
        """Check a download.

        Errors: no split at all; a CSV that cannot be read or lacks columns; malformed rows (options
        not ``"N. text"`` x 5, an answer that is not an option number, one answer blank, unknown type
        or difficulty, duplicate qid, a video name with a path); with ``check_videos``, present videos that
        cannot be decoded.
        Warnings: a split not found; missing videos (counted); ``debug`` without answers; ``test`` with
        answers.

        ``counts[split]``: ``qids``, ``items``, ``labelled_items``, ``videos``, qids per ``type``,
        ``difficulty`` and ``stratum``, ``videos_shared`` (videos asked about by more than one qid),
        ``coverage``.
        """
        report = ValidationReport(task=self.name, data_root=str(data_root))
        try:
            root = loader.resolve_root(data_root)
        except PjbenchError as exc:
            report.errors.append(str(exc))
            return report
        report.data_root = str(root)
        present = []
        for split in self.splits:
            try:
                csv_path = loader.metadata_path(root, split)
            except DataError as exc:
                report.counts[split] = {"present": False}
                report.warnings.append(f"{split}: not found ({exc})")
                continue
            present.append(split)
            items, problems = loader.read_metadata(csv_path, split)
            report.errors.extend(_capped([str(p) for p in problems], f"problems in {csv_path.name}"))
            first = items[::2]  # one item per qid (``<qid>/1``)
            cov = loader.coverage(items)
            shared = sum(n > 1 for n in Counter(it.path for it in first).values())
            counts: dict[str, Any] = {
                "present": True, "metadata": str(csv_path), "qids": len(first), "items": len(items),
                "labelled_items": sum(it.label is not None for it in items), "videos": cov["videos"],
                "videos_shared": shared,
                "type": dict(sorted(Counter(it.strata["type"] for it in first).items())),
                "difficulty": dict(sorted(Counter(it.strata["difficulty"] for it in first).items())),
                "stratum": dict(sorted(Counter(it.strata["stratum"] for it in first).items())),
                "coverage": cov,
            }
            report.counts[split] = counts
            if split == "debug" and items and not counts["labelled_items"]:
                report.warnings.append("debug: no answers in correct1/correct2; nothing can be scored")
            if split == "test" and counts["labelled_items"]:
                report.warnings.append(f"test: {counts['labelled_items']} items have answers (the release withholds "
                                       f"them); is this really the test split?")
            if cov["missing_videos"]:
                vdir = loader.videos_dir(csv_path, split)
                report.warnings.append(f"{split}: {cov['missing_videos']} of {cov['videos']} videos missing in "
                                       f"{vdir}; probe metrics use complete qids only")
            if check_videos:
                self._check_videos(split, items, report, protocol)
        if not present:
            report.errors.append(f"no CausalVQA split under {root}: expected <split>/<split>_metadata.csv or "
                                 f"data/<split>/<split>_metadata.csv for {', '.join(self.splits)}")
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
