"""Readouts: how a model's outputs on a task's items become per-item records (lm-eval's request types).

A readout is registered by name with what it reads and what it takes:

- ``item_kinds``: the task item kinds it can read (:data:`pjbench.benchmarks.taskspec.ITEM_KINDS`);
- ``model_needs``: the model readout it requires (``surprise``, ``features``; ``None``: no model is built,
  e.g. an answer file);
- ``options``: the keyword options it takes (anything else given to ``evaluate`` is refused, naming it);
- ``protocol_options``: those that change its numbers, hence enter the run configuration, the results'
  ``protocol`` and (with the model identity) the cache key.

A (task, readout) pair is chosen at run time: ``pjbench eval --readout NAME`` (default: the task spec's
``default_readout``), so one benchmark can be read out several ways (MVPBench: ``probe`` on frozen features,
or ``answers`` from a file a video-language model wrote). Every readout writes the same run directory and
results schema (``pjbench.results/1``; checked for every registered pair by ``tests/test_readout_contract.py``).
Third-party readouts register through the ``pjbench.readouts`` entry-point group: the entry point names a
:class:`Readout`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.registry import Registry, resolve_target

__all__ = ["READOUTS", "Readout", "readouts_for", "run_readout"]

COMMON_OPTIONS = ("split", "seed", "n_boot", "overwrite", "progress", "limit", "device", "workers", "model_args",
                  "checkpoint", "cache", "cache_dir", "dev_split")


@dataclass(frozen=True)
class Readout:
    name: str
    description: str
    target: str  # "module:function" called as f(model, task, data_root, out, **options) -> (RunResults, Path)
    item_kinds: tuple[str, ...]
    model_needs: str | None
    options: tuple[str, ...]
    protocol_options: tuple[str, ...] = ()

    def run(self, model: str, task: str, data_root: str | os.PathLike, out: str | os.PathLike, **options: Any):
        fn: Callable[..., Any] = resolve_target(self.target)
        return fn(model, task, data_root, out, **options)


class ReadoutRegistry(Registry):
    def __init__(self) -> None:
        super().__init__("readout", entry_point_group="pjbench.readouts")

    def add(self, readout: Readout, *, source: str = "builtin") -> None:
        self.register(readout.name, readout.target, readout.description, source=source, readout=readout)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib import metadata

        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                continue
            obj = ep.load()
            if not isinstance(obj, Readout) or obj.name != ep.name:
                raise PjbenchError(f"readout plugin {ep.name}: the entry point must name a Readout called {ep.name!r}")
            self.add(obj, source=getattr(getattr(ep, "dist", None), "name", None) or "plugin")

    def readout(self, name: str) -> Readout:
        return self.get(name).info["readout"]


READOUTS = ReadoutRegistry()

SURPRISE_OPTIONS = ("context", "frame_step", "window", "stride", "contexts", "max_context_mode", "dtype", "compile",
                    "protocol", "batch_size", "require_shards")
PROBE_OPTIONS = ("text_encoder", "folds", "n_frames", "pooled_grid", "controls", "grid", "probe_config", "batch_size",
                 "feature_memory_bytes")
# sharded runs (--shard, torchrun, Slurm; see pjbench.benchmarks.distributed): what a shard takes
SHARD_OPTIONS = ("shard", "merge", "barrier_timeout", "run_id")
VLM_OPTIONS = ("batch_size", "base_url", "api_key_env", "max_concurrency")
VLM_MODEL_ARGS = ("sampling",)  # --model-arg keys the vlm readout reads itself (the API models' frame sampling)
ANSWER_OPTIONS = ("predictions", "model_name", "task_options", "min_coverage", "allow_missing", "parser")

READOUTS.add(Readout(
    name="surprise", description="zero-shot surprise: a predictor's error on future frames (higher = impossible)",
    target="pjbench.benchmarks.readouts:run_surprise", item_kinds=("surprise_pairs",), model_needs="surprise",
    options=(*COMMON_OPTIONS, *SURPRISE_OPTIONS, *SHARD_OPTIONS),
    protocol_options=("context", "frame_step", "window", "stride", "contexts", "max_context_mode", "dtype", "protocol"),
))
READOUTS.add(Readout(
    name="probe", description="attentive probe on frozen features, grouped k-fold cross-validation, video-blind control",
    target="pjbench.benchmarks.readouts:run_probe", item_kinds=("multiple_choice",), model_needs="features",
    options=(*COMMON_OPTIONS, *PROBE_OPTIONS, *SHARD_OPTIONS, "require_shards"),
    protocol_options=("text_encoder", "folds", "n_frames", "pooled_grid", "controls", "grid", "probe_config"),
))
READOUTS.add(Readout(
    name="answers", description="an answer file written by any model (e.g. a video-language model), parsed as the "
                                "official scorer does",
    target="pjbench.benchmarks.readouts:run_answers", item_kinds=("multiple_choice",), model_needs=None,
    options=("split", "seed", "n_boot", "overwrite", "progress", *ANSWER_OPTIONS),
    protocol_options=("min_coverage", "allow_missing", "parser"),
))

READOUTS.add(Readout(
    name="vlm", description="a video-language model answers with the benchmark's official prompt; official and "
                            "strict parsers and (backends that score) option likelihoods side by side; responses "
                            "cached",
    target="pjbench.benchmarks.readouts:run_vlm", item_kinds=("multiple_choice", "surprise_pairs"),
    model_needs="generate",
    options=("split", "seed", "n_boot", "overwrite", "progress", "limit", "device", "model_args", "checkpoint",
             "cache", "cache_dir", "n_frames", *VLM_OPTIONS, "shard", "merge", "run_id", "require_shards"),
    protocol_options=(),
))

def readouts_for(item_kind: str) -> list[str]:
    """Names of the registered readouts that read items of ``item_kind``."""
    return [e.name for e in READOUTS.entries() if item_kind in e.info["readout"].item_kinds]


def run_readout(readout: str, model: str, task: str, data_root: str | os.PathLike, out: str | os.PathLike,
                **options: Any):
    """Check the (task, readout) pair and the options, then run it. Options given as ``None`` are ignored."""
    from pjbench.benchmarks.tasks import TASKS, check_model_readouts

    spec = TASKS.spec(task)
    r = READOUTS.readout(readout)
    if spec.item_kind not in r.item_kinds:
        raise PjbenchError(f"readout {readout} reads {' / '.join(r.item_kinds)} items; task {task} has "
                           f"{spec.item_kind} items (readouts for it: {', '.join(readouts_for(spec.item_kind))})")
    options = {k: v for k, v in options.items() if v is not None}
    wrong = [k for k in options if k not in r.options]
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        raise PjbenchError(f"{flags}: not an option of the {readout} readout (task {task})")
    from pjbench.encoders.answerers import unregistered_answerer

    if r.model_needs is not None and not unregistered_answerer(model):  # openai:NAME, a VLM folder: no entry
        from pjbench.encoders.registry import MODELS

        declared = MODELS.get(model).info.get("readouts")
        if declared:  # before anything is loaded; the built model's own readouts are checked again by the runner
            check_model_readouts(model, declared, task, readout, need=r.model_needs)
        margs = {k: v for k, v in dict(options.get("model_args") or {}).items()
                 if not (readout == "vlm" and k in VLM_MODEL_ARGS)}  # the readout's own, not the factory's
        MODELS.check_args(model, margs)  # a typo fails before the data is read
        MODELS.check_arg_types(model, margs)
    return r.run(model, task, data_root, out, **options)


# -- the built-in readouts' entry points (the orchestration behind each lives in its module) ---------------


def run_surprise(model: str, task: str, data_root: str | os.PathLike, out: str | os.PathLike, **options: Any):
    """``evaluate``, or with ``shard`` its ``run_shard`` (returning a ``ShardOutcome``)."""
    from pjbench.benchmarks.runner import evaluate, run_shard

    if options.get("shard") is not None:
        return run_shard(model, data_root, out, task=task, **options)
    return evaluate(model, data_root, out, task=task, **options)


def run_probe(model: str, task: str, data_root: str | os.PathLike, out: str | os.PathLike, **options: Any):
    from pjbench.benchmarks.probe_runner import evaluate_probe

    if "cache" in options:
        options["use_cache"] = options.pop("cache")
    return evaluate_probe(model, task, data_root, out, **options)


def run_answers(model: str, task: str, data_root: str | os.PathLike, out: str | os.PathLike, **options: Any):
    from pjbench.benchmarks.scoring import score

    predictions = options.pop("predictions", None)
    if predictions is None:
        raise PjbenchError("the answers readout needs --predictions FILE (the model's answers)")
    options.setdefault("model_name", model)
    options.pop("progress", None)
    return score(task, data_root, predictions, out, **options)


def run_vlm(model: str, task: str, data_root: str | os.PathLike, out: str | os.PathLike, **options: Any):
    from pjbench.benchmarks.vlm_runner import evaluate_vlm

    return evaluate_vlm(model, task, data_root, out, **options)
