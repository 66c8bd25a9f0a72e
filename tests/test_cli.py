"""CLI: every command has --help; user mistakes give one clear line and a non-zero exit, no traceback."""

import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cli import main

COMMANDS = ["eval", "list", "validate", "synth", "report", "demo"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(runner, cmd):
    res = runner.invoke(main, [cmd, "--help"])
    assert res.exit_code == 0 and "Usage:" in res.output


def test_list_shows_models_tasks_and_defaults(runner):
    res = runner.invoke(main, ["list"])
    assert res.exit_code == 0
    for name in ("vjepa2", "vjepa2-tiny-random", "pixel-copy-last", "pixel-linear", "intphys2"):
        assert name in res.output
    assert "facebook/vjepa2-vitl-fpc64-256" in res.output and "dev split Debug" in res.output


def _assert_clean_error(res, *needles):
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    for n in needles:
        assert n in res.output, res.output


def test_unknown_model_suggests(runner, tiny_suite, tmp_path):
    res = runner.invoke(main, ["eval", "--model", "vjepa-tiny-random", "--data-root", str(tiny_suite), "--out", str(tmp_path / "r")])
    _assert_clean_error(res, "unknown model", "Did you mean: vjepa2-tiny-random")


def test_missing_data_root(runner, tmp_path):
    res = runner.invoke(main, ["eval", "--model", "pixel-copy-last", "--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])
    _assert_clean_error(res, "nowhere")


def test_cuda_requested_without_gpu(runner, tiny_suite, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = runner.invoke(main, ["eval", "--model", "pixel-copy-last", "--data-root", str(tiny_suite), "--out", str(tmp_path / "r"), "--device", "cuda"])
    _assert_clean_error(res, "CUDA is not available")


def test_unknown_split_and_bad_contexts(runner, tiny_suite, tmp_path):
    res = runner.invoke(main, ["eval", "--model", "pixel-copy-last", "--data-root", str(tiny_suite), "--out", str(tmp_path / "r"), "--split", "Test"])
    _assert_clean_error(res, "Test")
    res = runner.invoke(main, ["eval", "--model", "pixel-copy-last", "--data-root", str(tiny_suite), "--out", str(tmp_path / "r"), "--contexts", "a,b"])
    _assert_clean_error(res, "comma-separated integers")


def test_checkpoint_for_parameter_free_model(runner, tiny_suite, tmp_path):
    res = runner.invoke(main, ["eval", "--model", "pixel-copy-last", "--checkpoint", "x/y", "--data-root", str(tiny_suite), "--out", str(tmp_path / "r")])
    _assert_clean_error(res, "parameter-free")


def test_report_on_missing_run_dir(runner, tmp_path):
    res = runner.invoke(main, ["report", str(tmp_path / "no-run"), "--out", str(tmp_path / "r.html")])
    _assert_clean_error(res, "no-run")


def test_validate_on_missing_dir(runner, tmp_path):
    res = runner.invoke(main, ["validate", "--data-root", str(tmp_path / "nothing")])
    _assert_clean_error(res, "nothing")


def _commands(cmd, path=("pjbench",)):
    import click

    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))


def test_every_command_and_option_has_help_text():
    import click

    missing = []
    for path, cmd in _commands(main):
        where = " ".join(path)
        if not (cmd.help or "").strip():
            missing.append(f"{where}: no command help")
        for p in cmd.params:
            if isinstance(p, click.Option) and not (p.help or "").strip() and p.name not in ("help", "version"):
                missing.append(f"{where} {'/'.join(p.opts)}")
            if isinstance(p, click.Argument) and p.human_readable_name not in (cmd.help or ""):
                missing.append(f"{where}: argument {p.human_readable_name} not described in the command help")
    assert missing == []


def test_top_help_names_every_benchmark_and_split_help_each_tasks_default(runner):
    from pjbench.benchmarks.tasks import TASKS

    res = runner.invoke(main, ["--help"])
    assert res.exit_code == 0 and "surprise track" not in res.output
    assert all(b in res.output for b in ("IntPhys 2", "MVPBench", "CausalVQA"))
    res = runner.invoke(main, ["eval", "--help"], terminal_width=400)
    text = " ".join(res.output.split())
    assert "Default: Main." not in text
    for e in TASKS.entries():
        assert f"{e.name}: {e.info['splits']} (default {e.info['default_split']})" in text


def test_unknown_model_arg_is_an_error_listing_the_accepted_keys(runner, tiny_suite, tmp_path):
    res = runner.invoke(main, ["eval", "--model", "vjepa2-tiny-random", "--model-arg", "layr=-4", "--data-root",
                               str(tiny_suite), "--out", str(tmp_path / "r"), "--dry-run"])
    _assert_clean_error(res, "Error:", "layr", "accepts: seed, layer")
    res = runner.invoke(main, ["eval", "--model", "pixel-copy-last", "--model-arg", "device=cuda", "--data-root",
                               str(tiny_suite), "--out", str(tmp_path / "r")])
    _assert_clean_error(res, "use --device")


def test_readouts_must_match_the_task(runner, tmp_path):
    # pixel-copy-last declares readouts "surprise" only; MVPBench is scored by a probe on features
    res = runner.invoke(main, ["eval", "--model", "pixel-copy-last", "--task", "mvpbench", "--data-root", str(tmp_path),
                               "--out", str(tmp_path / "r")])
    _assert_clean_error(res, "Error: model pixel-copy-last has readouts surprise; task mvpbench needs features")
    res = runner.invoke(main, ["eval", "--model", "pixel-patches", "--data-root", str(tmp_path), "--out", str(tmp_path / "r")])
    _assert_clean_error(res, "Error: model pixel-patches has readouts features; task intphys2 needs surprise")
    assert not (tmp_path / "r").exists()
