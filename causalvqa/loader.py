"""Read the CausalVQA release (``CausalVQA.zip`` from the Ego-Exo4D consortium) as :class:`QAItem` s.

Layouts accepted (``data_root`` is ``CausalVQA/`` itself or the folder containing it)::

    CausalVQA/debug/debug_metadata.csv   CausalVQA/debug/videos/*.mp4       as the zip unpacks
    CausalVQA/data/debug/...             CausalVQA/data/debug/videos/*.mp4  as the official prep expects
    (same for test/)

CSV columns: ``qid, type, question, choices1, correct1, choices2, correct2, difficulty, renamed_video``.
``choices1``/``choices2`` hold 5 options ``"N. text"`` separated by ``|``; ``choices2`` is a perturbed,
reordered list for the same question. ``correct1``/``correct2`` = option number (blank in ``test``).

Parsing follows the official prep (``scripts/prep_mllm_eval.py::format_choices``): split on ``|``, strip
each option, number = first character, text = from the 4th character on; letters A-E by position;
gold = the position whose number equals ``correct``. Unlike the official script, a malformed option is an
error naming file and row (the script would silently cut text), and a blank answer is ``None``.

Items: every CSV row gives two items, ``<qid>/1`` (choices1) and ``<qid>/2`` (choices2); ``pair_id =
qid``. Bootstrap cluster = the video (``renamed_video``): when several questions are asked about one
clip their outcomes are not independent, so resampling videos is the honest choice; with one question
per video it is the same as resampling qids.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Sequence

from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.tasks import QAItem
from pjbench.causalvqa.spec import CAUSALVQA

__all__ = [
    "COLUMNS",
    "DIFFICULTIES",
    "SPLITS",
    "TYPES",
    "canonical_split",
    "coverage",
    "load_split",
    "metadata_path",
    "parse_choices",
    "read_metadata",
    "resolve_root",
    "split_dirs",
]

SPLITS = CAUSALVQA.splits  # declared once, in the task spec
COLUMNS = ("qid", "type", "question", "choices1", "correct1", "choices2", "correct2", "difficulty", "renamed_video")
TYPES = ("anticipation", "counterfactual", "descriptive", "planning", "hypothetical")
DIFFICULTIES = ("easy", "med", "hard")
N_OPTIONS = 5
ROOT_DIR = "CausalVQA"
VIDEOS_DIR = "videos"
SOURCE = "egoexo4d"
LETTERS = "ABCDE"

_OPTION_RE = re.compile(r"\d\.\s")
_INT_RE = re.compile(r"(\d+)(?:\.0*)?")


def canonical_split(split: str) -> str:
    s = str(split).lower()
    if s not in SPLITS:
        raise PjbenchError(f"unknown CausalVQA split {split!r}; choose one of {', '.join(SPLITS)}")
    return s


def metadata_name(split: str) -> str:
    return f"{split}_metadata.csv"


def resolve_root(data_root: str | os.PathLike) -> Path:
    """``CausalVQA/`` (the folder holding ``debug/``, ``test/`` or ``data/``), given it or its parent."""
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataError("CausalVQA data root not found (expected the unzipped CausalVQA/ folder or its parent)",
                        path=root)

    def looks(d: Path) -> bool:
        return any((d / s).is_dir() or (d / "data" / s).is_dir() for s in SPLITS)

    if not looks(root) and looks(root / ROOT_DIR):
        return root / ROOT_DIR
    return root


def split_dirs(root: Path, split: str) -> list[Path]:
    """Candidate folders of a split, in order of preference: ``<root>/<split>``, ``<root>/data/<split>``."""
    return [root / split, root / "data" / split]


def metadata_path(data_root: str | os.PathLike, split: str) -> Path:
    """The split's ``<split>_metadata.csv``; raises :class:`DataError` listing where it was looked for."""
    split = canonical_split(split)
    root = resolve_root(data_root)
    for d in split_dirs(root, split):
        if (d / metadata_name(split)).is_file():
            return d / metadata_name(split)
    tried = " or ".join(str(d / metadata_name(split)) for d in split_dirs(root, split))
    raise DataError(f"no {metadata_name(split)} (looked for {tried})", path=root)


def videos_dir(csv_path: Path, split: str) -> Path:
    """``videos/`` beside the CSV, else the other layout's ``videos/`` (CSV and videos moved apart)."""
    here = csv_path.parent / VIDEOS_DIR
    if here.is_dir():
        return here.absolute()
    parent = csv_path.parent.parent
    other = (parent / "data" / split / VIDEOS_DIR) if parent.name != "data" else (parent.parent / split / VIDEOS_DIR)
    return (other if other.is_dir() else here).absolute()


def parse_choices(value: str) -> tuple[list[str], list[str]] | str:
    """``"1. a|2. b|..."`` -> ``(numbers, texts)`` as the official prep reads it, or a message saying
    what is malformed. Each option is stripped; number = 1st character, text = from the 4th on."""
    options = [op.strip() for op in str(value).split("|")]
    if len(options) != N_OPTIONS:
        return f"{len(options)} options, expected {N_OPTIONS}"
    numbers, texts = [], []
    for op in options:
        if not _OPTION_RE.match(op):
            return f"option {op[:40]!r} does not start with '<digit>. '"
        numbers.append(op[0])
        texts.append(op[3:])
    if len(set(numbers)) != len(numbers):
        return f"option numbers repeat: {', '.join(numbers)}"
    return numbers, texts


def _answer_number(value: str) -> str | None:
    """``"3"`` / ``"3.0"`` (a column pandas once wrote as float) -> ``"3"``; blank -> ``None``; else ``""``."""
    v = str(value).strip()
    if not v or v.lower() == "nan":
        return None
    m = _INT_RE.fullmatch(v)
    return m.group(1) if m else ""


def _safe_file_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..") \
        and not PureWindowsPath(name).drive and not PurePosixPath(name).is_absolute()


def read_metadata(csv_path: str | os.PathLike, split: str) -> tuple[list[QAItem], list[DataError]]:
    """Parse one metadata CSV into items (two per row), collecting every problem.

    Returns ``(items, problems)``; items of problem rows are left out. Rows are numbered from 1 at the
    first data row. Videos are not looked at.
    """
    import warnings

    import pandas as pd

    csv_path = Path(csv_path)
    try:
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
    if missing:
        return [], [DataError(f"missing column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})", path=csv_path)]
    if len(df) == 0:
        return [], [DataError("metadata file has a header but no rows", path=csv_path)]

    vdir = videos_dir(csv_path, split)
    items: list[QAItem] = []
    problems: list[DataError] = []
    first_row: dict[str, int] = {}
    for row, rec in enumerate(df.to_dict("records"), start=1):
        row_problems: list[str] = []
        qid = rec["qid"].strip()
        if not qid:
            row_problems.append("empty qid")
        elif qid in first_row:
            row_problems.append(f"duplicate qid {qid} (first on row {first_row[qid]})")
        else:
            first_row[qid] = row
        video = rec["renamed_video"].strip()
        if not _safe_file_name(video):
            row_problems.append(f"renamed_video {video!r} must be a file name inside {vdir}")
        if rec["type"] not in TYPES:
            row_problems.append(f"type {rec['type']!r} is not one of {', '.join(TYPES)}")
        if rec["difficulty"] not in DIFFICULTIES:
            row_problems.append(f"difficulty {rec['difficulty']!r} is not one of {', '.join(DIFFICULTIES)}")
        parsed: list[tuple[list[str], list[str], int | None]] = []
        for k in (1, 2):
            choices = parse_choices(rec[f"choices{k}"])
            if isinstance(choices, str):
                row_problems.append(f"choices{k}: {choices}")
                continue
            numbers, texts = choices
            number = _answer_number(rec[f"correct{k}"])
            if number == "" or (number is not None and number not in numbers):
                row_problems.append(f"correct{k} {rec[f'correct{k}']!r} is not one of the option numbers "
                                    f"{', '.join(numbers)}")
                continue
            parsed.append((numbers, texts, None if number is None else numbers.index(number)))
        if len(parsed) == 2 and (parsed[0][2] is None) != (parsed[1][2] is None):
            row_problems.append("one of correct1/correct2 is blank: both or neither must be given")
        if row_problems:
            problems.extend(DataError(msg, path=csv_path, row=row) for msg in row_problems)
            continue
        strata = {"type": rec["type"], "difficulty": rec["difficulty"],
                  "stratum": f"{rec['type']}_{rec['difficulty']}"}
        for k, (numbers, texts, label) in enumerate(parsed, start=1):
            items.append(QAItem(
                name=f"{qid}/{k}", path=vdir / video, split=split, label=label, pair_id=qid,
                cluster=f"video:{video}", strata=dict(strata), row=row, question=rec["question"],
                candidates=tuple(texts), answer_keys=tuple(numbers), source=SOURCE,
            ))
    return items, problems


def load_split(data_root: str | os.PathLike, split: str, limit: int | None = None) -> list[QAItem]:
    """Items of one split in row order (``<qid>/1`` then ``<qid>/2``).

    ``limit`` keeps the first ``limit`` qids (both askings). Raises :class:`DataError` naming file and
    row on the first malformed row (with the number of further problems). Videos are not required:
    answer files need none; probes skip items whose video is missing (see :func:`coverage`).
    """
    csv_path = metadata_path(data_root, split)
    items, problems = read_metadata(csv_path, canonical_split(split))
    if problems:
        first = problems[0]
        if len(problems) > 1:
            err = DataError(f"{first} (and {len(problems) - 1} more problem(s); `pjbench validate --task causalvqa` "
                            f"lists them all)")
            err.path, err.row = first.path, first.row
            raise err
        raise first
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        keep = set(list(dict.fromkeys(it.pair_id for it in items))[:limit])
        items = [it for it in items if it.pair_id in keep]
    return items


def coverage(items: Sequence[QAItem]) -> dict[str, Any]:
    """``{"items", "with_video", "qids", "videos", "missing_videos", "by_type": {type: {items, with_video}}}``."""
    has = {it.path: it.path.is_file() for it in items}
    by_type: dict[str, Counter] = {}
    for it in items:
        c = by_type.setdefault(it.strata["type"], Counter())
        c["items"] += 1
        c["with_video"] += has[it.path]
    return {"items": len(items), "with_video": sum(has[it.path] for it in items),
            "qids": len({it.pair_id for it in items}), "videos": len(has),
            "missing_videos": sum(not v for v in has.values()),
            "by_type": {k: dict(v) for k, v in sorted(by_type.items())}}
