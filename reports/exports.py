"""``leaderboard.csv``, ``leaderboard.json`` and ``leaderboard.md`` next to the HTML report, from the same
:class:`~pjbench.reports.overview.Board` the page shows. Values are percentages with one decimal in the
Markdown table and fractions (full precision) in CSV and JSON; missing cells are empty / ``null``.

Every file names the data source of each number (``data_source``: synthetic / real) and says that published
numbers, measured on the real benchmarks, are not comparable with synthetic-suite runs. Names pass through
:func:`pjbench.reports.trust.clean` (bidi controls shown as ``[U+202E]``); CSV text cells that a spreadsheet
would run as a formula get a leading ``'`` (:func:`pjbench.reports.trust.csv_cell`)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pjbench.benchmarks.results import atomic_write_text
from pjbench.reports import format as fmt
from pjbench.reports import trust
from pjbench.reports.catalog import BENCHMARKS, MACRO_TASKS
from pjbench.reports.overview import Board, BoardCell

CSV_FIELDS = ("model", "kind", "checkpoint", "benchmark", "task", "split", "metric", "aggregation", "value", "ci_low",
              "ci_high", "n", "unit", "chance", "top_group", "status", "protocol_issues", "source", "run_dir",
              "data_source", "params", "verified")
NOT_COMPARABLE = ("not comparable: synthetic data. The measured runs used pjbench's synthetic suite; published "
                  "numbers were measured on the real benchmarks")


def _ckpt(text: str) -> str:
    return "" if text == fmt.MISSING else text


def _cell_record(cell: BoardCell) -> dict:
    return {"value": cell.value, "ci_low": cell.ci_low, "ci_high": cell.ci_high, "n": cell.n, "unit": cell.unit,
            "top_group": cell.in_top if cell.status else None, "status": cell.status or None,
            "protocol_issues": cell.issues, "run_dir": cell.run_dir or None, "data_source": cell.data_source or None,
            "verified": not cell.integrity, "integrity_issues": cell.integrity}


def board_records(board: Board) -> dict:
    cols = [{"benchmark": c.title, "task": c.task, "split": c.split, "metric": c.metric_name,
             "aggregation": c.aggregation, "chance": c.chance, "unit": c.unit, "data_source": c.data_source}
            for c in board.columns]
    rows = []
    for r in board.rows:
        cells = [dict(_cell_record(cell), **{"task": c.task, "split": c.split})
                 for c, cell in zip(board.columns, r.cells) if cell.present]
        rows.append({"model": r.label, "kind": r.kind, "checkpoint": _ckpt(r.checkpoint), "params": _ckpt(r.params),
                     "synthetic_data": r.synthetic, "results": cells,
                     "macro": _cell_record(r.macro) if r.macro.present else None})
    refs = []
    for ref in board.references:
        for c, (text, source) in zip(board.columns, ref.cells):
            if text:
                refs.append({"label": ref.label, "task": c.task, "split": c.split, "metric": c.metric_name,
                             "value": round(float(text) / 100, 6), "source": source, "data_source": "real",
                             "comparable": not board.synthetic})
    return {"columns": cols, "rows": rows, "published_references": refs,
            "published_references_note": NOT_COMPARABLE if board.synthetic else
            "other protocols; not measured here, not ranked", "significance_test": board.test_text,
            "macro": f"mean of the {', '.join(BENCHMARKS[t].title for t in MACRO_TASKS)} headline values; CI "
                     "combines their CIs as independent normal errors"}


def to_json(board: Board) -> str:
    return json.dumps(trust.clean_deep(board_records(board)), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_csv(board: Board) -> str:
    buf = io.StringIO()
    out = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    out.writeheader()

    class _Safe:  # every text cell defused on its way out
        @staticmethod
        def writerow(row: dict) -> None:
            out.writerow({k: trust.csv_cell(v) for k, v in row.items()})

    w = _Safe()
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
                        "protocol_issues": "; ".join(cell.issues), "source": "measured",
                        "data_source": cell.data_source, "params": _ckpt(r.params),
                        "verified": "no: " + "; ".join(cell.integrity) if cell.integrity else "yes"})
        if r.macro.present:
            m = r.macro
            w.writerow({"model": r.label, "kind": r.kind, "checkpoint": _ckpt(r.checkpoint), "benchmark": "macro mean",
                        "task": "macro", "value": m.value, "ci_low": "" if m.ci_low is None else m.ci_low,
                        "ci_high": "" if m.ci_high is None else m.ci_high, "n": m.n, "unit": m.unit,
                        "source": "measured (normal-approximation CI)",
                        "data_source": "synthetic" if r.synthetic else "real"})
    for ref in board.references:
        for c, (text, source) in zip(board.columns, ref.cells):
            if text:
                w.writerow({"model": ref.label, "kind": "published", "benchmark": c.title, "task": c.task,
                            "split": c.split, "metric": c.metric_name, "aggregation": c.aggregation or "",
                            "value": round(float(text) / 100, 6),
                            "source": source + (f" ({NOT_COMPARABLE})" if board.synthetic else ""),
                            "data_source": "real (published)"})
    return buf.getvalue()


def _md(text: str) -> str:
    """Table-safe text: pipes and newlines would break the row; angle brackets stay literal."""
    return (trust.clean(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
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
        name = _md(r.label) + ("" if r.kind == "model" else f" *({r.kind})*") + (" `synthetic`" if r.synthetic else "")
        name += " ✖ unverified" if r.unverified else ""
        vals = [cell(c) for c in r.cells] + ([cell(r.macro)] if board.has_macro else [])
        lines.append("| " + " | ".join([name] + vals) + " |")
    lines.append("| Chance | " + " | ".join(board.chance + ([""] if board.has_macro else [])) + " |")
    out = "\n".join(lines) + "\n\n"
    out += ("Percent, 95 % cluster-bootstrap CI and n. **Bold**: top group (not significantly different from the "
            f"leader). {board.test_text} ⚠: protocol differs from the other runs.\n")
    if any(c.flat for r in board.rows for c in r.cells):
        out += "Zero-width interval ([x, x]): all resamples equal, every resampled pair scored the same.\n"
    if board.synthetic:
        out += "\n`synthetic`: measured on pjbench's synthetic suite (`pjbench synth`), not on the released benchmark.\n"
    if board.references:
        out += ("\nPublished numbers (real benchmarks; " + (NOT_COMPARABLE + "; " if board.synthetic else "")
                + "other protocols; not measured here, not ranked):\n\n")
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
