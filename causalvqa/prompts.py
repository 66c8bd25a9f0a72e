"""CausalVQA's official video-language model protocol: the user text, frame sampling and decoding
(facebookresearch/CausalVQA ``tasks/utils.py`` ``causalvqa_doc_to_text``, ``tasks/_default_template_yaml``,
``scripts/prep_mllm_eval.py``; the answer parsers are :mod:`pjbench.causalvqa.parsers`).

The official text is ``"Question:" + question + "\\nOption:\\n"``, one ``"(X) option\\n"`` line per option
(letters A-E by position, option text from the 4th character of ``"N. text"``), then the post-prompt. The
template also defines a long ``pre_prompt`` asking for ``Your Answer Letter: X END``, but
``causalvqa_doc_to_text`` never uses it, so the model is never told that format; pjbench sends what the
official code sends. The post-prompt below is the YAML double-quoted scalar after line folding (each line
break with its surrounding spaces becomes one space).
"""

from __future__ import annotations

import string
from typing import Sequence

from pjbench.encoders.answerer import Chat, FrameSampling, Generation

__all__ = ["GENERATION", "POST_PROMPT", "SAMPLING", "SAMPLING_API", "chat", "chat_for", "continuations", "user_text"]

POST_PROMPT = (
    "\nEven when unsure, **always** supply a best guess from the options A-E for Your Answer Letter. Please double "
    "check to ensure your response fits the requested format. **Do not output extra text**. Missing the END line "
    "terminator is a common mistake you have made in the past. Outputting more than requested is a mistake. "
    "**Only give the answer letter in the requested format**. Another common mistake is not returning Your Answer "
    "Letter in the correct format. Another common mistake is returning things other than Your Answer Letter. "
    "Follow the format. A final common mistake is choosing to not answer a question."
)
#: open models: 16 frames uniformly over the clip
SAMPLING = FrameSampling(n_frames=16)
#: GPT-4o / Gemini: 10 frames
SAMPLING_API = FrameSampling(n_frames=10)
#: greedy (temperature 0), 1024 new tokens (the template's generation_kwargs)
GENERATION = Generation(max_new_tokens=1024)


def user_text(question: str, options: Sequence[str]) -> str:
    """The official user text of one asking: ``options`` are the option texts in the asking's order
    (``choices1`` or ``choices2``), lettered A, B, ... by position."""
    if not 1 <= len(options) <= 26:
        raise ValueError(f"CausalVQA askings have 5 options, got {len(options)}")
    lines = "".join(f"({string.ascii_uppercase[i]}) {text}\n" for i, text in enumerate(options))
    return "Question:" + question + "\nOption:\n" + lines + POST_PROMPT


def chat(question: str, options: Sequence[str]) -> Chat:
    """The official chat: no system message; the video, then :func:`user_text`."""
    return Chat(user=user_text(question, options))


def chat_for(item) -> Chat:
    """The official chat of one asking (a :class:`~pjbench.benchmarks.tasks.QAItem`: ``<qid>/1`` carries
    ``choices1``'s option texts in their order, ``<qid>/2`` those of ``choices2``)."""
    return chat(item.question, item.candidates)


def continuations(item) -> list[str]:
    """Option-likelihood scoring: the bare answer letter of each option (the prompt asks for the letter
    alone), index = option index in the asking's order."""
    return [string.ascii_uppercase[i] for i in range(len(item.candidates))]
