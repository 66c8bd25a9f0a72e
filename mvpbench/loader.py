"""Read the MVPBench release (HF ``facebook/minimal_video_pairs``) as :class:`~pjbench.benchmarks.tasks.QAItem` s.

Layout (unchanged release; ``data_root`` is the dataset folder, a folder containing
``minimal_video_pairs/``, or the hub id ``facebook/minimal_video_pairs`` when it is in the local HF cache)::

    <root>/
      human_object_interactions/  full-00000-of-00001.parquet  mini-00000-of-00001.parquet
      intuitive_physics/          ...
      robot_object_interactions/  ...
      temporal_reasoning/         ...
      videos/<source>/...         NOT in the release: users fetch them from the 9 sources (often only some)

Every column is a string: ``video_id, video_path, question, answer, candidates, source``. ``candidates``
is the Python repr of a 2-element list (``ast.literal_eval``); ``answer`` is the text of the right one;
``video_path`` is relative to the videos root and may start with ``/``.

Split naming: the pjbench split is ``full`` or ``mini`` (the release's file stem); the config is a
stratum (``strata["config"]``), because every config is scored and the headline is the macro mean over
configs. Item ``name`` = ``video_id`` (the leaderboard ``row_id``); if a ``video_id`` occurs in two
configs of one split, those items are named ``<config>/<video_id>`` so names stay unique.

The pairing rule lives here and only here: pair key = ``video_id`` without its last ``_<idx>``, within
one config (``pair_id = "<config>/<key>"``, also the bootstrap cluster). A valid pair has exactly 2
items with the same question and candidate order and opposite answers; :func:`load_split` keeps valid
pairs only and records why the others were dropped.
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Sequence

from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.tasks import QAItem
from pjbench.mvpbench.spec import MVPBENCH

__all__ = [
    "COLUMNS",
    "CONFIGS",
    "HUB_ID",
    "OFFICIAL_ITEMS",
    "SPLITS",
    "MVPSplit",
    "canonical_split",
    "coverage",
    "load_split",
    "pair_key",
    "pair_problems",
    "parquet_path",
    "read_config",
    "resolve_root",
    "safe_video_path",
]

CONFIGS = ("human_object_interactions", "intuitive_physics", "robot_object_interactions", "temporal_reasoning")
SPLITS = MVPBENCH.splits  # declared once, in the task spec
COLUMNS = ("video_id", "video_path", "question", "answer", "candidates", "source")
HUB_ID = "facebook/minimal_video_pairs"
ROOT_DIR = "minimal_video_pairs"
VIDEOS_DIR = "videos"
SOURCES = ("pt", "ssv2", "language_table", "intphys", "inflevel", "grasp", "clevrer", "star", "vinoground")
# Items per split over the 4 configs in the official release (formats.md).
OFFICIAL_ITEMS = {"full": 54_828, "mini": 18_416}
READERS = ("pandas", "datasets")

_PAIR_RE = re.compile(r"(.+)_[^_]*")


# --------------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------------


def canonical_split(split: str) -> str:
    s = str(split).lower()
    if s not in SPLITS:
        raise PjbenchError(f"unknown MVPBench split {split!r}; choose one of {', '.join(SPLITS)}")
    return s


def _has_config(d: Path) -> bool:
    return any((d / c).is_dir() for c in CONFIGS)


def resolve_root(data_root: str | os.PathLike) -> Path:
    """The release root (the folder holding the 4 config folders).

    Accepts that folder, a folder containing ``minimal_video_pairs/``, or the hub id
    ``facebook/minimal_video_pairs`` when a snapshot is in the local Hugging Face cache (nothing is
    downloaded). Raises :class:`DataError` naming the path otherwise.
    """
    root = Path(data_root).expanduser()
    if not root.exists() and str(data_root) == HUB_ID:
        return _from_hf_cache()
    if not root.is_dir():
        raise DataError(
            f"MVPBench data root not found (expected the folder holding {', '.join(CONFIGS)}, "
            f"or the hub id {HUB_ID} already in the local Hugging Face cache)", path=root,
        )
    if not _has_config(root) and _has_config(root / ROOT_DIR):
        return root / ROOT_DIR
    return root


def _from_hf_cache() -> Path:
    try:
        from huggingface_hub import snapshot_download

        # Read the cache location now (not at import) so HF_HUB_CACHE set by the caller is honoured.
        path = snapshot_download(HUB_ID, repo_type="dataset", local_files_only=True,
                                 cache_dir=os.environ.get("HF_HUB_CACHE"))
    except Exception as exc:  # LocalEntryNotFoundError, OfflineModeIsEnabled, ImportError ...
        raise PjbenchError(
            f"{HUB_ID} is not in the local Hugging Face cache and pjbench never downloads "
            f"({type(exc).__name__}). Download it yourself (e.g. `huggingface-cli download --repo-type dataset "
            f"{HUB_ID} --local-dir DIR`) and pass --data-root DIR."
        ) from None
    return Path(path)


def parquet_path(root: Path, config: str, split: str) -> Path:
    return root / config / f"{split}-00000-of-00001.parquet"


def safe_video_path(video_path: str) -> str | None:
    """``video_path`` as a normalised POSIX path relative to the videos root, or ``None`` if it escapes it.

    A leading ``/`` (as in the release) is stripped; ``..`` that leaves the root, Windows drives and
    empty paths are refused.
    """
    p = str(video_path).strip().lstrip("/")
    if not p or "\\" in p or PureWindowsPath(p).drive or PurePosixPath(p).is_absolute():
        return None
    norm = posixpath.normpath(p)
    if norm in (".", "..") or norm.startswith("../"):
        return None
    return norm


def pair_key(video_id: str) -> str | None:
    """``"ssv2_1234_0"`` -> ``"ssv2_1234"`` (the official rule: drop the last ``_<idx>``); ``None`` if
    there is no ``_`` to split at."""
    m = _PAIR_RE.fullmatch(video_id)
    return m.group(1) if m else None


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def _read_table(path: Path, reader: str) -> list[dict[str, Any]]:
    if reader == "pandas":
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    if reader == "datasets":
        import tempfile

        from datasets import load_dataset

        # A private cache dir: nothing written to ~/.cache, nothing reused from a stale cache.
        with tempfile.TemporaryDirectory(prefix="pjbench-mvp-") as tmp:
            ds = load_dataset("parquet", data_files=str(path), split="train", cache_dir=tmp)
            return [dict(r) for r in ds]
    raise PjbenchError(f"unknown parquet reader {reader!r}; choose one of {', '.join(READERS)}")


def _parse_candidates(value: Any) -> list[str] | None:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    if hasattr(value, "tolist"):  # a list column read as a numpy array
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) for c in value):
        return None
    return list(value)


def read_config(
    path: str | os.PathLike, config: str, split: str, videos_root: Path, *, reader: str = "pandas"
) -> tuple[list[QAItem], list[DataError]]:
    """Parse one config's parquet file into items, collecting every row problem.

    Returns ``(items, problems)``; rows with problems are left out. Rows are numbered from 1. Items'
    ``name`` is the ``video_id`` and ``pair_id`` is ``"<config>/<pair key>"``; pairs are not checked
    here (:func:`pair_problems`). Videos are not looked at.
    """
    path = Path(path)
    if not path.is_file():
        return [], [DataError("parquet file not found", path=path)]
    try:
        rows = _read_table(path, reader)
    except PjbenchError:
        raise
    except Exception as exc:  # pyarrow / datasets raise many types for a corrupt file
        return [], [DataError(f"cannot read parquet ({type(exc).__name__}: {exc})", path=path)]
    if not rows:
        return [], [DataError("parquet file has no rows", path=path)]
    missing = [c for c in COLUMNS if c not in rows[0]]
    if missing:
        return [], [DataError(f"missing column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)}; "
                              f"found {', '.join(map(str, rows[0]))})", path=path)]

    items: list[QAItem] = []
    problems: list[DataError] = []
    first_row: dict[str, int] = {}
    for row, rec in enumerate(rows, start=1):
        def bad(msg: str) -> None:
            problems.append(DataError(msg, path=path, row=row))

        video_id = str(rec["video_id"] or "")
        ok = True
        if not video_id:
            bad("empty video_id")
            ok = False
        elif video_id in first_row:
            bad(f"duplicate video_id {video_id} (first on row {first_row[video_id]})")
            ok = False
        else:
            first_row[video_id] = row
        key = pair_key(video_id) if video_id else None
        if video_id and key is None:
            bad(f"video_id {video_id!r} has no '_<idx>' suffix to pair it by")
            ok = False
        candidates = _parse_candidates(rec["candidates"])
        if candidates is None:
            bad(f"candidates {str(rec['candidates'])[:80]!r} is not a Python list of strings")
            ok = False
        elif len(candidates) != 2 or len(set(candidates)) != 2:
            bad(f"candidates must be 2 distinct strings, got {candidates!r}")
            ok = False
        answer = rec["answer"]
        if candidates is not None and ok and answer not in candidates:
            bad(f"answer {answer!r} is not one of the candidates {candidates!r}")
            ok = False
        rel = safe_video_path(str(rec["video_path"] or ""))
        if rel is None:
            bad(f"video_path {rec['video_path']!r} must stay inside the videos root")
            ok = False
        if not ok:
            continue
        source = str(rec["source"])
        items.append(QAItem(
            name=video_id,
            path=videos_root / rel,  # type: ignore[operator]
            split=split,
            label=candidates.index(answer),  # type: ignore[union-attr]
            pair_id=f"{config}/{key}",
            cluster=f"{config}/{key}",
            strata={"config": config, "source": source},
            row=row,
            question=str(rec["question"]),
            candidates=tuple(candidates),  # type: ignore[arg-type]
            answer_keys=tuple(candidates),  # type: ignore[arg-type]
            source=source,
        ))
    return items, problems


def pair_problems(items: Sequence[QAItem]) -> dict[str, str]:
    """``{pair_id: reason}`` for every invalid pair (empty = all fine).

    A valid pair has exactly 2 items, the same question, the same candidates in the same order, and
    opposite answers (labels 0 and 1).
    """
    groups: dict[str, list[QAItem]] = defaultdict(list)
    for it in items:
        groups[str(it.pair_id)].append(it)
    out: dict[str, str] = {}
    for pid, group in groups.items():
        names = ", ".join(f"{it.name} (row {it.row})" for it in group)
        if len(group) != 2:
            out[pid] = f"{len(group)} item(s), expected 2: {names}"
        elif group[0].question != group[1].question:
            out[pid] = f"questions differ: {names}"
        elif group[0].candidates != group[1].candidates:
            out[pid] = f"candidates differ (or are in a different order): {names}"
        elif {group[0].label, group[1].label} != {0, 1}:
            out[pid] = f"both items have the same answer: {names}"
    return out


# --------------------------------------------------------------------------------------------------
# Split loading
# --------------------------------------------------------------------------------------------------


@dataclass
class MVPSplit:
    """What :func:`load_split` read: the items of valid pairs, and what was left out and why.

    dropped:  ``[{name, path, reason}]`` of items of invalid pairs (the ``skipped`` format of results).
    configs:  configs whose parquet file was found.
    """

    items: list[QAItem]
    dropped: list[dict[str, str]] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    root: Path | None = None
    videos_root: Path | None = None


def _raise_first(problems: list[DataError]) -> None:
    first = problems[0]
    if len(problems) == 1:
        raise first
    err = DataError(f"{first} (and {len(problems) - 1} more problem(s); `pjbench validate --task mvpbench` "
                    f"lists them all)")
    err.path, err.row = first.path, first.row
    raise err


def _unique_names(items: list[QAItem]) -> list[QAItem]:
    from dataclasses import replace

    counts = Counter(it.name for it in items)
    return [replace(it, name=f"{it.strata['config']}/{it.name}") if counts[it.name] > 1 else it for it in items]


def load_split(
    data_root: str | os.PathLike,
    split: str,
    *,
    configs: Sequence[str] | None = None,
    videos_root: str | os.PathLike | None = None,
    limit: int | None = None,
    reader: str = "pandas",
) -> MVPSplit:
    """Items of one split over the configs found (or ``configs``), in config then row order.

    Args:
        data_root: release root, a folder containing ``minimal_video_pairs/``, or the cached hub id.
        split: ``full`` or ``mini``.
        configs: restrict to these configs (default: every config whose file exists; none -> error).
        videos_root: where ``video_path`` points into (default ``<root>/videos``).
        limit: keep only the first ``limit`` pairs of each config (both items).
        reader: ``pandas`` (pyarrow) or ``datasets`` (``load_dataset("parquet", ...)``); same items.

    Row problems (malformed candidates, answer not a candidate, a path escaping the videos root,
    duplicate ids) raise :class:`DataError` naming the file and row: the release is fixed, so a bad
    row means a damaged file. Invalid pairs are dropped and recorded in ``dropped``. Video files are
    not required (see :func:`coverage`): answer files need none, probes skip items without one.
    """
    split = canonical_split(split)
    root = resolve_root(data_root)
    vroot = Path(videos_root).expanduser().absolute() if videos_root is not None else (root / VIDEOS_DIR).absolute()
    wanted = list(configs) if configs else list(CONFIGS)
    unknown = [c for c in wanted if c not in CONFIGS]
    if unknown:
        raise PjbenchError(f"unknown MVPBench config(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    found = [c for c in wanted if parquet_path(root, c, split).is_file()]
    if not found:
        raise DataError(
            f"no MVPBench {split} file: expected <config>/{split}-00000-of-00001.parquet for "
            f"{', '.join(wanted)}", path=root,
        )
    items: list[QAItem] = []
    problems: list[DataError] = []
    dropped: list[dict[str, str]] = []
    for config in found:
        its, probs = read_config(parquet_path(root, config, split), config, split, vroot, reader=reader)
        problems.extend(probs)
        bad = pair_problems(its)
        for it in its:
            if it.pair_id in bad:
                dropped.append({"name": it.name, "path": str(it.path), "reason": f"invalid pair: {bad[it.pair_id]}"})
        its = [it for it in its if it.pair_id not in bad]
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be >= 0, got {limit}")
            keep = set(list(dict.fromkeys(it.pair_id for it in its))[:limit])
            its = [it for it in its if it.pair_id in keep]
        items.extend(its)
    if problems:
        _raise_first(problems)
    return MVPSplit(items=_unique_names(items), dropped=dropped, configs=found, root=root, videos_root=vroot)


def coverage(items: Sequence[QAItem]) -> dict[str, Any]:
    """Which items have their video on disk, per source and per config.

    Returns ``{"items", "with_video", "pairs", "complete_pairs" (both videos present), "by_source":
    {source: {items, with_video, pairs, complete_pairs}}, "by_config": {...}}``.
    """
    has = {it.name: it.path.is_file() for it in items}

    def summary(group: Sequence[QAItem]) -> dict[str, int]:
        pairs: dict[str, list[bool]] = defaultdict(list)
        for it in group:
            pairs[str(it.pair_id)].append(has[it.name])
        return {"items": len(group), "with_video": sum(has[it.name] for it in group), "pairs": len(pairs),
                "complete_pairs": sum(len(v) == 2 and all(v) for v in pairs.values())}

    by: dict[str, dict[str, list[QAItem]]] = {"source": defaultdict(list), "config": defaultdict(list)}
    for it in items:
        by["source"][it.strata["source"]].append(it)
        by["config"][it.strata["config"]].append(it)
    return {**summary(items),
            "by_source": {k: summary(v) for k, v in sorted(by["source"].items())},
            "by_config": {k: summary(v) for k, v in sorted(by["config"].items())}}
