"""A run directory as the report sees it: its results file, items and trust verdict (:class:`Run`).

Reads only results files (:mod:`pjbench.benchmarks.results`); never imports encoders, probes or tasks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import ITEMS_FILE, ItemRecord, RunResults, load_items, load_results
from pjbench.reports import trust

NO_ITEMS = "no items file"


# --------------------------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One loaded run directory."""

    path: Path
    results: RunResults
    items: list[ItemRecord] | None = None
    items_note: str = ""  # why no per-item plot: missing or unreadable items file
    verification: Any = None  # pjbench.benchmarks.integrity.Verification, set by trust.check_runs

    @property
    def task(self) -> str:
        return str(self.results.task.get("name") or "unknown task")

    @property
    def split(self) -> str:
        return str(self.results.task.get("split") or "unknown split")

    @property
    def model_name(self) -> str:
        return str(self.results.model.get("name") or self.path.name)

    @property
    def checkpoint(self) -> str:
        return trust.checkpoint_text(self.results)

    @property
    def integrity_issues(self) -> list[str]:
        return trust.integrity_issues(self)

    @property
    def data_source(self) -> str:
        return trust.data_source(self)

    @property
    def is_baseline(self) -> bool:
        extra = self.results.model.get("extra")
        flagged = isinstance(extra, Mapping) and bool(extra.get("baseline"))
        return flagged or self.model_name.startswith("pixel-")

    @property
    def is_control(self) -> bool:
        """A control run (video-blind probe, random-init encoder): recorded as ``model.extra.control``."""
        extra = self.results.model.get("extra")
        return isinstance(extra, Mapping) and bool(extra.get("control"))

    @property
    def n_items(self) -> int | None:
        return _int(self.results.task.get("n_items"))

    @property
    def n_scored(self) -> int | None:
        return _int(self.results.task.get("n_scored"))

    @property
    def skipped(self) -> list[dict[str, str]]:
        rows = self.results.task.get("skipped") or []
        out = []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, Mapping):
                out.append({k: str(row.get(k) or "") for k in ("name", "path", "reason")})
            else:
                out.append({"name": str(row), "path": "", "reason": ""})
        return out

    @property
    def partial(self) -> bool:
        """Fewer videos scored than the split holds (or some skipped): the numbers cover a subset."""
        if self.n_items is not None and self.n_scored is not None:
            return self.n_scored < self.n_items
        return bool(self.skipped)


def _int(x: Any) -> int | None:
    try:
        return int(x) if x is not None and not isinstance(x, bool) else None
    except (TypeError, ValueError):
        return None


def is_qa(run: Run) -> bool:
    """The run's items are answers (``correct`` recorded), not surprise scores."""
    return any(it.correct is not None for it in run.items or [])


def load_run(run_dir: str | Path) -> Run:
    """Load ``RUN_DIR/results.json`` and, when present, its items file. A corrupt items file does not stop
    the report (it only feeds the optional per-item plot); the reason is shown instead."""
    path = Path(run_dir)
    if not path.exists():
        raise PjbenchError(f"{path}: no such run directory")
    try:
        results = load_results(path)
    except PjbenchError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # a results.json missing sections or with odd fields
        raise PjbenchError(f"{path}: invalid results file ({type(exc).__name__}: {exc})") from None
    run_dir_path = path if path.is_dir() else path.parent
    run = Run(path=run_dir_path, results=results)
    items_name = results.files.get("items") if isinstance(results.files, Mapping) else None
    items_path = run_dir_path / (items_name or ITEMS_FILE)
    if not items_path.is_file():
        run.items_note = NO_ITEMS
        return run
    try:
        run.items = load_items(run_dir_path, results)
    except (PjbenchError, TypeError, ValueError) as exc:
        run.items_note = f"items file unreadable: {exc}"
    return run
