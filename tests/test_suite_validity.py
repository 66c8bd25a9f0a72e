"""Does the synthetic suite measure what it claims?

With the model's own protocol (48-frame windows, context chosen on Debug) and the headline aggregation
(avg over windows):

- visible violations leave a discontinuity in full view: the copy-last pixel predictor must beat chance
  there (the pipeline discriminates: decoding, windows, masks, aggregation and pairing line up);
- occluded violations are frame-identical splices behind an occluder: the same predictor must sit at
  chance (low-level cues are controlled, so a model above chance there models what persists behind
  occluders).

The max aggregation is not asserted: matched videos share their first part, so their max often falls in
the same shared window and ties (which count as wrong) dominate it.
"""

import pytest

from pjbench.benchmarks.runner import evaluate
from pjbench.synthetic import write_intphys2_suite


@pytest.fixture(scope="module")
def copy_last_on_default_main(tmp_path_factory):
    root = tmp_path_factory.mktemp("validity") / "IntPhys2"
    write_intphys2_suite(root, seed=1, splits=("Debug", "Main"), progress=False)  # default size: 32 + 32 pairs
    results, _ = evaluate("pixel-copy-last", root, root.parent / "run", n_boot=1000, progress=False)
    assert results.protocol["context_selection"]["rule"] == "dev"
    return results


def _pairwise(results, subset, agg="avg"):
    m = results.metric("pairwise_accuracy", agg, subset=subset)
    assert m is not None and m.n >= 30, f"too few pairs in {subset}"
    return m


def test_copy_last_beats_chance_on_visible_violations(copy_last_on_default_main):
    m = _pairwise(copy_last_on_default_main, "visibility=visible")
    assert m.ci_low > 0.5, f"visible: {m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]"


def test_copy_last_is_at_chance_on_occluded_violations(copy_last_on_default_main):
    m = _pairwise(copy_last_on_default_main, "visibility=occluded")
    assert m.ci_low <= 0.5 <= m.ci_high, f"occluded: {m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]"
