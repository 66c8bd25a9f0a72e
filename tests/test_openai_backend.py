"""The OpenAI-compatible answerer against a real local HTTP server (``ThreadingHTTPServer`` on 127.0.0.1)
whose answers each test scripts: successes echoing what was sent, 429 / 5xx, hung requests, dropped
connections, bodies that are not JSON, 4xx that are not retried. Backoffs go to an injected ``sleep``."""

from __future__ import annotations

import base64
import io
import json
import random
import socket
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import numpy as np
import pytest

from pjbench.encoders.answerer import Answerer, Chat, Clip, FrameSampling, Generation
from pjbench.encoders.frame_images import encode_jpeg, encode_png
from pjbench.encoders.openai_compat import OpenAICompatAnswerer

GEN = Generation(max_new_tokens=32, temperature=0.0, seed=7)
KEY = "sk-test-0123456789abcdef"


class FakeAPI:
    """What the server saw (``requests``: path, headers, parsed body) and what it answers next (``script``:
    actions consumed one per request; when empty, ``default(body)`` or a plain echoing success)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple] = []
        self.default = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.in_flight = self.max_in_flight = 0
        self.url = ""

    def next_action(self, body) -> tuple:
        with self.lock:
            if self.script:
                return self.script.pop(0)
        return self.default(body) if self.default else ("ok",)


def echo_completion(body: dict, content=None) -> dict:
    """A chat completion whose text says how many image parts and which user text the request held."""
    user = body["messages"][-1]["content"]
    n_images = sum(p["type"] == "image_url" for p in user)
    text = next(p["text"] for p in user if p["type"] == "text")
    return {"id": "cmpl-1", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content or f"images={n_images} text={text}"}}],
            "usage": {"prompt_tokens": 10 + n_images, "completion_tokens": 3, "total_tokens": 13 + n_images}}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, code: int, payload: bytes, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        api: FakeAPI = self.server.api
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = None
        with api.lock:
            api.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            api.in_flight += 1
            api.max_in_flight = max(api.max_in_flight, api.in_flight)
        try:
            action = api.next_action(body)
            kind = action[0]
            if kind == "ok":  # ("ok", delay_s=0, content=None)
                if len(action) > 1 and action[1]:
                    api.stop.wait(action[1])
                self._send(200, json.dumps(echo_completion(body, *action[2:])).encode())
            elif kind == "status":  # ("status", code, headers, payload)
                self._send(action[1], action[3] if len(action) > 3 else b'{"error": {"message": "nope"}}',
                           action[2] if len(action) > 2 else None)
            elif kind == "json":  # ("json", payload): a 200 with this JSON
                self._send(200, json.dumps(action[1]).encode())
            elif kind == "hang":  # answer only after the client's timeout
                api.stop.wait(action[1])
                self._send(200, json.dumps(echo_completion(body)).encode())
            elif kind == "drop":  # close the socket without a response
                self.close_connection = True
            elif kind == "drop_mid":  # headers promise 1000 bytes; 9 come, then the socket closes
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"choices')
                self.close_connection = True
            elif kind == "not_json":
                self._send(200, b"<html>502 Bad Gateway</html>")
        except OSError:  # the client gave up (timeout) before we answered
            pass
        finally:
            with api.lock:
                api.in_flight -= 1


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # no tracebacks for sockets the client closed
        pass


@pytest.fixture
def api(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 is reached directly, whatever the machine's proxy
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    srv = Server(("127.0.0.1", 0), Handler)
    srv.api = FakeAPI()
    srv.api.url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv.api
    srv.api.stop.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def make(api: FakeAPI, sleeps: list | None = None, **kw) -> OpenAICompatAnswerer:
    kw.setdefault("base_url", api.url)
    return OpenAICompatAnswerer("test-vlm", sleep=(sleeps if sleeps is not None else []).append, **kw)


def clip(n: int = 3, h: int = 24, w: int = 32) -> Clip:
    """Frames of distinct flat colours with a gradient (so order and content can be checked after JPEG)."""
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.stack([np.stack([np.full((h, w), 40 + 60 * i), 4 * yy, 4 * xx], -1) for i in range(n)])
    return Clip(frames=frames.astype(np.uint8), timestamps=tuple(0.5 * i for i in range(n)))


def decoded_frames(body: dict) -> list[np.ndarray]:
    out = []
    for part in body["messages"][-1]["content"]:
        if part["type"] == "image_url":
            data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
            with av.open(io.BytesIO(data)) as container:
                out.append(next(container.decode(video=0)).to_ndarray(format="rgb24"))
    return out


def test_request_body_messages_and_frames_as_sent(api):
    answerer = make(api, base_url=api.url + "/", detail="low")  # a trailing slash is fine
    assert isinstance(answerer, Answerer)
    c = clip(n=3)
    [result] = answerer.generate([(c, Chat(user="What happens next?", system="Be brief."))], GEN)
    assert result.ok and result.text == "images=3 text=What happens next?"
    assert result.meta["attempts"] == 1 and result.meta["usage"]["prompt_tokens"] == 13
    assert result.meta["latency_s"] >= 0 and result.meta["finish_reason"] == "stop"
    [req] = api.requests
    assert req["path"] == "/v1/chat/completions" and "Authorization" not in req["headers"]
    body = req["body"]
    assert {k: body[k] for k in ("model", "max_tokens", "temperature", "seed")} == {
        "model": "test-vlm", "max_tokens": 32, "temperature": 0.0, "seed": 7}
    system, user = body["messages"]
    assert system == {"role": "system", "content": "Be brief."} and user["role"] == "user"
    assert [p["type"] for p in user["content"]] == ["image_url"] * 3 + ["text"]  # frames first
    assert all(p["image_url"]["detail"] == "low" and p["image_url"]["url"].startswith("data:image/jpeg;base64,")
               for p in user["content"][:3])
    frames = decoded_frames(body)
    assert len(frames) == 3 and all(f.shape == (24, 32, 3) for f in frames)
    for got, sent in zip(frames, c.frames):  # the right frames, in order
        assert np.abs(got.astype(int) - sent).mean() < 4
    assert answerer.info.to_dict() == {"name": "openai:test-vlm", "backend": "openai", "model": "test-vlm",
                                       "revision": None, "extra": {"base_url": api.url, "image_format": "jpeg",
                                                                   "detail": "low", "jpeg_qscale": 2}}


def test_video_after_text_without_system_or_detail(api):
    answerer = make(api, name="my-vlm")
    [result] = answerer.generate([(clip(n=2), Chat(user="Describe.", video_after_text=True))], GEN)
    assert result.text == "images=2 text=Describe." and answerer.info.name == "my-vlm"
    [user] = api.requests[0]["body"]["messages"]
    assert [p["type"] for p in user["content"]] == ["text", "image_url", "image_url"]
    assert all("detail" not in p["image_url"] for p in user["content"][1:])


def test_png_frames_are_lossless_and_a_valid_png(api):
    c = clip(n=2, h=23, w=31)  # odd sides are fine for PNG
    [result] = make(api, image_format="png").generate([(c, Chat(user="x"))], GEN)
    assert result.ok
    parts = api.requests[0]["body"]["messages"][-1]["content"][:2]
    assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in parts)
    frames = decoded_frames(api.requests[0]["body"])
    assert len(frames) == 2 and all(np.array_equal(got, sent) for got, sent in zip(frames, c.frames))
    png = encode_png(c.frames[1])  # the structure: signature, IHDR, IDAT rows with filter byte 0, IEND
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and struct.unpack(">IIBBBBB", png[16:16 + length]) == (31, 23, 8, 2, 0, 0, 0)
    assert zlib.crc32(png[12:16 + length]) == struct.unpack(">I", png[16 + length:20 + length])[0]
    pos, idat = 20 + length, b""
    while True:
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IEND":
            break
    assert pos == len(png)
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(23, 1 + 31 * 3)
    assert (rows[:, 0] == 0).all() and np.array_equal(rows[:, 1:].reshape(23, 31, 3), c.frames[1])


def test_jpeg_pads_odd_sides_by_one_pixel_and_max_pixels_shrinks(api):
    c = clip(n=2, h=23, w=31)
    jpegs = encode_jpeg(c.frames)
    assert len(jpegs) == 2 and all(j[:2] == b"\xff\xd8" for j in jpegs)
    with av.open(io.BytesIO(jpegs[0])) as container:
        got = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert got.shape == (24, 32, 3) and np.abs(got[:23, :31].astype(int) - c.frames[0]).mean() < 4
    sampling = FrameSampling(n_frames=2, max_pixels=48 * 64 // 4)
    [result] = make(api, sampling=sampling).generate([(clip(n=2, h=48, w=64), Chat(user="x"))], GEN)
    assert result.ok and [f.shape for f in decoded_frames(api.requests[0]["body"])] == [(24, 32, 3)] * 2


def test_results_keep_request_order_under_bounded_concurrency(api):
    delays = [0.05 * d for d in random.Random(3).sample(range(8), 8)]
    api.default = lambda body: ("ok", delays[int(body["messages"][-1]["content"][-1]["text"][1:])])
    answerer = make(api, max_concurrency=3)
    results = answerer.generate([(clip(n=1), Chat(user=f"q{i}")) for i in range(8)], GEN)
    assert [r.text for r in results] == [f"images=1 text=q{i}" for i in range(8)]
    assert len(api.requests) == 8 and 2 <= api.max_in_flight <= 3


def test_429_honours_retry_after_capped_at_max_backoff(api):
    api.script = [("status", 429, {"Retry-After": "3"}), ("status", 429, {"Retry-After": "100"}), ("ok",)]
    sleeps: list = []
    [result] = make(api, sleeps, max_backoff_s=30.0).generate([(clip(n=1), Chat(user="x"))], GEN)
    assert result.ok and result.meta["attempts"] == 3 and len(api.requests) == 3
    assert sleeps == [3.0, 30.0]


def test_500_then_success_backs_off_exponentially(api):
    api.script = [("status", 500), ("status", 502), ("ok",)]
    sleeps: list = []
    [result] = make(api, sleeps, backoff_s=0.5).generate([(clip(n=1), Chat(user="x"))], GEN)
    assert result.text == "images=1 text=x" and result.meta["attempts"] == 3
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 0.55 and 1.0 <= sleeps[1] <= 1.1  # base * 2**attempt + jitter


def test_a_hung_request_times_out_and_the_retry_answers(api):
    api.script = [("hang", 2.0), ("ok",)]
    sleeps: list = []
    [result] = make(api, sleeps, timeout_s=0.5).generate([(clip(n=1), Chat(user="x"))], GEN)
    assert result.ok and result.meta["attempts"] == 2 and len(sleeps) == 1 and len(api.requests) == 2
    api.script = [("hang", 2.0), ("hang", 2.0)]
    [result] = make(api, timeout_s=0.5, max_retries=1).generate([(clip(n=1), Chat(user="x"))], GEN)
    assert result.error == "timed out after 0.5 s (no response) (after 2 attempts)"


@pytest.mark.parametrize("fault, named", [("drop", "connection error: RemoteDisconnected"),
                                          ("drop_mid", "connection error: IncompleteRead"),
                                          ("not_json", "HTTP 200 with a body that is not JSON")])
def test_dropped_connections_and_bodies_that_are_not_json_are_retried(api, fault, named):
    api.script = [(fault,), ("ok",)]
    sleeps: list = []
    [result] = make(api, sleeps).generate([(clip(n=1), Chat(user="x"))], GEN)
    assert result.ok and result.meta["attempts"] == 2 and len(sleeps) == 1
    api.script = [(fault,), (fault,), (fault,)]
    [result] = make(api, max_retries=2).generate([(clip(n=1), Chat(user="x"))], GEN)
    assert result.error.startswith(named) and result.error.endswith("(after 3 attempts)") and "\n" not in result.error


@pytest.mark.parametrize("code", [400, 401, 404])
def test_other_4xx_are_not_retried(api, code):
    api.script = [("status", code, None, b'{"error": {"message": "bad image: data:image/jpeg;base64,'
                   + b"A" * 500 + b'"}}')]
    sleeps: list = []
    [result] = make(api, sleeps).generate([(clip(n=1), Chat(user="x"))], GEN)
    assert result.text is None and not result.ok and len(api.requests) == 1 and sleeps == []
    assert result.error.startswith(f"HTTP {code} ") and "bad image" in result.error
    assert result.error.endswith("(after 1 attempt)") and "base64," not in result.error and "AAAA" not in result.error
    assert "\n" not in result.error and result.meta["status"] == code


def test_permanent_503_is_an_error_after_max_retries_plus_one_attempts(api):
    api.default = lambda body: ("status", 503, None, b'{"error": {"message": "overloaded"}}')
    sleeps: list = []
    answerer = make(api, sleeps, max_retries=3, backoff_s=1.0, max_backoff_s=3.0)
    results = answerer.generate([(clip(n=1), Chat(user="x")), (clip(n=1), Chat(user="y"))], GEN)
    assert len(api.requests) == 8 and all(r.text is None for r in results)
    for r in results:
        assert r.error == "HTTP 503 Service Unavailable: overloaded (after 4 attempts)" and r.meta["attempts"] == 4
    waits = sorted(sleeps)  # two requests' backoffs, 1, 2 then the cap 3, each plus up to 10 % jitter
    assert len(waits) == 6 and all(lo <= s <= 1.1 * lo for s, lo in zip(waits, [1, 1, 2, 2, 3, 3]))


def test_connection_refused_is_an_error_result_naming_it(api):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list = []
    [result] = make(api, sleeps, base_url=f"http://127.0.0.1:{port}/v1", max_retries=2).generate(
        [(clip(n=1), Chat(user="x"))], GEN)
    assert result.text is None and "ConnectionRefusedError" in result.error
    assert result.error.endswith("(after 3 attempts)") and len(sleeps) == 2


def test_the_api_key_is_sent_only_when_set_and_never_recorded(api, monkeypatch):
    monkeypatch.setenv("PJBENCH_TEST_KEY", KEY)
    api.script = [("ok",), ("status", 401, None, json.dumps({"error": {"message": f"bad key {KEY}"}}).encode())]
    answerer = make(api, api_key_env="PJBENCH_TEST_KEY", max_concurrency=1)
    results = answerer.generate([(clip(n=1), Chat(user="a")), (clip(n=1), Chat(user="b"))], GEN)
    assert [r["headers"].get("Authorization") for r in api.requests] == [f"Bearer {KEY}"] * 2
    assert results[0].ok and results[1].error.startswith("HTTP 401 Unauthorized: bad key ***")
    recorded = json.dumps([answerer.info.to_dict(), [vars(r) for r in results]]) + repr(answerer) + str(vars(answerer))
    assert KEY not in recorded
    monkeypatch.delenv("PJBENCH_TEST_KEY")
    answerer.generate([(clip(n=1), Chat(user="c"))], GEN)
    assert "Authorization" not in api.requests[-1]["headers"]


def test_credentials_in_the_base_url_are_sent_as_basic_auth_and_stripped(api):
    url = api.url.replace("http://", "http://alice:s3cret-pw@") + "/"
    answerer = make(api, base_url=url)
    assert answerer.info.extra["base_url"] == api.url
    api.script = [("status", 403, None, b'{"error": {"message": "alice:s3cret-pw is not allowed"}}')]
    [result] = answerer.generate([(clip(n=1), Chat(user="x"))], GEN)
    assert api.requests[0]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cret-pw").decode()
    assert "s3cret-pw" not in result.error and "s3cret-pw" not in str(vars(answerer.info))


def test_responses_without_choices_or_text_are_errors_and_text_parts_are_joined(api):
    api.script = [("json", {"error": {"message": "model not loaded"}}), ("json", {"choices": []}),
                  ("ok", 0, [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}])]
    sleeps: list = []
    a, b, c = make(api, sleeps, max_concurrency=1).generate([(clip(n=1), Chat(user=u)) for u in "abc"], GEN)
    assert a.error == "response has no choices: model not loaded (after 1 attempt)" and a.text is None
    assert b.error == "response has no choices (after 1 attempt)" and sleeps == []
    assert c.text == "AB" and c.meta["usage"]["total_tokens"] == 14


def test_empty_batch_and_bad_arguments():
    answerer = OpenAICompatAnswerer("m", "http://127.0.0.1:9/v1")
    assert answerer.generate([], GEN) == [] and answerer.sampling == FrameSampling(n_frames=16)
    with pytest.raises(ValueError, match="image_format"):
        OpenAICompatAnswerer("m", "http://127.0.0.1:9/v1", image_format="webp")
    with pytest.raises(ValueError, match="http"):
        OpenAICompatAnswerer("m", "127.0.0.1:9/v1")


def test_the_default_key_goes_only_to_openai_and_this_machine(api, monkeypatch):
    """OPENAI_API_KEY, when the user named no --api-key-env, is not sent to a remote --base-url (a key set
    for OpenAI must not travel to any server); loopback and api.openai.com get it; a named variable goes
    anywhere. A 401 from a server the key was withheld from says how to send it."""
    import urllib.error
    import urllib.request

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    make(api).generate([(clip(n=1), Chat(user="a"))], GEN)  # 127.0.0.1: this machine's server
    assert api.requests[-1]["headers"].get("Authorization") == f"Bearer {KEY}"

    sent: list = []

    class Remote:  # what a remote host would receive: the request's headers, then a 401
        def open(self, request, timeout=None):
            sent.append((request.full_url, dict(request.header_items())))
            raise urllib.error.HTTPError(request.full_url, 401, "Unauthorized", {}, io.BytesIO(b"{}"))

    monkeypatch.setattr(urllib.request, "build_opener", lambda *handlers: Remote())
    for url, named, gets_key in [("https://api.openai.com/v1", None, True), ("http://10.0.0.7:8000/v1", None, False),
                                 ("https://llm.example.org/v1", None, False), ("http://[::1]:8000/v1", None, True),
                                 ("https://llm.example.org/v1", "OPENAI_API_KEY", True)]:
        kw = {"api_key_env": named} if named else {}
        [res] = OpenAICompatAnswerer("m", url, max_retries=0, **kw).generate([(clip(n=1), Chat(user="a"))], GEN)
        headers = {k.lower(): v for k, v in sent[-1][1].items()}
        assert (headers.get("authorization") == f"Bearer {KEY}") is gets_key, url
        assert res.error.startswith("HTTP 401") and KEY not in res.error
        assert ("pass --api-key-env OPENAI_API_KEY" in res.error) is (not gets_key), res.error


def test_a_revision_tells_two_servers_of_one_name_apart(api):
    from pjbench.encoders.answerer import identity_of, response_key

    a, b = make(api), make(api, revision="awq-int4")
    assert b.info.revision == "awq-int4" and identity_of(a.info) != identity_of(b.info)
    chat = Chat(user="q")
    assert response_key(a.info, chat, "c", FrameSampling(n_frames=2), GEN) != response_key(b.info, chat, "c", FrameSampling(n_frames=2), GEN)
