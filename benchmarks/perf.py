"""The performance benchmark: ratios measured side by side in one run (``pjbench perf``, ``scripts/perf.py``).

Each measurement times the fast path and its naive counterpart in the same process, on the same data, so
the ratio holds on the machine that printed it:

- ``decode``: :func:`~pjbench.benchmarks.video.decode_video` at ``frame_step`` 10 of a 512 x 512, 636-frame,
  60 fps H.264 clip vs decoding every frame to RGB and then subsampling (goal >= 3x);
- ``end_to_end``: :func:`~pjbench.benchmarks.runner.evaluate` vs the surprise forward passes alone on the
  same, already decoded clips (goal <= 1.25x: decoding hidden by the DataLoader workers);
- ``surprise_flops`` / ``surprise_wall``: :func:`~pjbench.probes.surprise.video_surprise` vs
  :func:`~pjbench.probes.surprise.video_surprise_reference` on a tiny V-JEPA 2 at the IntPhys 2 protocol
  (window 48, contexts 12..42, ``max_context_mode``, a 64-frame video): forward FLOPs counted by
  ``torch.utils.flop_counter`` (every matmul and attention op actually run), and wall time (goal >= 3x);
- ``warm_cache``: a second ``evaluate`` into a new ``--out`` sharing the feature cache vs the first (goal >= 50x);
- ``peak_rss``: peak resident memory of ``evaluate`` (a fresh subprocess each) on 10 N vs N clips
  (goal <= 1.2x);
- ``bootstrap``, ``metrics``: seconds of the statistics (:mod:`pjbench.benchmarks.perf_stats`).

``run_perf(out_dir, quick=True)`` shrinks every workload for a smoke test (its timings mean nothing).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from pjbench.benchmarks.perf_stats import measure_bootstrap, measure_metrics
from pjbench.benchmarks.results import atomic_write_text

PERF_FILE = "perf.json"


@dataclass
class Measurement:
    """One row of the table: ``value`` compared with ``goal`` (``ge`` or ``le`` the ``threshold``)."""

    name: str
    what: str
    value: float | None
    threshold: float
    direction: str  # "ge" | "le"
    detail: dict[str, Any] = field(default_factory=dict)
    status: str | None = None  # None = measured; else why there is no value (e.g. "pending: ...")
    unit: str = "x"  # "x": a ratio of two timings; "s": seconds

    @property
    def goal(self) -> str:
        return f"{'>=' if self.direction == 'ge' else '<='} {self.threshold:g}{'x' if self.unit == 'x' else ' s'}"

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.threshold if self.direction == "ge" else self.value <= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "goal": self.goal, "passed": self.passed}


# --------------------------------------------------------------------------------------------- counting


class WorkCounter:
    """Counts the work a :class:`~pjbench.encoders.base.PredictiveEncoder` does inside the ``with`` block.

    Protocol level (any encoder): ``targets_calls``, ``target_windows`` (windows whose targets were encoded),
    ``predict_calls`` (``predict`` or ``predict_many`` calls), ``context_passes`` (window x context
    predictions). Module level, for encoders holding a transformers-style ``model.encoder`` and
    ``model.predictor`` (V-JEPA 2), through forward hooks: ``encoder_calls``, ``tokens_encoded`` (encoder
    output tokens), ``predictor_calls``, ``predictor_tokens`` (rows x sequence through the predictor's final norm,
    i.e. once per predictor pass). Numbers a model does not expose stay ``None``.
    """

    def __init__(self, model: Any):
        self.model = model
        self.counts: dict[str, int | None] = dict.fromkeys(
            ("targets_calls", "target_windows", "predict_calls", "context_passes"), 0)
        self.counts.update(dict.fromkeys(("encoder_calls", "tokens_encoded", "predictor_calls", "predictor_tokens")))
        self._patched: list[str] = []
        self._hooks: list[Any] = []

    def __enter__(self) -> "WorkCounter":
        m = self.model
        c = self.counts
        orig_targets, orig_predict = m.targets, m.predict
        orig_many = getattr(m, "predict_many", None)

        def targets(clips):
            c["targets_calls"] += 1
            c["target_windows"] += clips.shape[0]
            return orig_targets(clips)

        def predict(clips, n):
            c["predict_calls"] += 1
            c["context_passes"] += clips.shape[0]
            return orig_predict(clips, n)

        self._set("targets", targets)
        self._set("predict", predict)
        if orig_many is not None:
            def predict_many(clips, contexts):
                c["predict_calls"] += 1
                c["context_passes"] += clips.shape[0] * len(contexts)
                return orig_many(clips, contexts)

            self._set("predict_many", predict_many)
        inner = getattr(m, "model", None)
        enc, pred = getattr(inner, "encoder", None), getattr(inner, "predictor", None)
        if isinstance(enc, torch.nn.Module):
            c["encoder_calls"] = c["tokens_encoded"] = 0

            def on_encoder(module, args, kwargs, output):
                hidden = getattr(output, "last_hidden_state", output)
                c["encoder_calls"] += 1
                c["tokens_encoded"] += hidden.shape[0] * hidden.shape[1]

            self._hooks.append(enc.register_forward_hook(on_encoder, with_kwargs=True))
        norm = getattr(pred, "layernorm", None)
        if isinstance(norm, torch.nn.Module):
            c["predictor_calls"] = c["predictor_tokens"] = 0

            def on_predictor(module, args, output):
                c["predictor_calls"] += 1
                c["predictor_tokens"] += output.shape[0] * output.shape[1]

            self._hooks.append(norm.register_forward_hook(on_predictor))
        return self

    def _set(self, name: str, fn: Callable) -> None:
        setattr(self.model, name, fn)
        self._patched.append(name)

    def __exit__(self, *exc: Any) -> None:
        for name in self._patched:
            delattr(self.model, name)  # back to the class attribute
        for h in self._hooks:
            h.remove()
        self._patched, self._hooks = [], []


def count_flops(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``(fn(), forward FLOPs)``: every matmul, convolution and attention op ``fn`` runs, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as mode:
        out = fn()
    return out, int(mode.get_total_flops())


def best_time(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Fastest of ``repeat`` wall-clock runs of ``fn``, in seconds (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# --------------------------------------------------------------------------------------------- workloads


def perf_clip(path: Path, frames: int = 636, side: int = 512, fps: int = 60) -> Path:
    """The decode benchmark's clip (written once, reused): a textured backdrop with moving discs, H.264."""
    from pjbench.benchmarks.video import write_video

    meta = path.with_suffix(".json")
    spec = {"frames": frames, "side": side, "fps": fps, "version": 1}
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()) == spec:
        return path
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    backdrop = np.stack([128 + 60 * np.sin(xx / 23.0), 128 + 60 * np.cos(yy / 31.0),
                         128 + 40 * np.sin((xx + yy) / 47.0)], axis=-1)
    backdrop += rng.normal(0, 6, backdrop.shape).astype(np.float32)  # texture: realistic bitrates
    video = np.empty((frames, side, side, 3), dtype=np.uint8)
    centers = rng.uniform(0.2 * side, 0.8 * side, (4, 2))
    speeds = rng.uniform(-1.5, 1.5, (4, 2))
    colors = rng.uniform(0, 255, (4, 3))
    for t in range(frames):
        frame = backdrop.copy()
        for (cy, cx), (vy, vx), col in zip(centers, speeds, colors):
            y, x = (cy + vy * t) % side, (cx + vx * t) % side
            frame[(yy - y) ** 2 + (xx - x) ** 2 < (side / 12) ** 2] = col
        video[t] = np.clip(frame, 0, 255)
    write_video(path, video, fps=fps, crf=23)
    atomic_write_text(meta, json.dumps(spec))
    return path


def measure_decode(out_dir: Path, quick: bool) -> Measurement:
    from pjbench.benchmarks.video import decode_video

    frames, side = (96, 128) if quick else (636, 512)
    clip = perf_clip(out_dir / f"perf_clip_{side}px_{frames}f.mp4", frames=frames, side=side)
    step = 10
    fast = decode_video(clip, frame_step=step)
    naive = decode_video(clip, frame_step=1)[::step]
    if not np.array_equal(fast, naive):
        raise RuntimeError("decode at frame_step differs from decode-all-then-subsample")
    repeat = 1 if quick else 2
    t_fast = best_time(lambda: decode_video(clip, frame_step=step), repeat)
    t_naive = best_time(lambda: decode_video(clip, frame_step=1)[::step], repeat)
    return Measurement(
        "decode", f"decode frame_step {step} vs decode-all-then-subsample ({side}px, {frames} frames, 60 fps H.264)",
        t_naive / t_fast, 3.0, "ge",
        {"fast_s": round(t_fast, 4), "naive_s": round(t_naive, 4), "kept_frames": int(fast.shape[0])})


def _tiny_vjepa2(seed: int = 0, **overrides: Any):
    from pjbench.encoders.base import ModelInfo, count_params
    from pjbench.encoders.vjepa2_hf import VJEPA2Surprise, build_tiny_random

    model = build_tiny_random(seed, **overrides)
    return VJEPA2Surprise(model, ModelInfo(name="vjepa2-perf-tiny", params=count_params(model)))


def measure_surprise(quick: bool) -> list[Measurement]:
    from pjbench.probes.surprise import SurpriseConfig, plan_surprise, video_surprise, video_surprise_reference

    model = _tiny_vjepa2(crop_size=32) if quick else _tiny_vjepa2()
    pp = model.preprocessing
    if quick:
        cfg = SurpriseConfig(window=16, stride=2, contexts=(4, 8, 12), tubelet=2, prefix_step=2)
        n_frames = 20
    else:  # the IntPhys 2 protocol: 636 frames at 60 fps sampled at 6 fps = 64 frames, 9 windows
        cfg = SurpriseConfig.for_model(pp)
        n_frames = 64
    clip = torch.randn(n_frames, 3, pp.resolution, pp.resolution, generator=torch.Generator().manual_seed(0))
    fast, flops_fast = count_flops(lambda: video_surprise(model, clip, cfg, batch_size=8))
    ref, flops_ref = count_flops(lambda: video_surprise_reference(model, clip, cfg))
    for c in cfg.contexts:  # the ratio means nothing unless both compute the same numbers
        np.testing.assert_allclose(fast[c], ref[c], rtol=1e-4, atol=1e-5)
    with WorkCounter(model) as wc_fast:
        video_surprise(model, clip, cfg, batch_size=8)
    with WorkCounter(model) as wc_ref:
        video_surprise_reference(model, clip, cfg)
    repeat = 1 if quick else 3
    t_fast = best_time(lambda: video_surprise(model, clip, cfg, batch_size=8), repeat)
    t_ref = best_time(lambda: video_surprise_reference(model, clip, cfg), repeat)
    plan = plan_surprise([n_frames], cfg, pp, batch_size=8)
    detail = {"protocol": cfg.to_dict(), "n_frames": n_frames, "model": "vjepa2-tiny-random config",
              "fast_counts": wc_fast.counts, "reference_counts": wc_ref.counts, "plan_total": plan["total"],
              "plan_reference": plan["reference"]}
    return [
        Measurement("surprise_flops", "forward FLOPs: reference loop / shared-target batched surprise",
                    flops_ref / flops_fast, 3.0, "ge", {**detail, "flops_fast": flops_fast, "flops_reference": flops_ref}),
        Measurement("surprise_wall", "wall time: reference loop / shared-target batched surprise",
                    t_ref / t_fast, 3.0, "ge", {"fast_s": round(t_fast, 4), "reference_s": round(t_ref, 4)}),
    ]


def perf_suite(out_dir: Path, quick: bool) -> Path:
    """A Main-only synthetic IntPhys 2 suite (written once, reused)."""
    from pjbench.synthetic import write_intphys2_suite

    root = out_dir / ("suite_quick" if quick else "suite")
    if (root / "suite.json").is_file():
        return root
    return write_intphys2_suite(root, seed=0, scale=0.1 if quick else 0.5, resolution=64, fps=12,
                                n_frames=48, splits=("Main",), progress=False)


E2E_ARGS = dict(split="Main", frame_step=1, window=16, stride=2, context=8, n_boot=200, progress=False)


def measure_end_to_end(out_dir: Path, quick: bool) -> Measurement:
    from pjbench.benchmarks.runner import evaluate
    from pjbench.benchmarks.tasks import TASKS
    from pjbench.benchmarks.video import decode_video, preprocess
    from pjbench.encoders.registry import MODELS
    from pjbench.probes.surprise import SurpriseConfig, video_surprise

    suite = perf_suite(out_dir, quick)
    limit = 4 if quick else 24
    model_name = "vjepa2-tiny-random"
    items = TASKS.build("intphys2").load(suite, "Main", limit=limit)
    enc = MODELS.build(model_name)
    import dataclasses

    enc.preprocessing = dataclasses.replace(enc.preprocessing, frame_step=1, sample_fps=None)
    cfg = SurpriseConfig.for_model(enc.preprocessing, window=16, stride=2)  # what evaluate runs (8 is a default context)
    clips = [preprocess(decode_video(it.path, frame_step=1), enc.preprocessing) for it in items]

    def forward_only():
        for clip in clips:
            video_surprise(enc, clip, cfg, batch_size=8)

    t_forward = best_time(forward_only, 1 if quick else 2)
    cache = out_dir / "e2e_cache"
    run_dir = out_dir / "e2e_run"

    def e2e():
        _fresh(run_dir, cache)
        with _env(PJBENCH_CACHE=str(cache)):
            evaluate(model_name, suite, run_dir, limit=limit, overwrite="always", **E2E_ARGS)

    t_e2e = best_time(e2e, 1 if quick else 2)
    return Measurement("end_to_end", "end-to-end evaluate / surprise forward passes alone (same clips)",
                       t_e2e / t_forward, 1.25, "le",
                       {"clips": len(clips), "evaluate_s": round(t_e2e, 3), "forward_only_s": round(t_forward, 3),
                        "model": model_name, "workers": "default"})


def measure_warm_cache(out_dir: Path, quick: bool) -> Measurement:
    from pjbench.benchmarks.runner import evaluate

    suite = perf_suite(out_dir, quick)
    limit = 4 if quick else 24
    cache = out_dir / "cache_bench"
    _fresh(cache)
    times, origins = [], []
    for k in range(2):
        run_dir = out_dir / f"cache_run{k}"
        _fresh(run_dir)
        with _env(PJBENCH_CACHE=str(cache)):
            t0 = time.perf_counter()
            results, _ = evaluate("vjepa2-tiny-random", suite, run_dir, limit=limit, **E2E_ARGS)
            times.append(time.perf_counter() - t0)
        origins.append(_origins(run_dir))
    wired = "cache" in origins[1]
    return Measurement(
        "warm_cache", "cold evaluate / warm re-run into a new --out sharing the feature cache",
        times[0] / times[1] if wired else None, 50.0, "ge",
        {"cold_s": round(times[0], 3), "warm_s": round(times[1], 3), "warm_origins": origins[1],
         "wall_ratio_measured": round(times[0] / times[1], 2)},
        status=None if wired else "pending: the runner did not read the feature cache (no item came from it)")


def _origins(run_dir: Path) -> dict[str, int]:
    from pjbench.benchmarks.results import ITEMS_FILE, read_jsonl

    out: dict[str, int] = {}
    for row in read_jsonl(run_dir / ITEMS_FILE):
        key = row.get("origin") or ("cache" if row.get("from_cache") else "computed")
        out[key] = out.get(key, 0) + 1
    return out


RSS_CHILD = r"""
import json, os, resource, sys
import torch
torch.set_num_threads(1)
from pjbench.benchmarks.runner import evaluate
suite, out, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
evaluate("vjepa2-tiny-random", suite, out, limit=limit, workers=0, overwrite="always",
         split="Main", frame_step=1, window=16, stride=2, context=8, n_boot=200, progress=False)
print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _child_peak_rss(suite: Path, out: Path, limit: int, cache: Path) -> int:
    _fresh(out, cache)
    env = {**os.environ, "PJBENCH_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", RSS_CHILD, str(suite), str(out), str(limit)], env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode:
        raise RuntimeError(f"peak-RSS child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return int(json.loads(proc.stdout.strip().splitlines()[-1])["maxrss_kb"])


def measure_peak_rss(out_dir: Path, quick: bool) -> Measurement:
    from pjbench.benchmarks.tasks import TASKS

    suite = perf_suite(out_dir, quick)
    n_all = len(TASKS.build("intphys2").load(suite, "Main"))
    n = max(1, n_all // 10)
    small = _child_peak_rss(suite, out_dir / "rss_small", n, out_dir / "rss_cache_small")
    large = _child_peak_rss(suite, out_dir / "rss_large", 10 * n, out_dir / "rss_cache_large")
    return Measurement("peak_rss", f"peak RSS of evaluate: {10 * n} clips / {n} clips (fresh process each)",
                       large / small, 1.2, "le", {"small_clips": n, "large_clips": 10 * n,
                                                   "small_mib": round(small / 1024, 1), "large_mib": round(large / 1024, 1)})


# --------------------------------------------------------------------------------------------- driver


class _env:
    """Temporarily set environment variables."""

    def __init__(self, **values: str):
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *exc: Any) -> None:
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _fresh(*paths: Path) -> None:
    import shutil

    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


def machine() -> dict[str, Any]:
    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


MEASUREMENTS: dict[str, Callable[[Path, bool], Measurement | list[Measurement]]] = {
    "decode": measure_decode,
    "surprise": lambda out, quick: measure_surprise(quick),
    "end_to_end": measure_end_to_end,
    "warm_cache": measure_warm_cache,
    "peak_rss": measure_peak_rss,
    "bootstrap": measure_bootstrap,
    "metrics": measure_metrics,
}


def run_perf(out_dir: str | os.PathLike, quick: bool = False, only: list[str] | None = None,
             log: Callable[[str], None] | None = None, threads: int | None = 1) -> dict[str, Any]:
    """Run the measurements (``only``: a subset of :data:`MEASUREMENTS`), write ``<out_dir>/perf.json``, and
    return ``{"machine", "quick", "measurements": [row dicts], "wall_s"}``. A measurement that raises is
    recorded with its error instead of hiding the others. ``threads``: torch intra-op threads for the run
    (1 by default: tiny models gain nothing from more, and a shared machine's timings stay stable)."""
    if threads:
        torch.set_num_threads(threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows: list[Measurement] = []
    for name, fn in MEASUREMENTS.items():
        if only and name not in only:
            continue
        if log:
            log(f"measuring {name} ...")
        t = time.perf_counter()
        try:
            got = fn(out, quick)
        except Exception as exc:  # report, and go on with the other measurements
            got = Measurement(name, name, None, 0.0, "ge", status=f"error: {type(exc).__name__}: {exc}")
        for m in got if isinstance(got, list) else [got]:
            m.detail.setdefault("measure_s", round(time.perf_counter() - t, 2))
            rows.append(m)
    result = {"machine": machine(), "quick": quick, "wall_s": round(time.perf_counter() - t0, 2),
              "measurements": [m.to_dict() for m in rows]}
    atomic_write_text(out / PERF_FILE, json.dumps(result, indent=2, default=str) + "\n")
    return result


def format_table(result: dict[str, Any]) -> str:
    """The measurements as a plain-text table, with the machine they came from."""
    head = ("measurement", "value", "goal", "pass", "what")
    rows = []
    for m in result["measurements"]:
        unit = "x" if m.get("unit", "x") == "x" else " s"
        value = f"{m['value']:.2f}{unit}" if m["value"] is not None else (m["status"] or "-").split(":")[0]
        ok = {True: "PASS", False: "FAIL", None: "-"}[m["passed"]]
        rows.append((m["name"], value, m["goal"], ok, m["what"]))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    mc = result["machine"]
    lines.append(f"machine: {mc['cpu_count']} CPUs ({mc['torch_threads']} torch threads), torch {mc['torch']}, "
                 f"python {mc['python']}, {mc['platform']}" + (f", GPU {mc['cuda']}" if mc["cuda"] else ""))
    for m in result["measurements"]:
        if m["status"]:
            lines.append(f"note: {m['name']}: {m['status']}")
    if result.get("quick"):
        lines.append("quick mode: tiny workloads, the ratios are not meaningful")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="pjbench-perf", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="pjbench-perf", help="work directory (clip and suite are cached here)")
    ap.add_argument("--quick", action="store_true", help="tiny workloads: a smoke test, not a measurement")
    ap.add_argument("--only", nargs="*", choices=sorted(MEASUREMENTS), help="run only these measurements")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    result = run_perf(args.out, quick=args.quick, only=args.only, threads=args.threads,
                      log=lambda s: print(s, file=sys.stderr, flush=True))
    print(format_table(result))
    print(f"(written to {Path(args.out) / PERF_FILE}; {result['wall_s']:.0f} s)")
    return 0
