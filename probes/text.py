"""The text side of the attentive probe: how a (question, candidate) pair becomes a vector.

A text encoder here has two halves, so that frozen and learned encoders plug into the same probe:

- ``prepare(pairs)`` turns ``[(question, candidate), ...]`` into a tensor once per run (hashed ids for
  :class:`LearnedTextEncoder`, frozen embeddings for :class:`FrozenHFTextEncoder`), indexed per batch;
- ``module()`` builds a *fresh* ``nn.Module`` (inside each probe, so a learned table is trained on the
  training folds only) mapping a prepared batch ``(..., *)`` to ``(..., out_dim)``.

``describe()`` is what the results file records as the text encoder.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import torch
from torch import nn

from pjbench.benchmarks.errors import PjbenchError

__all__ = ["FrozenHFTextEncoder", "HashEmbedding", "LearnedTextEncoder", "TextEncoder", "build_text_encoder"]

_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


@runtime_checkable
class TextEncoder(Protocol):
    out_dim: int

    def prepare(self, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        """``(n, *)`` inputs of ``module()`` for each (question, candidate) pair."""
        ...

    def module(self) -> nn.Module:
        """A fresh module: prepared ``(..., *)`` -> ``float (..., out_dim)``."""
        ...

    def describe(self) -> dict[str, Any]:
        ...


class HashEmbedding(nn.Module):
    """Mean of learned bucket embeddings: ``int64 (..., L)`` ids (0 = padding) -> ``(..., dim)``."""

    def __init__(self, n_buckets: int, dim: int):
        super().__init__()
        self.table = nn.Embedding(n_buckets, dim, padding_idx=0)
        nn.init.normal_(self.table.weight, std=0.02)
        with torch.no_grad():
            self.table.weight[0].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids > 0).unsqueeze(-1).float()
        return (self.table(ids) * mask).sum(-2) / mask.sum(-2).clamp_min(1.0)


class LearnedTextEncoder:
    """Tokenizer-free text side: lower-cased words and word bigrams of the question (``q:`` namespace) and
    of the candidate (``c:``), hashed (blake2b) into ``n_buckets`` learned embeddings, averaged.

    The table is part of the probe, so it is trained with it on the training folds only. Its size
    (``n_buckets * dim`` parameters, 1 M by default) is what AdamW updates densely at every step: the
    cost of a probe step on CPU is dominated by it for small video grids."""

    def __init__(self, dim: int = 64, n_buckets: int = 1 << 14, max_features: int = 96):
        if n_buckets < 2:
            raise ValueError("n_buckets must be >= 2 (bucket 0 is padding)")
        self.out_dim, self.n_buckets, self.max_features = int(dim), int(n_buckets), int(max_features)

    def features(self, question: str, candidate: str) -> list[str]:
        out: list[str] = []
        for ns, text in (("q", question), ("c", candidate)):
            words = _WORD.findall((text or "").lower())
            out += [f"{ns}:{w}" for w in words]
            out += [f"{ns}:{a} {b}" for a, b in zip(words, words[1:])]
        return out

    def bucket(self, feature: str) -> int:
        # blake2b, not CRC32: CRC is linear, and its low bits collide for short strings ("c:red"/"c:blue").
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        return 1 + int.from_bytes(digest, "little") % (self.n_buckets - 1)

    def prepare(self, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        """``int64 (n, L)`` bucket ids, right-padded with 0; at most ``max_features`` per pair (the
        candidate's features come after the question's, so long questions are cut, not the candidate)."""
        rows = []
        for q, c in pairs:
            qf = self.features(q, "")
            cf = self.features("", c)
            keep = cf[: self.max_features]
            keep = qf[: self.max_features - len(keep)] + keep
            rows.append([self.bucket(f) for f in keep])
        width = max(1, max((len(r) for r in rows), default=1))
        ids = torch.zeros(len(rows), width, dtype=torch.int64)
        for i, r in enumerate(rows):
            if r:
                ids[i, : len(r)] = torch.tensor(r, dtype=torch.int64)
        return ids

    def module(self) -> nn.Module:
        return HashEmbedding(self.n_buckets, self.out_dim)

    def describe(self) -> dict[str, Any]:
        return {"kind": "learned-hash", "id": f"learned-hash-{self.n_buckets}x{self.out_dim}",
                "n_buckets": self.n_buckets, "dim": self.out_dim, "max_features": self.max_features,
                "features": "lower-cased words + word bigrams, question/candidate namespaces, blake2b buckets",
                "trained_on": "training folds only (part of the probe)"}


class FrozenHFTextEncoder:
    """A frozen transformers text model (``AutoModel`` + ``AutoTokenizer``): the question and candidate are
    encoded as a text pair, last hidden state mean-pooled over real tokens. Loaded from a local
    ``save_pretrained`` directory, or a hub id already in the local HF cache (never downloaded)."""

    def __init__(self, hf_id_or_dir: str, device: str = "cpu", max_length: int = 128, batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        local = Path(hf_id_or_dir).expanduser()
        source = str(local) if local.exists() else hf_id_or_dir
        if local.exists() and not (local / "config.json").is_file():
            raise PjbenchError(f"{local}: not a transformers model directory (no config.json)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            self.model = AutoModel.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError) as exc:
            where = "directory" if local.exists() else "hub id (looked only in the local Hugging Face cache)"
            raise PjbenchError(
                f"text encoder {hf_id_or_dir!r}: cannot load it from the {where} ({type(exc).__name__}: {exc}). "
                f"Nothing is downloaded: on a machine with internet run `huggingface-cli download {hf_id_or_dir} "
                "--local-dir text-enc`, copy the folder here and pass its path."
            ) from None
        self.device = torch.device(device)
        self.model = self.model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.source = source
        self.checkpoint_hash = None
        if local.exists():
            from pjbench.encoders.vjepa2_hf import hash_weights

            self.checkpoint_hash = hash_weights(local)
        self.max_length, self.batch_size = int(max_length), int(batch_size)
        self.out_dim = int(self.model.config.hidden_size)
        self._cache: dict[tuple[str, str], torch.Tensor] = {}

    @torch.inference_mode()
    def _embed(self, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        enc = self.tokenizer([q for q, _ in pairs], [c for _, c in pairs], padding=True, truncation=True,
                             max_length=self.max_length, return_tensors="pt")
        enc = {k: v.to(self.device) for k, v in enc.items()}
        hidden = self.model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)).float().cpu()

    def prepare(self, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        """``float32 (n, hidden)``; each distinct pair is embedded once per run (in-memory cache)."""
        todo = list(dict.fromkeys(p for p in pairs if p not in self._cache))
        for lo in range(0, len(todo), self.batch_size):
            chunk = todo[lo : lo + self.batch_size]
            for p, e in zip(chunk, self._embed(chunk)):
                self._cache[p] = e
        if not pairs:
            return torch.zeros(0, self.out_dim)
        return torch.stack([self._cache[p] for p in pairs])

    def module(self) -> nn.Module:
        return nn.Identity()

    def describe(self) -> dict[str, Any]:
        return {"kind": "frozen-hf", "id": self.source, "checkpoint_hash": self.checkpoint_hash,
                "model_type": getattr(self.model.config, "model_type", None), "dim": self.out_dim,
                "pooling": "mean of last hidden state over non-padding tokens", "input": "(question, candidate) text pair"}


def build_text_encoder(spec: Any = None, device: str = "cpu") -> TextEncoder:
    """``None`` / ``"learned"`` -> :class:`LearnedTextEncoder`; an object with ``prepare``/``module`` is used
    as is; any other string (``"hf:<id>"``, a hub id or a local directory) -> :class:`FrozenHFTextEncoder`."""
    if spec is None or spec == "learned":
        return LearnedTextEncoder()
    if not isinstance(spec, str):
        if all(hasattr(spec, a) for a in ("prepare", "module", "describe", "out_dim")):
            return spec
        raise PjbenchError(f"text encoder {spec!r}: expected 'learned', an HF id / directory, or a TextEncoder")
    return FrozenHFTextEncoder(spec[3:] if spec.startswith("hf:") else spec, device=device)
