"""A real chat-completions server on 127.0.0.1 backed by a tiny random-init transformers model, for testing
the OpenAI-compatible backend end to end (tests build it offline: a word-level tokenizer from the
`tokenizers` library, a 2-layer Llama from its config, both saved with save_pretrained and loaded back).

The model is text-only: image parts are counted and named in the prompt ("[16 images]"), not seen."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WORDS = "A B C D E Answer : yes no Yes No 1 0 the a ball falls Question Option images END".split()


def build_tiny_chat_model(out: Path, seed: int = 0) -> Path:
    """Write a tiny random-init causal LM + tokenizer (with a chat template) to ``out``; return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    fast.chat_template = "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}assistant :"
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048)
    LlamaForCausalLM(cfg).save_pretrained(out)
    fast.save_pretrained(out)
    return out


class ChatServer:
    """``POST /v1/chat/completions`` on 127.0.0.1 (a free port): subclasses answer a request body with
    ``answer(body) -> (status, payload or None)``; every body is kept in ``requests``."""

    def __init__(self):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                status, payload = outer.answer(body)
                self.send_response(status)
                if payload is None:
                    self.end_headers()
                    return
                data = json.dumps(payload).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, body: dict) -> tuple[int, dict | None]:
        raise NotImplementedError

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def user_text(body: dict) -> str:
    """The text parts of a request's last message."""
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else " ".join(p["text"] for p in content if p["type"] == "text")


class ScriptedChatServer(ChatServer):
    """Answers ``text`` to every request, or 503 to those whose user text contains ``fail``."""

    def __init__(self, text: str = "Answer: B because a ball falls", fail: str | None = None):
        self.text, self.fail = text, fail
        super().__init__()

    def answer(self, body):
        if self.fail and self.fail in user_text(body):
            return 503, None
        return 200, {"choices": [{"message": {"content": self.text}}]}


class TinyChatServer(ChatServer):
    """Greedy generation of the tiny model in ``model_dir`` (see :func:`build_tiny_chat_model`)."""

    def __init__(self, model_dir: Path):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self.lock = threading.Lock()
        super().__init__()

    @staticmethod
    def text_messages(body):
        """The request's messages as this text-only model reads them (images counted, not seen)."""
        messages = []
        for m in body["messages"]:
            content = m["content"]
            if isinstance(content, list):
                n_img = sum(p["type"] == "image_url" for p in content)
                text = " ".join(p["text"] for p in content if p["type"] == "text")
                content = f"[{n_img} images] {text}"
            messages.append({"role": m["role"], "content": content})
        return messages

    def answer(self, body):
        import torch

        messages = self.text_messages(body)
        if body.get("continue_final_message") and body.get("prompt_logprobs") is not None:
            return 200, self.prompt_logprobs(body, messages)
        with self.lock, torch.no_grad():
            ids = self.tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
            gen = self.model.generate(ids, max_new_tokens=min(int(body.get("max_tokens") or 8), 8), do_sample=False,
                                      pad_token_id=0, bad_words_ids=[[0], [1], [2]])
        text = self.tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True)
        return 200, {"model": body["model"], "choices": [{"message": {"role": "assistant", "content": text},
                                                          "finish_reason": "length"}],
                     "usage": {"prompt_tokens": int(ids.shape[1]), "completion_tokens": int(gen.shape[1] - ids.shape[1])}}

    def prompt_logprobs(self, body, messages):
        """vLLM's extension: the chat rendered with its final (assistant) message left open, and the
        log-probability of every prompt token (``prompt_logprobs: 0``: the prompt token's only)."""
        import torch

        final = messages[-1]["content"]
        text = self.tok.apply_chat_template(messages, tokenize=False)
        text = text[:text.rindex(final) + len(final)]  # open-ended: cut after the final message's content
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        with self.lock, torch.no_grad():
            lp = torch.log_softmax(self.model(torch.tensor([ids])).logits[0].float(), dim=-1)
        plp = [None] + [{str(t): {"logprob": float(lp[i - 1, t]), "rank": 1, "decoded_token": self.tok.decode([t])}}
                        for i, t in enumerate(ids) if i > 0]
        return {"model": body["model"], "choices": [{"message": {"role": "assistant", "content": ""},
                                                     "finish_reason": "length"}],
                "prompt_logprobs": plp, **({"prompt_token_ids": ids} if body.get("return_token_ids") else {})}

    def next_token_logprobs(self, messages):
        """In process: log p(next token) after the generation prompt (what a likelihood should sum)."""
        import torch

        ids = self.tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        with torch.no_grad():
            return torch.log_softmax(self.model(ids).logits[0, -1].float(), dim=-1)


class TinyVLMChatServer(ChatServer):
    """Chat completions from a tiny transformers *video*-language model folder (encoders.tiny_vlm), the
    frames of the request's ``image_url`` parts decoded and handed over as one video at 1 frame/s -- so the
    HTTP backend runs on the same checkpoint as the in-process one. Implements vLLM's extension too:
    ``continue_final_message`` + ``prompt_logprobs: 0`` (the log-probability of every prompt token, the
    final assistant message left open). ``seen`` keeps ``(frames, system, user text, option)`` per scoring request."""

    def __init__(self, model_dir: Path):
        from pjbench.encoders.hf_vlm import load_transformers_vlm

        self.answerer = load_transformers_vlm(str(model_dir), batch_size=1)
        self.lock = threading.Lock()
        self.seen: list[tuple] = []
        super().__init__()

    @staticmethod
    def decode(body):
        """``(frames uint8 [T, H, W, 3], system text or None, user text)`` of a request."""
        import base64
        import io

        import numpy as np
        from PIL import Image

        system, frames, text = None, [], ""
        for m in body["messages"]:
            if m["role"] == "system":
                system = m["content"] if isinstance(m["content"], str) else " ".join(p["text"] for p in m["content"])
            elif m["role"] == "user":
                for p in m["content"]:
                    if p["type"] == "image_url":
                        raw = base64.b64decode(p["image_url"]["url"].split(",", 1)[1])
                        frames.append(np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")))
                    else:
                        text = p["text"]
        return np.stack(frames), system, text

    def answer(self, body):
        from pjbench.encoders.answerer import Chat, Clip, Generation

        frames, system, text = self.decode(body)
        clip, chat = Clip(frames, tuple(float(i) for i in range(len(frames)))), Chat(user=text, system=system)
        if body.get("continue_final_message") and body.get("prompt_logprobs") is not None:
            option = body["messages"][-1]["content"]
            self.seen.append((clip, chat, option))
            return 200, self.prompt_logprobs(body, clip, chat, option)
        with self.lock:
            [res] = self.answerer.generate([(clip, chat)], Generation(max_new_tokens=int(body.get("max_tokens") or 16)))
        if res.error:
            return 500, {"error": {"message": res.error}}
        return 200, {"model": body["model"], "choices": [{"message": {"role": "assistant", "content": res.text},
                                                          "finish_reason": "stop"}]}

    def prompt_logprobs(self, body, clip, chat, option):
        import torch
        from transformers.video_utils import VideoMetadata

        proc, model = self.answerer.processor, self.answerer.model
        msgs = ([{"role": "system", "content": [{"type": "text", "text": chat.system}]}] if chat.system else []) + [
            {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": chat.user}]},
            {"role": "assistant", "content": [{"type": "text", "text": option}]}]
        text = proc.apply_chat_template(msgs, continue_final_message=True, tokenize=False)
        n = len(clip.frames)
        meta = VideoMetadata(total_num_frames=n, fps=1.0, frames_indices=list(range(n)), height=clip.frames.shape[1],
                             width=clip.frames.shape[2], duration=float(n))
        extra = {"cap_pixels_per_frame": True} if hasattr(proc.video_processor, "cap_pixels_per_frame") else {}
        batch = proc(text=[text], videos=[clip.frames], video_metadata=[meta], return_tensors="pt",
                     do_sample_frames=False, **extra)
        with self.lock, torch.no_grad():
            lp = torch.log_softmax(model(**batch).logits[0].float(), dim=-1)
        ids = batch["input_ids"][0].tolist()
        plp = [None] + [{str(t): {"logprob": float(lp[i - 1, t]), "rank": 1,
                                  "decoded_token": proc.tokenizer.decode([t])}} for i, t in enumerate(ids) if i > 0]
        return {"model": body["model"], "choices": [{"message": {"role": "assistant", "content": ""},
                                                     "finish_reason": "length"}], "prompt_logprobs": plp}
