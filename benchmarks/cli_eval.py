"""``pjbench eval``, ``ablate`` and ``merge``: scoring a model, one process or many."""

from __future__ import annotations

from pathlib import Path

import click

from pjbench.benchmarks.cli_common import (
    DEFAULT_TASK_TEXT, default_task_name, dev_split_help, echo_coverage, echo_data_source, echo_qa_headline, echo_vlm_results,
    item_kind, main, parse_batch_size_option, parse_int_list, parse_model_args, split_help, user_errors,
)
from pjbench.benchmarks.errors import PjbenchError


@main.command("eval")
@click.option("--model", "-m", required=True, help="Registered model name (see `pjbench list`).")
@click.option("--checkpoint", default=None,
              help="HF hub id, local save_pretrained directory, or official V-JEPA 2 .pt/.pth/.tar file; default: the model entry's.")
@click.option("--task", "-t", default=default_task_name, show_default=DEFAULT_TASK_TEXT, help="Registered task name.")
@click.option("--readout", default=None,
              help="How the model is read out: surprise, probe, answers (an answer file: --predictions; --model names "
                   "the model), vlm (a video-language model answers with the official prompt) or a plugin's. Default: "
                   "vlm for a video-language model (openai:NAME, or `generate` in `pjbench list`), else the task's.")
@click.option("--base-url", default=None,
              help="--model openai:NAME: the OpenAI-compatible server (vLLM, SGLang, an API), e.g. http://127.0.0.1:8000/v1.")
@click.option("--api-key-env", default=None,
              help="--model openai:NAME: environment variable holding the API key, sent to --base-url (default: "
                   "OPENAI_API_KEY, sent only to api.openai.com and loopback hosts; never stored).")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=None,
              help="--model openai:NAME: requests in flight at once (default 4).")
@click.option("--predictions", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="--readout answers: the model's answer file (JSONL/CSV, as for `pjbench score`).")
@click.option("--data-root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder in the official layout (e.g. the IntPhys2/ release root).")
@click.option("--split", default=None, help=f"Split to report. {split_help()}.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory to write.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N pairs (HeldOut: videos) of the reported split; the dev split is scored whole.")
@click.option("--batch-size", default="8", show_default=True, callback=parse_batch_size_option, metavar="N|auto",
              help="Windows per forward pass, or `auto`: start at 32 and halve on out-of-memory (the size that fits "
                   "is kept and recorded).")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default=None,
              help="Compute dtype of the forward passes (autocast; fp16: CUDA only). Part of the protocol and cache key. "
                   "Default: fp32 (--protocol as-published: bf16, as the published config).")
@click.option("--protocol", default="corrected", show_default=True, metavar="corrected|as-published|corrected+DEV",
              help="Surprise tasks: `as-published` reproduces the published code's numbers, bugs included (224-px token "
                   "masks, zero-padded rows, no antialias, bf16, positional Debug pairing, context picked on the "
                   "reported split: optimistic); `corrected+DEV[+DEV...]` switches single published deviations on "
                   "(masks, padding, antialias, dtype, encoder-split, context-selection, debug-pairing). See "
                   "`pjbench ablate` and the README's differences table.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model (where it supports it).")
@click.option("--dry-run", is_flag=True,
              help="Print the planned work (videos, windows, forward passes, tokens), the feature-cache and --out "
                   "hits and a time estimate from a short measured warm-up (one batch of windows), then exit "
                   "without scoring or writing anything.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for torch, numpy and the bootstrap.")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Video-decoding worker processes. Default: cores-1, at most 4.")
@click.option("--context", type=click.IntRange(min=1), default=None,
              help="Fix the context length (frames). Default: chosen on the dev split, never on the reported one.")
@click.option("--dev-split", default=None,
              help=f"Split for choosing context/threshold (never the reported one). Default: {dev_split_help()}.")
@click.option("--frame-step", type=click.IntRange(min=1), default=None,
              help="Keep every k-th frame (replaces the model's fps-based sampling; needed for frame folders).")
@click.option("--window", type=click.IntRange(min=2), default=None, help="Window length in sampled frames. Default: the model's.")
@click.option("--stride", type=click.IntRange(min=1), default=None, help="Window stride in sampled frames. Default: 2.")
@click.option("--contexts", callback=parse_int_list, default=None, help="Comma-separated context lengths. Default: k*window/8, k=2..7.")
@click.option("--max-context-mode/--no-max-context-mode", default=None, help="Prepend short-prefix losses of the first window. Default: on.")
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples for the CIs.")
@click.option("--overwrite", type=click.Choice(["only-missing", "always", "never"]), default="only-missing", show_default=True,
              help="Reuse finished items of an interrupted run in --out, start over, or refuse to touch an existing run.")
@click.option("--model-arg", "model_args", multiple=True, callback=parse_model_args, metavar="KEY=VALUE",
              help="Extra argument for the model's factory, e.g. layer=-4 (repeatable); part of the model's identity.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache root. Default: $PJBENCH_CACHE, else $XDG_CACHE_HOME/pjbench or ~/.cache/pjbench.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the feature cache.")
@click.option("--text-encoder", default=None,
              help="Probe tasks: 'learned' (default: hashed words trained with the probe) or a frozen HF text model (id or dir).")
@click.option("--folds", type=click.IntRange(min=2), default=None, help="Probe tasks: cross-validation folds (default 5).")
@click.option("--frames", "n_frames", type=click.IntRange(min=1), default=None,
              help="Probe tasks: frames sampled uniformly over each video (default 16). vlm readout: N frames "
                   "uniformly instead of the benchmark's official sampling (recorded; a deviation).")
@click.option("--pooled-grid", callback=parse_int_list, default=None,
              help="Probe tasks: token grid t,h,w the features are average-pooled to (default 8,4,4).")
@click.option("--no-control", is_flag=True, help="Probe tasks: skip the video-blind control probe.")
@click.option("--shard", default=None, metavar="I/N",
              help="Score only shard I of N (0-based; items split by a stable hash of their name) into --out/.shards; "
                   "the last shard to finish merges (else `pjbench merge`).")
@click.option("--barrier-timeout", type=click.FloatRange(min=1), default=None,
              help="torchrun: seconds rank 0 waits for a rank that shows no sign of life before failing. Default: 600.")
@click.option("--slurm-partition", default=None, help="Submit to Slurm (submitit): a job array of shards, then the merge.")
@click.option("--nodes", type=click.IntRange(min=1), default=None, help="Slurm: nodes; the run has nodes x GPUs-per-node shards.")
@click.option("--slurm-gpus-per-node", type=click.IntRange(min=0), default=1, show_default=True,
              help="Slurm: GPUs per node (one shard per GPU; 0: one CPU shard per node).")
@click.option("--slurm-time", type=click.IntRange(min=1), default=240, show_default=True, help="Slurm: minutes per shard task.")
@click.option("--slurm-account", default=None, help="Slurm: account to charge.")
@click.option("--slurm-cpus-per-task", type=click.IntRange(min=1), default=8, show_default=True, help="Slurm: CPUs per shard task.")
@click.option("--wait", is_flag=True, help="Slurm: wait for the shard array and merge here instead of a merge job.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@user_errors
def eval_cmd(model, checkpoint, task, readout, predictions, data_root, split, out, limit, batch_size, device, seed, workers, context, dev_split,
             frame_step, window, stride, contexts, max_context_mode, n_boot, overwrite, model_args, cache_dir, no_cache,
             text_encoder, folds, n_frames, pooled_grid, no_control, quiet, dtype, compile_, dry_run, protocol, **scale):
    """Score a model on a task and write results.json + items.jsonl to --out.

    On K GPUs: `torchrun --nproc-per-node K -m pjbench.benchmarks.cli eval ... --device cuda` (one shard per
    rank, rank 0 merges). On Slurm: `--slurm-partition P --nodes N`. By hand: `--shard I/N`, then `pjbench merge`."""
    from pjbench.benchmarks.api import evaluate

    if not data_root.is_dir():
        raise PjbenchError(f"--data-root {data_root}: no such directory")
    vlm_opts = {k: scale.pop(k) for k in ("base_url", "api_key_env", "max_concurrency")}
    if readout == "vlm" or (readout is None and predictions is None and _is_answerer(model)):
        from pjbench.benchmarks.cli_vlm import eval_vlm

        return eval_vlm(model, data_root, out, vlm_opts=vlm_opts, scale=scale, opts=dict(
            split=split, limit=limit, seed=seed, n_boot=n_boot, overwrite=overwrite, batch_size=batch_size,
            no_cache=no_cache, cache_dir=cache_dir, device=device, checkpoint=checkpoint, model_args=model_args,
            n_frames=n_frames, dtype=dtype, quiet=quiet, task=task,
            refused={"--context": context, "--dev-split": dev_split, "--frame-step": frame_step, "--window": window,
                     "--stride": stride, "--contexts": contexts, "--max-context-mode": max_context_mode,
                     "--text-encoder": text_encoder, "--folds": folds, "--pooled-grid": pooled_grid,
                     "--workers": workers, "--no-control": no_control or None, "--compile": compile_ or None,
                     "--dry-run": dry_run or None, "--barrier-timeout": scale.get("barrier_timeout"),
                     "--protocol": None if protocol == "corrected" else protocol}))
    given = [f"--{k.replace('_', '-')}" for k, v in vlm_opts.items() if v]
    if given:
        raise PjbenchError(f"{', '.join(given)}: options of the vlm readout (--model openai:NAME)")
    if readout == "answers" or predictions is not None:
        if scale.get("shard") or scale.get("slurm_partition"):
            raise PjbenchError("--shard / --slurm-partition: an answer file is scored in one process (the answers "
                               "readout computes nothing to share out)")
        return _eval_answers(model, task, readout, predictions, data_root, split, out, n_boot, seed, overwrite)
    kw = dict(
        readout=readout, task=task, split=split, checkpoint=checkpoint, limit=limit, batch_size=batch_size,
        device=device, seed=seed, workers=workers, context=context, dev_split=dev_split, frame_step=frame_step, window=window, stride=stride,
        contexts=contexts, max_context_mode=max_context_mode, n_boot=n_boot, overwrite=overwrite, progress=not quiet,
        model_args=model_args, cache=not no_cache, cache_dir=cache_dir, text_encoder=text_encoder, folds=folds,
        n_frames=n_frames, pooled_grid=pooled_grid, controls=() if no_control else None,
        dtype=dtype, compile=compile_ or None,  # None: the default of either readout
        protocol=None if protocol == "corrected" else protocol,
    )
    _surprise_only_speed_options(task, kw)
    if dry_run:
        return _dry_run(model, data_root, out, scale, kw)
    merged = _eval_beyond_one_process(model, data_root, out, scale, kw)
    if merged == ():  # a shard, a torchrun rank or a Slurm submission that did not merge: status printed
        return
    results, path = merged or evaluate(model, data_root, out, **kw)
    if results.protocol.get("readout") in ("probe", "answers") or item_kind(results.task["name"]) == "multiple_choice":
        echo_qa_headline(results)
        beats = results.protocol.get("probe_beats_video_blind")
        if beats is not None:
            click.echo("probe vs video-blind control: " + ("better (CI of the difference above 0)" if beats else
                       "NOT distinguishable from the video-blind control (text shortcuts may explain the score)"))
        click.echo(f"results: {path}")
        for key, rel in results.files.items():
            click.echo(f"{key}: {Path(out) / rel}")
        return
    _echo_surprise_results(results, path, out)


def _is_answerer(model: str) -> bool:
    from pjbench.encoders.answerers import is_answerer

    return is_answerer(model)


def _eval_answers(model, task, readout, predictions, data_root, split, out, n_boot, seed, overwrite) -> None:
    from pjbench.benchmarks.api import evaluate

    if readout not in (None, "answers"):
        raise PjbenchError(f"--predictions is for --readout answers, not {readout}")
    if predictions is None:
        raise PjbenchError("--readout answers needs --predictions FILE (the model's answers)")
    results, path = evaluate(model, data_root, out, task=task, readout="answers", predictions=predictions,
                             split=split, n_boot=n_boot, seed=seed, overwrite=overwrite)
    echo_qa_headline(results)
    click.echo(f"results: {path}")


def _surprise_only_speed_options(task, kw) -> None:
    """--dtype, --compile and --batch-size auto are options of the surprise readout (probe tasks: not yet)."""
    from pjbench.benchmarks.tasks import TASKS

    readout = kw.get("readout") or TASKS.get(task).info.get("readout")
    if readout == "surprise":
        return
    given = [flag for flag, on in (("--dtype", kw["dtype"]), ("--compile", kw["compile"]),
                                   ("--batch-size auto", kw["batch_size"] == "auto"),
                                   ("--protocol", kw.get("protocol"))) if on]
    if given:
        raise PjbenchError(f"{', '.join(given)}: options of surprise tasks; task {task} is scored by a {readout} readout")


def _dry_run(model, data_root, out, scale, kw) -> None:
    """``eval --dry-run``: print :func:`pjbench.benchmarks.runner.plan_eval`; score and write nothing."""
    from pjbench.benchmarks.api import PROBE_ONLY_OPTIONS
    from pjbench.benchmarks.runner import plan_eval
    from pjbench.benchmarks.tasks import TASKS

    readout = kw.pop("readout", None) or TASKS.get(kw["task"]).info.get("readout")
    if readout == "probe":
        return _echo_probe_plan(model, data_root, out, scale, kw)
    if readout != "surprise":
        raise PjbenchError(f"--dry-run plans the surprise and probe readouts; task {kw['task']} is read out by "
                           f"{readout} (`pjbench validate --task {kw['task']}` counts its videos)")
    given = [k for k in PROBE_ONLY_OPTIONS if kw.get(k) is not None]
    if given:
        raise PjbenchError(f"{', '.join('--' + k.replace('_', '-') for k in given)}: not an option of task {kw['task']}")
    if scale.get("slurm_partition"):
        raise PjbenchError("--dry-run plans one process or one --shard; drop --slurm-partition")
    plan = plan_eval(model, data_root, out, shard=scale.get("shard"), warmup=True,
                     **{k: v for k, v in kw.items() if k not in PROBE_ONLY_OPTIONS})
    _echo_plan(plan)


def _echo_probe_plan(model, data_root, out, scale, kw) -> None:
    from pjbench.benchmarks.probe_plan import plan_probe

    if scale.get("shard") or scale.get("slurm_partition"):
        raise PjbenchError("--shard and Slurm runs are for the surprise readout")
    p = plan_probe(model, kw.pop("task"), data_root, out, **kw)
    train = (f"; the probe trains on {p['train_split']} ({p['train_items']:,} items)" if p["train_split"] else
             f"; {p['probe']['folds']}-fold cross-validation on the split")
    click.echo(f"dry run: {p['model']} on {p['task']}/{p['split']} (probe readout){train}; nothing is encoded, "
               "trained or written")
    click.echo(f"items: {p['items']:,}; distinct videos: {p['videos']:,} ({p['videos_cached']:,} in the feature cache, "
               f"{p['videos_to_encode']:,} to encode, {len(p['videos_missing'])} missing)")
    click.echo(f"features: {p['frames_per_clip']} frames per clip, encoder grid {'x'.join(map(str, p['encoder_grid']))} "
               f"= {p['tokens_per_clip']:,} tokens, pooled to {'x'.join(map(str, p['pooled_grid']))} "
               f"({p['stored_tokens_per_video']} tokens stored per video); cache store {p['cache']['store']}")
    pr = p["probe"]
    click.echo(f"probe: {pr['grid_settings']} (lr, weight decay) settings x epochs {','.join(map(str, pr['epochs']))}, "
               f"{pr['fits_per_probe']} fits per probe, {pr['fits_total']} in all (controls: "
               f"{', '.join(pr['controls']) or 'none'})")
    click.echo(f"--out {p['out']['path']}: {p['out']['state']}")


def _echo_plan(plan) -> None:
    p, bs = plan["protocol"], plan["batch_size"]
    shard = f" [shard {plan['shard']}]" if plan["shard"] else ""
    dev = f", dev split {plan['dev_split']}" if plan["dev_split"] else ", no dev split"
    click.echo(f"dry run: {plan['model']} on {plan['task']}/{plan['split']}{dev}{shard}; nothing is scored or written")
    batch = (f"auto (counted at the starting size {bs['planned_with']}; halves on out-of-memory)"
             if bs["requested"] == "auto" else str(bs["requested"]))
    click.echo(f"protocol: window {p['window']}, stride {p['stride']}, contexts {','.join(map(str, p['contexts']))}, "
               f"max-context mode {'on' if p['max_context_mode'] else 'off'}; {plan['tokens_per_window']:,} tokens per "
               f"window; dtype {plan['dtype']} on {plan['device']}; batch size {batch}")
    fs = plan["frame_sampling"]
    click.echo("frames: container headers, every " + (f"round(fps / {fs['sample_fps']:g}) frames" if fs["sample_fps"]
                                                       else f"{fs['frame_step']} frames") + " (PNG folders: counted)")
    cache = plan["cache"]
    click.echo(f"feature cache: {cache['root']} (store {cache['store']})" if cache["read"] else
               "feature cache: " + ("not read (--overwrite always)" if cache["enabled"] else "off (--no-cache)"))
    click.echo(f"--out {plan['out']['path']}: {plan['out']['state']}")

    def work(w) -> str:
        return (f"{w['videos']:,} videos, {w['windows']:,} windows, {w['encoder_calls']:,} encoder calls, "
                f"{w['predictor_calls']:,} predictor calls, {w['context_passes']:,} context passes, "
                f"{w['tokens_encoded']:,} tokens encoded, {w['predictor_tokens']:,} predictor tokens")

    for s in plan["splits"]:
        w = s["work"]
        click.echo(f"{s['split']} ({s['role']}): {s['videos']:,} videos, {len(s['unreadable'])} unreadable, "
                   f"{w['too_short']} shorter than one window")
        click.echo(f"  planned:    {work(w)}")
        sv = s["saving"]
        if sv.get("encoder_calls"):
            click.echo(f"  vs the per-window, per-context loop: {sv['target_windows']:.1f}x fewer target encodings, "
                       f"{sv['encoder_calls']:.1f}x fewer encoder calls, {sv['tokens_encoded']:.2f}x fewer tokens encoded")
        click.echo(f"  done:       {s['in_out']:,} in --out (partial/shard files), {s['in_cache']:,} in the feature cache")
        click.echo(f"  to compute: {work(s['to_compute'])}")
        for u in s["unreadable"][:3]:
            click.echo(f"  unreadable: {u['reason']}", err=True)
    click.echo(f"total to compute: {work(plan['total']['to_compute'])}")
    if plan.get("estimate"):
        from pjbench.benchmarks.estimate import describe

        click.echo(describe(plan["estimate"], plan["device"]))


def _echo_surprise_results(results, path, out) -> None:
    task = results.task["name"]
    head = results.metric("pairwise_accuracy", "avg")
    if head is not None and head.value is not None:
        click.echo(f"{results.model['name']} on {task}/{results.task['split']}: pairwise accuracy (avg) "
                   f"{100 * head.value:.1f} [{100 * head.ci_low:.1f}, {100 * head.ci_high:.1f}] over {head.n} pairs "
                   f"(chance {100 * head.chance:.0f}); context {results.protocol['context_selection']['selected']} "
                   f"({results.protocol['context_selection']['rule']})")
    echo_data_source(results)
    if results.protocol.get("name") not in (None, "corrected"):
        click.echo(f"protocol: {results.protocol['name']}")
    if results.protocol.get("optimistic"):
        click.echo("warning: the context length and threshold were picked on the reported split (as the published "
                   "tables): the numbers are optimistic", err=True)
    t = results.task
    if t.get("n_from_cache") or t.get("n_from_previous_run"):
        click.echo(f"{t['n_computed']} of {t['n_scored']} videos computed; {t['n_from_cache']} served from the feature "
                   f"cache, {t['n_from_previous_run']} from the interrupted run in --out")
    if t.get("n_cache_corrupt"):
        click.echo(f"warning: {t['n_cache_corrupt']} cache entr{'y' if t['n_cache_corrupt'] == 1 else 'ies'} failed "
                   "verification (payload or key checksum) and were recomputed", err=True)
    echo_coverage(results.task)
    conditions = results.task.get("conditions") or {}
    if conditions:
        words = {"non_square": "non-square (centre-cropped)", "vfr": "variable frame rate (sampled by timestamp)"}
        click.echo("conditions: " + ", ".join(f"{n} video(s) {words.get(k, k)}" for k, n in conditions.items())
                   + " (per item: `conditions` in items.jsonl)", err=True)
    click.echo(f"results: {path}")
    for key, rel in results.files.items():
        click.echo(f"{key}: {Path(out) / rel}")


def _eval_beyond_one_process(model, data_root, out, scale, kw):
    """--shard, torchrun ranks and Slurm submission. ``None``: an ordinary run; ``()``: this process did not
    merge (its status is printed); else ``(results, path)`` of the merge it ran."""
    from pjbench.benchmarks import distributed as dist
    from pjbench.benchmarks.api import PROBE_ONLY_OPTIONS
    from pjbench.benchmarks.tasks import TASKS

    launch = dist.torchrun_env()
    if not (launch or scale["shard"] or scale["slurm_partition"]):
        if scale["nodes"] is not None or scale["wait"]:
            raise PjbenchError("--nodes and --wait need --slurm-partition")
        return None
    readout = kw.get("readout") or TASKS.get(kw["task"]).info.get("readout")
    if readout not in ("surprise", "probe"):
        raise PjbenchError(f"--shard, torchrun and Slurm runs are for the surprise and probe readouts; task "
                           f"{kw['task']} is read out by {readout} here (an answer file is scored in one process)")
    if readout == "surprise":
        given = [k for k in PROBE_ONLY_OPTIONS if kw.get(k) is not None]
        if given:
            raise PjbenchError(f"{', '.join('--' + k.replace('_', '-') for k in given)}: not an option of task {kw['task']}")
        kw = {k: v for k, v in kw.items() if k not in PROBE_ONLY_OPTIONS}
    if sum(map(bool, (launch, scale["shard"], scale["slurm_partition"]))) > 1:
        raise PjbenchError("use one of --shard, torchrun (RANK/WORLD_SIZE set) and --slurm-partition")
    if launch:
        outcome = dist.torchrun_eval(model, data_root, out, launch=launch, barrier_timeout=scale["barrier_timeout"]
                                     or dist.DEFAULT_BARRIER_TIMEOUT_S, **kw)
    elif scale["shard"]:
        from pjbench.benchmarks.api import evaluate

        outcome = evaluate(model, data_root, out, shard=scale["shard"], **kw)
    else:
        from pjbench.benchmarks.cli_vlm import submit_to_slurm

        return submit_to_slurm(model, data_root, out, scale, kw)
    who = f"rank {launch.rank}: " if launch else ""
    click.echo(f"{who}shard {outcome.shard}: {outcome.n_scored} of {outcome.n_items} items scored "
               f"({outcome.n_skipped} skipped, {outcome.n_computed} computed now) in {outcome.directory}")
    if outcome.merged is not None:
        return outcome.merged
    if not launch:
        click.echo(f"waiting for shard(s) {', '.join(map(str, outcome.pending))} of {outcome.shard.count}; the last "
                   f"shard to finish merges, or run `pjbench merge --out {out}`")
    return ()


@main.command("merge")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The --out of a sharded run (torchrun, --shard, Slurm).")
@click.option("--shards", type=click.IntRange(min=1), default=None, help="Shard count N, if --out holds several layouts.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@user_errors
def merge_cmd(out, shards, quiet):
    """Merge the shards of a run into results.json + items.jsonl, identical to a single-process run.
    Names the missing shards and items if any shard is unfinished; running it again gives the same files."""
    from pjbench.benchmarks.api import merge

    results, path = merge(out, shards=shards, progress=not quiet)
    if results.protocol.get("readout") == "vlm":
        echo_vlm_results(results)
        click.echo(f"results: {path}")
        return
    if results.protocol.get("readout") == "probe":
        echo_qa_headline(results)
        click.echo(f"results: {path}")
        return
    _echo_surprise_results(results, path, out)
