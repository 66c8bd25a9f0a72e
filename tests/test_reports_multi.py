"""The multi-benchmark report: overview leaderboard (models × IntPhys 2 / MVPBench / CausalVQA), significance
groups, published references, per-benchmark sections, protocol flags, exports, hostile input, NaN, 1 and 30
runs. MVPBench and CausalVQA runs are hand-built results files (headline = macro pair accuracy)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cli import main
from pjbench.benchmarks.compare import paired_bootstrap
from pjbench.benchmarks.results import ItemRecord, MetricValue, RunResults, write_jsonl, write_results
from pjbench.reports import build_report
from pjbench.reports.overview import BoardCell, macro_cell
from pjbench.reports.plots import line_chart, roc_points
from test_reports import XSS, TagChecker, items_for, make_run, only_our_script, visible_text

MVP_CONFIGS = ("human_object_interactions", "intuitive_physics", "robot_object_interactions", "temporal_reasoning")
MVP_SOURCES = ("ssv2", "clevrer", "language_table", "intphys")
CVQA_TYPES = ("anticipation", "counterfactual", "descriptive", "planning", "hypothetical")
CVQA_DIFF = ("easy", "med", "hard")


def qa_items(task: str, n_pairs: int, p_right: float, seed: int, source_names=MVP_SOURCES) -> list[ItemRecord]:
    """Two answers per pair; each answer right with probability ``p_right`` (independently)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_pairs):
        if task == "mvpbench":
            config, source = MVP_CONFIGS[k % 4], source_names[(k // 4) % len(source_names)]
            pair, strata = f"{config}_{k}", {"config": config, "source": source}
        else:
            pair = f"q{k}"
            strata = {"type": CVQA_TYPES[k % 5], "difficulty": CVQA_DIFF[(k // 5) % 3], "source": "egoexo4d"}
        for idx in range(2):
            right = bool(rng.random() < p_right)
            out.append(ItemRecord(name=f"{pair}_{idx}", split="mini", path=f"/videos/{pair}_{idx}.mp4", label=idx % 2,
                                  pair_id=pair, cluster=None, strata=dict(strata),
                                  prediction=idx % 2 if right else 1 - idx % 2, correct=right))
    return out


def qa_metrics(items: list[ItemRecord], task: str) -> list[MetricValue]:
    """Headline (macro over configs / type × difficulty) and breakdown rows computed from the items."""
    from pjbench.benchmarks.compare import pair_outcomes

    name, macro = ("pair_accuracy", ("config",)) if task == "mvpbench" else ("paired_accuracy", ("type", "difficulty"))
    chance = 0.25 if task == "mvpbench" else 0.04
    outs = list(pair_outcomes(items).values())

    def row(subset, group, macro_cols):
        strata = ["|".join(o.strata[c] for c in macro_cols) for o in group] if macro_cols else None
        r = paired_bootstrap([o.value for o in group], [0.0] * len(group), [o.cluster for o in group], strata,
                             n_boot=200)
        return MetricValue(name=name, value=r.difference, ci_low=r.ci_low, ci_high=r.ci_high, n=len(group),
                           n_clusters=len(group), chance=chance, subset=subset, aggregation=None, unit="pairs")

    rows = [row("all", outs, macro)]
    for col in ("config", "source") if task == "mvpbench" else ("type", "difficulty"):
        for v in sorted({o.strata[col] for o in outs}):
            rows.append(row(f"{col}={v}", [o for o in outs if o.strata[col] == v], [c for c in macro if c != col]))
    return rows


def make_qa_run(root: Path, dirname: str, model_name: str, task: str, *, p_right: float, seed: int,
                n_pairs: int = 60, control: bool = False, items=None, skipped=(), metrics=None) -> Path:
    run_dir = root / dirname
    run_dir.mkdir(parents=True)
    items = qa_items(task, n_pairs, p_right, seed) if items is None else items
    results = RunResults(
        task={"name": task, "split": "mini" if task == "mvpbench" else "debug", "n_items": len(items) + len(skipped),
              "n_scored": len(items), "skipped": list(skipped), "data_fingerprint": "sha256:" + "cd" * 32},
        model={"name": model_name, "checkpoint": f"hub/{model_name}", "extra": {"control": control},
               "preprocessing": {"resolution": 256, "frames": 16, "frame_step": 4}},
        protocol={"readout": "attentive probe", "folds": 5, "context_selection": {"rule": "fixed"},
                  "n_boot": 200, "ci_level": 0.95},
        metrics=qa_metrics(items, task) if metrics is None else metrics,
        provenance={"pjbench_version": "0.1.0", "git_hash": "abc", "seed": seed},
        files={"items": "items.jsonl"},
    )
    write_results(run_dir, results)
    write_jsonl(run_dir / "items.jsonl", items)
    return run_dir


def intphys_items(n_pairs: int, n_right: int) -> list[ItemRecord]:
    """``items_for`` with IntPhys 2 strata spread over condition × Difficulty × Camera and surprise curves."""
    conds, diffs, cams = ("permanence", "solidity", "continuity"), ("Easy", "Medium", "Hard"), ("Fixed", "Moving")
    items = items_for(n_pairs, n_right)
    for it in items:
        p = int(it.pair_id.split("|")[0])
        it.strata = {"condition": conds[p % 3], "Difficulty": diffs[(p // 3) % 3], "Camera": cams[(p // 9) % 2]}
        s = it.scores["avg"]
        it.surprise = {"24": [s * (1 + 0.1 * math.sin(w)) for w in range(8)]}
    return items


@pytest.fixture
def suite(tmp_path: Path) -> list[Path]:
    r = tmp_path / "runs"
    return [
        make_run(r, "i-alpha", "alpha", 0.75, items=intphys_items(40, 30)),
        make_run(r, "i-beta", "beta", 0.725, items=intphys_items(40, 29)),
        make_run(r, "i-gamma", "gamma", 0.25, items=intphys_items(40, 10)),
        make_run(r, "i-pixel", "pixel-copy-last", 0.5, baseline=True, items=intphys_items(40, 20)),
        make_qa_run(r, "m-alpha", "alpha", "mvpbench", p_right=0.9, seed=1),
        make_qa_run(r, "m-beta", "beta", "mvpbench", p_right=0.88, seed=2),
        make_qa_run(r, "m-gamma", "gamma", "mvpbench", p_right=0.4, seed=3),
        make_qa_run(r, "m-blind", "blind-probe", "mvpbench", p_right=0.5, seed=4, control=True),
        make_qa_run(r, "c-alpha", "alpha", "causalvqa", p_right=0.8, seed=5, n_pairs=90),
        make_qa_run(r, "c-beta", "beta", "causalvqa", p_right=0.78, seed=6, n_pairs=90),
    ]


def overview(page: str) -> str:
    m = re.search(r'<table class="overview sortable" id="leaderboard">.*?</table>', page, flags=re.S)
    assert m, "no overview leaderboard"
    return m.group(0)


def row_of(table: str, name: str) -> str:
    m = re.search(r'<tr class="[\w ]+">\s*<td class="model"><span class="name">' + re.escape(name) + r"</span>.*?</tr>",
                  table, flags=re.S)
    assert m, f"no row for {name}"
    return m.group(0)


def test_overview_leaderboard(tmp_path, suite):
    page = build_report(suite, tmp_path / "out" / "report.html", n_boot=300).read_text()
    board = overview(page)
    heads = re.findall(r'<th class="num" data-col="\d+" scope="col">([^<]*)<small>', board)
    assert heads == ["IntPhys 2 · Main", "MVPBench · mini", "CausalVQA · debug", "Macro mean"]
    measured = re.search(r'<tbody class="measured">.*?</tbody>', board, flags=re.S).group(0)
    names = re.findall(r'<span class="name">([^<]*)</span>', measured)
    assert names[:2] == ["alpha", "beta"]  # the two with a macro mean first
    assert set(names) == {"alpha", "beta", "gamma", "pixel-copy-last", "blind-probe"}
    alpha, gamma = row_of(measured, "alpha"), row_of(measured, "gamma")
    # Every measured cell: value, CI, n; the macro for alpha (all three benchmarks), none for gamma.
    assert "75.0" in alpha and "[70.6, 79.4]" in alpha and "n = 40 pairs" in alpha
    assert alpha.count('class="ci"') == 4 and "3 benchmarks" in alpha
    assert gamma.count('title="no run"') == 1  # CausalVQA: empty, not zero
    assert re.search(r'<td class="num missing" data-v=""></td>\s*</tr>', gamma)  # no macro
    assert 'class="badge baseline">baseline<' in row_of(measured, "pixel-copy-last")
    assert 'class="badge baseline">control<' in row_of(measured, "blind-probe")
    # Top groups: beta is within noise of alpha on every benchmark; gamma is clearly below.
    assert alpha.count('class="num top"') == 3 and row_of(measured, "beta").count('class="num top"') == 3
    assert 'class="num top"' not in gamma
    # Chance row and published numbers apart from the measured rows, with sources.
    chance = re.search(r'<tbody class="chance">.*?</tbody>', board, flags=re.S).group(0)
    assert re.findall(r'<td class="num">([^<]*)</td>', chance) == ["50.0", "25.0", "4.0"]
    published = re.search(r'<tbody class="published">.*?</tbody>', board, flags=re.S).group(0)
    assert "Humans" in published and ">96.4<" in published and ">92.9<" in published and ">85.0<" in published
    assert "arXiv:2506.09849" in published and "V-JEPA 2" in published
    assert "Humans" not in measured and "96.4" not in measured
    assert "Paired cluster bootstrap (300 resamples)" in visible_text(page)


def test_sections_per_benchmark(tmp_path, suite):
    page = build_report(suite, tmp_path / "r.html", n_boot=200).read_text()
    text = visible_text(page)
    intphys = page[page.index('<section id="s0">'):page.index('<section id="s1">')]
    mvp = page[page.index('<section id="s1">'):page.index('<section id="s2">')]
    cvqa = page[page.index('<section id="s2">'):]
    # Significance table with the test named; IntPhys 2 cross table, curves, ROC.
    assert "Significance against the leader" in intphys and "below the leader" in intphys
    assert re.search(r"<th>Difficulty</th>.*?<th>condition \\ Camera</th>", intphys, flags=re.S)
    assert "Surprise over time: example pairs (alpha)" in intphys and "<polyline" in intphys
    assert "ROC curves" in intphys and "AUROC" in intphys
    # MVPBench: breakdowns by config and source, source × config table, coverage by source, control.
    assert "Pair acc. by source × config" in visible_text(mvp)
    assert "Coverage by source" in mvp and "Complete pairs" in mvp
    assert "Model vs control" in mvp and "blind-probe" in mvp
    assert "Per-pair surprise difference" not in mvp and "ROC curves" not in mvp
    # CausalVQA: type × difficulty with every type as a row.
    heat = re.search(r'<table class="breakdown heat">.*?</table>', cvqa, flags=re.S).group(0)
    assert [t for t in CVQA_TYPES if f'<th scope="row">{t}</th>' in heat] == list(CVQA_TYPES)
    assert re.findall(r'<th class="num">(easy|med|hard)</th>', heat) == ["easy", "med", "hard"]
    assert "macro mean over type × difficulty is recomputed" in visible_text(cvqa)
    # Charts have text alternatives.
    assert re.search(r"<desc[^>]*>alpha: 75\.0 \[70\.6, 79\.4\]\.", intphys)
    assert "3 sections" not in text  # sanity: sections listed by name in the toc instead
    assert 'href="#overview"' in page


def test_exports_match_the_page(tmp_path, suite):
    out = build_report(suite, tmp_path / "out" / "report.html", n_boot=200)
    rows = list(csv.DictReader(io.StringIO((out.parent / "leaderboard.csv").read_text())))
    alpha = {r["task"]: r for r in rows if r["model"] == "alpha"}
    assert set(alpha) == {"intphys2", "mvpbench", "causalvqa", "macro"}
    assert float(alpha["intphys2"]["value"]) == 0.75 and alpha["intphys2"]["top_group"] == "True"
    assert alpha["intphys2"]["n"] == "40" and alpha["intphys2"]["checkpoint"] == "hub/alpha"
    gamma = {r["task"]: r for r in rows if r["model"] == "gamma"}
    assert "causalvqa" not in gamma and gamma["intphys2"]["top_group"] == "False"
    published = [r for r in rows if r["kind"] == "published"]
    assert {r["model"] for r in published} >= {"Humans"} and all(r["source"] for r in published)
    data = json.loads((out.parent / "leaderboard.json").read_text())
    assert [c["task"] for c in data["columns"]] == ["intphys2", "mvpbench", "causalvqa"]
    a = next(r for r in data["rows"] if r["model"] == "alpha")
    assert a["macro"]["value"] == pytest.approx(np.mean([0.75, a["results"][1]["value"], a["results"][2]["value"]]))
    assert "Paired cluster bootstrap" in data["significance_test"]
    md = (out.parent / "leaderboard.md").read_text()
    assert md.splitlines()[0].startswith("| Model | IntPhys 2 (Main) Pairwise acc. (avg) | MVPBench (mini)")
    assert "| alpha | **75.0 [70.6, 79.4] (n=40)**" in md
    assert "| Chance | 50.0 | 25.0 | 4.0 |" in md and "Published numbers" in md
    # Without exports nothing is written.
    build_report(suite[:1], tmp_path / "solo" / "report.html", exports=False, n_boot=100)
    assert not (tmp_path / "solo" / "leaderboard.csv").exists()


HOSTILE = 'mod"èle <script>alert(1)</script> \'α\' | 日本'


def test_hostile_names_and_metadata(tmp_path):
    items = qa_items("mvpbench", 40, 0.7, 1, source_names=("<img src=x onerror=alert(3)>", 'so"urce', "ünï"))
    runs = [
        make_qa_run(tmp_path, "a", HOSTILE, "mvpbench", p_right=0.7, seed=1, items=items,
                    skipped=[{"name": "<b>v</b>", "path": "/videos/ünï/x.mp4", "reason": "missing & <gone>"}]),
        make_qa_run(tmp_path, "b", XSS, "mvpbench", p_right=0.6, seed=2, control=True),
        make_run(tmp_path, "c", "it's \"quoted\" — ok", 0.6, items=intphys_items(12, 8)),
    ]
    out = build_report(runs, tmp_path / "r.html", title=f"<i>{HOSTILE}</i>", n_boot=100)
    page = out.read_text(encoding="utf-8")
    assert only_our_script(page)
    assert "<img" not in page and "&lt;img src=x onerror=alert(3)&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "日本" in page and "ünï" in page
    assert "<i>" not in page and "missing &amp; &lt;gone&gt;" in page
    checker = TagChecker()
    checker.feed(page)
    assert checker.errors == [] and checker.stack == [] and checker.tags.get("script") == 1
    # Exports keep the names exactly (CSV/JSON) or escaped for Markdown tables.
    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text(encoding="utf-8"))))
    assert HOSTILE in {r["model"] for r in rows}
    assert HOSTILE in {r["model"] for r in json.loads((tmp_path / "leaderboard.json").read_text())["rows"]}
    md = (tmp_path / "leaderboard.md").read_text(encoding="utf-8")
    assert "<script>" not in md and "\\|" in md and "日本" in md
    assert all(line.count(" | ") + 2 == md.splitlines()[0].count("|") for line in md.splitlines()
               if line.startswith("| ") and "\\|" not in line)


def test_nan_and_missing_metrics(tmp_path):
    good = make_qa_run(tmp_path, "good", "good", "mvpbench", p_right=0.8, seed=1)
    nan_dir = make_qa_run(tmp_path, "nan", "nan-model", "mvpbench", p_right=0.8, seed=2)
    text = (nan_dir / "results.json").read_text()
    data = json.loads(text)
    data["metrics"][0]["value"] = float("nan")  # a hand-edited / foreign results file
    (nan_dir / "results.json").write_text(json.dumps(data))  # json writes NaN
    empty = make_qa_run(tmp_path, "empty", "no-metrics", "mvpbench", p_right=0.8, seed=3, metrics=[])
    page = build_report([good, nan_dir, empty], tmp_path / "r.html", n_boot=100).read_text()
    board = overview(page)
    nan_row, empty_row = row_of(board, "nan-model"), row_of(board, "no-metrics")
    assert '<td class="num missing" data-v="">—</td>' in nan_row and "nan" not in nan_row.lower().replace("nan-model", "")
    assert '<td class="num missing" data-v="">—</td>' in empty_row
    assert 'class="num top"' in row_of(board, "good")
    assert "NaN" not in page
    data = json.loads((tmp_path / "leaderboard.json").read_text())  # strict JSON: no NaN
    assert next(r for r in data["rows"] if r["model"] == "nan-model")["results"][0]["value"] is None


def test_single_run(tmp_path):
    run = make_qa_run(tmp_path, "solo", "solo", "causalvqa", p_right=0.7, seed=1)
    page = build_report([run], tmp_path / "r.html", n_boot=100).read_text()
    board = overview(page)
    assert board.count('<tr class="model">') == 1 and 'class="num top"' in board
    assert "Significance against the leader" not in page  # nothing to compare
    assert "Macro mean" not in board


def test_thirty_runs(tmp_path):
    runs = [make_run(tmp_path, f"run{i:02d}", f"model-{i:02d}", 0.5 + 0.005 * i,
                     items=intphys_items(30, 15 + i // 3) if i % 3 == 2 else None) for i in range(30)]
    page = build_report(runs, tmp_path / "r.html", n_boot=200).read_text()
    board = overview(page)
    assert board.count('<tr class="model">') == 30
    # Runs without items cannot be tested: they are not given a group.
    sig = re.search(r'<table class="sig">.*?</table>', page, flags=re.S).group(0)
    assert "no per-item records for this run" in sig and sig.count("<tr>") == 31  # header + 30
    assert "top group" in sig and "leader" in sig
    checker = TagChecker()
    checker.feed(page)
    assert checker.errors == []


def test_incompatible_protocol_is_flagged(tmp_path):
    protocol = {"window": 48, "stride": 2, "contexts": [12, 24], "context_selection": {"rule": "dev", "dev_split": "Debug"}}
    odd = dict(protocol, stride=4)
    runs = [make_run(tmp_path, "a", "m1", 0.6, protocol=protocol, items=intphys_items(20, 12)),
            make_run(tmp_path, "b", "m2", 0.58, protocol=protocol, items=intphys_items(20, 11)),
            make_run(tmp_path, "c", "m3", 0.9, protocol=odd, items=intphys_items(20, 18))]
    page = build_report(runs, tmp_path / "r.html", n_boot=100).read_text()
    board = overview(page)
    m3 = row_of(board, "m3")
    assert "&#9888;" in m3 or "⚠" in m3
    assert "protocol differs: stride: 2 vs 4" in m3 and 'class="num top"' not in m3
    assert 'class="num top"' in row_of(board, "m1")  # the leader among comparable runs, not m3
    section = page[page.index('<section id="s0">'):]
    ranks = re.findall(r'<td class="rank">(\d*)</td>', section)
    assert ranks == ["", "1", "2"]  # m3 listed first by value but not ranked
    assert "not compared" in section and "Protocol differs from the other runs" in section


def test_run_dirs_may_be_globs_or_folders(tmp_path, suite):
    root = tmp_path / "runs"
    out = build_report([root], tmp_path / "all.html", n_boot=100, exports=False)
    assert overview(out.read_text()).count("<tr class=") >= 5
    out = build_report([str(root / "m-*")], tmp_path / "m.html", n_boot=100, exports=False)
    assert "IntPhys 2 · Main" not in overview(out.read_text())
    from pjbench.benchmarks.errors import PjbenchError

    with pytest.raises(PjbenchError, match="matches no run directory"):
        build_report([str(root / "zzz-*")], tmp_path / "x.html")


def test_report_cli_writes_exports(tmp_path, suite):
    res = CliRunner().invoke(main, ["report", str(tmp_path / "runs"), "--out", str(tmp_path / "o" / "r.html"),
                                    "--n-boot", "100", "--title", "t"])
    assert res.exit_code == 0, res.output
    for name in ("r.html", "leaderboard.csv", "leaderboard.json", "leaderboard.md"):
        assert (tmp_path / "o" / name).is_file() and name in res.output


# ------------------------------------------------------------------------------------- helpers


def test_roc_points_match_sklearn():
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(0)
    s = np.round(rng.random(50), 1)  # ties
    y = rng.random(50) < 0.4
    fpr, tpr = roc_points(s.tolist(), y.tolist())
    ref_fpr, ref_tpr, _ = roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr, ref_fpr) and np.allclose(tpr, ref_tpr)
    assert roc_points([1.0, 2.0], [True, True]) == ([], [])


def test_line_chart_geometry():
    chart = line_chart([("a", [0, 1, 2], [0.0, 1.0, 0.5], "s0"), ("b", [0], [1.0], "s1")], width=200, height=100)
    assert len(chart.series) == 1  # a one-point series is dropped
    pts = [tuple(map(float, p.split(","))) for p in chart.series[0].points.split()]
    assert pts[0][0] == chart.plot_left and pts[-1][0] == chart.plot_right
    assert pts[1][1] == chart.plot_top and pts[0][1] == chart.plot_bottom
    assert line_chart([("a", [0], [1], "s0")]) is None


def test_macro_cell_combines_independent_intervals():
    cells = [BoardCell(value=0.6, ci_low=0.5, ci_high=0.7, present=True),
             BoardCell(value=0.3, ci_low=0.2, ci_high=0.4, present=True),
             BoardCell(value=0.9, ci_low=0.8, ci_high=1.0, present=True)]
    m = macro_cell(cells)
    assert m.value == pytest.approx(0.6) and m.n == 3 and m.unit == "benchmarks"
    half = m.ci_high - m.value
    assert half == pytest.approx(math.sqrt(3 * 0.1 ** 2) / 3, rel=1e-4)  # each CI ±0.1 -> sd 0.1/1.96
    assert not macro_cell(cells[:2] + [BoardCell(present=True)]).present


def test_a_glob_leaves_out_unfinished_runs_with_a_warning(tmp_path):
    import pytest as _pytest

    from pjbench.reports.builder import expand_run_dirs

    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "results.json").write_text("{}")
    (tmp_path / "running").mkdir()
    (tmp_path / "running" / "run_config.json").write_text("{}")
    with _pytest.warns(UserWarning, match="running: no results.json"):
        assert expand_run_dirs([str(tmp_path / "*")]) == [tmp_path / "done"]
