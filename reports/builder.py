"""``pjbench report RUN_DIR... --out report.html``: results files in, one self-contained HTML file out.

The page has no external assets (inline CSS and inline SVG; one small inline script only adds sorting to
the leaderboards, and everything works with JavaScript off), so it can be mailed, attached to a paper's
supplementary material or opened offline. A Content-Security-Policy in the page forbids any network
request and any script but that one (pinned by its hash). Re-rendering never re-runs a model: the report
reads only ``results.json`` and ``items.jsonl`` of each run directory.
"""

from __future__ import annotations

import base64
import glob
import warnings
import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import jinja2

import pjbench
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import atomic_write_text
from pjbench.reports import format as fmt
from pjbench.reports import trust
from pjbench.reports.exports import write_exports
from pjbench.reports.overview import build_board
from pjbench.reports.sort_script import SORT_SCRIPT
from pjbench.reports.view import Run, build_sections, load_run, reading_notes

TEMPLATE = "report.html.j2"
TEMPLATE_DIR = Path(__file__).parent / "templates"


#: what each readout badge means (the leaderboard's hover text)
READOUT_WORDS = {"surprise": "zero-shot surprise of a predictor on future frames",
                 "probe": "attentive probe trained on frozen features",
                 "answers": "answers read from a file the model wrote elsewhere",
                 "vlm": "a video-language model answering the official prompt, read by the official parser"}


def script_hash(script: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def environment() -> jinja2.Environment:
    """The report's Jinja environment: autoescaping on (model names, paths and skip reasons come from
    files the user does not fully control), undefined variables are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        finalize=trust.html_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pct=fmt.pct,
        pct_ci=fmt.pct_ci,
        count=fmt.count,
        n_units=fmt.n_units,
        timestamp=fmt.timestamp,
        p_value=fmt.p_value,
    )
    return env


def runs_below(folder: Path, depth: int = 2) -> list[Path]:
    """Run directories (holding ``results.json``) under ``folder``, up to ``depth`` levels down (``demo/runs``
    holds ``<task>/<model>/``), sorted; hidden folders (``.shards``, ``.partial``) are not searched."""
    found: list[Path] = []
    for p in sorted(folder.iterdir()):
        if not p.is_dir() or p.name.startswith("."):
            continue
        if (p / "results.json").is_file():
            found.append(p)
        elif depth > 1:
            found.extend(runs_below(p, depth - 1))
    return found


def expand_run_dirs(run_dirs: Sequence[str | os.PathLike]) -> list[Path]:
    """Run directories from the arguments: a glob pattern (quoted, so the shell left it) expands to its
    matches, and a folder without ``results.json`` to the runs below it (:func:`runs_below`: ``demo/runs``)."""
    out: list[Path] = []
    for d in run_dirs:
        text = os.fspath(d)
        path = Path(text)
        if not path.exists() and glob.has_magic(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise PjbenchError(f"{text}: the pattern matches no run directory")
            for m in map(Path, matches):
                if m.name == "results.json" or (m / "results.json").is_file():
                    out.append(m)
                elif m.is_dir():  # an unfinished or failed run matched by the pattern: left out, said so
                    warnings.warn(f"{m}: no results.json (unfinished or failed run?); left out of the report",
                                  stacklevel=2)
            if not out:
                raise PjbenchError(f"{text}: the pattern matches no finished run directory")
        elif path.is_dir() and not (path / "results.json").is_file() and (subs := runs_below(path)):
            out.extend(subs)
        else:
            out.append(path)
    return out


def load_runs(run_dirs: Sequence[str | os.PathLike], *, allow_unverified: bool = False) -> list[Run]:
    """Load each run once (a directory given twice is kept once), in the given order; globs and folders of
    runs are expanded (:func:`expand_run_dirs`). Each run is checked against its items file
    (:func:`pjbench.reports.trust.check_runs`: refused when it records a digest and disagrees, unless
    ``allow_unverified``)."""
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    if not run_dirs:
        raise PjbenchError("no run directories given: pass one or more directories written by `pjbench eval`")
    runs, seen = [], set()
    for d in expand_run_dirs(run_dirs):
        run = load_run(d)
        key = run.path.resolve()
        if key not in seen:
            seen.add(key)
            runs.append(run)
    trust.check_runs(runs, allow_unverified=allow_unverified)
    return runs


def render_report(runs: Sequence[Run], title: str | None = None, generated_at: datetime | None = None, *,
                  n_boot: int = 1000, seed: int = 0, board=None, sections=None) -> str:
    """The HTML text of the report for already loaded runs (``sections`` / ``board`` if already built)."""
    sections = sections if sections is not None else build_sections(runs, n_boot=n_boot, seed=seed)
    board = board if board is not None else build_board(sections)
    if title is None:
        if len(sections) == 1:
            title = f"pjbench report: {sections[0].task} {sections[0].split}"
        else:
            title = "pjbench report"
    versions = []
    for run in runs:
        v = (run.results.provenance or {}).get("pjbench_version")
        if v and str(v) not in versions:
            versions.append(str(v))
    generated_at = generated_at or datetime.now(timezone.utc)
    return environment().get_template(TEMPLATE).render(
        title=title,
        generated_at=f"{generated_at:%Y-%m-%d %H:%M} UTC",
        generator_version=pjbench.__version__,
        run_versions=versions,
        n_runs=len(runs),
        sections=sections,
        board=board,
        notes=reading_notes(runs),
        data=trust.page_facts(runs),
        min_cell_n=fmt.MIN_CELL_N,
        missing=fmt.MISSING,
        script=SORT_SCRIPT,
        script_hash=script_hash(SORT_SCRIPT),
        readout_words=READOUT_WORDS,
    )


def build_report(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike, title: str | None = None, *,
                 n_boot: int = 1000, seed: int = 0, exports: bool = True, allow_unverified: bool = False) -> Path:
    """Render the runs in ``run_dirs`` into one self-contained HTML file at ``out`` (written atomically;
    ``out`` may be an existing directory, then ``report.html`` is written inside it). Runs on different
    tasks or splits get one section each; the overview leaderboard puts them side by side. With
    ``exports``, ``leaderboard.csv``, ``leaderboard.json`` and ``leaderboard.md`` are written next to the
    HTML. ``n_boot`` / ``seed``: resamples of the paired significance tests. Returns the HTML path.

    Raises :class:`PjbenchError` when no run is given, a run directory is missing or invalid, or a run's
    results disagree with its items file (unless ``allow_unverified``: then it is shown flagged, unranked)."""
    runs = load_runs(run_dirs, allow_unverified=allow_unverified)
    out_path = Path(out)
    if out_path.is_dir():
        out_path = out_path / "report.html"
    sections = build_sections(runs, n_boot=n_boot, seed=seed)
    board = build_board(sections)
    try:
        html = render_report(runs, title, sections=sections, board=board)
    except jinja2.TemplateError as exc:  # a packaging problem, not the user's: keep the traceback
        raise RuntimeError(f"report template failed: {exc}") from exc
    atomic_write_text(out_path, html)
    if exports:
        write_exports(board, out_path.parent)
    return out_path
