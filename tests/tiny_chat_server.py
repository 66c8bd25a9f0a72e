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
