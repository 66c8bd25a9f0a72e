"""MVPBench's official video-language model protocol: the user text, frame sampling and decoding
(facebookresearch/minimal_video_pairs ``tasks/mvp/utils.py`` ``mvp_doc_to_text`` and
``_default_template_yaml``; the answer parsers are :mod:`pjbench.mvpbench.parsers`).

The official text is ``"Question: " + question + "\\nOption:\\n(A) c0\\n(B) c1" + post_prompt``; its
``pre_prompt`` is defined but never used (commented out of ``mvp_doc_to_text``), so it is not sent here
either. No system message.
"""

from __future__ import annotations

from typing import Sequence

from pjbench.encoders.answerer import Chat, FrameSampling, Generation

__all__ = ["GENERATION", "POST_PROMPT", "SAMPLING", "chat", "chat_for", "continuations", "user_text"]

POST_PROMPT = " \nEven when unsure, always answer with a single letter from A or B, format exactly like: 'Answer: A/B'."
#: 16 frames uniformly over the video (the paper's open-model setting; Qwen2-VL max_pixels 151200,
#: Qwen2.5-VL 602112 go with each model's registry entry)
SAMPLING = FrameSampling(n_frames=16)
#: greedy; the official task sets no max_new_tokens (the harness's model default applies): pjbench uses 64,
#: ample for "Answer: A" and a sentence after it, and records it
GENERATION = Generation(max_new_tokens=64)


def user_text(question: str, candidates: Sequence[str]) -> str:
    """The official user text of a 2-candidate item, character for character (note the space before the
    post-prompt's newline)."""
    if len(candidates) != 2:
        raise ValueError(f"MVPBench items have 2 candidates, got {len(candidates)}")
    return "Question: " + question + "\nOption:\n" + f"(A) {candidates[0]}\n(B) {candidates[1]}" + POST_PROMPT


def chat(question: str, candidates: Sequence[str]) -> Chat:
    """The official chat: no system message; the video, then :func:`user_text`."""
    return Chat(user=user_text(question, candidates))


def chat_for(item) -> Chat:
    """The official chat of a :class:`~pjbench.benchmarks.tasks.QAItem` (its question and 2 candidates)."""
    return chat(item.question, item.candidates)


def continuations(item) -> list[str]:
    """Option-likelihood scoring: the answer each candidate would get in the format the prompt asks for
    (``Answer: A`` / ``Answer: B``), index = candidate index; the one the model finds likeliest is its pick."""
    return [f"Answer: {chr(65 + i)}" for i in range(len(item.candidates))]
