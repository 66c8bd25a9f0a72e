"""MVPBench answer parsers: a model's answer -> candidate index (0 = A, 1 = B), or ``None`` (counted wrong).

Three named parsers; ``pjbench score --parser NAME`` picks one and the results record its name
(``protocol.parser``, ``conventions.parser``), so runs parsed differently are never silently compared:

- ``official`` (default): exactly the official scorer, ``extract_pred`` of ``tasks/mvp/utils.py`` in
  facebookresearch/minimal_video_pairs (the same rule as lmms-eval ``lmms_eval/tasks/mvp/utils.py``
  ``_extract_pred``): lower-case the text, find every match of ``(Answer|Assistant)?:?\\s*([AB])\\b``
  (case-insensitive), take the SECOND match when there are several, else the first; else a one-character
  answer ``a``/``b``; else wrong. Its quirks are kept: nothing anchors the letter on the left, so any word
  ending in "a"/"b" matches ("no idea" reads as A); "Answer: B because a ball falls" reads as A (second
  match: the article); a candidate TEXT is not a letter, so "Yes" is wrong (unless it ends in a or b);
- ``lenient``: pjbench's earlier behaviour: the exact candidate text (then case-insensitively), else the
  official rule. Use it for files that hold candidate texts (a leaderboard ``model_answer`` file);
- ``strict``: the prompt's own format ``Answer: X`` at the start of the response (whatever follows
  ignored), or the bare letter ending its line or sentence ("B", "B.", not the article of "A ball ..."),
  the letter in either case; anything else is wrong.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from pjbench.benchmarks.tasks import QAItem
from pjbench.benchmarks.paired import parse_with

__all__ = ["DEFAULT_PARSER", "PARSERS", "PARSER_RULES", "parse", "parse_lenient", "parse_official", "parse_strict"]

DEFAULT_PARSER = "official"

# Every part but the letter is optional and nothing anchors the letter on the left, so the pattern finds
# any "a"/"b" that ends a word ("a", "(B)", and the last letter of "idea"). Behaviour as in the official
# scorer, so that our numbers are the leaderboard's.
_OFFICIAL_RE = re.compile(r"(Answer|Assistant)?:?\s*([AB])\b", re.IGNORECASE)
# the labelled format, whatever follows; or the bare letter ending its line or sentence ("A ball rolls ..."
# starts with the article, not an answer)
_STRICT_RE = re.compile(r"\s*(?:Answer:\s*([AB])\b|([AB])(?=\s*$|\s*[.,;:!)\n]))", re.IGNORECASE)
_LETTERS = "ab"


def _text(answer: Any) -> str | None:
    """The answer as the official scorer sees it (the generated string); ``None`` for no answer."""
    if answer is None or isinstance(answer, bool):
        return None
    return str(answer)


def parse_official(answer: Any, item: QAItem | None = None) -> int | None:
    """The official ``extract_pred`` rule (module docstring); ``item`` is not used: the official scorer
    reads letters only."""
    text = _text(answer)
    if text is None:
        return None
    lowered = text.lower()
    matches = _OFFICIAL_RE.findall(lowered)
    if matches:
        return _LETTERS.index((matches[1] if len(matches) > 1 else matches[0])[1].lower())
    if len(lowered) == 1 and lowered in _LETTERS:  # pragma: no cover - the regex already matches a lone letter
        return _LETTERS.index(lowered)
    return None


def parse_lenient(answer: Any, item: QAItem) -> int | None:
    """The exact candidate text of ``item`` (what leaderboard files hold), then the same text
    case-insensitively (when that names one candidate), else :func:`parse_official`."""
    text = _text(answer)
    if text is None:
        return None
    text = text.strip()
    for match in (lambda c: c == text, lambda c: c.strip().casefold() == text.casefold()):
        hits = [j for j, c in enumerate(item.candidates) if match(c)]
        if len(hits) == 1:
            return hits[0]
    return parse_official(text, item)


def parse_strict(answer: Any, item: QAItem | None = None) -> int | None:
    """The format the official prompt asks for, at the START of the response: ``Answer: A`` / ``Answer: B``
    (what follows is ignored: "Answer: B because a ball falls" reads B, where the official rule reads A),
    or the bare letter ending its line or sentence ("A ball rolls off" is the article, no answer). Anything else (a letter later in the text, a candidate text,
    "(A)") is no answer."""
    text = _text(answer)
    m = _STRICT_RE.match(text) if text is not None else None
    return None if m is None else _LETTERS.index((m.group(1) or m.group(2)).lower())


PARSERS: dict[str, Callable[[Any, QAItem], int | None]] = {
    "official": parse_official, "lenient": parse_lenient, "strict": parse_strict,
}

#: One line per parser for the results' ``conventions`` block.
PARSER_RULES: dict[str, str] = {
    "official": "official (minimal_video_pairs tasks/mvp/utils.py extract_pred): regex "
                "(Answer|Assistant)?:?\\s*([AB])\\b on the lower-cased text, second match if several; "
                "candidate texts are not letters (wrong)",
    "lenient": "not official: exact candidate text, then case-insensitive text, else the official regex",
    "strict": "not official: 'Answer: A'/'Answer: B' at the start of the response (the rest ignored), or the bare "
              "letter ending its line or sentence",
}


def parse(answer: Any, item: QAItem, parser: str = DEFAULT_PARSER) -> int | None:
    """Candidate index of ``answer`` under the named parser (``official``, ``lenient``, ``strict``)."""
    return parse_with(PARSERS, parser, answer, item)
