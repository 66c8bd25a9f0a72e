"""CausalVQA answer parsers: a model's answer -> candidate index (0 = A ... 4 = E), or ``None`` (wrong).

Three named parsers; ``pjbench score --parser NAME`` picks one and the results record its name
(``protocol.parser``, ``conventions.parser``), so runs parsed differently are never silently compared:

- ``official`` (default): exactly the official scorer, ``mcq_acc`` of facebookresearch/CausalVQA
  ``tasks/utils.py`` (taken from MVBench). Its first branch, a ``(?<=Your Answer Letter:)`` look-behind
  used with ``re.match``, can never match (a look-behind at position 0), so what runs is the fallback:
  newlines and tabs to spaces, strip, punctuation removed or replaced by a space (removed when the
  character has a space beside it anywhere in the text, or when the text holds a digit-comma-digit), at
  most the first 32 periods not followed by a digit deleted (``periodStrip.sub("", text, re.UNICODE)``
  passes ``re.UNICODE`` = 32 as the COUNT), quotes and brackets stripped from the ends, lower-cased; then the
  LAST standalone letter a-e wins. No letter: wrong. So "C END (the person will pick a cup)" reads as A
  (the article "a"), an option number "3" is wrong, and so is the option's text unless it holds a lone letter;
- ``lenient``: pjbench's earlier behaviour: an option number (``3``, ``"3"``: what ``correct1``/``correct2``
  and pjbench's own answer files use), a lone letter, the exact option text (case-insensitive), else the
  official rule;
- ``strict``: the prompt's format ``Your Answer Letter: C`` at the start (whatever follows ignored), or a
  bare letter A-E followed by ``END`` or ending its line or sentence (not the article of "A person ...");
  anything else is wrong.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from pjbench.benchmarks.tasks import QAItem
from pjbench.causalvqa.loader import LETTERS
from pjbench.benchmarks.paired import parse_with

__all__ = ["DEFAULT_PARSER", "PARSERS", "PARSER_RULES", "parse", "parse_lenient", "parse_official", "parse_strict"]

DEFAULT_PARSER = "official"

_PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
# sic: "(?!<=\d)" is a look-AHEAD for the text "<=digit", not a look-behind; in effect: any "." not before a digit
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_PERIOD_COUNT = int(re.UNICODE)  # the official call passes re.UNICODE as sub()'s count argument: 32
_LETTER_RE = re.compile(r"\b([A-E])\b", re.IGNORECASE)
# the labelled format, whatever follows; or the bare letter followed by END or ending its line or sentence
# ("A person picks up ..." starts with the article, not an answer)
_STRICT_RE = re.compile(r"\s*(?:Your Answer Letter:\s*([A-E])\b|([A-E])(?=\s+END\b|\s*$|\s*[.,;:!)\n]))",
                        re.IGNORECASE)


def _text(answer: Any) -> str | None:
    if answer is None or isinstance(answer, bool):
        return None
    return str(answer)


def _strip_punctuation(text: str) -> str:
    out = text
    has_comma_number = _COMMA_STRIP.search(text) is not None
    for p in _PUNCT:
        # The test reads the ORIGINAL text, the replacement edits the running one (as the official code does).
        if (p + " " in text or " " + p in text) or has_comma_number:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_COUNT)


def _index(letter: str, item: QAItem | None) -> int | None:
    idx = LETTERS.index(letter.upper())
    n = len(item.candidates) if item is not None and item.candidates else len(LETTERS)
    return idx if idx < n else None  # a letter past the last option can never equal the gold letter


def parse_official(answer: Any, item: QAItem | None = None) -> int | None:
    """The official ``mcq_acc`` reading of a free-text answer (module docstring)."""
    text = _text(answer)
    if text is None:
        return None
    s = text.replace("\n", " ").replace("\t", " ").strip()
    s = _strip_punctuation(s).strip("'").strip('"').strip(")").strip("(").strip().lower()
    found = _LETTER_RE.findall(s)
    return _index(found[-1], item) if found else None


def parse_lenient(answer: Any, item: QAItem) -> int | None:
    """Option number, lone letter, exact option text (case-insensitive), else :func:`parse_official`."""
    if answer is None or isinstance(answer, bool):
        return None
    if isinstance(answer, float) and answer.is_integer():
        answer = int(answer)
    text = str(answer).strip()
    if text in item.answer_keys:
        return item.answer_keys.index(text)
    if len(text) == 1 and text.upper() in LETTERS[: len(item.candidates)]:
        return LETTERS.index(text.upper())
    hits = [j for j, c in enumerate(item.candidates) if c.strip().casefold() == text.casefold()]
    if len(hits) == 1:
        return hits[0]
    return parse_official(text, item)


def parse_strict(answer: Any, item: QAItem | None = None) -> int | None:
    """``Your Answer Letter: X`` at the start of the response, whatever follows ignored, or a bare letter
    followed by ``END`` or ending its line or sentence: "C END (the person will pick a cup)" reads C, where
    the official rule reads A (the article); "A person picks up the cup" is no answer."""
    text = _text(answer)
    m = _STRICT_RE.match(text) if text is not None else None
    return None if m is None else _index(m.group(1) or m.group(2), item)


PARSERS: dict[str, Callable[[Any, QAItem], int | None]] = {
    "official": parse_official, "lenient": parse_lenient, "strict": parse_strict,
}

#: One line per parser for the results' ``conventions`` block.
PARSER_RULES: dict[str, str] = {
    "official": "official (CausalVQA tasks/utils.py mcq_acc): punctuation handling, then the last standalone "
                "letter A-E; option numbers and option texts without a lone letter are wrong",
    "lenient": "not official: option number, lone letter, exact option text (case-insensitive), else the "
               "official rule",
    "strict": "not official: 'Your Answer Letter: X' at the start of the response (the rest ignored), or a bare "
              "letter followed by END or ending its line or sentence",
}


def parse(answer: Any, item: QAItem, parser: str = DEFAULT_PARSER) -> int | None:
    """Candidate index of ``answer`` under the named parser (``official``, ``lenient``, ``strict``)."""
    return parse_with(PARSERS, parser, answer, item)
