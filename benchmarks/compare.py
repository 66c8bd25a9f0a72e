"""Paired comparison of two runs on the items both scored: difference in a headline metric, its cluster
bootstrap interval and a p-value (``pjbench compare``, significance groups of the report).

Why paired: every model sees the same pairs, and most of the variance of an accuracy comes from which
pairs are easy. Resampling the *shared* pairs once and evaluating both runs on the same resample cancels
that variance, so the interval of the difference is much narrower than what two separate intervals
suggest (and two overlapping intervals do not mean "no difference"). Units are pairs, resampled in
clusters (IntPhys 2 scenes; MVPBench / CausalVQA pairs are their own cluster) with
:mod:`pjbench.benchmarks.bootstrap`, so the same seed gives the same resamples as the runs' own CIs.

Headline metrics that are macro means over strata (MVPBench: over configs; CausalVQA: over type x
difficulty) are reproduced exactly: the statistic is the unweighted mean over strata of the per-stratum
mean, evaluated on every resample.

Reads only results files (:class:`~pjbench.benchmarks.results.ItemRecord`); no model, no task package,
except :func:`pair_outcomes` borrowing the IntPhys 2 pairing rule (one definition, imported lazily).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from pjbench.benchmarks.bootstrap import (cluster_codes, cluster_weights, macro_mean_statistic, percentile_interval,
                                          resample_clusters)
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import ItemRecord, RunResults

__all__ = [
    "MIN_SHARED",
    "PairOutcome",
    "PairedDifference",
    "ComparisonRow",
    "Comparison",
    "pair_outcomes",
    "paired_bootstrap",
    "compare_outcomes",
    "protocol_signature",
    "protocol_differences",
]

# Fewer shared pairs than this and a difference of a few points cannot be resolved: say so.
MIN_SHARED = 30
# Breakdown columns with more distinct values than this are identifiers, not strata.
MAX_STRATUM_VALUES = 20


@dataclass(frozen=True)
class PairOutcome:
    """The headline metric of one pair (its unit value), with what the bootstrap and breakdowns need.

    value:   IntPhys 2: share of (possible, impossible) combinations ranked right (1x1 pair: 0 or 1);
             QA tasks: 1.0 if every item of the pair is answered right, else 0.0.
    cluster: resampling cluster (the scene for IntPhys 2; the pair itself when the items have none).
    strata:  breakdown values shared by every item of the pair.
    """

    key: str
    value: float
    cluster: str
    strata: Mapping[str, str] = field(default_factory=dict)


def _shared_strata(items: Sequence[ItemRecord]) -> dict[str, str]:
    first = dict(items[0].strata or {})
    return {k: v for k, v in first.items() if all((it.strata or {}).get(k) == v for it in items[1:])}


def _cluster(items: Sequence[ItemRecord], key: str) -> str:
    for it in items:
        if it.cluster is not None:
            return str(it.cluster)
    return f"pair:{key}"


def pair_outcomes(items: Iterable[ItemRecord], aggregation: str | None = "avg") -> dict[str, PairOutcome]:
    """Per-pair values of a run's items, keyed by pair id.

    QA records (some item has ``correct`` set) count a pair when it is complete -- at least two items, each
    with a known ``correct`` -- and score it 1 when all are right (MVPBench ``pair_accuracy``, CausalVQA
    ``paired_accuracy``). Surprise records (labels 0/1 and ``scores[aggregation]``) use the IntPhys 2 rule
    of :func:`pjbench.benchmarks.surprise_pairs.pair_values` (a tie counts as wrong). Items without a pair id, and
    pairs lacking a class or a score, are left out.
    """
    groups: dict[str, list[ItemRecord]] = defaultdict(list)
    all_items = list(items)
    for it in all_items:
        if it.pair_id is not None:
            groups[str(it.pair_id)].append(it)
    qa = any(it.correct is not None for it in all_items)
    out: dict[str, PairOutcome] = {}
    if qa:
        for key, members in groups.items():
            if len(members) < 2 or any(m.correct is None for m in members):
                continue  # incomplete pair (missing video, unknown label): not scored, as in the metric
            value = 1.0 if all(bool(m.correct) for m in members) else 0.0
            out[key] = PairOutcome(key, value, _cluster(members, key), _shared_strata(members))
        return out
    scored = []
    for key, members in groups.items():
        for m in members:
            s = (m.scores or {}).get(aggregation) if aggregation else None
            if m.label in (0, 1) and not isinstance(m.label, bool) and isinstance(s, (int, float)) \
                    and not isinstance(s, bool) and math.isfinite(s):
                scored.append((key, m, float(s)))
    if not scored:
        return out
    from pjbench.benchmarks.surprise_pairs import pair_values  # the pairing rule lives once, in the core

    keys, values = pair_values([s for _, _, s in scored], [m.label for _, m, _ in scored],
                               [k for k, _, _ in scored])
    for key, value in zip(keys.tolist(), values.tolist()):
        members = [m for k, m, _ in scored if k == key]
        out[key] = PairOutcome(key, float(value), _cluster(members, key), _shared_strata(members))
    return out


@dataclass
class PairedDifference:
    """``metric(A) − metric(B)`` on shared units, fractions; ``None`` where undefined.

    ci_low/ci_high: percentile interval of the difference over cluster-bootstrap resamples (``level``).
    p_value: two-sided bootstrap p-value of "no difference": the share of resamples whose difference lies at
             least as far from the estimate as the estimate lies from 0, ``(1 + count) / (1 + n_boot)``.
    """

    value_a: float | None
    value_b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    n_clusters: int
    n_boot: int
    level: float

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (what the report's groups use)."""
        return self.ci_low is not None and self.ci_high is not None and (self.ci_low > 0 or self.ci_high < 0)


def paired_bootstrap(
    values_a: Sequence[float] | np.ndarray,
    values_b: Sequence[float] | np.ndarray,
    clusters: Sequence[object] | np.ndarray,
    strata: Sequence[object] | np.ndarray | None = None,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Paired cluster bootstrap of the difference in a (macro-)mean between two runs on the same units.

    Args:
        values_a, values_b: unit values (e.g. per-pair accuracy) of runs A and B, aligned, shape ``(n,)``.
        clusters: cluster id per unit ``(n,)``; whole clusters are resampled with replacement, the same
            resample for both runs.
        strata: stratum id per unit, or ``None``. With strata the metric is the unweighted mean over strata
            of the per-stratum mean (a macro mean, as MVPBench and CausalVQA define their headline).
        n_boot, level, seed: as in :func:`pjbench.benchmarks.bootstrap.cluster_bootstrap_ci` (same resamples
            for the same seed and clusters).

    Returns the point estimates of both runs, their difference ``A − B``, the percentile interval of the
    difference, the two-sided p-value and ``n`` / ``n_clusters``. No units: every number ``None``; a single
    cluster: the point estimates only (interval and p-value ``None``: one cluster carries no sampling
    variability to resample).
    """
    a = np.asarray(values_a, dtype=float).reshape(-1)
    b = np.asarray(values_b, dtype=float).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"values_a and values_b differ in length: {a.size} vs {b.size}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("unit values must be finite")
    codes, k = cluster_codes(clusters)
    if codes.size != a.size:
        raise ValueError(f"clusters and values differ in length: {codes.size} vs {a.size}")
    if a.size == 0:
        return PairedDifference(None, None, None, None, None, None, 0, 0, n_boot, level)
    if strata is None:
        s_codes, n_strata = np.zeros(a.size, dtype=np.int64), 1
    else:
        s_codes, n_strata = cluster_codes(strata)
        if s_codes.size != a.size:
            raise ValueError(f"strata and values differ in length: {s_codes.size} vs {a.size}")
    stat = macro_mean_statistic(a - b, s_codes, n_strata)
    ones = np.ones((1, a.size))
    value_a = float(macro_mean_statistic(a, s_codes, n_strata)(ones)[0])
    value_b = float(macro_mean_statistic(b, s_codes, n_strata)(ones)[0])
    diff = float(stat(ones)[0])
    if k < 2:  # one cluster: every resample is the sample itself; no interval, no test
        return PairedDifference(value_a, value_b, diff, None, None, None, int(a.size), int(k), n_boot, level)
    draws = resample_clusters(k, n_boot, seed)
    chunk = max(1, 4_000_000 // max(1, a.size))
    boots = np.concatenate([stat(cluster_weights(codes, k, draws[lo : lo + chunk])) for lo in range(0, n_boot, chunk)])
    low, high = percentile_interval(boots, level)
    ok = boots[np.isfinite(boots)]
    # Null-centred: how often does a resample land as far from the estimate as the estimate is from 0?
    p = float((1 + np.sum(np.abs(ok - diff) >= abs(diff) - 1e-12)) / (1 + ok.size)) if ok.size else None
    return PairedDifference(value_a, value_b, diff, low, high, p, int(a.size), int(k), n_boot, level)


@dataclass
class ComparisonRow:
    """One stratum of a comparison (``subset`` is ``all`` or ``column=value``)."""

    subset: str
    result: PairedDifference
    n_a: int  # pairs of A in this stratum (shared or not)
    n_b: int


@dataclass
class Comparison:
    rows: list[ComparisonRow]
    n_shared: int
    n_only_a: int
    n_only_b: int
    warnings: list[str]


def _stratum_key(o: PairOutcome, macro_over: Sequence[str]) -> str | None:
    if not macro_over:
        return None
    return "|".join(str(o.strata.get(c, "")) for c in macro_over)


def compare_outcomes(
    a: Mapping[str, PairOutcome],
    b: Mapping[str, PairOutcome],
    *,
    macro_over: Sequence[str] = (),
    breakdowns: Sequence[str] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    min_shared: int = MIN_SHARED,
) -> Comparison:
    """Paired differences ``A − B`` over the pairs both runs scored (intersection of pair ids), overall
    (``subset="all"``) and per breakdown stratum.

    macro_over: strata columns the headline metric is a macro mean over (``("config",)`` for MVPBench);
                a breakdown row on one of them is a macro over the others.
    breakdowns: columns to break down by; ``None`` = every strata column with at most
                ``MAX_STRATUM_VALUES`` values among the shared pairs.
    Warnings say when fewer than ``min_shared`` pairs are shared, or when either run has many pairs the
    other lacks (the difference then describes a subset).
    """
    shared = sorted(set(a) & set(b))
    warnings = []
    if not shared:
        warnings.append("the two runs share no scored pairs: nothing to compare (different split or data?)")
    elif len(shared) < min_shared:
        warnings.append(f"only {len(shared)} shared pairs (fewer than {min_shared}): the interval is too wide "
                        "to separate models that differ by a few points")
    only_a, only_b = len(set(a) - set(b)), len(set(b) - set(a))
    for name, only, total in (("A", only_a, len(a)), ("B", only_b, len(b))):
        if shared and only and only > 0.1 * total:
            warnings.append(f"{only} of {total} pairs of run {name} are not in the other run: the comparison "
                            "covers the shared pairs only")

    def row(subset: str, keys: list[str], macro: Sequence[str]) -> ComparisonRow:
        va = [a[k].value for k in keys]
        vb = [b[k].value for k in keys]
        clusters = [a[k].cluster for k in keys]
        strata = [_stratum_key(a[k], macro) for k in keys] if macro else None
        res = paired_bootstrap(va, vb, clusters, strata, n_boot=n_boot, level=level, seed=seed)
        return ComparisonRow(subset, res, n_a=len(keys), n_b=len(keys))

    rows = [row("all", shared, macro_over)]
    rows[0].n_a, rows[0].n_b = len(a), len(b)
    if breakdowns is None:
        cols: dict[str, set[str]] = defaultdict(set)
        for k in shared:
            for c, v in a[k].strata.items():
                cols[c].add(v)
        breakdowns = [c for c, vs in cols.items() if 1 < len(vs) <= MAX_STRATUM_VALUES]
    for col in breakdowns:
        values = sorted({a[k].strata[col] for k in shared if col in a[k].strata})
        for v in values:
            keys = [k for k in shared if a[k].strata.get(col) == v]
            r = row(f"{col}={v}", keys, [c for c in macro_over if c != col])
            r.n_a = sum(1 for o in a.values() if o.strata.get(col) == v)
            r.n_b = sum(1 for o in b.values() if o.strata.get(col) == v)
            rows.append(r)
    return Comparison(rows=rows, n_shared=len(shared), n_only_a=only_a, n_only_b=only_b, warnings=warnings)


# ------------------------------------------------------------------------------------ protocol


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return d


def protocol_signature(results: RunResults) -> dict[str, Any]:
    """The settings under which two runs' numbers are comparable at all: schema, protocol name
    (``--protocol``), task, split, temporal sampling, window/stride/contexts, context-selection rule, dev split, answer
    parser (``score --parser``). Model-specific settings (its
    native resolution, patch, normalisation) are not in here; see :func:`protocol_differences`."""
    pre = _get(results.model, "preprocessing") or {}
    p = results.protocol or {}
    sampling = f"{pre.get('sample_fps'):g} fps" if isinstance(pre.get("sample_fps"), (int, float)) and pre.get("sample_fps") \
        else (f"every {pre.get('frame_step')}" if pre.get("frame_step") is not None else None)
    return {
        "schema version": results.schema_version,
        "protocol": p.get("name"),  # corrected / as-published / one ablation deviation: never ranked together
        "task": results.task.get("name"),
        "split": results.task.get("split"),
        "frame sampling": sampling,
        "window": p.get("window"),
        "stride": p.get("stride"),
        "contexts": tuple(p["contexts"]) if isinstance(p.get("contexts"), list) else p.get("contexts"),
        "context rule": _get(p, "context_selection", "rule"),
        "dev split": _get(p, "context_selection", "dev_split") or results.task.get("dev_split"),
        # answer files: how answers were read (official / lenient / strict; older runs name the method)
        "answer parser": p.get("parser"),
    }


def protocol_differences(a: RunResults, b: RunResults) -> list[str]:
    """Human-readable protocol differences between two runs (empty when comparable). A setting one run did
    not record is unknown, not different. The input resolution counts only between runs of the same model:
    different models have different native resolutions by design, the same model at two resolutions is
    two protocols."""
    sa, sb = protocol_signature(a), protocol_signature(b)
    out = [f"{k}: {sa[k]!s} vs {sb[k]!s}" for k in sa if sa[k] is not None and sb[k] is not None and sa[k] != sb[k]]
    if a.model.get("name") == b.model.get("name"):
        ra, rb = _get(a.model, "preprocessing", "resolution"), _get(b.model, "preprocessing", "resolution")
        if ra is not None and rb is not None and ra != rb:
            out.append(f"resolution: {ra} vs {rb} px")
    return out


def check_same_task(a: RunResults, b: RunResults, label_a: str = "A", label_b: str = "B") -> None:
    ta, tb = a.task.get("name"), b.task.get("name")
    if ta != tb:
        raise PjbenchError(f"run {label_a} is on task {ta!r} and run {label_b} on {tb!r}: compare runs of one task")
