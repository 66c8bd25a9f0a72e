"""``pjbench eval`` for video-language models (the ``vlm`` readout): one process, shards, torchrun, Slurm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pjbench.benchmarks.cli_common import echo_vlm_results
from pjbench.benchmarks.errors import PjbenchError

__all__ = ["eval_vlm", "submit_to_slurm"]


def eval_vlm(model: str, data_root: Path, out: Path, *, vlm_opts: dict[str, Any], scale: dict[str, Any],
             opts: dict[str, Any]) -> None:
    """The vlm branch of ``pjbench eval``: ``opts`` are the command's options it reads (``refused``: those
    of the other readouts, an error when given), ``scale`` the sharding / Slurm ones."""
    from pjbench.benchmarks.api import evaluate
    from pjbench.benchmarks.distributed import torchrun_env

    task, split, limit, seed, n_boot = opts["task"], opts["split"], opts["limit"], opts["seed"], opts["n_boot"]
    overwrite, batch_size, no_cache, cache_dir = opts["overwrite"], opts["batch_size"], opts["no_cache"], opts["cache_dir"]
    device, checkpoint, model_args, n_frames = opts["device"], opts["checkpoint"], opts["model_args"], opts["n_frames"]
    dtype, quiet = opts["dtype"], opts["quiet"]
    if batch_size == "auto":
        raise PjbenchError("--batch-size auto: an option of the surprise readout; give the vlm readout a number "
                           "of requests per batch (at least --max-concurrency are sent together)")
    given = [flag for flag, v in opts["refused"].items() if v is not None]
    if given:
        raise PjbenchError(f"{', '.join(given)}: not an option of the vlm readout (it takes --frames N, "
                           "--batch-size, --dtype, --model-arg sampling=api, the HTTP and sharding options)")
    shard, run_id, launch = scale.get("shard"), None, torchrun_env()
    if launch and dict(model_args or {}).get("device_map"):
        raise PjbenchError("--model-arg device_map spreads one model over this machine's GPUs: run one process "
                           "per node (--shard I/N on each, a shared --cache-dir), not one per GPU under torchrun")
    if scale.get("slurm_partition") and (shard or launch):
        raise PjbenchError("use one of --shard, torchrun (RANK/WORLD_SIZE set) and --slurm-partition")
    if not scale.get("slurm_partition") and (scale.get("nodes") is not None or scale.get("wait")):
        raise PjbenchError("--nodes and --wait need --slurm-partition")
    if launch:  # torchrun: rank r answers shard r/N on its own GPU; the last rank to finish merges
        if shard:
            raise PjbenchError("use one of --shard and torchrun (RANK/WORLD_SIZE set)")
        from pjbench.benchmarks.distributed import rank_device

        shard, run_id, device = str(launch.shard), launch.run_id, rank_device(device, launch.local_rank)
    if dtype:
        if model.startswith("openai:"):
            raise PjbenchError("--dtype: the server of an openai:NAME model decides its dtype")
        model_args = {**dict(model_args or {}), "dtype": dtype}
    kw = dict(task=task, readout="vlm", split=split, limit=limit, seed=seed, n_boot=n_boot, overwrite=overwrite,
              batch_size=batch_size if isinstance(batch_size, int) else None, cache=not no_cache,
              cache_dir=cache_dir, device=device, checkpoint=checkpoint, model_args=model_args, n_frames=n_frames,
              **vlm_opts)
    if scale.get("slurm_partition"):  # a job array of shards answering into the shared response cache
        if no_cache:
            raise PjbenchError("--slurm-partition: the shards keep their answers in the response cache; drop "
                               "--no-cache (and give a --cache-dir every node sees)")
        merged = submit_to_slurm(model, data_root, out, scale, kw)
        if merged:
            echo_vlm_results(merged[0])
            click.echo(f"results: {merged[1]}")
        return
    got = evaluate(model, data_root, out, progress=not quiet, shard=shard, run_id=run_id, **kw)
    if shard:
        click.echo(f"shard {got.shard}: {got.n_scored} of {got.n_items} requests answered ({got.n_skipped} "
                   f"skipped, {got.n_computed} generated now) in {got.directory}")
        if got.merged is None:
            click.echo(f"waiting for shard(s) {', '.join(map(str, got.pending))} of {got.shard.count}; the last "
                       f"shard to finish merges, or run `pjbench merge --out {out}`")
            return
        got = got.merged
    results, path = got
    echo_vlm_results(results)
    click.echo(f"results: {path}")
    for key, rel in results.files.items():
        if key != "items":
            click.echo(f"{key}: {Path(path).parent / rel}")
    return


def submit_to_slurm(model, data_root, out, scale, kw):
    """``--slurm-partition``: the shard array and the merge job (submitit). ``(results, path)`` with --wait,
    else ``()`` once the jobs are submitted (their ids are printed)."""
    from pjbench.benchmarks import slurm as slurm_mod

    if scale["nodes"] is None:
        raise PjbenchError("--slurm-partition needs --nodes N")
    sub = slurm_mod.submit(
        model, data_root, out, partition=scale["slurm_partition"], nodes=scale["nodes"],
        gpus_per_node=scale["slurm_gpus_per_node"], time_min=scale["slurm_time"], account=scale["slurm_account"],
        cpus_per_task=scale["slurm_cpus_per_task"], wait=scale["wait"], eval_kwargs=kw)
    click.echo(f"submitted {sub.plan.n_shards} shards as Slurm array job {sub.array_id} (logs: {sub.plan.folder})")
    if sub.merged is not None:
        return sub.merged
    click.echo(f"merge job {sub.merge_job.job_id} runs after the array; results: {Path(out) / 'results.json'} "
               f"(or run `pjbench merge --out {out}` yourself)")
    return ()
