"""The surprise runner's speed options (batch size / auto back-off, dtype, compile, pinned memory) and
`eval --dry-run` (plan_eval): the options change no number they should not, and the plan counts what a run does."""

import dataclasses
import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cli import main
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.results import load_items
from pjbench.benchmarks.runner import evaluate, plan_eval, sampled_frame_count
from pjbench.benchmarks.tasks import TASKS
from pjbench.benchmarks.video import decode_video
from pjbench.encoders.registry import MODELS
from pjbench.probes.surprise import SurpriseConfig, plan_surprise

FAST = dict(window=16, n_boot=200, progress=False, workers=0)
DEBUG = dict(FAST, split="Debug")  # 12 videos, no separate dev split: the quickest whole run
ONE_CONTEXT = dict(contexts=(8,), max_context_mode=False)  # the runner's wiring needs no context grid


def _surprise(out):
    return {r.name: r.surprise for r in load_items(out)}


def test_auto_batch_size_backs_off_once_per_run_and_changes_nothing(tiny_suite, tmp_path, monkeypatch):
    # Main limited to 2 pairs (4 videos) plus its whole dev split Debug: a sizer shared by two splits
    fixed, _ = evaluate("pixel-copy-last", tiny_suite, tmp_path / "fixed", batch_size=4, cache=False, limit=2,
                        **FAST, **ONE_CONTEXT)
    assert fixed.protocol["batch_size"] == {"batch_size": 4, "final_batch_size": 4, "backoffs": []}

    from pjbench.benchmarks import surprise_scoring as runner

    real = runner.video_surprise
    tried = []

    def fragile(model, clip, cfg, batch_size):  # a device that holds 4 windows at a time
        tried.append(batch_size)
        if batch_size > 4:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, clip, cfg, batch_size=batch_size)

    monkeypatch.setattr(runner, "video_surprise", fragile)
    auto, _ = evaluate("pixel-copy-last", tiny_suite, tmp_path / "auto", batch_size="auto", cache=False, limit=2,
                       **FAST, **ONE_CONTEXT)
    # one sizer for the dev and the reported split: it backs off on the first video only, then the size sticks
    assert auto.protocol["batch_size"] == {"batch_size": "auto", "final_batch_size": 4,
                                           "backoffs": [[32, 16], [16, 8], [8, 4]]}
    n_videos = auto.task["n_scored"] + auto.task["n_dev_scored"]
    assert tried[:4] == [32, 16, 8, 4] and tried[4:] == [4] * (n_videos - 1)
    # the calls that ran out of memory left nothing behind: bit-identical to a fixed run at the size that fit
    assert auto.task["n_dev_scored"] > 0 and _surprise(tmp_path / "auto") == _surprise(tmp_path / "fixed")
    assert [m.value for m in auto.metrics] == [m.value for m in fixed.metrics]


def test_fixed_batch_size_out_of_memory_is_a_clear_error(tiny_suite, tmp_path, monkeypatch):
    from pjbench.benchmarks import surprise_scoring as runner

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(runner, "video_surprise", oom)
    with pytest.raises(PjbenchError, match="--batch-size auto"):
        evaluate("pixel-copy-last", tiny_suite, tmp_path / "r", batch_size=16, cache=False, **DEBUG)


def test_dtype_is_recorded_and_keys_the_cache(tiny_suite, tmp_path):
    fp32, _ = evaluate("pixel-copy-last", tiny_suite, tmp_path / "fp32", **DEBUG, **ONE_CONTEXT)
    bf16, _ = evaluate("pixel-copy-last", tiny_suite, tmp_path / "bf16", dtype="bf16", compile=True, **DEBUG,
                       **ONE_CONTEXT)
    assert fp32.protocol["dtype"] == "fp32" and bf16.protocol["dtype"] == "bf16"
    config = json.loads((tmp_path / "bf16" / "run_config.json").read_text())
    assert config["protocol"]["dtype"] == "bf16"
    # bf16 numbers are other numbers: a separate cache store, nothing served from the fp32 entries
    assert bf16.model["cache"]["store"] != fp32.model["cache"]["store"]
    assert bf16.task["n_from_cache"] == 0 and bf16.task["n_computed"] == bf16.task["n_scored"]
    # the pixel baselines have nothing to compile: asked for, recorded as not done
    assert bf16.provenance["compile"] == {"requested": True, "compiled": False}
    assert fp32.provenance["compile"] == {"requested": False, "compiled": False}
    assert fp32.provenance["pin_memory"] is False  # only for CUDA
    with pytest.raises(PjbenchError, match="different configuration.*protocol"):
        evaluate("pixel-copy-last", tiny_suite, tmp_path / "fp32", dtype="bf16", **DEBUG, **ONE_CONTEXT)


def test_fp16_is_refused_on_cpu_before_anything_runs(tiny_suite, tmp_path):
    with pytest.raises(PjbenchError, match="fp16 runs on CUDA GPUs only.*bf16"):
        evaluate("pixel-copy-last", tiny_suite, tmp_path / "r", dtype="fp16", **DEBUG)
    with pytest.raises(PjbenchError, match="fp16"):
        plan_eval("pixel-copy-last", tiny_suite, tmp_path / "r", dtype="fp16", **DEBUG)
    assert not (tmp_path / "r").exists()
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-copy-last", "--data-root", str(tiny_suite), "--out",
                                    str(tmp_path / "r"), "--dtype", "fp16", "-q"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "Error: --dtype fp16 runs on CUDA GPUs only; on cpu use --dtype bf16" in res.output


def _decoded_frames(items, pp):
    """Sampled frame counts by really decoding (what the run sees), not from the headers."""
    return [decode_video(it.path, frame_step=pp.frame_step, sample_fps=pp.sample_fps).shape[0] for it in items]


@pytest.mark.parametrize("frame_step", [None, 5])  # the model's sample_fps rule, and a fixed step
def test_plan_eval_counts_what_decoding_gives(tiny_suite, frame_step):
    plan = plan_eval("pixel-copy-last", tiny_suite, None, frame_step=frame_step, progress=False, window=12)
    pp = MODELS.build("pixel-copy-last").preprocessing
    if frame_step is not None:  # as the runner does: a fixed step replaces fps-based sampling
        pp = dataclasses.replace(pp, frame_step=frame_step, sample_fps=None)
    cfg = SurpriseConfig.for_model(pp, window=12)
    task = TASKS.build("intphys2")
    assert [s["role"] for s in plan["splits"]] == ["reported", "dev"]
    for s in plan["splits"]:
        items = task.load(tiny_suite, s["split"])
        frames = _decoded_frames(items, pp)
        assert list(s["n_frames"].values()) == frames
        expected = plan_surprise(frames, cfg, pp, batch_size=8)
        assert {k: s["work"][k] for k in expected["total"]} == expected["total"]
        assert s["work"]["videos"] == len(items) and s["unreadable"] == []
        assert s["to_compute"] == s["work"] and s["in_out"] == s["in_cache"] == 0
    assert plan["total"]["work"]["windows"] == sum(s["work"]["windows"] for s in plan["splits"])


def _write_png(path, image):
    import av

    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_sampled_frame_count_of_a_png_folder_and_of_bad_files(tmp_path):
    folder = tmp_path / "movie"
    folder.mkdir()
    for t in range(7):
        _write_png(folder / f"frame_{t}.png", np.full((8, 8, 3), t * 30, dtype=np.uint8))
    pp = MODELS.build("pixel-copy-last").preprocessing
    pp2 = dataclasses.replace(pp, frame_step=2)  # sample_fps is ignored for frame folders
    assert sampled_frame_count(folder, pp2) == decode_video(folder, frame_step=2, sample_fps=pp2.sample_fps).shape[0] == 4
    from pjbench.benchmarks.errors import VideoError

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(VideoError, match="bad.mp4"):
        sampled_frame_count(bad, pp)
    with pytest.raises(VideoError, match="not found"):
        sampled_frame_count(tmp_path / "missing.mp4", pp)


def test_plan_eval_lists_unreadable_videos(tiny_suite, tmp_path):
    data = tmp_path / "IntPhys2"
    shutil.copytree(tiny_suite, data)
    victim = sorted((data / "Debug" / "Videos").glob("*.mp4"))[0]
    victim.write_bytes(victim.read_bytes()[:200])
    plan = plan_eval("pixel-copy-last", data, None, **DEBUG)
    (s,) = plan["splits"]
    assert [u["name"] for u in s["unreadable"]] == [victim.stem] and victim.name in s["unreadable"][0]["reason"]
    assert s["work"]["videos"] == s["to_compute"]["videos"] == s["videos"] - 1


def _dry_run(tmp_path, out, *extra):
    res = CliRunner().invoke(main, ["eval", "-m", "pixel-copy-last", "--data-root", str(tmp_path), "--out", str(out),
                                    "--split", "Debug", "--window", "16", "--dry-run", "-q", *extra])
    assert res.exit_code == 0, res.output
    return res.output


def _line(output, prefix):
    return next(line.strip() for line in output.splitlines() if line.strip().startswith(prefix))


def test_cli_dry_run_prints_the_plan_and_the_hits_and_writes_nothing(tiny_suite, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("PJBENCH_CACHE", str(cache))
    out = tmp_path / "run"
    text = _dry_run(tiny_suite, out, "--batch-size", "2")
    assert not out.exists(), "--dry-run writes nothing to --out"
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*")), "nor to the feature cache"

    pp = MODELS.build("pixel-copy-last").preprocessing
    items = TASKS.build("intphys2").load(tiny_suite, "Debug")
    total = plan_surprise(_decoded_frames(items, pp), SurpriseConfig.for_model(pp, window=16), pp, batch_size=2)["total"]
    expected = (f"{len(items)} videos, {total['windows']:,} windows, {total['encoder_calls']:,} encoder calls, "
                f"{total['predictor_calls']:,} predictor calls, {total['context_passes']:,} context passes, "
                f"{total['tokens_encoded']:,} tokens encoded, {total['predictor_tokens']:,} predictor tokens")
    assert _line(text, "planned:") == f"planned:    {expected}"
    assert _line(text, "to compute:") == f"to compute: {expected}"
    assert _line(text, "done:") == "done:       0 in --out (partial/shard files), 0 in the feature cache"
    assert "batch size 2" in text and "dtype fp32 on cpu" in text and f"--out {out}: new" in text

    evaluate("pixel-copy-last", tiny_suite, out, batch_size=2, **DEBUG)
    again = _dry_run(tiny_suite, out)
    assert _line(again, "done:") == f"done:       {len(items)} in --out (partial/shard files), 0 in the feature cache"
    assert "resumes (same configuration)" in again
    assert _line(again, "to compute:").startswith("to compute: 0 videos, 0 windows")
    fresh = _dry_run(tiny_suite, tmp_path / "other")
    assert _line(fresh, "done:") == f"done:       0 in --out (partial/shard files), {len(items)} in the feature cache"
    assert not (tmp_path / "other").exists()
    # another dtype is another cache store and another configuration of --out
    bf16 = _dry_run(tiny_suite, out, "--dtype", "bf16")
    assert re.search(r"done: +0 in --out .*, 0 in the feature cache", bf16)
    assert "holds a different configuration" in bf16


def test_cli_speed_options_are_parsed_and_refused_where_they_do_not_apply(tiny_suite, tmp_path):
    runner = CliRunner()
    base = ["eval", "-m", "pixel-copy-last", "--data-root", str(tiny_suite), "--out", str(tmp_path / "r")]
    res = runner.invoke(main, [*base, "--batch-size", "0"])
    assert res.exit_code == 2 and "positive integer or 'auto'" in res.output
    res = runner.invoke(main, [*base, "--dry-run", "--batch-size", "AUTO", "-q", "--split", "Debug", "--window", "16"])
    assert res.exit_code == 0 and "batch size auto (counted at the starting size 32" in res.output
    res = runner.invoke(main, [*base, "--task", "mvpbench", "--dry-run"])
    assert res.exit_code == 1 and "model pixel-copy-last has readouts surprise; task mvpbench needs features" in res.output
    res = runner.invoke(main, [*base, "--task", "mvpbench", "--dtype", "bf16", "--compile"])
    assert res.exit_code == 1 and "--dtype, --compile: options of surprise tasks" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "r").exists()


def test_cli_dry_run_estimates_the_time_from_a_warm_up(tiny_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("PJBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    text = _dry_run(tiny_suite, out, "--batch-size", "2")
    line = _line(text, "estimated")
    assert re.fullmatch(r"estimated ~\d+\.\d min of decoding and forward passes \(~\d+ s, from a warm-up of 2 windows "
                        r"of [0-9a-f]{64}\.mp4 on cpu: .*\)", line), line
    assert not out.exists() and not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
    evaluate("pixel-copy-last", tiny_suite, out, batch_size=2, **DEBUG)
    assert _line(_dry_run(tiny_suite, out), "estimated") == (
        "estimated: nothing to compute (every video is in --out or the feature cache; only metrics are redone)")


def test_probe_dry_run_plans_feature_encoding_and_fits(tmp_path):
    from pjbench.benchmarks.api import evaluate, synth
    from pjbench.probes.text import LearnedTextEncoder

    data = synth(tmp_path / "mvp", benchmark="mvpbench", scale=0.25, progress=False)
    args = ["eval", "-m", "pixel-patches", "--task", "mvpbench", "--data-root", str(data), "--out", str(tmp_path / "r"),
            "--frames", "4", "--pooled-grid", "2,2,2", "--folds", "3", "--dry-run"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "dry run: pixel-patches on mvpbench/mini (probe readout); 3-fold cross-validation" in res.output
    m = re.search(r"distinct videos: (\d+) \((\d+) in the feature cache, (\d+) to encode, (\d+) missing\)", res.output)
    n_videos, cached, todo, missing = map(int, m.groups())
    assert cached == 0 and todo + missing == n_videos and missing > 0  # the synthetic release leaves some out
    assert "probe: 4 (lr, weight decay) settings x epochs 10,25, 15 fits per probe, 30 in all (controls: video_blind)" in res.output
    assert not (tmp_path / "r").exists(), "a dry run writes nothing"
    evaluate("pixel-patches", data, tmp_path / "real", task="mvpbench", n_frames=4, pooled_grid=(2, 2, 2), folds=3,
             text_encoder=LearnedTextEncoder(dim=8, n_buckets=256), grid={"lr": [1e-2], "weight_decay": [0.01],
             "epochs": [2]}, n_boot=100, progress=False, workers=0)
    res = CliRunner().invoke(main, args)
    assert f"({todo} in the feature cache, 0 to encode, {missing} missing)" in res.output, res.output
