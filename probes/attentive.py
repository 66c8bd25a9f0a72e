"""A V-JEPA-style attentive probe for multiple-choice video QA on frozen video tokens.

For every candidate answer ``k`` of an item::

    text_k  = text_proj(text_module(question, candidate_k))               (W,)
    queries = learned queries (Q, W) + text_k                              (Q, W)
    memory  = [text_k ; video_proj(LN(tokens)) + pos]                      (1 + N, W)
    x       = queries + CrossAttn(LN(queries), LN(memory))
    x       = x + MLP(LN(x))
    score_k = Linear(LN(mean_q x))                                         scalar

then softmax over the candidates and cross-entropy against the right one. The video-blind control is the
same probe with the projected video tokens replaced by zeros (and no position embedding): it sees the
question and candidates only, so whatever it scores is a text shortcut.

Training: AdamW at a constant learning rate (no schedule) so that the model after ``e`` epochs of one
run is exactly "the probe trained for ``e`` epochs"; inner validation then reads every epoch count of
the grid off a single run. Deterministic on CPU for a given seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AttentiveProbe", "ProbeConfig", "ProbeData", "TrainParams", "evaluate_scores", "predict_scores", "train_probe"]


@dataclass(frozen=True)
class ProbeConfig:
    """Architecture and batching (fixed; the grid in :mod:`pjbench.probes.crossval` varies lr, wd, epochs)."""

    width: int = 128
    n_queries: int = 4
    n_heads: int = 4
    mlp_ratio: float = 2.0
    batch_size: int = 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainParams:
    lr: float
    weight_decay: float
    epochs: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AttentiveProbe(nn.Module):
    """Scores ``(B, K)`` from video tokens ``(B, N, D)`` and prepared text inputs ``(B, K, *)``."""

    def __init__(self, video_dim: int, n_tokens: int, text_module: nn.Module, text_dim: int,
                 cfg: ProbeConfig = ProbeConfig(), video_blind: bool = False):
        super().__init__()
        w = cfg.width
        if w % cfg.n_heads:
            raise ValueError(f"probe width {w} is not a multiple of n_heads {cfg.n_heads}")
        self.video_blind = bool(video_blind)
        self.video_norm = nn.LayerNorm(video_dim)
        self.video_proj = nn.Linear(video_dim, w)
        self.pos = nn.Parameter(torch.zeros(n_tokens, w))
        self.text = text_module
        self.text_proj = nn.Sequential(nn.LayerNorm(text_dim), nn.Linear(text_dim, w))
        self.queries = nn.Parameter(torch.zeros(cfg.n_queries, w))
        self.norm_q, self.norm_kv = nn.LayerNorm(w), nn.LayerNorm(w)
        self.attn = nn.MultiheadAttention(w, cfg.n_heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(w)
        hidden = int(w * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(w, hidden), nn.GELU(), nn.Linear(hidden, w))
        self.head = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, 1))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.queries, std=0.02)

    def forward(self, video: torch.Tensor, text_inputs: torch.Tensor) -> torch.Tensor:
        b, k = text_inputs.shape[:2]
        t = self.text_proj(self.text(text_inputs))  # (B, K, W)
        w = t.shape[-1]
        if self.video_blind:
            v = t.new_zeros(b, video.shape[1], w)
        else:
            v = self.video_proj(self.video_norm(video)) + self.pos
        t = t.reshape(b * k, 1, w)
        memory = torch.cat([t, v.repeat_interleave(k, dim=0)], dim=1)  # (B*K, 1+N, W)
        q = self.queries.unsqueeze(0) + t  # (B*K, Q, W)
        mem = self.norm_kv(memory)
        x = q + self.attn(self.norm_q(q), mem, mem, need_weights=False)[0]
        x = x + self.mlp(self.norm_mlp(x))
        return self.head(x.mean(1)).view(b, k)


@dataclass
class ProbeData:
    """Everything the probe reads, by item position ``i``.

    video:  ``video(positions) -> float32 (B, N, D)`` (reads the feature cache; see FeatureIndex.tokens).
    text:   ``(n_items, K, *)`` prepared text inputs (see :mod:`pjbench.probes.text`).
    labels: ``int64 (n_items,)``, -1 where unknown.
    """

    video: Callable[[Sequence[int]], torch.Tensor]
    text: torch.Tensor
    labels: torch.Tensor
    n_tokens: int
    video_dim: int

    def batch(self, idx: Sequence[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ix = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        return (self.video(list(idx)).to(device), self.text[ix].to(device), self.labels[ix].to(device))


def _batches(idx: np.ndarray, size: int) -> list[np.ndarray]:
    return [idx[i : i + size] for i in range(0, len(idx), size)]


@torch.no_grad()
def predict_scores(probe: AttentiveProbe, data: ProbeData, idx: Sequence[int], *, batch_size: int = 64,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Candidate scores ``float (len(idx), K)`` (logits of the softmax over candidates)."""
    device = torch.device(device)
    probe.eval()
    out = []
    for b in _batches(np.asarray(idx, dtype=np.int64), batch_size):
        video, text, _ = data.batch(b, device)
        out.append(probe(video, text).float().cpu().numpy())
    k = data.text.shape[1]
    return np.concatenate(out) if out else np.zeros((0, k))


def evaluate_scores(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{"accuracy", "loss"}`` of candidate scores against labels (mean cross-entropy, nats)."""
    s = torch.as_tensor(scores, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.int64)
    return {"accuracy": float((s.argmax(1) == y).double().mean()), "loss": float(F.cross_entropy(s, y))}


def train_probe(
    make_probe: Callable[[], AttentiveProbe],
    data: ProbeData,
    train_idx: Sequence[int],
    params: TrainParams,
    *,
    batch_size: int = 32,
    seed: int = 0,
    device: str | torch.device = "cpu",
    val_idx: Sequence[int] | None = None,
    eval_epochs: Sequence[int] = (),
) -> tuple[AttentiveProbe, dict[int, dict[str, float]]]:
    """Train a fresh probe on ``train_idx`` for ``params.epochs`` epochs (AdamW, constant lr, shuffled
    minibatches, seeded). With ``val_idx``, returns ``{epoch: {"accuracy", "loss"}}`` on it after each
    epoch in ``eval_epochs``. Returns ``(probe, history)``."""
    device = torch.device(device)
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if len(train_idx) == 0:
        raise ValueError("no training items")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = make_probe().to(device)
    opt = torch.optim.AdamW(probe.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    rng = np.random.default_rng(seed)
    history: dict[int, dict[str, float]] = {}
    wanted = set(int(e) for e in eval_epochs)
    for epoch in range(1, params.epochs + 1):
        probe.train()
        for b in _batches(rng.permutation(train_idx), batch_size):
            video, text, labels = data.batch(b, device)
            loss = F.cross_entropy(probe(video, text), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if val_idx is not None and epoch in wanted:
            scores = predict_scores(probe, data, val_idx, device=device)
            history[epoch] = evaluate_scores(scores, data.labels[np.asarray(val_idx, dtype=np.int64)].numpy())
    probe.eval()
    return probe, history
