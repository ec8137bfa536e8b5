"""The OpenAI-compatible backend against a server that misbehaves: a reply trickled a byte at a time
is cut off at `timeout_s`, an endless or huge reply at MAX_REPLY_BYTES, and replies of the wrong shape
are one-line BackendErrors (or, for token counts that are not numbers, left out), never a traceback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from openai_server import FakeOpenAIServer, Scripted, completion

from policies.qwen.backends import openai_backend
from policies.qwen.backends.openai_backend import OpenAIBackend, OpenAIOptions
from policies.qwen.errors import BackendError
from policies.qwen.messages import Message, ModelRequest, TextPart

TEXT = ModelRequest(messages=(Message("user", (TextPart("hi"),)),), max_new_tokens=8)


class RawServer:
    """Answers every connection with `head` and then `body()`'s chunks, `gap_s` apart."""

    def __init__(self, head: bytes, body: Iterator[bytes] | None = None, gap_s: float = 0.0) -> None:
        self.head, self.body, self.gap_s = head, body, gap_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(1 << 20)
                conn.sendall(self.head)
                for chunk in self.body or ():
                    conn.sendall(chunk)
                    time.sleep(self.gap_s)
            except OSError:
                pass

    def backend(self, **options: object) -> OpenAIBackend:
        opts = OpenAIOptions(base_url=f"http://127.0.0.1:{self.port}/v1", model="m", retries=0, **options)  # type: ignore[arg-type]
        return OpenAIBackend(opts)

    def close(self) -> None:
        self.listener.close()


def test_a_reply_trickled_a_byte_at_a_time_is_cut_off_at_the_timeout() -> None:
    body = json.dumps(completion("hello")).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    server = RawServer(head, (body[i:i + 1] for i in range(len(body))), gap_s=0.05)  # ~15 s for the whole reply
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"did not arrive whole within 0\.5 s"):
        server.backend(timeout_s=0.5).complete(TEXT)
    assert time.monotonic() - started < 2.0
    server.close()


def test_an_endless_reply_stops_at_the_size_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_backend, "MAX_REPLY_BYTES", 1 << 20)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    server = RawServer(head, iter(lambda: chunk, None))  # never ends
    with pytest.raises(BackendError, match="the reply is larger than 1 MiB"):
        server.backend(timeout_s=10).complete(TEXT)
    server.close()


def test_an_error_reply_is_read_only_as_far_as_its_excerpt() -> None:
    head = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    server = RawServer(head, iter(lambda: chunk, None))  # an endless error body
    with pytest.raises(BackendError, match=r"HTTP 400: x{300}…"):
        server.backend(timeout_s=10).complete(TEXT)
    server.close()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(lambda request: "unused") as srv:
        yield srv


@pytest.mark.parametrize(("reply", "fragment"), [
    ({"choices": [{"message": "hello"}]}, "not a chat completion"),
    ({"choices": ["hello"]}, "not a chat completion"),
    ({"choices": {"0": {}}}, "not a chat completion"),
    ({"choices": [{"message": {"content": 5}}]}, "the message's content is a int"),
    ({"choices": [{"message": {"content": {"text": "x"}}}]}, "the message's content is a dict"),
    ([1, 2], "not a chat completion"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_replies_of_the_wrong_shape_are_one_line_errors(server: FakeOpenAIServer, reply: object, fragment: str) -> None:
    server.queue = [Scripted(200, reply if isinstance(reply, str) else json.dumps(reply))]
    backend = OpenAIBackend(OpenAIOptions(base_url=server.base_url, model="m", retries=0))
    with pytest.raises(BackendError, match=fragment) as raised:
        backend.complete(TEXT)
    assert "\n" not in str(raised.value)


def test_odd_but_usable_fields_are_read_as_far_as_they_go(server: FakeOpenAIServer) -> None:
    reply = completion("hello")
    reply["usage"] = {"prompt_tokens": "many", "completion_tokens": True}
    reply["choices"][0]["message"]["tool_calls"] = "none"
    reply["choices"][0]["message"]["content"] = [{"type": "text", "text": "hel"}, {"text": 5}, "x", {"text": "lo"}]
    reply["choices"][0]["finish_reason"] = {"why": "stop"}
    server.queue = [Scripted(200, json.dumps(reply))]
    answer = OpenAIBackend(OpenAIOptions(base_url=server.base_url, model="m", retries=0)).complete(TEXT)
    assert answer.text == "hello" and answer.prompt_tokens is None and answer.completion_tokens is None
    assert answer.extra["finish_reason"] is None
