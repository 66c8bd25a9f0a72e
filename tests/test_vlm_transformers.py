"""The transformers VLM backend on tiny random-init models of two families (Qwen2.5-VL, LLaVA-OneVision),
built offline (tokenizer trained with `tokenizers`, saved with save_pretrained) and loaded through the real
AutoProcessor / AutoModelForImageTextToText path: every benchmark end to end through `pjbench eval` and
`pjbench report`, the response cache, option-likelihood scoring and the IntPhys 2 likelihood surprise."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from pjbench.benchmarks.api import synth
from pjbench.benchmarks.cli import main
from pjbench.benchmarks.results import load_items, load_results, read_jsonl, schema_problems
from pjbench.encoders.answerer import Chat, Clip, Generation
from pjbench.encoders.hf_vlm import load_transformers_vlm
from pjbench.encoders.tiny_vlm import FAMILIES, build_tiny_vlm

DATA = {"mvpbench": ("MVPBench", "full", 0.25), "causalvqa": ("cvqa", None, 0.2), "intphys2": ("IntPhys2", None, 0.25)}


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-vlm")
    return {f: build_tiny_vlm(f, root / f, seed=1) for f in FAMILIES}


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    root = tmp_path_factory.mktemp("suites")
    return {t: synth(root / d, benchmark=t, scale=s, progress=False) for t, (d, _, s) in DATA.items()}


def _eval(*args):
    res = CliRunner().invoke(main, ["eval", *args, "--n-boot", "100", "-q"])
    assert res.exit_code == 0, res.output
    return res


def _clip(t=6, h=40, w=56, seed=0):
    g = np.random.default_rng(seed)
    return Clip(g.integers(0, 256, (t, h, w, 3), dtype=np.uint8), tuple(i * 0.5 for i in range(t)))


def test_builds_are_seeded_checkpoints(tmp_path, tiny_dirs):
    for fam, d in tiny_dirs.items():
        assert (d / "config.json").is_file() and list(d.glob("*.safetensors")) and (d / "tokenizer.json").is_file()
        again = build_tiny_vlm(fam, tmp_path / fam, seed=1)
        a, b = (load_transformers_vlm(str(x)) for x in (d, again))
        assert a.info.revision == b.info.revision  # same seed: the same weights, tokenizer and template
        other = load_transformers_vlm(str(build_tiny_vlm(fam, tmp_path / f"{fam}-2", seed=2)))
        assert other.info.revision != a.info.revision


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_and_score_options(tiny_dirs, family):
    ans = load_transformers_vlm(str(tiny_dirs[family]), batch_size=2)
    assert ans.info.backend == "transformers" and ans.info.revision.startswith("sha256:") and ans.info.extra["control"]
    reqs = [(_clip(seed=i), Chat(user=f"Question: q{i}\nOption:\n(A) x\n(B) y", system="Answer.")) for i in range(3)]
    out = ans.generate(reqs, Generation(max_new_tokens=5))
    assert len(out) == 3 and all(r.ok and isinstance(r.text, str) for r in out)
    assert all(1 <= r.meta["new_tokens"] <= 5 and r.meta["input_tokens"] > 0 for r in out)
    # greedy: the same requests give the same answers, one at a time as in a batch
    single = load_transformers_vlm(str(tiny_dirs[family]), batch_size=1).generate(reqs, Generation(max_new_tokens=5))
    assert [r.text for r in single] == [r.text for r in out]
    opts = [["Answer: A", "Answer: B"], ["A", "B", "C", "D", "E"], ["No", "Yes"]]
    scored = ans.score_options(reqs, opts)
    for res, o in zip(scored, opts):
        lp = res.option_logprobs
        assert res.error is None and len(lp) == len(o) and all(np.isfinite(lp)) and max(lp) < 0
    # the one-pass shortcut (options differing only in their last token) equals scoring each option in full
    for req, o, res in zip(reqs, opts, scored):
        full = ans._score(req, o, one_pass=False)
        np.testing.assert_allclose(full, res.option_logprobs, rtol=1e-4, atol=1e-4)
    # letters' probabilities over the whole vocabulary: summed over 5 single-token letters, below 1
    assert sum(np.exp(scored[1].option_logprobs)) < 1.0


def test_frames_reach_the_model_with_their_rate(tiny_dirs):
    ans = load_transformers_vlm(str(tiny_dirs["qwen2.5-vl"]))
    clip = _clip(t=4)  # timestamps 0, 0.5, 1.0, 1.5: 2 frames per second
    batch = ans._inputs([(clip, Chat(user="q"))])
    assert batch["video_grid_thw"][0, 0].item() == 2  # 4 frames, temporal patch 2
    assert float(batch["second_per_grid_ts"][0]) == pytest.approx(2 / 2.0)  # temporal patch / fps


def test_a_failing_request_is_its_own_error(tiny_dirs, monkeypatch):
    ans = load_transformers_vlm(str(tiny_dirs["qwen2.5-vl"]), batch_size=3)
    real = ans._generate

    def flaky(chunk, generation):
        if any(chat.user == "bad" for _, chat in chunk):
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(chunk, generation)

    monkeypatch.setattr(ans, "_generate", flaky)
    reqs = [(_clip(seed=i), Chat(user=u)) for i, u in enumerate(["a", "bad", "c"])]
    out = ans.generate(reqs, Generation(max_new_tokens=3))
    assert [r.ok for r in out] == [True, False, True] and "out of memory" in out[1].error


@pytest.mark.parametrize("task", list(DATA))
@pytest.mark.parametrize("family", FAMILIES)
def test_every_benchmark_end_to_end(tiny_dirs, suites, tmp_path, task, family):
    """`pjbench eval --model <tiny VLM dir> --task T`: results in the schema, the official headline plus the
    strict and likelihood readings, the exact prompts and likelihoods per item; a re-run from the cache."""
    _, split, _ = DATA[task]
    out = tmp_path / "run"
    args = ["--model", str(tiny_dirs[family]), "--task", task, "--data-root", str(suites[task]), "--out", str(out),
            "--cache-dir", str(tmp_path / "cache"), "--batch-size", "4", *(["--split", split] if split else [])]
    _eval(*args)
    saved = json.loads((out / "results.json").read_text())
    assert schema_problems(saved, list(read_jsonl(out / "items.jsonl"))) == []
    res = load_results(out)
    assert res.protocol["readout"] == "vlm" and res.model["backend"] == "transformers"
    assert "likelihood" in res.protocol["parsers"] and res.protocol["option_likelihood"]["scored"]
    items = load_items(out)
    if task == "intphys2":
        assert res.metric("accuracy") is not None and res.metric("likelihood/pairwise_accuracy") is not None
        for k in ("1", "2", "3"):
            assert res.metric(f"likelihood/prompt{k}/auroc") is not None
        a = items[0].response["prompts"]["1"]
        assert a["options"] == ["No", "Yes"] and a["surprise"] == pytest.approx(
            a["option_logprobs"][0] - a["option_logprobs"][1])
        assert a["parsed"]["likelihood"] == int(a["option_logprobs"][1] > a["option_logprobs"][0])
    else:
        head = res.protocol["headline"]
        assert res.metric(head) is not None and res.metric(f"likelihood/{head}") is not None
        r = items[0].response
        assert len(r["option_logprobs"]) == len(r["options"]) and r["parsed"]["likelihood"] == int(
            np.argmax(r["option_logprobs"]))
    assert res.task["answers"]["unparseable"]["likelihood"] in (0, {"1": 0, "2": 0, "3": 0})
    again = _eval(*args)
    assert res.task["n_requests_generated"] > 0
    rerun = load_results(out)
    assert rerun.task["n_requests_generated"] == 0, again.output  # served from the response cache
    assert [(m.name, m.subset, m.value) for m in rerun.metrics] == [(m.name, m.subset, m.value) for m in res.metrics]
    if family == FAMILIES[0] and task == "intphys2":
        rep = CliRunner().invoke(main, ["report", str(out), "--out", str(tmp_path / "report.html")])
        assert rep.exit_code == 0, rep.output
        html = (tmp_path / "report.html").read_text()
        assert "vlm" in html and "likelihood" in html


def test_transformers_hub_id_offline_is_one_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    res = CliRunner().invoke(main, ["eval", "--model", "qwen2.5-vl-7b", "--task", "mvpbench", "--data-root",
                                    str(tmp_path), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code != 0 and res.output.startswith("Error:") and "Qwen/Qwen2.5-VL-7B-Instruct" in res.output
    assert "Traceback" not in res.output


def test_a_missing_family_dependency_says_how_to_install(monkeypatch, tmp_path):
    """timm (PerceptionLM) or num2words (SmolVLM) missing: one PjbenchError with the install line."""
    import pjbench.encoders.tiny_vlm as tiny_vlm
    from pjbench.benchmarks.errors import PjbenchError
    from pjbench.encoders.hf_vlm import load_tiny_vlm

    def missing(*a, **k):
        raise ImportError("TimmWrapperModel requires the timm library but it was not found in your environment")

    monkeypatch.setattr(tiny_vlm, "build_tiny_vlm", missing)
    with pytest.raises(PjbenchError, match=r"timm library.*pip install -e \"\.\[vlm\]\""):
        load_tiny_vlm(family="perceptionlm", cache_dir=tmp_path)


@pytest.mark.parametrize("task", list(DATA))
def test_the_http_backend_on_the_same_tiny_vlm(tiny_dirs, suites, tmp_path, task):
    """Both backends on one checkpoint: a local chat-completions server backed by the tiny Qwen2.5-VL folder
    (frames from the request's images, vLLM's prompt_logprobs) scores every benchmark through
    `openai:NAME`, with option likelihoods equal to the in-process backend's on the frames the server saw;
    a re-run sends nothing."""
    from tiny_chat_server import TinyVLMChatServer

    server = TinyVLMChatServer(tiny_dirs["qwen2.5-vl"])
    _, split, _ = DATA[task]
    out = tmp_path / "http"
    args = ["--model", "openai:tiny-qwen", "--base-url", server.url, "--task", task, "--data-root", str(suites[task]),
            "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--limit", "6", "--model-arg",
            "option_likelihood=vllm", *(["--split", split] if split else [])]
    try:
        _eval(*args)
        n_sent = len(server.requests)
        _eval(*args)
        assert len(server.requests) == n_sent  # served from the response cache
    finally:
        server.close()
    results = load_results(out)
    assert not schema_problems(results.to_dict())
    lik = results.protocol["option_likelihood"]
    assert lik["n_errors"] == 0 and lik["n_scored"] == lik["n_requests"] > 0
    # the likelihoods an answer got over HTTP = the in-process backend's on the frames the server saw (with
    # the same chat: on IntPhys 2 every video shares its three chats, so the clip is one of those it saw)
    recs = load_items(out)
    answers = [a for r in recs for a in (r.response["prompts"].values() if "prompts" in r.response else [r.response])]
    for a in [a for a in answers if a.get("option_logprobs")][:3]:
        clips = {c.frames.tobytes(): c for c, ch, _ in server.seen if (ch.user, ch.system) == (a["prompt"], a["system"])}
        local = server.answerer.score_options([(c, Chat(user=a["prompt"], system=a["system"])) for c in clips.values()],
                                              [a["options"]] * len(clips))
        assert any(r.option_logprobs == pytest.approx(a["option_logprobs"], abs=2e-3) for r in local), a["prompt"]


def test_batch_size_reaches_the_forward_passes(tiny_dirs, suites, tmp_path, monkeypatch):
    """--batch-size N: N requests per generate call of the in-process model (recorded in the protocol)."""
    from pjbench.encoders.hf_vlm import TransformersAnswerer

    sizes = []
    real = TransformersAnswerer._generate
    monkeypatch.setattr(TransformersAnswerer, "_generate", lambda self, chunk, gen: sizes.append(len(chunk)) or real(self, chunk, gen))
    out = tmp_path / "b"
    _eval("--model", str(tiny_dirs["qwen2-vl"]), "--task", "causalvqa", "--data-root", str(suites["causalvqa"]),
          "--out", str(out), "--no-cache", "--limit", "8", "--batch-size", "3")
    assert max(sizes) == 3 and load_results(out).protocol["batch_size"] == 3


def test_a_template_with_bos_and_a_string_system_prompt(tiny_dirs, tmp_path):
    """PerceptionLM's template starts with bos_token and reads the system message as a string (`| trim`),
    and its tokenizer adds BOS itself: the prompt gets one BOS and the system text verbatim, not a printed
    list; the option likelihood is that of the tokens the option adds after the prompt."""
    import shutil

    from tokenizers import Tokenizer, processors

    d = tmp_path / "plm"
    shutil.copytree(tiny_dirs["perceptionlm"], d)
    tj = Tokenizer.from_file(str(d / "tokenizer.json"))
    bos = "<|im_start|>"
    tj.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tj.token_to_id(bos))])
    tj.save(str(d / "tokenizer.json"))
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    (d / "tokenizer_config.json").write_text(json.dumps({**cfg, "bos_token": bos}))
    (d / "chat_template.jinja").write_text(
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] | trim }}\n{% endif %}"
        "{% for m in messages %}{% if m['role'] != 'system' %}<|im_start|>{{ m['role'] }}\n"
        "{% for c in m['content'] %}{% if c['type'] == 'video' %}<|video|>{% else %}{{ c['text'] }}{% endif %}"
        "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    ans = load_transformers_vlm(str(d))
    chat = Chat(user="These are the frames from the video.", system="Answer Yes or No")
    clip = Clip(np.zeros((2, 32, 32, 3), np.uint8), (0.0, 1.0))
    ids = ans._inputs([(clip, chat)])["input_ids"][0].tolist()
    bos_id = ans.processor.tokenizer.convert_tokens_to_ids(bos)
    assert ids[0] == bos_id and ids[1] != bos_id  # one BOS
    text = ans.processor.tokenizer.decode(ids)
    assert text.startswith(bos + "Answer Yes or No\n") and "'type'" not in text
    [res] = ans.generate([(clip, chat)], Generation(max_new_tokens=3))
    assert res.error is None
    [scored] = ans.score_options([(clip, chat)], [["No", "Yes"]])
    assert scored.error is None and len(scored.option_logprobs) == 2


def test_an_option_after_a_prompt_without_trailing_space_starts_with_one(tiny_dirs):
    """SmolVLM's turn ends `Assistant:` and its replies start with a space: the scored tokens are those of
    " Yes" after the prompt (what the model would write), not of "Yes" alone."""
    ans = load_transformers_vlm(str(tiny_dirs["smolvlm"]))
    prompt = ans._render(Chat(user="Is it plausible?", system="Answer Yes or No"))
    assert prompt.endswith("Assistant:")
    tok = ans.processor.tokenizer
    assert tok.decode(ans.continuation_ids("Yes", prompt)) == " Yes"
    qwen = load_transformers_vlm(str(tiny_dirs["qwen2.5-vl"]))
    qprompt = qwen._render(Chat(user="Is it plausible?"))
    assert qprompt.endswith("\n") and qwen.processor.tokenizer.decode(qwen.continuation_ids("Answer: A", qprompt)) == "Answer: A"


def test_shards_of_a_transformers_model_merge_without_loading_it(tiny_dirs, suites, tmp_path, monkeypatch):
    """--shard I/N on a model folder: each shard loads the model once; the merge (the last shard's, and
    `pjbench merge`) reads the response cache and loads no weights; the results equal one process."""
    import pjbench.encoders.hf_vlm as hf_vlm

    loads = []
    real = hf_vlm.load_transformers_vlm
    monkeypatch.setattr(hf_vlm, "load_transformers_vlm", lambda *a, **k: loads.append(a) or real(*a, **k))
    base = ["--model", str(tiny_dirs["internvl"]), "--task", "intphys2", "--data-root", str(suites["intphys2"]),
            "--limit", "8"]
    one = tmp_path / "one"
    _eval(*base, "--out", str(one), "--no-cache")
    out, cache = tmp_path / "sharded", str(tmp_path / "shared")
    for i in range(2):
        _eval(*base, "--out", str(out), "--cache-dir", cache, "--shard", f"{i}/2")
    assert len(loads) == 3  # the one-process run and the two shards; the merge loaded nothing
    res = CliRunner().invoke(main, ["merge", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert len(loads) == 3
    a, b = load_results(one), load_results(out)
    assert [(m.name, m.subset, m.value) for m in a.metrics] == [(m.name, m.subset, m.value) for m in b.metrics]
    assert b.model["identity"] == a.model["identity"] and b.protocol["option_likelihood"]["n_errors"] == 0


def test_device_map_places_the_model_through_accelerate(tiny_dirs):
    """--model-arg device_map=auto (a model larger than one GPU): placed by accelerate, inputs sent where
    its embeddings are; same answers as the plain load on this CPU-only machine."""
    clip = Clip(np.random.default_rng(0).integers(0, 256, (4, 40, 40, 3), dtype=np.uint8), (0.0, 0.5, 1.0, 1.5))
    req = [(clip, Chat(user="Question: which?\nOption:\n(A) x\n(B) y\n"))]
    plain = load_transformers_vlm(str(tiny_dirs["llava-onevision"]))
    mapped = load_transformers_vlm(str(tiny_dirs["llava-onevision"]), device_map="auto")
    assert mapped.device == "cpu"
    gen = Generation(max_new_tokens=4)
    assert [r.text for r in mapped.generate(req, gen)] == [r.text for r in plain.generate(req, gen)]
