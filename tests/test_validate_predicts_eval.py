"""`pjbench validate` predicts what eval skips or changes under a model's protocol (frames after sampling vs
the window, non-square centre crop, variable frame rate), and eval records those conditions per item."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from click.testing import CliRunner

from pjbench.benchmarks.api import validate
from pjbench.benchmarks.cli import main
from pjbench.benchmarks.conditions import file_conditions, frame_conditions, model_protocol
from pjbench.benchmarks.results import load_items
from pjbench.benchmarks.runner import evaluate
from pjbench.benchmarks.video import write_video
from pjbench.intphys2.loader import COLUMNS
from test_video import write_vfr


def _name(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


def _moving(n: int, h: int = 32, w: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)


# scene -> (possible video, impossible video); 12 fps, so the 6 fps protocol keeps every 2nd frame
VIDEOS = {
    "one_frame": lambda p: write_video(p, _moving(1), fps=12),            # 1 sampled frame
    "sixty": lambda p: write_video(p, _moving(60, seed=1), fps=12),       # 30 sampled: < one 48-frame window
    "good": lambda p: write_video(p, _moving(120, seed=2), fps=12),       # 60 sampled
    "good2": lambda p: write_video(p, _moving(120, seed=3), fps=12),
    "wide": lambda p: write_video(p, _moving(120, 36, 64, seed=4), fps=12),  # 16:9 like 1920x1080: 44 % cut
    "vfr": lambda p: write_vfr(p, [round(1000 * t) for t in np.cumsum([0] + [0.05, 0.15] * 60)][:121]),
}
PAIRS = [("0", "good", "one_frame"), ("1", "sixty", "wide"), ("2", "vfr", "good2")]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release") / "IntPhys2"
    main_dir = root / "Main"
    (main_dir / "Videos").mkdir(parents=True)
    rows, by_kind = [],  {}
    for scene, possible, impossible in PAIRS:
        for kind, type_ in ((possible, "1_Possible"), (impossible, "1_Impossible")):
            name = _name(f"{scene}/{type_}")
            VIDEOS[kind](main_dir / "Videos" / f"{name}.mp4")
            by_kind[kind] = name
            rows.append(f"{scene},{name},Videos/{name}.mp4,FixedJumpSolidity,solidity,BasicLevel_0,{type_},None,Easy,Fixed")
    (main_dir / "metadata.csv").write_text("\n".join([",".join(COLUMNS), *rows]) + "\n")
    return root, by_kind


def test_conditions_of_frames_and_files(release):
    root, by_kind = release
    assert frame_conditions(1920, 1080, False) == ["non_square:crop 44%"]
    assert frame_conditions(512, 512, True) == ["vfr"]
    videos = root / "Main" / "Videos"
    assert file_conditions(videos / f"{by_kind['wide']}.mp4") == ["non_square:crop 44%"]
    assert file_conditions(videos / f"{by_kind['vfr']}.mp4") == ["vfr"]
    assert file_conditions(videos / f"{by_kind['good']}.mp4") == []
    proto = model_protocol(task="intphys2")
    assert (proto.model, proto.window, proto.sample_fps) == ("vjepa2", 48, 6.0)


def test_validate_reports_what_eval_will_skip_and_change(release):
    root, by_kind = release
    report = validate("intphys2", root)
    errors, warnings = "\n".join(report.errors), "\n".join(report.warnings)
    # too few frames for one 48-frame window at 6 fps: errors naming the video
    assert f"{by_kind['one_frame']}.mp4: 1 frame(s) after sampling at 6 fps (1 decoded), fewer than one " \
           "48-frame window of vjepa2: eval skips it" in errors
    assert f"{by_kind['sixty']}.mp4: 30 frame(s) after sampling at 6 fps (60 decoded)" in errors
    assert by_kind["good"] not in errors and by_kind["wide"] not in errors
    # non-square: a warning saying how much the centre crop cuts away; variable frame rate: a warning
    assert f"{by_kind['wide']}.mp4: 64x36 is not square: eval centre-crops it to 36x36 (44% of the width is cut away)" \
        in warnings
    assert f"{by_kind['vfr']}.mp4: variable frame rate: eval samples it by presentation time at 6 fps" in warnings
    main_counts = report.counts["Main"]
    assert (main_counts["too_short_videos"], main_counts["non_square_videos"], main_counts["vfr_videos"]) == (2, 1, 1)
    assert report.counts["model protocol"].startswith("vjepa2: 48-frame windows at 6 fps")
    # another protocol, other predictions: 16-frame windows fit the 60-frame video, not the 1-frame one
    short = validate("intphys2", root, model="videomae-tiny-random")  # 8-frame windows
    assert short.counts["Main"]["too_short_videos"] == 1 and by_kind["one_frame"] in "\n".join(short.errors)
    assert validate("intphys2", root, window=16).counts["Main"]["too_short_videos"] == 1


def test_validate_cli_exits_non_zero_and_names_the_videos(release):
    root, by_kind = release
    res = CliRunner().invoke(main, ["validate", "--data-root", str(root), "--model", "pixel-copy-last"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "model protocol: pixel-copy-last: 48-frame windows at 6 fps, 32 px square" in res.output
    assert by_kind["one_frame"] in res.output and by_kind["sixty"] in res.output and "44% of the width" in res.output
    assert "2 error(s)" in res.output


def test_eval_skips_what_validate_predicted_and_records_the_conditions(release, tmp_path):
    root, by_kind = release
    predicted = validate("intphys2", root, model="pixel-copy-last")
    too_short = {n for n in by_kind.values() if n in "\n".join(predicted.errors)}
    results, _ = evaluate("pixel-copy-last", root, tmp_path / "run", split="Main", n_boot=100, workers=0,
                          progress=False, cache_dir=tmp_path / "cache")
    assert {s["name"] for s in results.task["skipped"]} == too_short
    conditions = {r.name: r.conditions for r in load_items(tmp_path / "run")}
    assert conditions[by_kind["wide"]] == ["non_square:crop 44%"]
    assert conditions[by_kind["vfr"]] == ["vfr"]
    assert conditions[by_kind["good"]] == [] and conditions[by_kind["good2"]] == []
    assert results.task["conditions"] == {"non_square": 1, "vfr": 1}
    # served from the feature cache, the conditions are the same
    again, _ = evaluate("pixel-copy-last", root, tmp_path / "again", split="Main", n_boot=100, workers=0,
                        progress=False, cache_dir=tmp_path / "cache")
    assert again.task["n_from_cache"] == again.task["n_scored"] and again.task["conditions"] == results.task["conditions"]


def test_validate_intphys2019_frame_folders_against_the_window(tmp_path):
    from test_intphys2_loader import make_2019_dev

    dev = make_2019_dev(tmp_path / "data", scenes=("01", "02", "03"), frames=12)
    report = validate("intphys2019", dev)  # vjepa2: every 10th PNG -> 2 frames, not one 48-frame window
    assert not report.ok and report.counts["dev"]["too_short_videos"] == 12
    assert "2 frame(s) after sampling every 10 frame(s) (12 decoded)" in report.errors[0]
    fits = validate("intphys2019", dev, frame_step=1, window=8)  # what the README's 2019 command uses
    assert fits.ok, fits.errors


def test_dry_run_counts_of_a_vfr_video_match_its_decoding(release):
    from pjbench.benchmarks.runner import sampled_frame_count
    from pjbench.benchmarks.video import decode_video
    from pjbench.encoders.registry import MODELS

    root, by_kind = release
    path = root / "Main" / "Videos" / f"{by_kind['vfr']}.mp4"
    pp = MODELS.build("pixel-copy-last").preprocessing  # 6 fps
    assert sampled_frame_count(path, pp) == len(decode_video(path, sample_fps=pp.sample_fps)) == 73  # 0 to 12 s at 6 fps, both ends


def test_validate_refuses_a_model_eval_would_refuse(tmp_path):
    res = CliRunner().invoke(main, ["validate", "--task", "mvpbench", "--data-root", str(tmp_path), "--model",
                                    "pixel-copy-last"])
    assert res.exit_code == 1 and "Error: model pixel-copy-last has readouts surprise; task mvpbench needs features" \
        in res.output
