"""The MVPBench task spec (:class:`pjbench.benchmarks.taskspec.TaskSpec`). Cheap to import (no task code)."""

from pjbench.benchmarks.taskspec import DemoPlan, Reference, TaskSpec

MVPBENCH = TaskSpec(
    name="mvpbench",
    title="MVPBench",
    description="MVPBench: minimal video pairs, 2-choice questions (pair accuracy, macro over 4 configs)",
    target="pjbench.mvpbench.task:MVPBenchTask",
    item_kind="multiple_choice",
    default_readout="probe",
    splits=("full", "mini"),
    default_split="mini",
    dev_split=None,
    dev_rule="no labelled dev split: probe hyper-parameters are chosen inside each training fold",
    headline_metric="pair_accuracy",
    chance=0.25,
    primary_split="mini",
    macro_over=("config",),
    breakdowns=("config", "source"),
    cross=("source", ("config",)),
    cluster_key="minimal pair (video_id minus its last _<idx>)",
    headline_text="pair accuracy: share of minimal pairs with both videos answered right, macro mean over "
                  "the 4 configs",
    references=(
        Reference("Humans", 0.929, "Krojer et al. 2025, MVPBench (arXiv:2506.09987)"),
        Reference("V-JEPA 2 + LLM (as reported)", 0.445, "Krojer et al. 2025 (arXiv:2506.09987), mini split"),
        Reference("InternVL2.5-8B (as reported)", 0.3992, "facebookresearch/minimal_video_pairs reproducibility.md: "
                  "lmms-eval mvp_mini, video modality", note="video-language model, mini split"),
        Reference("Qwen2-VL-7B (as reported)", 0.2923, "facebookresearch/minimal_video_pairs reproducibility.md: "
                  "lmms-eval mvp_mini, 16 frames, max_pixels 151200", note="video-language model, mini split"),
    ),
    in_overview_macro=True,
    demo=DemoPlan(data_dir="MVPBench", split="full", readout="probe", models=("pixel-patches", "vjepa2-tiny-random"),
                  more=(("vlm", ("answer-random", "qwen2.5-vl-tiny-random")),),
                  suite_scale=0.5),
    options=("videos_root",),
    vlm_protocol="pjbench.mvpbench.prompts",
)
