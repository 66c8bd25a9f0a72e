"""Score a model's answer file on a multiple-choice task (MVPBench, CausalVQA) into a standard run dir.

A video-language model run elsewhere (lmms-eval, an API) leaves one answer per item. :func:`score`
reads that file, parses every answer with the task's own :meth:`~pjbench.benchmarks.tasks.QATask.parse_answer`
under a named parser (``official``, the default, does exactly what the benchmark's official scorer does;
``lenient`` and ``strict`` are pjbench's, see :mod:`pjbench.mvpbench.parsers` and
:mod:`pjbench.causalvqa.parsers`), and writes ``results.json`` + ``items.jsonl`` exactly like a probe run,
so reports can show answer-file models next to frozen-encoder probes. The parser's name goes into
``protocol.parser`` and ``conventions.parser``, and the items another parser would read differently are
counted (``task.answers.parser_disagreements``).

Accepted prediction files (one answer per line; ``.jsonl``/``.json`` are JSON lines, ``.csv`` is CSV
with a header; other extensions are sniffed):

- an item id under ``id``, ``name``, ``row_id``, ``video_id`` or ``item_id`` and an answer under
  ``answer``, ``model_answer``, ``prediction``, ``pred``, ``response`` or ``output``. Item ids are the
  task's item names: MVPBench ``video_id`` (so an MVPBench leaderboard file is itself a valid input;
  its ``task`` column disambiguates a ``video_id`` found in two configs), CausalVQA ``<qid>/1`` and
  ``<qid>/2``;
- CausalVQA also: ``qid`` with ``answer1`` and/or ``answer2`` (the answer file pjbench writes);
- the answer is read by the chosen parser: under ``official`` a letter or free text (as the official
  scorers read model output: candidate texts and option numbers are wrong); ``lenient`` also reads the
  candidate text and, on CausalVQA, an option number (the form of pjbench's own CausalVQA answer files).

Counting: an item without a line is *missing*, an answer the parser cannot read is *unparseable*;
both count as wrong (the official scorers do the same). Ids that are not items of the split are
*unknown* and reported; a second line for the same item is a *duplicate* (the first one is used).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.provenance import base_provenance, data_source, fingerprint_items, utcnow
from pjbench.benchmarks.runlock import holding_out_lock
from pjbench.benchmarks.results import (
    ITEMS_FILE,
    RESULTS_FILE,
    ItemRecord,
    RunResults,
    task_conventions,
    write_jsonl,
    write_results,
)
from pjbench.benchmarks.tasks import TASKS, QAItem, QATask, spec_of

__all__ = ["ANSWER_KEYS", "ID_KEYS", "AnswerLine", "match_answers", "read_predictions", "score"]

ID_KEYS = ("id", "name", "row_id", "video_id", "item_id")
ANSWER_KEYS = ("answer", "model_answer", "prediction", "pred", "response", "output")
PAIR_KEYS = ("answer1", "answer2")
_SAMPLE = 20  # ids listed in the results per problem category


@dataclass(frozen=True)
class AnswerLine:
    """One answer read from a predictions file: ``line`` is 1-based (CSV: the data row + 1)."""

    line: int
    id: str
    answer: Any
    task: str | None = None


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if k in obj), None)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read predictions ({exc.strerror or exc})", path=path) from None
    ext = path.suffix.lower()
    as_json = ext in (".jsonl", ".json", ".ndjson") or (ext != ".csv" and text.lstrip().startswith("{"))
    if as_json:
        for i, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(f"line {i}: invalid JSON ({exc.msg})", path=path) from None
            if not isinstance(obj, dict):
                raise DataError(f"line {i}: expected a JSON object per line", path=path)
            yield i, obj
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise DataError("CSV has no header row", path=path)
        n_fields = len(reader.fieldnames)
        for i, rec in enumerate(reader, start=2):
            extra = rec.get(None)
            if extra is not None or any(v is None for v in rec.values()):
                n = n_fields + len(extra or ()) - sum(1 for k, v in rec.items() if k is not None and v is None)
                raise DataError(f"line {i}: {n} field(s), the header has {n_fields} "
                                f"({', '.join(reader.fieldnames)}); quote answers that contain commas", path=path)
            yield i, rec


def read_predictions(path: str | os.PathLike) -> list[AnswerLine]:
    """Every answer of a predictions file (format in the module docstring), in file order.

    A line with neither an id+answer nor a ``qid`` + ``answer1``/``answer2`` raises :class:`DataError`
    naming file and line. A ``qid`` row yields one answer per ``answerK`` present (id ``<qid>/K``).
    """
    path = Path(path)
    out: list[AnswerLine] = []
    for line, obj in _rows(path):
        task = obj.get("task") if isinstance(obj.get("task"), str) else obj.get("config")
        id_key, ans_key = _first(obj, ID_KEYS), _first(obj, ANSWER_KEYS)
        if "qid" in obj and any(k in obj for k in PAIR_KEYS):
            for k, key in enumerate(PAIR_KEYS, start=1):
                if key in obj:
                    out.append(AnswerLine(line, f"{obj['qid']}/{k}", obj[key], task))
        elif id_key is not None and ans_key is not None:
            out.append(AnswerLine(line, str(obj[id_key]), obj[ans_key], task))
        else:
            raise DataError(
                f"line {line}: no item id ({', '.join(ID_KEYS)}) with an answer ({', '.join(ANSWER_KEYS)}), "
                f"nor qid with answer1/answer2; found keys {', '.join(map(str, obj)) or 'none'}", path=path,
            )
    if not out:
        raise DataError("predictions file has no answers", path=path)
    return out


def _parsers(task: QATask) -> tuple[str, ...]:
    return tuple(getattr(task, "parsers", ("official",)))


def _parse(task: QATask, answer: Any, item: QAItem, parser: str) -> int | None:
    if not hasattr(task, "parsers"):  # a third-party task with one parser
        return task.parse_answer(answer, item)
    return task.parse_answer(answer, item, parser=parser)


def match_answers(
    task: QATask, items: list[QAItem], lines: list[AnswerLine], parser: str = "official"
) -> tuple[dict[str, int | None], dict[str, Any]]:
    """``({item name: candidate index or None}, counts)`` for the items that have a line, read by ``parser``.

    ``counts``: ``lines``, ``items``, ``answered``, ``missing``, ``unparseable``, ``unknown_ids``,
    ``duplicates`` and samples of the ids behind each (``*_examples``); ``parser_disagreements``:
    ``{other parser: items it reads differently}`` with examples (``parser_disagreement_examples``), so a
    file of candidate texts or option numbers scored by the official parser says why it scores low.
    """
    by_name = {it.name: it for it in items}
    picked: dict[str, int | None] = {}
    unknown: list[str] = []
    duplicates: list[str] = []
    unparseable: list[str] = []
    disagree: dict[str, list[str]] = {}
    for ln in lines:
        name = ln.id if ln.id in by_name else (f"{ln.task}/{ln.id}" if ln.task else None)
        if name not in by_name:
            unknown.append(ln.id)
            continue
        if name in picked:
            duplicates.append(name)
            continue
        idx = _parse(task, ln.answer, by_name[name], parser)
        picked[name] = idx
        if idx is None:
            unparseable.append(name)
        for other in _parsers(task):
            if other != parser and _parse(task, ln.answer, by_name[name], other) != idx:
                disagree.setdefault(other, []).append(name)
    missing = [it.name for it in items if it.name not in picked]
    counts = {
        "lines": len(lines), "items": len(items), "answered": len(picked), "missing": len(missing),
        "unparseable": len(unparseable), "unknown_ids": len(unknown), "duplicates": len(duplicates),
        "missing_examples": missing[:_SAMPLE], "unparseable_examples": unparseable[:_SAMPLE],
        "unknown_id_examples": unknown[:_SAMPLE], "duplicate_examples": duplicates[:_SAMPLE],
        "parser": parser,
        "parser_disagreements": {p: len(disagree.get(p, [])) for p in _parsers(task) if p != parser},
        "parser_disagreement_examples": {p: names[:_SAMPLE] for p, names in disagree.items()},
    }
    return picked, counts


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _answer_model(name: str, predictions: Path) -> dict[str, Any]:
    """The ``model`` block of an answer-file run: the file is the model (its hash is the identity)."""
    digest = _sha256(predictions)
    identity = {"name": name, "predictions_hash": digest, "key": hashlib.sha256(f"{name}\0{digest}".encode()).hexdigest()[:16]}
    return {"name": name, "checkpoint": None, "checkpoint_hash": None, "revision": None, "params": 0,
            "readouts": ["answers"], "extra": {"predictions": str(predictions.resolve()), "predictions_hash": digest},
            "identity": identity, "cache": {"enabled": False, "root": None, "store": None}}


@holding_out_lock
def score(
    task: str,
    data_root: str | os.PathLike,
    predictions: str | os.PathLike,
    out: str | os.PathLike,
    split: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    *,
    model_name: str | None = None,
    task_options: dict[str, Any] | None = None,
    overwrite: bool | str = False,
    min_coverage: float = 95.0,
    allow_missing: bool = False,
    parser: str | None = None,
) -> tuple[RunResults, Path]:
    """Score an answer file on ``task``/``split`` and write a run directory; returns ``(results, path)``.

    Args:
        task: a registered task with ``readout == "probe"`` (``mvpbench``, ``causalvqa``).
        data_root: the task's data folder (answers are matched to its items; videos are not needed).
        predictions: JSONL or CSV answer file (forms in the module docstring).
        out: run directory to create (``results.json``, ``items.jsonl``; for an unlabelled split a
            ``submission.jsonl`` when every item has a readable answer).
        split: default the task's ``default_split``.
        model_name: name shown in reports (default: the predictions file's stem).
        task_options: keyword arguments for the task (MVPBench: ``videos_root``, ``configs``).
        overwrite: ``True`` / ``"always"`` replaces an existing ``results.json`` in ``out``; otherwise
            (``False``, ``"only-missing"``, ``"never"``: an answer file has nothing to resume) refuse.
        min_coverage: percent of the split's items that must have an answer line; below it
            :class:`PjbenchError` (listing missing ids) unless ``allow_missing``.
        parser: the task's answer parser (``official`` by default: the official scorer's rule; ``lenient``,
            ``strict``); its name is recorded in ``protocol.parser`` and ``conventions.parser``.

    Every item of the split gets a record: missing and unparseable answers have ``prediction=None`` and
    count as wrong. The counts go to ``results.task["answers"]`` and the protocol names the parser.
    """
    t0, started_at = time.time(), utcnow()
    task_obj = TASKS.build(task, **(task_options or {}))
    spec = spec_of(task)
    if (spec is not None and spec.item_kind != "multiple_choice") or not isinstance(task_obj, QATask):
        raise PjbenchError(f"task {task} is not a multiple-choice task; answer files can be scored on "
                           f"{', '.join(sp.name for sp in TASKS.specs() if sp.item_kind == 'multiple_choice')}")
    split = split or task_obj.default_split
    parser = parser or getattr(task_obj, "default_parser", "official")
    if parser not in _parsers(task_obj):
        raise PjbenchError(f"--parser {parser}: task {task} has the parsers {', '.join(_parsers(task_obj))}")
    predictions = Path(predictions)
    out = Path(out)
    replace = overwrite is True or overwrite == "always"  # the evaluator's modes; only-missing: nothing to resume
    if (out / RESULTS_FILE).exists() and not replace:
        raise PjbenchError(f"{out} already holds a run; choose another output folder or overwrite it")
    items = [it for it in task_obj.load(data_root, split) if isinstance(it, QAItem)]
    if not items:
        raise PjbenchError(f"{task}/{split} under {data_root} has no items to score")
    lines = read_predictions(predictions)
    picked, counts = match_answers(task_obj, items, lines, parser)
    if counts["answered"] == 0:
        raise PjbenchError(
            f"{predictions}: none of its {counts['lines']} answer(s) matches an item of {task}/{split} "
            f"(e.g. id {counts['unknown_id_examples'][:1]}); item ids look like {items[0].name!r}"
        )

    coverage = 100.0 * counts["answered"] / len(items)
    counts["coverage_percent"] = round(coverage, 3)
    if coverage < min_coverage and not allow_missing:
        raise PjbenchError(
            f"{predictions}: answers for {counts['answered']} of {len(items)} items of {task}/{split} "
            f"({coverage:.1f} %), below --min-coverage {min_coverage:g} %; missing e.g. "
            f"{', '.join(map(str, counts['missing_examples'][:3]))}. Pass --allow-missing to score anyway "
            "(missing answers count as wrong)")

    records = []
    for it in items:
        pred = picked.get(it.name)
        records.append(ItemRecord(
            name=it.name, split=it.split, path=str(it.path), label=it.label, pair_id=it.pair_id, cluster=it.cluster,
            strata=dict(it.strata), prediction=pred,
            correct=None if it.label is None else (pred is not None and pred == it.label),
        ))
    metrics = task_obj.metrics(records, n_boot=n_boot, seed=seed)

    out.mkdir(parents=True, exist_ok=True)
    files = {"items": ITEMS_FILE}
    write_jsonl(out / ITEMS_FILE, records)
    submission: dict[str, Any] = {}
    if all(it.label is None for it in items):
        try:
            sub = task_obj.write_submission(out / "submission.jsonl", records, items)
            if sub is not None:
                files["submission"] = sub.name
        except PjbenchError as exc:
            submission = {"written": False, "why": str(exc)}
    dropped = getattr(getattr(task_obj, "last_load", None), "dropped", None) or []

    prov = base_provenance(seed, "none")
    prov.update({"started_at": started_at, "finished_at": utcnow(), "wall_time_s": round(time.time() - t0, 3)})
    results = RunResults(
        task={"name": task, "split": split, "data_root": str(Path(data_root).resolve()),
              "data_fingerprint": fingerprint_items(items), "limit": None, "n_items": len(items),
              "n_selected": len(items), "n_scored": len(records), "skipped": dropped, "dev_split": None,
              "answers": counts, **({"submission": submission} if submission else {}),
              "n_computed": len(records), "n_from_cache": 0, "n_from_previous_run": 0},
        model=_answer_model(model_name or predictions.stem, predictions),
        protocol={"readout": "answers", "parser": parser,
                  "headline": getattr(task_obj, "headline", None), "missing_answers": "wrong",
                  "unparseable_answers": "wrong", "min_coverage_percent": min_coverage,
                  "allow_missing": bool(allow_missing), "n_boot": n_boot, "ci_level": 0.95},
        metrics=metrics, provenance=prov, files=files, data=data_source(data_root),
        conventions=task_conventions(task_obj, parser=parser),
    )
    return results, write_results(out, results)
