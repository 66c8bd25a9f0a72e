"""What the report knows about each benchmark: its task spec (headline metric, chance level, breakdown axes,
cross table, published reference numbers with their sources), read from the task registry, where each
benchmark declares it once (:class:`pjbench.benchmarks.taskspec.TaskSpec`). A new task, built in or a
plugin, shows up in the overview leaderboard with its spec; a results file of a task that is not
registered still gets its own section (headline = its first ``all`` metric).

Published numbers are quoted as reported, in percent, and are never mixed with measured rows: they were
obtained under other protocols (often with the context length picked on the test set).
"""

from __future__ import annotations

from typing import Iterator, Mapping

from pjbench.benchmarks.tasks import TASKS, spec_of
from pjbench.benchmarks.taskspec import Reference, TaskSpec

BenchmarkSpec = TaskSpec  # the name the report modules use

__all__ = ["BENCHMARKS", "MACRO_TASKS", "BenchmarkSpec", "Reference", "spec_for"]


class _Specs(Mapping[str, TaskSpec]):
    """``{task name: spec}`` of every registered task, in registry order (read when first used)."""

    def _all(self) -> dict[str, TaskSpec]:
        return {s.name: s for s in TASKS.specs()}

    def __getitem__(self, name: str) -> TaskSpec:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


class _MacroTasks:
    """The benchmarks whose headlines the overview's cross-benchmark macro mean averages (spec flag)."""

    def _names(self) -> tuple[str, ...]:
        return tuple(s.name for s in TASKS.specs() if s.in_overview_macro)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __len__(self) -> int:
        return len(self._names())


BENCHMARKS: Mapping[str, TaskSpec] = _Specs()
MACRO_TASKS = _MacroTasks()


def spec_for(task: str) -> TaskSpec | None:
    return spec_of(task)
