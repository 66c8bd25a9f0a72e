"""Building a report reads results files only: in a fresh interpreter, rendering a report of runs of all
three benchmarks imports no torch, no model code, no readout and no task module beyond the task specs."""

import ast
import json
import subprocess
import sys

import pandas as pd
from click.testing import CliRunner

from pjbench.benchmarks.cli import main

ALLOWED_TASK_MODULES = {"pjbench.intphys2", "pjbench.mvpbench", "pjbench.causalvqa",
                        "pjbench.intphys2.spec", "pjbench.mvpbench.spec", "pjbench.causalvqa.spec"}
HEAVY = ("torch", "transformers", "av", "sklearn", "pandas", "pjbench.encoders", "pjbench.probes",
         "pjbench.synthetic", "pjbench.benchmarks.runner", "pjbench.benchmarks.readouts")


def _ok(res):
    assert res.exit_code == 0, res.output


def test_building_a_report_imports_only_results_code_and_task_specs(tiny_suite, tmp_path):
    cli = CliRunner()
    runs = []
    out = tmp_path / "intphys2"
    _ok(cli.invoke(main, ["eval", "-m", "pixel-copy-last", "--data-root", str(tiny_suite), "--out", str(out),
                          "--window", "16", "--limit", "2", "--n-boot", "200", "--workers", "0", "-q", "--no-cache"]))
    runs.append(out)
    for bench in ("mvpbench", "causalvqa"):
        data = tmp_path / f"data-{bench}"
        _ok(cli.invoke(main, ["synth", "-b", bench, "--out", str(data), "--scale", "0.25"]))
        lines = []
        if bench == "mvpbench":
            for f in sorted(data.glob("*/mini-*.parquet")):
                for r in pd.read_parquet(f).itertuples():
                    lines.append({"id": r.video_id, "answer": "AB"[ast.literal_eval(r.candidates).index(r.answer)]})
        else:
            meta = next(data.glob("**/debug_metadata.csv"))
            for r in pd.read_csv(meta).itertuples():
                lines.append({"id": f"{r.qid}/1", "answer": "A"})
                lines.append({"id": f"{r.qid}/2", "answer": "B"})
        preds = tmp_path / f"{bench}.jsonl"
        preds.write_text("".join(json.dumps(x) + "\n" for x in lines))
        out = tmp_path / bench
        _ok(cli.invoke(main, ["score", "-t", bench, "--data-root", str(data), "-p", str(preds), "--out", str(out),
                              "--n-boot", "200"]))
        runs.append(out)
    code = (
        "import json, sys\n"
        "from pjbench.reports import build_report\n"
        f"build_report({[str(r) for r in runs]!r}, {str(tmp_path / 'r.html')!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    mods = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    heavy = sorted(m for m in mods if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert not heavy, f"building a report imported {heavy}"
    tasks = sorted(m for m in mods if m.split(".")[:2] in (["pjbench", "intphys2"], ["pjbench", "mvpbench"],
                                                          ["pjbench", "causalvqa"]))
    assert set(tasks) <= ALLOWED_TASK_MODULES, f"task code imported: {sorted(set(tasks) - ALLOWED_TASK_MODULES)}"
    assert {"pjbench.intphys2.spec", "pjbench.mvpbench.spec", "pjbench.causalvqa.spec"} <= mods  # the specs are read
    html = (tmp_path / "r.html").read_text()
    assert "MVPBench" in html and "CausalVQA" in html and "IntPhys 2" in html


def test_a_folder_of_runs_is_searched_two_levels_down(tmp_path):
    from pjbench.reports.builder import expand_run_dirs

    for rel in ("runs/intphys2/a", "runs/intphys2/b", "runs/mvpbench/a", "runs/x/.shards/0-of-2", "runs/x/y/z/deep"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "results.json").write_text("{}")
    (tmp_path / "runs" / "empty").mkdir()
    found = [p.relative_to(tmp_path).as_posix() for p in expand_run_dirs([tmp_path / "runs"])]
    assert found == ["runs/intphys2/a", "runs/intphys2/b", "runs/mvpbench/a"]  # demo layout; no hidden, no deeper
