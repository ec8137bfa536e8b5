"""Traces: a directory with `trace.jsonl` and one screenshot per step.

`trace.jsonl` holds a header line, one line per step (events between them) and an end line, each one
of the typed values of `agent.traces.lines`; `end.png` is the screen after the last step. Each line is flushed and
fsynced as it is written, on the loop's thread, so a crash or SIGKILL loses no finished step.
Screenshots are converted and PNG-encoded on a writer thread (encoding a 4K frame takes ~100 ms,
more than the rest of a step): after a hard crash the images of the last few steps (at most
`MAX_PENDING`) may be missing or cut short, never their lines. The end line is written only once every
screenshot is on disk. `read_trace` reads a trace back, tolerating a torn last line (a crash), and
turns every other line into its typed value: a malformed line is a one-line TraceError naming the
file and line, so the readers trust the types.
Not for: deciding what goes in a step (the loop does).
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actions.errors import DeskpilotError
from actions.files import MiB, open_input, read_input_text
from actions.schema import Action, ActionError, parse_action
from agent.cli.output import cannot_write
from agent.traces.lines import EndLine, EventLine, Header, LineError, StepLine, line_from_json

if TYPE_CHECKING:
    from actions.geometry import Screenshot

TRACE_FILE = "trace.jsonl"
END_SCREENSHOT = "end.png"
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600  # screenshots of the desktop and everything typed: the user's only
MAX_PENDING = 4  # screenshots waiting for the writer thread before the loop waits for it
# Reading a trace back is bounded (actions.files): a run's trace is kilobytes a step (loop.max_steps is at
# most 10 000), a screenshot at most PIL's own pixel limit (~89 Mpx, a 4-byte RGBA 8K frame is ~130 MiB).
MAX_TRACE_BYTES = 64 * MiB
MAX_SCREENSHOT_BYTES = 256 * MiB


class TraceError(DeskpilotError, ValueError):
    """A path that is not a readable trace; the message is one line."""


class UnreadableScreenshot(TraceError):
    """A step's screenshot that cannot be decoded (a crash cut it short, or it is no image); one line."""

    @classmethod
    def of(cls, path: Path, exc: BaseException) -> UnreadableScreenshot:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return cls(f"unreadable screenshot {path.name} ({first})")


def load_screenshot(path: Path) -> Any:
    """The screenshot at `path` as an RGB PIL image, or `UnreadableScreenshot`: after a hard crash the
    last screenshots of a trace may be missing or cut short (see the module docstring)."""
    import warnings

    from PIL import Image

    try:  # opened without blocking (a FIFO would wait for ever), a regular file of bounded size
        with open_input(path, MAX_SCREENSHOT_BYTES) as f, warnings.catch_warnings():
            # a PNG claiming more pixels than PIL's limit is refused, not decoded: beyond twice the limit
            # PIL raises by itself, below it only warns (a stray line on stderr) and allocates them all
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f) as image:
                return image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:  # PIL's "not a good PNG"
        raise UnreadableScreenshot.of(path, exc) from None


def new_trace_dir(base: str | Path) -> Path:
    """A new, private trace directory in `base` (made if missing); an OutputError naming it when it
    cannot be made (--trace-dir under a file, in /proc, read-only)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(base) / f"{stamp}-{secrets.token_hex(3)}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        path.mkdir(mode=PRIVATE_DIR, exist_ok=False)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    return path


class TraceWriter:
    """Appends header, steps and end to a new trace directory; lines durably, images off-thread."""

    def __init__(self, directory: str | Path, png_compress_level: int = 1) -> None:
        self.dir = Path(directory)
        try:  # a directory that cannot be made or written (under a file, in /proc): one line, not a traceback
            self.dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        except OSError as exc:
            raise cannot_write(self.dir, exc) from None
        try:
            fd = os.open(self.dir / TRACE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        except FileExistsError:  # a trace is there already: the caller says what to do (record: another --out)
            raise
        except OSError as exc:
            raise cannot_write(self.dir / TRACE_FILE, exc) from None
        self._file = open(fd, "w", encoding="utf-8")  # noqa: SIM115 - held for the run
        self._images = _ImageWriter(png_compress_level)
        self._lock = threading.Lock()  # events (pause, kill) are written from listener threads
        self._early: list[dict[str, Any]] | None = []  # events before the header (a listener that could not start)

    def header(self, header: Header) -> None:
        self._line(header.to_json())
        with self._lock:
            early, self._early = self._early or [], None
        for event in early:  # the header must stay the first line; early events follow it
            self._line(event)

    def step(self, line: StepLine, shot: Screenshot | None) -> StepLine:
        """Queue the step's screenshot, write its line and return it as written (with its screenshot's
        name and `timings_ms.trace`, the time this took)."""
        started = time.perf_counter()
        name = None
        if shot is not None:
            name = f"step-{line.index:04d}.png"
            self._images.put(self.dir / name, shot)
        line = dataclasses.replace(line, screenshot=name)
        line = line.with_timing("trace", round((time.perf_counter() - started) * 1000, 2))
        self._line(line.to_json())
        return line

    def end(self, line: EndLine, shot: Screenshot | None = None) -> None:
        """Write `shot` (the screen after the last step) as end.png, wait for every screenshot, then write
        the end line (with any image that failed)."""
        if shot is not None:
            self._images.put(self.dir / END_SCREENSHOT, shot)
            line = dataclasses.replace(line, screenshot=END_SCREENSHOT)
        if failures := self._images.drain():
            line = dataclasses.replace(line, screenshot_errors=tuple(failures))
        self._line(line.to_json())

    def event(self, kind: str, **fields: Any) -> None:
        """Something that happened between steps (paused, resumed, kill, interrupted); any thread."""
        with self._lock:
            if self._early is not None:
                self._early.append(EventLine(kind, fields).to_json())
                return
        self._line(EventLine(kind, fields).to_json())

    def close(self) -> None:
        with self._lock:
            early, self._early = self._early or [], None
        for event in early:  # no header came (a session used on its own): keep the events anyway
            self._line(event)
        self._images.drain()
        self._images.stop()
        if not self._file.closed:
            self._file.close()

    def _line(self, obj: dict[str, Any]) -> None:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file.closed:
                return
            self._file.write(text)
            self._file.flush()
            os.fsync(self._file.fileno())


class _ImageWriter:
    """One thread that converts and PNG-encodes screenshots, in order, each fsynced."""

    def __init__(self, compress_level: int) -> None:
        self._queue: queue.Queue[tuple[Path, Screenshot] | None] = queue.Queue(maxsize=MAX_PENDING)
        self._compress = compress_level
        self._failures: list[str] = []
        self._thread = threading.Thread(target=self._run, name="trace-images", daemon=True)
        self._thread.start()

    def put(self, path: Path, shot: Screenshot) -> None:
        self._queue.put((path, shot))

    def drain(self) -> list[str]:
        self._queue.join()
        return list(self._failures)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                _write_durably(item[0], item[1], self._compress)
            except Exception as exc:  # a full disk must not kill the run; the end line lists it
                self._failures.append(f"{item[0].name}: {exc}")
            finally:
                self._queue.task_done()
        self._queue.task_done()


def _write_durably(path: Path, shot: Screenshot, compress_level: int = 1) -> None:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE), "wb") as f:
        shot.image.save(f, format="PNG", compress_level=compress_level)
        f.flush()
        os.fsync(f.fileno())


@dataclass(frozen=True)
class Trace:
    dir: Path
    header: Header
    steps: tuple[StepLine, ...]
    end: EndLine | None = None
    events: tuple[EventLine, ...] = ()
    torn: bool = field(default=False)

    def replayed(self) -> tuple[tuple[StepLine, Action], ...]:
        """The steps replay plays and scripts keep (their action ran, would have in a dry run, or ended the
        run), each with its action parsed; an action the schema refuses is a TraceError naming the step."""
        out = []
        for step in self.steps:
            if not step.replayed:
                continue
            try:
                out.append((step, parse_action(step.action)))
            except ActionError as exc:
                raise TraceError(f"{self.dir}: step {step.index}: {exc}") from None
        if not out:
            raise TraceError(f"{self.dir}: the trace has no replayable steps")
        return tuple(out)

    def screenshot_after(self, step: StepLine) -> Path | None:
        """The screen right after `step`: the next step's screenshot, or the end screenshot after the last."""
        later = [s for s in self.steps if s.index > step.index and s.screenshot]
        if later:
            return self.dir / min(later, key=lambda s: s.index).screenshot  # type: ignore[operator]
        if self.end is not None and self.end.screenshot and not any(s.index > step.index for s in self.steps):
            return self.dir / self.end.screenshot
        return None


def read_trace(path: str | Path) -> Trace:
    """Read a trace directory (or its trace.jsonl); a torn final line is dropped, not fatal."""
    path = Path(path)
    file = path / TRACE_FILE if path.is_dir() else path
    try:
        lines = read_input_text(file, MAX_TRACE_BYTES).splitlines()  # a FIFO or /dev/zero: refused, not read
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: not a readable trace ({exc})") from None
    records, torn = [], False
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json can follow
            if number == len(lines):
                torn = True
                break
            raise TraceError(f"{file}: line {number} is not JSON") from None
    if not records or not isinstance(records[0], dict) or records[0].get("type") != "header":
        raise TraceError(f"{file}: no deskpilot trace header on the first line")
    typed = []
    for number, record in enumerate(records, start=1):  # validated once here: the readers trust the types
        try:
            typed.append(line_from_json(record))
        except LineError as exc:
            raise TraceError(f"{file}: line {number}: {exc}") from None
    header = typed[0]
    assert isinstance(header, Header)
    steps = tuple(t for t in typed if isinstance(t, StepLine))
    events = tuple(t for t in typed if isinstance(t, EventLine))
    end = next((t for t in typed if isinstance(t, EndLine)), None)
    return Trace(dir=file.parent, header=header, steps=steps, end=end, events=events, torn=torn)
