"""What the console shows and what it is asked: the run's events, its screen, the open question.

`Hub` is the meeting point between a run (told through `RunHooks`-style calls: `started`, `step`,
`notice`, `ended`) and the pages watching it (the server's event streams, its buttons). It keeps a
bounded list of events with sequence numbers, so a page opened mid-run is shown what happened, and
wakes every stream when something new happens. `Hub.ask` is a `Confirmer`: the question goes to
the pages with a preview of the target; the answer comes back from a button; no answer within the
timeout, the run being stopped, or the last page showing the question being closed, all deny.
`controls` (pause, resume, stop) are whatever the owner plugs in: a run's safety session in-process,
the daemon's requests for `deskpilot console`.
Not for: HTTP (agent.console.server) or the page (agent.console.page).
"""

from __future__ import annotations

import io
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actions.gate import Confirmation, Verdict
from actions.geometry import Screenshot
from actions.schema import Action, action_to_json
from agent.traces.lines import StepLine
from agent.traces.store import END_SCREENSHOT
from agent.watch.text import Counts, thought

Control = Callable[[], str]  # does it; returns what it did, in words


@dataclass
class Question:
    number: int
    action: dict[str, Any]
    rule: str
    reason: str
    timeout_s: float
    preview: bytes = field(repr=False, default=b"")
    asked_at: float = field(default_factory=time.time)
    answer: Confirmation | None = None
    shown: int = 0  # event streams that have been sent this question

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "action": self.action, "rule": self.rule, "reason": self.reason,
                "timeout_s": self.timeout_s, "asked_at": self.asked_at}


class Hub:
    def __init__(self, keep_events: int = 500, stop: threading.Event | None = None) -> None:
        self._cond = threading.Condition()
        self._events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=keep_events)
        self._seq = 0
        self.stop = stop  # a run's stop flag: a question ends (denied) once it is set
        self.trace_dir: Path | None = None
        self.counts = Counts()
        self._shots: list[str] = []
        self.question: Question | None = None
        self._asked = 0
        self.watchers = 0
        self.controls: dict[str, Control] = {}
        self.queue: Callable[[], list[Mapping[str, Any]]] | None = None

    # -- the run's side ---------------------------------------------------------------------------------
    def started(self, trace_dir: Path) -> None:
        with self._cond:
            self.trace_dir, self.counts, self._shots = Path(trace_dir).absolute(), Counts(), []
        self.publish("started", trace_dir=str(self.trace_dir))

    def step(self, line: StepLine) -> None:
        with self._cond:
            self.counts.add(line)
            # the line as the loop made it: the writer names its screenshot on the way to disk, the same way
            self._shots.append(line.screenshot or f"step-{line.index:04d}.png")
        self.publish("step", line=line.to_json(), thought=thought(line), counts=vars(self.counts).copy())

    def notice(self, event: str, text: str) -> None:
        self.publish("notice", event=event, message=text)

    def ended(self, status: str, reason: str, steps: int, trace_dir: Path | str | None = None) -> None:
        with self._cond:
            self._shots.append(END_SCREENSHOT)
        self.publish("end", status=status, reason=reason, steps=steps,
                     trace_dir=str(trace_dir or self.trace_dir or ""))

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot, timeout_s: float = 30.0) -> Confirmation:
        """Put the question to the pages and wait for a button, the timeout, a stop or the page closing."""
        from agent.safety.confirm import preview

        buffer = io.BytesIO()
        preview(shot, action).save(buffer, "PNG")
        with self._cond:
            self._asked += 1
            question = Question(self._asked, action_to_json(action), verdict.rule, verdict.reason, timeout_s,
                                buffer.getvalue())
            self.question = question
        self.publish("question", question=question.to_json())
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while question.answer is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    question.answer = Confirmation(False, "timed_out", "no answer on the console in time")
                elif self.stop is not None and self.stop.is_set():
                    question.answer = Confirmation(False, "refused", "the run was stopped")
                else:
                    self._cond.wait(min(left, 0.1))
            self.question = None
            answer = question.answer
        self.publish("answered", number=question.number, approved=answer.approved, outcome=answer.outcome,
                     detail=answer.detail)
        return answer

    # -- the pages' side --------------------------------------------------------------------------------
    def answer(self, number: int, approve: bool) -> bool:
        """A button's answer to question `number`; False if that question is not open (any more)."""
        with self._cond:
            question = self.question
            if question is None or question.number != number or question.answer is not None:
                return False
            question.answer = Confirmation(approve, "approved" if approve else "refused",
                                           "answered on the console")
            self._cond.notify_all()
            return True

    def joined(self) -> None:
        with self._cond:
            self.watchers += 1

    def shown(self, number: int) -> None:
        """An event stream has sent question `number` to its page."""
        with self._cond:
            if self.question is not None and self.question.number == number:
                self.question.shown += 1

    def left(self) -> None:
        """An event stream ended (its page was closed): if it was the last one showing the open question,
        that question is denied — nobody is looking at it any more."""
        with self._cond:
            self.watchers -= 1
            question = self.question
            if question is not None and question.answer is None and question.shown and self.watchers == 0:
                question.answer = Confirmation(False, "refused", "the console page was closed")
                self._cond.notify_all()

    def control(self, name: str) -> str | None:
        """Run the control `name` (pause, resume, stop); None when there is no such control here."""
        do = self.controls.get(name)
        if do is None:
            return None
        said = do()
        self.publish("control", control=name, message=said)
        return said

    def events_since(self, seq: int, timeout_s: float) -> list[tuple[int, dict[str, Any]]]:
        """The events after `seq`, waiting up to `timeout_s` for one if there are none yet."""
        with self._cond:
            if self._seq <= seq:
                self._cond.wait(timeout_s)
            return [(n, e) for n, e in self._events if n > seq]

    def publish(self, kind: str, **data: Any) -> None:
        with self._cond:
            self._seq += 1
            self._events.append((self._seq, {"kind": kind, "t": round(time.time(), 3), **data}))
            self._cond.notify_all()

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            question = self.question.to_json() if self.question is not None else None
            return {"trace_dir": str(self.trace_dir or ""), "question": question, "counts": vars(self.counts).copy(),
                    "controls": sorted(self.controls), "seq": self._seq}

    def screen(self) -> bytes | None:
        """The newest screenshot of the run that is on disk and whole (PNGs are written off-thread)."""
        with self._cond:
            names, directory = list(self._shots), self.trace_dir
        for name in reversed(names):
            try:
                data = (directory / name).read_bytes() if directory is not None else b""
            except OSError:
                continue
            if data.endswith(b"IEND\xaeB`\x82"):
                return data
        return None

    def preview(self, number: int) -> bytes | None:
        with self._cond:
            question = self.question
            return question.preview if question is not None and question.number == number else None


class HubConfirmer:
    """`safety.confirm_via: console`: the run's questions go to the console's pages."""

    def __init__(self, hub: Hub, timeout_s: float) -> None:
        self.hub, self.timeout_s = hub, timeout_s

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> Confirmation:
        return self.hub.ask(action, verdict, shot, self.timeout_s)
