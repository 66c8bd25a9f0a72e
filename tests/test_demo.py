"""The main job, end to end at a tiny size: suite -> every offline model -> results -> HTML report."""

from click.testing import CliRunner

from pjbench.benchmarks.api import demo, offline_models
from pjbench.benchmarks.cli import main
from pjbench.benchmarks.demo import demo_specs, summary
from pjbench.benchmarks.results import load_results


def test_demo_end_to_end_tiny(tmp_path):
    out = tmp_path / "demo"
    # smaller than the demo's own settings (96-frame IntPhys 2 videos: one window each; a 3-fold, 3-epoch probe)
    kw = dict(scale=0.25, n_boot=200, workers=0, progress=False, synth_kwargs={"intphys2": {"n_frames": 96}},
              readout_options={"probe": {"folds": 3, "n_frames": 4, "pooled_grid": (2, 2, 2),
                                         "grid": {"lr": [1e-3], "weight_decay": [0.01], "epochs": [3]}}})
    lines = []
    report = demo(out, echo=lines.append, **kw)
    assert report == out / "report.html" and report.is_file()
    html = report.read_text()
    # every benchmark of the leaderboard has runs: no empty benchmark column
    surprise = offline_models()
    assert set(surprise) >= {"vjepa2-tiny-random", "pixel-copy-last", "pixel-linear"}
    for name in surprise:
        results = load_results(out / "runs" / "intphys2" / name)
        assert results.task["n_scored"] == results.task["n_items"] and results.task["split"] == "Main"
        assert results.protocol["context_selection"]["rule"] == "dev"
        assert name in html
    for task, metric in (("mvpbench", "pair_accuracy"), ("causalvqa", "paired_accuracy")):
        for name in ("pixel-patches", "vjepa2-tiny-random"):
            results = load_results(out / "runs" / task / name)
            assert results.protocol["readout"] == "probe"
            head, control = results.metric(metric), results.metric(f"control_video_blind/{metric}")
            assert head is not None and head.value is not None and control is not None and head.n > 0
            assert results.data["source"] == "synthetic"
        # the vlm readout's chance floor on the same suite
        floor = load_results(out / "runs" / task / "answer-random")
        assert floor.protocol["readout"] == "vlm" and floor.metric(metric).value is not None
    # the tiny random-init VLM (transformers backend, [vlm] extra) on every benchmark, flagged as a control
    for task in ("intphys2", "mvpbench", "causalvqa"):
        vlm = load_results(out / "runs" / task / "qwen2.5-vl-tiny-random")
        assert vlm.protocol["readout"] == "vlm" and vlm.model["backend"] == "transformers"
        assert vlm.model["extra"]["control"] is True and "likelihood" in vlm.protocol["parsers"]
    assert "qwen2.5-vl-tiny-random" in html
    for title in ("IntPhys 2", "MVPBench", "CausalVQA"):
        assert title in html
    assert "http://" not in html and "https://" not in html
    assert any("MVPBench (probe)" in line for line in lines) and lines[-1].startswith("[5/5] report")
    assert any("CausalVQA (vlm)" in line and "answer-random" in line for line in lines)
    # the text summary: one table per benchmark, the probe ones with their video-blind control
    text = "\n".join(summary(out))
    assert "IntPhys 2 (Main): pairwise accuracy (avg)" in text and "occluded" in text
    assert "MVPBench (full): pair accuracy" in text and "CausalVQA (debug): paired accuracy" in text
    assert text.count("video-blind control") == 2
    # running again reuses the suites and every finished item
    assert demo(out, **kw) == report
    assert load_results(out / "runs" / "intphys2" / "pixel-linear").task["n_from_previous_run"] > 0


def test_demo_benchmark_choice_and_refusals(tmp_path):
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "d"), "-b", "nope", "-q"])
    assert res.exit_code == 1 and "no demo for nope" in res.output and "Traceback" not in res.output
    specs = [sp.name for sp in demo_specs()]
    assert specs[:3] == ["intphys2", "mvpbench", "causalvqa"]  # from the task specs, in registry order
    assert "intphys2019" not in specs  # no demo plan, no synthetic writer


def test_synth_and_validate_commands(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["synth", "--out", str(tmp_path / "s"), "--scale", "0.25", "--resolution", "64", "--n-frames", "48"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["validate", "--data-root", str(tmp_path / "s"), "--window", "16"])
    assert res.exit_code == 0, res.output
    assert "0 error(s)" in res.output
    victim = sorted((tmp_path / "s" / "Main" / "Videos").glob("*.mp4"))[0]
    victim.unlink()
    res = runner.invoke(main, ["validate", "--data-root", str(tmp_path / "s"), "--window", "16"])
    assert res.exit_code == 1 and victim.stem in res.output and "Traceback" not in res.output


def test_demo_without_the_vlm_extra_says_how_to_get_it(monkeypatch):
    import sys

    from pjbench.benchmarks.demo import needs_vlm_extra

    plan = [(None, [("vlm", "answer-random"), ("vlm", "qwen2.5-vl-tiny-random")])]
    assert needs_vlm_extra(plan) == []  # the test environment has the extra
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if torchvision were not installed
    assert needs_vlm_extra(plan) == ["qwen2.5-vl-tiny-random"]
    from pjbench.encoders.hf_vlm import VLM_EXTRA_HINT, require_vlm_stack

    assert '.[vlm]' in VLM_EXTRA_HINT and "torchvision==0.29.1" in VLM_EXTRA_HINT
    import pytest

    from pjbench.benchmarks.errors import PjbenchError

    with pytest.raises(PjbenchError, match=r"\[vlm\] extra"):
        require_vlm_stack()
