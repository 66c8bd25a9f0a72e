"""The QA benchmarks through the command line: synth -> validate -> score an answer file."""

import ast
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cli import main
from pjbench.benchmarks.results import load_items, load_results


@pytest.fixture(scope="module")
def qa_suites(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    runner = CliRunner()
    for bench, scale in (("mvpbench", "0.25"), ("causalvqa", "0.4")):
        res = runner.invoke(main, ["synth", "-b", bench, "--out", str(root / bench), "--scale", scale])
        assert res.exit_code == 0, res.output
    return root


def test_validate_prints_an_outline_and_warns_about_missing_videos(qa_suites):
    res = CliRunner().invoke(main, ["validate", "-t", "mvpbench", "--data-root", str(qa_suites / "mvpbench"), "--no-videos"])
    assert res.exit_code == 0, res.output
    assert "warning: full:" in res.output and "videos missing" in res.output
    assert "{" not in res.output, "counts are printed as an outline, not as Python dicts"
    res = CliRunner().invoke(main, ["validate", "-t", "causalvqa", "--data-root", str(qa_suites / "causalvqa")])
    assert res.exit_code == 0 and "0 error(s)" in res.output
    res = CliRunner().invoke(main, ["validate", "-t", "causalvqa", "--data-root", str(qa_suites), "--videos-root", "x"])
    assert res.exit_code == 1 and "--videos-root applies to --task mvpbench only" in res.output


def test_score_an_mvpbench_answer_file(qa_suites, tmp_path):
    data = qa_suites / "mvpbench"
    lines, gold = [], {}
    for f in sorted(data.glob("*/mini-*.parquet")):
        for r in pd.read_parquet(f).itertuples():
            letter = "AB"[ast.literal_eval(r.candidates).index(r.answer)]
            gold[r.video_id] = letter
            lines.append({"id": r.video_id, "answer": f"Answer: {letter}"})
    lines[0]["answer"] = "I cannot tell"  # unparseable -> wrong and counted
    del lines[1]  # missing -> wrong and counted
    preds = tmp_path / "vlm.jsonl"
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["score", "-t", "mvpbench", "--data-root", str(data), "-p", str(preds), "--out",
                                    str(out), "--n-boot", "200", "--allow-missing"])
    assert res.exit_code == 0, res.output
    assert "vlm on mvpbench/mini: pair accuracy" in res.output
    results = load_results(out)
    answers = results.task["answers"]
    assert answers["missing"] == 1 and answers["unparseable"] == 1 and answers["items"] == len(gold)
    items = {r.name: r for r in load_items(out)}
    assert sum(1 for r in items.values() if not r.correct) == 2
    n_pairs = len({r.pair_id for r in items.values()})
    head = results.metric("pair_accuracy")
    assert head.n == n_pairs
    # the two wrong items are in one or two pairs: hand-computed pair accuracy
    bad_pairs = {items[lines[0]["id"]].pair_id, next(r.pair_id for n, r in items.items() if r.prediction is None and n != lines[0]["id"])}
    pooled = results.metric("pair_accuracy_pooled")
    assert pooled.value == pytest.approx(1 - len(bad_pairs) / n_pairs)
    res = CliRunner().invoke(main, ["score", "-t", "mvpbench", "--data-root", str(data), "-p", str(preds), "--out", str(out)])
    assert res.exit_code == 1 and "Traceback" not in res.output  # refuses to replace a run without --overwrite


def test_score_a_causalvqa_answer_file_with_both_askings_per_line(qa_suites, tmp_path):
    csv = next((qa_suites / "causalvqa").rglob("debug_metadata.csv"))
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    preds = tmp_path / "answers.csv"
    # first asking right (option number), second asking always option 1
    pd.DataFrame({"qid": df.qid, "answer1": df.correct1, "answer2": "1"}).to_csv(preds, index=False)
    out = tmp_path / "run"
    args = ["score", "-t", "causalvqa", "--data-root", str(qa_suites / "causalvqa"), "-p", str(preds), "--n-boot", "200"]
    # official parser (default): option numbers are not letters, every answer is wrong -- and the CLI says why
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "official")])
    assert res.exit_code == 0, res.output
    assert "answers are read differently by --parser lenient" in res.output
    assert load_results(tmp_path / "official").metric("single_accuracy_pooled").value == 0.0
    res = CliRunner().invoke(main, [*args, "--out", str(out), "--parser", "lenient"])
    assert res.exit_code == 0, res.output
    assert "read differently" not in res.output
    results = load_results(out)
    assert results.protocol["parser"] == "lenient"
    expected = (df.correct2 == "1").mean()  # a qid is right iff its second asking's answer is option 1
    assert results.metric("paired_accuracy_pooled").value == pytest.approx(expected)
    assert results.metric("single_accuracy_pooled").value == pytest.approx((1 + expected) / 2)


def test_validate_warns_about_non_square_and_vfr_videos_for_the_probe(qa_suites, tmp_path):
    import shutil

    import numpy as np

    from pjbench.benchmarks.video import write_video
    from test_video import write_vfr

    root = tmp_path / "cvqa"
    shutil.copytree(qa_suites / "causalvqa", root)
    wide, vfr = sorted(root.rglob("debug/videos/*.mp4"))[:2]
    write_video(wide, np.zeros((20, 36, 64, 3), np.uint8), fps=12)
    write_vfr(vfr, [0, 50, 300, 350, 700, 1000])
    res = CliRunner().invoke(main, ["validate", "-t", "causalvqa", "--data-root", str(root)])
    assert res.exit_code == 0 and "0 error(s)" in res.output, res.output
    assert "frames sampled uniformly over each video" in res.output and "too_short" not in res.output
    assert f"{wide.name}: 64x36 is not square: eval centre-crops it to 36x36 (44% of the width is cut away)" in res.output
    assert f"{vfr.name}: variable frame rate: the probe's frames are spaced evenly by frame index" in res.output


def test_validate_warns_about_videos_the_probe_pads(qa_suites, tmp_path):
    import shutil

    import numpy as np

    from pjbench.benchmarks.video import write_video

    root = tmp_path / "cvqa"
    shutil.copytree(qa_suites / "causalvqa", root)
    short = sorted(root.rglob("debug/videos/*.mp4"))[0]
    write_video(short, np.zeros((3, 32, 32, 3), np.uint8), fps=12)
    res = CliRunner().invoke(main, ["validate", "-t", "causalvqa", "--data-root", str(root), "--frames", "8"])
    assert res.exit_code == 0, res.output
    assert f"{short.name}: 3 frame(s), fewer than the probe's 8: eval repeats the last frame 5 time(s)" in res.output
    res = CliRunner().invoke(main, ["validate", "-t", "causalvqa", "--data-root", str(root), "--window", "16"])
    assert res.exit_code == 1 and "--window: not an option of task causalvqa" in res.output
