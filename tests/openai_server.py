"""A small OpenAI-compatible chat server on loopback for tests: checks requests, answers like vLLM.

`FakeOpenAIServer` runs `http.server` in a thread on 127.0.0.1 (port chosen by the OS). Each POST to
/v1/chat/completions is decoded and recorded (`requests`, with every image's decoded size); the
reply comes from the queued `Scripted` responses, or from `answer(request) -> text` once the queue
is empty; an `answer` that raises ValueError makes a 400 with its message. Not for: anything but tests.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


@dataclass
class Scripted:
    status: int = 200
    body: str | None = None  # None: a chat completion from `answer`
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Recorded:
    payload: dict[str, Any]
    headers: dict[str, str]
    image_sizes: list[tuple[int, int]]

    @property
    def system(self) -> str:
        first = self.payload["messages"][0]
        return first["content"] if first["role"] == "system" else ""


def completion(text: str, prompt_tokens: int = 1300, completion_tokens: int = 24) -> dict[str, Any]:
    """A chat completion as vLLM returns one."""
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": "test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "tool_calls": []},
                     "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens + completion_tokens,
                  "completion_tokens": completion_tokens},
    }


class FakeOpenAIServer:
    def __init__(self, answer: Callable[[Recorded], str]) -> None:
        self.answer = answer
        self.queue: list[Scripted] = []
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def respond(self, raw: bytes, headers: dict[str, str]) -> Scripted:
        payload = json.loads(raw)
        recorded = Recorded(payload, headers, _image_sizes(payload))
        with self._lock:
            self.requests.append(recorded)
            scripted = self.queue.pop(0) if self.queue else Scripted()
        if scripted.body is None:
            try:
                scripted = Scripted(200, json.dumps(completion(self.answer(recorded))))
            except ValueError as exc:  # the answer function refused the request, as a strict server would
                scripted = Scripted(400, json.dumps({"object": "error", "message": str(exc)}))
        return scripted


def _image_sizes(payload: dict[str, Any]) -> list[tuple[int, int]]:
    sizes = []
    for message in payload.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "image_url":
                url = part["image_url"]["url"]
                assert url.startswith("data:image/png;base64,"), url[:40]
                sizes.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size)
    return sizes


def _handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/v1/chat/completions":
                self._send(Scripted(404, '{"error": "not found"}'))
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._send(server.respond(raw, {k.lower(): v for k, v in self.headers.items()}))

        def _send(self, scripted: Scripted) -> None:
            time.sleep(scripted.delay_s)
            body = (scripted.body or "").encode("utf-8")
            try:
                self.send_response(scripted.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in scripted.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

        def log_message(self, *args: object) -> None:
            pass

    return Handler
