"""The Python API: the same verbs as the CLI (which only parses arguments and calls these)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.tasks import TASKS, ValidationReport
from pjbench.synthetic.formats import DEFAULT_FORMAT as SYNTH_DEFAULT
from pjbench.synthetic.formats import WRITERS as SYNTH_WRITERS


from pjbench.benchmarks.readouts import PROBE_OPTIONS, SURPRISE_OPTIONS  # noqa: E402

# options of one readout that the other does not take (the CLI refuses them early, naming the task)
SURPRISE_ONLY_OPTIONS = tuple(o for o in SURPRISE_OPTIONS if o not in PROBE_OPTIONS)
PROBE_ONLY_OPTIONS = tuple(o for o in PROBE_OPTIONS if o not in SURPRISE_OPTIONS)


def evaluate(model: str, data_root: str | os.PathLike, out: str | os.PathLike, *, task: str | None = None,
             readout: str | None = None, **kwargs: Any):
    """Score a model on a task through a readout (:mod:`pjbench.benchmarks.readouts`): ``readout`` defaults to
    the task spec's (IntPhys 2: ``surprise``; MVPBench / CausalVQA: ``probe``, an attentive probe on frozen
    features; ``answers`` scores an answer file, ``predictions=FILE``, ``model`` naming the model).

    Options another readout takes are refused (``None`` values are ignored). ``cache=False`` turns the
    feature cache off. Returns ``(RunResults, path of results.json)``."""
    from pjbench.benchmarks.readouts import run_readout
    from pjbench.benchmarks.tasks import default_task

    task = task or default_task()
    readout = readout or TASKS.spec(task).default_readout
    return run_readout(readout, model, task, data_root, out, **kwargs)


def ablate(model: str, data_root: str | os.PathLike, out: str | os.PathLike, **kwargs: Any):
    """The model under the corrected protocol, as-published, and one published deviation at a time, with the
    paired difference vs corrected; see :func:`pjbench.benchmarks.ablate.ablate`. Returns ``(Ablation, path)``."""
    from pjbench.benchmarks.ablate import ablate as _ablate

    return _ablate(model, data_root, out, **kwargs)


def merge(out: str | os.PathLike, *, shards: int | None = None, progress: bool = True):
    """Merge a sharded run (``--shard``, torchrun, Slurm) in ``out`` into results identical to one process;
    see :func:`pjbench.benchmarks.distributed.merge`. Returns ``(RunResults, path of results.json)``."""
    from pjbench.benchmarks.distributed import merge as _merge

    return _merge(out, shards=shards, progress=progress)


def run_shard(model: str, data_root: str | os.PathLike, out: str | os.PathLike, *, shard: str, **kwargs: Any):
    """Score shard ``"I/N"`` of a surprise-task run into ``out``; see :func:`pjbench.benchmarks.runner.run_shard`."""
    from pjbench.benchmarks.runner import run_shard as _run_shard

    return _run_shard(model, data_root, out, shard=shard, **kwargs)


def validate(task: str, data_root: str | os.PathLike, check_videos: bool = True,
             task_options: dict[str, Any] | None = None, *, model: str | None = None, window: int | None = None,
             frame_step: int | None = None, n_frames: int | None = None) -> ValidationReport:
    """Check a dataset folder against the official format before spending GPU hours on it.
    ``task_options`` go to the task (MVPBench: ``videos_root``). With ``check_videos`` every video is also
    checked against what eval of ``model`` (default: the task's reference model) needs:
    :func:`pjbench.benchmarks.conditions.model_protocol` (``window``/``frame_step``/``n_frames`` as eval's options)."""
    import inspect

    from pjbench.benchmarks.conditions import model_protocol

    if not Path(data_root).exists():
        raise PjbenchError(f"--data-root {data_root}: no such directory")
    from pjbench.benchmarks.tasks import default_task

    task = task or default_task()
    readout = TASKS.get(task).info.get("readout")
    wrong = [flag for flag, v, r in (("--window", window, "surprise"), ("--frame-step", frame_step, "surprise"),
                                     ("--frames", n_frames, "probe")) if v is not None and r != readout]
    if wrong:
        raise PjbenchError(f"{', '.join(wrong)}: not an option of task {task} (readout {readout})")
    task_obj = TASKS.build(task, **(task_options or {}))
    proto = model_protocol(model, task, window=window, frame_step=frame_step, n_frames=n_frames)
    if model is not None:  # eval would refuse it: say so here
        from pjbench.benchmarks.tasks import check_model_readouts
        from pjbench.encoders.registry import MODELS

        if MODELS.get(model).info.get("readouts"):
            check_model_readouts(model, MODELS.get(model).info["readouts"], task, TASKS.get(task).info.get("readout"))
    if "protocol" not in inspect.signature(task_obj.validate).parameters:  # a plugin task without it
        return task_obj.validate(data_root, check_videos=check_videos)
    report = task_obj.validate(data_root, check_videos=check_videos, protocol=proto)
    report.counts = {"model protocol": proto.describe() + ("" if check_videos else " (not checked: --no-videos)"),
                     **report.counts}
    return report


def synth(out: str | os.PathLike, benchmark: str = SYNTH_DEFAULT, **kwargs: Any) -> Path:
    """Write an embedded synthetic suite in a benchmark's official release format to ``out``; see
    :func:`pjbench.synthetic.write_intphys2_suite`, ``write_mvpbench_suite``, ``write_causalvqa_suite``."""
    from pjbench import synthetic

    if benchmark not in SYNTH_WRITERS:
        raise PjbenchError(f"--benchmark {benchmark!r}: choose one of {', '.join(SYNTH_WRITERS)}")
    return getattr(synthetic, SYNTH_WRITERS[benchmark])(out, **kwargs)


def score(task: str, data_root: str | os.PathLike, predictions: str | os.PathLike, out: str | os.PathLike,
          **kwargs: Any):
    """Score an answer file (any model's answers) on a QA task; see :func:`pjbench.benchmarks.scoring.score`.
    Returns ``(RunResults, path of results.json)``."""
    from pjbench.benchmarks.scoring import score as _score

    return _score(task, data_root, predictions, out, **kwargs)


def report(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike, title: str | None = None, *,
           n_boot: int = 1000, seed: int = 0, exports: bool = True, allow_unverified: bool = False) -> Path:
    """Render run directories (or glob patterns, or folders of runs) into one self-contained HTML report,
    plus leaderboard.csv/.json/.md next to it (``exports``)."""
    from pjbench.reports import build_report

    if not run_dirs:
        raise PjbenchError("give at least one run directory")
    return build_report(list(run_dirs), out, title=title, n_boot=n_boot, seed=seed, exports=exports,
                        allow_unverified=allow_unverified)


def compare(run_a: str | os.PathLike, run_b: str | os.PathLike, *, n_boot: int = 1000, seed: int = 0,
            min_shared: int | None = None):
    """Paired differences ``A − B`` of the headline metric, overall and per stratum, on the pairs both runs
    scored; see :func:`pjbench.reports.comparison.compare_runs`."""
    from pjbench.reports.comparison import compare_runs

    return compare_runs(run_a, run_b, n_boot=n_boot, seed=seed, min_shared=min_shared)


def list_models() -> list[dict[str, Any]]:
    from pjbench.encoders.registry import MODELS

    return [{"name": e.name, "description": e.description, "source": e.source, **e.info} for e in MODELS.entries()]


def list_tasks() -> list[dict[str, Any]]:
    return [{"name": e.name, "description": e.description, "source": e.source,
             **{k: v for k, v in e.info.items() if k != "spec"}} for e in TASKS.entries()]


def offline_models() -> list[str]:
    """Built-in models that run without downloading anything and have a surprise readout (what ``demo``
    evaluates on its IntPhys 2-format suite)."""
    return [m["name"] for m in list_models() if m.get("offline") and "surprise" in str(m.get("readouts", ""))]


def demo(
    out: str | os.PathLike = "pjbench-demo",
    *,
    benchmarks: Sequence[str] | None = None,
    models: dict[str, Sequence[str]] | None = None,
    scale: float = 1.0,
    workers: int | None = None,
    n_boot: int = 1000,
    progress: bool = True,
    synth_kwargs: dict[str, dict[str, Any]] | None = None,
    readout_options: dict[str, dict[str, Any]] | None = None,
    echo: Any = None,
) -> Path:
    """The main job on the embedded suites: every benchmark with a demo plan in its task spec (IntPhys 2 by
    surprise, MVPBench and CausalVQA by the attentive probe and its video-blind control), each on its
    synthetic suite (written if missing), into one report; return its path. ``models`` / ``synth_kwargs``:
    per task name. See :func:`pjbench.benchmarks.demo.run_demo`."""
    from pjbench.benchmarks.demo import run_demo

    return run_demo(out, benchmarks=benchmarks, models=models, scale=scale, workers=workers, n_boot=n_boot,
                    progress=progress, synth_kwargs=synth_kwargs, readout_options=readout_options, echo=echo)
