"""Cross-validation for the probe track: MVPBench and CausalVQA have no train split.

- Folds are grouped by pair (both items of a pair, or both answers of a CausalVQA question, are always
  held out together: a probe that saw one half would learn the other half's answer from its text) and
  stratified by a stratum key (MVPBench: ``source``; CausalVQA: ``type``) so every fold sees every kind
  of question.
- Hyper-parameters (learning rate, weight decay, epochs) are chosen per outer fold on an inner grouped
  split of that fold's *training* items only, never on the held-out fold; the choice and every inner
  score are recorded.
"""

from __future__ import annotations

from itertools import product
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from pjbench.benchmarks.errors import PjbenchError

__all__ = ["DEFAULT_GRID", "cross_val_predict", "fit_select_predict", "grid_to_dict", "grouped_stratified_folds",
           "inner_split"]

DEFAULT_GRID: dict[str, tuple] = {"lr": (1e-3, 3e-4), "weight_decay": (0.01, 0.1), "epochs": (10, 25)}

Stratum = Callable[[Any], str]


def _group_key(item: Any) -> str:
    return str(item.pair_id) if getattr(item, "pair_id", None) is not None else f"item:{item.name}"


def grouped_stratified_folds(items: Sequence[Any], k: int = 5, seed: int = 0,
                             stratum: Stratum | None = None) -> list[int]:
    """Fold (``0..k-1``) of each item, aligned with ``items``.

    Groups = ``pair_id`` (an item without one is its own group); a group's stratum is ``stratum`` of its
    first item (all groups in one stratum if ``stratum`` is None). Within each stratum the groups are
    shuffled (seeded) and dealt one by one to the fold holding the fewest groups of that stratum, ties
    to the fold with the fewest items so far, then the lowest fold. Hence: every item is in exactly one
    fold, no group is split, and per stratum the folds' group counts differ by at most one.
    Raises :class:`PjbenchError` when there are fewer groups than folds."""
    if k < 2:
        raise PjbenchError(f"cross-validation needs at least 2 folds, got {k}")
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(_group_key(it), []).append(i)
    if len(groups) < k:
        raise PjbenchError(f"{len(groups)} pairs cannot be split into {k} folds; use fewer folds or more data")
    by_stratum: dict[str, list[str]] = {}
    for g, members in groups.items():
        s = str(stratum(items[members[0]])) if stratum else ""
        by_stratum.setdefault(s, []).append(g)
    rng = np.random.default_rng(seed)
    fold_of = [-1] * len(items)
    fold_items = np.zeros(k, dtype=np.int64)
    for s in sorted(by_stratum):
        keys = sorted(by_stratum[s])
        per_fold = np.zeros(k, dtype=np.int64)
        for j in rng.permutation(len(keys)):
            members = groups[keys[j]]
            f = min(range(k), key=lambda f: (per_fold[f], fold_items[f], f))
            per_fold[f] += 1
            fold_items[f] += len(members)
            for i in members:
                fold_of[i] = f
    return fold_of


def inner_split(items: Sequence[Any], train_idx: Sequence[int], *, seed: int = 0, k: int = 5,
                stratum: Stratum | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(inner_train, inner_val)`` positions: a grouped, stratified ``1/k`` hold-out of ``train_idx``."""
    train_idx = np.asarray(train_idx, dtype=np.int64)
    n_groups = len({_group_key(items[i]) for i in train_idx})
    k = max(2, min(k, n_groups))
    folds = np.asarray(grouped_stratified_folds([items[i] for i in train_idx], k=k, seed=seed, stratum=stratum))
    return train_idx[folds != 0], train_idx[folds == 0]


def grid_to_dict(grid: Mapping[str, Sequence[Any]] | None) -> dict[str, list[Any]]:
    """Validated grid ``{"lr": [...], "weight_decay": [...], "epochs": [...]}`` (defaults filled in)."""
    grid = {**DEFAULT_GRID, **(grid or {})}
    unknown = set(grid) - set(DEFAULT_GRID)
    if unknown:
        raise PjbenchError(f"unknown probe hyper-parameters {sorted(unknown)}; the grid has lr, weight_decay, epochs")
    out = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in grid.items()}
    if any(not v for v in out.values()) or any(int(e) < 1 for e in out["epochs"]):
        raise PjbenchError(f"invalid probe grid {out}: every entry needs values, epochs >= 1")
    out["epochs"] = sorted(int(e) for e in out["epochs"])
    return out


# fit_eval(inner_train, inner_val, lr, weight_decay, max_epochs, eval_epochs, seed) -> {epoch: {accuracy, loss}}
FitEval = Callable[[np.ndarray, np.ndarray, float, float, int, Sequence[int], int], Mapping[int, Mapping[str, float]]]
# fit_predict(train, test, lr, weight_decay, epochs, seed) -> scores (len(test), K)
FitPredict = Callable[[np.ndarray, np.ndarray, float, float, int, int], np.ndarray]


def fit_select_predict(
    items: Sequence[Any], train_idx: Sequence[int], test_idx: Sequence[int], *, fit_eval: FitEval,
    fit_predict: FitPredict, grid: Mapping[str, Sequence[Any]] | None = None, seed: int = 0,
    stratum: Stratum | None = None, inner_k: int = 5,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Choose hyper-parameters on an inner split of ``train_idx``, refit on all of ``train_idx`` with the
    choice, score ``test_idx``. Selection: highest inner-validation accuracy, ties -> lowest inner
    cross-entropy, then grid order. Every epoch count of the grid is read off one run per (lr, wd)."""
    grid = grid_to_dict(grid)
    inner_tr, inner_val = inner_split(items, train_idx, seed=seed + 1, k=inner_k, stratum=stratum)
    table = []
    for lr, wd in product(grid["lr"], grid["weight_decay"]):
        hist = fit_eval(inner_tr, inner_val, float(lr), float(wd), max(grid["epochs"]), grid["epochs"], seed)
        for e in grid["epochs"]:
            table.append({"lr": float(lr), "weight_decay": float(wd), "epochs": int(e),
                          "accuracy": float(hist[e]["accuracy"]), "loss": float(hist[e]["loss"])})
    best = min(range(len(table)), key=lambda j: (-table[j]["accuracy"], table[j]["loss"], j))
    chosen = {k: table[best][k] for k in ("lr", "weight_decay", "epochs")}
    scores = fit_predict(np.asarray(train_idx, dtype=np.int64), np.asarray(test_idx, dtype=np.int64),
                         chosen["lr"], chosen["weight_decay"], chosen["epochs"], seed)
    info = {"chosen": chosen, "inner_validation": table, "n_train": int(len(train_idx)),
            "n_inner_train": int(len(inner_tr)), "n_inner_val": int(len(inner_val)), "n_test": int(len(test_idx)),
            "selection": "max inner-val accuracy, ties -> min inner-val cross-entropy, then grid order"}
    return scores, info


def cross_val_predict(
    items: Sequence[Any], folds: Sequence[int], *, fit_eval: FitEval, fit_predict: FitPredict,
    grid: Mapping[str, Sequence[Any]] | None = None, seed: int = 0, stratum: Stratum | None = None,
    inner_k: int = 5, progress: bool = False, desc: str = "folds",
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Held-out candidate scores of every item (``(n_items, K)``, row ``i`` from the fold where item ``i``
    was held out) and per-fold records (``{"fold", "chosen", "inner_validation", ...}``)."""
    folds = np.asarray(folds, dtype=np.int64)
    scores: np.ndarray | None = None
    per_fold = []
    for f in tqdm(sorted(set(folds.tolist())), desc=desc, unit="fold", disable=not progress):
        test = np.flatnonzero(folds == f)
        train = np.flatnonzero(folds != f)
        s, info = fit_select_predict(items, train, test, fit_eval=fit_eval, fit_predict=fit_predict, grid=grid,
                                     seed=seed + 1000 * (f + 1), stratum=stratum, inner_k=inner_k)
        if scores is None:
            scores = np.full((len(items), s.shape[1]), np.nan)
        scores[test] = s
        per_fold.append({"fold": int(f), **info})
    if scores is None:
        raise ValueError("cross_val_predict: no folds (no items to score)")
    bad = np.flatnonzero(~np.isfinite(scores).all(axis=1))
    if bad.size:  # a diverged fit (or non-finite inputs): never write such scores as results
        names = [str(getattr(items[i], "name", i)) for i in bad[:10]]
        raise PjbenchError(f"the probe produced non-finite (NaN/inf) scores for {bad.size} item(s): "
                           f"{', '.join(names)}{' ...' if bad.size > 10 else ''}; check the features "
                           "(results.json protocol.features) or lower the learning-rate grid")
    return scores, per_fold
