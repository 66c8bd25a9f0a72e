"""Every results file names the metric conventions its numbers follow (``results.conventions``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import auc, precision_recall_curve

from pjbench.benchmarks.protocol import one_deviation
from pjbench.benchmarks.results import load_items, load_results
from pjbench.intphys2.task import complete_pairs_only

FAST = dict(window=16, n_boot=100, progress=False, workers=0)


@pytest.fixture(scope="module")
def corrected_run(tiny_suite, tmp_path_factory):
    from pjbench.benchmarks.api import evaluate

    out = tmp_path_factory.mktemp("conv") / "pixel"
    evaluate("pixel-copy-last", tiny_suite, out, cache=False, **FAST)  # keep the shared session cache untouched
    return out


def test_eval_results_name_the_official_metric_conventions(corrected_run):
    conv = load_results(corrected_run).conventions
    assert conv["auprc"] == "official: possible positive, auc(recall, precision)"
    assert "ceil(0.9 n)" in conv["abs_accuracy_threshold"] and "n - 1" in conv["abs_accuracy_threshold"]
    assert "threshold counts wrong" in conv["ties"] and "pairwise tie counts wrong" in conv["ties"]
    assert "SceneIndex" in conv["pairing"] and "3 x 3" in conv["pairing"]
    assert "not padded" in conv["aggregation"]
    assert "compute_metrics" in conv["source"] and "not official" in conv["ap_impossible"]
    proto = load_results(corrected_run).protocol
    assert "ceil(0.9 n)" in proto["threshold"]["rule"]


def test_the_auprc_row_is_the_official_one_recomputed_from_the_items(corrected_run):
    results = load_results(corrected_run)
    items = complete_pairs_only(load_items(corrected_run, results))
    y = np.array([r.label for r in items])
    for agg in ("avg", "max"):
        s = np.array([r.scores[agg] for r in items])
        precision, recall, _ = precision_recall_curve(y == 1, -s)  # compute_metrics' call
        assert results.metric("auprc", agg).value == pytest.approx(auc(recall, precision))
        assert results.metric("auprc", agg).chance == pytest.approx(np.mean(y == 1))


@pytest.mark.parametrize("deviation, key, text", [
    ("padding", "aggregation", "zero-padded to the longest video"),
    ("debug-pairing", "pairing", "paired by position"),
])
def test_conventions_follow_the_runs_protocol(tiny_suite, tmp_path, deviation, key, text):
    from pjbench.benchmarks.api import evaluate

    results, _ = evaluate("pixel-copy-last", tiny_suite, tmp_path / deviation, protocol=one_deviation(deviation), cache=False,
                          **FAST)
    assert text in results.conventions[key]
    assert load_results(tmp_path / deviation).conventions == results.conventions


def test_results_written_before_conventions_existed_still_load(corrected_run, tmp_path):
    data = json.loads((corrected_run / "results.json").read_text())
    data.pop("conventions")
    (tmp_path / "results.json").write_text(json.dumps(data))
    assert load_results(tmp_path).conventions == {}
