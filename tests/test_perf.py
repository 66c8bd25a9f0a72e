"""The performance benchmark's plumbing (quick mode: structure only; its timings mean nothing)."""

import json

import pytest
import torch

from pjbench.benchmarks import perf


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_quick_run_reports_every_requested_measurement(tmp_path, monkeypatch):
    monkeypatch.setenv("PJBENCH_CACHE", str(tmp_path / "cache"))
    result = perf.run_perf(tmp_path, quick=True, only=["decode", "surprise"])
    rows = {m["name"]: m for m in result["measurements"]}
    assert set(rows) == {"decode", "surprise_flops", "surprise_wall"}
    for m in rows.values():
        assert m["status"] is None, m["status"]
        assert m["value"] > 0 and m["passed"] in (True, False) and m["goal"] in (">= 3x",)
    # the FLOP ratio is measured on paths that computed the same numbers, and the counts match the plan
    detail = rows["surprise_flops"]["detail"]
    assert detail["flops_reference"] > detail["flops_fast"] > 0
    assert detail["fast_counts"]["tokens_encoded"] == detail["plan_total"]["tokens_encoded"]
    assert detail["reference_counts"]["tokens_encoded"] == detail["plan_reference"]["tokens_encoded"]
    assert rows["decode"]["detail"]["kept_frames"] == 10
    assert json.loads((tmp_path / perf.PERF_FILE).read_text())["quick"] is True
    table = perf.format_table(result)
    assert "surprise_flops" in table and "machine: " in table and "quick mode" in table


def test_a_failing_measurement_is_recorded_not_raised(tmp_path, monkeypatch):
    def broken(out, quick):
        raise RuntimeError("no decoder")

    monkeypatch.setattr(perf, "MEASUREMENTS", {"decode": broken})
    result = perf.run_perf(tmp_path, quick=True)
    (row,) = result["measurements"]
    assert row["value"] is None and row["passed"] is None and "no decoder" in row["status"]
    assert "note: decode: error: RuntimeError: no decoder" in perf.format_table(result)


def test_measurement_goals():
    assert perf.Measurement("a", "", 3.0, 3.0, "ge").passed is True
    assert perf.Measurement("a", "", 1.3, 1.25, "le").passed is False
    m = perf.Measurement("a", "", None, 50.0, "ge", status="pending: cache")
    assert m.passed is None and m.goal == ">= 50x"


def test_statistics_timings_moved_out_of_the_tests(tmp_path):
    # The bootstrap and metric timings the tests used to assert on are perf rows (seconds, with a goal).
    result = perf.run_perf(tmp_path, quick=True, only=["bootstrap", "metrics"])
    rows = {m["name"]: m for m in result["measurements"]}
    assert set(rows) == {"bootstrap", "metrics"}
    assert rows["bootstrap"]["goal"] == "<= 3 s" and rows["metrics"]["goal"] == "<= 5 s"
    assert all(m["status"] is None and m["value"] > 0 and m["unit"] == "s" for m in rows.values())
    assert rows["metrics"]["detail"]["rows"] > 10
    assert "bootstrap" in perf.format_table(result)
