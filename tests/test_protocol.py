"""``--protocol as-published`` against a from-scratch re-implementation of the published surprise loop.

The loop below is written from ``shared/formats.md`` ("Surprise protocol", "Other published-code
behaviour") and the published ``get_time_masks`` arithmetic, on the official checkpoint keys (the
reference blocks of test_vjepa2_official): frames resized to 256 px bilinear WITHOUT antialias; token masks
for a 224-px grid (196 tokens per tubelet) read on the real 16x16 grid -- context = indices [0, 196*C/2),
targets = [196*C/2, 196*M/2), the target encoder seeing only [0, 196*M/2); context from ``encoder``,
targets from ``target_encoder``, LayerNorm (no affine) on the targets; window surprise = mean |pred -
target|; the first window also scored at the short contexts (max_context_mode). A scaled-down window
(M = 8 sampled frames, stride 2, contexts 4 and 6) keeps it fast; the 224-vs-256 mismatch shows at any M.
"""

from __future__ import annotations

import dataclasses
import json

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from test_vjepa2_official import official_encoder, official_predictor, prefixed, ref_block, ref_predictor, strip

from pjbench.benchmarks.cli import main
from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.protocol import AS_PUBLISHED, CORRECTED, check_published_masks, published_token_counts
from pjbench.benchmarks.results import load_items
from pjbench.benchmarks.runner import build_records, evaluate

D, DEPTH, HEADS, DP, PHEADS = 64, 2, 4, 32, 2
TINY256 = {"name": "tiny256", "hidden_size": 64, "depth": 2, "heads": 4, "crop_size": 256, "pred_hidden_size": 32,
           "pred_depth": 1, "pred_heads": 2}
RES, GRID, WINDOW, STRIDE, CONTEXTS = 256, 16, 8, 2, (4, 6)
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
EVAL = dict(window=WINDOW, stride=STRIDE, contexts=CONTEXTS, limit=2, n_boot=200, workers=0, progress=False)


@pytest.fixture(scope="module")
def tiny256_pt(tmp_path_factory):
    g = torch.Generator().manual_seed(11)

    def make(*shape, std=0.05):
        return torch.randn(*shape, generator=g) * std

    ckpt = {"encoder": prefixed(official_encoder(D, DEPTH, 2 * D, make)),
            "predictor": prefixed(official_predictor(D, DP, 1, 2 * DP, make)),
            "target_encoder": prefixed(official_encoder(D, DEPTH, 2 * D, make)), "epoch": 3}
    path = tmp_path_factory.mktemp("ckpt") / "tiny256.pt"
    torch.save(ckpt, path)
    return path, ckpt


@pytest.fixture(scope="module")
def suite288(tmp_path_factory):
    """288-px frames, so the resize to 256 px downsamples (antialiasing matters, as on the 512-px release);
    Main only (no dev split: the context is fixed, or picked on Main by as-published), to keep runs short."""
    from pjbench.synthetic import write_intphys2_suite

    out = tmp_path_factory.mktemp("suite288") / "IntPhys2"
    return write_intphys2_suite(out, seed=1, scale=0.25, resolution=288, fps=12, n_frames=24,
                                splits=("Main",), progress=False)


# ---- the published loop, from scratch ---------------------------------------------------------------------

def frames_of(path):
    """Every decoded frame, then every 2nd (12 fps -> 6 fps, the protocol's rate)."""
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    return torch.from_numpy(frames[::2])


def resize(frames, antialias):
    x = frames.permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(RES, RES), mode="bilinear", antialias=antialias, align_corners=False)
    return (x - MEAN.view(1, 3, 1, 1)) / STD.view(1, 3, 1, 1)


def encode_tokens(sd, clip, n_tokens):
    """Official masked forward: patch-embed the window, keep tokens [0, n_tokens), RoPE from their ids."""
    x = F.conv3d(clip.permute(1, 0, 2, 3).unsqueeze(0), sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"],
                 stride=(2, 16, 16)).flatten(2).transpose(1, 2)
    ids = torch.arange(n_tokens)
    x = x[:, :n_tokens]
    for i in range(DEPTH):
        x = ref_block(x, sd, f"blocks.{i}", HEADS, ids, GRID)
    return F.layer_norm(x, (D,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)


def published_masks(c, m, grid_px):
    per = grid_px / 16 * grid_px / 16  # get_time_masks: x / p * x / p
    return int(per * c // 2), int(per * (m / 2))


def reference_surprise(ckpt, frames, *, grid_px, antialias, context_sd="encoder"):
    """``{C: row}`` of the loop above; ``grid_px`` 224 = published masks, 256 = the real grid."""
    enc, tgt, pred = strip(ckpt[context_sd]), strip(ckpt["target_encoder"]), strip(ckpt["predictor"])
    x = resize(frames, antialias)
    starts = range(0, x.shape[0] - WINDOW + 1, STRIDE)

    def loss(clip, c):
        n_ctx, n_all = published_masks(c, WINDOW, grid_px)
        h = F.layer_norm(encode_tokens(tgt, clip, n_all), (D,))[:, n_ctx:n_all]
        z = encode_tokens(enc, clip, n_ctx)
        p = ref_predictor(pred, z, torch.arange(n_ctx)[None], torch.arange(n_ctx, n_all)[None], mask_index=0,
                          depth=1, heads=PHEADS, grid=GRID)
        return float((p - h).abs().mean())

    rows = {}
    with torch.no_grad():
        for c in CONTEXTS:
            head = [loss(x[:WINDOW], p) for p in range(2, c, 2)]  # max_context_mode: first window, shorter contexts
            rows[c] = head + [loss(x[s:s + WINDOW], c) for s in starts]
    return rows


def _surprise_by_video(run_dir):
    return {r.name: (r.path, {int(k): v for k, v in r.surprise.items()}) for r in load_items(run_dir)}


def _model_args(**kw):
    return {"variant": TINY256, **kw}


# ---- the tests -------------------------------------------------------------------------------------------

def test_published_mask_arithmetic_and_refusals():
    assert published_token_counts(48, 12, 16, 2) == (1176, 4704)  # 196 tokens/tubelet, 24 tubelets
    assert published_token_counts(8, 2, 16, 2) == (196, 784)
    assert published_token_counts(8, 4, 32, 2) == (98, 196)  # 224/32 = 7: 49 per tubelet
    check_published_masks(256, 48, (12, 42), 16, 2)  # runs (a prefix of the real grid)
    check_published_masks(224, 48, (12,), 16, 2)  # right at 224
    with pytest.raises(PjbenchError, match=r"at 64 px .*4x4 tokens.*index 784 tokens: the published loop crashes"):
        check_published_masks(64, 8, (4,), 16, 2, model="vjepa2-tiny-random")


def test_as_published_equals_the_published_loop(tiny256_pt, suite288, tmp_path):
    path, ckpt = tiny256_pt
    fp32 = dataclasses.replace(AS_PUBLISHED, dtype=None)  # every published deviation but bf16: exact comparison
    _, rj = evaluate("vjepa2", suite288, tmp_path / "pub", checkpoint=str(path), model_args=_model_args(),
                     protocol=fp32, **EVAL)
    results = json.loads(rj.read_text())
    assert results["protocol"]["name"] == "as-published"
    assert results["protocol"]["mask_grid"] == 224 and results["protocol"]["context_selection"]["rule"] == "reported"
    assert results["protocol"]["optimistic"] is True
    assert results["protocol"]["encoders"]["context"] == "encoder"
    assert results["protocol"]["encoders"]["targets"] == "target_encoder"
    assert results["model"]["preprocessing"]["antialias"] is False
    _, rc = evaluate("vjepa2", suite288, tmp_path / "cor", checkpoint=str(path), model_args=_model_args(), **EVAL)
    assert json.loads(rc.read_text())["protocol"]["name"] == "corrected"
    pub, cor = _surprise_by_video(tmp_path / "pub"), _surprise_by_video(tmp_path / "cor")
    assert len(pub) >= 4 and set(pub) == set(cor)
    for name in sorted(pub)[:3]:
        video, rows = pub[name]
        frames = frames_of(video)
        want = reference_surprise(ckpt, frames, grid_px=224, antialias=False)
        for c in CONTEXTS:
            np.testing.assert_allclose(rows[c], want[c], rtol=1e-4, atol=1e-6)
        # the default protocol: real-grid masks, antialiased resize -- the corrected numbers
        want_cor = reference_surprise(ckpt, frames, grid_px=RES, antialias=True)
        for c in CONTEXTS:
            np.testing.assert_allclose(cor[name][1][c], want_cor[c], rtol=1e-4, atol=1e-6)
            assert np.abs(np.subtract(rows[c], cor[name][1][c])).max() > 1e-4  # well above float32 noise


def test_as_published_in_bf16_follows_the_published_loop_in_bf16(tiny256_pt, suite288, tmp_path):
    path, ckpt = tiny256_pt
    _, rj = evaluate("vjepa2", suite288, tmp_path / "pub", checkpoint=str(path), model_args=_model_args(),
                     protocol="as-published", **{**EVAL, "limit": 1})
    assert json.loads(rj.read_text())["protocol"]["dtype"] == "bf16"
    name, (video, rows) = sorted(_surprise_by_video(tmp_path / "pub").items())[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = reference_surprise(ckpt, frames_of(video), grid_px=224, antialias=False)
    for c in CONTEXTS:
        np.testing.assert_allclose(rows[c], want[c], rtol=3e-2)


def test_context_encoder_choice_is_identity_and_recorded(tiny256_pt, suite288, tmp_path):
    path, ckpt = tiny256_pt
    one = dataclasses.replace(CORRECTED, name="corrected+encoder-split", encoder_split=False)
    _, r1 = evaluate("vjepa2", suite288, tmp_path / "one", checkpoint=str(path), model_args=_model_args(),
                     protocol=one, **{**EVAL, "limit": 1})
    res = json.loads(r1.read_text())
    assert res["model"]["extra"]["context_encoder"] == "target_encoder"
    assert "one encoder (target_encoder)" in res["model"]["extra"]["encoders"]
    name, (video, rows) = sorted(_surprise_by_video(tmp_path / "one").items())[0]
    want = reference_surprise(ckpt, frames_of(video), grid_px=RES, antialias=True, context_sd="target_encoder")
    for c in CONTEXTS:
        np.testing.assert_allclose(rows[c], want[c], rtol=1e-4, atol=1e-6)
    with pytest.raises(PjbenchError, match="as-published uses the official encoder split"):
        evaluate("vjepa2", suite288, tmp_path / "x", checkpoint=str(path),
                 model_args=_model_args(context_encoder="target_encoder"), protocol="as-published", **EVAL)


def test_as_published_refuses_where_the_published_loop_crashes(tiny_suite, tmp_path):
    with pytest.raises(PjbenchError, match=r"as-published: at 64 px vjepa2-tiny-random .*crashes"):
        evaluate("vjepa2-tiny-random", tiny_suite, tmp_path / "r", protocol="as-published", window=8,
                 contexts=(4, 6), progress=False, workers=0)
    with pytest.raises(PjbenchError, match="pixel-copy-last has no published token-mask convention"):
        evaluate("pixel-copy-last", tiny_suite, tmp_path / "p", protocol="as-published", progress=False, workers=0)
    with pytest.raises(PjbenchError, match="runs in bf16 .*drop --dtype fp32"):
        evaluate("vjepa2-tiny-random", tiny_suite, tmp_path / "d", protocol="as-published", dtype="fp32",
                 progress=False, workers=0)


def test_zero_padding_of_unequal_rows(tiny_suite):
    from pjbench.benchmarks.tasks import TASKS

    items = TASKS.build("intphys2").load(tiny_suite, "Main")[:2]
    surprise = {items[0].name: {"4": [1.0, 2.0, 3.0]}, items[1].name: {"4": [4.0]}}
    own = build_records(items, surprise, 4)
    assert [r.scores for r in own] == [{"avg": 2.0, "max": 3.0}, {"avg": 4.0, "max": 4.0}]
    padded = build_records(items, surprise, 4, pad="zero")  # [4, 0, 0]: avg 4/3, max unchanged
    assert padded[0].scores == {"avg": 2.0, "max": 3.0}
    assert padded[1].scores["avg"] == pytest.approx(4.0 / 3.0) and padded[1].scores["max"] == 4.0


def test_protocol_name_separates_runs_in_reports(tmp_path):
    from pjbench.benchmarks.compare import protocol_differences
    from pjbench.benchmarks.results import RunResults

    def run(name):
        return RunResults(task={"name": "intphys2", "split": "Main"}, model={"name": "m"},
                          protocol={"name": name, "window": 8}, metrics=[], provenance={}, files={})

    assert protocol_differences(run("corrected"), run("corrected")) == []
    assert protocol_differences(run("corrected"), run("as-published")) == ["protocol: corrected vs as-published"]


def test_ablate_cli_prints_the_deviation_table(tiny256_pt, suite288, tmp_path):
    path, _ = tiny256_pt
    out = tmp_path / "abl"
    args = ["ablate", "--model", "vjepa2", "--checkpoint", str(path), "--model-arg", "variant=" + json.dumps(TINY256),
            "--data-root", str(suite288), "--out", str(out), "--window", "8", "--stride", "2", "--contexts", "4,6",
            "--limit", "2", "--n-boot", "200", "--workers", "0", "-q", "--deviation", "masks", "--deviation", "padding",
            "--deviation", "encoder-split"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    for key in ("corrected", "as-published", "masks", "padding", "encoder-split"):
        assert f"| {key} |" in res.output
    assert "(reference)" in res.output and "optimistic" in res.output
    table = json.loads((out / "ablation.json").read_text())
    rows = {r["key"]: r for r in table["rows"]}
    assert rows["masks"]["status"] == "ok" and rows["masks"]["difference"] is not None
    assert rows["encoder-split"]["status"] == "ok"
    assert rows["corrected"]["value"] is not None and (out / "ablation.md").is_file()
    # the surprise change shows a fix even where the pairwise accuracy of a random model does not move
    assert rows["masks"]["surprise_change"] > 1e-4 and rows["encoder-split"]["surprise_change"] > 1e-4
    assert rows["padding"]["surprise_change"] == 0.0  # the suite's videos all have one length
    assert "surprise change" in res.output
    assert json.loads((out / "masks" / "results.json").read_text())["protocol"]["name"] == "corrected+masks"
    # padding only re-aggregates: every video came from the feature cache
    assert json.loads((out / "padding" / "results.json").read_text())["task"]["n_computed"] == 0


def test_ablate_marks_what_a_model_cannot_run(tiny_suite, tmp_path):
    res = CliRunner().invoke(main, ["ablate", "--model", "vjepa2-tiny-random", "--data-root", str(tiny_suite),
                                    "--out", str(tmp_path / "a"), "--window", "8", "--contexts", "4,6",
                                    "--deviation", "masks", "--deviation", "encoder-split", "--limit", "2",
                                    "--n-boot", "200", "--workers", "0", "-q"])
    assert res.exit_code == 0, res.output
    rows = {r["key"]: r for r in json.loads((tmp_path / "a" / "ablation.json").read_text())["rows"]}
    assert rows["as-published"]["status"] == "n/a" and "crashes" in rows["as-published"]["reason"]
    assert rows["masks"]["status"] == "n/a"
    assert rows["encoder-split"]["status"] == "n/a" and "one encoder" in rows["encoder-split"]["reason"]
    assert set(rows) == {"corrected", "as-published", "masks", "encoder-split"}


def test_surprise_change_is_the_median_relative_difference_on_shared_videos():
    from pjbench.benchmarks.ablate import surprise_change
    from pjbench.benchmarks.results import ItemRecord

    def it(name, s):
        return ItemRecord(name=name, split="Main", path=name, label=0, pair_id=None, cluster=None, scores={"avg": s})

    base = [it("a", 2.0), it("b", 4.0), it("c", 1.0), it("d", 5.0)]
    other = [it("a", 2.2), it("b", 3.0), it("c", 1.0), it("e", 9.0)]  # e unshared, d missing
    # |0.2|/2 = 0.1, |1|/4 = 0.25, 0 -> median 0.1
    assert surprise_change(other, base) == pytest.approx(0.1)
    assert surprise_change([it("x", 1.0)], base) is None


def test_protocol_names_switch_single_published_deviations_on():
    from pjbench.benchmarks.protocol import named, one_deviation

    p = named("corrected+antialias+masks")
    assert p.name == "corrected+masks+antialias"  # canonical order
    assert p.deviations() == {"mask_grid_224": True, "antialias": False}
    assert named("corrected+padding") == one_deviation("padding")
    for bad in ("corrected+", "corrected+nope", "published+masks", "as-published+masks"):
        with pytest.raises(PjbenchError, match="corrected\\+DEVIATION"):
            named(bad)


def test_eval_cli_takes_a_single_deviation_protocol(tiny256_pt, suite288, tmp_path):
    path, _ = tiny256_pt
    args = ["eval", "--model", "vjepa2", "--checkpoint", str(path), "--model-arg", "variant=" + json.dumps(TINY256),
            "--data-root", str(suite288), "--window", "8", "--stride", "2", "--contexts", "4,6", "--limit", "1",
            "--n-boot", "200", "--workers", "0", "-q", "--no-cache"]
    res = CliRunner().invoke(main, args + ["--out", str(tmp_path / "r"), "--protocol", "corrected+antialias"])
    assert res.exit_code == 0, res.output
    proto = json.loads((tmp_path / "r" / "results.json").read_text())["protocol"]
    assert proto["name"] == "corrected+antialias" and proto["deviations"]["deviations"] == ["antialias"]
    bad = CliRunner().invoke(main, args + ["--out", str(tmp_path / "b"), "--protocol", "corrected+nope"])
    assert bad.exit_code != 0 and "corrected+DEVIATION" in bad.output and "Traceback" not in bad.output
