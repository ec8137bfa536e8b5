"""The OpenAI-compatible backend against a real HTTP server on loopback that checks what it is sent."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from openai_server import FakeOpenAIServer, Recorded, Scripted

from actions.fake import FakeComputer
from actions.geometry import Monitor
from actions.schema import LeftClick
from agent.config import load_settings
from agent.run.policy_factory import build_backend, build_policy
from policies.qwen.backends.openai_backend import OpenAIBackend, OpenAIOptions
from policies.qwen.errors import BackendError
from policies.qwen.messages import Message, ModelRequest, TextPart
from policies.qwen.policy import QwenOptions, QwenPolicy

MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
CLICK = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [658, 364]}}\n' \
        "</tool_call>"


def vllm_like(request: Recorded) -> str:
    """Answer as the model would, after checking the request (ValueError → the server answers 400)."""
    problems = []
    if request.payload.get("model") != MODEL:
        problems.append(f"unknown model {request.payload.get('model')!r}")
    if request.image_sizes:  # a step: the screenshot is already W′×H′ and the tool says so
        if request.image_sizes != [(1316, 728)]:
            problems.append(f"image sizes {request.image_sizes}, expected [(1316, 728)]")
        if not request.system.startswith("You are a helpful assistant.\n\n# Tools\n"):
            problems.append("no tool prompt")
        if "The screen's resolution is 1316x728." not in request.system:
            problems.append("the tool does not state 1316x728")
    if problems:
        raise ValueError("; ".join(problems))
    return "I will press OK.\n" + CLICK


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(vllm_like) as srv:
        yield srv


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def backend(server: FakeOpenAIServer, sleeps: Sleeps | None = None, **options: object) -> OpenAIBackend:
    opts = OpenAIOptions(base_url=server.base_url, model=MODEL, **options)  # type: ignore[arg-type]
    return OpenAIBackend(opts, sleep=sleeps if sleeps is not None else Sleeps())


def shot_1080p() -> object:
    return FakeComputer(monitor=Monitor(0, 0, 1920, 1080)).screenshot()


def test_a_step_through_the_server_clicks_in_screen_coordinates(server: FakeOpenAIServer) -> None:
    policy = QwenPolicy(backend(server, api_key="sk-test"), QwenOptions(max_new_tokens=64))
    decision = policy.decide("Press OK", shot_1080p(), [])
    assert decision.error is None and decision.action == LeftClick(coordinate=(960, 540))
    assert decision.raw_text.endswith(CLICK)
    assert decision.meta["model_action"] == {"action": "left_click", "coordinate": [658, 364]}
    assert decision.meta["screen"] == [1920, 1080] and decision.meta["model"] == [1316, 728]
    assert decision.meta["vision_tokens"] == 1222
    assert decision.meta["tokens"] == {"prompt": 1300, "completion": 24, "vision": 1222}
    assert decision.meta["finish_reason"] == "stop" and "request" in decision.meta["timings_ms"]
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-test"
    p = request.payload
    assert p["max_tokens"] == 64 and p["temperature"] == 0.1 and p["top_p"] == 0.001
    assert p["top_k"] == 1 and p["repetition_penalty"] == 1.05 and p["stream"] is False
    assert isinstance(p["messages"][0]["content"], str)  # the system prompt, byte for byte
    user = p["messages"][1]["content"]
    assert [part["type"] for part in user] == ["image_url", "text"] and user[1]["text"] == "The user query: Press OK"


def test_no_key_no_authorization_header_and_unset_extensions_left_out(server: FakeOpenAIServer) -> None:
    b = backend(server, top_k=None, repetition_penalty=None)
    QwenPolicy(b).decide("Press OK", shot_1080p(), [])
    (request,) = server.requests
    assert "authorization" not in request.headers
    assert "top_k" not in request.payload and "repetition_penalty" not in request.payload


def test_503_then_200_is_retried_with_backoff(server: FakeOpenAIServer) -> None:
    server.queue = [Scripted(503, '{"error": "loading"}'), Scripted(502, "bad gateway")]
    sleeps = Sleeps()
    policy = QwenPolicy(backend(server, sleeps, backoff_s=0.25))
    decision = policy.decide("Press OK", shot_1080p(), [])
    assert decision.action == LeftClick(coordinate=(960, 540))
    assert len(server.requests) == 3 and sleeps == [0.25, 0.5]


def test_429_honours_retry_after_within_the_cap(server: FakeOpenAIServer) -> None:
    server.queue = [Scripted(429, "slow down", {"Retry-After": "3"}), Scripted(429, "", {"Retry-After": "99"})]
    sleeps = Sleeps()
    backend(server, sleeps, max_backoff_s=8.0).complete(_text_request())
    assert sleeps == [3.0, 8.0]


def test_400_raises_at_once_with_status_and_body_excerpt(server: FakeOpenAIServer) -> None:
    body = json.dumps({"object": "error", "message": "This model's maximum context length is 32768 tokens.\n" * 20})
    server.queue = [Scripted(400, body)]
    with pytest.raises(BackendError) as info:
        QwenPolicy(backend(server)).decide("Press OK", shot_1080p(), [])
    message = str(info.value)
    assert "HTTP 400" in message and "maximum context length" in message and server.base_url in message
    assert "\n" not in message and len(message) < 500
    assert len(server.requests) == 1  # a client error is not retried


def test_server_errors_give_up_after_the_retries(server: FakeOpenAIServer) -> None:
    server.queue = [Scripted(500, "boom")] * 3
    with pytest.raises(BackendError, match=r"HTTP 500: boom \(gave up after 3 attempts\)"):
        backend(server, retries=2).complete(_text_request())
    assert len(server.requests) == 3


def test_unreachable_server_is_a_transport_error_retried_then_raised() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    b = OpenAIBackend(OpenAIOptions(base_url=f"http://127.0.0.1:{port}/v1", model=MODEL, retries=2), sleep=sleeps)
    with pytest.raises(BackendError, match="gave up after 3 attempts") as info:
        b.complete(_text_request())
    assert "refused" in str(info.value).lower() and len(sleeps) == 2


def test_timeouts_are_transport_errors(server: FakeOpenAIServer) -> None:
    server.queue = [Scripted(200, json.dumps({"choices": []}), delay_s=1.0)]
    with pytest.raises(BackendError, match=r"(?i)timed? ?out"):
        backend(server, timeout_s=0.2, retries=0).complete(_text_request())


@pytest.mark.parametrize(("body", "fragment"), [("not json", "not JSON"), ('{"choices": []}', "not a chat completion")])
def test_malformed_responses_raise(server: FakeOpenAIServer, body: str, fragment: str) -> None:
    server.queue = [Scripted(200, body)]
    with pytest.raises(BackendError, match=fragment):
        backend(server).complete(_text_request())


def test_tool_calls_moved_out_by_a_server_tool_parser_are_put_back(server: FakeOpenAIServer) -> None:
    reply = {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
        {"type": "function", "function": {"name": "computer_use",
                                          "arguments": '{"action": "left_click", "coordinate": [658, 364]}'}}]},
        "finish_reason": "tool_calls"}]}
    server.queue = [Scripted(200, json.dumps(reply))]
    decision = QwenPolicy(backend(server)).decide("Press OK", shot_1080p(), [])
    assert decision.action == LeftClick(coordinate=(960, 540))


def test_text_only_messages_are_sent_as_strings(server: FakeOpenAIServer) -> None:
    request = ModelRequest((Message("system", (TextPart("a"), TextPart("b"))), Message("user", (TextPart("hi"),)),
                            Message("assistant", (TextPart(CLICK),))))
    payload = backend(server).payload(request)
    assert payload["messages"] == [{"role": "system", "content": "ab"}, {"role": "user", "content": "hi"},
                                   {"role": "assistant", "content": CLICK}]


def test_factory_reads_the_key_from_the_variable_named_in_config(server: FakeOpenAIServer) -> None:
    settings = load_settings(None, {"model.backend": "openai", "model.base_url": server.base_url,
                                    "model.api_key_env": "DESKPILOT_TEST_KEY", "model.retries": 0,
                                    "model.max_pixels": 401_408})
    b = build_backend(settings, env={"DESKPILOT_TEST_KEY": "sk-from-env"})
    assert isinstance(b, OpenAIBackend) and b.options.api_key == "sk-from-env" and b.options.retries == 0
    assert build_backend(settings, env={}).options.api_key is None
    policy = build_policy(settings, b)
    assert policy.options.max_pixels == 401_408


def _text_request() -> ModelRequest:
    return ModelRequest((Message("user", (TextPart("hello"),)),), max_new_tokens=8)


def test_the_server_really_checks_the_image_size(server: FakeOpenAIServer) -> None:
    policy = QwenPolicy(backend(server), QwenOptions(max_pixels=401_408))  # not what the server expects
    with pytest.raises(BackendError, match=r"HTTP 400: .*image sizes \[\(840, 448\)\]"):
        policy.decide("Press OK", shot_1080p(), [])


def test_a_stop_flag_abandons_a_slow_request_within_50_ms(server: FakeOpenAIServer) -> None:
    import threading
    import time

    from openai_server import completion

    from policies.qwen.errors import GenerationInterrupted

    server.queue = [Scripted(200, json.dumps(completion(CLICK)), delay_s=2.0)]
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    request = ModelRequest(_text_request().messages, stop=stop)
    started = time.perf_counter()
    with pytest.raises(GenerationInterrupted):
        backend(server).complete(request)
    assert time.perf_counter() - started < 0.2 + 0.05


def test_a_stop_flag_ends_the_backoff_between_retries(server: FakeOpenAIServer) -> None:
    import threading
    import time

    from policies.qwen.errors import GenerationInterrupted

    server.queue = [Scripted(503, "busy"), Scripted(503, "busy"), Scripted(503, "busy")]
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.perf_counter()
    with pytest.raises(GenerationInterrupted):
        backend(server, backoff_s=5.0, retries=2).complete(ModelRequest(_text_request().messages, stop=stop))
    assert time.perf_counter() - started < 1.0


def test_the_policy_hands_its_interrupt_event_to_the_backend() -> None:
    import threading

    from policies.qwen.messages import ModelReply

    class Recording:
        name = "recording"

        def __init__(self) -> None:
            self.requests: list[ModelRequest] = []

        def complete(self, request: ModelRequest) -> ModelReply:
            self.requests.append(request)
            return ModelReply(CLICK)

        def close(self) -> None:
            pass

    recording = Recording()
    policy = QwenPolicy(recording, QwenOptions())
    policy.interrupt_event = threading.Event()
    policy.decide("press OK", shot_1080p(), [])
    assert recording.requests[0].stop is policy.interrupt_event
