"""The IntPhys 2 task: loading, ``pjbench validate`` checks, and metrics.

Zero-shot surprise: a video model scores each video; impossible videos should be more surprising than
their matched possible ones. The task knows no model; the runner turns items into scores.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from pjbench.benchmarks.conditions import ModelProtocol, validate_videos
from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.results import ItemRecord, MetricValue
from pjbench.benchmarks.tasks import ValidationReport, VideoItem
from pjbench.intphys2 import loader
from pjbench.intphys2.conventions import conventions
from pjbench.intphys2.metrics import compute_metrics, pairwise_accuracy, thresholds_from_records
from pjbench.intphys2.submission import answers_from_scores, write_submission
from pjbench.intphys2.spec import INTPHYS2

__all__ = ["IntPhys2Task"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# Long lists (1,012 missing videos after a failed download) are cut to this many lines per category.
_MAX_LINES = 20


def _capped(lines: list[str], what: str) -> list[str]:
    if len(lines) <= _MAX_LINES:
        return lines
    return lines[:_MAX_LINES] + [f"... and {len(lines) - _MAX_LINES} more {what}"]


# Videos per split in the official release (formats.md): Debug 5 scenes x 3 renders x 4, Main 253 scenes, HeldOut 86.
OFFICIAL_VIDEOS = {"Debug": 60, "Main": 1012, "HeldOut": 344}


def complete_pairs_only(records: Sequence[ItemRecord]) -> list[ItemRecord]:
    """Labelled records whose pair id has both a possible and an impossible scored video."""
    labels: dict[str | None, set[int]] = {}
    for r in records:
        if r.label is not None:
            labels.setdefault(r.pair_id, set()).add(r.label)
    return [r for r in records if r.label is not None and labels.get(r.pair_id) == {0, 1}]


class IntPhys2Task:
    """IntPhys 2 (Bordes et al. 2025): matched possible/impossible videos, surprise readout.

    Splits: ``Debug`` (dev: 60 labelled videos, used to choose the context length and the absolute
    threshold), ``Main`` (reported: 506 pairs), ``HeldOut`` (unlabelled: leaderboard submission).
    """

    spec = INTPHYS2
    name = INTPHYS2.name
    description = INTPHYS2.description
    readout = INTPHYS2.default_readout
    splits = INTPHYS2.splits
    default_split = INTPHYS2.default_split
    dev_split = INTPHYS2.dev_split
    breakdowns = INTPHYS2.breakdowns
    selection_criterion = "pairwise_accuracy@avg"
    threshold_rule = "official: the possible videos' scores sorted, at index ceil(0.9 n) (not np.quantile)"

    # ----------------------------------------------------------------------------------------------
    def load(self, data_root: str | os.PathLike, split: str, limit: int | None = None) -> list[VideoItem]:
        """Items of ``split`` (see :func:`pjbench.intphys2.loader.load_split`)."""
        return loader.load_split(data_root, split, limit=limit)

    # ----------------------------------------------------------------------------------------------
    def metrics(
        self,
        records: Sequence[ItemRecord],
        *,
        n_boot: int = 1000,
        seed: int = 0,
        threshold: float | Mapping[str, float] | None = None,
    ) -> list[MetricValue]:
        """All metric rows (see :func:`pjbench.intphys2.metrics.compute_metrics`).

        ``threshold``: absolute-accuracy threshold chosen on the dev split: ``{aggregation: value}``
        (:func:`pjbench.intphys2.metrics.thresholds_from_records` of the dev records), or a float for
        ``max`` only; ``None`` fits it on ``records`` themselves (optimistic).

        Only videos whose pair is complete (a possible and an impossible video both scored) count, in
        every metric: a skipped video takes its partner out too, so all rows cover the same videos.
        """
        return compute_metrics(complete_pairs_only(records), n_boot=n_boot, seed=seed, threshold=threshold,
                               breakdowns=self.breakdowns)

    def conventions(self, *, zero_pad: bool = False, debug_pairing: str = "all") -> dict[str, str]:
        """The metric conventions of :meth:`metrics` for the results' ``conventions`` block
        (:func:`pjbench.intphys2.conventions.conventions`), under the run's padding and Debug pairing."""
        return conventions(zero_pad=zero_pad, debug_pairing=debug_pairing)

    # ----------------------------------------------------------------------------------------------
    def invalid_items(self, items: Sequence[VideoItem]) -> dict[str, str]:
        """``{name: reason}`` of items whose pair breaks the pairing rules: eval records them as skips
        (:func:`pjbench.intphys2.loader.invalid_pair_items`)."""
        return loader.invalid_pair_items(items)

    def left_out(self, records: Sequence[ItemRecord]) -> dict[str, str]:
        """``{name: reason}`` of scored labelled records that :meth:`metrics` leaves out: their pair has no
        scored partner of the other label (the partner was skipped)."""
        kept = {r.name for r in complete_pairs_only(records)}
        return {r.name: f"pair {r.pair_id}: its {'impossible' if r.label == 1 else 'possible'} partner was not "
                        "scored (skipped), so the pair is left out of every metric"
                for r in records if r.label is not None and r.name not in kept}

    # ----------------------------------------------------------------------------------------------
    def has_split(self, data_root: str | os.PathLike, split: str) -> bool:
        try:
            d = loader.split_dir(data_root, split)
        except PjbenchError:
            return False
        return (d / "metadata.csv").is_file() if split != "HeldOut" else (d / "Videos").is_dir()

    def dev_splits_for(self, split: str) -> tuple[str, ...]:
        """Debug for Main; for HeldOut, Main (506 pairs) is the better place to fit a threshold."""
        candidates = ("Main", "Debug") if split == "HeldOut" else ("Debug",)
        return tuple(s for s in candidates if s != split)

    def selection_score(self, records: Sequence[ItemRecord]) -> float | None:
        """Pairwise accuracy with the ``avg`` aggregation (``None`` without a complete pair)."""
        recs = [r for r in records if r.label is not None]
        if not recs:
            return None
        value = pairwise_accuracy(
            np.array([r.scores["avg"] for r in recs]), np.array([r.label for r in recs]), [r.pair_id for r in recs]
        )
        return None if value is None else float(value)

    def thresholds(self, dev_records: Sequence[ItemRecord]) -> dict[str, float]:
        """``{aggregation: official threshold}`` on the dev split: the possible videos' scores sorted, at index
        ``ceil(0.9 n)`` (:func:`pjbench.intphys2.threshold.threshold_from_possible`)."""
        return thresholds_from_records(dev_records)

    def write_submission(self, path: Path, records: Sequence[ItemRecord], thresholds: Mapping[str, float]) -> Path:
        """HeldOut JSONL: possible (1) iff the video's max surprise is at or below the dev threshold."""
        if "max" not in (thresholds or {}):
            raise PjbenchError(
                "a HeldOut submission needs a threshold fitted on a labelled split (Main or Debug) under --data-root"
            )
        answers = answers_from_scores(np.array([r.scores["max"] for r in records]), thresholds["max"])
        write_submission(path, [r.name for r in records], answers)
        return Path(path)

    def write_answers_submission(self, path: Path, names: Sequence[str], answers: Sequence[int]) -> Path:
        """HeldOut JSONL from answers given directly (1 possible, 0 impossible; a VLM's), no threshold."""
        write_submission(path, list(names), [int(a) for a in answers])
        return Path(path)

    # ----------------------------------------------------------------------------------------------
    def validate(self, data_root: str | os.PathLike, check_videos: bool = True,
                 protocol: ModelProtocol | None = None) -> ValidationReport:
        """Check a download before spending GPU hours on it.

        Errors (the data would give wrong or no numbers): no split at all; a labelled split without a
        readable ``metadata.csv`` of the right columns; malformed rows (bad ``type``, duplicate or
        empty names, paths leaving the split folder); pairs without both classes (or not 1+1 on Main);
        videos listed in the metadata but missing on disk; with ``check_videos``, videos that cannot be
        decoded to the end (truncated downloads).
        Warnings (worth knowing, harmless for scoring): a split not downloaded; videos on disk that the
        metadata does not list; names that are not 64-hex (the leaderboard's ``row_id``); ``file_name``
        not ``Videos/<name>.mp4``; an empty HeldOut.

        ``counts[split]`` holds ``present`` and, for present splits, ``videos``, and for labelled ones
        ``possible``, ``impossible``, ``pairs``, ``scenes`` and per-``condition`` / ``Difficulty`` /
        ``Camera`` video counts, plus ``missing_videos``, ``extra_videos`` and (if checked)
        ``unreadable_videos``.

        With ``protocol`` (:func:`pjbench.benchmarks.conditions.model_protocol`) and ``check_videos``, also what
        eval under it needs: a video with fewer sampled frames than one window is an error (eval skips it and
        its pair); non-square frames (how much the centre crop cuts away) and a variable frame rate are
        warnings; ``counts[split]`` adds ``too_short_videos``, ``non_square_videos`` and ``vfr_videos``.
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
            d = root / split
            if not d.is_dir():
                report.counts[split] = {"present": False}
                report.warnings.append(f"{split}: not found ({d}); this split cannot be used")
                continue
            present.append(split)
            self._validate_split(split, d, report, check_videos, protocol)
        if not present:
            report.errors.append(
                f"no IntPhys 2 split under {root}: expected {', '.join(self.splits)} folders there "
                f"or in {root / loader.ROOT_DIR}"
            )
        # The official release has fixed sizes; a smaller split is usually an interrupted download.
        # (Suites written by `pjbench synth` carry a suite.json and have their own sizes.)
        if not (root / "suite.json").is_file():
            for split in present:
                n = report.counts[split].get("videos")
                if isinstance(n, int) and n != OFFICIAL_VIDEOS[split]:
                    report.warnings.append(
                        f"{split}: {n} videos, the official release has {OFFICIAL_VIDEOS[split]:,} (partial download?)"
                    )
        return report

    def _validate_split(self, split: str, d: Path, report: ValidationReport, check_videos: bool,
                        protocol: ModelProtocol | None = None) -> None:
        counts: dict[str, object] = {"present": True}
        report.counts[split] = counts
        csv_path = d / loader.METADATA_FILE
        labelled = csv_path.is_file()
        if labelled:
            items, problems = loader.read_metadata(csv_path, split)
            report.errors.extend(_capped([str(p) for p in problems], "metadata problems"))
        elif split in loader.LABELLED_SPLITS:
            report.errors.append(f"{split}: no {loader.METADATA_FILE} in {d} (labels and pairs come from it)")
            items = []
        else:
            try:
                items = loader.list_split_videos(d, split)
            except DataError as exc:
                report.errors.append(str(exc))
                return
            if not items:
                report.warnings.append(f"{split}: no videos in {d / loader.VIDEOS_DIR}")

        counts["videos"] = len(items)
        if labelled:
            counts["possible"] = sum(it.label == 1 for it in items)
            counts["impossible"] = sum(it.label == 0 for it in items)
            counts["pairs"] = len({it.pair_id for it in items})
            counts["scenes"] = len({it.cluster for it in items})
            for column in ("condition", "Difficulty", "Camera"):
                counts[column] = dict(sorted(Counter(it.strata[column] for it in items).items()))
            report.errors.extend(_capped(loader.pair_problems(items), "pair problems"))
            self._name_warnings(split, d, items, report)

        # Files: listed but missing (error), present but unlisted (warning).
        missing = [it for it in items if not it.path.is_file()]
        counts["missing_videos"] = len(missing)
        report.errors.extend(
            _capped([f"{split}: video missing on disk: {it.path} (row {it.row})" for it in missing], "missing videos")
        )
        videos_dir = d / loader.VIDEOS_DIR
        if labelled and videos_dir.is_dir():
            listed = {os.path.normpath(it.path) for it in items}
            extra = sorted(p for p in videos_dir.absolute().glob("*.mp4") if os.path.normpath(p) not in listed)
            counts["extra_videos"] = len(extra)
            if extra:
                report.warnings.append(
                    f"{split}: {len(extra)} video(s) in {videos_dir} not listed in {loader.METADATA_FILE} "
                    f"(ignored), e.g. {extra[0].name}"
                )

        if check_videos and protocol is not None:
            validate_videos(report, split, (it.path for it in items if it.path.is_file()), protocol, _capped)
        elif check_videos:
            from pjbench.benchmarks.video import probe_video

            present_items = [it for it in items if it.path.is_file()]

            def probe(it: VideoItem) -> str | None:
                try:
                    probe_video(it.path)
                except DataError as exc:  # VideoError names the file
                    return f"{split}: {exc}"
                return None

            # Decoding is mostly native code; a few threads overlap file I/O and libav work.
            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
                bad = [msg for msg in pool.map(probe, present_items) if msg]
            counts["unreadable_videos"] = len(bad)
            report.errors.extend(_capped(bad, "unreadable videos"))

    @staticmethod
    def _name_warnings(split: str, d: Path, items: list[VideoItem], report: ValidationReport) -> None:
        not_hex = [it for it in items if not _HEX64.fullmatch(it.name)]
        if not_hex:
            report.warnings.append(
                f"{split}: {len(not_hex)} name(s) are not 64-character hex (leaderboard row ids are), "
                f"e.g. {not_hex[0].name!r} (row {not_hex[0].row})"
            )
        expected_dir = (d.absolute() / loader.VIDEOS_DIR)
        odd = [it for it in items if it.path != expected_dir / f"{it.name}.mp4"]
        if odd:
            report.warnings.append(
                f"{split}: {len(odd)} file_name(s) are not {loader.VIDEOS_DIR}/<name>.mp4, "
                f"e.g. row {odd[0].row}: {odd[0].path.name}"
            )
