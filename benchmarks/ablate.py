"""``pjbench ablate``: what each fix of the published surprise protocol changes, in pairwise-accuracy points.

The same model is scored under the corrected protocol, under ``as-published``, and under the corrected
protocol with ONE published deviation at a time (:data:`pjbench.benchmarks.protocol.DEVIATIONS`). Each
run is an ordinary ``evaluate`` into ``<out>/<row>/`` sharing one feature cache, so the deviations that only
change the aggregation or the selection (padding, context selection, Debug pairing) reuse the corrected
run's per-video surprise, and a re-run reuses everything. Each row's paired difference against the
corrected run is the paired cluster bootstrap of :mod:`pjbench.benchmarks.compare` (scenes resampled).
A deviation the model cannot run (published masks below 224 px, an encoder split on a one-encoder
checkpoint) is a row marked ``n/a`` with the reason, not a number.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from pjbench.benchmarks.compare import compare_outcomes, pair_outcomes
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.protocol import AS_PUBLISHED, CORRECTED, DEVIATIONS, Protocol, one_deviation
from pjbench.benchmarks.results import atomic_write_text, dumps, load_items

ABLATION_FILE = "ablation.json"
ABLATION_MD = "ablation.md"
HEADLINE = ("pairwise_accuracy", "avg")


@dataclass
class AblationRow:
    """One protocol of the ablation. Fractions (``value``, ``difference``, CI) are ``None`` for ``n/a`` rows."""

    key: str  # corrected, as-published, or a DEVIATIONS key
    protocol: str  # the run's protocol name
    what: str
    status: str  # "ok" or "n/a"
    value: float | None = None
    difference: float | None = None  # value - corrected, on the shared pairs
    ci_low: float | None = None
    ci_high: float | None = None
    n_pairs: int = 0
    n_clusters: int = 0
    surprise_change: float | None = None  # median over shared videos of |s - s_corrected| / |s_corrected| (avg)
    context: int | None = None
    run_dir: str | None = None
    reason: str | None = None


@dataclass
class Ablation:
    model: str
    task: str
    split: str | None
    rows: list[AblationRow]
    n_boot: int
    seed: int
    command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "task": self.task, "split": self.split, "metric": "@".join(HEADLINE),
                "unit": "pairwise-accuracy points (difference vs corrected, 95% paired cluster-bootstrap CI by scene)",
                "n_boot": self.n_boot, "seed": self.seed, "command": self.command,
                "rows": [asdict(r) for r in self.rows]}

    def table(self) -> str:
        """The deviation table as Markdown (also what the CLI prints)."""
        lines = [f"ablation of {self.model} on {self.task}/{self.split}: pairwise accuracy (avg), difference vs "
                 "corrected in points [95% paired cluster-bootstrap CI, by scene]", "",
                 "| deviation | what it does | pairwise acc. | Δ vs corrected [95% CI] | surprise change | context | pairs |",
                 "|---|---|---|---|---|---|---|"]
        for r in self.rows:
            if r.status != "ok":
                lines.append(f"| {r.key} | {r.what} | n/a | n/a: {r.reason} | | | |")
                continue
            if r.key == "corrected":
                delta = "(reference)"
            elif r.difference is None:
                delta = "—"
            elif r.ci_low is None:
                delta = f"{100 * r.difference:+.1f} [CI undefined: one scene]"
            else:
                delta = f"{100 * r.difference:+.1f} [{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]"
            value = "—" if r.value is None else f"{100 * r.value:.1f}"
            change = "" if r.key == "corrected" or r.surprise_change is None else f"{100 * r.surprise_change:.2g} %"
            lines.append(f"| {r.key} | {r.what} | {value} | {delta} | {change} | {r.context} | {r.n_pairs} |")
        lines += ["", "surprise change: median over the shared videos of |surprise - corrected surprise| / corrected "
                      "surprise (avg over windows), so a fix shows even where the accuracy does not move."]
        if any(r.key in ("as-published", "context-selection") and r.status == "ok" for r in self.rows):
            lines += ["", "as-published and context-selection pick the context on the reported split: optimistic."]
        return "\n".join(lines)


def surprise_change(items, base_items, aggregation: str = "avg") -> float | None:
    """Median over the videos both runs scored of ``|s - s_base| / |s_base|`` (``scores[aggregation]``);
    ``None`` when no video is shared or every base score is 0."""
    import numpy as np

    base = {(it.split, it.name): (it.scores or {}).get(aggregation) for it in base_items}
    changes = []
    for it in items:
        b, s = base.get((it.split, it.name)), (it.scores or {}).get(aggregation)
        if isinstance(b, (int, float)) and isinstance(s, (int, float)) and b != 0 and np.isfinite([b, s]).all():
            changes.append(abs(s - b) / abs(b))
    return float(np.median(changes)) if changes else None


def _plans() -> list[tuple[str, Protocol, str]]:
    rows = [("corrected", CORRECTED, "pjbench's default protocol"),
            ("as-published", AS_PUBLISHED, "every published deviation at once")]
    rows += [(key, one_deviation(key), what) for key, (_, _, what) in DEVIATIONS.items()]
    return rows


def ablate(model: str, data_root: str | os.PathLike, out: str | os.PathLike, *, task: str | None = None,
           deviations: Sequence[str] | None = None, n_boot: int = 1000, seed: int = 0, command: str | None = None,
           **eval_kwargs: Any) -> tuple[Ablation, Path]:
    """Score ``model`` under every protocol of the ablation (``deviations``: a subset of the
    :data:`DEVIATIONS` keys; corrected and as-published always run) into ``out/<row>/``; write
    ``ablation.json`` and ``ablation.md`` in ``out``. ``eval_kwargs`` go to every
    :func:`pjbench.benchmarks.runner.evaluate` call (checkpoint, split, window, model_args, ...).
    Returns ``(Ablation, path of ablation.json)``."""
    from pjbench.benchmarks.runner import evaluate
    from pjbench.benchmarks.tasks import TASKS, default_task

    task = task or default_task()
    if TASKS.spec(task).item_kind != "surprise_pairs":
        raise PjbenchError(f"ablate compares surprise protocols; task {task} is not a surprise task")
    unknown = sorted(set(deviations or ()) - set(DEVIATIONS))
    if unknown:
        raise PjbenchError(f"--deviation {', '.join(unknown)}: choose from {', '.join(DEVIATIONS)}")
    if eval_kwargs.get("dtype") not in (None, "fp32"):
        raise PjbenchError("ablate runs the corrected protocol in fp32 (the dtype deviation is one of its rows); "
                           "drop --dtype")
    eval_kwargs = {k: v for k, v in eval_kwargs.items() if k != "dtype"}
    out = Path(out)
    plans = [p for p in _plans() if p[0] in ("corrected", "as-published") or not deviations or p[0] in deviations]
    rows: list[AblationRow] = []
    base_items = None
    base_split = None
    for key, proto, what in plans:
        run_dir = out / key
        row = AblationRow(key=key, protocol=proto.name, what=what, status="ok", run_dir=str(run_dir))
        try:
            results, _ = evaluate(model, data_root, run_dir, task=task, protocol=proto, seed=seed, n_boot=n_boot,
                                  **eval_kwargs)
        except PjbenchError as exc:
            if key == "corrected":
                raise
            row.status, row.reason = "n/a", str(exc)
            rows.append(row)
            continue
        head = results.metric(*HEADLINE)
        row.value = head.value if head is not None else None
        row.context = (results.protocol.get("context_selection") or {}).get("selected")
        items = load_items(run_dir, results)
        if key == "corrected":
            base_items = items
            extra = results.model.get("extra", {}) or {}
            base_split = extra.get("context_encoder") != extra.get("target_encoder")
            row.n_pairs = head.n if head is not None else 0
        elif key == "encoder-split" and not base_split:
            row.status = "n/a"
            row.reason = "the checkpoint holds one encoder, so there is no split to undo"
            row.value = None
        else:
            cmp = compare_outcomes(pair_outcomes(items, HEADLINE[1]), pair_outcomes(base_items, HEADLINE[1]),
                                   breakdowns=[], n_boot=n_boot, seed=seed)
            res = cmp.rows[0].result
            row.difference, row.ci_low, row.ci_high = res.difference, res.ci_low, res.ci_high
            row.n_pairs, row.n_clusters = res.n, res.n_clusters
            row.surprise_change = surprise_change(items, base_items, HEADLINE[1])
        rows.append(row)
    split = eval_kwargs.get("split")
    if split is None and base_items:
        split = base_items[0].split
    ablation = Ablation(model=model, task=task, split=split, rows=rows, n_boot=n_boot, seed=seed, command=command)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ABLATION_FILE
    atomic_write_text(path, dumps(ablation.to_dict()) + "\n")
    atomic_write_text(out / ABLATION_MD, ablation.table() + "\n")
    return ablation, path
