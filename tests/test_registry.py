import pytest

from pjbench.benchmarks.errors import PjbenchError
from pjbench.benchmarks.registry import Registry


def test_lazy_target_is_not_imported_until_built():
    reg = Registry("thing")
    reg.register("a", "pjbench.does_not_exist:factory", "never imported by listing")
    assert reg.names() == ["a"]
    with pytest.raises(ModuleNotFoundError):
        reg.build("a")


def test_unknown_name_suggests_close_matches():
    reg = Registry("model")
    reg.register("vjepa2-vitl", lambda: 1)
    with pytest.raises(PjbenchError, match=r"Did you mean: vjepa2-vitl\?"):
        reg.get("vjepa2-vitk")


def test_defaults_are_merged_and_none_kwargs_do_not_override_them():
    reg = Registry("model")
    reg.register("v", lambda checkpoint=None, device="cpu": (checkpoint, device), defaults={"checkpoint": "hub/id"})
    assert reg.build("v", checkpoint=None) == ("hub/id", "cpu")
    assert reg.build("v", checkpoint="/local") == ("/local", "cpu")


def test_duplicate_registration_is_refused():
    reg = Registry("model")
    reg.register("x", lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x", lambda: 2)


def test_entry_point_plugin_registers_a_model_without_forking(tmp_path, monkeypatch):
    """A third-party distribution declares ``[pjbench.encoders] mymodel = mypkg:factory``."""
    (tmp_path / "pjb_plugin_demo.py").write_text(
        "from pjbench.encoders.pixel import PixelPredictor\n"
        "def factory(checkpoint=None, device='cpu', **kw):\n"
        "    '''My lab's predictor.'''\n"
        "    return PixelPredictor('copy-last', device=device)\n"
        "factory.pjbench_info = {'resolution': 32, 'frames': 48, 'tubelet': 1, 'readouts': 'surprise'}\n"
    )
    dist = tmp_path / "pjb_plugin_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pjb-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pjbench.encoders]\nmy-lab-model = pjb_plugin_demo:factory\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("model", entry_point_group="pjbench.encoders")
    assert "my-lab-model" in reg.names()
    entry = reg.get("my-lab-model")
    assert entry.source == "pjb-plugin-demo" and entry.description == "My lab's predictor."
    assert entry.info["resolution"] == 32
    model = reg.build("my-lab-model")
    assert model.info.name == "pixel-copy-last"


def test_unknown_factory_arguments_are_refused_with_the_accepted_list():
    reg = Registry("model")

    def factory(checkpoint=None, device="cpu", layer=None, seed=0):
        return (layer, seed)

    reg.register("m", factory)
    assert reg.accepted_args("m") == ("layer", "seed")
    assert reg.build("m", layer=-4) == (-4, 0)
    with pytest.raises(PjbenchError, match=r"does not take the argument\(s\) layr \(did you mean layer\?\); "
                                           r"it accepts: layer, seed"):
        reg.build("m", layr=-4)
    # a plugin factory with **kwargs reads its own options: anything goes
    reg.register("plugin", lambda checkpoint=None, device="cpu", **kw: kw)
    assert reg.accepted_args("plugin") is None and reg.build("plugin", anything=1) == {"anything": 1}


def test_builtin_models_refuse_unknown_model_args():
    from pjbench.encoders.registry import MODELS

    # context_encoder: accepted so that asking for a second encoder gets its own clear refusal (one encoder)
    assert MODELS.accepted_args("vjepa2-tiny-random") == ("seed", "layer", "context_encoder", "allow_pickle")
    assert MODELS.accepted_args("pixel-copy-last") == ()
    with pytest.raises(PjbenchError, match=r"vjepa2-tiny-random does not take .*layr.*it accepts: seed, layer"):
        MODELS.build("vjepa2-tiny-random", layr=-4)
    with pytest.raises(PjbenchError, match="pixel-copy-last does not take .*it accepts: no extra arguments"):
        MODELS.build("pixel-copy-last", layer=-4)
    # entries that share a factory fix some of its arguments: those are not offered to the user
    assert "variant" not in MODELS.accepted_args("vjepa2-vitl") and "variant" in MODELS.accepted_args("vjepa2")


def test_model_arg_types_are_checked_against_the_factory_signature():
    from pjbench.benchmarks.errors import PjbenchError
    from pjbench.encoders.registry import MODELS

    MODELS.check_arg_types("vjepa2-tiny-random", {"seed": 3, "layer": -2, "allow_pickle": True})
    for bad, words in (({"seed": "abc"}, "seed takes an int"), ({"layer": 1.5}, "layer takes an int"),
                       ({"allow_pickle": "yes"}, "allow_pickle takes true or false"), ({"seed": True}, "seed takes")):
        with pytest.raises(PjbenchError, match=words):
            MODELS.check_arg_types("vjepa2-tiny-random", bad)
    MODELS.check_arg_types("vjepa2-tiny-random", {"context_encoder": "encoder"})  # str | None: anything goes
