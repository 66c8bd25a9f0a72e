"""A V-JEPA-style attentive probe for multiple-choice video QA on frozen video tokens.

Video tokens ``(N, D)`` of a ``(t, h, w)`` grid first become ``(N, 3D)`` (:func:`static_dynamic`): per
token its *dynamic* part (minus the mean over time of its spatial cell), the *static* part (that mean) and
its *delta* (derivative over time), each dimension then standardised with a mean and std fitted on the
training items of the fold. Why: frozen features of a scene are dominated by what never moves (backdrop,
objects' looks) while the answer of a minimal pair lies in what changes; on synthetic MVPBench the two
videos of a pair differ by about a fifth of the spread between scenes in raw pixel tokens (less after
average pooling), and a probe on raw LayerNorm-ed tokens sat at the text prior (loss ln 2, the same answer
for both videos of every pair). The delta makes the direction of time readable after pooling: a video
played backwards (the up/down pairs) has the same static part and the same multiset of dynamic tokens,
only order-sensitive attention could tell them apart. ``static_dynamic=False`` (or no grid) keeps the raw
tokens (still standardised). Then, for every candidate answer ``k`` of an item::

    text_k  = text_proj(text_module(question, candidate_k))                    (W,)
    memory  = LN(video_proj(standardised [dynamic; static; delta]) + pos)       (N, W)  once per item
    q       = learned queries (Q, W) + text_k                                   (Q, W)
    a       = CrossAttn(LN(q), memory)                                          (Q, W)
    x       = q + a;   x = x + MLP(LN(x))
    score_k = Linear(LN(mean_q x)) + <U text_k, V LN(mean_q a)> / sqrt(W)       scalar

then softmax over the candidates and cross-entropy against the right one. The bilinear term is the direct
"candidate x video" interaction: the same video evidence must raise one candidate and lower the other,
which a sum of a text term and a video term cannot express (the attention path can, only through the
non-linearities). The video-blind control is the same probe with the projected video tokens replaced by
zeros (and no position embedding): it sees the question and candidates only, so whatever it scores is a
text shortcut.

Training: AdamW at a constant learning rate (no schedule) so that the model after ``e`` epochs of one
run is exactly "the probe trained for ``e`` epochs"; inner validation then reads every epoch count of
the grid off a single run. Deterministic on CPU for a given seed; on CPU it runs on one thread by default
(the probe's ops are tiny: on a shared 2-core machine two intra-op threads were 10-40x slower).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AttentiveProbe", "ProbeConfig", "ProbeData", "TrainParams", "evaluate_scores", "predict_scores",
           "static_dynamic", "train_probe"]


@dataclass(frozen=True)
class ProbeConfig:
    """Architecture and batching (fixed; the grid in :mod:`pjbench.probes.crossval` varies lr, wd, epochs).

    ``static_dynamic``: tokens -> [dynamic, static, delta] (:func:`static_dynamic`; needs the token grid,
    ignored without one). ``interaction``: the bilinear candidate x video term of the score."""

    width: int = 128
    n_queries: int = 4
    n_heads: int = 4
    mlp_ratio: float = 2.0
    batch_size: int = 32
    static_dynamic: bool = True
    interaction: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainParams:
    lr: float
    weight_decay: float
    epochs: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def static_dynamic(video: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
    """``(B, N, D)`` tokens of a ``(t, h, w)`` grid (raster order) -> ``(B, N, 3D)``: per token
    ``[x - s, s, dx/dt]`` with ``s`` the mean over the ``t`` tokens of the same spatial cell and ``dx/dt`` the
    central difference over time (one-sided at the ends, 0 when ``t == 1``): static + dynamic + delta, as
    speech features add deltas. The delta makes the direction of time linearly readable after pooling
    (a video played backwards flips its sign), which a mean over tokens of ``x`` or ``x - s`` is not."""
    b, n, d = video.shape
    t = int(grid[0])
    if n != int(np.prod([int(g) for g in grid])):
        raise ValueError(f"{n} video tokens do not form the grid {tuple(grid)}")
    x = video.reshape(b, t, n // t, d)
    static = x.mean(1, keepdim=True).expand_as(x)
    if t == 1:
        delta = torch.zeros_like(x)
    else:
        delta = torch.gradient(x, dim=1)[0]
    return torch.cat([x - static, static, delta], dim=-1).reshape(b, n, 3 * d)


class AttentiveProbe(nn.Module):
    """Scores ``(B, K)`` from video tokens ``(B, N, D)`` and prepared text inputs ``(B, K, *)``.

    ``grid``: the ``(t, h, w)`` token grid (needed for the static / dynamic split). The video
    standardisation is the identity until :meth:`fit_video_stats` is called (``train_probe`` does it on
    the training items)."""

    def __init__(self, video_dim: int, n_tokens: int, text_module: nn.Module, text_dim: int,
                 cfg: ProbeConfig = ProbeConfig(), video_blind: bool = False,
                 grid: Sequence[int] | None = None):
        super().__init__()
        w = cfg.width
        if w % cfg.n_heads:
            raise ValueError(f"probe width {w} is not a multiple of n_heads {cfg.n_heads}")
        if grid is not None and int(np.prod([int(g) for g in grid])) != n_tokens:
            raise ValueError(f"token grid {tuple(grid)} does not hold {n_tokens} tokens")
        self.cfg = cfg
        self.video_blind = bool(video_blind)
        self.grid = tuple(int(g) for g in grid) if grid is not None and cfg.static_dynamic else None
        in_dim = video_dim * (3 if self.grid else 1)
        self.register_buffer("video_mean", torch.zeros(in_dim))
        self.register_buffer("video_std", torch.ones(in_dim))
        self.video_proj = nn.Linear(in_dim, w)
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
        if cfg.interaction:
            self.cand_key = nn.Linear(w, w)
            self.video_key = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, w))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.queries, std=0.02)

    def video_inputs(self, video: torch.Tensor) -> torch.Tensor:
        """``(B, N, D)`` -> ``(B, N, D')`` before standardisation (static / dynamic / delta when configured)."""
        return static_dynamic(video, self.grid) if self.grid else video

    @torch.no_grad()
    def fit_video_stats(self, batches: Iterable[torch.Tensor]) -> None:
        """Per-dimension mean / std of :meth:`video_inputs` over all tokens of the given ``(B, N, D)`` batches
        (float64 sums). A dimension (nearly) constant there gets std ``max(std, 1% of the mean std)``, so
        it cannot blow up on other videos."""
        s = s2 = None
        n = 0
        for video in batches:
            x = self.video_inputs(video.to(self.video_mean.device)).double().reshape(-1, self.video_mean.numel())
            s = x.sum(0) if s is None else s + x.sum(0)
            s2 = (x * x).sum(0) if s2 is None else s2 + (x * x).sum(0)
            n += x.shape[0]
        if not n:
            raise ValueError("no video tokens to fit the standardisation on")
        mean = s / n
        std = (s2 / n - mean * mean).clamp_min(0.0).sqrt()
        std = std.clamp_min(max(1e-6, 0.01 * float(std.mean())))
        self.video_mean.copy_(mean.float())
        self.video_std.copy_(std.float())

    def forward(self, video: torch.Tensor, text_inputs: torch.Tensor) -> torch.Tensor:
        b, k = text_inputs.shape[:2]
        t = self.text_proj(self.text(text_inputs))  # (B, K, W)
        w = t.shape[-1]
        nq = self.queries.shape[0]
        if self.video_blind:
            v = t.new_zeros(b, video.shape[1], w)
        else:
            v = self.video_proj((self.video_inputs(video) - self.video_mean) / self.video_std) + self.pos
        mem = self.norm_kv(v)  # (B, N, W): keys and values once per item, shared by its K candidates
        q = (self.queries.view(1, 1, nq, w) + t.unsqueeze(2)).reshape(b, k * nq, w)
        a = self.attn(self.norm_q(q), mem, mem, need_weights=False)[0]
        x = q + a
        x = x + self.mlp(self.norm_mlp(x))
        score = self.head(x.reshape(b, k, nq, w).mean(2)).view(b, k)
        if self.cfg.interaction:
            a = a.reshape(b, k, nq, w).mean(2)
            score = score + (self.cand_key(t) * self.video_key(a)).sum(-1) / w**0.5
        return score


@dataclass
class ProbeData:
    """Everything the probe reads, by item position ``i``.

    video:  ``video(positions) -> float32 (B, N, D)`` (reads the feature cache; see FeatureIndex.tokens).
    text:   ``(n_items, K, *)`` prepared text inputs (see :mod:`pjbench.probes.text`).
    labels: ``int64 (n_items,)``, -1 where unknown.
    grid:   the ``(t, h, w)`` grid of the ``N`` tokens (raster order), ``None`` if unknown.
    """

    video: Callable[[Sequence[int]], torch.Tensor]
    text: torch.Tensor
    labels: torch.Tensor
    n_tokens: int
    video_dim: int
    grid: tuple[int, int, int] | None = None

    def batch(self, idx: Sequence[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ix = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        return (self.video(list(idx)).to(device), self.text[ix].to(device), self.labels[ix].to(device))


def _batches(idx: np.ndarray, size: int) -> list[np.ndarray]:
    return [idx[i : i + size] for i in range(0, len(idx), size)]


@contextmanager
def cpu_threads(device: torch.device, n: int | None):
    """Run the block with ``n`` torch intra-op threads when ``device`` is the CPU (``None``: leave as is)."""
    if device.type != "cpu" or n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def predict_scores(probe: AttentiveProbe, data: ProbeData, idx: Sequence[int], *, batch_size: int = 64,
                   device: str | torch.device = "cpu", threads: int | None = 1) -> np.ndarray:
    """Candidate scores ``float (len(idx), K)`` (logits of the softmax over candidates). ``threads``: torch
    threads on CPU while scoring (see :func:`train_probe`)."""
    device = torch.device(device)
    probe.eval()
    out = []
    with cpu_threads(device, threads):
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
    threads: int | None = 1,
) -> tuple[AttentiveProbe, dict[int, dict[str, float]]]:
    """Train a fresh probe on ``train_idx`` for ``params.epochs`` epochs (AdamW, constant lr, shuffled
    minibatches, seeded), after fitting its video standardisation on the same items. With ``val_idx``,
    returns ``{epoch: {"accuracy", "loss"}}`` on it after each epoch in ``eval_epochs``. ``threads``: torch
    intra-op threads on CPU during training (default 1: the probe's ops are too small to gain from more,
    and on a loaded machine extra threads spin; ``None`` keeps the process setting). Returns
    ``(probe, history)``."""
    device = torch.device(device)
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if len(train_idx) == 0:
        raise ValueError("no training items")
    with cpu_threads(device, threads):
        return _train(make_probe, data, train_idx, params, batch_size, seed, device, val_idx, eval_epochs)


def _train(make_probe, data, train_idx, params, batch_size, seed, device, val_idx, eval_epochs):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = make_probe().to(device)
    if not probe.video_blind:
        probe.fit_video_stats(data.video(list(b)) for b in _batches(train_idx, 256))
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
            scores = predict_scores(probe, data, val_idx, device=device, threads=None)
            history[epoch] = evaluate_scores(scores, data.labels[np.asarray(val_idx, dtype=np.int64)].numpy())
    probe.eval()
    return probe, history
