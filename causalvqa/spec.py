"""The CausalVQA task spec (:class:`pjbench.benchmarks.taskspec.TaskSpec`). Cheap to import (no task code)."""

from pjbench.benchmarks.taskspec import DemoPlan, Reference, TaskSpec

CAUSALVQA = TaskSpec(
    name="causalvqa",
    title="CausalVQA",
    description="CausalVQA: 5-option causal questions on Ego-Exo4D clips, each asked twice (paired accuracy)",
    target="pjbench.causalvqa.task:CausalVQATask",
    item_kind="multiple_choice",
    default_readout="probe",
    splits=("debug", "test"),
    default_split="debug",
    dev_split=None,
    dev_rule="no labelled dev split: probe hyper-parameters are chosen inside each training fold; test is "
             "answered by a probe trained on debug",
    headline_metric="paired_accuracy",
    chance=0.04,
    primary_split="debug",
    macro_over=("type", "difficulty"),
    macro_key="stratum",
    breakdowns=("type", "difficulty"),
    value_order=(("type", ("anticipation", "counterfactual", "descriptive", "planning", "hypothetical")),
                 ("difficulty", ("easy", "med", "hard"))),
    cross=("type", ("difficulty",)),
    cluster_key="video (questions about one clip are resampled together)",
    headline_text="paired accuracy: share of questions answered right under both option orders, macro mean "
                  "over the 15 type × difficulty strata",
    references=(
        Reference("Humans", 0.85, "Foss et al. 2025, CausalVQA (arXiv:2506.09943), approx."),
        Reference("V-JEPA 2 + LLM (as reported)", 0.449, "Foss et al. 2025 (arXiv:2506.09943)"),
        Reference("Gemini 2.5 Flash (as reported)", 0.62, "Foss et al. 2025 (arXiv:2506.09943), approx.",
                  note="video-language model, 10 frames"),
        Reference("GPT-4o (as reported)", 0.51, "Foss et al. 2025 (arXiv:2506.09943), approx.",
                  note="video-language model, 10 frames"),
    ),
    in_overview_macro=True,
    vlm_protocol="pjbench.causalvqa.prompts",
    demo=DemoPlan(data_dir="causalvqa", split="debug", readout="probe", models=("pixel-patches", "vjepa2-tiny-random"),
                  more=(("vlm", ("answer-random", "qwen2.5-vl-tiny-random")),),
                  suite_scale=1.0),
)
