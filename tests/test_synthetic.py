"""The synthetic IntPhys 2 suite: release layout, quadruplet structure, determinism, idempotence.

One tiny suite (64 px, 48 frames, Main 8 scenes, Debug 1 x 3 renders, HeldOut 2 scenes) is written once
per module; the whole file runs in well under 30 s on 2 CPU cores.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.video import decode_video
from pjbench.synthetic import SuiteSpec, write_intphys2_suite
from pjbench.synthetic.intphys2 import COLUMNS, CONDITIONS, TRAVEL, TYPES, build_quadruplet, plan_split

TINY = SuiteSpec.tiny(seed=0)
HEX64 = re.compile(r"[0-9a-f]{64}")


def _write(out: Path, spec: SuiteSpec = TINY, **kwargs) -> Path:
    params = spec.to_json()
    return write_intphys2_suite(out, progress=False, **params, **kwargs)


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("synthetic") / "IntPhys2")


def _rows(root: Path, split: str) -> list[dict[str, str]]:
    with open(root / split / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


_decoded: dict[Path, np.ndarray] = {}


def _video(root: Path, split: str, name: str) -> np.ndarray:
    """Decoded ``uint8 (T, H, W, 3)``, cached: several tests look at the same videos."""
    path = root / split / "Videos" / f"{name}.mp4"
    if path not in _decoded:
        _decoded[path] = decode_video(path)
    return _decoded[path]


def _quadruplets(root: Path) -> list[tuple[object, dict[str, np.ndarray]]]:
    """Main's scenes as ``(design, splice, {type: decoded video})``."""
    designs = {d.scene_index: d for d in plan_split(TINY, "Main")}
    by_scene: dict[str, dict[str, str]] = defaultdict(dict)
    for r in _rows(root, "Main"):
        by_scene[r["SceneIndex"]][r["type"]] = r["name"]
    out = []
    for scene, names in sorted(by_scene.items()):
        design = designs[scene]
        splice = build_quadruplet(TINY, design).splice
        out.append((design, splice, {t: _video(root, "Main", n).astype(np.float32) for t, n in names.items()}))
    return out


# --- layout --------------------------------------------------------------------------------------------


def test_layout_is_the_release_layout(suite: Path) -> None:
    assert sorted(p.name for p in suite.iterdir()) == ["Debug", "HeldOut", "Main", "suite.json"]
    for split in ("Debug", "Main"):
        assert sorted(p.name for p in (suite / split).iterdir()) == ["Videos", "metadata.csv"]
        header = (suite / split / "metadata.csv").read_text().splitlines()[0]
        assert header == ",".join(COLUMNS) == (
            "SceneIndex,name,file_name,game_name,condition,env,type,occluder,Difficulty,Camera"
        )
    assert [p.name for p in (suite / "HeldOut").iterdir()] == ["Videos"]  # no metadata, like the release

    all_names: list[str] = []
    for split in ("Debug", "Main", "HeldOut"):
        files = sorted(p.name for p in (suite / split / "Videos").iterdir())
        assert len(files) == TINY.n_videos(split)
        assert all(HEX64.fullmatch(f[: -len(".mp4")]) and f.endswith(".mp4") for f in files)
        all_names += [f[: -len(".mp4")] for f in files]
        if split != "HeldOut":
            rows = _rows(suite, split)
            assert sorted(f"{r['name']}.mp4" for r in rows) == files
    assert len(set(all_names)) == len(all_names)  # names are unique across the whole suite

    manifest = json.loads((suite / "suite.json").read_text())
    assert manifest["spec"] == TINY.to_json()
    assert manifest["videos"] == {"Debug": 12, "Main": 32, "HeldOut": 8}


def test_metadata_values(suite: Path) -> None:
    # read the way a loader must read the release: strings only, "None" kept as text
    df = pd.read_csv(suite / "Main" / "metadata.csv", dtype=str, keep_default_na=False)
    assert list(df.columns) == list(COLUMNS)
    assert (df["file_name"] == "Videos/" + df["name"] + ".mp4").all()
    assert df["name"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert set(df["type"]) == set(TYPES)
    assert set(df["condition"]) == set(CONDITIONS)
    assert set(df["Difficulty"]) <= {"Easy", "Medium", "Hard"}
    assert set(df["Camera"]) <= {"Fixed", "Moving"}
    assert set(df["occluder"]) == {"None", "Wall_1", "Wall_2"}
    assert df["env"].str.fullmatch(r"(Basic|Textured)Level_\d").all()
    assert ((df["env"].str.startswith("Basic")) == (df["Difficulty"] == "Easy")).all()
    for _, r in df.iterrows():
        assert r["game_name"] == f"{r['Camera']}{'Open' if r['occluder'] == 'None' else 'Occluded'}" + (
            r["condition"].capitalize()
        )
    # suffixed SceneIndex values come in pairs of distinct scenes, like "154_0" / "154_1" in the release
    suffixed = [s for s in df["SceneIndex"].unique() if "_" in s]
    assert suffixed and Counter(s.split("_")[0] for s in suffixed) == {suffixed[0].split("_")[0]: 2}
    # rows are shuffled: loaders must not rely on the order
    keys = list(zip(df["SceneIndex"], df["type"]))
    assert keys != sorted(keys)


def test_main_has_one_possible_and_one_impossible_per_pair(suite: Path) -> None:
    rows = _rows(suite, "Main")
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        run, label = r["type"].split("_")
        pairs[(r["SceneIndex"], run)].append(label)
    assert len(pairs) == 2 * TINY.n_scenes("Main")
    assert all(sorted(v) == ["Impossible", "Possible"] for v in pairs.values())
    # a scene's four rows agree on everything but name and type
    scenes: dict[str, set] = defaultdict(set)
    for r in rows:
        scenes[r["SceneIndex"]].add(tuple(v for k, v in r.items() if k not in ("name", "file_name", "type")))
    assert all(len(v) == 1 for v in scenes.values())
    # the tiny Main covers every condition, occluded and visible
    cells = {(r["condition"], r["occluder"] != "None") for r in rows}
    assert cells == {(c, occ) for c in CONDITIONS for occ in (True, False)}


def test_debug_renders_each_scene_three_times(suite: Path) -> None:
    rows = _rows(suite, "Debug")
    by_scene: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        by_scene[r["SceneIndex"]][r["type"]] += 1
    assert len(by_scene) == TINY.n_scenes("Debug")
    assert all(c == {t: 3 for t in TYPES} for c in by_scene.values())
    # the renders differ in looks only: same metadata apart from name and type
    scenes: dict[str, set] = defaultdict(set)
    for r in rows:
        scenes[r["SceneIndex"]].add(tuple(v for k, v in r.items() if k not in ("name", "file_name", "type")))
    assert all(len(v) == 1 for v in scenes.values())


def test_plans_cover_the_conditions() -> None:
    default = SuiteSpec()
    assert {d.condition for d in plan_split(default, "Debug")} == set(CONDITIONS)  # 5 scenes, all 4 conditions
    main = plan_split(default, "Main")
    assert len(main) == 32 and len({d.scene_index for d in main}) == 32
    cells = Counter((d.condition, d.occluded) for d in main)
    assert len(cells) == 8 and set(cells.values()) == {4}
    for cell in cells:  # each condition x occlusion cell spans every difficulty and both cameras
        designs = [d for d in main if (d.condition, d.occluded) == cell]
        assert {d.difficulty for d in designs} == {"Easy", "Medium", "Hard"}
        assert {d.camera for d in designs} == {"Fixed", "Moving"}
    assert len(plan_split(SuiteSpec(scale=2.5), "Main")) == 80


# --- videos --------------------------------------------------------------------------------------------


def test_videos_decode_with_the_requested_size(suite: Path) -> None:
    import av

    for split in ("Debug", "Main", "HeldOut"):
        for path in sorted((suite / split / "Videos").iterdir())[:6]:
            assert _video(suite, split, path.stem).shape == (TINY.n_frames, TINY.resolution, TINY.resolution, 3)
    with av.open(str(path)) as container:
        assert float(container.streams.video[0].average_rate) == TINY.fps


def test_quadruplets_hold_the_same_frames(suite: Path) -> None:
    # lossless H.264: the decoded files hold exactly the spliced frames
    for design, s, v in _quadruplets(suite):
        p1, p2, i1, i2 = v["1_Possible"], v["2_Possible"], v["1_Impossible"], v["2_Impossible"]
        # a matched pair is the same video before the splice, the other possible video after it
        assert np.array_equal(i1[:s], p1[:s]) and np.array_equal(i1[s:], p2[s:]), design
        assert np.array_equal(i2[:s], p2[:s]) and np.array_equal(i2[s:], p1[s:]), design
        assert not np.array_equal(p1, p2), design


def _jump(video: np.ndarray, t: int) -> float:
    """Mean |frame t - frame t-1| (RGB levels)."""
    return float(np.abs(video[t] - video[t - 1]).mean())


def test_occluded_splices_are_seamless_and_visible_ones_are_not(suite: Path) -> None:
    for design, s, v in _quadruplets(suite):
        for k in ("1", "2"):
            possible, impossible = v[f"{k}_Possible"], v[f"{k}_Impossible"]
            jump_i, jump_p = _jump(impossible, s), _jump(possible, s)
            if design.occluded:  # the same change as in the possible video
                assert np.array_equal(impossible[s], possible[s]) and jump_i == jump_p, design
            else:  # an object-sized event on top of the slow motion (and the camera pan over texture)
                assert jump_i > 3 * jump_p and jump_i - jump_p > 0.5, design


def test_occluded_splices_are_pixel_identical_before_encoding() -> None:
    for design in plan_split(TINY, "Main"):
        quad = build_quadruplet(TINY, design)
        v = quad.videos(TINY.resolution)
        s = quad.splice
        same = np.array_equal(v["1_Possible"][s], v["2_Possible"][s])
        assert same == design.occluded, design
        assert np.array_equal(v["1_Impossible"][: s + 1], v["1_Possible"][: s + 1]) == design.occluded


@pytest.mark.parametrize("mode", ["copy-last", "linear"])
def test_pixel_predictors_see_visible_violations_only(suite: Path, mode: str) -> None:
    """The suite's known answer, through the real readout (6 fps, sliding windows, 32-px patches, ``avg``):
    a pixel predictor gets both pairs of a visible quadruplet right, and exactly one of an occluded one --
    I1's gain over P1 is minus I2's gain over P2, because what differs between P1 and P2 before the splice
    and after it never shares a pixel."""
    from pjbench.benchmarks.video import preprocess
    from pjbench.encoders.pixel import PixelPredictor
    from pjbench.probes.surprise import SurpriseConfig, scores_at, video_surprise

    model = PixelPredictor(mode)
    # the tiny videos have 24 frames at 6 fps: a 16-frame window spans 2/3 of a video, like the default
    # protocol's 48-frame window (3/4 of a default video)
    cfg = SurpriseConfig(window=16, stride=2, contexts=(4, 8, 12), tubelet=1, prefix_step=2)
    for design, _, v in _quadruplets(suite):
        surprise = {t: video_surprise(model, preprocess(x[::2].astype(np.uint8), model.preprocessing), cfg)
                    for t, x in v.items()}
        for c in cfg.contexts:
            avg = {t: scores_at(sur, c)["avg"] for t, sur in surprise.items()}
            gain1 = avg["1_Impossible"] - avg["1_Possible"]
            gain2 = avg["2_Impossible"] - avg["2_Possible"]
            if design.occluded:  # opposite, up to the codec's chroma subsampling (2 x 2 pixels)
                assert abs(gain1 + gain2) <= 0.02 * (abs(gain1) + abs(gain2)), (design, c, gain1, gain2)
                assert gain1 * gain2 < 0, (design, c, gain1, gain2)  # one pair right, one wrong: 50 %
            else:
                assert gain1 > 0 and gain2 > 0, (design, c, gain1, gain2)


def test_objects_move_slowly_and_pass_behind_the_screens() -> None:
    """Motion design (module docstring): the object moves by about its own size across the view in a
    whole video; screens drift against it, so an occluded object shows on both sides of its screen."""
    spec = SuiteSpec()
    for design in plan_split(spec, "Main"):
        quad = build_quadruplet(spec, design)
        scene = quad.possible[0]
        track = scene.tracks[0]
        view_x = track.xy[:, 0] - scene.camera_x
        assert TRAVEL[0] - 1e-9 <= abs(view_x[-1] - view_x[0]) <= TRAVEL[1] + 1e-9, design
        if not design.occluded:
            continue
        for t in (0, spec.n_frames - 1):  # at both ends of the video P1's object sticks out of the screens
            left, right = track.xy[t, 0] - track.body.half_width, track.xy[t, 0] + track.body.half_width
            hidden = max(max(0.0, min(right, b.x1 + b.vx * t) - max(left, b.x0 + b.vx * t)) / (right - left)
                         for b in scene.blocks if b.layer == "screen")
            assert hidden <= 0.6, (design, t, hidden)


def test_sliding_screens() -> None:
    from pjbench.synthetic.render import render_scene
    from pjbench.synthetic.world import Backdrop, Block, Scene, mirror_scene

    with pytest.raises(ValueError, match="only screens slide"):
        Block("w", 0.1, 0.2, 0.1, 0.2, (0, 0, 0), "wall", vx=0.01)
    screen = Block("s", 0.1, 0.3, 0.2, 0.9, (0, 0, 255), "screen", vx=0.1)
    scene = Scene(4, Backdrop((255, 255, 255), (0, 255, 0)), np.zeros(4), blocks=(screen,))
    frames = render_scene(scene, 40)
    blue = (frames[..., 2] == 255) & (frames[..., 0] == 0)
    for t in range(4):  # the screen covers view x [0.1 + 0.1 t, 0.3 + 0.1 t): columns 4 + 4 t to 11 + 4 t
        cols = np.flatnonzero(blue[t, 20])
        assert (cols.min(), cols.max()) == (4 + 4 * t, 11 + 4 * t), (t, cols)
    mirrored = mirror_scene(scene)
    assert mirrored.blocks[0].vx == -0.1
    assert np.abs(render_scene(mirrored, 40)[:, :, ::-1].astype(int) - frames).max() <= 1


# --- determinism and idempotence ------------------------------------------------------------------------


def test_same_seed_same_suite(suite: Path, tmp_path: Path) -> None:
    # Main alone: a split does not depend on which other splits are written
    again = _write(tmp_path / "again", SuiteSpec.tiny(seed=0, splits=("Main",)))
    assert (again / "Main" / "metadata.csv").read_bytes() == (suite / "Main" / "metadata.csv").read_bytes()
    for r in _rows(suite, "Main")[:8]:
        assert np.array_equal(decode_video(again / "Main" / r["file_name"]), _video(suite, "Main", r["name"]))

    other = _write(tmp_path / "other", SuiteSpec.tiny(seed=1, splits=("Main",)))
    assert {r["name"] for r in _rows(other, "Main")}.isdisjoint(r["name"] for r in _rows(suite, "Main"))


def test_rewriting_is_idempotent_and_guarded(tmp_path: Path) -> None:
    spec = SuiteSpec.tiny(splits=("HeldOut",))
    out = _write(tmp_path / "s", spec)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert _write(out, spec) == out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps  # nothing rewritten

    with pytest.raises(PjbenchError, match="other parameters"):
        _write(out, SuiteSpec.tiny(seed=3, splits=("HeldOut",)))
    _write(out, SuiteSpec.tiny(seed=3, splits=("HeldOut",)), overwrite=True)
    assert json.loads((out / "suite.json").read_text())["spec"]["seed"] == 3

    # an incomplete suite (a video lost) is written again
    victim = next((out / "HeldOut" / "Videos").iterdir())
    victim.unlink()
    _write(out, SuiteSpec.tiny(seed=3, splits=("HeldOut",)))
    assert victim.is_file()

    # an interrupted run (its marker still there) is redone from scratch
    (out / "suite.json").unlink()
    (out / ".suite-partial.json").write_text("{}")
    (out / "HeldOut" / "Videos" / "half-written.mp4").write_text("")
    _write(out, spec)
    assert not (out / ".suite-partial.json").exists()
    assert not (out / "HeldOut" / "Videos" / "half-written.mp4").exists()
    assert json.loads((out / "suite.json").read_text())["spec"] == spec.to_json()

    # folders this writer did not make are never deleted without overwrite=True
    foreign = tmp_path / "foreign"
    (foreign / "Main").mkdir(parents=True)
    (foreign / "Main" / "mine.txt").write_text("keep")
    with pytest.raises(PjbenchError, match="not a synthetic suite"):
        _write(foreign, spec)
    assert (foreign / "Main" / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize(
    "bad", [dict(resolution=63), dict(resolution=16), dict(n_frames=10), dict(splits=("Train",)), dict(scale=0)]
)
def test_spec_validation(bad: dict) -> None:
    with pytest.raises(PjbenchError):
        SuiteSpec(**bad)
