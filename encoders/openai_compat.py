"""An :class:`~pjbench.encoders.answerer.Answerer` served over an OpenAI-compatible HTTP API.

Any server speaking ``POST {base_url}/chat/completions`` (vLLM, SGLang, llama.cpp, LM Studio, the OpenAI API
itself) answers with a video-language model: each frame of the clip goes as one ``image_url`` part (a JPEG
or PNG data URL), with the user text, in one user turn. Requests run on ``max_concurrency`` threads; a
request that fails (HTTP 429 / 5xx, a timeout, a refused / reset / dropped connection, a body that is not
JSON) is retried with exponential backoff (honouring ``Retry-After``), and after its last attempt comes back
as an :class:`AnswerResult` carrying the error, never as an exception.

The API key is read from the environment variable ``api_key_env`` when a batch starts; it is never stored
on the answerer, in its ``info``, in results or in error messages (which are redacted of it and of any
base64 payload a server echoes back). Left at its default (``OPENAI_API_KEY``), the key is sent only to the
OpenAI API and to servers on this machine (loopback): a key set for OpenAI does not travel to whatever
``base_url`` names unless ``api_key_env`` says so. Only the standard library is used here (frames become
images in :mod:`pjbench.encoders.frame_images`).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Sequence


from pjbench.encoders.answerer import AnswererInfo, AnswerResult, Chat, Clip, FrameSampling, Generation
from pjbench.encoders.frame_images import IMAGE_FORMATS, JPEG_QSCALE, encode_jpeg, encode_png, fit_max_pixels

__all__ = ["FatalResponse", "OpenAICompatAnswerer", "encode_jpeg", "encode_png", "fit_max_pixels"]

RETRIED_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))  # as the OpenAI SDK retries
_SECRET_QUERY = re.compile(r"key|token|secret|sig|pass|auth", re.I)
_DATA_URL = re.compile(r"data:[\w.+/-]*;base64,[A-Za-z0-9+/=_-]*")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{200,}")


# ------------------------------------------------------------------------------------------------ URLs

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


def _default_key_goes_to(host: str) -> bool:
    """Whether the default key (``OPENAI_API_KEY``, not named by the user) may be sent to ``host``: the
    OpenAI API itself, or a server on this machine."""
    import ipaddress

    if host == "api.openai.com" or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_base_url(base_url: str) -> tuple[str, str, tuple[str, str] | None]:
    """``(endpoint, public base_url, (user, password) or None)``: the chat-completions URL without
    credentials, the base URL as recorded (no user info, secret-looking query values masked)."""
    parts = urllib.parse.urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an http(s) URL such as http://127.0.0.1:8000/v1")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    creds = None
    if parts.username is not None or parts.password is not None:
        creds = (urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or ""))
    path = parts.path.rstrip("/")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    public_query = urllib.parse.urlencode([(k, "***" if _SECRET_QUERY.search(k) else v) for k, v in query], safe="*")
    endpoint = urllib.parse.urlunsplit((parts.scheme, netloc, path + "/chat/completions", parts.query, ""))
    public = urllib.parse.urlunsplit((parts.scheme, netloc, path, public_query, ""))
    return endpoint, public, creds


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --------------------------------------------------------------------------------------------- answerer

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed (they would carry the Authorization header to wherever they point)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 (urllib's hook)
        return None


class _Retry(Exception):
    """A failed attempt worth retrying (``retry_after``: the server's ``Retry-After``, seconds)."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after, self.status = retry_after, status


class FatalResponse(Exception):
    """A failed attempt not worth retrying (a 4xx other than 408/409/429, a redirect, a response without
    text)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class OpenAICompatAnswerer:
    """A video-language model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    ``base_url`` is the API root (``http://127.0.0.1:8000/v1``; a trailing slash is fine; user info in it,
    ``http://user:pw@host/v1``, is sent as HTTP basic auth when no API key is set and is never recorded).
    ``Authorization: Bearer <key>`` is sent only when the environment variable ``api_key_env`` is set; with
    ``api_key_env`` left None (``OPENAI_API_KEY``), only to ``api.openai.com`` and loopback hosts.
    Each clip's frames are sent as given (the caller samples them per ``sampling``); frames larger than
    ``sampling.max_pixels`` are shrunk to it. ``image_format``: ``jpeg`` (default) or ``png``;
    ``detail``: OpenAI's image ``detail`` (``low`` / ``high`` / ``auto``), omitted when None.

    Retries: HTTP 408/409/429/5xx, timeouts (``timeout_s`` per socket operation), connection errors
    and bodies that are not JSON are retried up to ``max_retries`` times, waiting
    ``min(max_backoff_s, backoff_s * 2**attempt)`` plus up to 10 % jitter, or the server's ``Retry-After``
    (capped at ``max_backoff_s``). ``sleep`` is the waiting function (tests pass a recorder).

    ``meta`` of each result: ``attempts``, ``latency_s`` (of the last attempt), ``status`` (HTTP, when one
    came), and from a success ``usage``, ``finish_reason`` and the server's ``model`` when it sent them.
    """

    def __init__(self, model: str, base_url: str, *, api_key_env: str | None = None,
                 sampling: FrameSampling = FrameSampling(n_frames=16), max_concurrency: int = 4,
                 timeout_s: float = 60.0, max_retries: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 30.0,
                 image_format: str = "jpeg", detail: str | None = None, name: str | None = None,
                 revision: str | None = None,
                 sleep: Callable[[float], None] | None = None):
        if image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be one of {sorted(IMAGE_FORMATS)}, got {image_format!r}")
        if max_concurrency < 1 or max_retries < 0 or not timeout_s > 0 or backoff_s < 0 or max_backoff_s < 0:
            raise ValueError("need max_concurrency >= 1, max_retries >= 0, timeout_s > 0, backoff_s and "
                             "max_backoff_s >= 0")
        self.model = model
        self._endpoint, public_url, self._url_creds = _split_base_url(base_url)
        self.api_key_env = api_key_env or DEFAULT_KEY_ENV
        host = (urllib.parse.urlsplit(public_url).hostname or "").lower()
        self._key_host = host
        self._sends_key = api_key_env is not None or _default_key_goes_to(host)
        self.sampling = sampling
        self.max_concurrency, self.timeout_s = max_concurrency, timeout_s
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        self.image_format, self.detail = image_format, detail
        self._sleep = sleep or (lambda seconds: time.sleep(seconds))  # looked up per call (patchable)
        self._rng = random.Random()
        # a served name says nothing of the weights behind it: ``revision`` (a commit, a quantisation tag)
        # is what tells two servers of one name apart, in the identity and so in the response cache key
        self.info = AnswererInfo(name=name or f"openai:{model}", backend="openai", model=model, revision=revision,
                                 extra={"base_url": public_url, "image_format": image_format, "detail": detail,
                                        "jpeg_qscale": JPEG_QSCALE if image_format == "jpeg" else None})

    def __repr__(self) -> str:
        return f"OpenAICompatAnswerer({self.model!r}, {self.info.extra['base_url']!r})"

    # -- the protocol

    def generate(self, requests: Sequence[tuple[Clip, Chat]], generation: Generation) -> list[AnswerResult]:
        """One ``POST /chat/completions`` per request, ``max_concurrency`` at a time; results in request
        order, failures as results with ``error`` set."""
        if not requests:
            return []
        session = self.session()

        def one(req: tuple[Clip, Chat]) -> AnswerResult:
            clip, chat = req
            text, meta, error = self.post_with_retries(
                lambda: {"model": self.model, "messages": self.messages(clip, chat),
                         "max_tokens": generation.max_new_tokens, "temperature": generation.temperature,
                         "seed": generation.seed}, _parse_completion, session)
            return AnswerResult(error=error, meta=meta) if error else AnswerResult(text=text, meta=meta)

        return self.map_concurrently(one, requests)

    def map_concurrently(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(x) for x in items]`` on up to ``max_concurrency`` threads, in order."""
        workers = max(1, min(self.max_concurrency, len(items)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pjbench-openai") as pool:
            return list(pool.map(fn, items))

    def session(self) -> tuple[dict[str, str], list[str], urllib.request.OpenerDirector]:
        """``(headers, secrets, opener)`` of a batch: the key read from the environment now (sent per the
        class docstring), the strings to redact from errors, an opener that follows no redirect."""
        key = os.environ.get(self.api_key_env) or None
        self._withheld = bool(key) and not self._sends_key
        if self._withheld:
            key = None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif self._url_creds is not None:
            token = base64.b64encode(":".join(self._url_creds).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        secrets = [s for s in (key, *(self._url_creds or ())) if s and len(s) >= 4]
        return headers, secrets, urllib.request.build_opener(_NoRedirect)  # proxies from the environment

    # -- one request

    def messages(self, clip: Clip, chat: Chat) -> list[dict[str, Any]]:
        """The ``messages`` of the request for ``(clip, chat)``: the system message when there is one, then
        one user turn holding an ``image_url`` part per frame and the text (frames first unless
        ``chat.video_after_text``)."""
        frames = [fit_max_pixels(f, self.sampling.max_pixels) for f in clip.frames]
        if self.image_format == "jpeg":
            images = encode_jpeg(frames)
        else:
            images = [encode_png(f) for f in frames]
        mime = IMAGE_FORMATS[self.image_format]
        parts: list[dict[str, Any]] = []
        for data in images:
            image_url: dict[str, Any] = {"url": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"}
            if self.detail is not None:
                image_url["detail"] = self.detail
            parts.append({"type": "image_url", "image_url": image_url})
        text = {"type": "text", "text": chat.user}
        content = [text, *parts] if chat.video_after_text else [*parts, text]
        system = [{"role": "system", "content": chat.system}] if chat.system is not None else []
        return [*system, {"role": "user", "content": content}]

    def post_with_retries(self, make_body: Callable[[], dict[str, Any]],
                          parse: Callable[[Any, int], tuple[Any, dict[str, Any]]],
                          session: tuple[dict[str, str], list[str], urllib.request.OpenerDirector],
                          ) -> tuple[Any, dict[str, Any], str | None]:
        """POST ``make_body()`` to the chat-completions endpoint, retried as the class docstring says;
        ``parse(data, status) -> (value, meta)`` reads a response (raising :class:`FatalResponse` for one that holds
        no answer). Returns ``(value, meta, None)``, or ``(None, meta, error)`` after the last attempt."""
        headers, secrets, opener = session
        try:
            body = json.dumps(make_body()).encode()
        except Exception as e:  # a frame the encoder refuses: this request's error, not the batch's
            return None, {"attempts": 0}, _redact(f"could not encode the request: {type(e).__name__}: {e}", secrets)
        attempt = 0
        while True:
            attempt += 1
            start = time.monotonic()
            try:
                value, meta = parse(*self._attempt(body, headers, opener))
                meta.update(attempts=attempt, latency_s=round(time.monotonic() - start, 6))
                return value, meta, None
            except (_Retry, FatalResponse) as e:
                meta = {"attempts": attempt, "latency_s": round(time.monotonic() - start, 6)}
                if e.status is not None:
                    meta["status"] = e.status
                if isinstance(e, FatalResponse) or attempt > self.max_retries:
                    plural = "attempt" if attempt == 1 else "attempts"
                    return None, meta, _redact(f"{e} (after {attempt} {plural})", secrets)
                self._sleep(self._delay(attempt - 1, e.retry_after))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return min(self.max_backoff_s, retry_after)
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
        return delay + self._rng.uniform(0.0, 0.1 * delay)

    def _attempt(self, body: bytes, headers: dict[str, str],
                 opener: urllib.request.OpenerDirector) -> tuple[Any, int]:
        """One POST: ``(the JSON response, HTTP status)``, or :class:`_Retry` / :class:`FatalResponse` naming what
        went wrong."""
        request = urllib.request.Request(self._endpoint, data=body, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=self.timeout_s) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            try:
                detail = _error_detail(e.read())
            except (OSError, http.client.HTTPException):
                detail = ""
            message = f"HTTP {e.code} {e.reason}" + (f": {detail}" if detail else "")
            if e.code in (401, 403) and getattr(self, "_withheld", False):
                message += (f" ({DEFAULT_KEY_ENV} is set but is sent only to the OpenAI API and loopback hosts, "
                            f"not to {self._key_host}: pass --api-key-env {DEFAULT_KEY_ENV} to send it there)")
            if e.code in RETRIED_STATUSES:
                raise _Retry(message, _retry_after(e.headers.get("Retry-After")), e.code) from None
            raise FatalResponse(message, e.code) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise _Retry(f"timed out after {self.timeout_s:g} s (no response)") from None
            raise _Retry(f"connection error: {_exc(reason) if isinstance(reason, BaseException) else reason}") from None
        except (socket.timeout, TimeoutError):
            raise _Retry(f"timed out after {self.timeout_s:g} s (no response)") from None
        except (OSError, http.client.HTTPException) as e:  # refused / reset / dropped mid-response
            raise _Retry(f"connection error: {_exc(e)}") from None
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Retry(f"HTTP {status} with a body that is not JSON ({len(raw)} bytes)", status=status) from None
        return data, status


def _parse_completion(data: Any, status: int) -> tuple[str, dict[str, Any]]:
    """The text and meta of a chat-completions response, or :class:`FatalResponse` when it holds no text."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        detail = _error_detail(json.dumps(data).encode()) if isinstance(data, dict) and "error" in data else ""
        raise FatalResponse("response has no choices" + (f": {detail}" if detail else ""), status)
    choice = choices[0]
    message = choice.get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        content = "".join(t for t in texts if isinstance(t, str))
    if not isinstance(content, str):
        refusal = message.get("refusal") if isinstance(message, dict) else None
        why = f"refusal: {refusal}" if refusal else f"finish_reason {choice.get('finish_reason')!r}"
        raise FatalResponse(f"response has no text content ({why})", status)
    meta: dict[str, Any] = {"status": status}
    for key, value in (("finish_reason", choice.get("finish_reason")), ("usage", data.get("usage")),
                       ("model", data.get("model"))):
        if value is not None:
            meta[key] = value
    return content, meta


def _error_detail(raw: bytes, limit: int = 200) -> str:
    """A server's error body as one short line: ``error.message`` of a JSON error, else the text."""
    text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
        err = data.get("error", data) if isinstance(data, dict) else data
        text = err.get("message", json.dumps(err)) if isinstance(err, dict) else str(err)
    except (json.JSONDecodeError, ValueError):
        pass
    text = " ".join(_BASE64_RUN.sub("<base64>", _DATA_URL.sub("<data url>", str(text))).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _exc(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _redact(message: str, secrets: list[str]) -> str:
    """One line, without the secrets (the API key, the URL's password: those of 4+ characters) or any
    base64 payload."""
    for s in sorted(secrets, key=len, reverse=True):
        message = message.replace(s, "***")
    message = _BASE64_RUN.sub("<base64>", _DATA_URL.sub("<data url>", message))
    return " ".join(message.split())
