"""The benchmark's one declaration: pjbench reads splits, headline, chance and breakdowns from here."""

from pjbench.benchmarks.taskspec import TaskSpec

SPEC = TaskSpec(
    name="twoalt",
    title="Two-alternative surprise",
    description="Two-alternative surprise: which of two clips breaks physics (pairs.csv + clips/)",
    target="pjbench_twoalt_example.task:TwoAltTask",
    item_kind="surprise_pairs",
    default_readout="surprise",
    splits=("dev", "test"),
    default_split="test",
    dev_split="dev",
    dev_rule="dev chooses the context length",
    headline_metric="pairwise_accuracy",
    headline_aggregation="avg",
    chance=0.5,
    breakdowns=("kind",),
    cluster_key="pair",
)
