"""HTML report: format helpers, plot geometry, and whole reports built from synthetic results files."""

from __future__ import annotations

import html as htmllib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import ItemRecord, MetricValue, RunResults, write_jsonl, write_results
from pjbench.reports import build_report
from pjbench.reports import format as fmt
from pjbench.reports.plots import ForestEntry, axis_range, forest_plot, histogram
from pjbench.reports.view import describe_context_selection, load_run, pair_differences, reference_values

XSS = "<script>alert(1)</script>"


def only_our_script(page: str) -> bool:
    """The page's one script is pjbench's sorting script, inline, pinned by the CSP hash."""
    from pjbench.reports.builder import script_hash
    from pjbench.reports.sort_script import SORT_SCRIPT

    tags = re.findall(r"<script[^>]*>", page, flags=re.I)
    return (tags == ["<script>"] and f"<script>{SORT_SCRIPT}</script>" in page
            and f"script-src '{script_hash(SORT_SCRIPT)}'" in page)

# ------------------------------------------------------------------------------------ synthetic runs


def metric(name, value, lo=None, hi=None, *, agg="avg", subset="all", n=506, clusters=253, chance=0.5, unit="pairs"):
    return MetricValue(name=name, value=value, ci_low=lo, ci_high=hi, n=n, n_clusters=clusters, chance=chance,
                       subset=subset, aggregation=agg, unit=unit)


def full_metrics(pw: float) -> list[MetricValue]:
    """The metric rows an IntPhys 2 run writes, around a pairwise accuracy ``pw``."""
    ms = [
        metric("pairwise_accuracy", pw, pw - 0.044, pw + 0.044),
        metric("pairwise_accuracy", pw - 0.02, pw - 0.064, pw + 0.024, agg="max"),
        metric("auroc", pw - 0.01, pw - 0.05, pw + 0.03, n=1012, unit="videos"),
        metric("auroc", pw - 0.03, pw - 0.07, pw + 0.01, agg="max", n=1012, unit="videos"),
        metric("auprc", pw - 0.02, pw - 0.06, pw + 0.02, n=1012, unit="videos"),
        metric("auprc", pw - 0.04, pw - 0.08, pw, agg="max", n=1012, unit="videos"),
        metric("abs_accuracy", 0.51, 0.49, 0.53, agg="max", n=1012, unit="videos"),
    ]
    for i, cond in enumerate(["permanence", "solidity", "continuity", "immutability"]):
        ms.append(metric("pairwise_accuracy", pw + 0.01 * i, pw - 0.1, pw + 0.1, subset=f"condition={cond}",
                         n=120 + i, clusters=60))
    for d in ["Hard", "Easy", "Medium"]:  # written out of order on purpose
        ms.append(metric("pairwise_accuracy", pw, pw - 0.1, pw + 0.1, subset=f"Difficulty={d}", n=160, clusters=80))
    ms.append(metric("pairwise_accuracy", pw, pw - 0.06, pw + 0.06, subset="Camera=Fixed", n=300, clusters=150))
    return ms


def items_for(n_pairs: int, n_right: int, split: str = "Main") -> list[ItemRecord]:
    """``n_pairs`` matched pairs, the first ``n_right`` ranked right (impossible more surprising)."""
    out = []
    for p in range(n_pairs):
        gap = 0.1 + 0.01 * p
        s_imp, s_pos = (1.0 + gap, 1.0) if p < n_right else (1.0, 1.0 + gap)
        for label, s in ((0, s_imp), (1, s_pos)):
            out.append(ItemRecord(name=f"v{p}_{label}", split=split, path=f"/d/{p}_{label}.mp4", label=label,
                                  pair_id=f"{p}|1", cluster=str(p), strata={"condition": "solidity"},
                                  surprise={"24": [s]}, scores={"avg": s, "max": s}))
    return out


def agree_with_items(metrics: list[MetricValue], items: list[ItemRecord]) -> None:
    """Set the headline rows' value and n to what the items give (the report recomputes and checks them); the
    CI keeps its width around the value."""
    from pjbench.benchmarks.compare import pair_outcomes

    for m in metrics:
        if m.name == "pairwise_accuracy" and m.subset == "all":
            vals = [o.value for o in pair_outcomes(items, m.aggregation).values()]
            if vals:
                v = sum(vals) / len(vals)
                m.ci_low, m.ci_high = max(0.0, m.ci_low - m.value + v), min(1.0, m.ci_high - m.value + v)
                m.value, m.n, m.n_clusters = v, len(vals), len(vals)


def make_run(root: Path, dirname: str, model_name: str, pw: float | None, *, baseline: bool = False,
             task: str = "intphys2", split: str = "Main", n_items: int = 1012, n_scored: int | None = None,
             skipped=(), metrics=None, protocol=None, items=None, model_extra=None) -> Path:
    run_dir = root / dirname
    run_dir.mkdir(parents=True)
    if metrics is None:
        metrics = full_metrics(pw) if pw is not None else []
        if items is not None:
            agree_with_items(metrics, items)
    results = RunResults(
        task={"name": task, "split": split, "data_root": "/data/IntPhys2", "data_fingerprint": "sha256:" + "ab12" * 16,
              "n_items": n_items, "n_scored": n_items if n_scored is None else n_scored, "skipped": list(skipped)},
        model={"name": model_name, "checkpoint": f"hub/{model_name}", "checkpoint_hash": None, "revision": "abc123",
               "params": 326_000_000, "readouts": ["surprise"],
               "extra": {"baseline": baseline, **(model_extra or {})},
               "preprocessing": {"resolution": 256, "frames": 48, "frame_step": 10, "sample_fps": None, "tubelet": 2,
                                 "patch": 16, "crop_pct": 1.0, "mean": [0.485, 0.456, 0.406],
                                 "std": [0.229, 0.224, 0.225]}},
        protocol=protocol if protocol is not None else {
            "readout": "surprise", "window": 48, "stride": 2, "contexts": [12, 18, 24, 30, 36, 42],
            "max_context_mode": True,
            "context_selection": {"rule": "dev", "dev_split": "Debug", "selected": 24,
                                  "dev_scores": {"12": 0.5, "24": 0.6}},
            "n_boot": 1000, "ci_level": 0.95, "threshold": {"value": 0.12, "source": "Debug"}},
        metrics=metrics,
        provenance={"pjbench_version": "0.1.0", "git_hash": "2427fae", "seed": 0,
                    "started_at": "2026-11-25T15:00:00Z", "finished_at": "2026-11-25T15:00:12Z", "wall_time_s": 12.3,
                    "libraries": {"torch": "2.13.0", "transformers": "5.24.0"}, "python": "3.11.7",
                    "platform": "linux", "device": "cpu", "command": f"pjbench eval --model {model_name}"},
        files={"items": "items.jsonl"},
    )
    write_results(run_dir, results)
    if items is not None:
        write_jsonl(run_dir / "items.jsonl", items)
    return run_dir


@pytest.fixture
def three_runs(tmp_path: Path) -> list[Path]:
    return [
        make_run(tmp_path, "run-pixel", "pixel-copy-last", 0.555, baseline=True, items=items_for(506, 281)),
        make_run(tmp_path, "run-vjepa", "vjepa2-vitl", 0.575, items=items_for(506, 291),
                 n_scored=1010, skipped=[{"name": "0a1b2c", "path": "/data/IntPhys2/Main/Videos/0a1b2c.mp4",
                                          "reason": "VideoError: truncated"}]),
        make_run(tmp_path, "run-random", "random-init", 0.50),
    ]


def visible_text(page: str) -> str:
    """The page's text without tags, entities decoded, whitespace collapsed."""
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", page)))


def leaderboard(page: str) -> str:
    m = re.search(r'<table class="board">.*?</table>', page, flags=re.S)
    assert m, "no leaderboard table"
    return m.group(0)


class TagChecker(HTMLParser):
    """Counts start tags and checks that non-void elements are closed in order."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "col", "source", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tags: dict[str, int] = {}
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):  # <rect .../> in inline SVG
        self.tags[tag] = self.tags.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


# --------------------------------------------------------------------------------------- formatting


def test_pct_and_ci():
    assert fmt.pct(0.575) == "57.5"
    assert fmt.pct(1.0) == "100.0"
    assert fmt.pct(0.12345, 2) == "12.35"
    assert fmt.pct_ci(0.575, 0.531, 0.619) == "57.5 [53.1, 61.9]"
    assert fmt.pct_ci(0.575, None, None) == "57.5"
    assert fmt.pct_ci(None, 0.1, 0.2) == fmt.MISSING
    assert fmt.ci(0.531, 0.619) == "[53.1, 61.9]"
    assert fmt.ci(None, 0.619) == ""
    for bad in (None, float("nan"), float("inf"), "x", True):
        assert fmt.pct(bad) == fmt.MISSING


def test_counts_and_units():
    assert fmt.count(1012) == "1,012"
    assert fmt.count(None) == fmt.MISSING
    assert fmt.n_units(506, "pairs") == "506 pairs"
    assert fmt.n_units(1, "pairs") == "1 pair"
    assert fmt.n_units(1012, "videos") == "1,012 videos"
    assert fmt.n_units(None, "pairs") == fmt.MISSING
    assert fmt.params(326_000_000) == "326 M"
    assert fmt.params(1_500_000_000) == "1.5 B"
    assert fmt.params(0) == fmt.MISSING


def test_duration_timestamp_hash_compact():
    assert fmt.duration(12.34) == "12.3 s"
    assert fmt.duration(245) == "4 min 05 s"
    assert fmt.duration(3725) == "1 h 02 min"
    assert fmt.duration(None) == fmt.MISSING
    assert fmt.timestamp("2026-11-25T15:00:00Z") == "2026-11-25 15:00 UTC"
    assert fmt.timestamp("yesterday") == "yesterday"
    assert fmt.short_hash("sha256:" + "ab" * 32) == "sha256:abababababab…"
    assert fmt.short_hash("2427fae") == "2427fae"
    assert fmt.compact([12, 18]) == "12, 18"
    assert [fmt.ordinal(i) for i in (1, 2, 3, 4, 10, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "10th", "11th", "12th", "13th", "21st", "22nd", "101st"]
    assert fmt.ordinal(None) == fmt.MISSING
    assert fmt.compact(True) == "yes"
    assert fmt.compact({"a": 1}) == "a=1"


def test_shade_is_neutral_at_chance_and_saturates():
    assert fmt.shade(None) == ""
    assert fmt.shade(0.5, 0.5) == "hsl(145, 45%, 98%)"
    above, below = fmt.shade(0.9, 0.5), fmt.shade(0.1, 0.5)
    assert above.startswith("hsl(145") and above.endswith("74%)")
    assert below.startswith("hsl(8")
    assert fmt.shade(0.99, 0.5) == above  # saturated
    assert fmt.shade(0.1, 0.5, higher_is_better=False).startswith("hsl(145")


def test_metric_label():
    assert fmt.metric_label("pairwise_accuracy", "avg") == "Pairwise acc. (avg)"
    assert fmt.metric_label("something_new") == "something new"


# ------------------------------------------------------------------------------------ plots, view


def test_axis_range_snaps_to_ticks_and_includes_chance():
    low, high, step = axis_range([0.5, 0.531, 0.619])
    assert low < 50 <= 61.9 < high and step in (1, 2, 5)
    assert low % step == 0 and high % step == 0
    assert axis_range([]) == (0.0, 100.0, 20.0)
    low, high, _ = axis_range([0.999])
    assert high <= 100 and low < 99.9


def test_forest_plot_geometry():
    plot = forest_plot([ForestEntry("a", 0.6, 0.55, 0.65), ForestEntry("b", None),
                        ForestEntry("c", 0.52, 0.48, 0.56, baseline=True)], chance=0.5)
    assert plot is not None
    a, b, c = plot.rows
    assert a.y < b.y < c.y  # given order kept
    assert plot.plot_left <= c.x_low < c.x < a.x < a.x_high <= plot.plot_right
    assert b.x is None and b.text == fmt.MISSING
    assert c.x_low < plot.chance_x < a.x
    assert all(t.label.endswith("%") for t in plot.ticks)
    assert a.text == "60.0 [55.0, 65.0]"
    assert forest_plot([ForestEntry("x", None)], chance=0.5) is None


def test_histogram_and_pair_differences():
    items = items_for(10, 7)
    diffs = pair_differences(items, "avg")
    assert len(diffs) == 10
    assert sum(d > 0 for d in diffs) == 7
    # An item without a pair partner or a label does not count.
    items.append(ItemRecord(name="x", split="Main", path="x", label=None, pair_id="9|1", cluster="9"))
    items.append(ItemRecord(name="y", split="Main", path="y", label=1, pair_id="99|1", cluster="99",
                            scores={"avg": 1.0}))
    assert len(pair_differences(items, "avg")) == 10
    assert pair_differences(items, "median") == []
    h = histogram(diffs + [0.0])
    assert h.n == 11 and h.share_positive == pytest.approx(7 / 11) and h.n_ties == 1  # a tie counts wrong
    assert all(b.positive == (b.x >= h.zero_x) for b in h.bars)
    assert histogram([]) is None


def test_context_selection_in_words():
    text, warn = describe_context_selection({"rule": "dev", "dev_split": "Debug", "selected": 24}, "Main")
    assert text == "Context length 24 chosen on Debug (dev split), never on the reported split (Main)." and not warn
    text, warn = describe_context_selection({"rule": "fixed", "selected": 36}, "Main")
    assert "fixed in advance" in text and "36" in text and not warn
    text, warn = describe_context_selection({"rule": "test", "selected": 42}, "Main")
    assert "optimistic" in text and warn
    text, warn = describe_context_selection({"rule": "dev", "dev_split": "Main", "selected": 12}, "Main")
    assert warn
    assert describe_context_selection(None, "Main") == ("Context-selection rule not recorded.", False)


def test_reference_values_shapes():
    assert reference_values({}) == []
    assert reference_values({"reference": {"human": {"pairwise_accuracy": 0.964, "source": "Bordes et al."}}}) == [
        ("human", "Bordes et al.", {"pairwise_accuracy": 0.964})]
    (label, _, values), = reference_values({"reference": {"pairwise_accuracy@avg": 96.4}})
    assert label == "reference" and values == {"pairwise_accuracy@avg": pytest.approx(0.964)}
    records = [{"name": "human", "metric": "auroc", "value": {"value": 0.9}}]
    (label, _, values), = reference_values({"reference": records})
    assert label == "human" and values == {"auroc": 0.9}


# ---------------------------------------------------------------------------------- whole reports


def test_report_is_written_and_self_contained(tmp_path, three_runs):
    out = build_report(three_runs, tmp_path / "out" / "report.html", title="IntPhys 2 leaderboard")
    assert out == tmp_path / "out" / "report.html" and out.is_file()
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page
    assert only_our_script(page)
    assert "default-src 'none'" in page
    assert not re.search(r'<link[^>]+rel="?stylesheet', page, flags=re.I)
    assert not re.search(r"""\b(src|href)\s*=\s*(?!["']?#)""", page)  # only in-page anchors
    assert "url(" not in page and "@import" not in page
    assert "<svg" in page and "<style>" in page
    checker = TagChecker()
    checker.feed(page)
    assert checker.errors == [] and checker.stack == []
    assert not list(tmp_path.joinpath("out").glob(".report.html.*"))  # atomic write left no temp file


def test_report_content(tmp_path, three_runs):
    page = build_report(three_runs, tmp_path / "r.html", title="IntPhys 2 leaderboard").read_text()
    text = visible_text(page)
    assert "IntPhys 2 leaderboard" in text
    assert "3 runs" in text and "pjbench 0.1.0" in text
    for name in ("pixel-copy-last", "vjepa2-vitl", "random-init"):
        assert name in text
    # Each cell: value and CI in percent; n in the column header when every run has the same n.
    assert "57.5 [53.1, 61.9]" in text
    assert "55.5 [51.1, 59.9]" in text
    assert "n = 506 pairs" in text and "n = 1,012 videos" in text
    # Chance row, baseline badge, coverage warning and the skip reason.
    board = leaderboard(page)
    assert re.search(r'<tr class="ref first chance">\s*<td></td><td>Chance</td>', board)
    assert board.count(">50.0</td>") >= 4
    assert re.search(r'<tr class="baseline">.*?class="badge baseline"[^>]*>baseline<', board, flags=re.S)
    assert "1,010/1,012 scored" in text
    assert "VideoError: truncated" in text and "0a1b2c" in text
    assert "<details>" in page and "<summary>" in page
    # Protocol in words, preprocessing, provenance.
    assert "Context length 24 chosen on Debug (dev split), never on the reported split (Main)." in text
    assert "256 px, full frame" in text and "every 10th frame" in text
    assert "2427fae" in text and "torch 2.13.0, transformers 5.24.0" in text and "12.3 s" in text
    assert "cluster bootstrap" in text
    # No human reference recorded: no such row.
    assert "Reference" not in visible_text(board) and "Human" not in visible_text(board)


def test_leaderboard_sorted_by_headline(tmp_path, three_runs):
    page = build_report(list(reversed(three_runs)), tmp_path / "r.html").read_text()
    board = leaderboard(page)
    positions = [board.index(name) for name in ("vjepa2-vitl", "pixel-copy-last", "random-init")]
    assert positions == sorted(positions)
    # Ranks 1..3 in that order, headline column highlighted.
    assert re.findall(r'<td class="rank">(\d*)</td>', board) == ["1", "2", "3"]
    assert 'class="num head"' in board
    # Forest plot rows follow the same order.
    svg = re.search(r'<svg class="forest".*?</svg>', page, flags=re.S).group(0)
    assert svg.index("vjepa2-vitl") < svg.index("pixel-copy-last") < svg.index("random-init")
    assert "stroke-dasharray" in svg and "chance 50.0 %" in svg
    assert re.search(r">\d+ %</text>", svg)


def test_breakdowns(tmp_path, three_runs):
    page = build_report(three_runs, tmp_path / "r.html").read_text()
    tables = re.findall(r'<table class="breakdown">.*?</table>', page, flags=re.S)
    assert len(tables) == 3  # condition, Difficulty, Camera (in that order)
    heads = [re.findall(r"<th[^>]*>([^<]*)</th>", t) for t in tables]
    assert heads[0][0] == "condition" and heads[1] == ["Difficulty", "Easy", "Medium", "Hard"]
    assert heads[2] == ["Camera", "Fixed"]
    assert 'style="background:hsl(' in tables[0]
    assert "n = 120 pairs" in visible_text(tables[0])


def test_missing_values_show_dash(tmp_path):
    sparse = [metric("pairwise_accuracy", 0.6, 0.55, 0.65), metric("auroc", 0.58, n=1012, unit="videos"),
              metric("pairwise_accuracy", 0.7, 0.6, 0.8, subset="condition=solidity", n=100)]
    runs = [
        make_run(tmp_path, "a", "full-model", 0.57),
        make_run(tmp_path, "b", "sparse-model", None, metrics=sparse, protocol={}),
        make_run(tmp_path, "c", "no-metrics", None, metrics=[]),
    ]
    page = build_report(runs, tmp_path / "r.html").read_text()
    board = leaderboard(page)
    row = re.search(r"sparse-model.*?</tr>", board, flags=re.S).group(0)
    assert row.count('class="num missing"') == 5  # 7 columns, 2 present
    assert "58.0" in row and "60.0 [55.0, 65.0]" in visible_text(row)
    # A run without the headline metric sorts last and has no rank.
    assert board.index("sparse-model") < board.index("full-model") < board.index("no-metrics")
    assert re.findall(r'<td class="rank">(\d*)</td>', board) == ["1", "2", ""]
    assert "Context-selection rule not recorded." in visible_text(page)
    bd = re.search(r'<table class="breakdown">.*?</table>', page, flags=re.S).group(0)
    assert fmt.MISSING in bd


def test_escaping_of_user_controlled_text(tmp_path):
    runs = [
        make_run(tmp_path, "evil", XSS, 0.6, items=items_for(5, 3),
                 skipped=[{"name": "<img src=x onerror=alert(2)>", "path": "/x/\"quoted\".mp4",
                           "reason": "<b>bad</b> & worse"}], n_scored=1011),
        make_run(tmp_path, "ok", "fine-model", 0.55),
    ]
    page = build_report(runs, tmp_path / "r.html", title="<i>title</i>").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert only_our_script(page)
    assert "<img" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in page
    assert "<i>title</i>" not in page and "&lt;i&gt;title&lt;/i&gt;" in page
    checker = TagChecker()
    checker.feed(page)
    assert checker.tags.get("script", 0) == 1 and checker.tags.get("img", 0) == 0 and checker.errors == []


def test_reference_row_only_when_recorded(tmp_path):
    protocol = {"context_selection": {"rule": "fixed", "selected": 24},
                "reference": {"human": {"pairwise_accuracy": 0.964, "source": "Bordes et al. 2025"}}}
    runs = [make_run(tmp_path, "a", "m1", 0.57, protocol=protocol), make_run(tmp_path, "b", "m2", 0.53)]
    board = leaderboard(build_report(runs, tmp_path / "r.html").read_text())
    row = re.search(r'<tr class="ref">.*?</tr>', board, flags=re.S).group(0)
    assert "Human" in row and "96.4" in row and "Bordes et al. 2025" in row
    assert row.count(">96.4</td>") == 2  # avg and max columns of pairwise accuracy
    assert row.count(f">{fmt.MISSING}</td>") == 5


def test_tasks_and_splits_get_their_own_sections(tmp_path):
    runs = [
        make_run(tmp_path, "a", "m1", 0.57),
        make_run(tmp_path, "b", "m1", 0.62, split="Debug", n_items=60),
        make_run(tmp_path, "c", "m2", 0.54),
        make_run(tmp_path, "d", "m3", None, task="mvpbench", split="mini",
                 metrics=[metric("pair_accuracy", 0.4, 0.35, 0.45, agg=None, chance=0.25, n=9208, unit="pairs")]),
    ]
    page = build_report(runs, tmp_path / "r.html").read_text()
    sections = re.findall(r'<section id="(s\d+)">\s*<h2>([^<]*)<span class="split">· ([^<]*)</span>', page)
    assert [(t.strip(), s) for _, t, s in sections] == [("IntPhys 2", "Main"), ("IntPhys 2", "Debug"),
                                                       ("MVPBench", "mini")]
    assert 'href="#s2"' in page  # table of contents
    mvp = page[page.index('<section id="s2">'):]
    assert "Pair acc." in mvp and "40.0 [35.0, 45.0]" in visible_text(mvp) and ">25.0</td>" in mvp


def test_same_model_twice_is_disambiguated(tmp_path):
    runs = [make_run(tmp_path, "seed0", "vjepa2", 0.57), make_run(tmp_path, "seed1", "vjepa2", 0.56)]
    page = build_report(runs + [runs[0]], tmp_path / "r.html").read_text()  # a dir given twice counts once
    assert "vjepa2 · seed0" in page and "vjepa2 · seed1" in page
    assert "2 runs" in visible_text(page)


def test_test_set_selection_is_flagged(tmp_path):
    protocol = {"context_selection": {"rule": "test", "selected": 42}}
    page = build_report([make_run(tmp_path, "a", "m", 0.6, protocol=protocol)], tmp_path / "r.html").read_text()
    assert "tuned on reported split" in leaderboard(page)
    assert "optimistic" in visible_text(page)


def test_items_file_problems_do_not_stop_the_report(tmp_path):
    bad = make_run(tmp_path, "bad", "bad-items", 0.6)
    (bad / "items.jsonl").write_text('{"name": 1}\nnot json\n{"x": 2}\n')
    none = make_run(tmp_path, "none", "no-items", 0.55)
    run = load_run(bad)
    assert run.items is None and "unreadable" in run.items_note
    page = build_report([bad, none], tmp_path / "r.html").read_text()
    assert "items file unreadable" in page


def test_out_may_be_a_directory(tmp_path, three_runs):
    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    assert build_report(three_runs[:1], out_dir) == out_dir / "report.html"
    assert "pjbench report: intphys2 Main" in (out_dir / "report.html").read_text()


def test_errors_are_clear(tmp_path, three_runs):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(PjbenchError, match="does-not-exist: no such run directory"):
        build_report([three_runs[0], missing], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PjbenchError, match="no results file"):
        build_report([empty], tmp_path / "r.html")
    with pytest.raises(PjbenchError, match="no run directories"):
        build_report([], tmp_path / "r.html")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text(json.dumps({"schema_version": "pjbench.results/1", "task": {}}))
    with pytest.raises(PjbenchError, match="invalid results file"):
        build_report([broken], tmp_path / "r.html")
    (broken / "results.json").write_text(json.dumps({"schema_version": "pjbench.results/99"}))
    with pytest.raises(PjbenchError, match="unsupported results schema"):
        build_report([broken], tmp_path / "r.html")


def test_reports_do_not_import_models():
    import subprocess
    import sys

    prefixes = ("torch", "pjbench.encoders", "pjbench.probes", "pjbench.intphys2")
    code = f"import sys, pjbench.reports; print([m for m in sys.modules if m.startswith({prefixes!r})])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_minimal_results_file_renders(tmp_path):
    run_dir = tmp_path / "minimal"
    run_dir.mkdir()
    (run_dir / "results.json").write_text(json.dumps({
        "schema_version": "pjbench.results/1", "task": {"name": "intphys2", "skipped": ["v1"]}, "model": {},
        "protocol": {}, "metrics": [], "provenance": {}}))
    page = build_report([run_dir], tmp_path / "r.html").read_text()
    text = visible_text(page)
    assert "No metrics in these results files." in text
    assert "minimal" in text  # model name falls back to the run directory
    assert "unknown split" in text and "Preprocessing not recorded" in text
    assert "partial" in text  # a skipped list without counts still warns


def test_histogram_range_ignores_outliers():
    h = histogram([0.01 * i for i in range(-50, 50)] + [100.0])
    assert h.ticks[-1].label == "0.49"
    assert h.n == 101
