"""``pjbench demo``: every benchmark whose task spec has a :class:`~pjbench.benchmarks.taskspec.DemoPlan`, on
its synthetic suite, with the offline models that fit its readout, into one report.

With the built-in specs: IntPhys 2 by surprise (every offline surprise model, Main, context chosen on
Debug); MVPBench (``full``) and CausalVQA (``debug``) by the attentive probe with its video-blind control
(pair-grouped cross-validation). A plugin benchmark with a demo plan and a synthetic writer joins by itself.
Sizes and the small probe below keep the demo within a few minutes on 2 CPU cores (the measured figure is in
the README's quick start); the probe settings are recorded in each run's protocol like any other option.
Layout under ``out``: ``data/<data_dir>/``, ``runs/<task>/<model>/``, ``report.html``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pjbench.benchmarks.errors import PjbenchError

__all__ = ["READOUT_OPTIONS", "demo_specs", "needs_vlm_extra", "run_demo", "summary"]

# The demo's readout settings. The probe: 8 frames, a 4x2x2 token grid, one grid point; on these suites the
# default grid (4 points, up to 25 epochs, 8x4x4 tokens) costs ~5x the time for the same conclusion.
READOUT_OPTIONS: dict[str, dict[str, Any]] = {
    "surprise": {},
    "vlm": {},
    "probe": {"n_frames": 8, "pooled_grid": (4, 2, 2), "grid": {"lr": [1e-3], "weight_decay": [0.01], "epochs": [20]},
              "probe_config": {"width": 64}},
}


def demo_specs(benchmarks: Sequence[str] | None = None) -> list:
    """The task specs the demo runs: registered, with a demo plan and a synthetic writer (``benchmarks``:
    only these, in registry order; an unknown or undemoable name is an error)."""
    from pjbench.benchmarks.tasks import TASKS
    from pjbench.synthetic.formats import WRITERS

    specs = [sp for sp in TASKS.specs() if sp.demo is not None and sp.name in WRITERS]
    if benchmarks is not None:
        unknown = sorted(set(benchmarks) - {sp.name for sp in specs})
        if unknown:
            raise PjbenchError(f"demo: no demo for {', '.join(unknown)}; choose from "
                               f"{', '.join(sp.name for sp in specs)}")
        specs = [sp for sp in specs if sp.name in benchmarks]
    return specs


def _models(spec) -> list[str]:
    if spec.demo.models:
        return list(spec.demo.models)
    from pjbench.benchmarks.api import list_models
    from pjbench.benchmarks.readouts import READOUTS

    need = READOUTS.readout(spec.demo.readout).model_needs
    return [m["name"] for m in list_models()
            if m.get("offline") and need in str(m.get("readouts", "")).split(",")]


def needs_vlm_extra(plan) -> list[str]:
    """The transformers-backend models of ``plan`` when the [vlm] extra (torchvision) is not installed."""
    from pjbench.encoders.registry import MODELS

    names = sorted({name for _, runs in plan for _, name in runs
                    if name in MODELS and MODELS.get(name).info.get("backend") == "transformers"})
    if not names:
        return []
    try:
        import torchvision  # noqa: F401 -- transformers' video processors need it
    except Exception:  # noqa: BLE001 -- ImportError, or a torchvision built for another torch
        return names
    return []


def run_demo(
    out: str | os.PathLike,
    *,
    benchmarks: Sequence[str] | None = None,
    models: Mapping[str, Sequence[str]] | None = None,
    scale: float = 1.0,
    workers: int | None = None,
    n_boot: int = 1000,
    progress: bool = True,
    synth_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    readout_options: Mapping[str, Mapping[str, Any]] | None = None,
    echo: Callable[[str], None] | None = None,
) -> Path:
    """Write the suites (if missing), evaluate, render ``out/report.html``; return its path.

    ``benchmarks``: task names (default: every task with a demo plan). ``models``: per task, the models
    (default: the plan's). ``synth_kwargs``: per task, writer options over the plan's; ``scale`` multiplies
    each plan's ``suite_scale``. ``readout_options``: per readout, options over :data:`READOUT_OPTIONS`."""
    from pjbench.benchmarks.api import evaluate, report, synth

    out = Path(out)
    say = echo or (lambda msg: None)
    specs = demo_specs(benchmarks)
    extra = sorted(set(synth_kwargs or {}) - {sp.name for sp in specs})
    if extra:
        raise PjbenchError(f"demo: synth_kwargs for {', '.join(extra)}, which the demo does not run")
    plan = [(sp, [(sp.demo.readout, name) for name in list((models or {}).get(sp.name) or _models(sp))]
             + [(ro, name) for ro, names in sp.demo.more for name in names]) for sp in specs]
    missing = needs_vlm_extra(plan)
    if missing:  # the transformers VLM rows need the [vlm] extra: said once, the rest of the demo runs
        from pjbench.encoders.hf_vlm import VLM_EXTRA_HINT

        say(f"note: no tiny video-language model row ({', '.join(missing)}): {VLM_EXTRA_HINT}")
        plan = [(sp, [(ro, name) for ro, name in runs if name not in missing]) for sp, runs in plan]
    n_runs, steps = sum(len(m) for _, m in plan), len(plan) + 2
    say(f"[1/{steps}] synthetic suites -> {out / 'data'}")
    data = {}
    for sp, _ in plan:
        kw = {**dict(sp.demo.suite_options), **dict((synth_kwargs or {}).get(sp.name, {}))}
        data[sp.name] = synth(out / "data" / sp.demo.data_dir, benchmark=sp.name, scale=scale * sp.demo.suite_scale,
                              progress=progress, **kw)
    run_dirs: list[Path] = []
    done = 0
    for step, (sp, runs) in enumerate(plan, start=2):
        for readout, name in runs:
            options = {**READOUT_OPTIONS.get(readout, {}), **dict((readout_options or {}).get(readout, {}))}
            if readout in ("surprise", "probe"):
                options["workers"] = workers
            done += 1
            say(f"[{step}/{steps}] {sp.title} ({readout}), run {done}/{n_runs}: {name}")
            run_dir = out / "runs" / sp.name / name
            _, path = evaluate(name, data[sp.name], run_dir, task=sp.name, readout=readout, split=sp.demo.split,
                               n_boot=n_boot, progress=progress, **options)
            run_dirs.append(run_dir)
            say(f"      results: {path}")
    say(f"[{steps}/{steps}] report")
    title = "pjbench demo: synthetic " + ", ".join(sp.title for sp, _ in plan) + " suites"
    return report(run_dirs, out / "report.html", title=title)


def _fmt(m) -> str:
    if m is None or m.value is None:
        return "—"
    if m.ci_low is None:
        return f"{100 * m.value:5.1f} [CI undefined]"
    return f"{100 * m.value:5.1f} [{100 * m.ci_low:5.1f}, {100 * m.ci_high:5.1f}]"


def summary(out: str | os.PathLike) -> list[str]:
    """Text leaderboards of a demo folder, one per benchmark: the headline with its CI per model (best
    first), the plan's columns, and the video-blind control where the run has one."""
    from pjbench.benchmarks.results import load_results

    out = Path(out)
    lines: list[str] = []
    for sp in demo_specs():
        root = out / "runs" / sp.name
        runs = [load_results(d) for d in sorted(root.iterdir()) if (d / "results.json").is_file()] \
            if root.is_dir() else []
        if not runs:
            continue
        metric, agg = sp.headline_metric, sp.headline_aggregation

        def head(r, subset=None, name=metric):
            got = r.metric(name, agg, subset=subset) if subset else r.metric(name, agg)
            if got is None and name == metric and r.protocol.get("readout") == "vlm":
                # a VLM without the headline's score (IntPhys 2 pairs): the same metric on its likelihood surprise
                got = r.metric(f"likelihood/{metric}", subset=subset or "all")
            return got

        rows = sorted(runs, key=lambda r: -(head(r).value if head(r) and head(r).value is not None else -1))
        first = next((head(r) for r in rows if head(r) is not None), None)
        if first is None:
            continue
        control = any(head(r, name=f"control_video_blind/{metric}") is not None for r in rows)
        cols = [c.split("=", 1)[-1] for c in sp.demo.columns] + (["video-blind control"] if control else [])
        lines += ["", f"{sp.title} ({runs[0].task['split']}): {metric.replace('_', ' ')}"
                      f"{f' ({agg})' if agg else ''}, % [95% CI]; {first.n} {first.unit}, chance {100 * first.chance:.0f}",
                  f"{'model':<26}{'all':<22}" + "".join(f"{c:<22}" for c in cols)]
        for r in rows:
            cells = [head(r)] + [head(r, subset=c) for c in sp.demo.columns]
            if control:
                cells.append(head(r, name=f"control_video_blind/{metric}"))
            lines.append((f"{r.model['name']:<26}" + "".join(f"{_fmt(m):<22}" for m in cells)).rstrip())
    return lines
