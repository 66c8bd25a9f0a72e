"""One declaration per benchmark: :class:`TaskSpec` (the model is MTEB's ``TaskMetadata``).

Each task package declares its spec once (``pjbench/<task>/spec.py``: no heavy imports); the task
registry, the CLI (``--task``/``--split``/``--readout`` help, ``list``), the evaluator (splits, dev split,
default readout), the integrity checks (headline, macro strata), the report catalog and the leaderboard
exports read it. No task name is hard-coded outside its package.

Third-party benchmarks add a spec through the ``pjbench.tasks`` entry-point group: the entry point names
a :class:`TaskSpec` object (``mypkg.spec:SPEC``) whose ``target`` is the task class (``mypkg.task:MyTask``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ITEM_KINDS", "DemoPlan", "Reference", "TaskSpec"]

# What a task's items are, which decides the readouts that can read them (see pjbench.benchmarks.readouts).
ITEM_KINDS = ("surprise_pairs", "multiple_choice")


@dataclass(frozen=True)
class Reference:
    """A published number (fraction), quoted as reported, with its source; never mixed with measured rows."""

    label: str  # "Humans", "V-JEPA 2 (as reported)"
    value: float
    source: str
    note: str = ""


@dataclass(frozen=True)
class DemoPlan:
    """How ``pjbench demo`` runs a benchmark on its synthetic suite (:mod:`pjbench.benchmarks.demo`).

    data_dir: the suite's folder under ``<demo>/data/``; split: the split reported; readout: the readout
    evaluated (its demo settings live with the demo); models: the models run (empty: every offline
    built-in model whose readouts include what the readout needs); suite_scale / suite_options: the
    synthetic writer's ``scale`` (multiplied by ``demo --scale``) and other options; columns: subsets
    the demo's text summary shows beside the headline (``"visibility=visible"``); more: further
    ``(readout, models)`` runs on the same suite (e.g. the ``vlm`` readout's answer-random floor)."""

    data_dir: str
    split: str
    readout: str
    models: tuple[str, ...] = ()
    suite_scale: float = 1.0
    suite_options: tuple[tuple[str, Any], ...] = ()
    columns: tuple[str, ...] = ()
    more: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    """Everything pjbench knows about a benchmark before loading it.

    name / title / description: registry name, display title, one-line description (``pjbench list``).
    target: ``"module:Class"`` of the task implementation (imported only when the task is built).
    item_kind: ``surprise_pairs`` (matched possible/impossible videos) or ``multiple_choice``.
    default_readout: the readout ``eval`` uses without ``--readout``.
    splits / default_split: the release's splits, the one reported by default.
    dev_split: where hyper-parameters are chosen (``None``: no separate labelled dev split);
    dev_rule: the rule in words (shown in help and results).
    headline_metric / headline_aggregation: the headline row of ``results.json`` (aggregation ``None``
    for metrics without one). chance: the chance level of the headline.
    primary_split: the split the overview's cross-benchmark macro mean uses.
    macro_over: strata column(s) the headline is a macro mean over (empty: pooled); macro_key: the item
    strata column that combines several of them (CausalVQA: ``stratum`` = type_difficulty).
    breakdowns: strata columns shown, compared and exported, in this order.
    cross: (row axis, column axes) of the report's cross table, or ``None``.
    cluster_key: what the bootstrap resamples (words; the loader puts it in ``ItemRecord.cluster``).
    references: published numbers. in_overview_macro: part of the overview's cross-benchmark mean.
    reference_model: the model ``pjbench validate`` checks videos against by default.
    options: task constructor options the CLI may pass (e.g. ``videos_root``).
    demo: how ``pjbench demo`` runs it on its synthetic suite (``None``: not in the demo).
    value_order: per strata column, the order its values are shown in (others: alphabetical).
    vlm_protocol: module of the official video-language model protocol (``chat_for(item)``, ``SAMPLING``,
    ``GENERATION``), read by the ``vlm`` readout; ``None``: the benchmark has none.
    """

    name: str
    title: str
    description: str
    target: str
    item_kind: str
    default_readout: str
    splits: tuple[str, ...]
    default_split: str
    dev_split: str | None
    headline_metric: str
    chance: float
    headline_aggregation: str | None = None
    dev_rule: str = ""
    primary_split: str | None = None
    macro_over: tuple[str, ...] = ()
    breakdowns: tuple[str, ...] = ()
    cross: tuple[str, tuple[str, ...]] | None = None
    cluster_key: str = ""
    headline_text: str = ""
    references: tuple[Reference, ...] = field(default_factory=tuple)
    in_overview_macro: bool = False
    reference_model: str | None = "vjepa2"
    options: tuple[str, ...] = ()
    macro_key: str | None = None  # the item strata column holding the combined macro stratum (default: the one column)
    demo: DemoPlan | None = None
    value_order: tuple[tuple[str, tuple[str, ...]], ...] = ()
    vlm_protocol: str | None = None

    def __post_init__(self) -> None:
        if self.item_kind not in ITEM_KINDS:
            raise ValueError(f"task {self.name}: item_kind must be one of {', '.join(ITEM_KINDS)}, got {self.item_kind!r}")
        if self.default_split not in self.splits:
            raise ValueError(f"task {self.name}: default_split {self.default_split!r} is not one of {self.splits}")
        if self.dev_split is not None and self.dev_split not in self.splits:
            raise ValueError(f"task {self.name}: dev_split {self.dev_split!r} is not one of {self.splits}")

    # names the report catalog used before the spec existed
    @property
    def task(self) -> str:
        return self.name

    @property
    def metric(self) -> str:
        return self.headline_metric

    @property
    def aggregation(self) -> str | None:
        return self.headline_aggregation

    @property
    def label(self) -> str:
        return self.title

    @property
    def macro_column(self) -> str | None:
        """The single strata column a multiple-choice headline macro-averages over (``None``: pooled)."""
        if self.macro_key:
            return self.macro_key
        if len(self.macro_over) > 1:
            raise ValueError(f"task {self.name}: macro_over {self.macro_over} needs a macro_key (the strata column "
                             "that combines them)")
        return self.macro_over[0] if self.macro_over else None

    def registry_info(self) -> dict[str, Any]:
        """What ``pjbench list`` shows (and older callers read from the registry entry's ``info``)."""
        return {"spec": self, "readout": self.default_readout, "item_kind": self.item_kind,
                "splits": ", ".join(self.splits), "default_split": self.default_split, "dev_split": self.dev_split,
                "reference_model": self.reference_model}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
