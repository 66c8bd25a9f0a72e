"""Building an answerer by name: a registered model whose entry declares the ``generate`` readout
(``pjbench list``), a local transformers VLM folder or ``transformers:HF_ID`` (the transformers backend,
:mod:`pjbench.encoders.hf_vlm`), or ``openai:NAME`` -- the model ``NAME`` served by an OpenAI-compatible HTTP server
(vLLM, SGLang, a hosted API) at ``base_url``, the key read from the environment variable ``api_key_env``."""

from __future__ import annotations

from typing import Any

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders.answerer import Answerer, FrameSampling

__all__ = ["OPENAI_PREFIX", "TRANSFORMERS_PREFIX", "build_answerer", "is_answerer", "unregistered_answerer",
           "vlm_dir"]

OPENAI_PREFIX = "openai:"
#: ``transformers:HF_ID``: an image-text-to-text model by hub id, without a registry entry
TRANSFORMERS_PREFIX = "transformers:"


def vlm_dir(model: str) -> bool:
    """``model`` is a local transformers checkpoint folder of a video-language model: a ``config.json``
    with both a ``vision_config`` and a ``text_config`` (what every image-text-to-text model saves)."""
    import json
    from pathlib import Path

    path = Path(model).expanduser()
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "vision_config" in config and "text_config" in config


def unregistered_answerer(model: str) -> bool:
    """``model`` names an answerer without a registry entry: ``openai:NAME``, ``transformers:HF_ID`` or a
    local VLM folder (that is not also a registered name)."""
    if model.startswith((OPENAI_PREFIX, TRANSFORMERS_PREFIX)):
        return True
    from pjbench.encoders.registry import MODELS

    return model not in MODELS and vlm_dir(model)


def is_answerer(model: str) -> bool:
    """``model`` names an answerer: ``openai:NAME``, or a registered model with the ``generate`` readout."""
    if model.startswith((OPENAI_PREFIX, TRANSFORMERS_PREFIX)) or vlm_dir(model):
        return True
    from pjbench.encoders.registry import MODELS

    return model in MODELS and "generate" in str(MODELS.get(model).info.get("readouts", "")).split(",")


def build_answerer(model: str, *, sampling: FrameSampling | None = None, base_url: str | None = None,
                   api_key_env: str | None = None, max_concurrency: int | None = None, device: str = "cpu",
                   checkpoint: str | None = None, model_args: dict[str, Any] | None = None,
                   cache_dir: str | None = None) -> Answerer:
    """The answerer ``model`` names. ``sampling``: the benchmark's official frame sampling, used when the
    model's entry declares none. HTTP options apply to ``openai:NAME`` only."""
    if model.startswith(OPENAI_PREFIX):
        name = model[len(OPENAI_PREFIX):]
        if not name:
            raise PjbenchError("--model openai:NAME needs the served model's NAME")
        if not base_url:
            raise PjbenchError(f"--model {model}: pass --base-url (e.g. http://127.0.0.1:8000/v1, a vLLM server)")
        from pjbench.encoders.openai_compat import OpenAICompatAnswerer

        kw: dict[str, Any] = {"sampling": sampling or FrameSampling(n_frames=16)}
        if api_key_env:
            kw["api_key_env"] = api_key_env
        if max_concurrency:
            kw["max_concurrency"] = max_concurrency
        args = {**kw, **dict(model_args or {})}
        method = args.pop("option_likelihood", None)
        cls = OpenAICompatAnswerer
        if method not in (None, "", "none", False):
            from pjbench.encoders.openai_likelihood import METHODS, PromptLogprobAnswerer

            if method not in METHODS:
                raise PjbenchError(f"--model-arg option_likelihood={method}: one of {', '.join(METHODS)} (vLLM's "
                                   "prompt_logprobs on chat completions), or leave it out")
            cls = PromptLogprobAnswerer
        try:
            return cls(name, base_url, **args)
        except (TypeError, ValueError) as exc:
            raise PjbenchError(f"--model {model}: {exc}") from None
    given = [flag for flag, v in (("--base-url", base_url), ("--api-key-env", api_key_env),
                                   ("--max-concurrency", max_concurrency)) if v]
    if given:
        raise PjbenchError(f"{', '.join(given)}: options of an openai:NAME model, not of {model}")
    from pjbench.encoders.registry import MODELS

    if model.startswith(TRANSFORMERS_PREFIX) or (model not in MODELS and vlm_dir(model)):
        from pathlib import Path

        from pjbench.encoders.hf_vlm import load_transformers_vlm

        source = model[len(TRANSFORMERS_PREFIX):] if model.startswith(TRANSFORMERS_PREFIX) else model
        if checkpoint:
            raise PjbenchError(f"--model {model} names the checkpoint itself; drop --checkpoint {checkpoint}")
        name = Path(source).name if Path(source).expanduser().is_dir() else source
        try:
            ans = load_transformers_vlm(source, device=device, name=name, **dict(model_args or {}))
        except TypeError as exc:
            raise PjbenchError(f"--model {model}: {exc}") from None
        if ans.sampling is None:
            ans.sampling = sampling
        return ans
    if not is_answerer(model):
        raise PjbenchError(f"model {model} is not a video-language model (its readouts: "
                           f"{MODELS.get(model).info.get('readouts', '?')}); `pjbench list` marks those with "
                           "'generate', or use openai:NAME with --base-url")
    kw = dict(model_args or {})
    if cache_dir is not None and "cache_dir" in (MODELS.accepted_args(model) or ()):
        kw.setdefault("cache_dir", str(cache_dir))  # where a model built offline (a tiny control) is kept
    ans = MODELS.build(model, checkpoint=checkpoint, device=device, **kw)
    if getattr(ans, "sampling", None) is None and sampling is not None:
        ans.sampling = sampling
    return ans
