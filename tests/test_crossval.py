"""Grouped, stratified folds and inner hyper-parameter selection (no peeking at the held-out fold)."""

from collections import Counter, defaultdict
from types import SimpleNamespace

import numpy as np
import pytest

from pjbench.benchmarks.errors import PjbenchError
from pjbench.probes.crossval import (
    cross_val_predict,
    fit_select_predict,
    grid_to_dict,
    grouped_stratified_folds,
    inner_split,
)


def make_items(sizes=None, singletons=3, seed=0):
    """Pairs per stratum (``{source: n_pairs}``) plus a few items without a pair id."""
    sizes = sizes or {"ssv2": 7, "clevrer": 12, "pt": 5, "star": 1}
    rng = np.random.default_rng(seed)
    items = []
    for source, n in sizes.items():
        for p in range(n):
            for j in range(2):
                items.append(SimpleNamespace(name=f"{source}_{p}_{j}", pair_id=f"{source}_{p}", source=source))
    for s in range(singletons):
        items.append(SimpleNamespace(name=f"single_{s}", pair_id=None, source="pt"))
    order = rng.permutation(len(items))
    return [items[i] for i in order]


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("k", [2, 5])
def test_fold_invariants(seed, k):
    items = make_items(seed=seed)
    folds = grouped_stratified_folds(items, k=k, seed=seed, stratum=lambda it: it.source)
    assert len(folds) == len(items) and set(folds) == set(range(k))  # every item in exactly one fold
    by_pair = defaultdict(set)
    for it, f in zip(items, folds):
        if it.pair_id is not None:
            by_pair[it.pair_id].add(f)
    assert all(len(fs) == 1 for fs in by_pair.values())  # no pair split
    # per stratum, group counts per fold differ by at most one
    groups = {}
    for it, f in zip(items, folds):
        groups[(it.source, it.pair_id or it.name)] = f
    for source in {it.source for it in items}:
        per_fold = Counter(f for (s, _), f in groups.items() if s == source)
        counts = [per_fold.get(f, 0) for f in range(k)]
        assert max(counts) - min(counts) <= 1, (source, counts)
    sizes = Counter(folds)
    assert max(sizes.values()) - min(sizes.values()) <= 2


def test_folds_are_seeded_and_order_independent():
    items = make_items()
    a = grouped_stratified_folds(items, k=5, seed=3, stratum=lambda it: it.source)
    b = grouped_stratified_folds(items, k=5, seed=3, stratum=lambda it: it.source)
    assert a == b
    rev = list(reversed(items))
    c = grouped_stratified_folds(rev, k=5, seed=3, stratum=lambda it: it.source)
    assert {it.name: f for it, f in zip(items, a)} == {it.name: f for it, f in zip(rev, c)}
    d = grouped_stratified_folds(items, k=5, seed=4, stratum=lambda it: it.source)
    assert a != d


def test_too_few_pairs_for_folds():
    items = make_items({"pt": 3}, singletons=0)
    with pytest.raises(PjbenchError, match="3 pairs cannot be split into 5 folds"):
        grouped_stratified_folds(items, k=5)


def test_inner_split_is_grouped_and_inside_training_items():
    items = make_items()
    train = np.array([i for i, it in enumerate(items) if it.source != "clevrer"])
    tr, val = inner_split(items, train, seed=0, stratum=lambda it: it.source)
    assert len(val) > 0 and len(tr) > 0
    assert sorted(np.concatenate([tr, val]).tolist()) == sorted(train.tolist())
    assert not {items[i].pair_id for i in tr if items[i].pair_id} & {items[i].pair_id for i in val if items[i].pair_id}


def test_grid_validation():
    g = grid_to_dict({"epochs": [20, 5]})
    assert g["epochs"] == [5, 20] and g["lr"] and g["weight_decay"]
    with pytest.raises(PjbenchError, match="unknown probe hyper-parameters"):
        grid_to_dict({"momentum": [0.9]})
    with pytest.raises(PjbenchError):
        grid_to_dict({"epochs": [0]})


def test_selection_uses_inner_validation_only_and_breaks_ties_by_loss():
    items = make_items()
    folds = grouped_stratified_folds(items, k=5, seed=0, stratum=lambda it: it.source)
    seen_eval, seen_fit = [], []

    def fit_eval(tr, val, lr, wd, max_epochs, eval_epochs, seed):
        seen_eval.append((set(tr.tolist()), set(val.tolist())))
        # accuracy ties between lr=0.1/epochs 3 and lr=0.01/epochs 3; the lower loss (lr=0.01) must win
        return {e: {"accuracy": 0.9 if e == 3 else 0.5, "loss": lr + wd} for e in eval_epochs}

    def fit_predict(tr, te, lr, wd, epochs, seed):
        seen_fit.append((set(tr.tolist()), set(te.tolist()), (lr, wd, epochs)))
        return np.zeros((len(te), 2))

    grid = {"lr": [0.1, 0.01], "weight_decay": [0.0], "epochs": [1, 3]}
    scores, per_fold = cross_val_predict(items, folds, fit_eval=fit_eval, fit_predict=fit_predict, grid=grid, seed=0)
    assert scores.shape == (len(items), 2) and not np.isnan(scores).any()
    assert len(per_fold) == 5 and len(seen_fit) == 5
    for info, (tr, te, chosen) in zip(per_fold, seen_fit):
        held_out = {i for i, f in enumerate(folds) if f == info["fold"]}
        assert te == held_out and not (tr & held_out)
        assert info["chosen"] == {"lr": 0.01, "weight_decay": 0.0, "epochs": 3} and chosen == (0.01, 0.0, 3)
        assert len(info["inner_validation"]) == 4
    for tr, val in seen_eval:  # inner runs never touch the fold being predicted
        f_of = {folds[i] for i in tr | val}
        assert len(f_of) == 4


def test_fit_select_predict_reports_sizes():
    items = make_items({"pt": 10}, singletons=0)
    idx = np.arange(len(items))

    def fit_eval(tr, val, lr, wd, max_epochs, eval_epochs, seed):
        return {e: {"accuracy": e / 10, "loss": 1.0} for e in eval_epochs}

    def fit_predict(tr, te, lr, wd, epochs, seed):
        return np.zeros((len(te), 3))

    scores, info = fit_select_predict(items, idx[:14], idx[14:], fit_eval=fit_eval, fit_predict=fit_predict,
                                      grid={"lr": [1e-3], "weight_decay": [0.0], "epochs": [2, 4]})
    assert scores.shape == (6, 3)
    assert info["chosen"]["epochs"] == 4  # higher inner accuracy wins
    assert info["n_train"] == 14 and info["n_test"] == 6 and info["n_inner_train"] + info["n_inner_val"] == 14
