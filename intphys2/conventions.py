"""The metric conventions of IntPhys 2 results, as written into every results file (``results.conventions``).

One place that names the rule behind each number (:mod:`pjbench.intphys2.metrics` computes them), so two
results files computed under different rules are never silently compared.
"""

from __future__ import annotations

__all__ = ["CONVENTIONS", "conventions"]

#: The metric conventions of :func:`pjbench.intphys2.metrics.compute_metrics`, written into every IntPhys 2 results file
#: (``results.conventions``) so that a number names the rule it was computed with.
CONVENTIONS: dict[str, str] = {
    "source": "official: jepa-intuitive-physics evaluation_code/evals/intuitive_physics/eval.py compute_metrics",
    "pairing": "pair = (SceneIndex, run digit of type); a pair's value is the mean over its possible x "
               "impossible combinations (Debug: 3 x 3 renders); pairs weigh equally",
    "pairwise_accuracy": "official: 1[surprise(impossible) > surprise(possible)], strictly",
    "ties": "official: a pairwise tie counts wrong; an absolute-accuracy score equal to the threshold counts wrong",
    "auroc": "official: possible positive, score -surprise, auc(roc_curve) (= impossible positive with "
             "surprise, ties one half)",
    "auprc": "official: possible positive, auc(recall, precision)",
    "auprc_detail": "score -surprise; trapezoid over the precision_recall_curve points, one per distinct "
                    "score, plus (recall 0, precision 1); chance ~ share of possible videos",
    "ap_impossible": "not official: average precision, impossible positive, surprise as score "
                     "(average_precision_score); pjbench's 'auprc' before it followed the official rule",
    "abs_accuracy_threshold": "official: sorted possible videos' score at index ceil(0.9 n) (no interpolation); "
                              "clamped to n - 1 for n < 10, where the official code raises",
    "abs_accuracy_rule": "official: possible right iff score < threshold, impossible right iff score > threshold",
    "abs_accuracy_aggregations": "official: max; pjbench also reports avg at its own threshold",
}


def conventions(*, zero_pad: bool = False, debug_pairing: str = "all") -> dict[str, str]:
    """:data:`CONVENTIONS` adjusted to a run's protocol: how per-window losses became one score per video
    (``zero_pad``) and how Debug renders are paired (``debug_pairing``: ``all`` or ``positional``)."""
    out = dict(CONVENTIONS)
    out["aggregation"] = (
        "avg / max over windows of loss rows zero-padded to the longest video (official pad_tensors)" if zero_pad
        else "avg / max over each video's own windows (not padded; official: zero-padded to the longest)")
    if debug_pairing == "positional":
        out["pairing"] = ("pair = (SceneIndex, run digit of type); Debug renders paired by position "
                          "(official), one possible x impossible combination each")
    return out
