"""The main job, end to end at a tiny size: suite -> every offline model -> results -> HTML report."""

from click.testing import CliRunner

from pjbench.benchmarks.api import demo, offline_models
from pjbench.benchmarks.cli import main
from pjbench.benchmarks.results import load_results


def test_demo_end_to_end_tiny(tmp_path):
    out = tmp_path / "demo"
    # 96 frames at 12 fps -> 48 frames at 6 fps: exactly one 48-frame window per video
    report = demo(out, scale=0.25, n_boot=200, workers=0, progress=False,
                  synth_kwargs={"resolution": 64, "n_frames": 96})
    assert report == out / "report.html" and report.is_file()
    html = report.read_text()
    models = offline_models()
    assert set(models) >= {"vjepa2-tiny-random", "pixel-copy-last", "pixel-linear"}
    for name in models:
        results = load_results(out / "runs" / name)
        assert results.task["n_scored"] == results.task["n_items"]
        assert results.protocol["context_selection"]["rule"] == "dev"
        assert name in html
    assert "http://" not in html and "https://" not in html
    # running again reuses the suite and every finished item
    report2 = demo(out, scale=0.25, n_boot=200, workers=0, progress=False, synth_kwargs={"resolution": 64, "n_frames": 96})
    assert report2 == report
    assert load_results(out / "runs" / "pixel-linear").task["n_from_previous_run"] > 0


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
