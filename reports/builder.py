"""``pjbench report RUN_DIR... --out report.html``: results files in, one self-contained HTML file out.

The page has no external assets (inline CSS and inline SVG, no JavaScript), so it can be mailed, attached
to a paper's supplementary material or opened offline. Re-rendering never re-runs a model: the report
reads only ``results.json`` and ``items.jsonl`` of each run directory.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import jinja2

import pjbench
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import atomic_write_text
from pjbench.reports import format as fmt
from pjbench.reports.view import Run, build_sections, load_run, reading_notes

TEMPLATE = "report.html.j2"
TEMPLATE_DIR = Path(__file__).parent / "templates"


def environment() -> jinja2.Environment:
    """The report's Jinja environment: autoescaping on (model names, paths and skip reasons come from
    files the user does not fully control), undefined variables are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
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
    )
    return env


def load_runs(run_dirs: Sequence[str | os.PathLike]) -> list[Run]:
    """Load each run once (a directory given twice is kept once), in the given order."""
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    if not run_dirs:
        raise PjbenchError("no run directories given: pass one or more directories written by `pjbench eval`")
    runs, seen = [], set()
    for d in run_dirs:
        run = load_run(d)
        key = run.path.resolve()
        if key not in seen:
            seen.add(key)
            runs.append(run)
    return runs


def render_report(runs: Sequence[Run], title: str | None = None, generated_at: datetime | None = None) -> str:
    """The HTML text of the report for already loaded runs."""
    sections = build_sections(runs)
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
        notes=reading_notes(runs),
        missing=fmt.MISSING,
    )


def build_report(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike, title: str | None = None) -> Path:
    """Render the runs in ``run_dirs`` into one self-contained HTML file at ``out`` (written atomically;
    ``out`` may be an existing directory, then ``report.html`` is written inside it). Runs on different
    tasks or splits get one section each. Returns the path written.

    Raises :class:`PjbenchError` when no run is given or a run directory is missing or invalid."""
    runs = load_runs(run_dirs)
    out_path = Path(out)
    if out_path.is_dir():
        out_path = out_path / "report.html"
    try:
        html = render_report(runs, title)
    except jinja2.TemplateError as exc:  # a packaging problem, not the user's: keep the traceback
        raise RuntimeError(f"report template failed: {exc}") from exc
    atomic_write_text(out_path, html)
    return out_path
