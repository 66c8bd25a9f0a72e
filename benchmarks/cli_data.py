"""``pjbench list``, ``cache``, ``validate`` and ``synth``: registries, the feature cache and data folders."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pjbench.benchmarks.cli_common import DEFAULT_TASK_TEXT, default_task_name, main, task_options, user_errors
from pjbench.benchmarks.errors import PjbenchError
from pjbench.synthetic.formats import DEFAULT_FORMAT as SYNTH_DEFAULT
from pjbench.synthetic.formats import WRITERS as SYNTH_WRITERS


@main.command("list")
@click.option("--what", type=click.Choice(["all", "models", "tasks"]), default="all", show_default=True,
              help="List models, tasks or both.")
@user_errors
def list_cmd(what):
    """Registered models and tasks with one-line descriptions and defaults."""
    from pjbench.benchmarks.api import list_models, list_tasks

    if what in ("all", "models"):
        click.echo("Models:")
        for m in list_models():
            ck = m.get("checkpoint") or "-"
            prep = (f"{m.get('resolution', '?')}px, {m.get('frames', '?')} frames, "
                    f"{m.get('sample_fps', '?')} fps (step {m.get('frame_step', '?')}), tubelet {m.get('tubelet', '?')}")
            if "sampling" in m:  # a video-language model: its frame sampling, not an encoder's preprocessing
                prep = f"frames: {m['sampling']}"
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
@user_errors
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
@user_errors
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
@click.option("--task", "-t", default=default_task_name, show_default=DEFAULT_TASK_TEXT,
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
@user_errors
def validate_cmd(task, data_root, no_videos, videos_root, model, window, frame_step, n_frames):
    """Check a dataset folder: layout, schema, counts, pairs, missing or unreadable videos, and what eval
    under the model's protocol would skip or change (--model).

    Exits non-zero when errors are found."""
    from pjbench.benchmarks.api import validate

    rep = validate(task, data_root, check_videos=not no_videos, task_options=task_options(task, videos_root),
                   model=model, window=window, frame_step=frame_step, n_frames=n_frames)
    click.echo(f"{task} at {rep.data_root}")
    _echo_counts(rep.counts, indent=2)
    for w in rep.warnings:
        click.echo(f"  warning: {w}")
    for e in rep.errors:
        click.echo(f"  ERROR: {e}")
    click.echo(f"{len(rep.errors)} error(s), {len(rep.warnings)} warning(s)")
    sys.exit(0 if rep.ok else 1)


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
@user_errors
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


