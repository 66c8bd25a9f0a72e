"""The transformers backend of the Answerer protocol: ``AutoModelForImageTextToText`` + ``AutoProcessor``.

The model's own chat template lays out the turn (system message, the video, the user text), and the model's
own processor turns the frames into its input (resizing, normalisation, video tokens): pjbench hands it the
frames it chose by time (:func:`~pjbench.encoders.answerer.sample_times`) with their timestamps as
``VideoMetadata`` (so a model with temporal positions, Qwen2.5-VL's M-RoPE, sees the true frame rate) and
asks it not to resample them. ``max_pixels`` of the entry's frame sampling goes to processors that take it
(Qwen2-VL / Qwen2.5-VL, with the reference per-frame cap); other models' frames are shrunk to that area in
torch first.

``generate``: greedy (``do_sample=False``) unless the request's temperature is above 0, ``batch_size``
requests per forward with left padding; a batch that fails (out of memory, a clip the processor refuses) is
retried one request at a time, and a request that still fails is returned with its error (a recorded skip).

``score_options``: the log-likelihood of each continuation after the generation prompt (sum of its token
log-probabilities; lm-eval's ``loglikelihood``). Continuations that share every token but the last (the
option letters after ``Answer: ``) cost one forward pass; others one pass each.

Needs the ``[vlm]`` extra (transformers' video processors need torchvision).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders.answerer import AnswererInfo, AnswerResult, Chat, Clip, FrameSampling, Generation

__all__ = ["TransformersAnswerer", "load_transformers_vlm", "load_tiny_vlm", "VLM_EXTRA_HINT"]

VLM_EXTRA_HINT = ('the transformers VLM backend needs the [vlm] extra: pip install torch==2.14.1 torchvision==0.29.1 '
                  '&& pip install -e ".[vlm]"')
_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "auto": "auto"}
_PROCESSOR_FILES = ("config.json", "generation_config.json", "chat_template.jinja", "chat_template.json",
                    "processor_config.json", "preprocessor_config.json", "video_preprocessor_config.json",
                    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def require_vlm_stack() -> None:
    """An error saying how to install the backend when torchvision (the video processors) is missing."""
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # ImportError, or PyPI torchvision beside another torch build
        raise PjbenchError(f"{VLM_EXTRA_HINT} (torchvision: {type(exc).__name__}: {exc})") from None


def folder_hash(local: Path) -> str:
    """sha256 over what decides a local checkpoint's answers: its weight files, config, processor, tokenizer
    and chat template (name + content, sorted)."""
    h = hashlib.sha256()
    files = sorted(p for p in local.iterdir() if p.is_file() and (p.suffix == ".safetensors" or p.name in _PROCESSOR_FILES))
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()


def _fps_of(timestamps: Sequence[float]) -> float:
    if len(timestamps) < 2:
        return 1.0
    step = float(np.median(np.diff(np.asarray(timestamps, dtype=float))))
    return 1.0 / step if step > 0 else 1.0


class TransformersAnswerer:
    """A transformers image-text-to-text model answering video questions (see the module docstring)."""

    def __init__(self, model: Any, processor: Any, info: AnswererInfo, *, sampling: FrameSampling | None,
                 device: str = "cpu", batch_size: int = 1):
        self.model, self.processor, self.info = model, processor, info
        self.sampling = sampling
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.max_pixels: int | None = None  # the entry's per-frame cap when it leaves the frame count to the benchmark
        tok = getattr(processor, "tokenizer", None)
        if tok is not None:
            tok.padding_side = "left"
        vp = getattr(processor, "video_processor", None)
        self._takes_max_pixels = type(vp).__name__.startswith("Qwen2VL")
        self._system_as_string = False  # set once the template is seen to need it (see _render)
        self._video_kwargs: dict[str, Any] = {"do_sample_frames": False}
        if vp is not None and hasattr(vp, "cap_pixels_per_frame"):
            self._video_kwargs["cap_pixels_per_frame"] = True  # qwen-vl-utils' reference per-frame cap

    # -- inputs ------------------------------------------------------------------------------------
    def _messages(self, chat: Chat) -> list[dict[str, Any]]:
        user = [{"type": "text", "text": chat.user}]
        user = user + [{"type": "video"}] if chat.video_after_text else [{"type": "video"}] + user
        msgs = [{"role": "system", "content": [{"type": "text", "text": chat.system}]}] if chat.system else []
        return msgs + [{"role": "user", "content": user}]

    def _render(self, chat: Chat) -> str:
        """The prompt text by the checkpoint's chat template, checked to hold the system and user text
        verbatim: a template that reads a system message only as a string (PerceptionLM's trims it) gets
        one; a template that drops either text is an error, not a silently different prompt."""
        msgs = self._messages(chat)
        if self._system_as_string and chat.system:
            msgs[0] = {"role": "system", "content": chat.system}
        text = self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        printed = [str(m["content"]) for m in msgs if not isinstance(m["content"], str)]  # a list rendered as text
        if chat.system and not self._system_as_string and (chat.system not in text or printed[0] in text):
            self._system_as_string = True
            return self._render(chat)
        missing = [what for what, t in (("system", chat.system), ("user", chat.user)) if t and t not in text]
        missing += ["structured"] if any(p in text for p in printed) else []
        if missing:
            raise ValueError(f"the chat template of {self.info.model} does not carry the {' and '.join(missing)} "
                             "text verbatim into the prompt (the request's messages as rendered: " + repr(text[:200]) + ")")
        return text

    def _adds_bos_twice(self, text: str) -> bool:
        """Whether the rendered ``text`` already starts with the BOS token (a template with ``bos_token``):
        then the tokenizer must not add another (transformers' own chat path does the same)."""
        bos = getattr(getattr(self.processor, "tokenizer", None), "bos_token", None)
        return bool(bos) and text.startswith(bos)

    def _max_pixels(self) -> int | None:
        return (self.sampling.max_pixels if self.sampling else None) or self.max_pixels

    def _frames(self, clip: Clip) -> np.ndarray:
        frames = clip.frames
        cap = self._max_pixels()
        if cap and not self._takes_max_pixels and frames.shape[1] * frames.shape[2] > cap:
            import torch
            import torch.nn.functional as F

            scale = (cap / (frames.shape[1] * frames.shape[2])) ** 0.5
            size = (max(1, int(frames.shape[1] * scale)), max(1, int(frames.shape[2] * scale)))
            x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
            frames = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return frames

    def _inputs(self, requests: Sequence[tuple[Clip, Chat]]) -> Any:
        from transformers.video_utils import VideoMetadata

        texts, videos, metas = [], [], []
        for clip, chat in requests:
            texts.append(self._render(chat))
            frames = self._frames(clip)
            fps = _fps_of(clip.timestamps)
            videos.append(frames)
            metas.append(VideoMetadata(total_num_frames=len(frames), fps=fps, frames_indices=list(range(len(frames))),
                                       height=frames.shape[1], width=frames.shape[2], duration=len(frames) / fps))
        kw = dict(self._video_kwargs)
        cap = self._max_pixels()
        if self._takes_max_pixels and cap:  # the per-frame area cap, as qwen-vl-utils' max_pixels
            size = dict(getattr(self.processor.video_processor, "size", None) or {})
            kw["size"] = {"shortest_edge": min(int(size.get("shortest_edge") or cap), cap), "longest_edge": cap}
        if texts and self._adds_bos_twice(texts[0]):
            kw["add_special_tokens"] = False
        batch = self.processor(text=texts, videos=videos, video_metadata=metas, padding=True, return_tensors="pt", **kw)
        return batch.to(self.device)

    # -- generation --------------------------------------------------------------------------------
    def generate(self, requests: Sequence[tuple[Clip, Chat]], generation: Generation) -> list[AnswerResult]:
        out: list[AnswerResult] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = list(requests[start:start + self.batch_size])
            try:
                out.extend(self._generate(chunk, generation))
            except Exception as exc:  # noqa: BLE001 -- retried one by one; each failure becomes a recorded skip
                if len(chunk) == 1:
                    out.append(AnswerResult(error=f"{type(exc).__name__}: {exc}"))
                    continue
                for req in chunk:
                    try:
                        out.extend(self._generate([req], generation))
                    except Exception as one:  # noqa: BLE001
                        out.append(AnswerResult(error=f"{type(one).__name__}: {one}"))
        return out

    def _generate(self, chunk: list[tuple[Clip, Chat]], generation: Generation) -> list[AnswerResult]:
        import torch

        batch = self._inputs(chunk)
        sample = generation.temperature > 0
        kw: dict[str, Any] = {"max_new_tokens": generation.max_new_tokens, "do_sample": sample}
        if sample:
            torch.manual_seed(generation.seed)
            kw["temperature"] = generation.temperature
        else:
            kw.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            ids = self.model.generate(**batch, **kw)
        n_in = batch["input_ids"].shape[1]
        new = ids[:, n_in:]
        texts = self.processor.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        pad = getattr(self.model.generation_config, "pad_token_id", None)
        res = []
        for row, text, mask in zip(new, texts, batch["attention_mask"]):
            n_new = int((row != pad).sum()) if pad is not None else int(row.numel())
            res.append(AnswerResult(text=text, meta={"input_tokens": int(mask.sum()), "new_tokens": n_new,
                                                     "finish": "length" if n_new >= generation.max_new_tokens else "stop"}))
        return res

    # -- option likelihoods ------------------------------------------------------------------------
    def score_options(self, requests: Sequence[tuple[Clip, Chat]],
                      options: Sequence[Sequence[str]]) -> list[AnswerResult]:
        """For each request, the log-likelihood of each of its ``options`` as the start of the answer
        (``AnswerResult.option_logprobs``, one per option; ``error`` when it could not be scored)."""
        out = []
        for req, opts in zip(requests, options):
            try:
                out.append(AnswerResult(option_logprobs=self._score(req, list(opts)),
                                        meta={"options": list(opts)}))
            except Exception as exc:  # noqa: BLE001 -- a recorded skip of this request's likelihoods
                out.append(AnswerResult(error=f"{type(exc).__name__}: {exc}"))
        return out

    def continuation_ids(self, option: str, prompt: str = "") -> list[int]:
        """The tokens ``option`` adds after the rendered ``prompt`` (lm-eval's way: the prompt and the
        prompt + option tokenized, the difference taken; the option alone where the two disagree at the
        boundary). After a prompt that does not end in whitespace (SmolVLM's ``Assistant:``) the option
        starts with a space, as the model's reply does."""
        tok = self.processor.tokenizer
        if prompt and not prompt[-1].isspace():
            option = " " + option
        if prompt:
            ctx = tok(prompt, add_special_tokens=False)["input_ids"]
            full = tok(prompt + option, add_special_tokens=False)["input_ids"]
            if len(full) > len(ctx) and full[:len(ctx)] == ctx:
                return list(full[len(ctx):])
        ids = tok(option, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"option {option!r} has no tokens")
        return list(ids)

    def _score(self, req: tuple[Clip, Chat], opts: list[str], *, one_pass: bool = True) -> list[float]:
        prompt = self._render(req[1])
        conts = [self.continuation_ids(o, prompt) for o in opts]
        batch = self._inputs([req])
        prefix: list[int] = []
        for toks in zip(*conts):
            if len(set(toks)) != 1:
                break
            prefix.append(toks[0])
        if one_pass and all(len(c) == len(prefix) + 1 for c in conts):
            logp = self._continuation_logprobs(batch, prefix)
            base = sum(float(logp[j, t]) for j, t in enumerate(prefix))
            return [base + float(logp[len(prefix), c[-1]]) for c in conts]
        scores = []
        for c in conts:
            logp = self._continuation_logprobs(batch, c[:-1])
            scores.append(sum(float(logp[j, t]) for j, t in enumerate(c)))
        return scores

    def _continuation_logprobs(self, batch: Any, tokens: list[int]) -> Any:
        """log-softmax of the next-token distribution after the prompt and after each of ``tokens``:
        row j scores the (j+1)-th continuation token."""
        import torch

        n = batch["input_ids"].shape[1]
        inputs = dict(batch)
        if tokens:
            extra = torch.tensor([tokens], dtype=batch["input_ids"].dtype, device=batch["input_ids"].device)
            for key, value in batch.items():
                if torch.is_tensor(value) and value.dim() == 2 and value.shape == batch["input_ids"].shape:
                    fill = extra if key == "input_ids" else (torch.ones_like(extra) if key == "attention_mask"
                                                             else torch.zeros_like(extra))
                    inputs[key] = torch.cat([value, fill.to(value.dtype)], dim=1)
        with torch.inference_mode():
            logits = self.model(**inputs).logits[0, n - 1:]
        return torch.log_softmax(logits.float(), dim=-1).cpu()


def load_transformers_vlm(checkpoint: str | None = None, device: str = "cpu", *, name: str = "vlm",
                          dtype: str = "auto", batch_size: int = 1, revision: str | None = None,
                          n_frames: int | None = None, fps: float | None = None, max_frames: int | None = None,
                          max_pixels: int | None = None, attn_implementation: str | None = None,
                          trust_remote_code: bool = False, device_map: str | None = None) -> TransformersAnswerer:
    """Registry factory: the image-text-to-text model at ``checkpoint`` (an HF id, or a ``save_pretrained``
    folder) with its processor. ``n_frames`` / ``fps`` / ``max_frames`` / ``max_pixels``: the entry's frame
    sampling (none: the benchmark's official one); ``dtype`` fp32 / bf16 / fp16 / auto (the checkpoint's);
    ``revision``: a hub branch, tag or commit (recorded; a local folder is identified by its content hash).
    ``device_map`` (``auto``, ``balanced``, ...: accelerate's placement): one model spread over this machine's
    GPUs, for checkpoints larger than one GPU (Qwen2.5-VL-72B); ``device`` is then where inputs start."""
    require_vlm_stack()
    if not checkpoint:
        raise PjbenchError(f"model {name}: no checkpoint (pass --checkpoint HF_ID_OR_DIR)")
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from pjbench.encoders.hf_loading import check_weight_files, quiet_transformers

    if dtype not in _DTYPES:
        raise PjbenchError(f"dtype {dtype!r}: one of {', '.join(_DTYPES)}")
    local = Path(checkpoint).expanduser()
    kw: dict[str, Any] = {"trust_remote_code": bool(trust_remote_code)}
    if revision and not local.exists():
        kw["revision"] = revision
    if local.exists():
        if not (local / "config.json").is_file():
            raise PjbenchError(f"{local}: not a transformers checkpoint directory (no config.json)")
        check_weight_files(local, name, allow_pickle=False)
        source = str(local)
    elif checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") != 1:
        raise PjbenchError(f"checkpoint {checkpoint!r}: no such directory, and not a hub id like 'Qwen/Qwen2.5-VL-7B-Instruct'")
    else:
        source = checkpoint
    torch_dtype = _DTYPES[dtype] if dtype == "auto" else getattr(torch, _DTYPES[dtype])
    try:
        with quiet_transformers():
            processor = AutoProcessor.from_pretrained(source, **kw)
            model = AutoModelForImageTextToText.from_pretrained(
                source, dtype=torch_dtype, use_safetensors=True,
                **({"attn_implementation": attn_implementation} if attn_implementation else {}),
                **({"device_map": device_map} if device_map else {}), **kw)
    except OSError as exc:
        if local.exists():
            raise PjbenchError(f"{local}: cannot load the model or its processor ({exc})") from None
        raise PjbenchError(f"{checkpoint}: not in the local Hugging Face cache and no network to fetch it "
                           f"(download it where there is: `huggingface-cli download {checkpoint}`, or pass "
                           "--checkpoint DIR)") from None
    except ValueError as exc:
        raise PjbenchError(f"{checkpoint}: not an image-text-to-text model transformers can load ({exc})") from None
    except ImportError as exc:  # a family's own dependency (timm for PerceptionLM, num2words for SmolVLM)
        raise PjbenchError(f"{checkpoint}: {exc} -- {VLM_EXTRA_HINT}") from None
    if device_map:  # placed by accelerate; inputs go where the embeddings are
        model = model.eval()
        device = str(model.get_input_embeddings().weight.device)
    else:
        model = model.to(device).eval()
    if local.exists():
        rev = folder_hash(local)
        model_id = str(local.resolve())
    else:
        rev = getattr(model.config, "_commit_hash", None) or revision
        model_id = checkpoint
    sampling = None
    if n_frames is not None or fps is not None:
        sampling = FrameSampling(n_frames=n_frames, fps=fps, max_frames=max_frames, max_pixels=max_pixels)
    extra = {"dtype": dtype, "max_pixels": max_pixels, "model_type": getattr(model.config, "model_type", None),
             **({"attn_implementation": attn_implementation} if attn_implementation else {}),
             "params": int(sum(p.numel() for p in model.parameters()))}
    if (local / "pjbench_control.json").is_file():
        extra["control"] = True
    info = AnswererInfo(name=name, backend="transformers", model=model_id, revision=rev, extra=extra)
    ans = TransformersAnswerer(model, processor, info, sampling=sampling, device=device, batch_size=batch_size)
    ans.max_pixels = max_pixels
    return ans


def load_tiny_vlm(checkpoint: str | None = None, device: str = "cpu", *, family: str = "qwen2.5-vl",
                  name: str | None = None, seed: int = 0, batch_size: int = 4,
                  cache_dir: str | os.PathLike | None = None) -> TransformersAnswerer:
    """Registry factory of the tiny random-init controls: builds the ``family`` checkpoint offline (once per
    seed, under the pjbench cache) and loads it through :func:`load_transformers_vlm` (the real path)."""
    require_vlm_stack()
    from pjbench.benchmarks.cache import FeatureCache
    from pjbench.encoders.tiny_vlm import build_tiny_vlm

    folder = Path(checkpoint) if checkpoint else FeatureCache(cache_dir).root / "tiny-vlm" / f"{family}-seed{seed}"
    if not (folder / "config.json").is_file():
        try:
            build_tiny_vlm(family, folder, seed=seed)
        except ImportError as exc:
            raise PjbenchError(f"tiny {family}: {exc} -- {VLM_EXTRA_HINT}") from None
    return load_transformers_vlm(str(folder), device=device, name=name or f"{family}-tiny-random",
                                 batch_size=batch_size, dtype="fp32", max_pixels=28 * 28 * 16)
