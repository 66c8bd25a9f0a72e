"""The README's quick start is the contract with newcomers: exactly two commands, CI runs the second."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_quick_start_is_two_commands_and_ci_runs_the_second_verbatim():
    demo, tests = quick_start_commands()
    assert "\n" not in demo and "\n" not in tests
    assert demo.endswith("pjbench demo") and "pip install torch==2.13.0" in demo
    assert "pytest" in tests and tests.index("torch==2.14.1 torchvision==0.29.1") < tests.index("pip install -e")
    assert '".[test,vlm]"' in tests  # the transformers VLM backend is tested too
    assert tests in (ROOT / ".ci" / "run").read_text()
