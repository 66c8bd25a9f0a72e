"""The original IntPhys (Riochet et al., 2019) dev set, read into the same items as IntPhys 2.

Layout (the ``dev/`` folder of the release, or a folder containing ``dev/``)::

    dev/O1/<scene>/<movie 1..4>/status.json     header.is_possible: true | false
    dev/O1/<scene>/<movie 1..4>/scene/*.png     288x288 RGB frames (100 per movie)
    dev/O2/...   dev/O3/...

A scene is a *quadruplet*: two possible and two impossible movies made of exactly the same frames in
a different order, so only a model of what persists behind the occluder separates them. Here the
quadruplet is one pair id (``O1/07``) with 2 possible + 2 impossible videos: pairwise accuracy then
averages the 4 (possible, impossible) comparisons of the scene, as for IntPhys 2 Debug renders.

There is no video file: ``VideoItem.path`` is the ``scene/`` frame folder, and frames are read with
:func:`pjbench.benchmarks.video.read_frame_folder` (``decode_video`` dispatches folders to it). Folders
have no frame rate, so ``sample_fps`` does not apply: pass ``--frame-step`` (e.g. 2 -> 50 of 100 frames).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pjbench.benchmarks.conditions import ModelProtocol, validate_videos
from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.tasks import ValidationReport, VideoItem
from pjbench.benchmarks.video import read_frame_folder
from pjbench.intphys2.loader import limit_items, natural_key
from pjbench.intphys2.task import IntPhys2Task
from pjbench.intphys2.spec import INTPHYS2019

__all__ = ["BLOCKS", "CONDITIONS", "IntPhys2019Task", "load_dev", "read_frame_folder"]

BLOCKS = ("O1", "O2", "O3")
# The IntPhys 2019 blocks test the principles IntPhys 2 calls permanence, immutability, continuity.
CONDITIONS = {"O1": "permanence", "O2": "immutability", "O3": "continuity"}
MOVIES = ("1", "2", "3", "4")
SPLIT = "dev"


def _resolve_dev_root(data_root: str | os.PathLike) -> Path:
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataError("IntPhys 2019 data root not found", path=root)
    if not any((root / b).is_dir() for b in BLOCKS) and (root / SPLIT).is_dir():
        root = root / SPLIT
    if not any((root / b).is_dir() for b in BLOCKS):
        raise DataError(
            f"no {', '.join(BLOCKS)} folders here or in {SPLIT}/ (expected the IntPhys dev release)", path=root
        )
    return root


def _is_possible(status: Path) -> int:
    try:
        header = json.loads(status.read_text(encoding="utf-8"))["header"]
        value = header["is_possible"]
    except FileNotFoundError:
        raise DataError("status.json not found (it holds the label)", path=status) from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read header.is_possible ({type(exc).__name__}: {exc})", path=status) from None
    # The official loader defaults a missing label to "possible"; a wrong label is worse than an error.
    if not isinstance(value, bool):
        raise DataError(f"header.is_possible must be true or false, got {value!r}", path=status)
    return int(value)


def load_dev(
    data_root: str | os.PathLike, blocks: tuple[str, ...] = BLOCKS, limit: int | None = None
) -> list[VideoItem]:
    """Items of the IntPhys 2019 dev set, ordered by block, scene, movie.

    ``name`` = ``O1/07/3``; ``path`` = that movie's ``scene/`` frame folder; ``pair_id`` = ``cluster`` =
    ``O1/07`` (the quadruplet); ``strata`` = ``{"block": "O1", "condition": "permanence"}``. Blocks
    not downloaded are skipped (at least one must exist). ``limit`` keeps the first ``limit``
    quadruplets. Raises :class:`DataError` naming the movie folder if a movie, its frames or its label
    is missing.
    """
    root = _resolve_dev_root(data_root)
    items: list[VideoItem] = []
    for block in blocks:
        if block not in BLOCKS:
            raise DataError(f"unknown IntPhys 2019 block {block!r}; choose from {', '.join(BLOCKS)}", path=root)
        block_dir = root / block
        if not block_dir.is_dir():
            continue
        for scene_dir in sorted((p for p in block_dir.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
            quad = f"{block}/{scene_dir.name}"
            for movie in MOVIES:
                movie_dir = scene_dir / movie
                frames = movie_dir / "scene"
                if not frames.is_dir():
                    raise DataError("missing scene/ frame folder (a quadruplet needs movies 1-4)", path=movie_dir)
                items.append(
                    VideoItem(
                        name=f"{quad}/{movie}",
                        path=frames.absolute(),
                        split=SPLIT,
                        label=_is_possible(movie_dir / "status.json"),
                        pair_id=quad,
                        cluster=quad,
                        strata={"block": block, "condition": CONDITIONS[block]},
                    )
                )
    return limit_items(items, limit)


class IntPhys2019Task(IntPhys2Task):
    """The original IntPhys dev set as a surprise task (one split, ``dev``; quadruplets as pairs).

    There is no separate dev split to choose the context on, so the context is fixed (the middle one, or
    ``--context``) and the threshold is fitted on the same split; the results say so.
    """

    spec = INTPHYS2019
    name = INTPHYS2019.name
    description = INTPHYS2019.description
    splits = INTPHYS2019.splits
    default_split = INTPHYS2019.default_split
    dev_split = INTPHYS2019.dev_split
    breakdowns = INTPHYS2019.breakdowns

    def load(self, data_root: str | os.PathLike, split: str, limit: int | None = None) -> list[VideoItem]:
        if split != SPLIT:
            raise PjbenchError(f"intphys2019 has only the {SPLIT!r} split")
        return load_dev(data_root, limit=limit)

    def has_split(self, data_root: str | os.PathLike, split: str) -> bool:
        try:
            return split == SPLIT and bool(_resolve_dev_root(data_root))
        except PjbenchError:
            return False

    def dev_splits_for(self, split: str) -> tuple[str, ...]:
        return ()

    def write_submission(self, path, records, thresholds):
        return None

    def validate(self, data_root: str | os.PathLike, check_videos: bool = True,
                 protocol: ModelProtocol | None = None) -> ValidationReport:
        """Quadruplet layout and labels; with ``check_videos`` every movie's first frame, and with ``protocol``
        whether its frames after ``--frame-step`` fill one window (else eval skips it)."""
        report = ValidationReport(task=self.name, data_root=str(data_root))
        try:
            items = load_dev(data_root)
        except DataError as exc:
            report.errors.append(str(exc))
            return report
        report.counts["videos"] = len(items)
        report.counts["quadruplets"] = len({it.pair_id for it in items})
        report.counts["possible / impossible"] = f"{sum(it.label == 1 for it in items)} / {sum(it.label == 0 for it in items)}"
        for pair in sorted({it.pair_id for it in items}):
            labels = sorted(it.label for it in items if it.pair_id == pair)
            if labels != [0, 0, 1, 1]:
                report.errors.append(f"{pair}: a quadruplet needs 2 possible + 2 impossible movies, got labels {labels}")
        if check_videos and protocol is not None:
            report.counts["dev"] = {}
            validate_videos(report, "dev", (it.path for it in items), protocol)
        elif check_videos:
            for it in items:
                try:
                    read_frame_folder(it.path, max_frames=1)
                except PjbenchError as exc:
                    report.errors.append(str(exc))
        return report
