"""IntPhys 2 loader quirks, pair checks, ``validate``, the Task protocol and HeldOut submissions.

Tiny release trees are written in ``tmp_path``: the real column layout, 64-hex names, and four real
(8-frame, 32x32) H.264 videos where a test opens them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pjbench.benchmarks.errors import DataError, PjbenchError
from pjbench.benchmarks.tasks import TASKS, Task, ValidationReport
from pjbench.intphys2 import IntPhys2Task, load_split, pair_problems
from pjbench.intphys2.loader import COLUMNS, natural_key
from pjbench.intphys2.submission import answers_from_scores, read_submission, write_submission

HEADER = ",".join(COLUMNS)


def hexname(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


def row(scene: str, type_: str, *, occluder: str = "None", condition: str = "solidity", name: str | None = None,
        file_name: str | None = None) -> str:
    name = name or hexname(f"{scene}/{type_}")
    file_name = file_name if file_name is not None else f"Videos/{name}.mp4"
    return f"{scene},{name},{file_name},FixedJumpSolidity,{condition},BasicLevel_0,{type_},{occluder},Easy,Fixed"


# Two scenes, one run each: 4 videos. Scene 154_0 has an occluder, scene 0 has the literal "None".
GOOD_ROWS = [
    row("0", "1_Possible"),
    row("0", "1_Impossible"),
    row("154_0", "1_Possible", occluder="Wall", condition="permanence"),
    row("154_0", "1_Impossible", occluder="Wall", condition="permanence"),
]


def write_csv(split_dir: Path, rows: list[str], header: str = HEADER) -> Path:
    split_dir.mkdir(parents=True, exist_ok=True)
    path = split_dir / "metadata.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory) -> Path:
    from pjbench.benchmarks.video import write_video

    path = tmp_path_factory.mktemp("video") / "tiny.mp4"
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    frames[:, 8:24, 8:24] = np.arange(8, dtype=np.uint8)[:, None, None, None] * 30  # not all-black
    write_video(path, frames, fps=12)
    return path


def make_tree(root: Path, video: Path | None, rows: list[str] = GOOD_ROWS, heldout: int = 2) -> Path:
    """``root/IntPhys2/{Main, HeldOut}`` with videos for every listed file (if ``video`` is given)."""
    release = root / "IntPhys2"
    main = release / "Main"
    write_csv(main, rows)
    if video is not None:
        for r in rows:
            target = main / r.split(",")[2]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(video, target)
    videos = release / "HeldOut" / "Videos"
    videos.mkdir(parents=True)
    for i in range(heldout):
        target = videos / f"{hexname(f'heldout{i}')}.mp4"
        if video is not None:
            shutil.copy(video, target)
        else:
            target.write_bytes(b"")
    return release


# --------------------------------------------------------------------------------------------------
# Loader quirks
# --------------------------------------------------------------------------------------------------


def test_scene_index_and_occluder_strings_survive(tmp_path):
    make_tree(tmp_path, None)
    items = load_split(tmp_path, "Main")
    by_scene = {it.cluster for it in items}
    assert by_scene == {"0", "154_0"}  # not 154.0, not 1540
    it = next(i for i in items if i.cluster == "154_0" and i.label == 1)
    assert it.pair_id == "154_0|1"
    assert it.strata["occluder"] == "Wall" and it.strata["visibility"] == "occluded"
    plain = next(i for i in items if i.cluster == "0")
    assert plain.strata["occluder"] == "None"  # the literal string, not NaN / ""
    assert plain.strata["visibility"] == "visible"
    assert set(plain.strata) == {"condition", "Difficulty", "Camera", "occluder", "game_name", "env", "visibility"}


def test_labels_impossible_is_not_possible(tmp_path):
    make_tree(tmp_path, None)
    items = load_split(tmp_path, "Main")
    labels = {it.row: it.label for it in items}
    assert labels == {1: 1, 2: 0, 3: 1, 4: 0}  # "Impossible".endswith("possible") must not matter


def test_item_fields(tmp_path):
    release = make_tree(tmp_path, None)
    it = load_split(release, "main")[0]  # the release folder itself, split name case-insensitive
    assert it.name == hexname("0/1_Possible")
    assert it.split == "Main"
    assert it.path == (release / "Main" / "Videos" / f"{it.name}.mp4").absolute()
    assert it.path.is_absolute()


def test_shuffled_rows_still_pair(tmp_path):
    rows = [GOOD_ROWS[3], GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[1]]
    make_tree(tmp_path, None, rows=rows)
    items = load_split(tmp_path, "Main")
    pairs: dict[str, list[int]] = {}
    for it in items:
        pairs.setdefault(it.pair_id, []).append(it.label)
    assert {k: sorted(v) for k, v in pairs.items()} == {"0|1": [0, 1], "154_0|1": [0, 1]}
    assert pair_problems(items) == []
    assert [it.row for it in items] == [1, 2, 3, 4]  # metadata order kept


def test_missing_column_names_file_and_columns(tmp_path):
    header = HEADER.replace(",Difficulty", "").replace(",occluder", "")
    rows = [",".join(r.split(",")[:7] + r.split(",")[9:]) for r in GOOD_ROWS]
    csv_path = write_csv(tmp_path / "IntPhys2" / "Main", rows, header=header)
    with pytest.raises(DataError) as err:
        load_split(tmp_path, "Main")
    msg = str(err.value)
    assert str(csv_path) in msg and "occluder" in msg and "Difficulty" in msg


def test_unexpected_column_rejected(tmp_path):
    write_csv(tmp_path / "Main", [r + ",x" for r in GOOD_ROWS], header=HEADER + ",extra")
    with pytest.raises(DataError, match="unexpected column.*extra"):
        load_split(tmp_path, "Main")


@pytest.mark.parametrize("bad_type", ["1_possible", "Possible", "1_Impossible ", "1-Possible", "x_Possible"])
def test_bad_type_names_row(tmp_path, bad_type):
    rows = list(GOOD_ROWS)
    rows[2] = row("154_0", bad_type)
    csv_path = write_csv(tmp_path / "Main", rows)
    with pytest.raises(DataError) as err:
        load_split(tmp_path, "Main")
    assert err.value.row == 3
    assert f"{csv_path}, row 3" in str(err.value)
    assert "line 4" in str(err.value)


@pytest.mark.parametrize(
    "file_name", ["../x.mp4", "Videos/../../x.mp4", "/etc/passwd", "C:/x.mp4", "\\\\srv\\x.mp4", ""]
)
def test_path_escape_rejected(tmp_path, file_name):
    rows = list(GOOD_ROWS)
    rows[1] = row("0", "1_Impossible", file_name=file_name)
    write_csv(tmp_path / "Main", rows)
    with pytest.raises(DataError) as err:
        load_split(tmp_path, "Main")
    assert err.value.row == 2


def test_harmless_relative_path_accepted(tmp_path):
    rows = list(GOOD_ROWS)
    name = hexname("0/1_Impossible")
    rows[1] = row("0", "1_Impossible", file_name=f"Videos/../Videos/{name}.mp4")
    write_csv(tmp_path / "Main", rows)
    items = load_split(tmp_path, "Main")
    assert items[1].path == (tmp_path / "Main" / "Videos" / f"{name}.mp4").absolute()


def test_duplicate_name_rejected_and_all_problems_counted(tmp_path):
    rows = [*GOOD_ROWS, GOOD_ROWS[0], row("9", "1_possible")]
    write_csv(tmp_path / "Main", rows)
    with pytest.raises(DataError) as err:
        load_split(tmp_path, "Main")
    assert err.value.row == 5 and "duplicate name" in str(err.value)
    assert "1 more problem" in str(err.value)


def test_heldout_lists_videos(tmp_path):
    make_tree(tmp_path, None, heldout=3)
    items = load_split(tmp_path, "HeldOut")
    names = sorted(hexname(f"heldout{i}") for i in range(3))
    assert [it.name for it in items] == names
    assert all(it.label is None and it.pair_id is None for it in items)
    assert [it.name for it in load_split(tmp_path, "HeldOut", limit=2)] == names[:2]


def test_limit_keeps_complete_pairs(tmp_path):
    rows = [*GOOD_ROWS, row("2", "1_Impossible"), row("2", "1_Possible"), row("2", "2_Possible"),
            row("2", "2_Impossible")]
    make_tree(tmp_path, None, rows=rows)
    # Natural order of pair ids: 0|1, 2|1, 2|2, 154_0|1.
    items = load_split(tmp_path, "Main", limit=2)
    assert sorted({it.pair_id for it in items}) == ["0|1", "2|1"]
    assert len(items) == 4 and pair_problems(items) == []
    assert len(load_split(tmp_path, "Main", limit=0)) == 0
    assert len(load_split(tmp_path, "Main", limit=100)) == 8
    assert natural_key("10|1") > natural_key("2|1")


def test_missing_split_and_root_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_split(tmp_path / "nope", "Main")
    make_tree(tmp_path, None)
    with pytest.raises(DataError, match="no Debug/ folder"):
        load_split(tmp_path, "Debug")
    with pytest.raises(PjbenchError, match="unknown IntPhys 2 split"):
        load_split(tmp_path, "test")
    (tmp_path / "IntPhys2" / "Main" / "metadata.csv").unlink()
    with pytest.raises(DataError, match="no metadata.csv"):
        load_split(tmp_path, "Main")


def test_pair_problems_rules(tmp_path):
    # Debug: each scene rendered 3 times -> pair id with 3 possible + 3 impossible is fine.
    debug_rows = [row("0", t, name=hexname(f"{t}{k}")) for t in ("1_Possible", "1_Impossible") for k in range(3)]
    write_csv(tmp_path / "Debug", debug_rows)
    debug = load_split(tmp_path, "Debug")
    assert pair_problems(debug) == []
    assert len(pair_problems(debug[:-1])) == 1  # 3 + 2: a render is missing
    # Main: the same 3 + 3 group is an error; so is an unpaired video.
    write_csv(tmp_path / "Main", debug_rows)
    assert "exactly one" in pair_problems(load_split(tmp_path, "Main"))[0]
    problems = pair_problems(load_split(tmp_path, "Debug")[:3])
    assert len(problems) == 1 and "0|1" in problems[0] and "at least one" in problems[0]


# --------------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------------


def test_validate_good_tree(tmp_path, tiny_video):
    make_tree(tmp_path, tiny_video)
    report = IntPhys2Task().validate(tmp_path, check_videos=True)
    assert isinstance(report, ValidationReport)
    assert report.ok, report.errors
    main = report.counts["Main"]
    assert (main["videos"], main["pairs"], main["scenes"], main["possible"], main["impossible"]) == (4, 2, 2, 2, 2)
    assert main["condition"] == {"permanence": 2, "solidity": 2}
    assert main["unreadable_videos"] == 0
    assert report.counts["HeldOut"]["videos"] == 2
    assert report.counts["Debug"] == {"present": False}
    assert any("Debug" in w for w in report.warnings)


def test_validate_finds_missing_truncated_and_unpaired(tmp_path, tiny_video):
    rows = [*GOOD_ROWS, row("7", "1_Possible")]  # unpaired: no impossible partner
    release = make_tree(tmp_path, tiny_video, rows=rows)
    videos = release / "Main" / "Videos"
    missing = videos / f"{hexname('0/1_Possible')}.mp4"
    missing.unlink()
    truncated = videos / f"{hexname('154_0/1_Impossible')}.mp4"
    data = tiny_video.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    (videos / "stray.mp4").write_bytes(data)

    report = IntPhys2Task().validate(tmp_path, check_videos=True)
    assert not report.ok
    text = "\n".join(report.errors)
    assert "video missing on disk" in text and missing.name in text
    assert truncated.name in text
    assert "7|1" in text
    assert any("stray.mp4" in w for w in report.warnings)
    assert report.counts["Main"]["missing_videos"] == 1
    assert report.counts["Main"]["unreadable_videos"] == 1

    # Without decoding, only the truncated file goes unnoticed.
    quick = IntPhys2Task().validate(tmp_path, check_videos=False)
    assert truncated.name not in "\n".join(quick.errors)
    assert missing.name in "\n".join(quick.errors)


def test_validate_bad_metadata_and_empty_root(tmp_path):
    rows = list(GOOD_ROWS)
    rows[0] = row("0", "1_possible")
    rows[3] = row("154_0", "1_Impossible", file_name="../../etc/x.mp4")
    write_csv(tmp_path / "Main", rows)
    report = IntPhys2Task().validate(tmp_path, check_videos=False)
    text = "\n".join(report.errors)
    assert "row 1" in text and "row 4" in text  # every bad row, not only the first

    empty = tmp_path / "empty"
    empty.mkdir()
    report = IntPhys2Task().validate(empty)
    assert not report.ok and "no IntPhys 2 split" in report.errors[-1]


# --------------------------------------------------------------------------------------------------
# Task protocol and submission
# --------------------------------------------------------------------------------------------------


def test_task_protocol_and_registry(tmp_path):
    task = IntPhys2Task()
    assert isinstance(task, Task)
    assert TASKS.get("intphys2").load() is IntPhys2Task
    assert (task.name, task.readout, tuple(task.splits), task.default_split, task.dev_split) == (
        "intphys2", "surprise", ("Debug", "Main", "HeldOut"), "Main", "Debug")
    make_tree(tmp_path, None)
    assert len(task.load(tmp_path, "Main", limit=1)) == 2


def test_submission_round_trip(tmp_path):
    names = [hexname(f"h{i}") for i in range(3)]
    answers = answers_from_scores([0.1, 0.9, 0.5], threshold=0.5)
    assert answers == [1, 0, 1]  # 1 = possible: not more surprising than the threshold
    path = write_submission(tmp_path / "sub.jsonl", names, answers)
    lines = path.read_text().splitlines()
    assert json.loads(lines[1]) == {"data_name": "intphys2", "task": "HeldOut", "row_id": names[1], "model_answer": 0}
    assert read_submission(path) == dict(zip(names, answers))


@pytest.mark.parametrize(
    "names, answers, match",
    [
        (["abc"], [1], "line 1: row_id"),
        ([hexname("a"), hexname("a")], [1, 0], "line 2: duplicate"),
        ([hexname("a")], [2], "line 1: model_answer"),
        ([hexname("a")], [True], "model_answer"),
        ([hexname("a")], [1, 0], "2 answers"),
        ([], [], "no rows"),
    ],
)
def test_submission_refuses_invalid_rows(tmp_path, names, answers, match):
    path = tmp_path / "sub.jsonl"
    with pytest.raises(PjbenchError, match=match):
        write_submission(path, names, answers)
    assert not path.exists()


@pytest.mark.parametrize(
    "line, match",
    [
        ("not json", "invalid JSON"),
        ('{"data_name": "mvp", "task": "HeldOut", "row_id": "ROW", "model_answer": 1}', "data_name"),
        ('{"data_name": "intphys2", "task": "Main", "row_id": "ROW", "model_answer": 1}', "task"),
        ('{"data_name": "intphys2", "task": "HeldOut", "row_id": "ROW", "model_answer": "1"}', "model_answer"),
        ('{"data_name": "intphys2", "task": "HeldOut", "row_id": "ROW"}', "keys"),
        ('{"data_name": "intphys2", "task": "HeldOut", "row_id": "xyz", "model_answer": 1}', "row_id"),
    ],
)
def test_read_submission_names_line(tmp_path, line, match):
    good = json.dumps({"data_name": "intphys2", "task": "HeldOut", "row_id": hexname("a"), "model_answer": 1})
    path = tmp_path / "sub.jsonl"
    path.write_text(good + "\n" + line.replace("ROW", hexname("b")) + "\n")
    with pytest.raises(DataError, match=f"line 2: .*{match}"):
        read_submission(path)


# --------------------------------------------------------------------------------------------------
# IntPhys 2019 dev (quadruplets of PNG frame folders)
# --------------------------------------------------------------------------------------------------


def write_png(path: Path, image: np.ndarray) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_2019_dev(root: Path, scenes=("01", "02"), frames: int = 3) -> Path:
    dev = root / "dev"
    for scene in scenes:
        for movie, possible in zip("1234", (True, False, False, True)):
            movie_dir = dev / "O1" / scene / movie
            for t in range(1, frames + 1):
                write_png(movie_dir / "scene" / f"scene_{t:03d}.png", np.full((8, 8, 3), t * 10, np.uint8))
            (movie_dir / "status.json").write_text(json.dumps({"header": {"is_possible": possible}, "frames": []}))
    return dev


def test_intphys2019_dev_loader(tmp_path):
    from pjbench.intphys2.intphys2019 import load_dev
    from pjbench.benchmarks.video import read_frame_folder

    make_2019_dev(tmp_path)
    items = load_dev(tmp_path)  # a folder containing dev/
    assert [it.name for it in items[:4]] == ["O1/01/1", "O1/01/2", "O1/01/3", "O1/01/4"]
    assert [it.label for it in items[:4]] == [1, 0, 0, 1]
    assert {it.pair_id for it in items} == {"O1/01", "O1/02"}
    assert items[0].strata == {"block": "O1", "condition": "permanence"}
    assert pair_problems(items) == []  # 2 possible + 2 impossible per quadruplet
    assert len(load_dev(tmp_path / "dev", limit=1)) == 4
    frames = read_frame_folder(items[0].path, frame_step=2)
    assert frames.shape == (2, 8, 8, 3) and frames[1, 0, 0, 0] == 30  # frames 1 and 3


def test_intphys2019_dev_errors(tmp_path):
    from pjbench.benchmarks.errors import VideoError
    from pjbench.intphys2.intphys2019 import load_dev
    from pjbench.benchmarks.video import read_frame_folder

    dev = make_2019_dev(tmp_path, scenes=("01",))
    status = dev / "O1" / "01" / "3" / "status.json"
    status.write_text(json.dumps({"header": {}}))
    with pytest.raises(DataError, match="is_possible") as err:
        load_dev(dev)
    assert str(status) in str(err.value)
    status.unlink()
    with pytest.raises(DataError, match="status.json not found"):
        load_dev(dev)
    with pytest.raises(DataError, match="no O1, O2, O3"):
        load_dev(tmp_path / "dev" / "O1")
    bad = dev / "O1" / "01" / "1" / "scene" / "scene_002.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(VideoError, match="scene_002.png"):
        read_frame_folder(bad.parent)


def test_intphys2019_task_end_to_end(tmp_path):
    """The 2019 layout goes through the same runner: frame folders decode, quadruplets pair, context fixed."""
    from pjbench.benchmarks.runner import evaluate

    dev = make_2019_dev(tmp_path / "data", scenes=("01", "02", "03"), frames=12)
    results, _ = evaluate("pixel-copy-last", dev, tmp_path / "run", task="intphys2019", frame_step=1, window=8,
                          n_boot=200, progress=False, workers=0)
    assert results.task["split"] == "dev" and results.task["n_scored"] == 12
    assert results.protocol["context_selection"]["rule"] == "fixed"
    assert results.model["preprocessing"]["frame_step"] == 1 and results.model["preprocessing"]["sample_fps"] is None
    pa = results.metric("pairwise_accuracy", "avg")
    assert pa.n == 3 and pa.value == 0.0  # identical frames in all four movies: every comparison ties (= wrong)


def test_stray_extra_field_does_not_shift_columns(tmp_path):
    """pandas would take column 0 as the index when a data row has one field too many."""
    rows = list(GOOD_ROWS)
    rows[0] = rows[0] + ",surplus"
    csv_path = write_csv(tmp_path / "Main", rows)
    with pytest.raises(DataError, match="11 fields, expected 10") as err:
        load_split(tmp_path, "Main")
    assert err.value.row == 1 and f"{csv_path}, row 1" in str(err.value)


def test_validate_warns_when_a_release_is_smaller_than_the_official_one(tmp_path, tiny_video):
    from pjbench.intphys2.task import IntPhys2Task

    root = make_tree(tmp_path, tiny_video)
    report = IntPhys2Task().validate(root, check_videos=False)
    assert any("Main: 4 videos, the official release has 1,012" in w for w in report.warnings)
    (root / "suite.json").write_text("{}")  # a pjbench synthetic suite has its own sizes
    report = IntPhys2Task().validate(root, check_videos=False)
    assert not any("official release" in w for w in report.warnings)
