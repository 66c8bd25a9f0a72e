"""IntPhys 2 leaderboard submission files (HeldOut).

One JSON object per line, any order, one line per HeldOut video::

    {"data_name": "intphys2", "task": "HeldOut", "row_id": "<64-hex video name>", "model_answer": 1}

``model_answer`` is 1 for *possible* and 0 for *impossible* (the opposite polarity of the surprise
metrics, where impossible is the positive class). A surprise model needs a threshold to answer; it must
be chosen on Main or Debug (:func:`answers_from_scores`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.results import atomic_write_text

__all__ = ["DATA_NAME", "answers_from_scores", "read_submission", "validate_submission", "write_submission"]

DATA_NAME = "intphys2"
_ROW_ID = re.compile(r"[0-9a-fA-F]{64}")
_KEYS = ("data_name", "task", "row_id", "model_answer")


def answers_from_scores(scores: Sequence[float] | np.ndarray, threshold: float) -> list[int]:
    """Surprise scores -> answers: 0 (impossible) iff ``score > threshold``, else 1 (possible).

    Away from the threshold this is the rule of :func:`pjbench.intphys2.threshold.abs_accuracy`, so the
    leaderboard's accuracy is what ``abs_accuracy`` reports on a labelled split at that threshold. A score
    exactly AT the threshold counts wrong in ``abs_accuracy`` whatever the label (the official rule); a
    submission has to answer something, and says possible (the threshold is a possible video's score).
    """
    s = np.asarray(scores, dtype=float).reshape(-1)
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite (found NaN or inf)")
    return [0 if v > threshold else 1 for v in s.tolist()]


def _answer(value: Any) -> int | None:
    """``value`` as 0/1, or ``None`` if it is not exactly an integer 0 or 1 (bools and 1.0 are refused)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return int(value)
    return None


def validate_submission(names: Sequence[str], answers: Sequence[int]) -> list[str]:
    """Problems that would make the leaderboard reject the file (empty list = fine).

    Each message names the 1-based position (= output line) of the offending entry.
    """
    problems: list[str] = []
    if len(names) != len(answers):
        return [f"{len(names)} row ids but {len(answers)} answers"]
    if not names:
        return ["no rows to submit"]
    first: dict[str, int] = {}
    for line, (name, ans) in enumerate(zip(names, answers), start=1):
        if not isinstance(name, str) or not _ROW_ID.fullmatch(name):
            problems.append(f"line {line}: row_id {name!r} is not a 64-character hex video name")
        elif name in first:
            problems.append(f"line {line}: duplicate row_id {name} (first on line {first[name]})")
        else:
            first[name] = line
        if _answer(ans) is None:
            problems.append(f"line {line}: model_answer {ans!r} must be 1 (possible) or 0 (impossible)")
    return problems


def write_submission(
    path: str | os.PathLike, names: Sequence[str], answers: Sequence[int], task: str = "HeldOut"
) -> Path:
    """Validate, then atomically write the JSONL submission; returns the path.

    ``names``: the videos' 64-hex names (``VideoItem.name``); ``answers``: 1 = possible, 0 = impossible,
    aligned with ``names``. Raises :class:`PjbenchError` listing the problems (and writes nothing) if
    the rows are invalid.
    """
    names, answers = list(names), list(answers)
    problems = validate_submission(names, answers)
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise PjbenchError(f"{path}: refusing to write an invalid submission: {shown}")
    lines = (
        json.dumps({"data_name": DATA_NAME, "task": task, "row_id": n, "model_answer": _answer(a)}) + "\n"
        for n, a in zip(names, answers)
    )
    atomic_write_text(path, "".join(lines))
    return Path(path)


def read_submission(path: str | os.PathLike, task: str | None = "HeldOut") -> dict[str, int]:
    """Read and validate a submission file: ``{row_id: model_answer}`` in file order.

    Every line must be a JSON object with exactly the keys ``data_name`` (``"intphys2"``), ``task``
    (equal to ``task`` unless it is ``None``), ``row_id`` (64-hex, unique) and ``model_answer`` (0 or 1).
    Blank lines are skipped. Raises :class:`DataError` naming the file and line of the first problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read submission ({exc.strerror or exc})", path=path) from None
    out: dict[str, int] = {}
    first: dict[str, int] = {}

    def fail(line: int, msg: str) -> DataError:
        return DataError(f"line {line}: {msg}", path=path)

    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise fail(line, f"invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise fail(line, "expected a JSON object")
        if set(obj) != set(_KEYS):
            raise fail(line, f"keys must be exactly {', '.join(_KEYS)}; got {', '.join(map(str, obj))}")
        if obj["data_name"] != DATA_NAME:
            raise fail(line, f"data_name must be {DATA_NAME!r}, got {obj['data_name']!r}")
        if task is not None and obj["task"] != task:
            raise fail(line, f"task must be {task!r}, got {obj['task']!r}")
        row_id = obj["row_id"]
        if not isinstance(row_id, str) or not _ROW_ID.fullmatch(row_id):
            raise fail(line, f"row_id {row_id!r} is not a 64-character hex video name")
        if row_id in first:
            raise fail(line, f"duplicate row_id {row_id} (first on line {first[row_id]})")
        answer = _answer(obj["model_answer"])
        if answer is None:
            raise fail(line, f"model_answer {obj['model_answer']!r} must be 1 (possible) or 0 (impossible)")
        first[row_id] = line
        out[row_id] = answer
    if not out:
        raise DataError("submission has no rows", path=path)
    return out
