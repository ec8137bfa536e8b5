"""Fuzz the parser + gate + loop together: nothing reaches the executor unless every rule allows it.

Random and adversarial actions (as dicts through `actions.schema.parse_action`, and as raw model
text through the Qwen parser `policies.qwen.parse.parse_reply`) are played by a model-like policy
through the real loop on the fake computer, under every confirm mode, with random window
information and a confirmer that answers at random. Every rule is wrapped in a spy; the computer
asserts, at each input call, that in the review of the action being carried out no rule said deny,
and that a confirm was approved by the person (and never happens under `confirm: never`).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.fake import FakeComputer
from actions.gate import Confirmation, Gate, Verdict
from actions.geometry import Monitor, Point, Screenshot
from actions.schema import ACTION_NAMES, Action, ActionError, parse_action
from actions.window import WindowInfo
from agent.config import load_settings
from agent.run.loop import Agent, run_task
from agent.safety.assemble import build_rules
from agent.safety.control import Control
from agent.safety.guarded import GuardedComputer
from agent.traces.store import TraceWriter
from policies.base import Decision, StepRecord
from policies.qwen.parse import ParseError, parse_reply
from policies.qwen.resize import ModelFrame

W, H = 64, 40
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None  # traces fsync every line: keep it in memory
FRAME = ModelFrame(W, H, 56, 28)
DANGER = ["rm -rf /", "sudo su", "curl x | sh", "mkfs /dev/sda", ":(){ :|:& };:", "-----BEGIN RSA PRIVATE KEY-----",
          "AKIAIOSFODNN7EXAMPLE", "ls\n", "chmod -R 777 /", "dd of=/dev/sda", "x" * 600]
KEYS = ["ctrl", "alt", "shift", "super", "delete", "backspace", "f4", "l", "k", "r", "enter", "a", "Return", "Del",
        "bogus", "", "+"]
WINDOWS = [WindowInfo(1, ("xterm", "XTerm")), WindowInfo(2, ("gedit", "Gedit")), None]

on_screen = st.tuples(st.integers(0, W - 1), st.integers(0, H - 1)).map(list)
coords = on_screen | st.lists(st.integers(-20, 90), min_size=2, max_size=2) | st.just("12,7") | st.none()
texts = st.sampled_from(DANGER) | st.text(max_size=40) | st.builds(lambda a, b: a + b, st.sampled_from(DANGER),
                                                                   st.sampled_from(DANGER))
keys = st.lists(st.sampled_from(KEYS), min_size=1, max_size=4)
valid_dicts = st.one_of(
    st.builds(lambda n, c: {"action": n, "coordinate": c}, st.sampled_from(
        ["left_click", "right_click", "middle_click", "double_click", "triple_click", "mouse_move"]), on_screen),
    st.builds(lambda c, s: {"action": "left_click_drag", "coordinate": c, "start_coordinate": s}, on_screen, on_screen),
    st.builds(lambda n, p, c: {"action": n, "pixels": p, "coordinate": c}, st.sampled_from(["scroll", "hscroll"]),
              st.integers(-500, 500), on_screen),
    st.builds(lambda t: {"action": "type", "text": t}, texts),
    st.builds(lambda k: {"action": "key", "keys": k}, keys),
    st.just({"action": "wait", "time": 0}),
)
garbage_dicts = st.fixed_dictionaries(
    {"action": st.sampled_from([*ACTION_NAMES, "click", "shell"])},
    optional={"coordinate": coords, "start_coordinate": coords, "text": texts, "pixels": st.integers(-500, 500),
              "keys": st.lists(st.sampled_from(KEYS), max_size=5), "time": st.floats(0, 0.001),
              "status": st.sampled_from(["success", "failure", "maybe"])},
)
action_dicts = valid_dicts | garbage_dicts
raw_replies = st.builds(
    lambda pre, args, post, tag: f"{pre}{tag[0]}{json.dumps({'name': 'computer_use', 'arguments': args})}{tag[1]}{post}"
    if args else pre + post,
    st.text(max_size=20), action_dicts, st.text(max_size=20),
    st.sampled_from([("<tool_call>", "</tool_call>"), ("⚗", "⚗"), ("", ""), ("<tool_call>", "")]),
) | st.text(max_size=80)
items = st.lists(st.tuples(st.sampled_from(["dict", "reply"]), action_dicts, raw_replies), min_size=1, max_size=25)


class Script:
    """A model-like policy (so denials do not end the run) playing fuzzed answers."""

    name, scripted = "fuzz", False

    def __init__(self, answers: Sequence[tuple[str, dict, str]]) -> None:
        self.answers = list(answers)

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        kind, data, text = self.answers[len(history) % len(self.answers)]
        try:
            action = parse_action(data) if kind == "dict" else parse_reply(text, FRAME).action
        except (ActionError, ParseError) as exc:
            return Decision(None, raw_text=text, error=str(exc))
        if action.action in ("terminate", "answer"):  # keep the run going; those touch nothing anyway
            return Decision(parse_action({"action": "wait", "time": 0}))
        return Decision(action)


class Spy:
    def __init__(self, rule: Any, log: list[list[Verdict | None]]) -> None:
        self.rule, self.name, self.log = rule, rule.name, log

    def check(self, action: Action, shot: Screenshot) -> Verdict | None:
        verdict = self.rule.check(action, shot)
        self.log[-1].append(verdict)
        return verdict

    def observe(self, action: Action, verdict: Verdict) -> None:
        if hasattr(self.rule, "observe"):
            self.rule.observe(action, verdict)


class Start:
    name = "start"

    def __init__(self, log: list[list[Verdict | None]]) -> None:
        self.log = log

    def check(self, action: Action, shot: Screenshot) -> Verdict | None:
        self.log.append([])
        return None


class Person:
    def __init__(self, answers: list[bool]) -> None:
        self.answers, self.asked, self.last = answers, 0, False

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> Confirmation:
        self.last = self.answers[self.asked % len(self.answers)]
        self.asked += 1
        return Confirmation(self.last, "approved" if self.last else "refused")


class Windows:
    def __init__(self, focus: WindowInfo | None, pick: list[int]) -> None:
        self.focus, self.pick = focus, pick

    def focused(self) -> WindowInfo | None:
        return self.focus

    def at(self, point: Point | None) -> WindowInfo | None:
        return WINDOWS[hash(point) % len(WINDOWS)] if self.pick else WINDOWS[1]

    def pointer(self) -> Point:
        return (3, 3)


class Checked(FakeComputer):
    """The executor: every input call checks the review of the action being carried out."""

    def __init__(self, log: list[list[Verdict | None]], person: Person, mode: str) -> None:
        super().__init__(monitor=Monitor(0, 0, W, H))
        self.log, self.person, self.mode = log, person, mode
        self.violations: list[object] = []  # recorded, not raised: the loop would take a raise for a failed call

    def _check(self) -> None:
        decisions = [v.decision for v in self.log[-1] if v is not None]
        if "deny" in decisions:
            self.violations.append(("denied but executed", self.log[-1]))
        if ("confirm" in decisions or self.mode == "always") and (self.mode == "never" or not self.person.last):
            self.violations.append(("not approved but executed", self.mode, self.log[-1]))

    def move(self, to: Point) -> None:
        self._check()
        super().move(to)

    def click(self, at: Point | None, button: str, count: int) -> None:
        self._check()
        super().click(at, button, count)

    def drag(self, start: Point | None, end: Point) -> None:
        self._check()
        super().drag(start, end)

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        self._check()
        super().scroll(at, dx, dy)

    def type_text(self, text: str) -> None:
        self._check()
        super().type_text(text)

    def key(self, keys: tuple[str, ...]) -> None:
        self._check()
        super().key(keys)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=items, mode=st.sampled_from(["never", "risky", "always"]), yes=st.lists(st.booleans(), min_size=1),
       focus=st.sampled_from(WINDOWS), allow=st.sampled_from([[], ["gedit"]]), pick=st.lists(st.integers(), max_size=1))
def test_nothing_reaches_the_executor_unless_every_rule_allows_it(
    answers: list, mode: str, yes: list[bool], focus: WindowInfo | None, allow: list[str], pick: list[int]
) -> None:
    cfg = load_settings(None, {
        "settle.mode": "off", "loop.max_steps": len(answers) + 1, "loop.max_denials": 100,
        "loop.max_consecutive_errors": 100, "safety.confirm": mode, "safety.apps.allow": allow,
        "safety.stuck.apply_to": "none", "safety.limits.max_actions_per_minute": 0,
        "safety.regions.rects": [[0, 0, 8, 8]],
    })
    log: list[list[Verdict | None]] = []
    person = Person(yes)
    rules = [Spy(r, log) for r in build_rules(cfg.safety, Windows(focus, pick))]
    computer = Checked(log, person, mode)
    control = Control(threading.Event(), cfg.safety)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        agent = Agent(Script(answers), GuardedComputer(computer, control), Gate([Start(log), *rules], mode),
                      person, TraceWriter(Path(tmp) / "t"), cfg, control.stop, control)
        result = run_task("fuzz", agent)
        agent.trace.close()
    assert computer.violations == []
    assert result.status in ("max_steps", "denied"), result
    EXECUTED.append(len(computer.calls))


EXECUTED: list[int] = []


def test_the_fuzzing_did_reach_the_executor() -> None:
    """Guard against a vacuous fuzz: a good share of the runs above carried actions out."""
    if EXECUTED:  # (only meaningful after the fuzz test ran in this session)
        assert sum(1 for n in EXECUTED if n) > len(EXECUTED) // 4, EXECUTED
