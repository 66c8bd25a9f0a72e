"""``leaderboard.csv``, ``leaderboard.json`` and ``leaderboard.md`` next to the HTML report, from the same
:class:`~pjbench.reports.overview.Board` the page shows. Values are percentages with one decimal in the
Markdown table and fractions (full precision) in CSV and JSON; missing cells are empty / ``null``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pjbench.benchmarks.results import atomic_write_text
from pjbench.reports import format as fmt
from pjbench.reports.overview import Board, BoardCell

CSV_FIELDS = ("model", "kind", "checkpoint", "benchmark", "task", "split", "metric", "aggregation", "value", "ci_low",
              "ci_high", "n", "unit", "chance", "top_group", "status", "protocol_issues", "source", "run_dir")


def _ckpt(text: str) -> str:
    return "" if text == fmt.MISSING else text


def _cell_record(cell: BoardCell) -> dict:
    return {"value": cell.value, "ci_low": cell.ci_low, "ci_high": cell.ci_high, "n": cell.n, "unit": cell.unit,
            "top_group": cell.in_top if cell.status else None, "status": cell.status or None,
            "protocol_issues": cell.issues, "run_dir": cell.run_dir or None}


def board_records(board: Board) -> dict:
    cols = [{"benchmark": c.title, "task": c.task, "split": c.split, "metric": c.metric_name,
             "aggregation": c.aggregation, "chance": c.chance, "unit": c.unit} for c in board.columns]
    rows = []
    for r in board.rows:
        cells = [dict(_cell_record(cell), **{"task": c.task, "split": c.split})
                 for c, cell in zip(board.columns, r.cells) if cell.present]
        rows.append({"model": r.label, "kind": r.kind, "checkpoint": _ckpt(r.checkpoint), "results": cells,
                     "macro": _cell_record(r.macro) if r.macro.present else None})
    refs = []
    for ref in board.references:
        for c, (text, source) in zip(board.columns, ref.cells):
            if text:
                refs.append({"label": ref.label, "task": c.task, "split": c.split, "metric": c.metric_name,
                             "value": round(float(text) / 100, 6), "source": source})
    return {"columns": cols, "rows": rows, "published_references": refs, "significance_test": board.test_text,
            "macro": "mean of the IntPhys 2, MVPBench and CausalVQA headline values; CI combines the three CIs "
                     "as independent normal errors"}


def to_json(board: Board) -> str:
    return json.dumps(board_records(board), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_csv(board: Board) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in board.rows:
        for c, cell in zip(board.columns, r.cells):
            if not cell.present:
                continue
            rec = _cell_record(cell)
            w.writerow({"model": r.label, "kind": r.kind, "checkpoint": _ckpt(r.checkpoint), "benchmark": c.title,
                        "task": c.task, "split": c.split, "metric": c.metric_name, "aggregation": c.aggregation or "",
                        "chance": c.chance if c.chance is not None else "",
                        **{k: ("" if rec[k] is None else rec[k]) for k in ("value", "ci_low", "ci_high", "n", "unit",
                                                                        "top_group", "status", "run_dir")},
                        "protocol_issues": "; ".join(cell.issues), "source": "measured"})
        if r.macro.present:
            m = r.macro
            w.writerow({"model": r.label, "kind": r.kind, "checkpoint": _ckpt(r.checkpoint), "benchmark": "macro mean",
                        "task": "macro", "value": m.value, "ci_low": "" if m.ci_low is None else m.ci_low,
                        "ci_high": "" if m.ci_high is None else m.ci_high, "n": m.n, "unit": m.unit,
                        "source": "measured (normal-approximation CI)"})
    for ref in board.references:
        for c, (text, source) in zip(board.columns, ref.cells):
            if text:
                w.writerow({"model": ref.label, "kind": "published", "benchmark": c.title, "task": c.task,
                            "split": c.split, "metric": c.metric_name, "aggregation": c.aggregation or "",
                            "value": round(float(text) / 100, 6), "source": source})
    return buf.getvalue()


def _md(text: str) -> str:
    """Table-safe text: pipes and newlines would break the row; angle brackets stay literal."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
            .replace(">", "&gt;"))


def to_markdown(board: Board) -> str:
    heads = ["Model"] + [f"{c.title} ({c.split}) {c.metric}" for c in board.columns]
    if board.has_macro:
        heads.append("Macro mean")
    lines = ["| " + " | ".join(_md(h) for h in heads) + " |", "|" + "---|" + "---:|" * (len(heads) - 1)]

    def cell(c: BoardCell) -> str:
        if not c.present:
            return ""
        if c.value is None:
            return fmt.MISSING
        text = f"{fmt.pct(c.value)} {c.ci}".strip()
        if c.n is not None:
            text += f" (n={c.n})"
        if c.in_top:
            text = f"**{text}**"
        if c.issues:
            text += " ⚠"
        return text

    for r in board.rows:
        name = _md(r.label) + ("" if r.kind == "model" else f" *({r.kind})*")
        vals = [cell(c) for c in r.cells] + ([cell(r.macro)] if board.has_macro else [])
        lines.append("| " + " | ".join([name] + vals) + " |")
    lines.append("| Chance | " + " | ".join(board.chance + ([""] if board.has_macro else [])) + " |")
    out = "\n".join(lines) + "\n\n"
    out += ("Percent, 95 % cluster-bootstrap CI and n. **Bold**: top group (not significantly different from the "
            f"leader). {board.test_text} ⚠: protocol differs from the other runs.\n")
    if board.references:
        out += "\nPublished numbers (other protocols; not measured here, not ranked):\n\n"
        for ref in board.references:
            parts = [f"{c.title} {text}" for c, (text, _) in zip(board.columns, ref.cells) if text]
            out += f"- {_md(ref.label)}: {', '.join(parts)} ({_md('; '.join(ref.sources))})\n"
    return out


def write_exports(board: Board, directory: str | Path) -> list[Path]:
    d = Path(directory)
    paths = []
    for name, text in (("leaderboard.csv", to_csv(board)), ("leaderboard.json", to_json(board)),
                       ("leaderboard.md", to_markdown(board))):
        atomic_write_text(d / name, text)
        paths.append(d / name)
    return paths
