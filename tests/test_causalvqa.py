"""CausalVQA: loader on hand-built releases in both zip layouts, validate, metrics, parsing, answer files."""

import csv
import json

import pytest

from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.results import ItemRecord, load_results
from pjbench.benchmarks.scoring import score
from pjbench.benchmarks.tasks import QATask
from pjbench.causalvqa import loader
from pjbench.causalvqa.task import CausalVQATask

AWKWARD = "2. Pour 1.5 cups. Then stop"  # a period and a digit inside the option text


def _choices(*texts, order=(1, 2, 3, 4, 5)):
    return "|".join(f"{n}. {t}" for n, t in zip(order, texts))


OPTS = ("Put the lid on", "Pour 1.5 cups. Then stop", "Walk away", "Turn the stove off", "Nothing")
ROWS = [
    # qid, type, choices1, correct1, choices2, correct2, difficulty, video
    ("q1", "anticipation", _choices(*OPTS), "2", _choices(*OPTS[::-1], order=(5, 4, 3, 2, 1)), "2", "easy", "v1.mp4"),
    ("q2", "anticipation", _choices(*OPTS), "1", _choices(*OPTS, order=(3, 1, 2, 5, 4)), "1", "easy", "v1.mp4"),
    ("q3", "planning", _choices(*OPTS), "5", " " + _choices(*OPTS) + " ", "5", "hard", "v2.mp4"),
]


def _write_split(split_dir, split, rows, labelled=True):
    split_dir.mkdir(parents=True, exist_ok=True)
    with open(split_dir / f"{split}_metadata.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(loader.COLUMNS)
        for qid, type_, c1, a1, c2, a2, diff, video in rows:
            w.writerow([qid, type_, f"What happens next in {qid}?", c1, a1 if labelled else "", c2,
                        a2 if labelled else "", diff, video])
    (split_dir / "videos").mkdir(exist_ok=True)


@pytest.fixture(params=["zip", "prep"])
def release(request, tmp_path):
    """``CausalVQA/`` as the zip unpacks (``debug/``) or as the official prep wants it (``data/debug/``)."""
    root = tmp_path / "CausalVQA"
    base = root if request.param == "zip" else root / "data"
    _write_split(base / "debug", "debug", ROWS)
    _write_split(base / "test", "test", ROWS[:2], labelled=False)
    (base / "debug" / "videos" / "v1.mp4").write_bytes(b"x")  # v2 missing
    return root


def test_load_both_layouts_and_parent_folder(release):
    task = CausalVQATask()
    for root in (release, release.parent):
        items = task.load(root, "debug")
        assert [it.name for it in items] == ["q1/1", "q1/2", "q2/1", "q2/2", "q3/1", "q3/2"]
    by = {it.name: it for it in items}
    q11, q12 = by["q1/1"], by["q1/2"]
    assert q11.candidates == OPTS and q11.answer_keys == ("1", "2", "3", "4", "5")
    assert q11.candidates[1] == "Pour 1.5 cups. Then stop"
    assert q11.label == 1                          # option number 2 is at position B
    assert q12.answer_keys == ("5", "4", "3", "2", "1") and q12.label == 3  # number 2 at position D
    assert by["q2/2"].label == 1                   # order 3,1,2,5,4: number 1 at position B
    assert by["q3/2"].candidates == OPTS           # stray spaces around the list are stripped
    assert (q11.pair_id, q11.cluster, q11.split, q11.source) == ("q1", "video:v1.mp4", "debug", "egoexo4d")
    assert q11.strata == {"type": "anticipation", "difficulty": "easy", "stratum": "anticipation_easy"}
    assert q11.path.name == "v1.mp4" and q11.path.parent.name == "videos" and q11.path.parent.parent.name == "debug"
    assert task.load(release, "debug", limit=2)[-1].name == "q2/2"
    test_items = task.load(release, "test")
    assert len(test_items) == 4 and all(it.label is None for it in test_items)
    assert task.has_split(release, "test") and task.dev_splits_for("test") == ("debug",)
    assert task.dev_splits_for("debug") == ()


def test_videos_apart_from_metadata(tmp_path):
    root = tmp_path / "CausalVQA"
    _write_split(root / "debug", "debug", ROWS[:1])
    (root / "debug" / "videos").rmdir()
    (root / "data" / "debug" / "videos").mkdir(parents=True)
    (root / "data" / "debug" / "videos" / "v1.mp4").write_bytes(b"x")
    items = CausalVQATask().load(root, "debug")
    assert items[0].path.is_file()


@pytest.mark.parametrize("field, value, message", [
    ("choices1", "1. a|2. b|3. c|4. d", "choices1: 4 options, expected 5"),
    ("choices2", "1. a|2. b|3. c|4. d|five", "choices2: option 'five' does not start"),
    ("choices1", "1. a|1. b|3. c|4. d|5. e", "option numbers repeat"),
    ("correct1", "7", "correct1 '7' is not one of the option numbers"),
    ("correct2", "", "one of correct1/correct2 is blank"),
    ("type", "Anticipation", "type 'Anticipation'"),
    ("renamed_video", "../v.mp4", "renamed_video '../v.mp4'"),
])
def test_malformed_rows_name_file_and_row(tmp_path, field, value, message):
    root = tmp_path / "CausalVQA"
    _write_split(root / "debug", "debug", ROWS)
    path = root / "debug" / "debug_metadata.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[1][field] = value
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=loader.COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(DataError, match=message) as exc:
        CausalVQATask().load(root, "debug")
    assert exc.value.path == path and exc.value.row == 2
    report = CausalVQATask().validate(root, check_videos=False)
    assert any(f"{path}, row 2: " in e and message.split(":")[0] in e for e in report.errors)


def test_validate_counts_and_warnings(release):
    report = CausalVQATask().validate(release, check_videos=False)
    assert report.ok, report.errors
    debug = report.counts["debug"]
    assert (debug["qids"], debug["items"], debug["labelled_items"], debug["videos"], debug["videos_shared"]) == \
        (3, 6, 6, 2, 1)
    assert debug["stratum"] == {"anticipation_easy": 2, "planning_hard": 1}
    assert report.counts["test"]["labelled_items"] == 0
    assert any("debug: 1 of 2 videos missing" in w for w in report.warnings)
    assert any("test: 1 of 1 videos missing" in w for w in report.warnings)
    checked = CausalVQATask().validate(release, check_videos=True)
    assert checked.counts["debug"]["unreadable_videos"] == 1 and not checked.ok


def test_missing_root_and_split(tmp_path):
    with pytest.raises(PjbenchError, match="nowhere"):
        CausalVQATask().load(tmp_path / "nowhere", "debug")
    (tmp_path / "CausalVQA" / "debug").mkdir(parents=True)
    with pytest.raises(DataError, match="no debug_metadata.csv"):
        CausalVQATask().load(tmp_path, "debug")


def test_parse_answer(release):
    task = CausalVQATask()
    by = {it.name: it for it in task.load(release, "debug")}
    it = by["q1/2"]  # answer_keys 5,4,3,2,1
    lenient = dict(parser="lenient")
    assert task.parse_answer(2, it, **lenient) == 3 and task.parse_answer("2", it, **lenient) == 3
    assert task.parse_answer(2.0, it, **lenient) == 3
    assert task.parse_answer(2, it) is None and task.parse_answer("2", it) is None  # official: not a letter
    assert task.parse_answer("b", it) == 1
    assert task.parse_answer("pour 1.5 cups. then stop", it, **lenient) == 3  # the option's text
    assert task.parse_answer("pour 1.5 cups. then stop", it) is None  # official: no lone letter in it
    assert task.parse_answer("I would say (C) because the pot is hot", it) == 2
    assert task.parse_answer("no letter here", it) is None and task.parse_answer(None, it) is None
    assert isinstance(task, QATask)


def _records(items, preds):
    return [ItemRecord(name=it.name, split=it.split, path=str(it.path), label=it.label, pair_id=it.pair_id,
                       cluster=it.cluster, strata=dict(it.strata), prediction=preds.get(it.name)) for it in items]


def test_metrics_per_stratum_macro_type_and_difficulty(release):
    task = CausalVQATask()
    items = task.load(release, "debug")
    right = {it.name: it.label for it in items}
    preds = {**right, "q2/2": 0}  # q1 right, q2 half right, q3 right
    rows = {m.key(): m for m in task.metrics(_records(items, preds), n_boot=100, seed=0)}
    assert rows["paired_accuracy[stratum=anticipation_easy]"].value == 0.5
    assert rows["paired_accuracy[stratum=planning_hard]"].value == 1.0
    assert rows["paired_accuracy[all]"].value == pytest.approx(0.75)       # macro over the 2 strata present
    assert rows["paired_accuracy_pooled[all]"].value == pytest.approx(2 / 3)
    assert rows["single_accuracy[all]"].value == pytest.approx((3 / 4 + 1) / 2)
    assert rows["paired_accuracy[type=anticipation]"].value == 0.5
    assert rows["paired_accuracy[difficulty=hard]"].value == 1.0
    assert rows["paired_accuracy[all]"].chance == 0.04 and rows["single_accuracy[all]"].chance == 0.2
    # q1 and q2 share video v1: 2 clusters for 3 pairs.
    assert rows["paired_accuracy_pooled[all]"].n == 3 and rows["paired_accuracy_pooled[all]"].n_clusters == 2
    # The official single accuracy (per qid: both right 1, one right 0.5) equals the item mean here.
    official = sum({2: 1, 1: 0.5, 0: 0}[sum(preds[f"{q}/{k}"] == right[f"{q}/{k}"] for k in (1, 2))]
                   for q in ("q1", "q2", "q3")) / 3
    assert rows["single_accuracy_pooled[all]"].value == pytest.approx(official)
    assert task.metrics(_records(task.load(release, "test"), {}), n_boot=10) == []


def test_test_split_answer_file_and_scoring(release, tmp_path):
    task = CausalVQATask()
    items = task.load(release, "test")
    path = task.write_submission(tmp_path / "sub.jsonl", _records(items, {it.name: 0 for it in items}), items)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert rows == [{"qid": "q1", "answer1": 1, "answer2": 5}, {"qid": "q2", "answer1": 1, "answer2": 3}]
    with pytest.raises(PjbenchError, match="qid q2: no answer2"):
        task.write_submission(tmp_path / "bad.jsonl", _records(items, {"q1/1": 0, "q1/2": 0, "q2/1": 0}), items)

    # Scoring a qid/answer1/answer2 file on test writes the answer file into the run.
    preds = tmp_path / "m.jsonl"
    preds.write_text(json.dumps({"qid": "q1", "answer1": 2, "answer2": "E"}) + "\n"
                     + json.dumps({"qid": "q2", "answer1": "1", "answer2": "The answer is A"}) + "\n")
    results, _ = score("causalvqa", release, preds, tmp_path / "run", split="test", n_boot=10, parser="lenient")
    assert results.metrics == [] and results.files["submission"] == "submission.jsonl"
    sub = [json.loads(x) for x in (tmp_path / "run" / "submission.jsonl").read_text().splitlines()]
    assert sub == [{"qid": "q1", "answer1": 2, "answer2": 1}, {"qid": "q2", "answer1": 1, "answer2": 3}]


def test_score_debug_per_asking_ids(release, tmp_path):
    preds = tmp_path / "m.csv"
    preds.write_text("id,answer\nq1/1,B\nq1/2,D\nq2/1,A\nq2/2,A\nq3/1,5\nq3/2,nonsense\n")
    # official: the option number 5 is not a letter (wrong), so 2 unparseable
    official, _ = score("causalvqa", release, preds, tmp_path / "official", n_boot=50)
    assert official.task["answers"]["unparseable"] == 2 and official.protocol["parser"] == "official"
    assert official.task["answers"]["parser_disagreements"]["lenient"] == 1
    assert official.metric("single_accuracy_pooled").value == pytest.approx(3 / 6)
    assert official.conventions["parser"] == "official" and "mcq_acc" in official.conventions["parser_rule"]
    results, _ = score("causalvqa", release, preds, tmp_path / "run", n_boot=50, parser="lenient")
    loaded = load_results(tmp_path / "run")
    assert results.task["answers"]["unparseable"] == 1
    # q1 right (B = number 2; D = number 2 in the reversed list); q2: A (number 1) right, A in the list
    # 3,1,2,5,4 is number 3: wrong; q3: option number 5 right, one unparseable.
    assert loaded.metric("paired_accuracy_pooled").value == pytest.approx(1 / 3)
    assert loaded.metric("single_accuracy_pooled").value == pytest.approx(4 / 6)
    assert loaded.protocol["headline"] == "paired_accuracy"
