"""Can a results file be trusted? Its items file's digest, its headline numbers recomputed from that items file,
and a sanity check of every metric row (``pjbench report`` and ``pjbench compare`` run :func:`verify_run`).

``results.json`` is small, readable and easy to edit by hand; ``items.jsonl`` holds the per-item outcomes the
numbers come from. pjbench writes the sha256 of the items file into ``results.json`` (``digests.items``), so
a later reader can tell:

- the items file changed (or vanished) after the results were written: digest mismatch;
- the stored headline disagrees with what the items give (a hand-edited value or n): recomputed from the
  items with the same pairing rules as the metrics (IntPhys 2: :func:`pjbench.benchmarks.compare.pair_outcomes`,
  a tie counts wrong; MVPBench / CausalVQA: :mod:`pjbench.benchmarks.paired`, complete pairs, both right);
- a row that no pjbench run can produce: a CI with low > high, a value outside its CI's [0, 1] range, a value
  with n = 0, a non-finite number.

Only the point estimate and n are recomputed: the interval depends on the bootstrap resamples, and its
sanity (ordered, inside [0, 1], containing nothing impossible) is what can be checked without re-running it.
Reads results and items only: no model, no task package.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pjbench.benchmarks.results import ItemRecord, MetricValue, RunResults

__all__ = ["Verification", "file_digest", "metric_problems", "qa_headline", "recompute_headlines", "verify_run", "TOLERANCE"]

# Stored values are JSON floats of the same arithmetic; anything beyond rounding noise is a different number.
TOLERANCE = 1e-9


def qa_headline(task: str) -> tuple[str, str | None] | None:
    """``(pair metric name, strata column the headline macro-averages over)`` of a multiple-choice task,
    from its spec; ``None`` for other (or unregistered) tasks."""
    from pjbench.benchmarks.tasks import spec_of

    spec = spec_of(task)
    if spec is None or spec.item_kind != "multiple_choice":
        return None
    return spec.headline_metric, spec.macro_column


# Metric names whose values are differences (may be negative): no [0, 1] check.
_SIGNED = ("minus", "difference", "delta")


def file_digest(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def metric_problems(m: MetricValue) -> list[str]:
    """What is impossible about one stored metric row (empty when it could have been written by pjbench)."""
    key = m.key()
    out = []
    for what, v in (("value", m.value), ("CI low", m.ci_low), ("CI high", m.ci_high)):
        if v is not None and not _finite(v):
            out.append(f"{key}: {what} {v!r} is not a finite number")
    if out:
        return out
    if m.value is not None and (not isinstance(m.n, int) or isinstance(m.n, bool) or m.n < 1):
        out.append(f"{key}: a value ({_pct(m.value)}) with n = {m.n!r}: a metric of no unit has no value")
    if m.ci_low is not None and m.ci_high is not None and m.ci_low > m.ci_high + TOLERANCE:
        out.append(f"{key}: CI low {_pct(m.ci_low)} > CI high {_pct(m.ci_high)}")
    if not any(s in m.name for s in _SIGNED):
        for what, v in (("value", m.value), ("CI low", m.ci_low), ("CI high", m.ci_high)):
            if v is not None and not (-TOLERANCE <= v <= 1 + TOLERANCE):
                out.append(f"{key}: {what} {v!r} outside [0, 1] (metrics are fractions)")
    return out


def _qa_values(items: Sequence[ItemRecord], pair_name: str, macro_over: str | None) -> dict[str, tuple[float, int]]:
    from pjbench.benchmarks.paired import complete_pair_records, item_correct, pair_correct

    recs, _ = complete_pair_records(items)
    if not recs:
        return {}
    correct = np.array([item_correct(r) for r in recs], dtype=float)
    pairs = [str(r.pair_id) for r in recs]
    res = pair_correct(correct, pairs)
    out = {f"{pair_name}_pooled": (float(res.both.mean()), int(res.both.size)),
           "single_accuracy_pooled": (float(correct.mean()), int(correct.size))}
    if macro_over and all(macro_over in (r.strata or {}) for r in recs):
        def macro(values: np.ndarray, strata: list[str]) -> float:
            groups: dict[str, list[float]] = defaultdict(list)
            for v, s in zip(values.tolist(), strata):
                groups[s].append(v)
            return float(np.mean([np.mean(g) for g in groups.values()]))

        item_strata = [str(r.strata[macro_over]) for r in recs]
        out[pair_name] = (macro(res.both, [item_strata[j] for j in res.first.tolist()]), int(res.both.size))
        out["single_accuracy"] = (macro(correct, item_strata), int(correct.size))
    return out


def recompute_headlines(results: RunResults, items: Sequence[ItemRecord]) -> dict[tuple[str, str | None], tuple[float, int]]:
    """``{(metric name, aggregation): (value, n)}`` of the ``all`` rows that the items determine: IntPhys 2
    pairwise accuracy per aggregation; MVPBench / CausalVQA pair (paired) and single accuracy, macro and
    pooled."""
    qa = any(it.correct is not None for it in items)
    out: dict[tuple[str, str | None], tuple[float, int]] = {}
    if results.protocol.get("readout") == "vlm" and any((it.response or {}).get("prompts") for it in items):
        # yes/no per video and prompt (IntPhys 2): accuracy = per video, the share of prompts answered right
        # under the official parser, averaged over the videos with a label
        vals = [float(np.mean([a["parsed"].get("official") == it.label for a in it.response["prompts"].values()]))
                for it in items if it.label in (0, 1) and (it.response or {}).get("prompts")]
        if vals:
            out[("accuracy", None)] = (float(np.mean(vals)), len(vals))
        return out
    if qa:
        pair_name, macro_over = qa_headline(str(results.task.get("name"))) or ("pair_accuracy", None)
        for name, v in _qa_values(items, pair_name, macro_over).items():
            out[(name, None)] = v
        return out
    from pjbench.benchmarks.compare import pair_outcomes

    aggs = {m.aggregation for m in results.metrics if m.name == "pairwise_accuracy" and m.subset == "all"}
    for agg in sorted(a for a in aggs if a):
        outcomes = pair_outcomes(items, agg)
        if outcomes:
            vals = [o.value for o in outcomes.values()]
            out[("pairwise_accuracy", agg)] = (float(np.mean(vals)), len(vals))
    return out


@dataclass
class Verification:
    """What :func:`verify_run` found. ``digest``: ``match``, ``mismatch``, ``items missing`` or ``not recorded``;
    ``checked``: metric keys whose stored value and n equal the recomputed ones; ``problems``: one sentence
    each; ``refuse``: the results file vouches for its items (a digest is recorded), so any problem means it
    was altered after pjbench wrote it."""

    digest: str
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def recorded(self) -> bool:
        return self.digest != "not recorded"

    @property
    def refuse(self) -> bool:
        return bool(self.problems) and self.recorded

    @property
    def verified(self) -> bool:
        return not self.problems and bool(self.checked)


def verify_run(results: RunResults, run_dir: str | os.PathLike, items: Sequence[ItemRecord] | None) -> Verification:
    """Check a loaded run: the digest of its items file, every metric row's sanity, and the stored headline
    rows against :func:`recompute_headlines` of ``items`` (the run's parsed items file, ``None`` if absent or
    unreadable)."""
    run_dir = Path(run_dir)
    digests = results.digests if isinstance(results.digests, dict) else {}
    recorded = digests.get("items")
    items_name = (results.files.get("items") if isinstance(results.files, dict) else None) or "items.jsonl"
    items_path = run_dir / items_name
    problems: list[str] = []
    if not recorded:
        state = "not recorded"
    elif not items_path.is_file():
        state = "items missing"
        problems.append(f"{items_name} is missing although results.json records its digest")
    elif file_digest(items_path) != recorded:
        state = "mismatch"
        problems.append(f"{items_name} changed after results.json was written (sha256 digest differs)")
    else:
        state = "match"
    for m in results.metrics:
        problems += metric_problems(m)
    checked = []
    if items is not None:
        stored = {(m.name, m.aggregation): m for m in results.metrics if m.subset == "all"}
        recomputed = recompute_headlines(results, items)
        for key, m in stored.items():
            if key in recomputed:
                value, n = recomputed[key]
                if m.value is None or not _finite(m.value) or abs(m.value - value) > TOLERANCE or m.n != n:
                    shown = _pct(m.value) if _finite(m.value) else repr(m.value)
                    problems.append(f"{m.key()}: results.json says {shown} (n = {m.n}), {items_name} gives "
                                    f"{_pct(value)} (n = {n})")
                else:
                    checked.append(m.key())
            elif not recomputed and m.name in _recomputable(results) and m.value is not None:
                problems.append(f"{m.key()}: results.json says {_pct(m.value) if _finite(m.value) else m.value} "
                                f"(n = {m.n}), but {items_name} holds no scored pair to give it")
    return Verification(digest=state, checked=checked, problems=problems)


def _recomputable(results: RunResults) -> set[str]:
    """Names of the ``all`` rows :func:`recompute_headlines` determines for this run's task."""
    if results.protocol.get("readout") == "vlm" and results.protocol.get("headline") == "accuracy":
        return {"accuracy"}
    head = qa_headline(str(results.task.get("name")))
    if head is not None:
        pair = head[0]
        return {pair, f"{pair}_pooled", "single_accuracy", "single_accuracy_pooled"}
    return {"pairwise_accuracy"}
