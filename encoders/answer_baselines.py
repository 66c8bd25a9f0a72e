"""Answerer baselines (no weights): the floor of the ``vlm`` readout, as the pixel models are the encoders'.

``answer-random`` picks one of the options the prompt lists (lines ``(A) ...``, ``(B) ...``; for a prompt
asking yes or no, or 1 or 0, one of those), uniformly,
seeded by the prompt, the frames shown and ``seed``, and answers with the bare letter (which every
benchmark's official and strict parsers read). It reads no task: any multiple-choice prompt written as ``(X) option`` lines works. Its
expected score is the benchmark's chance level; a model that does not beat it has learnt nothing the
benchmark measures.
"""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

from pjbench.encoders.answerer import AnswererInfo, AnswerResult, Chat, Clip, FrameSampling, Generation

__all__ = ["RandomAnswerer", "load_random_answerer"]

_OPTION = re.compile(r"^\(([A-Z])\) ", re.MULTILINE)


def _binary_words(text: str) -> list[str]:
    """The two answers a yes/no (or 1/0) prompt asks for, else ``[]``."""
    low = text.lower()
    if re.search(r"\byes\b", low) and re.search(r"\bno\b", low):
        return ["Yes", "No"]
    if re.search(r"\b1:", low) and re.search(r"\b0:", low):
        return ["1", "0"]
    return []


class RandomAnswerer:
    """A seeded uniform choice among the options a prompt lists."""

    def __init__(self, seed: int = 0, sampling: FrameSampling | None = None):
        self.seed = int(seed)
        self.sampling = sampling  # None: the benchmark's official sampling (the readout sets it)
        self.info = AnswererInfo(name="answer-random", backend="baseline", model="answer-random",
                                 revision=f"seed{self.seed}", extra={"seed": self.seed, "baseline": True})

    def generate(self, requests: Sequence[tuple[Clip, Chat]], generation: Generation) -> list[AnswerResult]:
        out = []
        for clip, chat in requests:
            letters = _OPTION.findall(chat.user) or _binary_words(f"{chat.system or ''}\n{chat.user}")
            if not letters:
                out.append(AnswerResult(error="the prompt lists no (A) / (B) ... options and asks no yes/no or 1/0"))
                continue
            h = hashlib.sha256(f"{self.seed}\0{chat.digest()}\0{clip.digest()}".encode()).digest()
            out.append(AnswerResult(text=letters[int.from_bytes(h[:8], "big") % len(letters)],
                                    meta={"baseline": "uniform over the listed options"}))
        return out


def load_random_answerer(checkpoint: str | None = None, device: str = "cpu", seed: int = 0) -> RandomAnswerer:
    """Registry factory of ``answer-random`` (``checkpoint`` / ``device``: unused, nothing is loaded)."""
    return RandomAnswerer(seed=seed)
