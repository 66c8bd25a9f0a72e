"""The vlm readout end to end: the official prompt per item, frames by time, every parser side by side, the
response cache (re-runs cost nothing), failed requests as recorded skips -- through `pjbench eval`, with the
answer-random baseline and with a real OpenAI-compatible HTTP server on 127.0.0.1."""

import json
import re

import pytest
from click.testing import CliRunner
from tiny_chat_server import ScriptedChatServer

from pjbench.benchmarks.api import synth
from pjbench.benchmarks.cli import main
from pjbench.benchmarks.results import load_items, load_results, read_jsonl, schema_problems
from pjbench.causalvqa.prompts import user_text as cvqa_text
from pjbench.mvpbench.prompts import user_text as mvp_text


@pytest.fixture(scope="module")
def mvp(tmp_path_factory):
    return synth(tmp_path_factory.mktemp("mvp") / "MVPBench", benchmark="mvpbench", scale=0.25, progress=False)


@pytest.fixture(scope="module")
def cvqa(tmp_path_factory):
    return synth(tmp_path_factory.mktemp("cvqa") / "cvqa", benchmark="causalvqa", scale=0.2, progress=False)


def _eval(*args):
    res = CliRunner().invoke(main, ["eval", *args, "--n-boot", "200", "-q"])
    assert res.exit_code == 0, res.output
    return res


def test_answer_random_on_mvpbench_through_eval(mvp, tmp_path):
    out = tmp_path / "run"
    args = ["--model", "answer-random", "--task", "mvpbench", "--data-root", str(mvp), "--split", "full",
            "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    res = _eval(*args)  # no --readout: a video-language model gets the vlm readout
    assert "answer-random on mvpbench/full: pair accuracy" in res.output and "served from the response cache" in res.output
    results = load_results(out)
    saved = json.loads((out / "results.json").read_text())
    assert schema_problems(saved, list(read_jsonl(out / "items.jsonl"))) == []
    assert results.protocol["readout"] == "vlm" and results.protocol["parser"] == "official"
    assert results.protocol["sampling"] == {"n_frames": 16, "fps": None, "max_frames": None, "max_pixels": None}
    assert results.metric("pair_accuracy") is not None and results.metric("strict/pair_accuracy") is not None
    items = load_items(out)
    from pjbench.benchmarks.tasks import TASKS

    release = {it.name: it for it in TASKS.build("mvpbench").load(mvp, "full")}
    assert items and all(r.response["prompt"] == mvp_text(release[r.name].question, release[r.name].candidates)
                         and r.response["system"] is None for r in items)
    assert all(re.fullmatch(r"[AB]", r.response["text"]) for r in items)
    assert all(r.response["parsed"]["official"] == r.prediction for r in items)
    assert results.task["n_computed"] == len(items) and results.task["n_from_cache"] == 0
    n_items, n_skip = results.task["n_items"], len(results.task["skipped"])  # skips: videos missing from the release
    assert f"{n_items - n_skip} of {n_items} requests generated; 0 served" in res.output
    # a re-run is served from the response cache and gives the same numbers
    again = _eval(*args)
    assert f"0 of {n_items} requests generated; {n_items - n_skip} served from the response cache" in again.output
    assert load_results(out).task["n_from_cache"] == len(items)
    assert load_results(out).metric("pair_accuracy").value == results.metric("pair_accuracy").value


def test_answer_random_on_causalvqa_sends_the_official_text(cvqa, tmp_path):
    out = tmp_path / "run"
    _eval("--model", "answer-random", "--task", "causalvqa", "--data-root", str(cvqa), "--out", str(out), "--no-cache")
    results = load_results(out)
    assert results.metric("paired_accuracy") is not None and results.metric("strict/paired_accuracy") is not None
    from pjbench.benchmarks.tasks import TASKS

    items = {it.name: it for it in TASKS.build("causalvqa").load(cvqa, "debug")}
    for r in load_items(out):
        assert r.response["prompt"] == cvqa_text(items[r.name].question, items[r.name].candidates)
        assert r.response["system"] is None


def test_openai_server_dual_scoring_and_failed_requests(mvp, tmp_path, monkeypatch):
    from pjbench.benchmarks.tasks import TASKS

    items = TASKS.build("mvpbench").load(mvp, "full")
    victim = items[0]
    server = ScriptedChatServer(fail=victim.question)
    # no retry waits in the test: the backend's backoff sleeps are skipped
    monkeypatch.setattr("pjbench.encoders.openai_compat.time.sleep", lambda s: None)
    try:
        out = tmp_path / "run"
        res = _eval("--model", "openai:tiny-vlm", "--base-url", server.url, "--task", "mvpbench", "--data-root",
                    str(mvp), "--split", "full", "--out", str(out), "--max-concurrency", "2", "--no-cache")
    finally:
        server.close()
    results = load_results(out)
    assert results.model["name"] == "openai:tiny-vlm" and results.model["backend"] == "openai"
    # "Answer: B because a ball falls": the official parser takes the SECOND match (the article a) -> A
    recs = load_items(out)
    assert {r.response["parsed"]["official"] for r in recs} == {0} and {r.response["parsed"]["strict"] for r in recs} == {1}
    assert results.task["answers"]["parser_disagreements"]["strict"] == len(recs)
    assert "read differently from it: " in res.output
    # every item whose question mentions the victim's failed (503 after the retries): recorded skips; their pairs leave
    failed = {s["name"] for s in results.task["skipped"]}
    by_503 = {s["name"] for s in results.task["skipped"] if "no answer: HTTP 503" in s["reason"]}
    assert victim.name in by_503 and all("HTTP 503" in s["reason"] or "not found" in s["reason"]  # missing videos
                                         for s in results.task["skipped"])
    partners = {it.name for it in items if it.pair_id in {i.pair_id for i in items if i.name in failed}} - failed
    assert partners <= {x["name"] for x in results.task["left_out"]}
    assert not ({r.name for r in recs} & (failed | partners))
    # what was sent: 16 frames then the official text, greedy
    body = server.requests[0]
    parts = body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["image_url"] * 16 + ["text"] and body["temperature"] == 0.0


class _MarkupAnswerer:
    """Answers every request with markup and the letter A (the report must escape what models write)."""

    sampling = None

    def __init__(self, checkpoint=None, device="cpu"):
        from pjbench.encoders.answerer import AnswererInfo

        self.info = AnswererInfo(name="markup-vlm", backend="test", model="markup-vlm")

    def generate(self, requests, generation):
        from pjbench.encoders.answerer import AnswerResult

        return [AnswerResult(text="<script>alert(1)</script> Answer: A") for _ in requests]


def test_the_report_ranks_vlm_rows_badged_with_parser_agreement_and_escaped_examples(mvp, tmp_path):
    from pjbench.encoders.registry import MODELS

    if "markup-vlm-test" not in MODELS:
        MODELS.register("markup-vlm-test", _MarkupAnswerer, "test answerer with markup", readouts="generate",
                        offline=True, checkpoint=None)
    runs = []
    for model in ("markup-vlm-test", "answer-random"):
        out = tmp_path / model
        _eval("--model", model, "--task", "mvpbench", "--data-root", str(mvp), "--split", "full", "--out", str(out),
              "--no-cache")
        runs.append(str(out))
    res = CliRunner().invoke(main, ["report", *runs, "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "r.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count('class="badge readout"') >= 2 and ">vlm</span>" in html
    assert "Parsers: headline read by the official parser" in html and "Example responses" in html
    # the markup model always answers A: under the official parser every pair has one right, one wrong item
    pa = load_results(runs[0]).metric("pair_accuracy")
    assert pa.value == 0.0


def test_vlm_on_the_unlabelled_causalvqa_test_split_writes_the_submission(cvqa, tmp_path):
    out = tmp_path / "test"
    _eval("--model", "answer-random", "--task", "causalvqa", "--data-root", str(cvqa), "--split", "test",
          "--out", str(out), "--no-cache")
    results = load_results(out)
    assert results.metrics == [] and results.files.get("submission") == "submission.jsonl"
    from pjbench.benchmarks.tasks import TASKS

    qids = {it.pair_id for it in TASKS.build("causalvqa").load(cvqa, "test")}
    lines = [json.loads(x) for x in (out / "submission.jsonl").read_text().splitlines()]
    assert {str(x["qid"]) for x in lines} == {str(q) for q in qids} and len(lines) == len(qids)
    limited = tmp_path / "limited"
    _eval("--model", "answer-random", "--task", "causalvqa", "--data-root", str(cvqa), "--split", "test",
          "--out", str(limited), "--no-cache", "--limit", "4")
    assert (limited / "submission.partial.jsonl").is_file() and not (limited / "submission.jsonl").exists()


def test_cached_answers_need_no_decoding(mvp, tmp_path, monkeypatch):
    from pjbench.benchmarks.api import evaluate

    kw = dict(task="mvpbench", readout="vlm", split="full", n_boot=200, progress=False, cache_dir=tmp_path / "c")
    first, _ = evaluate("answer-random", mvp, tmp_path / "a", **kw)

    def no_decoding(*a, **k):
        raise AssertionError("a cached answer decoded its video")

    monkeypatch.setattr("pjbench.benchmarks.vlm_runner.decode_clip", no_decoding)
    again, _ = evaluate("answer-random", mvp, tmp_path / "b", **kw)
    assert again.task["n_from_cache"] == again.task["n_scored"] == first.task["n_scored"]
    assert again.metric("pair_accuracy").value == first.metric("pair_accuracy").value


class _FixedAnswerer:
    """Answers every request with the same text."""

    sampling = None
    text = "I do not know"

    def __init__(self, checkpoint=None, device="cpu"):
        from pjbench.encoders.answerer import AnswererInfo

        self.info = AnswererInfo(name="fixed-vlm", backend="test", model="fixed-vlm")

    def generate(self, requests, generation):
        from pjbench.encoders.answerer import AnswerResult

        return [AnswerResult(text=self.text) for _ in requests]


def test_intphys2_through_the_vlm_readout_asks_each_official_prompt(tiny_suite, tmp_path):
    from pjbench.encoders.registry import MODELS
    from pjbench.intphys2.prompts import PROMPTS, USER_TEXT

    if "fixed-vlm-test" not in MODELS:
        MODELS.register("fixed-vlm-test", _FixedAnswerer, "test answerer", readouts="generate", offline=True,
                        checkpoint=None)
    out = tmp_path / "ip2"
    res = _eval("--model", "fixed-vlm-test", "--task", "intphys2", "--data-root", str(tiny_suite), "--split", "Main",
                "--out", str(out), "--no-cache")
    assert "accuracy" in res.output and "prompts 1/2/3" in res.output
    results = load_results(out)
    assert results.protocol["readout"] == "vlm" and results.protocol["prompts"] == ["1", "2", "3"]
    recs = load_items(out)
    n = len(recs)
    assert n == results.task["n_items"] and {r.label for r in recs} == {0, 1}
    for r in recs:
        for k, a in r.response["prompts"].items():
            assert a["system"] == PROMPTS[int(k)] and a["prompt"] == USER_TEXT
    # "I do not know": the official substring rule reads "no" (in "not"/"know") -> impossible for prompts 1
    # and 3, and no answer for prompt 2 (no 1 or 0); strict reads nothing
    share_impossible = sum(r.label == 0 for r in recs) / n
    assert results.metric("prompt1/accuracy").value == pytest.approx(share_impossible)
    assert results.metric("prompt2/accuracy").value == 0.0
    assert results.metric("accuracy").value == pytest.approx(2 * share_impossible / 3)
    assert results.metric("strict/accuracy").value == 0.0
    assert results.metric("accuracy_sd_over_prompts").value > 0
    assert results.metric("accuracy", subset="visibility=visible") is not None
    # the report recomputes the headline from the items file
    rep = CliRunner().invoke(main, ["report", str(out), "--out", str(tmp_path / "r.html")])
    assert rep.exit_code == 0, rep.output
    html = (tmp_path / "r.html").read_text()
    assert "headline recomputed from the items file (accuracy[all])" in html and "(prompt 1)" in html


def test_a_real_server_backed_by_a_tiny_transformers_model(cvqa, tmp_path):
    from tiny_chat_server import TinyChatServer, build_tiny_chat_model  # noqa: I001

    server = TinyChatServer(build_tiny_chat_model(tmp_path / "tiny-lm"))
    try:
        out = tmp_path / "run"
        args = ["--model", "openai:tiny-lm", "--base-url", server.url, "--task", "causalvqa", "--data-root", str(cvqa),
                "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--limit", "10"]
        res = _eval(*args)
        n_sent = len(server.requests)
        again = _eval(*args)  # served from the response cache: nothing more is sent
        assert len(server.requests) == n_sent
    finally:
        server.close()
    results = load_results(out)
    recs = load_items(out)
    assert recs and n_sent == len(recs) and results.model["identity"]["model"] == "tiny-lm"
    # what the model generated, read by every parser; counted, never dropped
    assert all(isinstance(r.response["text"], str) for r in recs)
    assert all(set(r.response["parsed"]) == {"official", "lenient", "strict"} for r in recs)
    assert results.task["n_scored"] == len(recs) and results.metric("paired_accuracy") is not None
    assert "parsers: headline read by official" in res.output and f"0 of {len(recs)} requests generated" in again.output
    body = server.requests[0]
    assert body["max_tokens"] == 1024 and body["temperature"] == 0.0  # CausalVQA's official decoding


def test_vlm_shards_merge_to_the_one_process_run(mvp, tmp_path):
    from pjbench.benchmarks.api import evaluate

    base = ["--model", "answer-random", "--task", "mvpbench", "--data-root", str(mvp), "--split", "full"]
    one = tmp_path / "one"
    _eval(*base, "--out", str(one), "--no-cache")
    out, cache = tmp_path / "sharded", str(tmp_path / "shared-cache")
    first = _eval(*base, "--out", str(out), "--cache-dir", cache, "--shard", "0/2")
    assert "shard 0/2:" in first.output and "waiting for shard(s) 1 of 2" in first.output
    res = CliRunner().invoke(main, ["merge", "--out", str(out), "-q"])
    assert res.exit_code == 1 and "shard(s) 1/2 have not finished" in res.output
    second = _eval(*base, "--out", str(out), "--cache-dir", cache, "--shard", "1/2")
    assert "pair accuracy" in second.output  # the last shard merged
    a, b = load_results(one), load_results(out)
    assert b.task["n_requests_generated"] == 0  # the merge generated nothing
    assert [(m.name, m.subset, m.value, m.ci_low, m.ci_high) for m in a.metrics] == \
           [(m.name, m.subset, m.value, m.ci_low, m.ci_high) for m in b.metrics]
    assert [(r.name, r.prediction) for r in load_items(one)] == [(r.name, r.prediction) for r in load_items(out)]
    again = CliRunner().invoke(main, ["merge", "--out", str(out), "-q"])  # pjbench merge redoes it from the cache
    assert again.exit_code == 0 and "pair accuracy" in again.output
    # without a shared cache there is nowhere to keep the answers
    with pytest.raises(Exception, match="response cache"):
        evaluate("answer-random", mvp, tmp_path / "x", task="mvpbench", readout="vlm", split="full", cache=False,
                 shard="0/2", progress=False)


def test_vlm_review_regressions(tiny_suite, mvp, tmp_path, monkeypatch):
    import shutil

    from pjbench.encoders.registry import MODELS

    if "fixed-vlm-test" not in MODELS:
        MODELS.register("fixed-vlm-test", _FixedAnswerer, "test answerer", readouts="generate", offline=True,
                        checkpoint=None)
    # HeldOut videos have no pair: one undecodable video is one skip, not the whole split
    suite = tmp_path / "suite"
    shutil.copytree(tiny_suite, suite)
    bad = sorted((suite / "HeldOut" / "Videos").glob("*.mp4"))[0]
    bad.write_bytes(b"garbage")
    out = tmp_path / "heldout"
    _eval("--model", "fixed-vlm-test", "--task", "intphys2", "--data-root", str(suite), "--split", "HeldOut",
          "--out", str(out), "--no-cache")
    res = load_results(out)
    assert [s["name"] for s in res.task["skipped"]] == [bad.stem] and res.task["left_out"] == []
    assert res.task["n_scored"] == res.task["n_items"] - 1
    # ... and the leaderboard file: one official-format line per answered video ("I do not know" reads "no")
    from pjbench.intphys2.submission import read_submission

    sub = read_submission(out / res.files["submission"])
    assert len(sub) == res.task["n_scored"] and set(sub.values()) == {0} and bad.stem not in sub
    assert res.task["submission"]["n_no_answer"] == 0
    # a server that answers nothing: one Error line, quickly (no retries wait here)
    monkeypatch.setattr("pjbench.encoders.openai_compat.time.sleep", lambda s: None)
    down = CliRunner().invoke(main, ["eval", "--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1", "--task",
                                     "mvpbench", "--data-root", str(mvp), "--split", "full", "--out",
                                     str(tmp_path / "down"), "--no-cache", "-q"])
    assert down.exit_code == 1 and "answered none of the first" in down.output and "Traceback" not in down.output
    auto = CliRunner().invoke(main, ["eval", "--model", "answer-random", "--task", "mvpbench", "--data-root", str(mvp),
                                     "--out", str(tmp_path / "auto"), "--batch-size", "auto", "-q"])
    assert auto.exit_code == 1 and "--batch-size auto" in auto.output
    # a base URL without a scheme: one Error line
    bad_url = CliRunner().invoke(main, ["eval", "--model", "openai:m", "--base-url", "127.0.0.1:9/v1", "--task",
                                        "mvpbench", "--data-root", str(mvp), "--out", str(tmp_path / "u"), "-q"])
    assert bad_url.exit_code == 1 and bad_url.output.startswith("Error: --model openai:m")
    # a shard's invocation keeps no credentials and an absolute cache dir
    monkeypatch.chdir(tmp_path)  # the relative --cache-dir below lands in tmp_path
    server = ScriptedChatServer()
    try:
        url = server.url.replace("http://", "http://alice:hunter2secret@")
        _eval("--model", "openai:m", "--base-url", url, "--task", "mvpbench", "--data-root", str(mvp), "--split", "full",
              "--out", str(tmp_path / "s"), "--cache-dir", "relcache", "--shard", "0/2")
    finally:
        server.close()
    inv = (tmp_path / "s" / ".shards" / "0-of-2" / "invocation.json").read_text()
    assert "hunter2secret" not in inv and json.loads(inv)["options"]["cache_dir"].startswith("/")


def test_vlm_on_slurm_array_merges_to_the_one_process_run(mvp, tmp_path, monkeypatch):
    """`--slurm-partition` for the vlm readout: real submitit with `sbatch` mocked; each array task and the
    merge job run here the way a node would; the merged run equals one process and generated nothing."""
    import signal

    submitit = pytest.importorskip("submitit")
    from submitit.core import submission
    from submitit.core.test_core import MockedSubprocess

    base = ["--model", "answer-random", "--task", "mvpbench", "--data-root", str(mvp), "--split", "full"]
    one = tmp_path / "one"
    _eval(*base, "--out", str(one), "--no-cache")
    refused = CliRunner().invoke(main, ["eval", *base, "--out", str(tmp_path / "x"), "--no-cache",
                                        "--slurm-partition", "p", "--nodes", "1", "-q"])
    assert refused.exit_code == 1 and "response cache" in refused.output
    assert "--slurm-partition" in CliRunner().invoke(main, ["eval", *base, "--out", str(tmp_path / "y"), "--nodes", "2"]).output
    out = tmp_path / "slurm"
    monkeypatch.setenv("SUBMITIT_FOLDER", "")
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGCONT, signal.SIGUSR2)}
    mock = MockedSubprocess(known_cmds=["srun"])
    try:
        with mock.context():
            res = _eval(*base, "--out", str(out), "--cache-dir", str(tmp_path / "shared"), "--device", "cuda",
                        "--slurm-partition", "gpu", "--nodes", "1", "--slurm-gpus-per-node", "3")
            assert "submitted 3 shards as Slurm array job" in res.output and "merge job" in res.output
            folder = out / ".slurm"
            array_sh = sorted(folder.glob("*_submission.sh"))[0].read_text()
            assert "--array=0-2%3" in array_sh and "--gpus-per-node=1" in array_sh
            ids = sorted({p.name.split("_")[0] for p in folder.glob("*_submitted.pkl")})
            array_id, merge_id = ids[0], ids[1]
            import pickle

            for i in range(3):  # each array task, on the node it was given (device cuda on a CPU test machine:
                job_id = f"{array_id}_{i}"  # the answer-random baseline runs no tensor, so it needs none)
                with mock.job_context(job_id):
                    submission.process_job(folder)
                result = pickle.loads((folder / f"{job_id}_0_result.pkl").read_bytes())
                assert result[0] == "success", result
            assert not (out / "results.json").exists(), "array tasks never merge"
            with mock.job_context(merge_id):
                submission.process_job(folder)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    a, b = load_results(one), load_results(out)
    assert b.task["n_requests_generated"] == 0 and b.protocol["readout"] == "vlm"
    assert [(m.name, m.subset, m.value, m.ci_low, m.ci_high) for m in a.metrics] == \
           [(m.name, m.subset, m.value, m.ci_low, m.ci_high) for m in b.metrics]
    assert [(r.name, r.prediction) for r in load_items(one)] == [(r.name, r.prediction) for r in load_items(out)]


def test_a_merged_run_keeps_the_reason_a_shard_skipped_an_item(mvp, tmp_path, monkeypatch):
    """An item whose request failed in its shard (HTTP 503 after the retries) is a skip in the merged run
    with that error and its shard named, not an anonymous 'no answer in the cache'."""
    from pjbench.benchmarks.tasks import TASKS

    victim = TASKS.build("mvpbench").load(mvp, "full")[0]
    server = ScriptedChatServer(fail=victim.question)
    monkeypatch.setattr("pjbench.encoders.openai_compat.time.sleep", lambda s: None)
    out, cache = tmp_path / "sharded", str(tmp_path / "shared")
    base = ["--model", "openai:tiny-vlm", "--base-url", server.url, "--task", "mvpbench", "--data-root", str(mvp),
            "--split", "full", "--out", str(out), "--cache-dir", cache]
    try:
        for i in range(2):
            _eval(*base, "--shard", f"{i}/2")
    finally:
        server.close()
    reasons = {s["name"]: s["reason"] for s in load_results(out).task["skipped"]}
    assert "HTTP 503" in reasons[victim.name] and re.search(r"\(shard [01]/2\)", reasons[victim.name])
    assert not any("did not store one" in r for r in reasons.values())


def test_option_likelihoods_over_http_with_vllm_prompt_logprobs(cvqa, tmp_path):
    """`--model-arg option_likelihood=vllm`: each option is sent as the open start of the reply with
    prompt_logprobs; the summed log-probability equals the model's own next-token log-probability of that
    option after the generation prompt (computed here in process); likelihood rows appear, cached."""
    from tiny_chat_server import TinyChatServer, build_tiny_chat_model  # noqa: I001

    server = TinyChatServer(build_tiny_chat_model(tmp_path / "tiny-lm"))
    try:
        out = tmp_path / "run"
        args = ["--model", "openai:tiny-lm", "--base-url", server.url, "--task", "causalvqa", "--data-root", str(cvqa),
                "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--limit", "6", "--model-arg",
                "option_likelihood=vllm"]
        _eval(*args)
        n_sent = len(server.requests)
        _eval(*args)
        assert len(server.requests) == n_sent  # answers and likelihoods both served from the cache
    finally:
        server.close()
    scoring = [b for b in server.requests if b.get("continue_final_message")]
    assert scoring and all(b["add_generation_prompt"] is False and b["prompt_logprobs"] == 0
                           and b["messages"][-1]["role"] == "assistant" for b in scoring)
    recs = load_items(out)
    by_prompt = {r.response["prompt"]: r for r in recs}
    body = scoring[0]
    rec = by_prompt[body["messages"][-2]["content"][-1]["text"]]
    opt = body["messages"][-1]["content"]
    expected = server.next_token_logprobs(server.text_messages(body)[:-1])[server.tok.convert_tokens_to_ids(opt)]
    got = rec.response["option_logprobs"][rec.response["options"].index(opt)]
    assert got == pytest.approx(float(expected), abs=1e-4)
    results = load_results(out)
    assert results.protocol["option_likelihood"]["n_errors"] == 0
    assert results.metric("likelihood/paired_accuracy") is not None


def test_option_likelihoods_a_server_without_the_extension_is_a_counted_error(mvp, tmp_path):
    """A server that ignores vLLM's fields (the OpenAI API, most others): answers kept, every likelihood a
    recorded error, counted and printed, no likelihood rows."""
    server = ScriptedChatServer()
    try:
        out = tmp_path / "run"
        res = _eval("--model", "openai:x", "--base-url", server.url, "--task", "mvpbench", "--data-root", str(mvp),
                    "--split", "full", "--out", str(out), "--no-cache", "--model-arg", "option_likelihood=vllm")
    finally:
        server.close()
    results = load_results(out)
    lik = results.protocol["option_likelihood"]
    assert lik["scored"] is False and lik["n_errors"] == lik["n_requests"] > 0 and "no prompt_logprobs" in lik["first_error"]
    assert "warning: option likelihoods failed for" in res.output
    assert results.metric("likelihood/pair_accuracy") is None and results.metric("pair_accuracy") is not None
    assert all("no prompt_logprobs" in r.response["likelihood_error"] for r in load_items(out))
    bad = CliRunner().invoke(main, ["eval", "--model", "openai:x", "--base-url", server.url, "--task", "mvpbench",
                                    "--data-root", str(mvp), "--out", str(tmp_path / "b"), "--model-arg",
                                    "option_likelihood=sglang"])
    assert bad.exit_code == 1 and "option_likelihood=sglang: one of vllm" in bad.output


def test_a_failed_likelihood_is_scored_again_on_the_next_run(cvqa, tmp_path):
    """The same served model, first behind a server without prompt_logprobs (every likelihood fails, the
    answers are cached), then behind one with them: the re-run sends no generation, scores every option."""
    from tiny_chat_server import TinyChatServer, build_tiny_chat_model  # noqa: I001

    out, cache = tmp_path / "run", str(tmp_path / "cache")

    def run(server):
        try:
            _eval("--model", "openai:same", "--base-url", server.url, "--task", "causalvqa", "--data-root", str(cvqa),
                  "--out", str(out), "--cache-dir", cache, "--limit", "4", "--model-arg", "option_likelihood=vllm",
                  "--overwrite", "only-missing")
        finally:
            server.close()
        return load_results(out).protocol["option_likelihood"], server

    first, _ = run(ScriptedChatServer(text="C END"))
    assert first["n_errors"] == first["n_requests"] > 0
    second, tiny = run(TinyChatServer(build_tiny_chat_model(tmp_path / "lm")))
    assert second["n_errors"] == 0 and second["n_scored"] == first["n_requests"]
    assert all(b.get("continue_final_message") for b in tiny.requests)  # no answer generated again
    assert {r.response["text"] for r in load_items(out)} == {"C END"}


def test_frame_sampling_choices_and_options_the_readout_does_not_take(cvqa, tmp_path):
    """--frames N replaces the official 16 frames, --model-arg sampling=api takes the API models' setting
    (CausalVQA: 10), both recorded and sent; a surprise/probe option on a vlm run is an error, never ignored."""
    server = ScriptedChatServer(text="C END")
    try:
        base = ["--model", "openai:m", "--base-url", server.url, "--task", "causalvqa", "--data-root", str(cvqa),
                "--no-cache", "--limit", "2"]
        _eval(*base, "--out", str(tmp_path / "a"))
        _eval(*base, "--out", str(tmp_path / "b"), "--frames", "4")
        _eval(*base, "--out", str(tmp_path / "c"), "--model-arg", "sampling=api")
        bad = CliRunner().invoke(main, ["eval", *base, "--out", str(tmp_path / "d"), "--context", "8", "--folds", "3"])
        assert bad.exit_code == 1 and "--context, --folds: not an option of the vlm readout" in bad.output
        dry = CliRunner().invoke(main, ["eval", *base, "--out", str(tmp_path / "e"), "--dry-run"])
        assert dry.exit_code == 1 and "--dry-run" in dry.output and not (tmp_path / "e").exists()
    finally:
        server.close()
    frames = {k: load_results(tmp_path / k).protocol["sampling"]["n_frames"] for k in "abc"}
    assert frames == {"a": 16, "b": 4, "c": 10}
    sent = sorted({sum(p["type"] == "image_url" for p in b["messages"][-1]["content"]) for b in server.requests})
    assert sent == [4, 10, 16]
    with pytest.raises(Exception, match="sampling=x: one of official, api"):
        from pjbench.benchmarks.api import evaluate

        evaluate("answer-random", cvqa, tmp_path / "f", task="causalvqa", readout="vlm", model_args={"sampling": "x"},
                 progress=False, cache=False)


def test_vlm_under_torchrun_ranks_answer_shards_and_the_last_merges(mvp, tmp_path, monkeypatch):
    """torchrun's environment (RANK / WORLD_SIZE / LOCAL_RANK): rank r answers shard r/N, the last rank to
    finish merges; the results equal one process. device_map under torchrun is refused."""
    base = ["--model", "answer-random", "--task", "mvpbench", "--data-root", str(mvp), "--split", "full"]
    _eval(*base, "--out", str(tmp_path / "one"), "--no-cache")
    out, cache = tmp_path / "tr", str(tmp_path / "cache")
    outputs = []
    for rank in (0, 1):
        for k, v in {"RANK": rank, "WORLD_SIZE": 2, "LOCAL_RANK": rank, "TORCHELASTIC_RUN_ID": "job1"}.items():
            monkeypatch.setenv(k, str(v))
        outputs.append(_eval(*base, "--out", str(out), "--cache-dir", cache).output)
    assert "shard 0/2:" in outputs[0] and "waiting for shard(s) 1 of 2" in outputs[0]
    assert "shard 1/2:" in outputs[1] and "pair accuracy" in outputs[1]
    a, b = load_results(tmp_path / "one"), load_results(out)
    assert [(m.name, m.subset, m.value) for m in a.metrics] == [(m.name, m.subset, m.value) for m in b.metrics]
    refused = CliRunner().invoke(main, ["eval", *base, "--out", str(tmp_path / "dm"), "--model-arg", "device_map=auto"])
    assert refused.exit_code == 1 and "not one per GPU under torchrun" in refused.output
