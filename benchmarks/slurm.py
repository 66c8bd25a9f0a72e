"""Slurm clusters through submitit: one job array of shards, requeued on preemption, then the merge.

``pjbench eval ... --slurm-partition P --nodes N --slurm-gpus-per-node G`` plans ``N x G`` shards, each an
ordinary shard eval (:func:`pjbench.benchmarks.runner.run_shard`) in a one-GPU array task; Slurm places
the tasks on nodes as they free up, so the run never waits for N whole nodes at once. A task that is
preempted or hits its time limit is requeued by submitit (:meth:`ShardJob.checkpoint` resubmits the same
shard) and resumes from its shard files and the feature cache. A CPU-only merge job waits for the whole
array (``afterany``: it also runs when a shard failed, and then names the missing shards and items), or,
with ``wait=True``, this process waits for the array and merges itself.

submitit is optional (``pip install 'pjbench[slurm]'``); it is imported only when a job is planned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pjbench.benchmarks.errors import PjbenchError

SLURM_DIR = ".slurm"  # submitit's pickles and logs, inside --out


def require_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise PjbenchError("running on Slurm needs submitit: pip install 'pjbench[slurm]' (or pip install 'submitit>=1.5')") from None
    return submitit


@dataclass(frozen=True)
class SlurmPlan:
    """The jobs to submit: ``n_shards`` array tasks with ``shard_params``, then one merge job with
    ``merge_params`` (submitit ``AutoExecutor.update_parameters`` keywords)."""

    n_shards: int
    folder: Path
    shard_params: dict[str, Any]
    merge_params: dict[str, Any]


def plan_jobs(out: str | os.PathLike, *, partition: str, nodes: int, gpus_per_node: int = 1, time_min: int = 240,
              account: str | None = None, cpus_per_task: int = 8, mem_gb: float | None = None,
              merge_time_min: int = 60, device: str = "cuda") -> SlurmPlan:
    """``nodes * gpus_per_node`` one-GPU shards (``nodes`` CPU-only shards when ``gpus_per_node`` is 0)."""
    if nodes < 1:
        raise PjbenchError(f"--nodes must be >= 1, got {nodes}")
    if gpus_per_node < 0:
        raise PjbenchError(f"--slurm-gpus-per-node must be >= 0, got {gpus_per_node}")
    if gpus_per_node == 0 and device.startswith("cuda"):
        raise PjbenchError(f"--device {device} needs GPUs: pass --slurm-gpus-per-node G (or --device cpu)")
    n = nodes * max(1, gpus_per_node)
    common: dict[str, Any] = {"slurm_partition": partition, "nodes": 1, "tasks_per_node": 1}
    if account:
        common["slurm_account"] = account
    if mem_gb:
        common["mem_gb"] = mem_gb
    shard_params = {**common, "name": "pjbench-shard", "cpus_per_task": cpus_per_task, "timeout_min": time_min,
                    "slurm_array_parallelism": n, **({"gpus_per_node": 1} if gpus_per_node else {})}
    # the merge reads shard files only: no GPU requested
    merge_params = {**common, "name": "pjbench-merge", "cpus_per_task": min(cpus_per_task, 4), "timeout_min": merge_time_min}
    return SlurmPlan(n, Path(out).resolve() / SLURM_DIR, shard_params, merge_params)


class ShardJob:
    """What one array task runs: shard ``index`` of ``count`` (never merges; the merge job does).

    Picklable (plain arguments). Has submitit's ``checkpoint`` hook, so a preempted or timed-out task is
    requeued with the same arguments and resumes from its shard files and the cache."""

    def __init__(self, model: str, data_root: str, out: str, eval_kwargs: dict[str, Any]):
        self.model, self.data_root, self.out, self.eval_kwargs = model, data_root, out, dict(eval_kwargs)

    def __call__(self, index: int, count: int) -> dict[str, Any]:
        from pjbench.benchmarks.api import evaluate
        from pjbench.benchmarks.distributed import Shard

        outcome = evaluate(self.model, self.data_root, self.out, shard=Shard(index, count), merge="never",
                           run_id=os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID"),
                           **self.eval_kwargs)
        return {"shard": str(outcome.shard), "n_items": outcome.n_items, "n_scored": outcome.n_scored,
                "n_skipped": outcome.n_skipped, "n_computed": outcome.n_computed}

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


class MergeJob:
    """What the merge job runs: :func:`pjbench.benchmarks.distributed.merge` of ``count`` shards."""

    def __init__(self, out: str, count: int):
        self.out, self.count = out, count

    def __call__(self) -> str:
        from pjbench.benchmarks.distributed import merge

        _, path = merge(self.out, shards=self.count, progress=False)
        return str(path)


@dataclass
class SlurmSubmission:
    plan: SlurmPlan
    shard_jobs: list[Any]
    merge_job: Any | None = None
    merged: Any | None = field(default=None)  # (RunResults, path) with wait=True

    @property
    def array_id(self) -> str:
        return str(self.shard_jobs[0].job_id).split("_")[0]


def submit(model: str, data_root: str | os.PathLike, out: str | os.PathLike, *, partition: str, nodes: int,
           gpus_per_node: int = 1, time_min: int = 240, account: str | None = None, cpus_per_task: int = 8,
           mem_gb: float | None = None, wait: bool = False, eval_kwargs: dict[str, Any] | None = None,
           executor_factory: Callable[[Path], Any] | None = None) -> SlurmSubmission:
    """Submit the shard array and the dependent merge job (or, with ``wait``, wait and merge here).

    ``eval_kwargs`` are :func:`~pjbench.benchmarks.runner.run_shard`'s (device, window, cache_dir, ...).
    ``executor_factory(folder)`` builds the submitit executor (default ``AutoExecutor(folder, cluster="slurm")``)."""
    eval_kwargs = dict(eval_kwargs or {})
    eval_kwargs["progress"] = False  # progress bars only clutter the job logs
    plan = plan_jobs(out, partition=partition, nodes=nodes, gpus_per_node=gpus_per_node, time_min=time_min,
                     account=account, cpus_per_task=cpus_per_task, mem_gb=mem_gb,
                     device=str(eval_kwargs.get("device", "cpu")))
    if executor_factory is None:
        submitit = require_submitit()

        def executor_factory(folder: Path) -> Any:
            return submitit.AutoExecutor(folder=folder, cluster="slurm")

    out_abs, root_abs = str(Path(out).resolve()), str(Path(data_root).resolve())
    if eval_kwargs.get("cache_dir") is not None:
        eval_kwargs["cache_dir"] = str(Path(eval_kwargs["cache_dir"]).resolve())
    plan.folder.mkdir(parents=True, exist_ok=True)
    executor = executor_factory(plan.folder)
    executor.update_parameters(**plan.shard_params)
    n = plan.n_shards
    jobs = executor.map_array(ShardJob(model, root_abs, out_abs, eval_kwargs), list(range(n)), [n] * n)
    submission = SlurmSubmission(plan, jobs)
    if wait:
        submission.merged = wait_and_merge(jobs, out_abs, n)
    else:
        merger = executor_factory(plan.folder)
        merger.update_parameters(**plan.merge_params, slurm_dependency=f"afterany:{submission.array_id}")
        submission.merge_job = merger.submit(MergeJob(out_abs, n))
    return submission


def wait_and_merge(jobs: list[Any], out: str | os.PathLike, count: int) -> Any:
    """Wait for every array task, then merge; a failed task's error is named next to the missing items."""
    from pjbench.benchmarks.distributed import merge

    failures = []
    for job in jobs:
        try:
            job.result()
        except Exception as exc:  # submitit's FailedJobError / UncompletedJobError carry the task's traceback
            failures.append(f"{job.job_id}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}")
    try:
        return merge(out, shards=count, progress=False)
    except PjbenchError as exc:
        if failures:
            raise PjbenchError(f"{exc}. Failed array tasks: {'; '.join(failures)}") from None
        raise
