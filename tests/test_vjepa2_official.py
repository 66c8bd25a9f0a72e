"""Official V-JEPA 2 ``.pt`` checkpoints -> HF VJEPA2Model, and the encoder-layer features readout.

The tiny official checkpoints here are written key by key in the layout of facebookresearch/vjepa2
(``src/models/vision_transformer.py``, ``src/models/predictor.py``: ``module.backbone.`` prefixes, fused
qkv, ``mask_tokens.j``, ``pos_embed``, plus ``epoch``/``opt``), never by inverting the converter. The
reference forward passes below re-implement the official encoder and predictor (3-axis RoPE with the
official tiled frequencies, pre-norm blocks, eps 1e-6) directly on those official keys.
"""

import hashlib
import math

import pytest
import torch
import torch.nn.functional as F

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders import MODELS, PredictiveEncoder
from pjbench.encoders.base import ModelInfo
from pjbench.encoders.vjepa2_hf import VJEPA2Surprise, build_tiny_random, load_vjepa2
from pjbench.encoders.vjepa2_official import (
    Variant,
    convert_official_state_dict,
    infer_variant,
    load_official_checkpoint,
    resolve_variant,
)

# Tiny architecture: width 64, 2 blocks, 4 heads (head dim 16 -> RoPE thirds of 4 + 4 unrotated);
# predictor width 32, 1 block, 2 heads; crop 64 (4x4 grid), patch 16, tubelet 2; MLP ratio 2.
TINY = Variant("tiny", hidden_size=64, depth=2, heads=4, crop_size=64, pred_hidden_size=32, pred_depth=1,
               pred_heads=2)
D, DEPTH, HEADS, DP, PDEPTH, PHEADS, GRID = 64, 2, 4, 32, 1, 2, 4
PFX = "module.backbone."


def _official_block(p, d, hidden, make):
    return {
        f"{p}.norm1.weight": 1 + make(d), f"{p}.norm1.bias": make(d),
        f"{p}.attn.qkv.weight": make(3 * d, d, std=d ** -0.5), f"{p}.attn.qkv.bias": make(3 * d),
        f"{p}.attn.proj.weight": make(d, d, std=d ** -0.5), f"{p}.attn.proj.bias": make(d),
        f"{p}.norm2.weight": 1 + make(d), f"{p}.norm2.bias": make(d),
        f"{p}.mlp.fc1.weight": make(hidden, d, std=d ** -0.5), f"{p}.mlp.fc1.bias": make(hidden),
        f"{p}.mlp.fc2.weight": make(d, hidden, std=hidden ** -0.5), f"{p}.mlp.fc2.bias": make(d),
    }


def official_encoder(d, depth, mlp_hidden, make, n_pos=32):
    sd = {"patch_embed.proj.weight": make(d, 3, 2, 16, 16, std=0.02), "patch_embed.proj.bias": make(d),
          "pos_embed": make(1, n_pos, d), "norm.weight": 1 + make(d), "norm.bias": make(d)}
    for i in range(depth):
        sd.update(_official_block(f"blocks.{i}", d, mlp_hidden, make))
    return sd


def official_predictor(d, dp, depth, mlp_hidden, make, n_mask=10, n_pos=32):
    sd = {"predictor_embed.weight": make(dp, d, std=d ** -0.5), "predictor_embed.bias": make(dp),
          "predictor_pos_embed": make(1, n_pos, dp), "predictor_norm.weight": 1 + make(dp),
          "predictor_norm.bias": make(dp), "predictor_proj.weight": make(d, dp, std=dp ** -0.5),
          "predictor_proj.bias": make(d)}
    for j in range(n_mask):
        sd[f"mask_tokens.{j}"] = make(1, 1, dp, std=1.0)
    for i in range(depth):
        sd.update(_official_block(f"predictor_blocks.{i}", dp, mlp_hidden, make))
    return sd


def prefixed(sd):
    return {PFX + k: v for k, v in sd.items()}


def tiny_official_ckpt(seed=0, n_mask=10, with_target=True):
    g = torch.Generator().manual_seed(seed)

    def make(*shape, std=0.05):
        return torch.randn(*shape, generator=g) * std

    ckpt = {"encoder": prefixed(official_encoder(D, DEPTH, 2 * D, make)),
            "predictor": prefixed(official_predictor(D, DP, PDEPTH, 2 * DP, make, n_mask=n_mask))}
    if with_target:
        ckpt["target_encoder"] = prefixed(official_encoder(D, DEPTH, 2 * D, make))
    ckpt["epoch"] = 7
    ckpt["opt"] = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                   "param_groups": [{"lr": 1e-4, "params": [0]}]}
    ckpt["loss"] = 0.25
    return ckpt


def strip(sd):
    return {k[len(PFX):]: v for k, v in sd.items()}


# ---- an independent re-implementation of the official forward passes -----------------------------------

def ref_rotate(x, pos):
    """Official ``rotate_queries_or_keys``: frequencies tiled (not interleaved) over the pair dimension."""
    d = x.shape[-1]
    omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=x.dtype) / (d / 2.0))
    freq = pos.to(x.dtype)[..., None] * omega
    sin, cos = torch.cat([freq.sin()] * 2, -1), torch.cat([freq.cos()] * 2, -1)
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), -1).flatten(-2)
    return x * cos + rotated * sin


def ref_block(x, sd, p, heads, ids, grid):
    b, n, c = x.shape
    h = F.layer_norm(x, (c,), sd[f"{p}.norm1.weight"], sd[f"{p}.norm1.bias"], eps=1e-6)
    q, k, v = F.linear(h, sd[f"{p}.attn.qkv.weight"], sd[f"{p}.attn.qkv.bias"]).unflatten(-1, (3, heads, -1)).permute(2, 0, 3, 1, 4)
    hd = c // heads
    s = 2 * ((hd // 3) // 2)
    ids = ids[:, None] if ids.ndim == 2 else ids  # (B, 1, N) broadcasts over heads
    axes = (ids // (grid * grid), (ids % (grid * grid)) // grid, ids % grid)

    def rope(z):
        return torch.cat([ref_rotate(z[..., j * s:(j + 1) * s], pos) for j, pos in enumerate(axes)] + [z[..., 3 * s:]], -1)

    a = F.scaled_dot_product_attention(rope(q), rope(k), v).transpose(1, 2).reshape(b, n, c)
    x = x + F.linear(a, sd[f"{p}.attn.proj.weight"], sd[f"{p}.attn.proj.bias"])
    h = F.layer_norm(x, (c,), sd[f"{p}.norm2.weight"], sd[f"{p}.norm2.bias"], eps=1e-6)
    h = F.linear(F.gelu(F.linear(h, sd[f"{p}.mlp.fc1.weight"], sd[f"{p}.mlp.fc1.bias"])),
                 sd[f"{p}.mlp.fc2.weight"], sd[f"{p}.mlp.fc2.bias"])
    return x + h


def ref_encoder(sd, clip_btchw, depth=DEPTH, heads=HEADS, grid=GRID):
    x = clip_btchw.permute(0, 2, 1, 3, 4)  # official input is (B, C, T, H, W)
    x = F.conv3d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=(2, 16, 16))
    x = x.flatten(2).transpose(1, 2)
    ids = torch.arange(x.shape[1])
    for i in range(depth):
        x = ref_block(x, sd, f"blocks.{i}", heads, ids, grid)
    return F.layer_norm(x, (x.shape[-1],), sd["norm.weight"], sd["norm.bias"], eps=1e-6)


def ref_predictor(sd, ctx, ctx_idx, tgt_idx, mask_index, depth=PDEPTH, heads=PHEADS, grid=GRID):
    n_mask = sum(k.startswith("mask_tokens.") for k in sd)
    x = F.linear(ctx, sd["predictor_embed.weight"], sd["predictor_embed.bias"])
    b, n_ctx, dp = x.shape
    pred = sd[f"mask_tokens.{mask_index % n_mask}"].expand(b, tgt_idx.shape[1], dp)
    x, ids = torch.cat([x, pred], 1), torch.cat([ctx_idx, tgt_idx], 1)
    order = torch.argsort(ids, dim=1)
    x = torch.gather(x, 1, order[..., None].expand_as(x))
    ids = torch.gather(ids, 1, order)
    for i in range(depth):
        x = ref_block(x, sd, f"predictor_blocks.{i}", heads, ids, grid)
    x = F.layer_norm(x, (dp,), sd["predictor_norm.weight"], sd["predictor_norm.bias"], eps=1e-6)
    x = torch.gather(x, 1, torch.argsort(order, dim=1)[..., None].expand_as(x))[:, n_ctx:]
    return F.linear(x, sd["predictor_proj.weight"], sd["predictor_proj.bias"])


@pytest.fixture
def tiny_pt(tmp_path):
    path = tmp_path / "tiny-vjepa2.pt"
    ckpt = tiny_official_ckpt(seed=0)
    torch.save(ckpt, path)
    return path, ckpt


# ---- conversion -----------------------------------------------------------------------------------------

def test_qkv_rows_mask_tokens_and_dropped_keys():
    ckpt = tiny_official_ckpt(seed=1, n_mask=12)  # 12 tokens: numeric, not lexicographic, order matters
    config, sd = convert_official_state_dict(ckpt, TINY)
    tgt, pred = strip(ckpt["target_encoder"]), strip(ckpt["predictor"])
    for i in range(DEPTH):
        qkv_w, qkv_b = tgt[f"blocks.{i}.attn.qkv.weight"], tgt[f"blocks.{i}.attn.qkv.bias"]
        for j, name in enumerate(("query", "key", "value")):
            assert torch.equal(sd[f"encoder.layer.{i}.attention.{name}.weight"], qkv_w[j * D:(j + 1) * D])
            assert torch.equal(sd[f"encoder.layer.{i}.attention.{name}.bias"], qkv_b[j * D:(j + 1) * D])
    pq = pred["predictor_blocks.0.attn.qkv.weight"]
    assert torch.equal(sd["predictor.layer.0.attention.value.weight"], pq[2 * DP:])
    tokens = sd["predictor.embeddings.mask_tokens"]
    assert tokens.shape == (12, 1, 1, DP) and config.pred_num_mask_tokens == 12
    for j in range(12):
        assert torch.equal(tokens[j], pred[f"mask_tokens.{j}"])
    assert not any("pos_embed" in k for k in sd)
    assert torch.equal(sd["encoder.layernorm.weight"], tgt["norm.weight"])
    assert torch.equal(sd["predictor.proj.weight"], pred["predictor_proj.weight"])
    assert torch.equal(sd["predictor.embeddings.predictor_embeddings.bias"], pred["predictor_embed.bias"])
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (D, DEPTH, HEADS)
    assert (config.pred_hidden_size, config.pred_num_attention_heads, config.crop_size) == (DP, PHEADS, 64)
    assert config.mlp_ratio == 2.0 and config.pred_mlp_ratio == 2.0


@pytest.mark.parametrize("variant,d,depth,heads,mlp,crop", [
    ("vitl", 1024, 24, 16, 4096, 256), ("vith", 1280, 32, 16, 5120, 256),
    ("vitg", 1408, 40, 22, 6144, 256), ("vitg-384", 1408, 40, 22, 6144, 384),
])
def test_real_size_layouts_convert_on_meta(variant, d, depth, heads, mlp, crop):
    """The full official layouts of the released sizes map onto VJEPA2Model exactly (meta tensors: no memory)."""
    def make(*shape, std=0.0):
        return torch.empty(*shape, device="meta")

    ckpt = {"target_encoder": prefixed(official_encoder(d, depth, mlp, make, n_pos=8192)),
            "predictor": prefixed(official_predictor(d, 384, 12, 1536, make, n_pos=8192)), "epoch": 1}
    config, sd = convert_official_state_dict(ckpt, variant, source="vit.pt")
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (d, depth, heads)
    assert int(config.hidden_size * config.mlp_ratio) == mlp and config.crop_size == crop
    assert (config.pred_hidden_size, config.pred_num_hidden_layers, config.pred_num_attention_heads) == (384, 12, 12)
    assert len(sd) == 4 + depth * 16 + 2 + 1 + 12 * 16 + 4  # patch, blocks, norm; pred embed, tokens, blocks, norm+proj
    # the variant is inferred from width and depth when not given (resolution defaults to 256)
    assert convert_official_state_dict(ckpt, None)[0].crop_size == 256
    assert infer_variant(d, depth).heads == heads


def test_wrong_model_for_the_file_is_named():
    def make(*shape, std=0.0):
        return torch.empty(*shape, device="meta")

    vitl = {"target_encoder": prefixed(official_encoder(1024, 24, 4096, make)),
            "predictor": prefixed(official_predictor(1024, 384, 12, 1536, make))}
    with pytest.raises(PjbenchError, match=r"vitl\.pt: .*width 1024 and 24 blocks \(that is vitl\).*vitg.*wrong --model"):
        convert_official_state_dict(vitl, "vitg", source="vitl.pt")


def test_variant_names_and_registry_defaults():
    assert resolve_variant("vitl").crop_size == 256
    assert resolve_variant("vitg-384") == resolve_variant("vjepa2-vitg", crop_size=384)
    assert resolve_variant("vitg-384").heads == 22
    for name in ("vjepa2-vitl", "vjepa2-vith", "vjepa2-vitg", "vjepa2-vitg-384"):
        entry = MODELS.get(name)
        assert resolve_variant(entry.defaults["variant"]).crop_size == entry.info["resolution"]
        assert "features" in entry.info["readouts"] and "surprise" in entry.info["readouts"]
    with pytest.raises(PjbenchError, match="unknown V-JEPA 2 variant"):
        resolve_variant("vitx")
    with pytest.raises(PjbenchError, match="resolution 300"):
        resolve_variant("vitl-300")
    with pytest.raises(PjbenchError, match="matches no V-JEPA 2 variant"):
        infer_variant(64, 2)


# ---- loading: numbers, identity, dispatch ---------------------------------------------------------------

def test_loaded_model_matches_the_official_forward(tiny_pt):
    path, ckpt = tiny_pt
    enc = load_official_checkpoint(path, TINY)
    tgt, pred = strip(ckpt["target_encoder"]), strip(ckpt["predictor"])
    clip = torch.randn(2, 8, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref_tokens = ref_encoder(tgt, clip)
        torch.testing.assert_close(enc.encode(clip), ref_tokens, atol=1e-5, rtol=1e-4)
        ref_targets = F.layer_norm(ref_tokens, (D,))
        torch.testing.assert_close(enc.targets(clip), ref_targets, atol=1e-5, rtol=1e-4)
        # predictor: context = first 4 frames (2 tubelets x 16 tokens) encoded by the ONLINE encoder (the official
        # IntPhys 2 split: context from `encoder`, targets from `target_encoder`), mask token 0 as in the eval
        ctx = ref_encoder(strip(ckpt["encoder"]), clip[:, :4])
        ctx_idx, tgt_idx = torch.arange(32).expand(2, -1), torch.arange(32, 64).expand(2, -1)
        ref_pred = ref_predictor(pred, ctx, ctx_idx, tgt_idx, mask_index=0)
        torch.testing.assert_close(enc.predict(clip, 4), ref_pred, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(enc.predict_many(clip, [4])[4], ref_pred, atol=1e-5, rtol=1e-4)
        # the two encoders differ, so the split is visible
        assert not torch.allclose(ref_encoder(strip(ckpt["encoder"]), clip), ref_tokens, atol=1e-3)
        # context_encoder=target_encoder: pjbench's earlier one-encoder path
        one = load_official_checkpoint(path, TINY, context_encoder="target_encoder")
        ref_one = ref_predictor(pred, ref_encoder(tgt, clip[:, :4]), ctx_idx, tgt_idx, mask_index=0)
        torch.testing.assert_close(one.predict(clip, 4), ref_one, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(one.targets(clip), ref_targets, atol=1e-5, rtol=1e-4)
    assert enc.info.extra["encoder"] == "target_encoder" and enc.info.extra["format"] == "official-pt"
    assert enc.info.extra["context_encoder"] == "encoder" and enc.info.extra["target_encoder"] == "target_encoder"
    assert one.info.extra["context_encoder"] == "target_encoder"
    from pjbench.benchmarks.cache import model_identity

    assert model_identity(one)["key"] != model_identity(enc)["key"]  # the choice is part of the identity
    assert enc.info.extra["epoch"] == 7 and enc.info.extra["variant"] == "tiny"
    assert enc.info.checkpoint == str(path.resolve())
    assert enc.info.checkpoint_hash == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert enc.info.readouts == ("surprise", "features")


def test_falls_back_to_encoder_and_says_so(tmp_path):
    ckpt = tiny_official_ckpt(seed=2, with_target=False)
    path = tmp_path / "no-target.pth.tar"
    torch.save(ckpt, path)
    enc = load_official_checkpoint(path, TINY)
    assert enc.info.extra["encoder"] == "encoder"
    assert enc.info.extra["context_encoder"] == enc.info.extra["target_encoder"] == "encoder"
    assert "no target_encoder" in enc.info.extra["encoders"]
    clip = torch.randn(1, 4, 3, 64, 64)
    torch.testing.assert_close(enc.encode(clip), ref_encoder(strip(ckpt["encoder"]), clip), atol=1e-5, rtol=1e-4)
    # a file with only a target_encoder cannot run the split: say so
    ckpt = tiny_official_ckpt(seed=3)
    del ckpt["encoder"]
    only_target = tmp_path / "only-target.pt"
    torch.save(ckpt, only_target)
    with pytest.raises(PjbenchError, match=r"only-target\.pt: no 'encoder' state dict.*context_encoder=target_encoder"):
        load_official_checkpoint(only_target, TINY)
    assert load_official_checkpoint(only_target, TINY, context_encoder="target_encoder").info.extra["encoder"] == \
        "target_encoder"
    with pytest.raises(PjbenchError, match="context_encoder must be one of"):
        load_official_checkpoint(only_target, TINY, context_encoder="online")


def test_registry_dispatches_pt_files_to_the_official_loader(tiny_pt):
    path, _ = tiny_pt
    model = MODELS.build("vjepa2", checkpoint=str(path), variant=TINY)
    assert isinstance(model, PredictiveEncoder) and model.info.extra["format"] == "official-pt"
    assert model.info.name == "vjepa2"
    clip = torch.randn(2, 8, 3, 64, 64)
    targets = model.targets(clip)
    assert targets.shape == (2, 4 * 16, D)
    assert model.predict(clip, 4).shape == (2, 2 * 16, D)
    # plain `vjepa2` infers the variant: this tiny file matches none of the released sizes
    with pytest.raises(PjbenchError, match=rf"{path.name}.*matches no V-JEPA 2 variant"):
        MODELS.build("vjepa2", checkpoint=str(path))
    # a named size must fit the file
    with pytest.raises(PjbenchError, match=r"width 64 and 2 blocks, but variant vitl .*wrong --model"):
        MODELS.build("vjepa2-vitl", checkpoint=str(path))


def test_other_single_files_are_refused(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"x")
    with pytest.raises(PjbenchError, match="model.safetensors: .*official training file"):
        load_vjepa2(str(f))


# ---- refusals -----------------------------------------------------------------------------------------

def _save(tmp_path, ckpt, name="bad.pt"):
    path = tmp_path / name
    torch.save(ckpt, path)
    return path


def test_missing_predictor_is_refused(tmp_path):
    ckpt = tiny_official_ckpt()
    del ckpt["predictor"]
    path = _save(tmp_path, ckpt, "encoder-only.pt")
    with pytest.raises(PjbenchError, match=r"encoder-only\.pt: no 'predictor' state dict.*surprise"):
        load_official_checkpoint(path, TINY)


def test_unmapped_key_is_refused(tmp_path):
    ckpt = tiny_official_ckpt()
    ckpt["target_encoder"][PFX + "cls_token"] = torch.zeros(1, 1, D)
    ckpt["predictor"][PFX + "action_encoder.weight"] = torch.zeros(DP, 7)
    path = _save(tmp_path, ckpt, "extra-keys.pt")
    with pytest.raises(PjbenchError, match=r"extra-keys\.pt: keys with no place.*target_encoder\.cls_token.*"
                                           r"predictor\.action_encoder\.weight"):
        load_official_checkpoint(path, TINY)


def test_missing_key_is_refused(tmp_path):
    ckpt = tiny_official_ckpt()
    del ckpt["target_encoder"][PFX + "blocks.1.norm2.bias"]
    path = _save(tmp_path, ckpt, "holes.pt")
    with pytest.raises(PjbenchError, match=r"holes\.pt: lacks weights for encoder\.layer\.1\.norm2\.bias"):
        load_official_checkpoint(path, TINY)


def test_shape_mismatch_is_refused(tmp_path):
    ckpt = tiny_official_ckpt()
    ckpt["target_encoder"][PFX + "blocks.0.attn.proj.weight"] = torch.zeros(D, D // 2)
    path = _save(tmp_path, ckpt, "shapes.pt")
    with pytest.raises(PjbenchError, match=r"shapes\.pt: has tensors of the wrong shape.*"
                                           r"encoder\.layer\.0\.attention\.proj\.weight: file \(64, 32\) vs model \(64, 64\)"):
        load_official_checkpoint(path, TINY)
    ckpt = tiny_official_ckpt()
    ckpt["predictor"][PFX + "predictor_embed.weight"] = torch.zeros(48, D)
    path = _save(tmp_path, ckpt, "pred-width.pt")
    with pytest.raises(PjbenchError, match=r"pred-width\.pt: predictor has width 48"):
        load_official_checkpoint(path, TINY)


def test_pickled_objects_are_refused_by_weights_only(tmp_path):
    import argparse

    ckpt = tiny_official_ckpt()
    ckpt["args"] = argparse.Namespace(lr=1.0)
    path = _save(tmp_path, ckpt, "pickled.pt")
    with pytest.raises(PjbenchError, match=r"pickled\.pt: torch\.load\(weights_only=True\) refuses"):
        load_official_checkpoint(path, TINY)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PjbenchError, match=r"junk\.pt: "):
        load_official_checkpoint(tmp_path / "junk.pt", TINY)


# ---- features readout: layer selection ----------------------------------------------------------------

def test_layer_selection_follows_hidden_states():
    model = build_tiny_random(seed=0)
    clip = torch.randn(1, 4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(pixel_values_videos=clip, skip_predictor=True, output_hidden_states=True)
    # hidden_states[0] = patch embeddings, [k + 1] = output of block k (before the final norm)
    norm = model.encoder.layernorm
    last = VJEPA2Surprise(model, ModelInfo(name="t"))
    first = VJEPA2Surprise(model, ModelInfo(name="t"), layer=0)
    minus_one = VJEPA2Surprise(model, ModelInfo(name="t"), layer=-1)
    minus_two = VJEPA2Surprise(model, ModelInfo(name="t"), layer=-2)
    torch.testing.assert_close(last.encode(clip), out.last_hidden_state)
    torch.testing.assert_close(minus_one.encode(clip), norm(out.hidden_states[2]))
    assert torch.equal(minus_one.encode(clip), last.encode(clip))
    torch.testing.assert_close(first.encode(clip), norm(out.hidden_states[1]).detach())
    assert torch.equal(minus_two.encode(clip), first.encode(clip))
    assert not torch.allclose(first.encode(clip), last.encode(clip), atol=1e-3)
    assert first.info.extra["layer"] == 0 and last.info.extra["layer"] is None
    assert first.info.extra["feature_block"] == 0 and last.info.extra["feature_block"] == 1
    assert "features" in first.info.readouts
    # the surprise readout always uses the model output, whatever layer the features read
    clip8 = torch.randn(1, 8, 3, 64, 64)
    assert torch.equal(first.targets(clip8), last.targets(clip8))
    assert torch.equal(first.predict(clip8, 4), last.predict(clip8, 4))
    for bad in (2, -3):
        with pytest.raises(PjbenchError, match=f"layer {bad} is out of range .* 2 blocks"):
            VJEPA2Surprise(model, ModelInfo(name="t"), layer=bad)


def test_layer_through_registry_and_official_file(tiny_pt):
    path, ckpt = tiny_pt
    enc = MODELS.build("vjepa2", checkpoint=str(path), variant=TINY, layer=-2)
    assert enc.info.extra["layer"] == -2
    clip = torch.randn(1, 4, 3, 64, 64)
    tgt = strip(ckpt["target_encoder"])
    with torch.no_grad():
        x = F.conv3d(clip.permute(0, 2, 1, 3, 4), tgt["patch_embed.proj.weight"], tgt["patch_embed.proj.bias"],
                     stride=(2, 16, 16)).flatten(2).transpose(1, 2)
        x = ref_block(x, tgt, "blocks.0", HEADS, torch.arange(x.shape[1]), GRID)
        ref = F.layer_norm(x, (D,), tgt["norm.weight"], tgt["norm.bias"], eps=1e-6)
    torch.testing.assert_close(enc.encode(clip), ref, atol=1e-5, rtol=1e-4)
    assert MODELS.build("vjepa2-tiny-random", layer=0).info.extra["layer"] == 0
    assert math.isfinite(float(enc.encode(clip).abs().sum()))


def test_hf_checkpoints_hold_one_encoder_and_say_so(tiny_vjepa2_dir):
    enc = load_vjepa2(str(tiny_vjepa2_dir))
    assert enc.info.extra["context_encoder"] == enc.info.extra["target_encoder"] == "encoder"
    assert "HF checkpoints hold the online encoder only" in enc.info.extra["encoders"]
    assert load_vjepa2(str(tiny_vjepa2_dir), context_encoder="encoder").info.extra["context_encoder"] == "encoder"
    with pytest.raises(PjbenchError, match="context_encoder=target_encoder: an HF checkpoint holds one encoder"):
        load_vjepa2(str(tiny_vjepa2_dir), context_encoder="target_encoder")
    with pytest.raises(PjbenchError, match="vjepa2-tiny-random has one encoder"):
        MODELS.build("vjepa2-tiny-random", context_encoder="target_encoder")
