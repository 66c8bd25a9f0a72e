import pytest
import torch

from pjbench.benchmarks.errors import PjbenchError
from pjbench.encoders import MODELS
from pjbench.encoders.vjepa2_hf import VJEPA2Surprise, build_tiny_random, load_vjepa2
from pjbench.encoders.base import ModelInfo


def test_local_checkpoint_loads_with_identity(tiny_vjepa2_dir):
    m = MODELS.build("vjepa2", checkpoint=str(tiny_vjepa2_dir))
    assert m.info.checkpoint == str(tiny_vjepa2_dir.resolve())
    assert m.info.checkpoint_hash.startswith("sha256:")
    assert m.preprocessing.resolution == 64 and m.preprocessing.tubelet == 2
    # same weights as the model that was saved
    ref = build_tiny_random(seed=3)
    clip = torch.randn(1, 8, 3, 64, 64)
    torch.testing.assert_close(m.encode(clip), ref.encoder(pixel_values_videos=clip).last_hidden_state)


def test_different_weights_different_hash(tmp_path, tiny_vjepa2_dir):
    other = tmp_path / "other"
    build_tiny_random(seed=4).save_pretrained(other)
    assert load_vjepa2(str(other)).info.checkpoint_hash != load_vjepa2(str(tiny_vjepa2_dir)).info.checkpoint_hash


def test_missing_checkpoint_offline_explains_how_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PjbenchError, match="huggingface-cli download facebook/vjepa2-vitl-fpc64-256"):
        MODELS.build("vjepa2")
    with pytest.raises(PjbenchError, match="no such directory"):
        MODELS.build("vjepa2", checkpoint="./not/here")


def test_directory_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(PjbenchError, match="no config.json"):
        load_vjepa2(str(tmp_path))


@pytest.mark.parametrize("crop,grid", [(224, 14), (256, 16)])
def test_token_masks_follow_the_real_grid(crop, grid):
    """The official code built masks for a 224-px grid (196 tokens/frame) even at 256 px."""
    model = build_tiny_random(seed=0, crop_size=crop)
    enc = VJEPA2Surprise(model, ModelInfo(name="t"), frames=8)
    clip = torch.randn(1, 8, 3, crop, crop)
    pred = enc.predict(clip, 4)
    assert pred.shape[1] == (8 - 4) // 2 * grid * grid
    assert enc.targets(clip).shape[1] == 8 // 2 * grid * grid


def test_odd_frames_and_wrong_resolution_are_refused():
    enc = VJEPA2Surprise(build_tiny_random(), ModelInfo(name="t"))
    with pytest.raises(ValueError, match="multiple of tubelet"):
        enc.encode(torch.randn(1, 7, 3, 64, 64))
    with pytest.raises(ValueError, match="crop 64"):
        enc.encode(torch.randn(1, 8, 3, 32, 32))


def test_predictor_with_mask_token_1_reproduces_hf_forward():
    from pjbench.encoders.vjepa2_hf import run_predictor

    model = build_tiny_random(seed=0)
    ctx = torch.randn(2, 16, 64)
    ctx_idx = torch.arange(16).unsqueeze(0).expand(2, -1)
    tgt_idx = torch.arange(16, 48).unsqueeze(0).expand(2, -1)
    ref = model.predictor(ctx, context_mask=[ctx_idx], target_mask=[tgt_idx]).last_hidden_state
    torch.testing.assert_close(run_predictor(model.predictor, ctx, ctx_idx, tgt_idx, mask_index=1), ref)
    assert not torch.allclose(run_predictor(model.predictor, ctx, ctx_idx, tgt_idx, mask_index=0), ref)


def test_checkpoint_without_predictor_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    src = tmp_path / "full"
    build_tiny_random(seed=0).save_pretrained(src)
    state = load_file(src / "model.safetensors")
    save_file({k: v for k, v in state.items() if not k.startswith("predictor.")}, src / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(PjbenchError, match="lacks .* encoder/predictor weights"):
        load_vjepa2(str(src))


def test_pickled_hf_weights_are_refused_unless_allowed(tiny_vjepa2_dir, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    from pjbench.benchmarks.errors import PjbenchError
    from pjbench.encoders.registry import MODELS

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_vjepa2_dir, pickled)
    (st,) = pickled.glob("*.safetensors")
    torch.save(load_file(str(st)), pickled / "pytorch_model.bin")
    st.unlink()
    with pytest.raises(PjbenchError, match=r"weights are pickled \(pytorch_model.bin\).*allow_pickle=true"):
        MODELS.build("vjepa2", checkpoint=str(pickled))
    enc = MODELS.build("vjepa2", checkpoint=str(pickled), allow_pickle=True)
    ref = MODELS.build("vjepa2", checkpoint=str(tiny_vjepa2_dir))
    clip = torch.rand(1, 16, 3, 64, 64)
    assert torch.equal(enc.encode(clip), ref.encode(clip)), "the same weights, loaded from the pickle on request"


def test_a_folder_of_another_architecture_is_one_error_line(tiny_suite, tmp_path):
    from click.testing import CliRunner

    from pjbench.benchmarks.cli import main
    from pjbench.encoders.videomae import build_tiny_random

    folder = tmp_path / "videomae"
    build_tiny_random().save_pretrained(folder)
    res = CliRunner().invoke(main, ["eval", "-m", "vjepa2", "--checkpoint", str(folder), "--data-root", str(tiny_suite),
                                    "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"Error: {folder}: config.json says model_type 'videomae': a videomae checkpoint, not V-JEPA 2 (vjepa2)"]
