"""Option log-likelihoods over HTTP: vLLM's prompt log-probabilities on the chat-completions endpoint.

:class:`PromptLogprobAnswerer` is the OpenAI-compatible answerer (:mod:`pjbench.encoders.openai_compat`)
plus ``score_options``, for servers that implement vLLM's extensions of ``POST /chat/completions``: the
option is sent as the start of the assistant's reply (an assistant message, ``continue_final_message: true``,
``add_generation_prompt: false``: the chat template renders the turn open-ended, the prompt then ends with
the option's text) with ``prompt_logprobs: 0`` (the log-probability of each prompt token under the model)
and ``max_tokens: 1``. The option's log-likelihood is the sum over the last prompt tokens whose decoded text
makes up the option -- what the transformers backend computes in process (lm-eval's ``loglikelihood``).

One request per option (each carries the frames; vLLM's prefix cache shares the video's work between them).
The OpenAI API and servers without the extension answer 400 or leave ``prompt_logprobs`` out: each such item
is a recorded likelihood error (its generated answer is kept), and the run says so. Opt in with
``--model-arg option_likelihood=vllm`` on an ``openai:NAME`` model.
"""

from __future__ import annotations

from typing import Any, Sequence

from pjbench.encoders.answerer import AnswerResult, Chat, Clip
from pjbench.encoders.openai_compat import FatalResponse, OpenAICompatAnswerer

__all__ = ["PromptLogprobAnswerer", "continuation_logprob"]

#: what ``--model-arg option_likelihood=...`` accepts
METHODS = ("vllm",)


def _entry(position: Any, token_id: int | None) -> tuple[float, str] | None:
    """``(logprob, decoded text)`` of the prompt token at one position of vLLM's ``prompt_logprobs`` (a dict
    ``{token id: {logprob, rank, decoded_token}}``): the entry of ``token_id`` when the server sent the prompt's
    token ids, else the only entry (``prompt_logprobs: 0`` sends just the prompt token)."""
    if not isinstance(position, dict) or not position:
        return None
    if token_id is not None and str(token_id) in position:
        got = position[str(token_id)]
    elif len(position) == 1:
        got = next(iter(position.values()))
    else:
        return None
    if not isinstance(got, dict) or not isinstance(got.get("logprob"), (int, float)):
        return None
    return float(got["logprob"]), str(got.get("decoded_token") or "")


def continuation_logprob(data: Any, option: str) -> tuple[float, int]:
    """``(log-likelihood, number of tokens)`` of ``option`` at the end of the prompt, from a vLLM response
    ``data`` holding ``prompt_logprobs`` (and, when sent, ``prompt_token_ids``): the last tokens whose decoded
    texts, joined, end with ``option``. :class:`FatalResponse` when the response has none or its prompt does
    not end with the option."""
    plp = data.get("prompt_logprobs") if isinstance(data, dict) else None
    if not isinstance(plp, list) or not plp:
        raise FatalResponse("the server returned no prompt_logprobs (a vLLM extension of chat completions; "
                            "drop option_likelihood for this server)")
    ids = data.get("prompt_token_ids")
    ids = ids if isinstance(ids, list) and len(ids) == len(plp) else [None] * len(plp)
    text, total = "", 0.0
    for k in range(1, len(plp) + 1):
        got = _entry(plp[-k], ids[-k])
        if got is None:
            raise FatalResponse(f"prompt_logprobs position -{k} has no log-probability of the prompt token")
        total += got[0]
        text = got[1] + text
        if len(text) >= len(option) and text.endswith(option):
            return total, k
        if len(text) > len(option) + 64:
            break
    raise FatalResponse(f"the prompt the server built does not end with the option {option!r} "
                        f"(its last tokens read {text[-(len(option) + 16):]!r})")


class PromptLogprobAnswerer(OpenAICompatAnswerer):
    """An OpenAI-compatible answerer that also scores options through vLLM's prompt log-probabilities
    (module docstring). Same identity as the plain answerer: its answers are the same model's."""

    def __repr__(self) -> str:
        return f"PromptLogprobAnswerer({self.model!r}, {self.info.extra['base_url']!r})"

    def score_options(self, requests: Sequence[tuple[Clip, Chat]],
                      options: Sequence[Sequence[str]]) -> list[AnswerResult]:
        """For each request, the log-likelihood of each of its ``options`` as the start of the reply
        (``option_logprobs``), or ``error`` naming the first option that could not be scored."""
        flat = [(i, clip, chat, opt) for i, ((clip, chat), opts) in enumerate(zip(requests, options)) for opt in opts]
        if not flat:
            return [AnswerResult(option_logprobs=[], meta={"options": []}) for _ in requests]
        session = self.session()

        def one(job: tuple[int, Clip, Chat, str]) -> tuple[Any, dict[str, Any], str | None]:
            _, clip, chat, opt = job

            def body() -> dict[str, Any]:
                return {"model": self.model, "messages": [*self.messages(clip, chat), {"role": "assistant", "content": opt}],
                        "max_tokens": 1, "temperature": 0.0, "add_generation_prompt": False,
                        "continue_final_message": True, "prompt_logprobs": 0, "return_token_ids": True}

            return self.post_with_retries(body, lambda data, status: (continuation_logprob(data, opt), {"status": status}),
                                          session)

        scored = self.map_concurrently(one, flat)
        out: list[AnswerResult] = []
        pos = 0
        for opts in options:
            mine = scored[pos:pos + len(opts)]
            pos += len(opts)
            errors = [f"option {o!r}: {err}" for o, (_, _, err) in zip(opts, mine) if err]
            if errors:
                out.append(AnswerResult(error=errors[0], meta={"options": list(opts)}))
                continue
            out.append(AnswerResult(option_logprobs=[v[0] for v, _, _ in mine],
                                    meta={"options": list(opts), "option_tokens": [v[1] for v, _, _ in mine]}))
        return out
