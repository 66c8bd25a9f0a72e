"""What a newcomer distrusted in the report (issue 12): zero-width intervals explained, controls and baselines
never in the top group, the histogram caption's tie rule equal to the metric's, model-vs-control refused across
protocols, the probe's real frames, provenance as nested tables, tiny breakdown cells greyed, the checkpoint
and the parameter count shown."""

from __future__ import annotations

import re
from pathlib import Path

from pjbench.benchmarks.results import MetricValue
from pjbench.reports import build_report
from pjbench.reports.plots import histogram
from test_reports import items_for, leaderboard, make_run, visible_text
from test_reports_multi import intphys_items, make_qa_run, overview

README = Path(__file__).resolve().parent.parent / "README.md"


def section_sig(page: str) -> str:
    m = re.search(r"<h3>Significance against the leader</h3>.*?</table>", page, flags=re.S)
    assert m, "no significance table"
    return m.group(0)


def test_zero_width_interval_is_explained(tmp_path):
    flat = make_run(tmp_path, "flat", "constant-model", 0.5, items=intphys_items(20, 10))
    data = (flat / "results.json").read_text().replace('"ci_low": 0.456', '"ci_low": 0.5').replace(
        '"ci_high": 0.544', '"ci_high": 0.5')
    (flat / "results.json").write_text(data)
    page = build_report([flat], tmp_path / "r.html", n_boot=100).read_text()
    assert "50.0 [50.0, 50.0]" in visible_text(page)
    assert '<sup class="flat">&Dagger;</sup>' in overview(page) and '<sup class="flat">' in leaderboard(page)
    assert "zero-width interval: all resamples equal, every resampled pair scored the same" in visible_text(page)
    assert "Zero-width interval" in (tmp_path / "leaderboard.md").read_text()


def test_controls_and_baselines_never_join_the_top_group(tmp_path):
    r = tmp_path / "runs"
    runs = [make_run(r, "ctrl", "vjepa2-tiny-random", 0.65, items=intphys_items(40, 26),
                     model_extra={"control": True, "init": "random", "init_seed": 0}),
            make_run(r, "pix", "pixel-copy-last", 0.625, baseline=True, items=intphys_items(40, 25)),
            make_run(r, "model", "real-model", 0.6, items=intphys_items(40, 24))]
    page = build_report(runs, tmp_path / "r.html", n_boot=200).read_text()
    sig = section_sig(page)
    rows = {name: row for name, row in re.findall(r'<span class="name">([^<]+)</span></td>(.*?)</tr>', sig, re.S)}
    assert "leader" in rows["real-model"]  # the best *model*, although the control scores higher
    for name in ("vjepa2-tiny-random", "pixel-copy-last"):
        assert "top group" not in rows[name] and "compared, never grouped" in rows[name]
    board = overview(page)
    ctrl = re.search(r'<tr class="control">.*?</tr>', board, re.S).group(0)
    assert 'class="num top"' not in ctrl and "(top group)" not in ctrl


def test_histogram_caption_follows_the_tie_rule_of_the_metric(tmp_path):
    h = histogram([0.2, 0.0, -0.1, 0.0])
    assert h.share_positive == 0.25 and h.n_ties == 2  # ties count wrong, as pairwise accuracy does
    items = items_for(6, 3)
    for it in items[:2]:  # pair 0: a tie
        it.scores = {"avg": 1.0, "max": 1.0}
    run = make_run(tmp_path, "t", "tied", 0.5, items=items)
    page = build_report([run], tmp_path / "r.html", n_boot=100).read_text()
    assert "33.3 % right of 0 (a tie counts as wrong: 1 at 0, as in pairwise accuracy)" in visible_text(page)
    assert "ties count half" not in page
    readme = README.read_text()
    assert "a tie counts as wrong" in readme.lower() or "a tie\ncounts as wrong" in readme.lower() or \
        re.search(r"a tie\s+counts\s+(as\s+)?wrong", readme)


def test_model_vs_control_refuses_runs_whose_protocols_differ(tmp_path):
    r = tmp_path / "runs"
    other = {"readout": "surprise", "window": 16, "stride": 2, "contexts": [4, 8],
             "context_selection": {"rule": "dev", "dev_split": "Debug", "selected": 8}, "n_boot": 1000, "ci_level": 0.95}
    runs = [make_run(r, "m", "real-model", 0.6, items=intphys_items(20, 12)),
            make_run(r, "c", "videomae-tiny-random", 0.5, items=intphys_items(20, 10), protocol=other,
                     model_extra={"control": True})]
    page = build_report(runs, tmp_path / "r.html", n_boot=100).read_text()
    m = re.search(r"<h3>Model vs control</h3>.*?</table>", page, re.S)
    assert m and "not compared" in m.group(0) and "window: 48 vs 16" in visible_text(m.group(0))
    assert "real-model" in m.group(0) and "+10.0" not in m.group(0)


def test_probe_runs_show_the_frames_their_features_used(tmp_path):
    run = make_qa_run(tmp_path, "p", "dinov2-small", "mvpbench", p_right=0.8, seed=1)
    data = (run / "results.json").read_text().replace(
        '"readout": "attentive probe"',
        '"readout": "probe", "features": {"n_frames": 16, "sampling": "uniform over the whole video (segment '
        'centres)", "pooled_grid": [8, 4, 4]}, "cv": {"rule": "grouped k-fold", "folds": 5, "group": "pair_id"}')
    (run / "results.json").write_text(data.replace('"frame_step": 4', '"frame_step": 4, "sample_fps": 6.0'))
    page = build_report([run], tmp_path / "r.html", n_boot=100).read_text()
    card = re.search(r'<article class="run".*?</article>', page, re.S).group(0)
    text = visible_text(card)
    assert "Frames per video 16 uniform frames (probe features: uniform over the whole video)" in text
    assert "Frames per clip" not in text and "6 fps" not in text
    # Nested settings are nested tables, not key=value walls.
    assert "rule=grouped k-fold" not in text and "n frames=" not in text.lower()
    assert re.search(r"<th>Cv</th><td><table class=\"kv\"><tbody><tr><th>Rule</th><td>grouped k-fold</td>", card)


def test_breakdown_cells_with_few_pairs_are_greyed_without_an_interval(tmp_path):
    run = make_run(tmp_path, "s", "small-cells", 0.6, items=intphys_items(20, 12))
    data = (run / "results.json").read_text()
    # condition=permanence is written with n = 120; make it 4 pairs.
    data = data.replace('"n": 120,', '"n": 4,', 1)
    (run / "results.json").write_text(data)
    page = build_report([run], tmp_path / "r.html", n_boot=100).read_text()
    cells = re.findall(r'<td class="num small"[^>]*>.*?</td>', page, re.S)
    assert cells and all("n too small" in c and "[" not in visible_text(c) for c in cells)
    assert "Cells with fewer than 10 pairs are greyed" in visible_text(page)


def test_checkpoint_and_params_columns(tmp_path):
    r = tmp_path / "runs"
    runs = [make_run(r, "v", "vjepa2-vitl", 0.6, items=intphys_items(20, 12)),
            make_run(r, "t", "vjepa2-tiny-random", 0.5, items=intphys_items(20, 10),
                     model_extra={"control": True, "init": "random", "init_seed": 7}),
            make_run(r, "p", "pixel-copy-last", 0.55, baseline=True, items=intphys_items(20, 11))]
    import json

    for run, ckpt, params in ((runs[1], None, 178560), (runs[2], None, 0)):
        d = json.loads((run / "results.json").read_text())
        d["model"].update(checkpoint=ckpt, revision=None, params=params)
        (run / "results.json").write_text(json.dumps(d))
    board = leaderboard(build_report(runs, tmp_path / "r.html", n_boot=100).read_text())
    ckpts = re.findall(r'<td class="ckpt"[^>]*>([^<]*)</td>', board)
    assert ckpts == ["hub/vjepa2-vitl", "no weights (pixel baseline)", "random init (seed 7)"]
    assert 'title="hub/vjepa2-vitl (rev abc123)"' in board
    assert "<th rowspan=\"2\" class=\"num\">Params</th>" in board
    params = re.findall(r'<td class="ckpt"[^>]*>[^<]*</td>\s*<td class="num">([^<]*)</td>', board)
    assert params == ["326 M", "—", "179 k"]
    assert "—" not in ckpts


def test_metric_cell_flags_are_data(tmp_path):
    from pjbench.reports.view import metric_cell

    flat = metric_cell(MetricValue("pairwise_accuracy", 0.5, 0.5, 0.5, 64, 64, 0.5), show_n=False)
    assert flat.flat and "all resamples equal" in flat.title
    small = metric_cell(MetricValue("pairwise_accuracy", 1.0, 0.0, 1.0, 3, 3, 0.5), show_n=False, shaded=True)
    assert small.small and small.ci == "n too small" and not small.shade
