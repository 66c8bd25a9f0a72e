"""Results you can trust (issue 12, reports): the items digest and the recomputed headline (tampering refused or
flagged), CSV formulas and bidi controls defused in every output, synthetic data badged and kept apart from
published real-data numbers."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cli import main
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.integrity import file_digest, qa_headline, verify_run
from pjbench.benchmarks.provenance import data_source
from pjbench.benchmarks.results import load_items, load_results
from pjbench.reports import build_report
from pjbench.reports.trust import BIDI_CONTROLS, clean, csv_cell
from test_reports import make_run, visible_text
from test_reports_multi import intphys_items, make_qa_run, overview

FAST = dict(window=16, n_boot=200, progress=False, workers=0)


@pytest.fixture(scope="module")
def real_run(tiny_suite, tmp_path_factory) -> Path:
    """A run written by ``pjbench eval`` itself (digest and data source recorded)."""
    from pjbench.benchmarks.api import evaluate

    out = tmp_path_factory.mktemp("trust") / "pixel"
    evaluate("pixel-copy-last", tiny_suite, out, **FAST)
    return out


@pytest.fixture
def run_copy(real_run, tmp_path) -> Path:
    dst = tmp_path / "runs" / "pixel-copy-last"
    shutil.copytree(real_run, dst)
    return dst


def edit_results(run: Path, change) -> None:
    data = json.loads((run / "results.json").read_text())
    head = next(m for m in data["metrics"] if m["name"] == "pairwise_accuracy" and m["subset"] == "all"
                and m["aggregation"] == "avg")
    change(data, head)
    (run / "results.json").write_text(json.dumps(data))


def test_results_record_items_digest_and_synthetic_source(real_run, tiny_suite, tmp_path):
    results = load_results(real_run)
    assert results.digests["items"] == file_digest(real_run / "items.jsonl")
    assert results.data["source"] == "synthetic" and results.data["generator"].startswith("pjbench.synthetic.intphys2")
    assert results.data["seed"] == 0 and results.data["manifest"].endswith("suite.json")
    assert data_source(tmp_path) == {"source": "real"}
    v = verify_run(results, real_run, load_items(real_run, results))
    assert v.digest == "match" and not v.problems and "pairwise_accuracy@avg[all]" in v.checked


TAMPERING = {
    "hand-edited 99.0 [98.0, 100.0], n = 6": lambda d, m: m.update(value=0.99, ci_low=0.98, ci_high=1.0, n=6),
    "CI low > high": lambda d, m: m.update(ci_low=m["ci_high"] + 0.05),
    "n = 0": lambda d, m: m.update(n=0),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_report_refuses_tampered_results(run_copy, tmp_path, case):
    edit_results(run_copy, TAMPERING[case])
    with pytest.raises(PjbenchError, match="disagrees with its items file") as err:
        build_report([run_copy], tmp_path / "r.html")
    assert str(run_copy) in str(err.value)
    res = CliRunner().invoke(main, ["report", str(run_copy), "--out", str(tmp_path / "cli.html")])
    assert res.exit_code != 0 and "Error:" in res.output and "pixel-copy-last" in res.output
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "cli.html").exists()
    res = CliRunner().invoke(main, ["compare", str(run_copy), str(run_copy)])
    assert res.exit_code != 0 and "Error:" in res.output and "disagrees" in res.output


def test_report_refuses_changed_items(run_copy, tmp_path):
    lines = (run_copy / "items.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["scores"]["avg"] = row["scores"]["avg"] + 1.0
    (run_copy / "items.jsonl").write_text("\n".join([json.dumps(row)] + lines[1:]) + "\n")
    with pytest.raises(PjbenchError, match="changed after results.json was written"):
        build_report([run_copy], tmp_path / "r.html")
    (run_copy / "items.jsonl").unlink()
    with pytest.raises(PjbenchError, match="missing although results.json records its digest"):
        build_report([run_copy], tmp_path / "r.html")


def test_allow_unverified_shows_the_run_flagged_in_red_and_unranked(run_copy, real_run, tmp_path):
    edit_results(run_copy, TAMPERING["hand-edited 99.0 [98.0, 100.0], n = 6"])
    out = tmp_path / "r.html"
    res = CliRunner().invoke(main, ["report", str(run_copy), "--out", str(out), "--allow-unverified"])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert 'class="badge bad"' in page and "unverified: disagrees with items.jsonl" in page
    assert 'id="unverified"' in page and re.search(r'<tr class="[\w ]*unverified">', page)
    assert "results.json says 99.0 % (n = 6), items.jsonl gives 75.0 % (n = 16)" in visible_text(page)
    assert '<td class="rank"></td>' in page  # not ranked
    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text())))
    assert rows[0]["verified"].startswith("no: ")


def test_run_without_digest_is_recomputed_and_flagged(tmp_path):
    """A hand-made (or pre-digest) results file cannot vouch for itself: a disagreement is flagged, not refused,
    and the flagged run neither ranks, leads nor joins the top group."""
    liar = make_run(tmp_path / "runs", "liar", "liar-model", 0.5, items=intphys_items(20, 10))
    edit_results(liar, lambda d, m: m.update(value=0.99, ci_low=0.98, ci_high=1.0))
    honest = make_run(tmp_path / "runs", "honest", "honest-model", 0.6, items=intphys_items(20, 12))
    assert "digests" not in json.loads((liar / "results.json").read_text()) or \
        not json.loads((liar / "results.json").read_text())["digests"]
    page = build_report([liar, honest], tmp_path / "r.html", n_boot=100).read_text()
    assert "unverified: disagrees with items.jsonl" in page and "numbers disagree with the items file" in page
    board = overview(page)
    assert re.search(r'<tr class="model unverified">\s*<td class="model"><span class="name">liar-model', board)
    assert "99.0" in board  # shown, flagged: not hidden
    assert re.findall(r'<td class="rank">(\d*)</td>', page) == ["", "1"] or \
        re.findall(r'<td class="rank">(\d*)</td>', page) == ["1", ""]
    top = re.search(r'<tr class="model">\s*<td class="model"><span class="name">honest-model.*?</tr>', board, re.S)
    assert top and 'class="num top"' in top.group(0)


def test_qa_headline_is_recomputed_from_answers(tmp_path):
    from pjbench.causalvqa.task import CausalVQATask
    from pjbench.mvpbench.task import MVPBenchTask

    assert qa_headline("mvpbench") == (MVPBenchTask.headline, MVPBenchTask.macro_over) == ("pair_accuracy", "config")
    assert qa_headline("causalvqa") == (CausalVQATask.headline, CausalVQATask.macro_over) == ("paired_accuracy", "stratum")
    run = make_qa_run(tmp_path, "m", "qa-model", "mvpbench", p_right=0.8, seed=1)
    results = load_results(run)
    v = verify_run(results, run, load_items(run, results))
    assert v.checked == ["pair_accuracy[all]"] and not v.problems
    data = json.loads((run / "results.json").read_text())
    data["metrics"][0]["value"] += 0.1
    (run / "results.json").write_text(json.dumps(data))
    results = load_results(run)
    v = verify_run(results, run, load_items(run, results))
    assert v.problems and "pair_accuracy[all]: results.json says" in v.problems[0] and not v.refuse


# ------------------------------------------------------------------------------------- CSV / bidi


def test_csv_cells_that_spreadsheets_would_run_are_text():
    for text in ('=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"):
        assert csv_cell(text) == "'" + text
    assert csv_cell("model") == "model" and csv_cell("a=b") == "a=b"
    assert csv_cell(-1.5) == -1.5 and csv_cell(0) == 0 and csv_cell(True) is True  # numbers stay numbers


def test_leaderboard_csv_defuses_formulas_and_keeps_numbers(tmp_path):
    names = ['=HYPERLINK("http://evil","x")', "@SUM(A1)", "-2+3"]
    runs = [make_run(tmp_path / "runs", f"r{i}", n, 0.5 + 0.1 * i, items=intphys_items(10, 5 + i))
            for i, n in enumerate(names)]
    build_report(runs, tmp_path / "r.html", n_boot=100)
    text = (tmp_path / "leaderboard.csv").read_text()
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["kind"] != "published"]
    assert sorted(r["model"] for r in rows) == sorted("'" + n for n in names)
    assert all(not r["model"].startswith(("=", "+", "-", "@")) for r in rows)
    assert all(float(r["value"]) == pytest.approx(float(r["value"])) and not r["value"].startswith("'") for r in rows)


def test_bidi_controls_are_shown_escaped_everywhere(tmp_path):
    spoof = "model\u202eLMTH.exe\u202c"
    assert clean(spoof) == "model[U+202E]LMTH.exe[U+202C]"
    assert all(clean(c) == f"[U+{ord(c):04X}]" for c in "\u202a\u202b\u202d\u2066\u2067\u2068\u2069\u200e\u200f")
    a = make_run(tmp_path / "runs", "a", spoof, 0.6, items=intphys_items(10, 6))
    b = make_run(tmp_path / "runs", "b\u2067x", "plain", 0.5, items=intphys_items(10, 5))
    build_report([a, b], tmp_path / "r.html", n_boot=100)
    for name in ("r.html", "leaderboard.csv", "leaderboard.json", "leaderboard.md"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert not any(c in text for c in BIDI_CONTROLS), name
        assert "model[U+202E]LMTH.exe[U+202C]" in text, name
    res = CliRunner().invoke(main, ["compare", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert "model[U+202E]LMTH.exe" in res.output and not any(c in res.output for c in BIDI_CONTROLS)
    res = CliRunner().invoke(main, ["report", str(tmp_path / "no\u202erun"), "--out", str(tmp_path / "x.html")])
    assert res.exit_code != 0 and "no[U+202E]run" in res.output and "\u202e" not in res.output


# ------------------------------------------------------------------------------------- synthetic data


def test_synthetic_runs_are_badged_and_published_numbers_kept_apart(real_run, tmp_path):
    page = build_report([real_run], tmp_path / "r.html", n_boot=100).read_text()
    text = visible_text(page)
    assert 'id="data-source"' in page and "Synthetic data." in text and "not comparable" in text
    board = overview(page)
    assert "synthetic data</span>" in board and '<span class="badge synth">synthetic</span>' in board
    assert "V-JEPA 2 (as reported)" not in board  # not beside the synthetic run...
    assert "Not comparable: synthetic data." in text and "V-JEPA 2 (as reported)" in text  # ...but apart, with the note
    assert "Data: synthetic: pjbench.synthetic.intphys2" in text
    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text())))
    assert [r["data_source"] for r in rows if r["kind"] != "published"] == ["synthetic"]
    assert all("not comparable: synthetic data" in r["source"] for r in rows if r["kind"] == "published")
    data = json.loads((tmp_path / "leaderboard.json").read_text())
    assert data["rows"][0]["synthetic_data"] is True and data["rows"][0]["results"][0]["data_source"] == "synthetic"
    assert data["published_references_note"].startswith("not comparable: synthetic data")
    assert all(r["comparable"] is False for r in data["published_references"])
    md = (tmp_path / "leaderboard.md").read_text()
    assert "`synthetic`" in md and "not comparable: synthetic data" in md


def test_real_data_runs_keep_published_numbers_in_the_table(tmp_path):
    run = make_run(tmp_path / "runs", "real", "real-model", 0.6, items=intphys_items(10, 6))
    edit_results(run, lambda d, m: d.update(data={"source": "real"}))
    page = build_report([run], tmp_path / "r.html", n_boot=100).read_text()
    assert "V-JEPA 2 (as reported)" in overview(page) and 'id="data-source"' not in page


def test_eval_headline_says_the_data_is_synthetic(tiny_suite, tmp_path):
    from click.testing import CliRunner

    from pjbench.benchmarks.cli import main

    res = CliRunner().invoke(main, ["eval", "-m", "pixel-linear", "--data-root", str(tiny_suite), "--split", "Debug",
                                    "--window", "16", "--n-boot", "100", "--workers", "0", "-q",
                                    "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "data: the synthetic suite (pjbench" in res.output and "not comparable with published ones" in res.output
