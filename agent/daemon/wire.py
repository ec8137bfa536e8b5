"""The daemon's wire protocol: newline-delimited JSON objects, validated into frozen typed values.

A connection carries one request (its first line). `status`, `queue`, `cancel` and `resume` get
one reply and the daemon closes the connection. `submit` turns the connection into a session: the
daemon streams events for that task (`queued`, `started`, `step`, `confirm_request`, `notice`,
`heartbeat`, `end`) and the client may send `confirm` answers, or `cancel` for its task; the daemon
closes after `end`. A
client that closes a session before `end` cancels its task (unless it asked for `detach`); one that
only half-closes (shuts down its sending side) keeps it. Every message is a
JSON object with a `type`, at most `daemon.max_message_bytes` long; unknown types and unknown
fields are rejected.
Over TCP the first line is `AUTH <token>` (`auth_line`), checked before any JSON is read.
Anything unusable gets an `error` reply; it never reaches code behind this edge.
Not for: sockets, checking peers or running tasks (`agent.daemon.server`, `agent.daemon.worker`).
"""

from __future__ import annotations

import hmac
import socket
import time
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from actions.errors import DeskpilotError

VERSION = 1
TASK_ID = r"^[0-9a-f]{8}$"
ErrorCode = Literal["bad_request", "too_large", "unauthorized", "forbidden", "not_found", "busy", "bad_task",
                    "shutdown", "timeout", "internal"]
TaskState = Literal["queued", "running", "finished", "interrupted"]


class ProtocolError(DeskpilotError, ValueError):
    """A message that cannot be used; `code` goes into the error reply."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Options(_Request):
    dry_run: bool | None = None
    max_steps: int | None = Field(None, ge=1, le=10_000)
    trace_dir: str | None = Field(None, min_length=1, max_length=4096)
    detach: bool = False  # keep the task when this client goes away (no one to confirm: denied)
    verify: bool | None = None  # a trace replay: compare the screen before each step (None: config)
    reground: bool | None = None  # a trace replay: let the model find targets that moved (None: config)


class Submit(_Request):
    type: Literal["submit"]
    kind: Literal["run", "replay"]
    task: str | None = Field(None, min_length=1, max_length=20_000)  # run: what to do
    path: str | None = Field(None, min_length=1, max_length=4096)  # replay: absolute script/trace path
    vars: dict[str, str] = Field(default_factory=dict, max_length=256)  # replay of a script: {{vars}}
    options: Options = Options()

    @model_validator(mode="after")
    def _fits_kind(self) -> Submit:
        if self.kind == "run" and (self.task is None or self.path is not None or self.vars):
            raise ValueError("a run needs `task` (and takes no `path` or `vars`)")
        if self.kind == "replay" and (self.path is None or self.task is not None):
            raise ValueError("a replay needs `path` (and takes no `task`)")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError("`path` must be absolute (the daemon has its own working directory)")
        return self

    def summary(self) -> str:
        return (self.task or self.path or "")[:200]


class StatusRequest(_Request):
    type: Literal["status"]


class QueueRequest(_Request):
    type: Literal["queue"]


class CancelRequest(_Request):
    type: Literal["cancel"]
    id: str | None = Field(None, pattern=TASK_ID)  # none: the running task


class ResumeRequest(_Request):
    """Resume a task paused because a person took over (like its resume hotkey)."""

    type: Literal["resume"]
    id: str | None = Field(None, pattern=TASK_ID)  # none: the running task


class ConfirmAnswer(_Request):
    """Sent by a client inside its submit session, answering `confirm_request` number `question`."""

    type: Literal["confirm"]
    question: int = Field(ge=1)
    approve: bool


Request = Annotated[Union[Submit, StatusRequest, QueueRequest, CancelRequest, ResumeRequest],
                    Field(discriminator="type")]


class _Reply(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorReply(_Reply):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    id: str | None = None


class Queued(_Reply):
    type: Literal["queued"] = "queued"
    id: str
    position: int  # tasks ahead of this one, the running one included (0: it starts now)


class Started(_Reply):
    type: Literal["started"] = "started"
    id: str
    trace_dir: str


class StepEvent(_Reply):
    type: Literal["step"] = "step"
    id: str
    index: int
    action: dict[str, Any] | None
    verdict: dict[str, str] | None
    outcome: dict[str, str]
    timings_ms: dict[str, float]
    error: str | None = None
    line: dict[str, Any] | None = None  # the step as the trace records it (agent.traces.lines.StepLine)


class ConfirmRequest(_Reply):
    type: Literal["confirm_request"] = "confirm_request"
    id: str
    question: int
    action: dict[str, Any]
    rule: str
    reason: str
    timeout_s: float
    preview: str | None = None


class Notice(_Reply):
    """Something the person at the client should know now: the run paused, resumed, a listener is missing."""

    type: Literal["notice"] = "notice"
    id: str
    event: str
    message: str


class Heartbeat(_Reply):
    """Sent on a task's connection every `daemon.heartbeat_s`: the daemon is alive (and, over TCP,
    a client that has gone is found out when this cannot be delivered)."""

    type: Literal["heartbeat"] = "heartbeat"
    id: str


class End(_Reply):
    type: Literal["end"] = "end"
    id: str
    status: str
    reason: str
    steps: int
    answer: str | None = None
    trace_dir: str | None = None
    exit_code: int


class TaskInfo(_Reply):
    id: str
    kind: Literal["run", "replay"]
    state: TaskState
    summary: str
    position: int | None = None
    status: str | None = None
    reason: str | None = None
    trace_dir: str | None = None
    exit_code: int | None = None
    submitted_at: float
    started_at: float | None = None
    finished_at: float | None = None


class StatusReply(_Reply):
    type: Literal["status"] = "status"
    version: int = VERSION
    pid: int
    policy: str  # "loaded", "not loaded", or why it could not be
    running: TaskInfo | None
    queued: int
    worker: str = "ok"  # "ok", or what went wrong last in the worker (it goes on)


class QueueReply(_Reply):
    type: Literal["queue"] = "queue"
    tasks: list[TaskInfo]  # running, then queued in order, then the most recent finished ones


class CancelReply(_Reply):
    type: Literal["cancelled"] = "cancelled"
    id: str
    was: Literal["queued", "running"]


class ResumeReply(_Reply):
    type: Literal["resumed"] = "resumed"
    id: str
    was: Literal["paused", "running"]  # running: it was not paused, nothing changed


Reply = Annotated[
    Union[ErrorReply, Queued, Started, StepEvent, ConfirmRequest, Notice, Heartbeat, End, StatusReply, QueueReply,
          CancelReply, ResumeReply],
    Field(discriminator="type"),
]
_REQUEST: TypeAdapter[Any] = TypeAdapter(Request)
_ANSWER: TypeAdapter[Any] = TypeAdapter(Annotated[Union[ConfirmAnswer, CancelRequest], Field(discriminator="type")])
_REPLY: TypeAdapter[Any] = TypeAdapter(Reply)


def decode_request(line: bytes) -> Submit | StatusRequest | QueueRequest | CancelRequest | ResumeRequest:
    return _decode(_REQUEST, line)


def decode_answer(line: bytes) -> ConfirmAnswer | CancelRequest:
    """What a client may send inside its submit session: a confirm answer, or `cancel` (of its own task)."""
    return _decode(_ANSWER, line)


def decode_reply(line: bytes) -> Any:
    """One daemon message → its typed value (one of the `Reply` union)."""
    return _decode(_REPLY, line)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json().encode("utf-8") + b"\n"


def _decode(adapter: TypeAdapter[Any], line: bytes) -> Any:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("bad_request", "a message must be UTF-8 JSON") from None
    try:
        return adapter.validate_json(text)
    except ValidationError as exc:
        raise ProtocolError("bad_request", _first_error(exc)) from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in err["loc"])
    message = f"{where}: {err['msg']}" if where else str(err["msg"])
    return " ".join(message.split())[:300]


class LineReader:
    """Reads newline-terminated messages from a socket, refusing any longer than `limit` bytes; it
    never holds more than `limit` + 64 KiB, whatever the peer sends."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self.sock, self.limit, self.buffer = sock, limit, bytearray()

    def pending(self) -> bool:
        """True when a whole message is already buffered (no need to wait for the socket)."""
        return b"\n" in self.buffer

    def read_line(self, deadline: float | None = None) -> bytes | None:
        """The next message (without its newline), or None at end of stream.

        With `deadline` (a `time.monotonic()` value) the whole message must have arrived by then, however
        the peer spreads its bytes: TimeoutError otherwise. Raises ProtocolError("too_large"); lets socket
        timeouts through (the buffer is kept).
        """
        while (line := self.take()) is None:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the message did not arrive in time")
                self.sock.settimeout(left)
            if not self.fill():
                line, self.buffer = bytes(self.buffer), bytearray()
                return line or None
        return line

    def take(self) -> bytes | None:
        """A whole message already buffered (without its newline), else None; ProtocolError("too_large")
        once the buffer holds more than `limit` bytes of one message."""
        end = self.buffer.find(b"\n")
        if end > self.limit or (end < 0 and len(self.buffer) > self.limit):
            raise ProtocolError("too_large", f"a message may be at most {self.limit} bytes")
        if end < 0:
            return None
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 1]
        return line

    def fill(self) -> bool:
        """One read from the socket into the buffer (it blocks unless the socket is readable); False at
        the end of the stream."""
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)


AUTH_PREFIX = b"AUTH "
MAX_TOKEN_BYTES = 4096


def auth_line(token: str) -> bytes:
    """What a TCP client sends first, before any JSON: `AUTH <token>` and a newline."""
    return AUTH_PREFIX + token.encode("utf-8") + b"\n"


def token_matches(line: bytes, token: str) -> bool:
    """Whether a TCP peer's first line carries `token` (compared in constant time)."""
    given = line[len(AUTH_PREFIX):] if line.startswith(AUTH_PREFIX) else b""
    return bool(given) and hmac.compare_digest(given, token.encode("utf-8"))
