"""A `ChatBackend` for any OpenAI-compatible /v1/chat/completions server (vLLM, SGLang, LM Studio).

Standard library only (urllib; numpy for the PNG rows). Images go as PNG data URLs of the
already-resized W′×H′ image, so the server's own resize is the identity; the PNG is deflated in
stripes on a few threads (`png`), lossless, decoded by the server to exactly the screenshot's pixels.
The system prompt goes as one string, so the server's chat template sees it byte for byte.
Transport errors, 5xx and 429 are retried with exponential backoff (honouring Retry-After); any
other HTTP error raises `BackendError` at once with the status and an excerpt of the body. The server
is a peer like any other: a reply must arrive whole within `timeout_s` (one trickled a byte at a time
is cut off), is read up to `MAX_REPLY_BYTES` (an error body up to an excerpt), and a reply of the
wrong shape (a message that is not an object, token counts that are not numbers) is a one-line
`BackendError`, never a traceback. Proxies
from the environment are not used (a local server must not be sent through a corporate proxy), and
no environment variable is read here: the API key comes in.
The server's reported prompt tokens are compared with the vision tokens the images cost as sent: fewer
than the images alone, or more than the images plus every byte of text, means the server resized
them (its own pixel budget), so every click would drift — `ServerRescaled`, one line naming the
server setting to change.
Not for: constrained decoding (an in-process transformers option; ignored here) or the prompt.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from policies.qwen.backends.png import png_bytes
from policies.qwen.errors import BackendError, GenerationInterrupted
from policies.qwen.messages import ImagePart, Message, ModelReply, ModelRequest, TextPart, expected_vision_tokens

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
EXCERPT = 300
MAX_REPLY_BYTES = 16 << 20  # a chat completion of a few thousand tokens is a few KiB
_TRANSPORT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError)


@dataclass(frozen=True)
class OpenAIOptions:
    base_url: str
    model: str
    api_key: str | None = None
    temperature: float | None = 0.1
    top_p: float | None = 0.001
    top_k: int | None = 1  # vLLM/SGLang extension; None leaves it out
    repetition_penalty: float | None = 1.05  # vLLM/SGLang extension; None leaves it out
    timeout_s: float = 120.0
    retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0


class ServerRescaled(BackendError):
    """The server resized the images itself (its pixel budget differs from ours); one line."""


def check_vision_tokens(request: ModelRequest, prompt_tokens: int | None) -> None:
    """Raise ServerRescaled when `prompt_tokens` cannot hold the images at the size they were sent."""
    images = [p.image for m in request.messages for p in m.parts if isinstance(p, ImagePart)]
    if prompt_tokens is None or not images:
        return
    vision = expected_vision_tokens(request)
    text = sum(len(p.text.encode("utf-8")) for m in request.messages for p in m.parts if isinstance(p, TextPart))
    ceiling = vision + text + 32 * (len(request.messages) + 1) + 4 * len(images)  # markup tokens per turn/image
    if vision <= prompt_tokens <= ceiling:
        return
    largest = max(image.width * image.height for image in images)
    way = "fewer" if prompt_tokens < vision else "more"
    raise ServerRescaled(
        f"the server reports {prompt_tokens} prompt tokens, {way} than the {vision} vision tokens of the images as "
        f"sent: it resized them with its own pixel budget, so clicks would land in the wrong place; start it with "
        f"a budget of at least these images (vLLM: --mm-processor-kwargs '{{\"max_pixels\": {largest}}}', "
        f"SGLang the same), or set model.max_pixels to the server's")


class OpenAIBackend:
    name = "openai"

    def __init__(self, options: OpenAIOptions, sleep: Callable[[float], None] = time.sleep) -> None:
        self.options = options
        self.url = options.base_url.rstrip("/") + "/chat/completions"
        self._sleep = sleep
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._pool: ThreadPoolExecutor | None = None  # PNG stripes, made at the first image

    def complete(self, request: ModelRequest) -> ModelReply:
        started = time.perf_counter()
        body = json.dumps(self.payload(request), ensure_ascii=False).encode("utf-8")
        encode_ms = (time.perf_counter() - started) * 1000
        data, attempts = _unless_stopped(lambda: self._post(body, request.stop), request.stop)
        total_ms = (time.perf_counter() - started) * 1000
        reply = _reply(data, self.url)
        check_vision_tokens(request, reply["prompt_tokens"])
        timings = {"encode": round(encode_ms, 2), "request": round(total_ms - encode_ms, 2)}
        return ModelReply(
            text=reply["text"],
            prompt_tokens=reply["prompt_tokens"],
            completion_tokens=reply["completion_tokens"],
            vision_tokens=expected_vision_tokens(request),
            timings_ms=timings,
            extra={"finish_reason": reply["finish_reason"], "attempts": attempts},
        )

    def payload(self, request: ModelRequest) -> dict[str, Any]:
        o = self.options
        payload: dict[str, Any] = {
            "model": o.model,
            "messages": [_message(m, self._png_pool) for m in request.messages],
            "max_tokens": request.max_new_tokens,
            "stream": False,
        }
        extras = {"temperature": o.temperature, "top_p": o.top_p, "top_k": o.top_k,
                  "repetition_penalty": o.repetition_penalty}
        payload.update({k: v for k, v in extras.items() if v is not None})
        return payload

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def _png_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1),
                                            thread_name_prefix="png")
        return self._pool

    def _post(self, body: bytes, stop: Any = None) -> tuple[Any, int]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.options.api_key:
            headers["Authorization"] = f"Bearer {self.options.api_key}"
        attempts = max(self.options.retries, 0) + 1
        for attempt in range(1, attempts + 1):
            req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            deadline = time.monotonic() + self.options.timeout_s
            try:
                with self._opener.open(req, timeout=self.options.timeout_s) as resp:
                    return _json(_read(resp, deadline, self.options.timeout_s, self.url), self.url), attempt
            except urllib.error.HTTPError as exc:
                excerpt = _excerpt(_head(exc) if exc.fp is not None else b"")
                if exc.code not in RETRY_STATUS:
                    raise BackendError(f"POST {self.url}: HTTP {exc.code}: {excerpt}") from None
                failure, retry_after = f"HTTP {exc.code}: {excerpt}", _retry_after(exc.headers)
            except _TRANSPORT as exc:
                failure, retry_after = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}", None
            if attempt < attempts:
                delay = self._delay(attempt, retry_after)
                if stop is None:
                    self._sleep(delay)
                elif stop.wait(delay):
                    break  # stopped while backing off: the caller raises GenerationInterrupted
        raise BackendError(f"POST {self.url}: {failure} (gave up after {attempts} attempts)")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = self.options.backoff_s * 2 ** (attempt - 1)
        wanted = retry_after if retry_after is not None else backoff
        return max(0.0, min(wanted, self.options.max_backoff_s))


def _unless_stopped(call: Callable[[], Any], stop: Any, poll_s: float = 0.01) -> Any:
    """`call()`, or GenerationInterrupted within `poll_s` of `stop` being set (the request is abandoned:
    its thread ends with the HTTP exchange, and its answer is dropped)."""
    if stop is None:
        return call()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name="deskpilot-openai-request", daemon=True)
    worker.start()
    while worker.is_alive():
        if stop.is_set():
            raise GenerationInterrupted("the model request was stopped by the user")
        worker.join(poll_s)
    if stop.is_set():
        raise GenerationInterrupted("the model request was stopped by the user")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _message(message: Message, pool: Callable[[], ThreadPoolExecutor] | None = None) -> dict[str, Any]:
    texts = [p.text for p in message.parts if isinstance(p, TextPart)]
    if len(texts) == len(message.parts):  # text only: one string, exactly as built
        return {"role": message.role, "content": "".join(texts)}
    content = [
        {"type": "text", "text": p.text} if isinstance(p, TextPart) else
        {"type": "image_url", "image_url": {"url": png_data_url(p, pool() if pool else None)}}
        for p in message.parts
    ]
    return {"role": message.role, "content": content}


def png_data_url(part: ImagePart, pool: ThreadPoolExecutor | None = None) -> str:
    """The image as a base64 PNG data URL (lossless; stripes deflated on `pool` where given)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(part.image, pool)).decode("ascii")


def _read(resp: Any, deadline: float, timeout_s: float, url: str) -> bytes:
    """The reply's body, whole within the deadline and at most MAX_REPLY_BYTES."""
    chunks, total = [], 0
    while chunk := resp.read1(65536):
        total += len(chunk)
        if total > MAX_REPLY_BYTES:
            raise BackendError(f"POST {url}: the reply is larger than {MAX_REPLY_BYTES >> 20} MiB; not a chat "
                               "completion")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the reply did not arrive whole within {timeout_s:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _head(error: urllib.error.HTTPError) -> bytes:
    """Enough of an error reply's body for its excerpt."""
    try:
        return error.read(4 * EXCERPT)
    except (OSError, http.client.HTTPException):
        return b""


def _reply(data: Any, url: str) -> dict[str, Any]:
    """Text, usage and finish reason from a chat completion (content, or tool_calls put back as text)."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError("the message is not an object")
    except (KeyError, IndexError, TypeError):
        raise BackendError(f"POST {url}: not a chat completion: {_excerpt(json.dumps(data)[:EXCERPT])}") from None
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    if content is not None and not isinstance(content, str):
        raise BackendError(f"POST {url}: not a chat completion: the message's content is a {type(content).__name__}")
    text = content or ""
    calls = message.get("tool_calls") or []
    for call in calls if isinstance(calls, list) else []:  # servers started with a tool parser move calls here
        fn = call.get("function") if isinstance(call, dict) else None
        fn = fn if isinstance(fn, dict) else {}
        args = fn.get("arguments", "{}")
        args = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        text += f'\n<tool_call>\n{{"name": {json.dumps(fn.get("name"))}, "arguments": {args}}}\n</tool_call>'
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    reason = choice.get("finish_reason") if isinstance(choice, dict) else None
    return {"text": text, "prompt_tokens": _count(usage.get("prompt_tokens")),
            "completion_tokens": _count(usage.get("completion_tokens")),
            "finish_reason": reason if isinstance(reason, str) else None}


def _count(value: Any) -> int | None:
    """A token count as the server gave it, or None when it is not a count (the check needing it is skipped)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _json(raw: bytes, url: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise BackendError(f"POST {url}: the response is not JSON: {_excerpt(raw)}") from None
    except RecursionError:
        raise BackendError(f"POST {url}: the response is JSON nested too deeply to read") from None


def _retry_after(headers: Any) -> float | None:
    try:
        return float(headers.get("Retry-After")) if headers is not None and headers.get("Retry-After") else None
    except (TypeError, ValueError):
        return None


def _excerpt(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return (text[:EXCERPT] + "…") if len(text) > EXCERPT else (text or "(empty body)")
