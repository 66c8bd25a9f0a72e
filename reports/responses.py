"""What the report shows of a ``vlm`` run's answers: the parsers' agreement and a few example responses
(every string is escaped by the template's autoescape). Reads results files only."""

from __future__ import annotations

__all__ = ["example_responses", "parser_text"]


def parser_text(run) -> str:
    """A ``vlm`` run's parser agreement: which parser the headline uses, the unparseable answers per parser
    and the items each other parser reads differently ("" for other readouts)."""
    a = run.results.task.get("answers") if run.results.protocol.get("readout") == "vlm" else None
    if not isinstance(a, dict):
        return ""
    unp = a.get("unparseable") or {}
    dis = a.get("parser_disagreements") or {}
    def count(n):  # per prompt (IntPhys 2): {"1": 0, "2": 3} -> "0/3 (prompts 1/2)"
        return f"{'/'.join(map(str, n.values()))} (prompts {'/'.join(n)})" if isinstance(n, dict) else str(n)

    return (f"headline read by the {a.get('parser')} parser; unparseable: "
            + ", ".join(f"{p} {count(n)}" for p, n in unp.items())
            + "; read differently from it: " + (", ".join(f"{p} {n}" for p, n in dis.items()) or "none"))


def example_responses(run, k: int = 3) -> list[dict]:
    """Up to ``k`` items of a ``vlm`` run with their prompt, raw response and each parser's reading
    (the right answers first, then the wrong ones); the template escapes every string."""
    rows = [r for r in (run.items or []) if getattr(r, "response", None)]
    if not rows:
        return []
    if rows[0].response.get("prompts"):  # yes/no per prompt (IntPhys 2): the first prompt's exchange
        words = {1: "possible", 0: "impossible", None: "-"}
        out = []
        for r in rows[:k]:
            key = sorted(r.response["prompts"])[0]
            a = r.response["prompts"][key]
            out.append({"name": f"{r.name} (prompt {key})", "prompt": f"{a.get('system') or ''}\n{a.get('prompt') or ''}",
                        "text": a.get("text") or "",
                        "parsed": {p: words.get(v, str(v)) for p, v in (a.get("parsed") or {}).items()},
                        "right": words.get(r.label, "?")})
        return out
    picked = [r for r in rows if r.correct][: (k + 1) // 2]
    picked += [r for r in rows if not r.correct][: k - len(picked)]
    letters = "ABCDEFGHIJ"
    return [{"name": r.name, "prompt": r.response.get("prompt") or "", "text": r.response.get("text") or "",
             "parsed": {p: (letters[i] if isinstance(i, int) and 0 <= i < len(letters) else "-")
                        for p, i in (r.response.get("parsed") or {}).items()},
             "right": letters[r.label] if isinstance(r.label, int) and 0 <= r.label < len(letters) else "?"}
            for r in picked]
