"""``pjbench score``, ``report``, ``compare``, ``perf``, ``demo`` and ``ablate``: answer files, reports,
comparisons and the protocol ablation."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pjbench.benchmarks.cli_common import (
    DEFAULT_TASK_TEXT, default_task_name, echo_qa_headline, main, parse_batch_size_option, parse_int_list,
    parse_model_args, split_help, task_options, user_errors,
)
from pjbench.benchmarks.errors import PjbenchError


@main.command("score")
@click.option("--task", "-t", required=True, help="A multiple-choice task (see `pjbench list`: item kind multiple_choice).")
@click.option("--data-root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The task's release folder (answers are matched to its items; videos are not needed).")
@click.option("--predictions", "-p", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL or CSV, one line per item: id + answer (a letter or free text; with --parser lenient also "
                   "a candidate text or, on CausalVQA, an option number).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory to write.")
@click.option("--split", default=None, help=f"Split the answers are for. {split_help('probe')}.")
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
@user_errors
def score_cmd(task, data_root, predictions, out, split, model_name, videos_root, n_boot, seed, overwrite,
              min_coverage, allow_missing, parser):
    """Score an answer file from any model (e.g. a video-language model) with the task's metrics and CIs."""
    from pjbench.benchmarks.api import score

    if not data_root.is_dir():
        raise PjbenchError(f"--data-root {data_root}: no such directory")
    results, path = score(task, data_root, predictions, out, split=split, n_boot=n_boot, seed=seed,
                          model_name=model_name, task_options=task_options(task, videos_root), overwrite=overwrite,
                          min_coverage=min_coverage, allow_missing=allow_missing, parser=parser)
    echo_qa_headline(results)
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
@user_errors
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
@user_errors
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
@user_errors
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
              help="Folder for the suites (data/), the runs (runs/<task>/<model>/) and report.html.")
@click.option("--scale", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Size of the synthetic suites (multiplies each benchmark's demo size).")
@click.option("--benchmark", "-b", "benchmarks", multiple=True,
              help="Only these benchmarks (repeatable). Default: every task with a demo plan (`pjbench list`).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Video-decoding worker processes per run. Default: cores-1, at most 4.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@user_errors
def demo_cmd(out, scale, benchmarks, workers, quiet):
    """Generate the synthetic suites of all three benchmarks, evaluate the offline built-in models on each
    (surprise on IntPhys 2; attentive probe + video-blind control on MVPBench and CausalVQA), write the HTML
    report."""
    from pjbench.benchmarks.api import demo
    from pjbench.benchmarks.demo import summary

    path = demo(out, benchmarks=benchmarks or None, scale=scale, workers=workers, progress=not quiet, echo=click.echo)
    for line in summary(out):
        click.echo(line)
    click.echo(f"report: {path.resolve()}")


@main.command("ablate")
@click.option("--model", "-m", required=True, help="Registered model name (see `pjbench list`).")
@click.option("--checkpoint", default=None, help="As for `eval` (an official V-JEPA 2 .pt gets the encoder-split row).")
@click.option("--task", "-t", default=default_task_name, show_default=DEFAULT_TASK_TEXT, help="A surprise task.")
@click.option("--data-root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder in the official layout (e.g. the IntPhys2/ release root).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for one run per protocol, ablation.json and ablation.md.")
@click.option("--split", default=None, help="Split to report (default: the task's).")
@click.option("--deviation", "deviations", multiple=True,
              help="Only these deviations (repeatable): masks, padding, antialias, dtype, encoder-split, "
                   "context-selection, debug-pairing. Default: all.")
@click.option("--model-arg", "model_args", multiple=True, callback=parse_model_args, metavar="KEY=VALUE",
              help="Extra argument for the model's factory (repeatable), as for `eval`.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N pairs of the reported split.")
@click.option("--window", type=click.IntRange(min=2), default=None, help="Window length in sampled frames.")
@click.option("--stride", type=click.IntRange(min=1), default=None, help="Window stride in sampled frames.")
@click.option("--contexts", callback=parse_int_list, default=None, help="Comma-separated context lengths.")
@click.option("--frame-step", type=click.IntRange(min=1), default=None, help="Keep every k-th frame.")
@click.option("--batch-size", default="8", show_default=True, callback=parse_batch_size_option, metavar="N|auto",
              help="Windows per forward pass.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Video-decoding worker processes.")
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for torch, numpy and the bootstrap.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Feature cache root.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@user_errors
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
