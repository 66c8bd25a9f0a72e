"""The synthetic MVPBench and CausalVQA releases: the official formats read the official way, pair structure,
answers that follow from the scenes, text that tells nothing, missing videos, determinism, idempotence.

One small release of each is written per module (MVPBench 6 pairs per config, CausalVQA 25 + 25 questions,
64 px, 24 frames); the file runs in about 15 s on 2 CPU cores.
"""

from __future__ import annotations

import ast
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.video import decode_video
from pjbench.synthetic import write_causalvqa_suite, write_mvpbench_suite
from pjbench.synthetic import causalvqa as cv
from pjbench.synthetic import mvpbench as mvp
from pjbench.synthetic.world import OBJECT_COLOR_NAMES, OBJECT_COLORS

OFFICIAL_SOURCES = {"pt", "ssv2", "language_table", "intphys", "inflevel", "grasp", "clevrer", "star", "vinoground"}
MVP_PARAMS = dict(seed=0, scale=0.25, missing_fraction=0.34)  # 6 pairs per config, 2 of them with videos missing
CVQA_PARAMS = dict(seed=0, scale=0.34)  # debug 5 per type, test 5 per type


@pytest.fixture(scope="module")
def mvp_suite(tmp_path_factory) -> Path:
    return write_mvpbench_suite(tmp_path_factory.mktemp("mvp") / "mvp", progress=False, **MVP_PARAMS)


@pytest.fixture(scope="module")
def cvqa_suite(tmp_path_factory) -> Path:
    return write_causalvqa_suite(tmp_path_factory.mktemp("cvqa") / "release", progress=False, **CVQA_PARAMS)


def _parquet(root: Path, config: str, split: str) -> pd.DataFrame:
    return pd.read_parquet(root / config / f"{split}-00000-of-00001.parquet")


def _all_rows(root: Path, split: str = "full") -> pd.DataFrame:
    return pd.concat([_parquet(root, c, split).assign(config=c) for c in mvp.CONFIGS], ignore_index=True)


def _pair_key(video_id: str) -> str:
    return video_id.rsplit("_", 1)[0]


def _rel(video_path: str) -> str:
    """``video_path`` relative to ``videos/`` the way formats.md says: strip a leading "/", refuse escapes."""
    rel = video_path.lstrip("/")
    assert ".." not in Path(rel).parts and not Path(rel).is_absolute(), video_path
    return rel


# --- MVPBench: format ----------------------------------------------------------------------------------


def test_mvp_layout_and_string_columns(mvp_suite: Path) -> None:
    import pyarrow.parquet as pq

    assert sorted(p.name for p in mvp_suite.iterdir()) == sorted([*mvp.CONFIGS, "suite.json", "videos"])
    for config in mvp.CONFIGS:
        assert sorted(p.name for p in (mvp_suite / config).iterdir()) == [
            "full-00000-of-00001.parquet", "mini-00000-of-00001.parquet"]
        for split in ("full", "mini"):
            schema = pq.read_schema(mvp_suite / config / f"{split}-00000-of-00001.parquet")
            assert schema.names == list(mvp.COLUMNS) == [
                "video_id", "video_path", "question", "answer", "candidates", "source"]
            assert all(str(t) == "string" for t in schema.types)
            df = _parquet(mvp_suite, config, split)
            for col in mvp.COLUMNS:
                assert df[col].map(type).eq(str).all(), (config, split, col)
        full = _parquet(mvp_suite, config, "full")
        assert set(full["source"]) == set(mvp.SOURCES[config]) and set(full["source"]) <= OFFICIAL_SOURCES
        assert full["video_id"].str.fullmatch(config + r"_\d+_[01]").all()
        assert full["video_id"].is_unique
        # videos live under videos/<source>/, and both path forms occur (with and without a leading "/")
        rel = full["video_path"].map(_rel)
        assert (rel.str.split("/").str[0] == full["source"]).all()
    paths = _all_rows(mvp_suite)["video_path"]
    assert paths.str.startswith("/").any() and (~paths.str.startswith("/")).any()
    assert {p.name for p in (mvp_suite / "videos").iterdir()} <= OFFICIAL_SOURCES


def test_mvp_minimal_pairs(mvp_suite: Path) -> None:
    for config in mvp.CONFIGS:
        full = _parquet(mvp_suite, config, "full")
        pairs: dict[str, list[dict]] = defaultdict(list)
        for r in full.to_dict("records"):
            candidates = ast.literal_eval(r["candidates"])
            assert isinstance(candidates, list) and len(candidates) == 2 and len(set(candidates)) == 2
            assert r["answer"] in candidates
            pairs[_pair_key(r["video_id"])].append({**r, "gold": candidates.index(r["answer"])})
        assert len(pairs) == mvp.MVPSuiteSpec(**MVP_PARAMS).n_pairs(config)
        for key, items in pairs.items():
            assert sorted(it["video_id"][-1] for it in items) == ["0", "1"], key
            a, b = items
            assert a["question"] == b["question"] and a["candidates"] == b["candidates"], key
            assert a["source"] == b["source"], key
            assert {a["gold"], b["gold"]} == {0, 1}, key  # opposite answers
        # mini: a subset of full's pairs, rows unchanged
        mini = _parquet(mvp_suite, config, "mini")
        assert 0 < len(mini) < len(full) and len(mini) % 2 == 0
        assert set(mini["video_id"].map(_pair_key)) <= set(pairs)
        merged = mini.merge(full, on="video_id", suffixes=("", "_full"))
        assert len(merged) == len(mini)
        for col in mvp.COLUMNS[1:]:
            assert (merged[col] == merged[f"{col}_full"]).all()
    manifest = json.loads((mvp_suite / "suite.json").read_text())
    assert manifest["items"] == {c: {"full": 12, "mini": 4} for c in mvp.CONFIGS}


def test_mvp_text_is_uninformative(mvp_suite: Path) -> None:
    """A video-blind model sees the same (question, candidates) for both items of a pair: even the best
    text-only rule (the majority answer of each text, fitted on the answers themselves) gets exactly one
    item of every pair right."""
    df = _all_rows(mvp_suite)
    df["text"] = df["question"] + " || " + df["candidates"]
    majority = df.groupby("text")["answer"].agg(lambda s: s.value_counts().sort_index().idxmax())
    df["right"] = df["answer"] == df["text"].map(majority)
    df["pair"] = df["config"] + "/" + df["video_id"].map(_pair_key)
    assert df["right"].mean() == 0.5
    assert df.groupby("pair")["right"].all().mean() == 0.0
    # every prompt text (question + candidates) has its answers exactly balanced, and for every question
    # the gold letter is A exactly half the time
    for _, group in df.groupby("text"):
        counts = Counter(group["answer"])
        assert len(counts) == 2 and len(set(counts.values())) == 1, counts
    df["gold_a"] = df["candidates"].map(ast.literal_eval).map(lambda c: c[0]) == df["answer"]
    assert (df.groupby("question")["gold_a"].mean() == 0.5).all()
    gold_a = df["gold_a"]
    # neither the item index nor the candidate order gives it away across pairs
    first_is_a = gold_a[df["video_id"].str.endswith("_0")]
    assert 0.2 < first_is_a.mean() < 0.8


# --- MVPBench: videos ----------------------------------------------------------------------------------


def test_mvp_missing_videos_are_exactly_the_manifest(mvp_suite: Path) -> None:
    manifest = json.loads((mvp_suite / "suite.json").read_text())
    missing = {m["video_path"] for m in manifest["missing_videos"]}
    df = _all_rows(mvp_suite)
    on_disk = {str(p.relative_to(mvp_suite / "videos")) for p in (mvp_suite / "videos").rglob("*.mp4")}
    rel = set(df["video_path"].map(_rel))
    assert on_disk == rel - missing and missing <= rel
    assert manifest["videos"] == len(on_disk)
    # 2 pairs per config lose videos, cycling both / first / second
    by_pair = Counter((m["config"], _pair_key(m["video_id"])) for m in manifest["missing_videos"])
    assert Counter(c for c, _ in by_pair) == {c: 2 for c in mvp.CONFIGS}
    assert set(by_pair.values()) == {1, 2}
    singles = [m for m in manifest["missing_videos"] if by_pair[(m["config"], _pair_key(m["video_id"]))] == 1]
    assert {m["video_id"][-1] for m in singles} == {"0", "1"}
    assert sum(manifest["missing_by_source"].values()) == len(missing)
    for m in manifest["missing_videos"]:
        assert df.loc[df["video_id"] == m["video_id"], "source"].item() == m["source"]


def test_mvp_videos_decode_and_pairs_are_minimal(mvp_suite: Path) -> None:
    spec = mvp.MVPSuiteSpec(**MVP_PARAMS)
    df = _all_rows(mvp_suite)
    df["pair"] = df["config"] + "/" + df["video_id"].map(_pair_key)
    templates = {f"{p.config}/{p.config}_{p.number}": p.pair.template for p in mvp.plan_suite(spec)}
    checked = 0
    for pair, group in df.groupby("pair"):
        paths = [mvp_suite / "videos" / _rel(v) for v in group.sort_values("video_id")["video_path"]]
        if not all(p.is_file() for p in paths):
            continue
        a, b = (decode_video(p) for p in paths)
        assert a.shape == b.shape == (spec.n_frames, spec.resolution, spec.resolution, 3), pair
        assert not np.array_equal(a, b), pair
        if templates[pair] != "up_down":  # a time-reversed lift starts where the other video ends
            assert np.array_equal(a[0], b[0]), pair  # the same scene; lossless, so exactly the same pixels
        checked += 1
    assert checked >= 4 * (spec.n_pairs("intuitive_physics") - 2)


def _name(body) -> str:
    return OBJECT_COLOR_NAMES[OBJECT_COLORS.index(body.color)]


def _start(track) -> int:
    moving = np.abs(track.xy - track.xy[0]).max(axis=1) > 1e-9
    return int(np.argmax(moving)) if moving.any() else 10**9


def _answer_from_scene(template: str, scene) -> str:
    """What the video shows, read off the scene's tracks: an independent statement of each template's answer."""
    t = scene.tracks
    if template == "stop_at_wall":
        return "Yes" if t[0].xy[-1, 0] == t[0].xy[-2, 0] else "No"
    if template == "reappear":
        screen, x, r = scene.blocks[0], t[0].xy[-1, 0], t[0].body.radius
        return "Yes" if (x - r >= screen.x1 or x + r <= screen.x0) else "No"
    if template == "collision":  # the balls never overlap; the other ball moves iff it was hit
        gap = np.linalg.norm(t[0].xy - t[1].xy, axis=1).min() - t[0].body.radius - t[1].body.radius
        assert gap > -1e-9
        return "Yes" if _start(t[1]) < 10**9 else "No"
    if template == "fall_off":
        return "Yes" if t[0].xy[-1, 1] > scene.blocks[0].y1 else "No"
    if template == "first_mover":
        return f"The {_name(min(t, key=_start).body)} ball"
    if template == "order":
        dx = np.diff(t[0].xy[:, 0])
        return "First to the left, then to the right" if dx[np.flatnonzero(dx)[0]] < 0 else (
            "First to the right, then to the left")
    if template == "push_direction":
        return "To the left" if t[0].xy[-1, 0] < t[0].xy[0, 0] else "To the right"
    if template == "which_block":
        return f"The {_name(next(tr for tr in t[:2] if _start(tr) < 10**9).body)} block"
    if template == "pretend":
        return "It moves it" if _start(t[0]) < 10**9 else "It only pretends to"
    if template == "up_down":
        return "Up" if t[0].xy[-1, 1] < t[0].xy[0, 1] else "Down"
    raise AssertionError(template)


def test_mvp_answers_follow_from_the_scenes() -> None:
    plans = mvp.plan_suite(mvp.MVPSuiteSpec())
    assert {p.pair.template for p in plans} == {f.__name__.lstrip("_") for fs in mvp.TEMPLATES.values() for f in fs}
    for p in plans:
        for idx in (0, 1):
            v = p.variant[idx]
            assert _answer_from_scene(p.pair.template, p.pair.scenes[v]) == p.pair.answers[v], (p.config, p.number)
        row = p.rows(0)[0]
        assert row["answer"] in p.candidates and set(p.candidates) == set(p.pair.answers)


# --- CausalVQA -----------------------------------------------------------------------------------------


def _csv(root: Path, split: str) -> pd.DataFrame:
    return pd.read_csv(root / "CausalVQA" / split / f"{split}_metadata.csv", dtype=str, keep_default_na=False)


def _options(value: str) -> tuple[list[str], list[str]]:
    """The official prep's rule: split on "|", strip, number = first character, text = from the 4th on."""
    ops = [op.lstrip().rstrip() for op in value.split("|")]
    return [op[0] for op in ops], [op[3:] for op in ops]


def test_cvqa_layout_and_columns(cvqa_suite: Path) -> None:
    root = cvqa_suite / "CausalVQA"
    assert sorted(p.name for p in cvqa_suite.iterdir()) == ["CausalVQA", "suite.json"]
    assert sorted(p.name for p in root.iterdir()) == ["debug", "test"]
    spec = cv.CausalVQASuiteSpec(**CVQA_PARAMS)
    for split in ("debug", "test"):
        assert sorted(p.name for p in (root / split).iterdir()) == [f"{split}_metadata.csv", "videos"]
        header = (root / split / f"{split}_metadata.csv").read_text().splitlines()[0]
        assert header == "qid,type,question,choices1,correct1,choices2,correct2,difficulty,renamed_video"
        df = _csv(cvqa_suite, split)
        assert len(df) == spec.n_questions(split) and df["qid"].is_unique
        assert df["qid"].str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").all()
        assert set(df["type"]) == set(cv.TYPES) and set(df["difficulty"]) <= {"easy", "med", "hard"}
        if split == "test":
            assert (df["correct1"] == "").all() and (df["correct2"] == "").all()
        else:
            assert df["correct1"].isin(list("12345")).all() and df["correct2"].isin(list("12345")).all()
        files = sorted(p.name for p in (root / split / "videos").iterdir())
        assert files == sorted(df["renamed_video"])
        for name in files[:3]:
            assert decode_video(root / split / "videos" / name).shape == (spec.n_frames, spec.resolution,
                                                                           spec.resolution, 3)
    assert set(_csv(cvqa_suite, "debug")["qid"]).isdisjoint(_csv(cvqa_suite, "test")["qid"])
    debug = _csv(cvqa_suite, "debug")
    assert set(zip(debug["type"], debug["difficulty"])) <= {(t, d) for t in cv.TYPES for d in cv.DIFFICULTIES}


def test_cvqa_options_parse_the_official_way(cvqa_suite: Path) -> None:
    for split in ("debug", "test"):
        for r in _csv(cvqa_suite, split).to_dict("records"):
            n1, t1 = _options(r["choices1"])
            n2, t2 = _options(r["choices2"])
            assert n1 == n2 == ["1", "2", "3", "4", "5"]
            assert len(set(t1)) == 5 and sorted(t1) == sorted(t2) and t1 != t2  # choices2: the same, reordered
            assert all(t.strip() == t and t for t in t1)
            if split == "debug":
                gold1, gold2 = t1[n1.index(r["correct1"])], t2[n2.index(r["correct2"])]
                assert gold1 == gold2  # the same answer in both lists ...
                assert r["correct1"] != r["correct2"]  # ... at another position


def test_cvqa_text_is_uninformative(cvqa_suite: Path) -> None:
    """Per question text the five options are always the same five texts, and the gold position is spread
    over the five positions (whether a text-only learner is at chance: tests/test_cvqa_text_only_chance.py)."""
    df = _csv(cvqa_suite, "debug")
    for question, group in df.groupby("question"):
        assert len({tuple(sorted(_options(c)[1])) for c in group["choices1"]}) == 1, question
    positions = Counter(df["correct1"]) + Counter(df["correct2"])
    assert max(positions.values()) <= 0.4 * 2 * len(df) and len(positions) == 5


def _gold_colours(root: Path, split: str = "debug") -> dict[str, list[int]]:
    """Per type, the colour (index into OBJECT_COLOR_NAMES) named by the gold option of each question in
    question-number order (the qid order of :func:`cv.plan_split`), read back from the CSV the official way."""
    def colour(text: str) -> int:
        return next(i for i, n in enumerate(OBJECT_COLOR_NAMES) if f" {n} " in f" {text} ")

    df = _csv(root, split).set_index("qid")
    out: dict[str, list[int]] = {}
    for q in cv.plan_split(cv.CausalVQASuiteSpec(**CVQA_PARAMS), split):
        row = df.loc[q.qid]
        out.setdefault(q.qtype, []).append(colour(_options(row["choices1"])[1][int(row["correct1"]) - 1]))
    return out


def test_cvqa_answers_are_drawn_per_question_not_cycled(cvqa_suite: Path) -> None:
    """A deterministic cycle of the gold colour (each colour once per 5 questions of a type) puts a text-only
    learner below chance under question-grouped folds: the held-out colours are the ones training lacks."""
    gold = _gold_colours(cvqa_suite)
    assert set(gold) == set(cv.TYPES) and all(len(v) == 5 for v in gold.values())
    # a cycle gives every type its 5 colours once; drawn at random, that happens with probability (5!/5**5)**5
    assert any(len(set(v)) < 5 for v in gold.values()), gold
    steps = {(b - a) % 5 for v in gold.values() for a, b in zip(v, v[1:])}
    assert len(steps) > 1, steps  # not a constant step either
    # the letters (option numbers) of the gold answer: not one cycle over the rows either
    df = _csv(cvqa_suite, "debug")
    letters = [int(c) for c in df["correct1"]]
    assert len({(b - a) % 5 for a, b in zip(letters, letters[1:])}) > 1
    # all five colours occur, no colour dominates (25 questions: a colour drawn 1/5 of the time is in [1, 12]
    # except with probability < 1e-3)
    counts = Counter(c for v in gold.values() for c in v)
    assert len(counts) == 5 and max(counts.values()) <= 12, counts


def test_cvqa_answers_follow_the_suite_seed() -> None:
    def answers(seed: int) -> list[int]:
        return [q.answer for q in cv.plan_split(cv.CausalVQASuiteSpec(seed=seed), "debug")]

    assert answers(0) == answers(0)
    assert answers(0) != answers(1)
    a = answers(0)
    # per type, 15 questions: not the 5 colours 3 times each in every type (what cycling gave)
    per_type = [Counter(a[15 * i: 15 * (i + 1)]) for i in range(len(cv.TYPES))]
    assert any(sorted(c.values()) != [3, 3, 3, 3, 3] for c in per_type), per_type


def test_cvqa_answers_follow_from_the_scenes() -> None:
    spec = cv.CausalVQASuiteSpec()
    for split in ("debug", "test"):
        for q in cv.plan_split(spec, split):
            tracks = q.scene.tracks
            ball = next(t for t in tracks if t.body.color == cv.BALL_COLOR)
            blocks = [t for t in tracks if t.body.color in [OBJECT_COLORS[c] for c in cv.BLOCK_COLORS]]
            assert len(blocks) == 5
            x0 = ball.xy[0, 0]
            d = np.sign(ball.xy[1, 0] - x0)
            ahead = sorted((t for t in blocks if np.sign(t.xy[0, 0] - x0) == d), key=lambda t: abs(t.xy[0, 0] - x0))
            behind = sorted((t for t in blocks if np.sign(t.xy[0, 0] - x0) == -d), key=lambda t: abs(t.xy[0, 0] - x0))
            near, back = ahead[0], behind[0]
            expected = back if q.qtype == "hypothetical" else near
            assert OBJECT_COLORS.index(expected.body.color) == q.answer, (split, q.qtype, q.number)
            gap_end = abs(near.xy[-1, 0] - ball.xy[-1, 0]) - near.body.half_width - ball.body.radius
            moved = [t for t in blocks if _start(t) < 10**9]
            bounced = np.sign(ball.xy[-1, 0] - ball.xy[-2, 0]) == -d
            if q.qtype == "anticipation":
                assert gap_end > 0.005 and not moved and not bounced
            elif q.qtype == "descriptive":
                assert moved == [near] and abs(gap_end) < 0.05
            elif q.qtype == "planning":
                assert not moved and abs(gap_end) < 1e-6
            elif q.qtype == "counterfactual":
                (wall,) = q.scene.blocks
                assert bounced and not moved and min(wall.x0, wall.x1) * d > x0 * d
                assert (wall.x0 - near.xy[0, 0]) * d < 0  # the wall stands between the ball and the answer
            else:
                step = np.abs(np.diff(ball.xy[:, 0])).max()  # the contact falls between two frames
                assert bounced and not moved and abs(ball.xy[:, 0] - near.xy[0, 0]).min() <= (
                    near.body.half_width + ball.body.radius + step)


# --- both: determinism, idempotence, validation ----------------------------------------------------------


def test_same_seed_same_release(mvp_suite: Path, tmp_path: Path) -> None:
    tiny = dict(seed=0, scale=0.1, resolution=16, n_frames=16)
    a = write_mvpbench_suite(tmp_path / "a", progress=False, missing_fraction=0.0, **tiny)
    b = write_mvpbench_suite(tmp_path / "b", progress=False, missing_fraction=0.0, workers=1, **tiny)
    for config in mvp.CONFIGS:
        for split in ("full", "mini"):
            name = f"{config}/{split}-00000-of-00001.parquet"
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
        # a pair's rows depend on neither the scale nor the video size: the small release's rows are rows
        # of the larger one
        small_rows = _parquet(a, config, "full").sort_values("video_id").reset_index(drop=True)
        big = _parquet(mvp_suite, config, "full").set_index("video_id").loc[small_rows["video_id"]].reset_index()
        pd.testing.assert_frame_equal(small_rows, big[list(mvp.COLUMNS)])
    for p in sorted((a / "videos").rglob("*.mp4"))[:3]:
        assert np.array_equal(decode_video(p), decode_video(b / p.relative_to(a)))
    rows = [r for p in mvp.plan_suite(mvp.MVPSuiteSpec(seed=0, scale=0.1)) for r in p.rows(0)]
    other = [r for p in mvp.plan_suite(mvp.MVPSuiteSpec(seed=1, scale=0.1)) for r in p.rows(1)]
    assert sum(r != o for r, o in zip(rows, other)) > len(rows) // 2

    c = write_causalvqa_suite(tmp_path / "c", progress=False, **tiny)
    d = write_causalvqa_suite(tmp_path / "d", progress=False, workers=1, **tiny)
    for split in ("debug", "test"):
        name = f"CausalVQA/{split}/{split}_metadata.csv"
        assert (c / name).read_bytes() == (d / name).read_bytes()
    video = sorted((c / "CausalVQA" / "debug" / "videos").iterdir())[0]
    assert np.array_equal(decode_video(video), decode_video(d / video.relative_to(c)))
    assert metadata_text(cv.CausalVQASuiteSpec(seed=1, scale=0.1), "debug") != (
        c / "CausalVQA/debug/debug_metadata.csv").read_text()


def metadata_text(spec, split: str) -> str:
    return cv.metadata_csv(spec, split, cv.plan_split(spec, split))


@pytest.mark.parametrize("kind", ["mvpbench", "causalvqa"])
def test_rewriting_is_idempotent_and_guarded(kind: str, tmp_path: Path) -> None:
    write = write_mvpbench_suite if kind == "mvpbench" else write_causalvqa_suite
    params = dict(scale=0.1, n_frames=16, resolution=16)
    out = write(tmp_path / "s", progress=False, **params)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert write(out, progress=False, **params) == out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps  # nothing rewritten

    with pytest.raises(PjbenchError, match="other parameters"):
        write(out, progress=False, **{**params, "seed": 3})
    write(out, progress=False, overwrite=True, **{**params, "seed": 3})
    assert json.loads((out / "suite.json").read_text())["spec"]["seed"] == 3

    victim = next(p for p in out.rglob("*.mp4"))  # an incomplete release is written again
    victim.unlink()
    write(out, progress=False, **{**params, "seed": 3})
    assert victim.is_file()

    # folders this writer did not make are never deleted without overwrite=True
    owned = "videos" if kind == "mvpbench" else "CausalVQA"
    foreign = tmp_path / "foreign"
    (foreign / owned).mkdir(parents=True)
    (foreign / owned / "mine.txt").write_text("keep")
    with pytest.raises(PjbenchError, match="not a synthetic suite"):
        write(foreign, progress=False, **params)
    assert (foreign / owned / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize("bad", [dict(resolution=63), dict(resolution=8), dict(n_frames=8), dict(scale=0),
                                 dict(fps=0), dict(missing_fraction=1.5)])
def test_spec_validation(bad: dict) -> None:
    with pytest.raises(PjbenchError):
        mvp.MVPSuiteSpec(**bad)
    if "missing_fraction" not in bad:
        with pytest.raises(PjbenchError):
            cv.CausalVQASuiteSpec(**bad)


# --- with the loaders --------------------------------------------------------------------------------------


def test_the_loaders_read_the_synthetic_releases(mvp_suite: Path, cvqa_suite: Path) -> None:
    from pjbench.causalvqa import loader as cvqa_loader
    from pjbench.mvpbench import loader as mvp_loader

    manifest = json.loads((mvp_suite / "suite.json").read_text())
    split = mvp_loader.load_split(mvp_suite, "full")
    assert not split.dropped and sorted(split.configs) == sorted(mvp.CONFIGS)
    assert len(split.items) == sum(v["full"] for v in manifest["items"].values())
    cov = mvp_loader.coverage(split.items)
    assert cov["items"] - cov["with_video"] == len(manifest["missing_videos"])
    broken = {(m["config"], _pair_key(m["video_id"])) for m in manifest["missing_videos"]}
    assert cov["pairs"] - cov["complete_pairs"] == len(broken)
    for source, n in manifest["missing_by_source"].items():
        if source in cov["by_source"]:
            s = cov["by_source"][source]
            assert s["items"] - s["with_video"] == n, source
    assert len(mvp_loader.load_split(mvp_suite, "mini").items) == sum(v["mini"] for v in manifest["items"].values())

    debug = cvqa_loader.load_split(cvqa_suite, "debug")
    df = _csv(cvqa_suite, "debug").set_index("qid")
    assert len(debug) == 2 * len(df)
    for it in debug:
        qid, asking = it.name.rsplit("/", 1)
        numbers, _ = _options(df.loc[qid, f"choices{asking}"])
        assert it.label == numbers.index(df.loc[qid, f"correct{asking}"])
    assert all(it.path.is_file() for it in debug)
    test = cvqa_loader.load_split(cvqa_suite / "CausalVQA", "test")
    assert len(test) == 2 * len(_csv(cvqa_suite, "test")) and all(it.label is None for it in test)
