"""MVPBench leaderboard submission files.

One JSON object per line, one line per item, any order (the official ``generate_leaderboard_submission_df``)::

    {"data_name": "mvp" | "mvp_mini", "task": "<config>", "row_id": "<video_id>", "model_answer": "<candidate text>"}

``data_name`` is ``mvp`` for the ``full`` split and ``mvp_mini`` for ``mini``. The official code writes
candidate 0 for an answer it could not parse (``int(False)``); pjbench refuses to write a file with
unanswered items instead, so that a parsing failure is never submitted as a guess.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import ItemRecord, atomic_write_text
from pjbench.benchmarks.tasks import QAItem

__all__ = ["DATA_NAMES", "submission_rows", "write_submission"]

DATA_NAMES = {"full": "mvp", "mini": "mvp_mini"}


def submission_rows(records: Sequence[ItemRecord], items: Sequence[QAItem]) -> tuple[list[dict], list[str]]:
    """The submission rows (one per item, in item order) and the problems that forbid writing them.

    Every item needs exactly one record with a prediction that indexes its candidates; records of
    unknown items are problems too.
    """
    by_name: dict[str, ItemRecord] = {}
    problems: list[str] = []
    known = {it.name for it in items}
    for r in records:
        if r.name in by_name:
            problems.append(f"item {r.name}: more than one record")
        elif r.name not in known:
            problems.append(f"record {r.name}: not an item of the split")
        by_name.setdefault(r.name, r)
    rows = []
    for it in items:
        r = by_name.get(it.name)
        if r is None or r.prediction is None:
            problems.append(f"item {it.name}: no answer")
            continue
        if not 0 <= int(r.prediction) < len(it.candidates):
            problems.append(f"item {it.name}: prediction {r.prediction} is not a candidate index")
            continue
        if it.split not in DATA_NAMES:
            problems.append(f"item {it.name}: split {it.split!r} is not full or mini")
            continue
        rows.append({"data_name": DATA_NAMES[it.split], "task": it.strata["config"],
                     "row_id": it.name.rsplit("/", 1)[-1],  # a config-prefixed duplicate name -> the video_id
                     "model_answer": it.candidates[int(r.prediction)]})
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row["task"], row["row_id"])
        if key in seen:
            problems.append(f"duplicate row_id {row['row_id']} in {row['task']}")
        seen.add(key)
    return rows, problems


def write_submission(path: str | os.PathLike, records: Sequence[ItemRecord], items: Sequence[QAItem]) -> Path:
    """Validate, then atomically write the JSONL submission; raises :class:`PjbenchError` listing the
    problems (and writes nothing) if any item is unanswered or unknown."""
    rows, problems = submission_rows(records, items)
    if not rows and not problems:
        problems = ["no items to submit"]
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise PjbenchError(f"{path}: refusing to write an invalid MVPBench submission: {shown}")
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
    return Path(path)
