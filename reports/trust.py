"""What makes a report's numbers and names trustworthy: each run checked against its items file, invisible
text-direction controls made visible, spreadsheet formulas defused, the data source named, the checkpoint
spelled out.

Policy of :func:`check_runs` (``pjbench report`` / ``pjbench compare``): a run whose results file records the
digest of its items file (everything pjbench writes) and disagrees with it -- the items changed, a stored
headline or n differs from what the items give, a CI with low > high, a value with n = 0 -- is refused with an
``Error:`` naming the run. A run without a digest (hand-made, or written before digests existed) that
disagrees is shown flagged in red and left out of ranking and significance groups; so is a refused run when
the user asks for it with ``--allow-unverified``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.integrity import verify_run
from pjbench.benchmarks.safe_text import BIDI_CONTROLS, clean  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from pjbench.reports.view import Run

# Cells a spreadsheet reads as a formula (or a formula after a stripped tab / carriage return).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def clean_deep(obj: Any) -> Any:
    """:func:`clean` on every string of a JSON-like structure (keys included)."""
    if isinstance(obj, str):
        return clean(obj)
    if isinstance(obj, Mapping):
        return {clean(k): clean_deep(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_deep(v) for v in obj]
    return obj


def csv_cell(value: Any) -> Any:
    """A CSV cell as spreadsheets should read it: text starting with ``= + - @`` (or a tab / CR) gets a leading
    ``'`` so it stays text, not a formula; numbers (``-1.5`` as a float) and booleans are written as they are."""
    if not isinstance(value, str):
        return value
    value = clean(value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def html_finalize(value: Any) -> Any:
    """Jinja ``finalize``: every string the template prints is cleaned before autoescaping (markup pjbench
    itself marked safe, i.e. the sorting script, is left alone)."""
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return clean(value)
    return value


# ------------------------------------------------------------------------------------- verification


def check_runs(runs: Sequence["Run"], *, allow_unverified: bool = False) -> None:
    """Verify every run against its items file (:func:`pjbench.benchmarks.integrity.verify_run`), store the
    outcome on the run, and refuse (raise :class:`PjbenchError` naming the run and what disagrees) a run that
    records a digest and disagrees, unless ``allow_unverified``."""
    for run in runs:
        run.verification = verify_run(run.results, run.path, run.items)
        v = run.verification
        if v.refuse and not allow_unverified:
            raise PjbenchError(
                f"{run.path}: results.json disagrees with its items file, refusing to report it: "
                + "; ".join(v.problems) + ". Re-run `pjbench eval` (it resumes from the cache), or pass "
                "--allow-unverified to show it flagged as unverified")


def integrity_issues(run: "Run") -> list[str]:
    v = getattr(run, "verification", None)
    return list(v.problems) if v is not None else []


def verification_text(run: "Run") -> str:
    """One line for the run card: how far the numbers were checked."""
    v = getattr(run, "verification", None)
    if v is None:
        return "not checked"
    if v.problems:
        return "✖ disagrees with its items file: " + "; ".join(v.problems)
    digest = {"match": "items file digest matches", "not recorded": "no items digest recorded"}.get(v.digest, v.digest)
    if v.checked:
        return f"headline recomputed from the items file ({', '.join(v.checked)}); {digest}"
    return f"headline not recomputable ({'no items file' if run.items is None else 'no recomputable metric'}); {digest}"


# ------------------------------------------------------------------------------------- data source


def data_source(run: "Run") -> str:
    """``synthetic``, ``real`` or ``not recorded`` (runs written before pjbench recorded it)."""
    data = run.results.data if isinstance(run.results.data, Mapping) else {}
    src = data.get("source")
    return str(src) if src in ("synthetic", "real") else "not recorded"


def data_text(run: "Run") -> str:
    data = run.results.data if isinstance(run.results.data, Mapping) else {}
    src = data_source(run)
    if src != "synthetic":
        return {"real": "real (no pjbench synthetic-suite manifest in the data root)",
                "not recorded": "not recorded (results written before pjbench recorded the data source)"}[src]
    parts = [str(data.get("generator") or "pjbench synth")]
    if data.get("seed") is not None:
        parts.append(f"seed {data['seed']}")
    return "synthetic: " + ", ".join(parts)


# ------------------------------------------------------------------------------------- checkpoint


def checkpoint_text(results: Any, *, detail: bool = False) -> str:
    """What the weights were: the checkpoint given (HF id, folder, file) with a short content hash or hub
    revision, ``random init (seed S)`` for a seeded random-init control, ``no weights`` for a parameter-free
    baseline; ``—`` when nothing was recorded. ``detail`` appends the content hash or revision."""
    model = results.model if isinstance(getattr(results, "model", None), Mapping) else {}
    extra = model.get("extra") if isinstance(model.get("extra"), Mapping) else {}
    ckpt, digest, rev = model.get("checkpoint"), model.get("checkpoint_hash"), model.get("revision")
    if ckpt:
        text = str(ckpt)
        if not detail:
            return text
        if digest:
            text += f" (sha256 {str(digest).rpartition(':')[2][:12]})"
        elif rev:
            text += f" (rev {str(rev)[:12]})"
        return text
    if extra.get("init") == "random" or "init_seed" in extra:
        seed = extra.get("init_seed", extra.get("seed"))
        return f"random init (seed {seed})" if seed is not None else "random init"
    params = model.get("params")
    if params == 0 or str(model.get("name") or "").startswith("pixel-"):
        return "no weights (pixel baseline)"
    if "predictions" in extra:
        return "answer file"
    return "—"


def page_facts(runs: Sequence["Run"]) -> dict[str, list[str]]:
    """For the page header: synthetic runs, the generators that wrote their suites, unverified runs."""
    synthetic = [r for r in runs if data_source(r) == "synthetic"]
    gens: list[str] = []
    for r in synthetic:
        g = (r.results.data or {}).get("generator") or "pjbench synth"
        g += f", seed {r.results.data['seed']}" if (r.results.data or {}).get("seed") is not None else ""
        if g not in gens:
            gens.append(g)
    unverified = [f"{r.results.model.get('name') or r.path.name} ({r.path.name})" for r in runs if integrity_issues(r)]
    return {"synthetic": [str(r.path) for r in synthetic], "generators": gens, "unverified": unverified}
