"""Read the IntPhys 2 release (HF ``facebook/IntPhys2``) as :class:`~pjbench.benchmarks.tasks.VideoItem` s.

Layout (unchanged release; ``data_root`` is ``IntPhys2/`` itself or a folder that contains it)::

    IntPhys2/
      Debug/    metadata.csv  Videos/<64-hex>.mp4     5 scenes x 2 runs x 2 types x 3 renders = 60
      Main/     metadata.csv  Videos/<64-hex>.mp4     506 pairs = 1,012 videos
      HeldOut/                Videos/<64-hex>.mp4     344 videos, no metadata, no labels

The pairing rule lives here and only here: a *pair* is ``(SceneIndex, run digit of type)``, e.g. rows
``154_0`` / ``1_Possible`` and ``154_0`` / ``1_Impossible`` form pair ``"154_0|1"``. Row order means
nothing. The bootstrap cluster is the scene (``SceneIndex``): its two pairs share objects and physics.

Quirks of the CSV that a default ``pandas.read_csv`` gets wrong, hence ``dtype=str`` and
``keep_default_na=False``: ``SceneIndex`` values like ``154_0`` (and ``007`` would lose its zeros as a
number), and ``occluder`` holding the literal string ``None`` (pandas would turn it into NaN).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections import defaultdict
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterable, Sequence

from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.video import natural_key  # noqa: F401 (re-exported)
from pjbench.benchmarks.tasks import VideoItem
from pjbench.intphys2.spec import INTPHYS2

__all__ = [
    "COLUMNS",
    "LABELLED_SPLITS",
    "METADATA_FILE",
    "SPLITS",
    "VIDEOS_DIR",
    "canonical_split",
    "limit_items",
    "list_split_videos",
    "load_split",
    "natural_key",
    "pair_problems",
    "parse_type",
    "read_metadata",
    "resolve_root",
    "split_dir",
]

SPLITS = INTPHYS2.splits  # declared once, in the task spec
LABELLED_SPLITS = ("Debug", "Main")
METADATA_FILE = "metadata.csv"
VIDEOS_DIR = "Videos"
ROOT_DIR = "IntPhys2"
COLUMNS = (
    "SceneIndex", "name", "file_name", "game_name", "condition", "env", "type", "occluder", "Difficulty", "Camera",
)
# Metadata columns copied into ``VideoItem.strata`` (breakdowns and error analysis), plus ``visibility``.
STRATA_COLUMNS = ("condition", "Difficulty", "Camera", "occluder", "game_name", "env")
NO_OCCLUDER = "None"
# Splits where a pair has exactly one possible and one impossible video (formats.md); elsewhere (Debug
# renders every scene 3 times) a pair id may group k possible and k impossible renders.
ONE_TO_ONE_SPLITS = ("Main",)

_TYPE_RE = re.compile(r"(\d+)_(.*)")


# --------------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------------


def canonical_split(split: str) -> str:
    """``"main"`` -> ``"Main"``; unknown names raise :class:`PjbenchError` listing the valid ones."""
    for s in SPLITS:
        if split.lower() == s.lower():
            return s
    raise PjbenchError(f"unknown IntPhys 2 split {split!r}; choose one of {', '.join(SPLITS)}")


def resolve_root(data_root: str | os.PathLike) -> Path:
    """The release root (the folder holding ``Debug/ Main/ HeldOut/``).

    Accepts that folder itself or a folder containing ``IntPhys2/`` (where a download usually lands).
    Raises :class:`DataError` if ``data_root`` does not exist.
    """
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataError(
            "IntPhys 2 data root not found (expected the folder holding Debug/, Main/, HeldOut/)", path=root
        )
    has_split = any((root / s).is_dir() for s in SPLITS)
    if not has_split and (root / ROOT_DIR).is_dir():
        return root / ROOT_DIR
    return root



def split_dir(data_root: str | os.PathLike, split: str) -> Path:
    """``<release root>/<split>``; raises :class:`DataError` naming the expected folder if absent."""
    split = canonical_split(split)
    root = resolve_root(data_root)
    d = root / split
    if not d.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataError(
            f"no {split}/ folder (expected {root}/{split}/ or {root}/{ROOT_DIR}/{split}/; "
            f"found folders: {', '.join(found) or 'none'})",
            path=root,
        )
    return d


def _safe_relative(file_name: str) -> str | None:
    """Normalised relative POSIX path of ``file_name``, or ``None`` if it is absolute or leaves its folder."""
    if not file_name or PurePosixPath(file_name).is_absolute() or PureWindowsPath(file_name).is_absolute():
        return None
    if file_name.startswith(("/", "\\")) or PureWindowsPath(file_name).drive:
        return None
    norm = posixpath.normpath(file_name)
    if norm in (".", "..") or norm.startswith("../"):
        return None
    return norm


# --------------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------------


def parse_type(value: str) -> tuple[str, int] | None:
    """``"2_Impossible"`` -> ``("2", 0)``; ``"1_Possible"`` -> ``("1", 1)``; anything else -> ``None``.

    Exact and case-sensitive on purpose: ``"Impossible".endswith("possible")`` is true, and a
    ``"1_possible"`` in a hand-edited file should fail loudly rather than be guessed.
    """
    m = _TYPE_RE.fullmatch(value)
    if m is None or m.group(2) not in ("Possible", "Impossible"):
        return None
    return m.group(1), int(m.group(2) == "Possible")


def read_metadata(
    csv_path: str | os.PathLike, split: str
) -> tuple[list[VideoItem], list[DataError]]:
    """Parse one ``metadata.csv`` into items, collecting every problem instead of stopping at the first.

    Returns ``(items, problems)``; items of problem rows are left out. A file-level problem (unreadable,
    wrong columns, no rows) yields no items and one problem. Rows are numbered from 1 at the first data
    row (file line = row + 1). Videos are not looked at (see ``IntPhys2Task.validate``).
    """
    import csv
    import warnings

    import pandas as pd

    csv_path = Path(csv_path)
    split_root = csv_path.parent.absolute()
    try:
        # utf-8-sig: a BOM written by a spreadsheet would otherwise rename the first column.
        # index_col=False: a row with a stray extra field must not shift every column by one.
        # Rows with surplus fields are reported below, by row; pandas' warning about them is noise.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False)
    except FileNotFoundError:
        return [], [DataError("metadata file not found", path=csv_path)]
    except pd.errors.EmptyDataError:
        return [], [DataError("metadata file is empty", path=csv_path)]
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        return [], [DataError(f"cannot parse CSV ({type(exc).__name__}: {exc})", path=csv_path)]

    missing = [c for c in COLUMNS if c not in df.columns]
    extra = [str(c) for c in df.columns if c not in COLUMNS]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        return [], [DataError(f"{'; '.join(parts)} (expected exactly: {','.join(COLUMNS)})", path=csv_path)]
    if len(df) == 0:
        return [], [DataError("metadata file has a header but no rows", path=csv_path)]

    items: list[VideoItem] = []
    problems: list[DataError] = []
    # pandas drops surplus fields with only a warning: name those rows instead of losing data silently.
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        for line_no, fields in enumerate(csv.reader(fh), start=1):
            if line_no > 1 and fields and len(fields) != len(COLUMNS):
                problems.append(DataError(f"{len(fields)} fields, expected {len(COLUMNS)} (file line {line_no})",
                                          path=csv_path, row=line_no - 1))
    first_row_of_name: dict[str, int] = {}
    first_row_of_file: dict[str, int] = {}

    def bad(row: int, msg: str) -> None:
        problems.append(DataError(f"{msg} (file line {row + 1})", path=csv_path, row=row))

    for row, rec in enumerate(df.to_dict("records"), start=1):
        scene, name, file_name, type_ = rec["SceneIndex"], rec["name"], rec["file_name"], rec["type"]
        ok = True
        duplicate_name = False
        if not scene:
            bad(row, "empty SceneIndex")
            ok = False
        if not name:
            bad(row, "empty name")
            ok = False
        elif name in first_row_of_name:
            bad(row, f"duplicate name {name} (first on row {first_row_of_name[name]})")
            ok, duplicate_name = False, True
        else:
            first_row_of_name[name] = row
        parsed = parse_type(type_)
        if parsed is None:
            bad(row, f"type {type_!r} is not <run>_Possible or <run>_Impossible (case-sensitive)")
            ok = False
        rel = _safe_relative(file_name)
        if rel is None:
            bad(row, f"file_name {file_name!r} must be a path relative to {split_root} that stays inside it")
            ok = False
        elif rel in first_row_of_file:
            if not duplicate_name:  # a copied row is one problem, not two
                bad(row, f"duplicate file_name {file_name} (first on row {first_row_of_file[rel]})")
            ok = False
        else:
            first_row_of_file[rel] = row
        if not ok:
            continue
        run, label = parsed  # type: ignore[misc]
        strata = {c: rec[c] for c in STRATA_COLUMNS}
        strata["visibility"] = "occluded" if rec["occluder"] != NO_OCCLUDER else "visible"
        items.append(
            VideoItem(
                name=name,
                path=split_root / rel,
                split=split,
                label=label,
                pair_id=f"{scene}|{run}",
                cluster=scene,
                strata=strata,
                row=row,
            )
        )
    return items, problems


def list_split_videos(directory: str | os.PathLike, split: str) -> list[VideoItem]:
    """Unlabelled items for every ``Videos/*.mp4`` of a split folder (HeldOut), sorted by file name.

    ``name`` = file stem (the leaderboard ``row_id``), ``label`` / ``pair_id`` / ``cluster`` = ``None``.
    """
    videos = Path(directory).absolute() / VIDEOS_DIR
    if not videos.is_dir():
        raise DataError(f"no {VIDEOS_DIR}/ folder in the {split} split", path=videos.parent)
    return [VideoItem(name=p.stem, path=p, split=split, label=None) for p in sorted(videos.glob("*.mp4"))]


# --------------------------------------------------------------------------------------------------
# Split loading
# --------------------------------------------------------------------------------------------------


def limit_items(items: Sequence[VideoItem], limit: int | None) -> list[VideoItem]:
    """The items of the first ``limit`` pairs (natural order of pair id), complete pairs only.

    Unpaired items (HeldOut) are cut to the first ``limit`` in their order instead. Item order is kept.
    """
    if limit is None:
        return list(items)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if all(it.pair_id is None for it in items):
        return list(items[:limit])
    keep = set(sorted({it.pair_id for it in items if it.pair_id is not None}, key=natural_key)[:limit])
    return [it for it in items if it.pair_id in keep]


def load_split(data_root: str | os.PathLike, split: str, limit: int | None = None) -> list[VideoItem]:
    """Items of one split, in metadata row order (HeldOut: sorted by file name).

    Args:
        data_root: the release root (holding ``Debug/ Main/ HeldOut/``) or a folder containing ``IntPhys2/``.
        split: ``Debug``, ``Main`` or ``HeldOut`` (case-insensitive).
        limit: keep only the first ``limit`` pairs (all their videos; pairs in natural order of
            ``SceneIndex|run``) -- or the first ``limit`` videos of an unlabelled split.

    A split with ``metadata.csv`` is read from it (labels, pairs, strata); HeldOut without one lists its
    videos. Raises :class:`DataError` naming the file (and row) on the first malformed row, with the
    number of further problems; ``pjbench validate`` lists them all. Video files are not opened, and
    pairs are not checked here: see :func:`pair_problems`.
    """
    split = canonical_split(split)
    d = split_dir(data_root, split)
    csv_path = d / METADATA_FILE
    if csv_path.is_file():
        items, problems = read_metadata(csv_path, split)
        if problems:
            first = problems[0]
            if len(problems) > 1:
                more = f" (and {len(problems) - 1} more problem(s) in this file; `pjbench validate` lists them all)"
                err = DataError(str(first) + more)
                err.path, err.row = first.path, first.row  # keep them for callers that read the fields
                raise err
            raise first
    elif split in LABELLED_SPLITS:
        raise DataError(f"no {METADATA_FILE}: the {split} split needs it for labels and pairs", path=d)
    else:
        items = list_split_videos(d, split)
    return limit_items(items, limit)


def invalid_pair_items(items: Iterable[VideoItem]) -> dict[str, str]:
    """``{item name: reason}`` for every labelled item whose pair breaks the pairing rules of
    :func:`pair_problems` (a ``3_Possible`` row with no impossible partner, a pair of two possibles, a
    missing Debug render, a label without a pair id). Such items cannot enter a paired metric, so eval
    leaves them out as recorded skips with this reason (validate reports the same problems as errors)."""
    groups: dict[str, list[VideoItem]] = defaultdict(list)
    out: dict[str, str] = {}
    for it in items:
        if it.label is None:
            continue
        if it.pair_id is None:
            out[it.name] = f"{it.split}: video {it.name} has a label but no pair id (left out of every metric)"
            continue
        groups[it.pair_id].append(it)
    for pid, group in groups.items():
        problem = _group_problem(group)
        if problem is not None:
            for it in group:
                out[it.name] = f"invalid pair {pid}: {problem} (left out of every metric; `pjbench validate` lists it)"
    return out


def _group_problem(group: Sequence[VideoItem]) -> str | None:
    n_pos = sum(it.label == 1 for it in group)
    n_imp = len(group) - n_pos
    split = group[0].split
    counts = f"{n_pos} possible, {n_imp} impossible"
    if n_pos == 0 or n_imp == 0:
        return f"{counts}; needs at least one possible and one impossible video"
    if split in ONE_TO_ONE_SPLITS and (n_pos, n_imp) != (1, 1):
        return f"{counts}; expected exactly one possible and one impossible video"
    if n_pos != n_imp:
        return f"{counts}; unequal numbers of possible and impossible renders"
    return None


def pair_problems(items: Iterable[VideoItem]) -> list[str]:
    """Problems with the pairing of labelled items (empty list = fine); unlabelled items are ignored.

    Every pair id needs at least one possible and one impossible video. On Main a pair is exactly one
    of each; on Debug a pair id groups the ``k`` renders of each video, so ``k`` possible + ``k``
    impossible is fine but unequal counts mean a render is missing.
    """
    groups: dict[str, list[VideoItem]] = defaultdict(list)
    problems: list[str] = []
    for it in items:
        if it.label is None:
            continue
        if it.pair_id is None:
            problems.append(f"{it.split}: video {it.name} has a label but no pair id")
            continue
        groups[it.pair_id].append(it)
    for pid in sorted(groups, key=natural_key):
        group = groups[pid]
        problem = _group_problem(group)
        if problem is not None:
            counts, _, rule = problem.partition("; ")
            where = f"{group[0].split}: pair {pid} ({counts}: {', '.join(_where(it) for it in group)})"
            problems.append(f"{where}: {rule}")
    return problems


def _where(it: VideoItem) -> str:
    short = it.name[:12] + "…" if len(it.name) > 16 else it.name
    return f"{short} (row {it.row})" if it.row is not None else short
