"""Shared pieces of the ``pjbench`` command line: the ``main`` group, option callbacks, the error wrapper
(one ``Error:`` line, ``PJBENCH_DEBUG=1`` for the traceback) and the result lines several commands print.
The commands live in :mod:`~pjbench.benchmarks.cli_eval`, :mod:`~pjbench.benchmarks.cli_data` and
:mod:`~pjbench.benchmarks.cli_results`; :mod:`pjbench.benchmarks.cli` puts them together."""

from __future__ import annotations

import errno
import functools
import os

import click

from pjbench import __version__
from pjbench.benchmarks.errors import PjbenchError


def split_help(readout: str | None = None) -> str:
    """Splits and default split per task (of one ``readout``), from the task registry (so the help never goes
    stale)."""
    from pjbench.benchmarks.tasks import TASKS

    return "; ".join(f"{e.name}: {e.info.get('splits')} (default {e.info.get('default_split')})"
                     for e in TASKS.entries() if readout is None or e.info.get("readout") == readout)


def dev_split_help() -> str:
    from pjbench.benchmarks.tasks import TASKS

    return "; ".join(f"{e.name}: {e.info.get('dev_split') or 'none (context fixed)'}"
                     + (" (for HeldOut: Main)" if "HeldOut" in str(e.info.get("splits")) else "")
                     for e in TASKS.entries() if e.info.get("readout") == "surprise")


DEFAULT_TASK_TEXT = "the first registered task (`pjbench list`)"


def default_task_name() -> str:
    from pjbench.benchmarks.tasks import default_task

    return default_task()


def item_kind(task: str) -> str | None:
    from pjbench.benchmarks.tasks import spec_of

    spec = spec_of(task)
    return spec.item_kind if spec else None


def debug_on() -> bool:
    """``PJBENCH_DEBUG`` set to anything but empty, ``0``, ``false``, ``no`` or ``off``: show tracebacks."""
    return os.environ.get("PJBENCH_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


def user_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PjbenchError as exc:
            if debug_on():
                raise
            from pjbench.benchmarks.safe_text import clean

            raise click.ClickException(clean(str(exc))) from None
        except OSError as exc:
            message = os_error_message(exc)
            if message is None or debug_on():
                raise
            from pjbench.benchmarks.safe_text import clean

            raise click.ClickException(clean(message)) from None

    return wrapper


NO_SPACE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
NOT_WRITABLE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


def os_error_message(exc: OSError) -> str | None:
    """One line for the file-system errors a user fixes (disk full, read-only or forbidden folder)."""
    where = exc.filename or "a file"
    if exc.errno in NO_SPACE_ERRNOS:
        return (f"{where}: no space left on the device ({exc.strerror}). Everything finished so far is kept (a run "
                "resumes from --out and the feature cache): free space, or point --out / PJBENCH_CACHE elsewhere, "
                "and run the same command again")
    if exc.errno in NOT_WRITABLE_ERRNOS:
        return (f"{where}: cannot write ({exc.strerror}); choose a writable --out (the feature cache: set "
                "PJBENCH_CACHE or pass --no-cache)")
    return None


def parse_model_args(ctx, param, value):
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


def parse_int_list(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None


def parse_batch_size_option(ctx, param, value):
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


def echo_data_source(results) -> None:
    data = getattr(results, "data", None) or {}
    if data.get("source") == "synthetic":
        click.echo(f"data: the synthetic suite ({data.get('generator')}, seed {data.get('seed')}), not the released "
                   "benchmark: these numbers are not comparable with published ones")


def echo_coverage(t: dict, unit: str = "videos") -> None:
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


def task_options(task: str, videos_root) -> dict:
    if videos_root is None:
        return {}
    from pjbench.benchmarks.tasks import TASKS

    takers = [sp.name for sp in TASKS.specs() if "videos_root" in sp.options]
    if task not in takers:
        raise PjbenchError(f"--videos-root applies to --task {' / '.join(takers) or '(none)'} only")
    return {"videos_root": videos_root}


def echo_qa_headline(results) -> None:
    from pjbench.benchmarks.tasks import spec_of

    spec = spec_of(results.task["name"])
    name = results.protocol.get("headline") or (spec.headline_metric if spec else "pair_accuracy")
    head = results.metric(name)
    if head is not None and head.value is not None:
        ci = (f"[{100 * head.ci_low:.1f}, {100 * head.ci_high:.1f}]" if head.ci_low is not None
              else "[CI undefined: too few pairs per stratum]")
        click.echo(f"{results.model['name']} on {results.task['name']}/{results.task['split']}: {name.replace('_', ' ')} "
                   f"{100 * head.value:.1f} {ci} over {head.n} {head.unit} (chance {100 * head.chance:.0f})")
    echo_data_source(results)
    echo_coverage(results.task, unit="items")


def echo_vlm_results(results) -> None:
    """A ``vlm`` run's lines: the headline, the parsers' agreement, where the answers came from."""
    echo_qa_headline(results)
    answers = results.task.get("answers") or {}

    def count(n):  # per prompt on IntPhys 2: {"1": 0, "2": 3, "3": 0} -> "0/3/0 (prompts 1/2/3)"
        return f"{'/'.join(map(str, n.values()))} (prompts {'/'.join(n)})" if isinstance(n, dict) else str(n)

    click.echo(f"parsers: headline read by {answers.get('parser')}; unparseable "
               + ", ".join(f"{p} {count(n)}" for p, n in (answers.get("unparseable") or {}).items())
               + "; read differently from it: "
               + (", ".join(f"{p} {n}" for p, n in (answers.get("parser_disagreements") or {}).items()) or "-"))
    lik = results.protocol.get("option_likelihood") or {}
    if lik.get("n_errors"):
        click.echo(f"warning: option likelihoods failed for {lik['n_errors']} of {lik['n_requests']} requests (first: "
                   f"{lik.get('first_error')}); those items are unparseable under `likelihood`", err=True)
    t = results.task
    n_gen = t.get("n_requests_generated", t["n_computed"])
    n_req = answers.get("n_requests", t["n_items"])
    n_answered = answers.get("n_answered", answers.get("answered", n_gen))
    click.echo(f"{n_gen} of {n_req} requests generated; {n_answered - n_gen} served from the response cache; "
               f"{len(t.get('skipped') or [])} item(s) skipped (no video or no answer: task.skipped)")
