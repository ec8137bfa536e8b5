"""The live step view: what a person at the terminal sees while a run goes on, and its summary.

`LiveView` is told of the run's start, each step (the trace's `StepLine`), each notice and the end,
by an in-process run (through `RunHooks`) or by the daemon's client (from its wire events), and
shows them one way for both. Modes: `pretty` (colour, and a spinner while the policy decides; the
default on a terminal), `plain` (the default when stderr is piped: one uncoloured line per step),
`quiet` (only the summary) and `json` (one JSON object per line on stdout: the very lines the
trace records — header, steps, events, end — read back from `trace.jsonl` as it grows, or built
from the daemon's events where the trace cannot be read here). Step lines and notices go to stderr;
the summary goes to stdout and ends with `trace: <absolute path>`.
Not for: formatting a step (agent.watch.text) or running anything.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

from agent.traces.lines import EndLine, EventLine, StepLine
from agent.traces.store import TRACE_FILE
from agent.watch.text import BOLD, DIM, Counts, paint, step_text, tone

Mode = Literal["auto", "pretty", "plain", "quiet", "json"]
FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
TICK_S = 0.1
DIVERGED_HINT = ("hint: the screen no longer looks like the recording. `deskpilot replay --no-verify TRACE` replays "
                 "without comparing; `--reground` lets the configured model find targets that moved")


def is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class LiveView:
    def __init__(self, mode: Mode = "auto", out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.mode: Mode = ("pretty" if is_tty(self.err) else "plain") if mode == "auto" else mode
        self.colour = self.mode == "pretty"
        self.counts = Counts()
        self.trace_dir: Path | None = None
        self.started_at = time.monotonic()
        self._lock = threading.RLock()
        self._tail: _Tail | None = None
        self._spinner: _Spinner | None = None
        self._asking = 0

    # -- told by the run ------------------------------------------------------------------------------
    def started(self, trace_dir: Path) -> None:
        with self._lock:
            self.trace_dir = Path(trace_dir).absolute()
            self.started_at = time.monotonic()
            if self.mode == "json":
                self._tail = _Tail(self.trace_dir / TRACE_FILE)
            elif self.mode != "quiet":
                self._say(paint(f"run started; trace: {self.trace_dir}", DIM, self.colour))
            self._spin(1)

    def step(self, line: StepLine) -> None:
        with self._lock:
            self.counts.add(line)
            self._unspin()
            if self.mode == "json":
                self._emit_new(line.to_json())
            elif self.mode != "quiet":
                self._say(step_text(line, self.colour))
            self._spin(line.index + 1)

    def notice(self, event: str, text: str, echo: bool = False) -> None:
        """A notice of the run (paused, resumed, ...); `echo`: say it too (an in-process run has already)."""
        with self._lock:
            self._unspin()
            if self.mode == "json":
                self._emit_new(None if self._tail else EventLine(event, {"message": text}).to_json())
            elif echo:
                self._say(f"deskpilot: {text}")

    @contextmanager
    def asking(self) -> Iterator[None]:
        """While a person is asked on this terminal, the spinner keeps still."""
        with self._lock:
            self._asking += 1
            self._unspin()
        try:
            yield
        finally:
            with self._lock:
                self._asking -= 1

    def finish(self, status: str, reason: str, steps: int, answer: str | None, trace_dir: Path | str | None,
               exit_code: int) -> int:
        """The summary: status, counts, wall time, the report command and the absolute trace path."""
        with self._lock:
            self._unspin()
            wall = time.monotonic() - self.started_at
            where = Path(trace_dir).absolute() if trace_dir else self.trace_dir
            if self.mode == "json":
                self._emit_new(None)  # the rest of the trace: its events and its end line
                if self._tail is None or not self._tail.ended:
                    end = EndLine(status=status, reason=reason, steps=steps, answer=answer).to_json()
                    print(json.dumps(end, ensure_ascii=False), file=self.out, flush=True)
                if where is not None:
                    print(f"deskpilot: report: deskpilot report {where}", file=self.err, flush=True)
                return exit_code
            colour = self.colour and is_tty(self.out)
            print(f"status: {paint(status, tone(status) + BOLD, colour)} ({reason}); steps: {steps}", file=self.out)
            if answer is not None:
                print(f"answer: {answer}", file=self.out)
            print(f"counts: {self.counts.text()}; wall time {wall:.1f} s", file=self.out)
            if status == "failure" and "diverged" in reason:
                print(DIVERGED_HINT, file=self.out)
            if where is not None:
                print(f"report: deskpilot report {where}", file=self.out)
                print(f"trace: {where}", file=self.out)
            self.out.flush()
            return exit_code

    # -- output ---------------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        try:
            print(text, file=self.err, flush=True)
        except (OSError, ValueError):  # the terminal went away: the run goes on
            pass

    def _emit_new(self, fallback: dict | None) -> None:
        """Emit the trace lines written since the last call; without a readable trace, `fallback`."""
        lines = self._tail.read() if self._tail is not None else None
        if lines is None:
            lines = [] if fallback is None else [json.dumps(fallback, ensure_ascii=False)]
        for text in lines:
            print(text, file=self.out)
        self.out.flush()

    def _spin(self, index: int) -> None:
        if self.mode == "pretty" and not self._asking:
            self._spinner = _Spinner(self.err, f"step {index}: deciding", self._lock)
            self._spinner.start()

    def _unspin(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None


class _Tail:
    """The complete lines added to a growing file since the last read (None: the file cannot be read)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.ended = path, 0, False

    def read(self) -> list[str] | None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return None
        whole = data[: data.rfind(b"\n") + 1]
        self.offset += len(whole)
        lines = [line for line in whole.decode("utf-8", "replace").splitlines() if line.strip()]
        for line in lines:
            try:
                self.ended = self.ended or json.loads(line).get("type") == "end"
            except (ValueError, AttributeError, RecursionError):
                pass
        return lines


class _Spinner:
    """`⠙ step 3: deciding 1.2 s` redrawn in place on a terminal until stopped (then erased)."""

    def __init__(self, err: IO[str], label: str, lock: threading.RLock) -> None:
        self.err, self.label, self.lock = err, label, lock
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="deskpilot-spinner", daemon=True)
        self.started = time.monotonic()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(1.0)
        self._write("\r\x1b[K")

    def _run(self) -> None:
        frame = 0
        while not self.done.wait(TICK_S):
            if not self.lock.acquire(blocking=False):  # the view is writing (and may be stopping us)
                continue
            try:
                if self.done.is_set():
                    return
                seconds = time.monotonic() - self.started
                self._write(f"\r\x1b[K{FRAMES[frame % len(FRAMES)]} {self.label} {seconds:.1f} s")
            finally:
                self.lock.release()
            frame += 1

    def _write(self, text: str) -> None:
        try:
            self.err.write(text)
            self.err.flush()
        except (OSError, ValueError):
            self.done.set()
