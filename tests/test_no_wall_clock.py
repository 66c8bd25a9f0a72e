"""No test asserts on wall-clock time: a loaded machine must not turn a correct build red. Speed belongs in
`pjbench perf` (benchmarks/perf.py); deadlines that only bound a wait loop are fine."""

import ast
from pathlib import Path

TIMERS = {"time", "perf_counter", "monotonic", "process_time", "perf_counter_ns", "monotonic_ns", "time_ns"}


def _is_timer_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return (isinstance(f, ast.Attribute) and f.attr in TIMERS and isinstance(f.value, ast.Name)
            and f.value.id == "time") or (isinstance(f, ast.Name) and f.id in TIMERS - {"time"})


def wall_clock_assertions(source: str) -> list[int]:
    """Line numbers of ``assert`` statements that read a clock, directly or through a name assigned from one
    (``t0 = time.perf_counter()``, ``elapsed = time.time() - t0``) in the same function or module."""
    tree = ast.parse(source)
    found = []
    for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]:
        timed: set[str] = set()
        body = list(ast.walk(scope))
        for node in body:  # names fed by a clock, to a fixed point (elapsed = now - t0)
            if isinstance(node, ast.Assign) and any(_is_timer_call(n) for n in ast.walk(node.value)):
                timed |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        changed = True
        while changed:
            changed = False
            for node in body:
                if isinstance(node, ast.Assign) and any(isinstance(n, ast.Name) and n.id in timed
                                                        for n in ast.walk(node.value)):
                    new = {t.id for t in node.targets if isinstance(t, ast.Name)} - timed
                    if new:
                        timed |= new
                        changed = True
        for node in body:
            if isinstance(node, ast.Assert) and any(
                    _is_timer_call(n) or (isinstance(n, ast.Name) and n.id in timed) for n in ast.walk(node.test)):
                found.append(node.lineno)
    return sorted(set(found))


def test_the_detector_finds_timing_asserts():
    assert wall_clock_assertions("import time\nt = time.perf_counter()\nf()\nassert time.perf_counter() - t < 3\n") == [4]
    assert wall_clock_assertions("import time\ndef g():\n    t0 = time.time()\n    el = time.time() - t0\n"
                                 "    assert el < 5\n") == [5]
    assert wall_clock_assertions("import time\ndeadline = time.time() + 9\nwhile time.time() < deadline:\n"
                                 "    pass\nassert x == 1\n") == []


def test_no_test_asserts_on_wall_clock_time():
    offenders = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        for line in wall_clock_assertions(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.name}:{line}")
    assert offenders == []
