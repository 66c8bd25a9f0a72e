"""The Task protocol, the item a loader yields, and the task registry.

Data flows one way: ``Task.load`` -> items -> (decoding, encoder, readout: :mod:`pjbench.benchmarks.runner`)
-> per-item scores -> ``Task.metrics`` -> results file -> report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

from importlib import metadata

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from pjbench.benchmarks.results import ItemRecord, MetricValue
    from pjbench.benchmarks.taskspec import TaskSpec


@dataclass(frozen=True)
class VideoItem:
    """One video of a split.

    name:    unique id within the split (IntPhys 2: the 64-hex ``name``, also the leaderboard ``row_id``).
    path:    absolute path of the video file.
    label:   1 = physically possible, 0 = impossible, ``None`` = unknown (HeldOut).
    pair_id: items sharing a pair id are compared with each other (IntPhys 2: ``SceneIndex|run``).
    cluster: unit of independent resampling for the bootstrap (IntPhys 2: ``SceneIndex``).
    strata:  breakdown columns (condition, Difficulty, Camera, occluder, ...), all strings.
    row:     1-based data row in the metadata file (for error messages), if any.
    """

    name: str
    path: Path
    split: str
    label: int | None
    pair_id: str | None = None
    cluster: str | None = None
    strata: dict[str, str] = field(default_factory=dict)
    row: int | None = None


@dataclass(frozen=True)
class QAItem(VideoItem):
    """One question about one video, with candidate answers (MVPBench, CausalVQA).

    label:      index of the right candidate in ``candidates`` (0-based), ``None`` when unknown (test split).
    pair_id:    items answered as a unit (MVPBench: ``video_id`` minus its last ``_<idx>``; CausalVQA: ``qid``,
                asked twice with the two choice lists).
    question:   the question text; candidates: candidate answers in the release's order.
    answer_keys: what a submission / prediction file calls each candidate (MVPBench: the candidate text;
                CausalVQA: the option numbers ``"1"``..``"5"``), aligned with ``candidates``.
    source:     data source (MVPBench ``source``; CausalVQA: ``"egoexo4d"``); also in ``strata``.
    """

    question: str = ""
    candidates: tuple[str, ...] = ()
    answer_keys: tuple[str, ...] = ()
    source: str | None = None


@dataclass
class ValidationReport:
    """What ``pjbench validate`` prints. ``errors`` make the exit status non-zero; ``warnings`` do not."""

    task: str
    data_root: str
    counts: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@runtime_checkable
class Task(Protocol):
    """A benchmark: what every task implements, whatever its readout."""

    name: str
    description: str
    readout: str  # "surprise" (SurpriseTask) or "probe" (QATask)
    splits: Sequence[str]
    default_split: str
    dev_split: str | None  # split used to choose hyper-parameters; never the reported one

    def load(self, data_root: str | Path, split: str, limit: int | None = None) -> list[VideoItem]:
        """Items of ``split``. Raise :class:`pjbench.benchmarks.errors.DataError` naming file and row."""
        ...

    def validate(self, data_root: str | Path, check_videos: bool = True) -> ValidationReport:
        """Check a release folder. A task may also take ``protocol``
        (:class:`pjbench.benchmarks.conditions.ModelProtocol`): then, with ``check_videos``, it reports what eval
        under that protocol would skip (too few frames for a window) or change (non-square crop, variable
        frame rate)."""
        ...

    def metrics(self, records: Sequence["ItemRecord"], *, n_boot: int, seed: int, threshold: Any = None) -> list["MetricValue"]:
        """All numbers of the results file from per-item records (headline and breakdown rows).
        ``threshold`` (surprise tasks) is whatever :meth:`SurpriseTask.thresholds` returned on the dev split."""
        ...

    def has_split(self, data_root: str | Path, split: str) -> bool:
        """Whether ``split`` is present (with labels, where it has any) under ``data_root``."""
        ...

    def dev_splits_for(self, split: str) -> Sequence[str]:
        """Candidate dev splits for reporting ``split``, in order of preference; never ``split`` itself."""
        ...


@runtime_checkable
class SurpriseTask(Task, Protocol):
    """A task scored zero-shot by the surprise readout (IntPhys 2). Implementation:
    :class:`pjbench.intphys2.task.IntPhys2Task`."""

    selection_criterion: str  # what ``selection_score`` computes, recorded in the results

    def selection_score(self, records: Sequence["ItemRecord"]) -> float | None:
        """The criterion hyper-parameters are chosen by on the dev split (higher is better)."""
        ...

    def thresholds(self, dev_records: Sequence["ItemRecord"]) -> Any:
        """Decision thresholds fitted on the dev split (for absolute accuracy and submissions)."""
        ...

    def write_submission(self, path: Path, records: Sequence["ItemRecord"], thresholds: Any) -> Path | None:
        """Leaderboard file for an unlabelled split, or None if the task has none."""
        ...


@runtime_checkable
class QATask(Task, Protocol):
    """A multiple-choice task on videos (MVPBench, CausalVQA): items are :class:`QAItem`; records carry
    ``prediction`` / ``correct``; scored by the attentive-probe track or from answer files."""

    n_choices: int  # candidates per item (MVPBench 2, CausalVQA 5)

    def parse_answer(self, answer: Any, item: QAItem) -> int | None:
        """Candidate index of a model's answer, or ``None`` when it cannot be parsed (counted wrong). The
        built-in tasks also take ``parser=`` (one of their ``parsers``: ``official``, the default, reads the
        answer exactly as the official scorer does; ``lenient``; ``strict``) and have ``conventions(parser)``
        for the results' ``conventions`` block."""
        ...

    def write_submission(self, path: Path, records: Sequence["ItemRecord"], items: Sequence[QAItem]) -> Path | None:
        """Leaderboard file in the format the official leaderboard accepts (validated before writing)."""
        ...


# What each task readout needs from a model: one of the model's declared ``readouts`` (``pjbench list``).
MODEL_READOUT_NEEDED = {"surprise": "surprise", "probe": "features"}


def check_model_readouts(model: str, readouts: Any, task: str, task_readout: str, need: str | None = None) -> None:
    """Refuse a model whose declared readouts (a tuple or the registry's comma-separated string) lack what
    the readout ``task_readout`` needs (``need``, default from :data:`MODEL_READOUT_NEEDED`), naming both sides."""
    have = [r.strip() for r in (readouts.split(",") if isinstance(readouts, str) else readouts) if r.strip()]
    need = need or MODEL_READOUT_NEEDED.get(task_readout, task_readout)
    if need not in have:
        how = "an attentive probe on frozen features" if task_readout == "probe" else f"the {task_readout} readout"
        raise PjbenchError(f"model {model} has readouts {', '.join(have) or 'none'}; task {task} needs {need} "
                           f"(it is scored by {how}) -- see `pjbench list` for a model that has it")


class TaskRegistry(Registry):
    """Tasks by name, each from its :class:`~pjbench.benchmarks.taskspec.TaskSpec`: built-in specs are named by
    ``"module:SPEC"`` and imported on first use; plugins add theirs through the ``pjbench.tasks`` entry-point
    group (an entry point naming a ``TaskSpec``, or a task class with a ``spec`` attribute)."""

    def __init__(self) -> None:
        super().__init__("task", entry_point_group="pjbench.tasks")
        self._spec_targets: list[str] = []

    def register_spec(self, spec: "TaskSpec", *, source: str = "builtin", overwrite: bool = False) -> Any:
        return self.register(spec.name, spec.target, spec.description, source=source, overwrite=overwrite,
                             **spec.registry_info())

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from pjbench.benchmarks.registry import resolve_target
        from pjbench.benchmarks.taskspec import TaskSpec

        for target in self._spec_targets:
            spec = resolve_target(target)
            if spec.name not in self._entries:
                self.register_spec(spec)
        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                continue
            dist = getattr(getattr(ep, "dist", None), "name", None) or "plugin"
            obj = ep.load()
            spec = obj if isinstance(obj, TaskSpec) else getattr(obj, "spec", None)
            if not isinstance(spec, TaskSpec):
                raise PjbenchError(f"task plugin {ep.name} ({dist}): the entry point must name a TaskSpec "
                                   "(or a task class with a `spec` attribute)")
            if spec.name != ep.name:
                raise PjbenchError(f"task plugin {ep.name} ({dist}): its spec is named {spec.name!r}")
            self.register_spec(spec, source=dist)

    def spec(self, name: str) -> "TaskSpec":
        """The spec of a registered task (:class:`PjbenchError` for an unknown name, or a task registered
        without one)."""
        info = self.get(name).info
        if "spec" not in info:
            raise PjbenchError(f"task {name} was registered without a TaskSpec (TASKS.register_spec declares one)")
        return info["spec"]

    def specs(self) -> list["TaskSpec"]:
        """Every registered spec: built-ins in declaration order, then plugins by name."""
        self._load_plugins()
        return [e.info["spec"] for e in self._entries.values() if "spec" in e.info]


TASKS = TaskRegistry()
TASKS._spec_targets = [
    "pjbench.intphys2.spec:INTPHYS2",
    "pjbench.intphys2.spec:INTPHYS2019",
    "pjbench.mvpbench.spec:MVPBENCH",
    "pjbench.causalvqa.spec:CAUSALVQA",
]


def default_task() -> str:
    """The task ``eval`` / ``validate`` / ``ablate`` use without ``--task``: the first built-in spec."""
    return TASKS.specs()[0].name


def spec_of(name: str) -> "TaskSpec | None":
    """The spec of task ``name``, or ``None`` when no such task is registered (a results file from elsewhere)."""
    try:
        return TASKS.spec(name)
    except PjbenchError:
        return None
