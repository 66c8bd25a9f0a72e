"""The answer parsers of MVPBench and CausalVQA: one hand-written case per quirk of the official scorers.

Official rules: MVPBench ``extract_pred`` (minimal_video_pairs ``tasks/mvp/utils.py``); CausalVQA ``mcq_acc``
(CausalVQA ``tasks/utils.py``). ``lenient`` is pjbench's earlier behaviour, ``strict`` the letter format only.
"""

from pathlib import Path

import pytest

from pjbench.benchmarks.tasks import QAItem
from pjbench.causalvqa import parsers as cvqa
from pjbench.mvpbench import parsers as mvp


def mvp_item(c0="Yes", c1="No"):
    return QAItem(name="x_0", path=Path("x.mp4"), split="mini", label=0, pair_id="x", candidates=(c0, c1),
                  answer_keys=(c0, c1))


def cvqa_item(n=5, keys=("5", "4", "3", "2", "1")):
    texts = tuple(f"option {k}" for k in keys[:n])
    return QAItem(name="q/2", path=Path("v.mp4"), split="debug", label=0, pair_id="q", candidates=texts,
                  answer_keys=tuple(keys[:n]))


# ------------------------------------------------------------------------------------------ MVPBench


@pytest.mark.parametrize("text, expected", [
    ("A", 0), ("b", 1), (" B ", 1),
    ("The answer is B", 1),
    ("Answer: A", 0),
    ("(A) no (B) yes", 1),            # two matches: the SECOND one is used
    ("A. first, B. second, A", 1),    # three matches: still the second
    ("Answer: B because a ball falls", 0),  # second match = the article "a"
    ("Assistant: B", 1),
    ("banana", 0), ("no idea", 0),    # no left anchor: a word ending in "a" reads as A
    ("Yes", None), ("No", None),      # a candidate TEXT is not a letter: wrong under the official scorer
    ("C", None), ("", None), ("I don't know", None), (None, None), (True, None),
    (1, None),                        # a number is not a letter either
])
def test_mvp_official_follows_extract_pred(text, expected):
    assert mvp.parse_official(text, mvp_item()) == expected
    assert mvp.parse(text, mvp_item()) == expected  # official is the default


def test_mvp_lenient_reads_candidate_texts_first():
    item = mvp_item("Yes", "No")
    assert mvp.parse_lenient("Yes", item) == 0 and mvp.parse_lenient("no", item) == 1
    assert mvp.parse_lenient("Answer: B", item) == 1          # then the official rule
    assert mvp.parse_lenient("no idea", item) == 0            # ... quirks included
    # both candidates equal case-insensitively: the text names no single candidate, the regex decides
    assert mvp.parse_lenient("a", mvp_item("A", "a")) == 1    # exact text first
    assert mvp.parse_lenient("cannot tell", item) is None


@pytest.mark.parametrize("text, expected", [
    ("A", 0), ("b", 1), (" Answer: B \n", 1), ("answer: a", 0),
    ("Answer: B because a ball falls", 1), ("The answer is B", None), ("(A)", None), ("Yes", None), ("AB", None),
    ("B.", 1), ("A\nThe ball falls", 0),
    ("A ball rolls off the table, so the answer is B.", None),  # the article, not an answer (official: B)
])
def test_mvp_strict_takes_the_letter_format_only(text, expected):
    assert mvp.parse_strict(text, mvp_item()) == expected


def test_mvp_unknown_parser_names_the_choices():
    with pytest.raises(ValueError, match="official, lenient, strict"):
        mvp.parse("A", mvp_item(), "fuzzy")


# ------------------------------------------------------------------------------------------ CausalVQA


@pytest.mark.parametrize("text, expected", [
    ("B", 1), ("(c)", 2), ("Answer: E.", 4),
    ("I think B, no wait, D", 3),         # the LAST standalone letter
    ("It is a ball, so D", 3),
    ("So the ball is a", 0),              # the article counts as A
    ("C END (the person will pick a cup)", 0),  # the "Your Answer Letter" branch never runs: last letter "a"
    ("Your Answer Letter: C END", 2),     # ... so the requested format works only because C is the last letter
    ("option_B", 1),                      # '_' is punctuation there: replaced by a space
    ("option-b, c", 2),                   # a '-' beside no space but ', ' in the text: ',' removed, '-' spaced
    ("3", None), (3, None),               # an option number is not a letter: wrong
    ("Pour 1.5 cups", None), ("none of these", None), ("F", None), (None, None),
])
def test_cvqa_official_follows_mcq_acc(text, expected):
    assert cvqa.parse_official(text, cvqa_item()) == expected
    assert cvqa.parse(text, cvqa_item()) == expected


def test_cvqa_official_punctuation_rule_reads_the_original_text():
    # "-" with a space beside it ("a - b") is REMOVED everywhere, so "x-d" becomes "xd": no lone d.
    assert cvqa.parse_official("x-d - c", cvqa_item()) == 2
    # without a spaced "-" it is replaced by a space: "x d c" -> last letter c as well, but "x-d" alone -> d
    assert cvqa.parse_official("x-d", cvqa_item()) == 3
    assert cvqa.parse_official("x-d -", cvqa_item()) is None   # spaced "-" anywhere: "xd", no lone letter
    # a digit-comma-digit anywhere switches every punctuation mark to removal: "1,000 x/b" -> "1000 xb"
    assert cvqa.parse_official("1,000 x/b", cvqa_item()) is None
    assert cvqa.parse_official("1000 x/b", cvqa_item()) == 1


def test_cvqa_official_deletes_only_the_first_32_periods():
    # re.sub(..., re.UNICODE) passes 32 as the COUNT: "c.d" joins to "cd" among the first 32 periods only.
    early = "c.d" + " x." * 40        # the period of "c.d" is the first: deleted -> "cd", no lone letter
    late = " x." * 40 + " c.d"        # 40 periods before it: "c.d" keeps its period -> c, d standalone
    assert cvqa.parse_official(early, cvqa_item()) is None
    assert cvqa.parse_official(late, cvqa_item()) == 3


def test_cvqa_letter_past_the_options_is_wrong():
    assert cvqa.parse_official("E", cvqa_item(n=4)) is None
    assert cvqa.parse_official("D", cvqa_item(n=4)) == 3


def test_cvqa_lenient_reads_option_numbers_letters_and_texts():
    item = cvqa_item()  # answer keys 5, 4, 3, 2, 1
    assert cvqa.parse_lenient(2, item) == 3 and cvqa.parse_lenient("2", item) == 3 and cvqa.parse_lenient(2.0, item) == 3
    assert cvqa.parse_lenient("b", item) == 1
    assert cvqa.parse_lenient("OPTION 3", item) == 2                    # option text, case-insensitive
    assert cvqa.parse_lenient("I would say (C) because", item) == 2     # then the official rule
    assert cvqa.parse_lenient("no letter here", item) is None and cvqa.parse_lenient(None, item) is None


@pytest.mark.parametrize("text, expected", [
    ("C", 2), (" e ", 4), ("Your Answer Letter: C END", 2), ("Your Answer Letter: c", 2), ("B END", 1),
    ("C END (the person will pick a cup)", 2), ("3", None), ("(C)", None), ("Answer: C", None), ("F", None),
    ("A person picks up the cup. Your Answer Letter: C END", None), ("D.", 3), ("Your Answer Letter: B because", 1),
])
def test_cvqa_strict_takes_the_letter_format_only(text, expected):
    assert cvqa.parse_strict(text, cvqa_item()) == expected
