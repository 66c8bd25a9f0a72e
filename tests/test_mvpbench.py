"""MVPBench: loader on hand-built parquet releases, validate, metrics, answer parsing, submission, scoring."""

import json

import pandas as pd
import pytest

from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.results import ItemRecord, load_items, load_results
from pjbench.benchmarks.scoring import score
from pjbench.benchmarks.tasks import QATask
from pjbench.mvpbench import loader
from pjbench.mvpbench.task import MVPBenchTask

YN = "['Yes', 'No']"
IP, TR = "intuitive_physics", "temporal_reasoning"


def _row(video_id, path, answer, source, question="Is this possible?", candidates=YN):
    return {"video_id": video_id, "video_path": path, "question": question, "answer": answer,
            "candidates": candidates, "source": source}


def _write(root, config, split, rows):
    d = root / config
    d.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=list(loader.COLUMNS)).astype(str)  # the release: every column a string
    df.to_parquet(d / f"{split}-00000-of-00001.parquet", index=False)


def _touch(root, *rels):
    for rel in rels:
        p = root / "videos" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"not a real video")


@pytest.fixture
def release(tmp_path):
    """intuitive_physics: 2 good pairs (one with a missing video) + 1 invalid pair (same answer twice);
    temporal_reasoning: 1 pair with two-word candidates in swapped order of answers."""
    root = tmp_path / "mvp"
    _write(root, IP, "mini", [
        _row("intphys_7_0", "/intphys/7_0.mp4", "Yes", "intphys"),
        _row("intphys_7_1", "/intphys/7_1.mp4", "No", "intphys"),
        _row("clevrer_3_1", "/clevrer/3_1.mp4", "No", "clevrer"),   # row order means nothing
        _row("clevrer_3_0", "/clevrer/3_0.mp4", "Yes", "clevrer"),
        _row("clevrer_9_0", "/clevrer/9_0.mp4", "Yes", "clevrer"),
        _row("clevrer_9_1", "/clevrer/9_1.mp4", "Yes", "clevrer"),  # invalid: same answer
    ])
    cands = "['The cup moves left', 'The cup moves right']"
    _write(root, TR, "mini", [
        _row("star_12_0", "star/12_0.mp4", "The cup moves right", "star", "Where does the cup go?", cands),
        _row("star_12_1", "star/12_1.mp4", "The cup moves left", "star", "Where does the cup go?", cands),
    ])
    _touch(root, "intphys/7_0.mp4", "intphys/7_1.mp4", "clevrer/3_0.mp4", "star/12_0.mp4", "star/12_1.mp4")
    return root


def test_load_items_pairs_and_strata(release):
    task = MVPBenchTask()
    items = task.load(release, "mini")
    by = {it.name: it for it in items}
    assert sorted(by) == ["clevrer_3_0", "clevrer_3_1", "intphys_7_0", "intphys_7_1", "star_12_0", "star_12_1"]
    it = by["intphys_7_0"]
    assert it.path == (release / "videos" / "intphys" / "7_0.mp4").absolute()  # leading '/' stripped
    assert (it.label, it.split, it.pair_id, it.cluster) == (0, "mini", f"{IP}/intphys_7", f"{IP}/intphys_7")
    assert it.strata == {"config": IP, "source": "intphys"} and it.source == "intphys"
    assert it.candidates == ("Yes", "No") and it.answer_keys == it.candidates
    assert by["star_12_0"].label == 1 and by["star_12_1"].label == 0
    assert by["clevrer_3_1"].row == 3
    # The invalid pair is dropped, with its reason recorded.
    dropped = task.last_load.dropped
    assert sorted(d["name"] for d in dropped) == ["clevrer_9_0", "clevrer_9_1"]
    assert "same answer" in dropped[0]["reason"]
    assert task.load(release, "mini", limit=1) and len(task.load(release, "mini", limit=1)) == 4  # 1 pair/config


def test_datasets_reader_gives_the_same_items(release):
    a = MVPBenchTask().load(release, "mini")
    b = MVPBenchTask(reader="datasets").load(release, "mini")
    assert a == b


def test_root_variants_and_videos_root(release, tmp_path):
    parent = tmp_path / "dl"
    parent.mkdir()
    release.rename(parent / "minimal_video_pairs")
    items = MVPBenchTask(videos_root=tmp_path / "elsewhere").load(parent, "MINI")
    assert items[0].path.parent.parent == (tmp_path / "elsewhere").absolute()
    with pytest.raises(PjbenchError, match="unknown MVPBench split"):
        MVPBenchTask().load(parent, "train")


def test_hub_id_only_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PjbenchError, match="not in the local Hugging Face cache"):
        MVPBenchTask().load(loader.HUB_ID, "mini")


def test_safe_video_path():
    assert loader.safe_video_path("/ssv2/1.webm") == "ssv2/1.webm"
    assert loader.safe_video_path("ssv2/./x/../1.webm") == "ssv2/1.webm"
    for bad in ("../x.mp4", "/../../etc/passwd", "a/../../b", "", "/", "C:\\x.mp4", "a\\..\\..\\b"):
        assert loader.safe_video_path(bad) is None, bad
    assert loader.pair_key("ssv2_12_3") == "ssv2_12" and loader.pair_key("nounderscore") is None


def test_malformed_rows_name_file_and_row(tmp_path):
    root = tmp_path / "bad"
    _write(root, IP, "mini", [
        _row("intphys_1_0", "/intphys/1_0.mp4", "Yes", "intphys"),
        _row("intphys_1_1", "/intphys/1_1.mp4", "No", "intphys", candidates="['Yes', 'No'"),  # row 2
        _row("intphys_2_0", "/../../secret.mp4", "Yes", "intphys"),                          # row 3
        _row("intphys_2_1", "/intphys/2_1.mp4", "Maybe", "intphys"),                         # row 4
    ])
    path = loader.parquet_path(root, IP, "mini")
    with pytest.raises(DataError) as exc:
        MVPBenchTask().load(root, "mini")
    assert exc.value.path == path and exc.value.row == 2 and "3 more" not in str(exc.value)
    assert "2 more problem" in str(exc.value)
    report = MVPBenchTask().validate(root, check_videos=False)
    assert not report.ok
    text = "\n".join(report.errors)
    assert f"{path}, row 2: candidates" in text
    assert f"{path}, row 3: video_path" in text
    assert f"{path}, row 4: answer 'Maybe'" in text
    assert "invalid pair" in text  # intphys_1_0 lost its partner


def test_validate_counts_and_missing_videos_are_warnings(release):
    report = MVPBenchTask().validate(release, check_videos=False)
    assert report.errors == [f"mini/{IP}: invalid pair {IP}/clevrer_9: both items have the same answer: "
                             "clevrer_9_0 (row 5), clevrer_9_1 (row 6)"]
    mini = report.counts["mini"]
    assert mini["items"] == 8 and mini["pairs"] == 4 and mini["invalid_pairs"] == 1
    assert mini["config"] == {IP: 6, TR: 2}
    cov = mini["coverage"]
    assert cov["by_source"]["clevrer"] == {"items": 4, "with_video": 1, "pairs": 2, "complete_pairs": 0}
    assert cov["by_config"][TR]["complete_pairs"] == 1
    assert any("videos missing" in w and "clevrer 3/4" in w for w in report.warnings)
    assert report.counts["full"] == {"present": False}
    # Present but undecodable videos are errors when checked.
    checked = MVPBenchTask().validate(release, check_videos=True)
    assert checked.counts["mini"]["unreadable_videos"] == 5


def test_parse_answer(release):
    task = MVPBenchTask()
    by = {it.name: it for it in task.load(release, "mini")}
    yn, cup = by["intphys_7_0"], by["star_12_0"]
    assert task.parsers == ("official", "lenient", "strict") and task.default_parser == "official"
    # official (default): the official scorer reads letters only; a candidate text is wrong
    assert task.parse_answer("No", yn) is None and task.parse_answer("yes", yn) is None
    assert task.parse_answer("The cup moves right", cup) is None
    assert task.parse_answer("B", cup) == 1 and task.parse_answer("Answer: A", cup) == 0
    assert task.parse_answer("cannot tell", cup) is None and task.parse_answer(None, cup) is None
    assert task.parse_answer("no idea", cup) == 0  # official quirk: the final 'a' of 'idea' reads as A
    # lenient: the candidate text first (pjbench's earlier rule)
    assert task.parse_answer("No", yn, parser="lenient") == 1 and task.parse_answer("yes", yn, parser="lenient") == 0
    assert task.parse_answer("The cup moves right", cup, parser="lenient") == 1
    # strict: the prompt's format as the first word, the rest ignored (the official rule would read the article)
    assert task.parse_answer("Answer: B because a ball falls", cup, parser="strict") == 1
    assert task.parse_answer("Answer: B because a ball falls", cup) == 0
    assert task.parse_answer("The answer is B", cup, parser="strict") is None
    assert isinstance(task, QATask)


def _records(items, wrong=()):
    return [ItemRecord(name=it.name, split=it.split, path=str(it.path), label=it.label, pair_id=it.pair_id,
                       cluster=it.cluster, strata=dict(it.strata),
                       prediction=(1 - it.label) if it.name in wrong else it.label) for it in items]


def test_metrics_per_config_macro_and_source(release):
    task = MVPBenchTask()
    items = task.load(release, "mini")
    rows = {m.key(): m for m in task.metrics(_records(items, wrong={"clevrer_3_0"}), n_boot=100, seed=0)}
    # intuitive_physics: intphys_7 right, clevrer_3 wrong -> 0.5; temporal_reasoning: 1.0.
    assert rows["pair_accuracy[config=intuitive_physics]"].value == 0.5
    assert rows["pair_accuracy[config=temporal_reasoning]"].value == 1.0
    assert rows["pair_accuracy[all]"].value == pytest.approx(0.75)
    assert rows["pair_accuracy_pooled[all]"].value == pytest.approx(2 / 3)
    assert rows["single_accuracy[all]"].value == pytest.approx((3 / 4 + 1) / 2)
    assert rows["pair_accuracy[source=clevrer]"].value == 0.0
    assert rows["pair_accuracy[all]"].chance == 0.25 and rows["single_accuracy[all]"].chance == 0.5
    # A probe that could not score a video loses the pair.
    probe = [r for r in _records(items) if r.name != "clevrer_3_1"]
    rows = {m.key(): m for m in task.metrics(probe, n_boot=50, seed=0)}
    assert rows["pair_accuracy_pooled[all]"].n == 2


def test_submission_format(release, tmp_path):
    task = MVPBenchTask()
    items = task.load(release, "mini")
    path = task.write_submission(tmp_path / "sub.jsonl", _records(items, wrong={"star_12_1"}), items)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 6
    star = next(x for x in lines if x["row_id"] == "star_12_1")
    assert star == {"data_name": "mvp_mini", "task": TR, "row_id": "star_12_1", "model_answer": "The cup moves right"}
    recs = _records(items)
    recs[0].prediction = None
    with pytest.raises(PjbenchError, match="no answer"):
        task.write_submission(tmp_path / "bad.jsonl", recs, items)
    assert not (tmp_path / "bad.jsonl").exists()


def test_score_answer_file(release, tmp_path):
    preds = tmp_path / "gpt.jsonl"
    lines = [
        {"id": "intphys_7_0", "answer": "A"},
        {"id": "intphys_7_1", "answer": "Answer: B"},
        {"id": "intphys_7_1", "answer": "A"},                  # duplicate: the first one counts
        {"row_id": "clevrer_3_0", "model_answer": "Yes", "task": IP, "data_name": "mvp_mini"},
        {"id": "clevrer_3_1", "answer": "I cannot tell"},      # unparseable -> wrong
        {"id": "star_12_0", "answer": "The cup moves right"},
        {"id": "ghost_1_0", "answer": "A"},                    # unknown id
    ]                                                          # star_12_1 missing -> wrong
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines))
    # official parser (default): the candidate texts "Yes" and "The cup moves right" are not letters: wrong
    official, _ = score("mvpbench", release, preds, tmp_path / "official", n_boot=100, allow_missing=True)
    answers = official.task["answers"]
    assert (answers["answered"], answers["unparseable"]) == (5, 3)
    assert answers["parser"] == "official" and answers["parser_disagreements"] == {"lenient": 2, "strict": 0}
    assert sorted(answers["parser_disagreement_examples"]["lenient"]) == ["clevrer_3_0", "star_12_0"]
    assert official.protocol["parser"] == "official" and official.conventions["parser"] == "official"
    assert official.metric("pair_accuracy", subset=f"config={IP}").value == 0.5  # intphys_7 both letters: right
    assert official.metric("single_accuracy_pooled").value == pytest.approx(2 / 6)
    # lenient (pjbench's earlier rule) reads the candidate texts
    results, path = score("mvpbench", release, preds, tmp_path / "run", n_boot=100, allow_missing=True,
                          parser="lenient")
    assert path == tmp_path / "run" / "results.json"
    answers = results.task["answers"]
    assert (answers["lines"], answers["answered"], answers["missing"], answers["unparseable"],
            answers["unknown_ids"], answers["duplicates"]) == (7, 5, 1, 1, 1, 1)
    assert answers["unknown_id_examples"] == ["ghost_1_0"] and answers["missing_examples"] == ["star_12_1"]
    loaded = load_results(tmp_path / "run")
    assert loaded.model["name"] == "gpt" and loaded.protocol["headline"] == "pair_accuracy"
    assert loaded.protocol["parser"] == "lenient" and loaded.conventions["parser"] == "lenient"
    assert "candidate text" in loaded.conventions["parser_rule"]
    # runs read by different parsers are not silently compared
    from pjbench.benchmarks.compare import protocol_differences

    assert "answer parser: official vs lenient" in protocol_differences(official, loaded)
    assert loaded.metric("pair_accuracy", subset=f"config={IP}").value == 0.5
    assert loaded.metric("pair_accuracy", subset=f"config={TR}").value == 0.0
    assert loaded.metric("pair_accuracy").value == pytest.approx(0.25)
    assert loaded.metric("single_accuracy_pooled").value == pytest.approx(4 / 6)
    items = {r.name: r for r in load_items(tmp_path / "run")}
    assert items["clevrer_3_1"].prediction is None and items["clevrer_3_1"].correct is False
    assert items["intphys_7_1"].prediction == 1 and items["intphys_7_1"].correct is True
    with pytest.raises(PjbenchError, match="already holds a run"):
        score("mvpbench", release, preds, tmp_path / "run")
    with pytest.raises(PjbenchError, match="--parser fuzzy: task mvpbench has the parsers official, lenient, strict"):
        score("mvpbench", release, preds, tmp_path / "r5", parser="fuzzy")


def test_score_csv_and_refusals(release, tmp_path):
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("video_id,prediction\nintphys_7_0,Yes\nintphys_7_1,No\n")
    results, _ = score("mvpbench", release, csv_path, tmp_path / "r", n_boot=20, model_name="my model",
                       allow_missing=True)
    assert results.model["name"] == "my model" and results.task["answers"]["answered"] == 2
    bad = tmp_path / "nothing.jsonl"
    bad.write_text(json.dumps({"id": "nope_0", "answer": "A"}) + "\n")
    with pytest.raises(PjbenchError, match="none of its 1 answer"):
        score("mvpbench", release, bad, tmp_path / "r2")
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"foo": 1}\n')
    with pytest.raises(DataError, match="line 1: no item id"):
        score("mvpbench", release, junk, tmp_path / "r3")
    with pytest.raises(PjbenchError, match="not a multiple-choice task"):
        score("intphys2", release, csv_path, tmp_path / "r4")


def test_video_id_in_two_configs_gets_a_config_prefix(release, tmp_path):
    _write(release, "robot_object_interactions", "mini", [
        _row("intphys_7_0", "/lt/7_0.mp4", "Yes", "language_table"),
        _row("intphys_7_1", "/lt/7_1.mp4", "No", "language_table"),
    ])
    task = MVPBenchTask()
    items = task.load(release, "mini")
    names = [it.name for it in items]
    assert len(set(names)) == len(names)
    assert f"{IP}/intphys_7_0" in names and "robot_object_interactions/intphys_7_0" in names
    assert "clevrer_3_0" in names  # unique ids keep their plain name
    report = task.validate(release, check_videos=False)
    assert report.counts["mini"]["pairs_by_config"] == {IP: 2, "robot_object_interactions": 1, TR: 1}
    # The leaderboard's own format (row_id + task) picks the right one.
    preds = tmp_path / "sub.jsonl"
    preds.write_text(json.dumps({"row_id": "intphys_7_0", "task": "robot_object_interactions",
                                 "model_answer": "No"}) + "\n")
    results, _ = score("mvpbench", release, preds, tmp_path / "run", n_boot=10, min_coverage=0)
    assert results.task["answers"]["answered"] == 1 and results.task["answers"]["unknown_ids"] == 0
    sub = task.write_submission(tmp_path / "s.jsonl", _records(items), items)
    rows = [json.loads(x) for x in sub.read_text().splitlines()]
    assert {(r["task"], r["row_id"]) for r in rows if r["row_id"] == "intphys_7_0"} == {
        (IP, "intphys_7_0"), ("robot_object_interactions", "intphys_7_0")}


def test_score_below_the_answer_coverage_is_an_error_unless_allowed(release, tmp_path):
    from click.testing import CliRunner

    from pjbench.benchmarks.cli import main

    items = MVPBenchTask().load(release, "mini")
    preds = tmp_path / "one.jsonl"
    preds.write_text(json.dumps({"id": items[0].name, "answer": "A"}) + "\n")
    with pytest.raises(PjbenchError, match=rf"answers for 1 of {len(items)} items .* below --min-coverage 95 %"):
        score("mvpbench", release, preds, tmp_path / "r")
    assert not (tmp_path / "r" / "results.json").exists()
    args = ["score", "-t", "mvpbench", "--data-root", str(release), "-p", str(preds), "--n-boot", "100"]
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "cli")])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "--allow-missing" in res.output, res.output
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "cli"), "--allow-missing"])
    assert res.exit_code == 0, res.output
    saved = load_results(tmp_path / "cli")
    assert saved.protocol["allow_missing"] is True and saved.protocol["min_coverage_percent"] == 95
    assert saved.task["answers"]["coverage_percent"] == pytest.approx(100 / len(items), abs=1e-3)
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "cli2"), "--min-coverage", "10"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("line", ["intphys_7_1,No,extra", "intphys_7_1"])
def test_malformed_csv_rows_are_errors_naming_the_row(release, tmp_path, line):
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(f"video_id,prediction\nintphys_7_0,Yes\n{line}\n")
    with pytest.raises(DataError, match=r"m\.csv: line 3: [13] field\(s\), the header has 2"):
        score("mvpbench", release, csv_path, tmp_path / "r", allow_missing=True)
