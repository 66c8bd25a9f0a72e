"""The Answerer protocol: a video-language model as pjbench sees it, beside :mod:`pjbench.encoders.base`.

An answerer gets a clip (frames with their timestamps) and a chat (an optional system message and a user
text) and generates text; a backend that can also scores continuations (the log-likelihood of each option
after the prompt), so a model that can is scored without parsing. Answerers know no task: the prompts and
the parsers belong to each task package, the frame sampling to the model's registry entry
(:class:`FrameSampling`, like an encoder's :class:`~pjbench.encoders.base.Preprocessing`).

Backends implement the protocol structurally (no base class): a request that fails (a server error after
its retries, a timeout, a dropped connection) comes back as an :class:`AnswerResult` with ``error`` set, so
the readout records a skip naming the item and the error, never drops it silently.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["AnswerResult", "Answerer", "AnswererInfo", "Chat", "Clip", "FrameSampling", "Generation",
           "identity_of", "response_key", "sample_times"]


@dataclass(frozen=True)
class FrameSampling:
    """How frames are taken from a video for an answerer (the model's published evaluation setting).

    Exactly one of ``n_frames`` (uniformly over the video, MVPBench / CausalVQA's 16) and ``fps`` (one frame
    every ``1 / fps`` seconds, IntPhys 2's Qwen setting 1.0) is set; ``max_frames`` caps the count (GPT-4o:
    the first 50); ``max_pixels`` caps each frame's area (Qwen2.5-VL 602112), resized keeping the aspect."""

    n_frames: int | None = None
    fps: float | None = None
    max_frames: int | None = None
    max_pixels: int | None = None

    def __post_init__(self) -> None:
        if (self.n_frames is None) == (self.fps is None):
            raise ValueError("FrameSampling needs exactly one of n_frames and fps")
        if self.n_frames is not None and self.n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {self.n_frames}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_times(duration_s: float, sampling: FrameSampling) -> list[float]:
    """Timestamps (seconds) to take frames at from a video of ``duration_s`` seconds.

    ``n_frames``: the centres of ``n_frames`` equal segments (uniform sampling that never takes the very
    last instant, which many containers cannot seek to); ``fps``: ``0, 1/fps, 2/fps, ...`` while inside the
    video (at least the first frame). ``max_frames`` keeps the first ones."""
    if not duration_s > 0:
        return [0.0]
    if sampling.n_frames is not None:
        step = duration_s / sampling.n_frames
        times = [(i + 0.5) * step for i in range(sampling.n_frames)]
    else:
        n = max(1, int(np.ceil(duration_s * sampling.fps - 1e-9)))  # every i / fps strictly inside the video
        times = [i / sampling.fps for i in range(n)]
    if sampling.max_frames is not None:
        times = times[: sampling.max_frames]
    return times


@dataclass(frozen=True)
class Clip:
    """Frames of one video: ``frames`` uint8 ``(T, H, W, 3)`` RGB, ``timestamps`` in seconds (one per frame)."""

    frames: np.ndarray
    timestamps: tuple[float, ...]
    path: str = ""

    def __post_init__(self) -> None:
        f = self.frames
        if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
            raise ValueError(f"Clip frames must be uint8 (T, H, W, 3), got {f.dtype} {tuple(f.shape)}")
        if len(self.timestamps) != f.shape[0]:
            raise ValueError(f"Clip has {f.shape[0]} frames but {len(self.timestamps)} timestamps")

    def digest(self) -> str:
        """sha256 of the frames and timestamps (what the model is shown; part of the response cache key)."""
        h = hashlib.sha256()
        h.update(str(tuple(self.frames.shape)).encode())
        h.update(np.ascontiguousarray(self.frames).tobytes())
        h.update(json.dumps([round(t, 6) for t in self.timestamps]).encode())
        return h.hexdigest()


@dataclass(frozen=True)
class Chat:
    """One turn: an optional system message, then the user text shown with the video (the video comes
    first in the user turn unless ``video_after_text``)."""

    user: str
    system: str | None = None
    video_after_text: bool = False

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Generation:
    """Decoding parameters: greedy (``temperature`` 0) unless said otherwise; ``max_new_tokens`` per the
    benchmark's official setting."""

    max_new_tokens: int
    temperature: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AnswerResult:
    """What an answerer returned for one request: ``text`` (the raw response), or ``error`` (why there is
    none); ``option_logprobs`` when the backend scored continuations; ``meta`` (token counts, retries,
    latency) for provenance."""

    text: str | None = None
    error: str | None = None
    option_logprobs: list[float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@dataclass(frozen=True)
class AnswererInfo:
    """Identity of an answerer: registry name, backend (``transformers``, ``openai``), the model it serves
    (HF id / folder / served model name), its revision or content hash where known, and extras."""

    name: str
    backend: str
    model: str
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Answerer(Protocol):
    """A video-language model. ``generate`` answers each ``(clip, chat)`` request (same order, one
    :class:`AnswerResult` each; failures carried in the result, not raised); ``score_options`` is optional:
    backends that cannot score continuations do not define it (check with ``hasattr``)."""

    info: AnswererInfo
    sampling: FrameSampling | None  # None: the benchmark's official frame sampling

    def generate(self, requests: Sequence[tuple[Clip, Chat]], generation: Generation) -> list[AnswerResult]:
        ...


#: AnswererInfo.extra entries that say where a model is served, not what it is: not part of its identity
WHERE_SERVED = ("base_url",)


def identity_of(info: AnswererInfo) -> dict[str, Any]:
    """What identifies the model's answers: ``info`` without where it is served (a vLLM server restarted on
    another port, or one server per node, is the same model)."""
    d = info.to_dict()
    d["extra"] = {k: v for k, v in (d.get("extra") or {}).items() if k not in WHERE_SERVED}
    return d


def response_key(info: AnswererInfo, chat: Chat, clip_digest: str, sampling: FrameSampling,
                 generation: Generation) -> str:
    """The response cache key: model identity (incl. revision), the exact prompt, what the frames come from
    (``clip_digest``: :meth:`Clip.digest`, or the video file's content hash, from which ``sampling``
    determines the frames), the sampling rule and the decoding parameters."""
    payload = {"model": identity_of(info), "chat": chat.digest(), "clip": clip_digest, "sampling": sampling.to_dict(),
               "generation": generation.to_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
