"""The versioned results schema, atomic writers and readers.

A run directory holds:

- ``results.json`` -- one :class:`RunResults` (metrics with n, 95 % CI and chance; protocol; provenance);
- ``items.jsonl``  -- one JSON object per scored video (see :class:`ItemRecord`), enough to recompute
  every metric without the model;
- optional extras (``submission.jsonl`` for HeldOut, ``dev_items.jsonl`` for the dev split used to
  choose hyper-parameters).

Bump ``SCHEMA_VERSION`` on any incompatible change; readers refuse versions they do not know.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from pjbench.benchmarks.errors import PjbenchError

SCHEMA_VERSION = "pjbench.results/1"
RESULTS_FILE = "results.json"
ITEMS_FILE = "items.jsonl"


@dataclass
class MetricValue:
    """One number of a results file. Every number carries its uncertainty and its reference points.

    name:        metric id, e.g. ``pairwise_accuracy``, ``auroc``, ``auprc``, ``abs_accuracy``.
    value:       point estimate in [0, 1] (``None`` when undefined, e.g. AUROC on one class).
    ci_low/high: 95 % bootstrap percentile interval, resampling clusters (scenes) with replacement.
    n:           number of units the metric averages over (``unit``: pairs or videos).
    n_clusters:  number of independent clusters (scenes) resampled by the bootstrap.
    chance:      the value of a random scorer (0.5 for pairwise accuracy and AUROC; prevalence for AUPRC).
    subset:      ``all`` or ``<column>=<value>`` for a breakdown row (``condition=solidity``).
    aggregation: how per-window scores became one per video (``avg`` / ``max``), if applicable.
    """

    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_clusters: int
    chance: float | None
    subset: str = "all"
    aggregation: str | None = None
    unit: str = "pairs"
    higher_is_better: bool = True

    def key(self) -> str:
        agg = f"@{self.aggregation}" if self.aggregation else ""
        return f"{self.name}{agg}[{self.subset}]"


@dataclass
class ItemRecord:
    """One scored video (a line of ``items.jsonl``).

    surprise: ``{context_length: [per-window surprise, ...]}`` (keys are strings in JSON). With
              ``max_context_mode`` the first-window losses of the shorter prefixes come first.
    scores:   per-aggregation score at the context the run reports (``{"avg": s, "max": s}``).
    label:    surprise tasks: 1 = possible, 0 = impossible; QA tasks: index of the right candidate;
              ``None`` = unknown (HeldOut / test).
    from_cache: the item's outputs were read from the feature cache or an interrupted run, not computed.
    prediction: QA tasks: index of the chosen candidate (``None`` = no / unparseable answer, counted wrong).
    candidate_scores: QA tasks: the probe's score per candidate (empty for answer files).
    correct:  QA tasks: ``prediction == label`` (``None`` when the label is unknown).
    fold:     probe track: the cross-validation fold in which the item was held out.
    response: the ``vlm`` readout: ``{system, prompt, text, parsed: {parser: index}, from_cache, meta}``
              (the exact prompt, the raw response and each parser's reading); empty for other readouts.
    conditions: what preprocessing did to the video beyond the protocol's norm
              (:mod:`pjbench.benchmarks.conditions`): ``"non_square:crop 44%"`` (centre crop cut 44 % of the
              long side), ``"vfr"`` (variable frame rate, sampled by timestamp); empty for most items.
    """

    name: str
    split: str
    path: str
    label: int | None
    pair_id: str | None
    cluster: str | None
    strata: dict[str, str] = field(default_factory=dict)
    surprise: dict[str, list[float]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    from_cache: bool = False
    prediction: int | None = None
    candidate_scores: list[float] = field(default_factory=list)
    correct: bool | None = None
    fold: int | None = None
    conditions: list[str] = field(default_factory=list)
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResults:
    """Contents of ``results.json``.

    task:       ``{name, split, data_root, data_fingerprint, limit, n_items (videos in the split), n_selected
                (after --limit), n_scored, skipped: [{name, path, reason}], dev_split, n_dev_items, n_dev_scored,
                dev_skipped}``
    model:      ``ModelInfo.to_dict()`` plus ``preprocessing`` (``Preprocessing.to_dict()``)
    protocol:   readout parameters, context-selection rule and the selected value, bootstrap settings
    metrics:    every number, with breakdown rows (``subset != "all"``)
    provenance: pjbench version, git hash, seed, start/end time, wall time, library versions, command
    files:      paths (relative to the run dir) of ``items`` and any extra outputs
    data:       where the videos came from: ``{source: "synthetic" | "real", generator, seed, manifest}``
                (:func:`pjbench.benchmarks.provenance.data_source`)
    digests:    ``{"items": "sha256:..."}`` of the items file, set by :func:`write_results`; readers recompute
                the headline from it (:mod:`pjbench.benchmarks.integrity`)
    conventions: the metric conventions the numbers follow (``{rule: description}``, from the task's
                ``conventions()``; e.g. ``auprc``, ``abs_accuracy_threshold``, ``ties``, ``pairing``,
                ``parser``), so a results file names the rules it was computed with; ``{}`` in files
                written before it existed
    """

    task: dict[str, Any]
    model: dict[str, Any]
    protocol: dict[str, Any]
    metrics: list[MetricValue]
    provenance: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION
    data: dict[str, Any] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    conventions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "results") -> "RunResults":
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise PjbenchError(f"{source}: unsupported results schema {version!r} (this pjbench reads {SCHEMA_VERSION})")
        metrics = [MetricValue(**m) for m in d.get("metrics", [])]
        return cls(
            task=d["task"],
            model=d["model"],
            protocol=d["protocol"],
            metrics=metrics,
            provenance=d["provenance"],
            files=d.get("files", {}),
            schema_version=version,
            data=d.get("data") or {},
            digests=d.get("digests") or {},
            conventions=d.get("conventions") or {},
        )

    def metric(self, name: str, aggregation: str | None = None, subset: str = "all") -> MetricValue | None:
        for m in self.metrics:
            if m.name == name and m.subset == subset and (aggregation is None or m.aggregation == aggregation):
                return m
        return None


def task_conventions(task: Any, **kwargs: Any) -> dict[str, Any]:
    """The ``conventions`` block of a run of ``task``: its ``conventions(**kwargs)`` (each task names the
    rules of its own metrics), or ``{}`` for a task that has none."""
    fn = getattr(task, "conventions", None)
    return dict(fn(**kwargs)) if callable(fn) else {}


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; results and reports are meant to be shared
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=_json_default, allow_nan=False)


def write_results(run_dir: str | os.PathLike, results: RunResults) -> Path:
    """Write ``results.json``, recording the sha256 of the run's items file (written before) in ``digests``."""
    path = Path(run_dir) / RESULTS_FILE
    items = Path(run_dir) / ((results.files or {}).get("items") or ITEMS_FILE)
    if items.is_file():
        from pjbench.benchmarks.integrity import file_digest

        results.digests = {**(results.digests or {}), "items": file_digest(items)}
    atomic_write_text(path, dumps(results.to_dict()) + "\n")
    return path


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> Path:
    """Atomically write rows (dataclasses or dicts) as JSON lines."""
    lines = []
    for row in rows:
        if hasattr(row, "__dataclass_fields__"):
            row = asdict(row)
        lines.append(json.dumps(row, default=_json_default, allow_nan=False))
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return Path(path)


def read_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield JSON lines; a malformed line raises an error naming file and line. A torn last line (a run
    killed mid-append) is ignored so that resuming works."""
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) and not line.endswith("\n"):
                return
            raise PjbenchError(f"{path}, line {i}: invalid JSON ({exc.msg})") from None


def load_results(run_dir: str | os.PathLike) -> RunResults:
    """Read ``RUN_DIR/results.json`` (or a path to the file itself)."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise PjbenchError(f"{path}: no results file (is this a pjbench run directory?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PjbenchError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    return RunResults.from_dict(data, source=str(path))


def load_items(run_dir: str | os.PathLike, results: RunResults | None = None) -> list[ItemRecord]:
    """Per-item records of a run (``RUN_DIR`` or its ``results.json``)."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    name = (results.files.get("items") if results else None) or ITEMS_FILE
    return [ItemRecord(**row) for row in read_jsonl(run_dir / name)]


# -- the documented schema, one for every readout (README "Output files"; tests/test_readout_contract.py) ----

RESULTS_SCHEMA: dict[str, tuple[str, ...]] = {
    "task": ("name", "split", "data_root", "data_fingerprint", "limit", "n_items", "n_selected", "n_scored", "skipped",
             "dev_split", "n_computed", "n_from_cache", "n_from_previous_run"),
    "model": ("name", "checkpoint", "checkpoint_hash", "revision", "params", "readouts", "identity", "cache"),
    "protocol": ("readout", "n_boot", "ci_level"),
    "provenance": ("pjbench_version", "git_hash", "seed", "started_at", "finished_at", "libraries"),
    "files": ("items",),
    "data": ("source",),
}
METRIC_FIELDS = ("name", "value", "ci_low", "ci_high", "n", "n_clusters", "chance", "subset", "aggregation", "unit",
                 "higher_is_better")
ITEM_FIELDS = ("name", "split", "path", "label", "pair_id", "cluster", "strata")


def schema_problems(results: dict[str, Any], items: list[dict[str, Any]] | None = None) -> list[str]:
    """What a ``results.json`` (as a dict) and its item rows lack of :data:`RESULTS_SCHEMA` (empty = valid)."""
    problems = []
    if results.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version {results.get('schema_version')!r} != {SCHEMA_VERSION!r}")
    for section, keys in RESULTS_SCHEMA.items():
        block = results.get(section)
        if not isinstance(block, dict):
            problems.append(f"{section}: missing")
            continue
        problems += [f"{section}.{k}: missing" for k in keys if k not in block]
    model = results.get("model") or {}
    if isinstance(model.get("identity"), dict) and not model["identity"].get("key"):
        problems.append("model.identity.key: missing")
    if not isinstance(results.get("metrics"), list) or not results.get("metrics"):
        problems.append("metrics: missing or empty")
    else:
        for i, m in enumerate(results["metrics"]):
            problems += [f"metrics[{i}].{k}: missing" for k in METRIC_FIELDS if k not in m]
    if "items" not in (results.get("digests") or {}):
        problems.append("digests.items: missing")
    for i, row in enumerate(items or []):
        problems += [f"items[{i}].{k}: missing" for k in ITEM_FIELDS if k not in row]
        if i > 3:
            break
    t = results.get("task") or {}
    if all(isinstance(t.get(k), int) for k in ("n_computed", "n_from_cache", "n_from_previous_run", "n_scored")) \
            and t["n_computed"] + t["n_from_cache"] + t["n_from_previous_run"] != t["n_scored"]:
        problems.append("task: n_computed + n_from_cache + n_from_previous_run != n_scored")
    return problems
