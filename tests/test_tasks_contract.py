"""Contract tests over every registered task."""

import pytest

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.tasks import TASKS, QATask, SurpriseTask, Task, ValidationReport

NAMES = TASKS.names()


@pytest.mark.parametrize("name", NAMES)
def test_task_implements_the_protocol_and_matches_its_registry_entry(name):
    task = TASKS.build(name)
    assert isinstance(task, Task)
    entry = TASKS.get(name)
    assert task.name == name and task.description
    assert task.readout == entry.info["readout"]
    assert task.default_split in task.splits
    assert ", ".join(task.splits) == entry.info["splits"]
    assert task.dev_split == entry.info["dev_split"]
    for split in task.splits:
        assert split not in task.dev_splits_for(split), "a split must never be its own dev split"
        assert all(dev in task.splits for dev in task.dev_splits_for(split))


@pytest.mark.parametrize("name", NAMES)
def test_task_implements_the_protocol_of_its_readout(name):
    task = TASKS.build(name)
    if task.readout == "surprise":
        assert isinstance(task, SurpriseTask) and task.selection_criterion
    elif task.readout == "probe":
        assert isinstance(task, QATask) and task.n_choices >= 2
        assert callable(task.parse_answer) and callable(task.write_submission)
    else:
        pytest.fail(f"unknown readout {task.readout!r}")


@pytest.mark.parametrize("name", NAMES)
def test_missing_data_root_is_a_clear_error(name, tmp_path):
    task = TASKS.build(name)
    with pytest.raises(PjbenchError, match="nowhere"):
        task.load(tmp_path / "nowhere", task.default_split)
    report = task.validate(tmp_path / "nowhere", check_videos=False)
    assert isinstance(report, ValidationReport) and not report.ok
    assert not task.has_split(tmp_path / "nowhere", task.default_split)


@pytest.mark.parametrize("name", NAMES)
def test_metrics_of_no_records_do_not_crash(name):
    assert isinstance(TASKS.build(name).metrics([], n_boot=100, seed=0), list)
