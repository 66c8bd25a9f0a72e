"""What the report knows about each benchmark: its headline metric, chance level, breakdown axes and the
published reference numbers (with their source). One table, so that a new task shows up in the overview
leaderboard by adding one entry; a task without an entry still gets its own section (headline = its
first ``all`` metric).

Published numbers are quoted as reported, in percent, and are never mixed with measured rows: they were
obtained under other protocols (often with the context length picked on the test set).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reference:
    label: str  # "Humans", "V-JEPA 2 (as reported)"
    value: float  # fraction
    source: str
    note: str = ""


@dataclass(frozen=True)
class BenchmarkSpec:
    task: str  # results.task["name"]
    title: str
    metric: str  # headline metric name
    aggregation: str | None  # headline aggregation (None = the metric has none)
    chance: float
    primary_split: str  # the split the overview's macro mean uses when a model has several
    macro_over: tuple[str, ...] = ()  # strata the headline is a macro mean over (for paired tests)
    breakdowns: tuple[str, ...] = ()  # strata columns shown and compared, in this order
    cross: tuple[str, tuple[str, ...]] | None = None  # (row axis, column axes) of the cross table
    headline_text: str = ""
    references: tuple[Reference, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        return self.title


BENCHMARKS: dict[str, BenchmarkSpec] = {
    spec.task: spec
    for spec in (
        BenchmarkSpec(
            task="intphys2",
            title="IntPhys 2",
            metric="pairwise_accuracy",
            aggregation="avg",
            chance=0.5,
            primary_split="Main",
            breakdowns=("condition", "Difficulty", "Camera", "visibility"),
            cross=("condition", ("Difficulty", "Camera")),
            headline_text="pairwise accuracy (avg surprise over windows): share of matched pairs whose impossible "
                          "video is strictly more surprising",
            references=(
                Reference("Humans", 0.964, "Bordes et al. 2025, IntPhys 2 (arXiv:2506.09849), Main"),
                Reference("V-JEPA 2 (as reported)", 0.575, "published IntPhys 2 Main result (context picked on the "
                          "test split); independent re-runs 52.6–54.4", note="optimistic protocol"),
            ),
        ),
        BenchmarkSpec(
            task="mvpbench",
            title="MVPBench",
            metric="pair_accuracy",
            aggregation=None,
            chance=0.25,
            primary_split="mini",
            macro_over=("config",),
            breakdowns=("config", "source"),
            cross=("source", ("config",)),
            headline_text="pair accuracy: share of minimal pairs with both videos answered right, macro mean over "
                          "the 4 configs",
            references=(
                Reference("Humans", 0.929, "Krojer et al. 2025, MVPBench (arXiv:2506.09987)"),
                Reference("V-JEPA 2 + LLM (as reported)", 0.445, "Krojer et al. 2025 (arXiv:2506.09987), mini split"),
            ),
        ),
        BenchmarkSpec(
            task="causalvqa",
            title="CausalVQA",
            metric="paired_accuracy",
            aggregation=None,
            chance=0.04,
            primary_split="debug",
            macro_over=("type", "difficulty"),
            breakdowns=("type", "difficulty"),
            cross=("type", ("difficulty",)),
            headline_text="paired accuracy: share of questions answered right under both option orders, macro mean "
                          "over the 15 type × difficulty strata",
            references=(
                Reference("Humans", 0.85, "Foss et al. 2025, CausalVQA (arXiv:2506.09943), approx."),
                Reference("V-JEPA 2 + LLM (as reported)", 0.449, "Foss et al. 2025 (arXiv:2506.09943)"),
            ),
        ),
    )
}

# Benchmarks whose headline metrics the overview's macro mean averages (when a model has all of them).
MACRO_TASKS = ("intphys2", "mvpbench", "causalvqa")


def spec_for(task: str) -> BenchmarkSpec | None:
    return BENCHMARKS.get(task)
