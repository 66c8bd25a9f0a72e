"""`--help` of every command (and of `cache ls` / `cache clear`) exits 0 and shows its options: the ones
the README documents (written out here by hand) and every option the command declares."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from pjbench.benchmarks.cli import main

# options the README's CLI section documents for each command (by hand, not read from the code)
DOCUMENTED = {
    "eval": ["--model", "--checkpoint", "--task", "--data-root", "--split", "--readout", "--predictions", "--out",
             "--limit", "--window", "--stride", "--contexts", "--max-context-mode", "--no-max-context-mode",
             "--context", "--dev-split", "--n-boot", "--overwrite", "--frame-step", "--dry-run", "--batch-size",
             "--dtype", "--compile", "--model-arg", "--device", "--folds", "--frames", "--pooled-grid",
             "--text-encoder", "--no-cache", "--shard", "--barrier-timeout", "--slurm-partition", "--nodes",
             "--slurm-gpus-per-node", "--slurm-time", "--slurm-account", "--wait", "--protocol"],
    "ablate": ["--model", "--data-root", "--out", "--deviation", "--model-arg", "--limit"],
    "merge": ["--out"],
    "list": ["--what"],
    "cache": [],
    "cache ls": ["--model"],
    "cache clear": ["--model"],
    "validate": ["--task", "--data-root", "--model", "--window", "--frame-step", "--frames", "--no-videos",
                 "--videos-root"],
    "score": ["--task", "--data-root", "--predictions", "--out", "--split", "--parser", "--min-coverage",
              "--allow-missing"],
    "synth": ["--out", "--benchmark", "--seed", "--scale"],
    "report": ["--out", "--allow-unverified"],
    "compare": [],
    "perf": ["--quick"],
    "demo": ["--out", "--scale"],
}
ARGUMENTS = {"report": ["RUN_DIRS"], "compare": ["RUN_A", "RUN_B"]}


def _command(path: str) -> click.Command:
    cmd = main
    for part in path.split():
        cmd = cmd.commands[part]
    return cmd


def test_every_command_is_covered():
    names = set(main.commands)
    assert names == {p for p in DOCUMENTED if " " not in p}, names
    assert set(main.commands["cache"].commands) == {"ls", "clear"}


@pytest.mark.parametrize("path", list(DOCUMENTED))
def test_help_exits_0_and_shows_the_options(path):
    res = CliRunner().invoke(main, [*path.split(), "--help"], terminal_width=200, prog_name="pjbench")
    assert res.exit_code == 0, res.output
    assert res.exception is None
    assert res.output.startswith(f"Usage: pjbench {path} "), res.output[:200]
    assert "Options:" in res.output and "--help" in res.output
    text = res.output
    for opt in DOCUMENTED[path]:
        assert opt in text, f"pjbench {path} --help does not show {opt}"
    for arg in ARGUMENTS.get(path, []):
        assert arg in text, f"pjbench {path} --help does not show the argument {arg}"
    # every option the command declares is shown (none hidden by accident)
    for p in _command(path).params:
        if isinstance(p, click.Option) and not p.hidden:
            for opt in p.opts:
                assert opt in text, f"pjbench {path} --help does not show {opt}"


def test_cache_group_help_lists_its_subcommands():
    res = CliRunner().invoke(main, ["cache", "--help"])
    assert res.exit_code == 0
    commands = res.output.split("Commands:", 1)[1]
    assert "ls" in commands and "clear" in commands


def test_short_help_flag_works_too():
    res = CliRunner().invoke(main, ["eval", "-h"])
    assert res.exit_code == 0 and "--data-root" in res.output


def test_unknown_option_is_a_usage_error_pointing_at_help():
    res = CliRunner().invoke(main, ["eval", "--no-such-option"], prog_name="pjbench")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "No such option '--no-such-option'" in res.output and "pjbench eval --help" in res.output
