"""CausalVQA test-split answer files.

No public leaderboard format for CausalVQA could be confirmed (the official repository scores only the
debug split; its README points to the shared physical-reasoning leaderboard without a file spec). pjbench
writes what the benchmark's own data model implies, one JSON object per question, any order::

    {"qid": "<qid>", "answer1": <option number for choices1>, "answer2": <option number for choices2>}

Option numbers are the ``N`` of the ``"N. text"`` options (integers 1-5), not letters, because
``choices2`` reorders the options and the number is what ``correct1``/``correct2`` use. Check the
leaderboard's instructions before submitting and convert if it asks for something else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import ItemRecord, atomic_write_text
from pjbench.benchmarks.tasks import QAItem

__all__ = ["submission_rows", "write_submission"]


def submission_rows(records: Sequence[ItemRecord], items: Sequence[QAItem]) -> tuple[list[dict], list[str]]:
    """One row per qid (in item order) and the problems that forbid writing them: every qid once, both
    askings answered with an option number of their list, no records of unknown items."""
    by_name: dict[str, ItemRecord] = {}
    problems: list[str] = []
    known = {it.name: it for it in items}
    for r in records:
        if r.name in by_name:
            problems.append(f"item {r.name}: more than one record")
        elif r.name not in known:
            problems.append(f"record {r.name}: not an item of the split")
        by_name.setdefault(r.name, r)
    rows: dict[str, dict] = {}
    reported: set[tuple[str, str]] = set()
    for it in items:
        qid, _, k = it.name.rpartition("/")
        row = rows.setdefault(qid, {"qid": qid})
        r = by_name.get(it.name)
        if r is None or r.prediction is None:
            problems.append(f"qid {qid}: no answer{k}")
            reported.add((qid, k))
            continue
        if not 0 <= int(r.prediction) < len(it.answer_keys):
            problems.append(f"qid {qid}: answer{k} index {r.prediction} is not an option")
            reported.add((qid, k))
            continue
        row[f"answer{k}"] = int(it.answer_keys[int(r.prediction)])
    out = list(rows.values())
    for row in out:
        for k in ("1", "2"):
            key = f"answer{k}"
            if key not in row and (row["qid"], k) not in reported:
                problems.append(f"qid {row['qid']}: no {key} item in the split")
            elif key in row and not 1 <= row[key] <= 5:
                problems.append(f"qid {row['qid']}: {key}={row[key]} is not in 1..5")
    return out, problems


def write_submission(path: str | os.PathLike, records: Sequence[ItemRecord], items: Sequence[QAItem]) -> Path:
    """Validate, then atomically write the JSONL file; raises :class:`PjbenchError` listing the problems."""
    rows, problems = submission_rows(records, items)
    if not rows and not problems:
        problems = ["no questions to submit"]
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise PjbenchError(f"{path}: refusing to write an invalid CausalVQA answer file: {shown}")
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
    return Path(path)
