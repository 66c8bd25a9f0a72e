"""``pjbench`` command line. Parses arguments, calls :mod:`pjbench.benchmarks.api`, prints paths.

User mistakes (bad paths, unknown names, malformed data) exit with a one-line ``Error:`` message and
status 1, never a traceback; set ``PJBENCH_DEBUG=1`` to see the traceback anyway.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from pathlib import Path

import click

from pjbench import __version__
from pjbench.benchmarks.errors import PjbenchError
from pjbench.synthetic.formats import DEFAULT_FORMAT as SYNTH_DEFAULT
from pjbench.synthetic.formats import WRITERS as SYNTH_WRITERS


def _split_help(readout: str | None = None) -> str:
    """Splits and default split per task (of one ``readout``), from the task registry (so the help never goes
    stale)."""
    from pjbench.benchmarks.tasks import TASKS

    return "; ".join(f"{e.name}: {e.info.get('splits')} (default {e.info.get('default_split')})"
                     for e in TASKS.entries() if readout is None or e.info.get("readout") == readout)


def _dev_split_help() -> str:
    from pjbench.benchmarks.tasks import TASKS

    return "; ".join(f"{e.name}: {e.info.get('dev_split') or 'none (context fixed)'}"
                     + (" (for HeldOut: Main)" if "HeldOut" in str(e.info.get("splits")) else "")
                     for e in TASKS.entries() if e.info.get("readout") == "surprise")


_DEFAULT_TASK_TEXT = "the first registered task (`pjbench list`)"


def _default_task() -> str:
    from pjbench.benchmarks.tasks import default_task

    return default_task()


def _item_kind(task: str) -> str | None:
    from pjbench.benchmarks.tasks import spec_of

    spec = spec_of(task)
    return spec.item_kind if spec else None


def _user_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PjbenchError as exc:
            if os.environ.get("PJBENCH_DEBUG"):
                raise
            from pjbench.benchmarks.safe_text import clean

            raise click.ClickException(clean(str(exc))) from None
        except OSError as exc:
            message = _os_error_message(exc)
            if message is None or os.environ.get("PJBENCH_DEBUG"):
                raise
            from pjbench.benchmarks.safe_text import clean

            raise click.ClickException(clean(message)) from None

    return wrapper


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


def _os_error_message(exc: OSError) -> str | None:
    """One line for the file-system errors a user fixes (disk full, read-only or forbidden folder)."""
    where = exc.filename or "a file"
    if exc.errno in _NO_SPACE:
        return (f"{where}: no space left on the device ({exc.strerror}). Everything finished so far is kept (a run "
                "resumes from --out and the feature cache): free space, or point --out / PJBENCH_CACHE elsewhere, "
                "and run the same command again")
    if exc.errno in _NOT_WRITABLE:
        return (f"{where}: cannot write ({exc.strerror}); choose a writable --out (the feature cache: set "
                "PJBENCH_CACHE or pass --no-cache)")
    return None


def _model_args(ctx, param, value):
    """``--model-arg layer=-4 --model-arg pool=mean`` -> ``{"layer": -4, "pool": "mean"}`` (JSON values where they parse)."""
    import json

    out = {}
    for item in value or ():
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}")
        if key.strip() in ("checkpoint", "device"):
            raise click.BadParameter(f"{key.strip()} has its own option: use --{key.strip()}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _int_list(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None


def _batch_size(ctx, param, value):
    from pjbench.probes.surprise import parse_batch_size

    try:
        return parse_batch_size(value)
    except PjbenchError as exc:
        raise click.BadParameter(str(exc).replace("--batch-size ", "")) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pjbench")
def main() -> None:
    """pjbench: physical-reasoning benchmarks for video models (IntPhys 2, MVPBench, CausalVQA).

    Start with `pjbench demo`, then `pjbench validate --task T --data-root DIR` and
    `pjbench eval --model NAME --task T --data-root DIR --out DIR` (`pjbench list` shows models and tasks).
    """


@main.command("eval")
@click.option("--model", "-m", required=True, help="Registered model name (see `pjbench list`).")
@click.option("--checkpoint", default=None,
              help="HF hub id, local save_pretrained directory, or official V-JEPA 2 .pt/.pth/.tar file; default: the model entry's.")
@click.option("--task", "-t", default=_default_task, show_default=_DEFAULT_TASK_TEXT, help="Registered task name.")
@click.option("--readout", default=None,
              help="How the model is read out: surprise, probe, answers (an answer file: --predictions; --model names "
                   "the model) or a plugin's. Default: the task's (`pjbench list`).")
@click.option("--predictions", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="--readout answers: the model's answer file (JSONL/CSV, as for `pjbench score`).")
@click.option("--data-root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder in the official layout (e.g. the IntPhys2/ release root).")
@click.option("--split", default=None, help=f"Split to report. {_split_help()}.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory to write.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N pairs (HeldOut: videos) of the reported split; the dev split is scored whole.")
@click.option("--batch-size", default="8", show_default=True, callback=_batch_size, metavar="N|auto",
              help="Windows per forward pass, or `auto`: start at 32 and halve on out-of-memory (the size that fits "
                   "is kept and recorded).")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default=None,
              help="Compute dtype of the forward passes (autocast; fp16: CUDA only). Part of the protocol and cache key. "
                   "Default: fp32 (--protocol as-published: bf16, as the published config).")
@click.option("--protocol", type=click.Choice(["corrected", "as-published"]), default="corrected", show_default=True,
              help="Surprise tasks: `as-published` reproduces the published code's numbers, bugs included (224-px token "
                   "masks, zero-padded rows, no antialias, bf16, positional Debug pairing, context picked on the "
                   "reported split: optimistic). See `pjbench ablate` and the README's differences table.")
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
              help=f"Split for choosing context/threshold (never the reported one). Default: {_dev_split_help()}.")
@click.option("--frame-step", type=click.IntRange(min=1), default=None,
              help="Keep every k-th frame (replaces the model's fps-based sampling; needed for frame folders).")
@click.option("--window", type=click.IntRange(min=2), default=None, help="Window length in sampled frames. Default: the model's.")
@click.option("--stride", type=click.IntRange(min=1), default=None, help="Window stride in sampled frames. Default: 2.")
@click.option("--contexts", callback=_int_list, default=None, help="Comma-separated context lengths. Default: k*window/8, k=2..7.")
@click.option("--max-context-mode/--no-max-context-mode", default=None, help="Prepend short-prefix losses of the first window. Default: on.")
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples for the CIs.")
@click.option("--overwrite", type=click.Choice(["only-missing", "always", "never"]), default="only-missing", show_default=True,
              help="Reuse finished items of an interrupted run in --out, start over, or refuse to touch an existing run.")
@click.option("--model-arg", "model_args", multiple=True, callback=_model_args, metavar="KEY=VALUE",
              help="Extra argument for the model's factory, e.g. layer=-4 (repeatable); part of the model's identity.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache root. Default: $PJBENCH_CACHE, else $XDG_CACHE_HOME/pjbench or ~/.cache/pjbench.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the feature cache.")
@click.option("--text-encoder", default=None,
              help="Probe tasks: 'learned' (default: hashed words trained with the probe) or a frozen HF text model (id or dir).")
@click.option("--folds", type=click.IntRange(min=2), default=None, help="Probe tasks: cross-validation folds (default 5).")
@click.option("--frames", "n_frames", type=click.IntRange(min=1), default=None,
              help="Probe tasks: frames sampled uniformly over each video (default 16).")
@click.option("--pooled-grid", callback=_int_list, default=None,
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
@_user_errors
def eval_cmd(model, checkpoint, task, readout, predictions, data_root, split, out, limit, batch_size, device, seed, workers, context, dev_split,
             frame_step, window, stride, contexts, max_context_mode, n_boot, overwrite, model_args, cache_dir, no_cache,
             text_encoder, folds, n_frames, pooled_grid, no_control, quiet, dtype, compile_, dry_run, protocol, **scale):
    """Score a model on a task and write results.json + items.jsonl to --out.

    On K GPUs: `torchrun --nproc-per-node K -m pjbench.benchmarks.cli eval ... --device cuda` (one shard per
    rank, rank 0 merges). On Slurm: `--slurm-partition P --nodes N`. By hand: `--shard I/N`, then `pjbench merge`."""
    from pjbench.benchmarks.api import evaluate

    if not data_root.is_dir():
        raise PjbenchError(f"--data-root {data_root}: no such directory")
    if readout == "answers" or predictions is not None:
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
    if results.protocol.get("readout") in ("probe", "answers") or _item_kind(results.task["name"]) == "multiple_choice":
        _echo_qa_headline(results)
        beats = results.protocol.get("probe_beats_video_blind")
        if beats is not None:
            click.echo("probe vs video-blind control: " + ("better (CI of the difference above 0)" if beats else
                       "NOT distinguishable from the video-blind control (text shortcuts may explain the score)"))
        click.echo(f"results: {path}")
        for key, rel in results.files.items():
            click.echo(f"{key}: {Path(out) / rel}")
        return
    _echo_surprise_results(results, path, out)


def _eval_answers(model, task, readout, predictions, data_root, split, out, n_boot, seed, overwrite) -> None:
    from pjbench.benchmarks.api import evaluate

    if readout not in (None, "answers"):
        raise PjbenchError(f"--predictions is for --readout answers, not {readout}")
    if predictions is None:
        raise PjbenchError("--readout answers needs --predictions FILE (the model's answers)")
    results, path = evaluate(model, data_root, out, task=task, readout="answers", predictions=predictions,
                             split=split, n_boot=n_boot, seed=seed, overwrite=overwrite)
    _echo_qa_headline(results)
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
    _echo_data_source(results)
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
    _echo_coverage(results.task)
    conditions = results.task.get("conditions") or {}
    if conditions:
        words = {"non_square": "non-square (centre-cropped)", "vfr": "variable frame rate (sampled by timestamp)"}
        click.echo("conditions: " + ", ".join(f"{n} video(s) {words.get(k, k)}" for k, n in conditions.items())
                   + " (per item: `conditions` in items.jsonl)", err=True)
    click.echo(f"results: {path}")
    for key, rel in results.files.items():
        click.echo(f"{key}: {Path(out) / rel}")


def _echo_data_source(results) -> None:
    data = getattr(results, "data", None) or {}
    if data.get("source") == "synthetic":
        click.echo(f"data: the synthetic suite ({data.get('generator')}, seed {data.get('seed')}), not the released "
                   "benchmark: these numbers are not comparable with published ones")


def _echo_coverage(t: dict, unit: str = "videos") -> None:
    """One line saying how many items entered the metrics and how many were left out, and why (first reason)."""
    skipped, left = list(t.get("skipped") or []), list(t.get("left_out") or [])
    if not skipped and not left:
        return
    n = t.get("n_selected", t.get("n_items"))
    n_in = t.get("n_in_metrics", t.get("n_scored", 0) - len(left))
    parts = [f"{len(skipped)} skipped"] if skipped else []
    if left:
        parts.append(f"{len(left)} scored but out of the metrics (incomplete pair)")
    first = (skipped or left)[0]["reason"]
    click.echo(f"coverage: {n_in} of {n} {unit} in the metrics, {len(skipped) + len(left)} left out "
               f"({', '.join(parts)}); first: {first} (all with reasons: results.json task.skipped"
               f"{' / task.left_out' if left else ''})", err=True)


def _eval_beyond_one_process(model, data_root, out, scale, kw):
    """--shard, torchrun ranks and Slurm submission. ``None``: an ordinary run; ``()``: this process did not
    merge (its status is printed); else ``(results, path)`` of the merge it ran."""
    from pjbench.benchmarks import distributed as dist
    from pjbench.benchmarks.api import PROBE_ONLY_OPTIONS
    from pjbench.benchmarks.tasks import TASKS

    launch = dist.torchrun_env()
    slurm = {k: v for k, v in scale.items() if k.startswith("slurm_") or k in ("nodes", "wait")}
    if not (launch or scale["shard"] or scale["slurm_partition"]):
        if scale["nodes"] is not None or scale["wait"]:
            raise PjbenchError("--nodes and --wait need --slurm-partition")
        return None
    if (kw.get("readout") or TASKS.get(kw["task"]).info.get("readout")) != "surprise":
        raise PjbenchError(f"--shard, torchrun and Slurm runs are for surprise tasks (the surprise readout); task {kw['task']} is read "
                           f"out by {kw.get('readout') or TASKS.get(kw['task']).info.get('readout')}")
    kw = {k: v for k, v in kw.items() if k != "readout"}
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
        from pjbench.benchmarks.runner import run_shard

        outcome = run_shard(model, data_root, out, shard=scale["shard"], **kw)
    else:
        from pjbench.benchmarks import slurm as slurm_mod

        if scale["nodes"] is None:
            raise PjbenchError("--slurm-partition needs --nodes N")
        sub = slurm_mod.submit(
            model, data_root, out, partition=slurm["slurm_partition"], nodes=slurm["nodes"],
            gpus_per_node=slurm["slurm_gpus_per_node"], time_min=slurm["slurm_time"], account=slurm["slurm_account"],
            cpus_per_task=slurm["slurm_cpus_per_task"], wait=slurm["wait"], eval_kwargs=kw)
        click.echo(f"submitted {sub.plan.n_shards} shards as Slurm array job {sub.array_id} "
                   f"(logs: {sub.plan.folder})")
        if sub.merged is not None:
            return sub.merged
        click.echo(f"merge job {sub.merge_job.job_id} runs after the array; results: {Path(out) / 'results.json'} "
                   f"(or run `pjbench merge --out {out}` yourself)")
        return ()
    who = f"rank {launch.rank}: " if launch else ""
    click.echo(f"{who}shard {outcome.shard}: {outcome.n_scored} of {outcome.n_items} items scored "
               f"({outcome.n_skipped} skipped, {outcome.n_computed} computed now) in {outcome.directory}")
    if outcome.merged is not None:
        return outcome.merged
    if not launch:
        click.echo(f"waiting for shard(s) {', '.join(map(str, outcome.pending))} of {outcome.shard.count}; the last "
                   f"shard to finish merges, or run `pjbench merge --out {out}`")
    return ()


@main.command("ablate")
@click.option("--model", "-m", required=True, help="Registered model name (see `pjbench list`).")
@click.option("--checkpoint", default=None, help="As for `eval` (an official V-JEPA 2 .pt gets the encoder-split row).")
@click.option("--task", "-t", default=_default_task, show_default=_DEFAULT_TASK_TEXT, help="A surprise task.")
@click.option("--data-root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder in the official layout (e.g. the IntPhys2/ release root).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for one run per protocol, ablation.json and ablation.md.")
@click.option("--split", default=None, help="Split to report (default: the task's).")
@click.option("--deviation", "deviations", multiple=True,
              help="Only these deviations (repeatable): masks, padding, antialias, dtype, encoder-split, "
                   "context-selection, debug-pairing. Default: all.")
@click.option("--model-arg", "model_args", multiple=True, callback=_model_args, metavar="KEY=VALUE",
              help="Extra argument for the model's factory (repeatable), as for `eval`.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N pairs of the reported split.")
@click.option("--window", type=click.IntRange(min=2), default=None, help="Window length in sampled frames.")
@click.option("--stride", type=click.IntRange(min=1), default=None, help="Window stride in sampled frames.")
@click.option("--contexts", callback=_int_list, default=None, help="Comma-separated context lengths.")
@click.option("--frame-step", type=click.IntRange(min=1), default=None, help="Keep every k-th frame.")
@click.option("--batch-size", default="8", show_default=True, callback=_batch_size, metavar="N|auto",
              help="Windows per forward pass.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Video-decoding worker processes.")
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for torch, numpy and the bootstrap.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Feature cache root.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@_user_errors
def ablate_cmd(model, checkpoint, task, data_root, out, split, deviations, model_args, limit, window, stride, contexts,
               frame_step, batch_size, device, workers, n_boot, seed, cache_dir, quiet):
    """What each fix of the published surprise protocol changes: the model under the corrected protocol, as
    published, and one published deviation at a time, with pairwise accuracy and the paired difference vs
    corrected (95 % cluster-bootstrap CI by scene). Runs share the feature cache."""
    from pjbench.benchmarks.api import ablate

    if not data_root.is_dir():
        raise PjbenchError(f"--data-root {data_root}: no such directory")
    ablation, path = ablate(model, data_root, out, task=task, split=split, deviations=deviations, checkpoint=checkpoint,
                            model_args=model_args, limit=limit, window=window, stride=stride, contexts=contexts,
                            frame_step=frame_step, batch_size=batch_size, device=device, workers=workers,
                            n_boot=n_boot, seed=seed, cache_dir=cache_dir, progress=not quiet,
                            command="pjbench ablate " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["ablate"] else None)
    click.echo(ablation.table())
    click.echo(f"ablation: {path}")
    click.echo(f"table: {path.parent / 'ablation.md'}")


@main.command("merge")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The --out of a sharded run (torchrun, --shard, Slurm).")
@click.option("--shards", type=click.IntRange(min=1), default=None, help="Shard count N, if --out holds several layouts.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@_user_errors
def merge_cmd(out, shards, quiet):
    """Merge the shards of a run into results.json + items.jsonl, identical to a single-process run.
    Names the missing shards and items if any shard is unfinished; running it again gives the same files."""
    from pjbench.benchmarks.api import merge

    results, path = merge(out, shards=shards, progress=not quiet)
    _echo_surprise_results(results, path, out)


@main.command("list")
@click.option("--what", type=click.Choice(["all", "models", "tasks"]), default="all", show_default=True,
              help="List models, tasks or both.")
@_user_errors
def list_cmd(what):
    """Registered models and tasks with one-line descriptions and defaults."""
    from pjbench.benchmarks.api import list_models, list_tasks

    if what in ("all", "models"):
        click.echo("Models:")
        for m in list_models():
            ck = m.get("checkpoint") or "-"
            prep = (f"{m.get('resolution', '?')}px, {m.get('frames', '?')} frames, "
                    f"{m.get('sample_fps', '?')} fps (step {m.get('frame_step', '?')}), tubelet {m.get('tubelet', '?')}")
            flags = " [offline]" if m.get("offline") else ""
            click.echo(f"  {m['name']:<20} {m['description']}{flags}")
            click.echo(f"  {'':<20} params: {m.get('params', '?')}; checkpoint: {ck}; {prep}; readouts: "
                       f"{m.get('readouts', '?')}; source: {m['source']}")
    if what in ("all", "tasks"):
        click.echo("Tasks:")
        for t in list_tasks():
            click.echo(f"  {t['name']:<20} {t['description']}")
            if t.get("readout") == "probe":
                how = ("readout: attentive probe on frozen features, k-fold cross-validation grouped by pair "
                       "(or `pjbench score` for answer files)")
            else:
                dev = t.get("dev_split") or "none (context fixed, threshold on the split itself)"
                how = f"readout: surprise; dev split {dev}"
            click.echo(f"  {'':<20} splits: {t.get('splits')}; default {t.get('default_split')}; {how}; "
                       f"source: {t.get('source', 'builtin')}")


@main.group("cache")
def cache_group() -> None:
    """See and manage the feature cache ($PJBENCH_CACHE, else the XDG cache folder)."""


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


@cache_group.command("ls")
@click.option("--model", default=None, help="Only this model name.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache root. Default: $PJBENCH_CACHE, else $XDG_CACHE_HOME/pjbench or ~/.cache/pjbench.")
@_user_errors
def cache_ls(model, cache_dir):
    """Cached model identities with their stores, entry counts and sizes."""
    from pjbench.benchmarks.cache import FeatureCache

    cache = FeatureCache(cache_dir)
    rows = [r for r in cache.models() if model is None or r["name"] == model]
    click.echo(f"cache: {cache.root}")
    if not rows:
        click.echo("  (empty)")
    for r in rows:
        click.echo(f"  {r['name']}  identity {r['key']}  {r['entries']} entries, {_size(r['bytes'])}")
        click.echo(f"      checkpoint: {r['checkpoint'] or '-'}" + (f" @ {r['revision']}" if r.get("revision") else ""))
        for st in r["stores"]:
            click.echo(f"      {st['store']}: {st['entries']} entries, {_size(st['bytes'])}")
    click.echo(f"{len(rows)} model identit{'y' if len(rows) == 1 else 'ies'}, "
               f"{sum(r['entries'] for r in rows)} entries, {_size(sum(r['bytes'] for r in rows))}")


@cache_group.command("clear")
@click.option("--model", default=None, help="Only entries of this model name (every identity under it).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache root. Default: $PJBENCH_CACHE, else $XDG_CACHE_HOME/pjbench or ~/.cache/pjbench.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_user_errors
def cache_clear(model, cache_dir, yes):
    """Delete cached entries (all, or one model's)."""
    from pjbench.benchmarks.cache import FeatureCache

    cache = FeatureCache(cache_dir)
    what = f"entries of model {model}" if model else "every entry"
    if not yes:
        click.confirm(f"delete {what} under {cache.root}?", abort=True)
    n, size = cache.clear(model)
    click.echo(f"removed {n} model identit{'y' if n == 1 else 'ies'} ({_size(size)}) from {cache.root}")


def _echo_counts(counts: dict, indent: int) -> None:
    """Nested counts as an indented outline; a dict of plain values fits on one line."""
    pad = " " * indent
    for key, value in counts.items():
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
            click.echo(f"{pad}{key}:")
            _echo_counts(value, indent + 2)
        elif isinstance(value, dict):
            click.echo(f"{pad}{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
        else:
            click.echo(f"{pad}{key}: {value}")


@main.command("validate")
@click.option("--task", "-t", default=_default_task, show_default=_DEFAULT_TASK_TEXT,
              help="Registered task name (see `pjbench list`).")
@click.option("--data-root", required=True, type=click.Path(path_type=Path),
              help="Dataset folder in the task's official release layout.")
@click.option("--no-videos", is_flag=True, help="Skip decoding every video (layout and metadata checks only).")
@click.option("--videos-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="MVPBench: folder holding the <source>/ video folders. Default: DATA_ROOT/videos.")
@click.option("--model", "-m", default=None,
              help="Check the videos against what eval of this model needs (frames after sampling vs its window, "
                   "non-square crop, variable frame rate). Default: the task's reference model (vjepa2: 48-frame "
                   "windows at 6 fps).")
@click.option("--window", type=click.IntRange(min=2), default=None, help="As eval's --window. Default: the model's.")
@click.option("--frame-step", type=click.IntRange(min=1), default=None,
              help="As eval's --frame-step (keep every k-th frame instead of the model's fps-based sampling).")
@click.option("--frames", "n_frames", type=click.IntRange(min=1), default=None,
              help="Probe tasks: as eval's --frames (frames sampled per video; default 16).")
@_user_errors
def validate_cmd(task, data_root, no_videos, videos_root, model, window, frame_step, n_frames):
    """Check a dataset folder: layout, schema, counts, pairs, missing or unreadable videos, and what eval
    under the model's protocol would skip or change (--model).

    Exits non-zero when errors are found."""
    from pjbench.benchmarks.api import validate

    rep = validate(task, data_root, check_videos=not no_videos, task_options=_task_options(task, videos_root),
                   model=model, window=window, frame_step=frame_step, n_frames=n_frames)
    click.echo(f"{task} at {rep.data_root}")
    _echo_counts(rep.counts, indent=2)
    for w in rep.warnings:
        click.echo(f"  warning: {w}")
    for e in rep.errors:
        click.echo(f"  ERROR: {e}")
    click.echo(f"{len(rep.errors)} error(s), {len(rep.warnings)} warning(s)")
    sys.exit(0 if rep.ok else 1)


def _task_options(task: str, videos_root) -> dict:
    if videos_root is None:
        return {}
    from pjbench.benchmarks.tasks import TASKS

    takers = [sp.name for sp in TASKS.specs() if "videos_root" in sp.options]
    if task not in takers:
        raise PjbenchError(f"--videos-root applies to --task {' / '.join(takers) or '(none)'} only")
    return {"videos_root": videos_root}


@main.command("score")
@click.option("--task", "-t", required=True, help="A multiple-choice task (see `pjbench list`: item kind multiple_choice).")
@click.option("--data-root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The task's release folder (answers are matched to its items; videos are not needed).")
@click.option("--predictions", "-p", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL or CSV, one line per item: id + answer (a letter or free text; with --parser lenient also "
                   "a candidate text or, on CausalVQA, an option number).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory to write.")
@click.option("--split", default=None, help=f"Split the answers are for. {_split_help('probe')}.")
@click.option("--model-name", default=None, help="Name shown in reports. Default: the predictions file's stem.")
@click.option("--videos-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="MVPBench: folder holding the videos (only used for coverage). Default: DATA_ROOT/videos.")
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True,
              help="Bootstrap resamples for the CIs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--overwrite", is_flag=True, help="Replace an existing results.json in --out.")
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=95.0, show_default=True,
              help="Percent of the split's items that must have an answer; below it score is an error "
                   "(missing answers would count as wrong).")
@click.option("--allow-missing", is_flag=True,
              help="Score even below --min-coverage: missing answers count as wrong (recorded in results.json).")
@click.option("--parser", type=click.Choice(["official", "lenient", "strict"]), default="official", show_default=True,
              help="How answers are read: official = exactly the benchmark's official scorer (a letter or free "
                   "text; candidate texts and option numbers are wrong); lenient = also candidate texts and "
                   "option numbers (pjbench's earlier rule); strict = a lone letter or the prompt's answer format "
                   "only. Recorded in results.json; runs with different parsers are not ranked together.")
@_user_errors
def score_cmd(task, data_root, predictions, out, split, model_name, videos_root, n_boot, seed, overwrite,
              min_coverage, allow_missing, parser):
    """Score an answer file from any model (e.g. a video-language model) with the task's metrics and CIs."""
    from pjbench.benchmarks.api import score

    if not data_root.is_dir():
        raise PjbenchError(f"--data-root {data_root}: no such directory")
    results, path = score(task, data_root, predictions, out, split=split, n_boot=n_boot, seed=seed,
                          model_name=model_name, task_options=_task_options(task, videos_root), overwrite=overwrite,
                          min_coverage=min_coverage, allow_missing=allow_missing, parser=parser)
    _echo_qa_headline(results)
    answers = results.task.get("answers") or {}
    if answers:
        click.echo("answers: " + ", ".join(f"{k} {v}" for k, v in answers.items() if not isinstance(v, (list, dict))))
        for key in ("missing", "unparseable", "unknown_id", "duplicate"):
            examples = answers.get(f"{key}_examples") or []
            if examples:
                click.echo(f"  {key} (first {len(examples)}): {', '.join(map(str, examples))}", err=True)
        # lenient reads what the official scorers count wrong (candidate texts, option numbers): say so
        n = (answers.get("parser_disagreements") or {}).get("lenient", 0)
        if n:
            examples = (answers.get("parser_disagreement_examples") or {}).get("lenient") or []
            click.echo(f"Warning: {n} of {answers.get('answered')} answers are read differently by --parser lenient "
                       f"(e.g. {', '.join(map(str, examples[:3]))}): candidate texts or option numbers, which the "
                       f"official scorer counts wrong? This run used --parser {parser}", err=True)
    click.echo(f"results: {path}")
    for key, rel in results.files.items():
        click.echo(f"{key}: {Path(out) / rel}")


def _echo_qa_headline(results) -> None:
    from pjbench.benchmarks.tasks import spec_of

    spec = spec_of(results.task["name"])
    name = results.protocol.get("headline") or (spec.headline_metric if spec else "pair_accuracy")
    head = results.metric(name)
    if head is not None and head.value is not None:
        ci = (f"[{100 * head.ci_low:.1f}, {100 * head.ci_high:.1f}]" if head.ci_low is not None
              else "[CI undefined: too few pairs per stratum]")
        click.echo(f"{results.model['name']} on {results.task['name']}/{results.task['split']}: {name.replace('_', ' ')} "
                   f"{100 * head.value:.1f} {ci} over {head.n} {head.unit} (chance {100 * head.chance:.0f})")
    _echo_data_source(results)
    _echo_coverage(results.task, unit="items")


@main.command("synth")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the suite to (the release root).")
@click.option("--benchmark", "-b", type=click.Choice(list(SYNTH_WRITERS)), default=SYNTH_DEFAULT,
              show_default=True, help="Which official release format to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the procedural world (same seed, same suite).")
@click.option("--scale", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="Multiply the number of scenes.")
@click.option("--resolution", type=click.IntRange(min=32), default=None, help="Frame side in pixels (even).")
@click.option("--fps", type=click.IntRange(min=1), default=None, help="Frames per second.")
@click.option("--n-frames", type=click.IntRange(min=8), default=None, help="Frames per video.")
@click.option("--missing-fraction", type=click.FloatRange(0, 1), default=None,
              help="MVPBench: share of pairs with absent videos (as in real partial downloads). Default 0.1.")
@click.option("--overwrite", is_flag=True, help="Replace an existing suite with different parameters.")
@_user_errors
def synth_cmd(out, benchmark, seed, scale, resolution, fps, n_frames, missing_fraction, overwrite):
    """Write an embedded synthetic suite in a benchmark's official release format (default: IntPhys 2)."""
    from pjbench.benchmarks.api import synth

    if missing_fraction is not None:
        import inspect

        from pjbench import synthetic

        takers = [b for b, fn in SYNTH_WRITERS.items() if "missing_fraction" in inspect.signature(getattr(synthetic, fn)).parameters]
        if benchmark not in takers:
            raise PjbenchError(f"--missing-fraction applies to --benchmark {' / '.join(takers)} only")
    kw = {k: v for k, v in dict(resolution=resolution, fps=fps, n_frames=n_frames,
                                missing_fraction=missing_fraction).items() if v is not None}
    path = synth(out, benchmark=benchmark, seed=seed, scale=scale, overwrite=overwrite, **kw)
    click.echo(f"suite: {path}")


@main.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write; the leaderboard exports go next to it.")
@click.option("--title", default=None, help="Page title. Default: derived from the runs.")
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True,
              help="Bootstrap resamples of the paired significance tests.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of those resamples.")
@click.option("--no-exports", is_flag=True, help="Do not write leaderboard.csv/.json/.md next to the HTML.")
@click.option("--allow-unverified", is_flag=True,
              help="Show runs whose results.json disagrees with their items file (flagged in red, not ranked) "
                   "instead of refusing them.")
@_user_errors
def report_cmd(run_dirs, out, title, n_boot, seed, no_exports, allow_unverified):
    """Render RUN_DIRS (run directories, quoted globs, or a folder of runs) into a self-contained HTML report,
    with leaderboard.csv, leaderboard.json and leaderboard.md next to it."""
    from pjbench.benchmarks.api import report

    path = report(run_dirs, out, title=title, n_boot=n_boot, seed=seed, exports=not no_exports,
                  allow_unverified=allow_unverified)
    click.echo(f"report: {path}")
    if not no_exports:
        for name in ("leaderboard.csv", "leaderboard.json", "leaderboard.md"):
            click.echo(f"{name}: {path.parent / name}")


@main.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--min-shared", type=click.IntRange(min=1), default=None,
              help="Warn below this many shared pairs. Default: 30.")
@_user_errors
def compare_cmd(run_a, run_b, n_boot, seed, min_shared):
    """Is RUN_A better than RUN_B (two run directories)? Paired differences of the headline metric on the pairs both scored,
    overall and per stratum, with 95 % CI and p-value."""
    from pjbench.benchmarks.api import compare

    result = compare(run_a, run_b, n_boot=n_boot, seed=seed, min_shared=min_shared)
    click.echo(result.table())


@main.command("perf")
@click.option("--out", "-o", default="pjbench-perf", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Work directory (the generated clip and suite are kept here; perf.json is written here).")
@click.option("--quick", is_flag=True, help="Tiny workloads: a smoke test, not a measurement.")
@click.option("--only", multiple=True, help="Run only this measurement (repeatable); see perf.json for the names.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch intra-op threads.")
@_user_errors
def perf_cmd(out, quick, only, threads):
    """Measure pjbench's performance ratios side by side in one run and print them with their goals."""
    from pjbench.benchmarks import perf

    unknown = sorted(set(only) - set(perf.MEASUREMENTS))
    if unknown:
        raise PjbenchError(f"--only {', '.join(unknown)}: choose from {', '.join(sorted(perf.MEASUREMENTS))}")
    result = perf.run_perf(out, quick=quick, only=list(only) or None, log=lambda msg: click.echo(msg, err=True),
                           threads=threads)
    click.echo(perf.format_table(result))
    click.echo(f"perf: {Path(out) / 'perf.json'}")


@main.command("demo")
@click.option("--out", "-o", default="pjbench-demo", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the suite (data/), the runs (runs/) and report.html.")
@click.option("--scale", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="Size of the synthetic suite.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Video-decoding worker processes per run. Default: cores-1, at most 4.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@_user_errors
def demo_cmd(out, scale, workers, quiet):
    """Generate the synthetic suite, evaluate every offline built-in model, write the HTML report."""
    from pjbench.benchmarks.api import demo

    path = demo(out, scale=scale, workers=workers, progress=not quiet, echo=click.echo)
    _print_leaderboard(sorted((out / "runs").iterdir()))
    click.echo(f"report: {path.resolve()}")


def _fmt(m) -> str:
    if m is None or m.value is None:
        return "—"
    return f"{100 * m.value:5.1f} [{100 * m.ci_low:5.1f}, {100 * m.ci_high:5.1f}]"


def _print_leaderboard(run_dirs) -> None:
    """A compact text leaderboard: pairwise accuracy (avg) overall and by violation visibility."""
    from pjbench.benchmarks.results import load_results

    rows = []
    for d in run_dirs:
        if (d / "results.json").is_file():
            r = load_results(d)
            rows.append((r, r.metric("pairwise_accuracy", "avg")))
    rows.sort(key=lambda x: -(x[1].value if x[1] and x[1].value is not None else -1))
    if not rows:
        return
    head = rows[0][1]
    click.echo(f"\npairwise accuracy, avg over windows, % [95% CI]; {head.n} pairs, chance {100 * head.chance:.0f}")
    click.echo(f"{'model':<22}{'all':<22}{'visible':<22}{'occluded':<22}")
    for r, m in rows:
        vis = r.metric("pairwise_accuracy", "avg", subset="visibility=visible")
        occ = r.metric("pairwise_accuracy", "avg", subset="visibility=occluded")
        click.echo(f"{r.model['name']:<22}{_fmt(m):<22}{_fmt(vis):<22}{_fmt(occ):<22}")


if __name__ == "__main__":  # pragma: no cover
    main()
