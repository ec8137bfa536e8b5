"""Safety in the loop, with the fake computer: denials, confirmations, stop, takeover, limits, stuck."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from actions.fake import FakeComputer
from actions.gate import Confirmation, Gate, Verdict
from actions.geometry import Monitor, Screenshot
from actions.schema import Action, parse_action
from agent.config import Settings, load_settings
from agent.run.hooks import RunHooks
from agent.run.loop import Agent, RunResult, run_task
from agent.run.runner import execute
from agent.safety.assemble import SafetySession, build_gate
from agent.safety.confirm import TtyConfirmer
from agent.safety.control import Control, Pause
from agent.safety.guarded import GuardedComputer
from agent.traces.lines import StepLine
from agent.traces.store import TraceWriter, read_trace
from policies.base import Decision, StepRecord
from policies.scripted.policy import ScriptedPolicy

FAST = {"settle.mode": "off"}
CLICK = {"action": "left_click", "coordinate": [10, 10]}


def acts(*items: dict) -> list[Action]:
    return [parse_action(item) for item in items]


def settings_with(**overrides: Any) -> Settings:
    return load_settings(None, {**FAST, **{k.replace("__", "."): v for k, v in overrides.items()}})


def make_agent(tmp_path: Path, policy: Any, settings: Settings | None = None, computer: Any = None,
               confirmer: Any = None, clock: Any = None,
               stop: threading.Event | None = None) -> tuple[Agent, FakeComputer]:
    settings = settings or settings_with()
    fake = computer or FakeComputer()
    stop = stop or threading.Event()
    control = Control(stop, settings.safety, Pause(), **({"clock": clock} if clock else {}))
    agent = Agent(policy, GuardedComputer(fake, control), build_gate(settings),
                  confirmer or SayNo(), TraceWriter(tmp_path / "trace"), settings, stop, control)
    return agent, fake


def run(tmp_path: Path, policy: Any, **kwargs: Any) -> tuple[RunResult, FakeComputer, Agent]:
    agent, fake = make_agent(tmp_path, policy, **kwargs)
    result = run_task("test task", agent)
    agent.trace.close()
    return result, fake, agent


def steps(tmp_path: Path) -> list[StepLine]:
    return list(read_trace(tmp_path / "trace").steps)


class SayNo:
    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> Confirmation:
        return Confirmation(False, "unavailable", "no terminal")


class Model:
    """A model-like policy (not scripted) that plays `actions` in turn, forever; records feedback."""

    name, scripted = "model", False

    def __init__(self, actions: Sequence[Action], on_decide: Any = None) -> None:
        self.actions, self.on_decide, self.feedback = list(actions), on_decide, []

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        self.feedback = [s.feedback for s in history]
        if self.on_decide is not None:
            self.on_decide(len(history))
        return Decision(self.actions[len(history) % len(self.actions)])


# --- denials and confirmations ---------------------------------------------------------------

def test_risky_script_step_without_a_person_is_denied_and_ends_the_run(tmp_path: Path) -> None:
    policy = ScriptedPolicy(acts(CLICK, {"action": "type", "text": "sudo reboot"}, CLICK))
    result, fake, _ = run(tmp_path, policy)
    assert result.status == "denied" and result.exit_code == 1 and result.steps == 2
    assert fake.calls == [("click", (10, 10), "left", 1)]
    verdict = steps(tmp_path)[1].verdict
    assert verdict is not None and (verdict.decision, verdict.rule, verdict.confirmation) == (
        "deny", "text.privilege", "unavailable") and "no one could be asked" in verdict.reason


def test_a_model_is_told_of_each_denial_and_stopped_after_max_denials(tmp_path: Path) -> None:
    policy = Model(acts({"action": "type", "text": "rm -rf /"}))
    result, fake, _ = run(tmp_path, policy, settings=settings_with(loop__max_denials=3))
    assert result.status == "denied" and result.steps == 3 and fake.calls == []
    assert len(policy.feedback) == 2
    assert all("text.destructive" in f and "Try another way" in f for f in policy.feedback)


class Approve:
    def __init__(self, outcome: str = "approved") -> None:
        self.outcome, self.asked = outcome, 0

    def ask(self, action: Action, verdict: Verdict, shot: Screenshot) -> Confirmation:
        self.asked += 1
        return Confirmation(self.outcome == "approved", self.outcome)  # type: ignore[arg-type]


@pytest.mark.parametrize(("outcome", "status"), [("approved", "success"), ("refused", "denied"),
                                                 ("timed_out", "denied")])
def test_confirmation_outcomes_go_into_the_trace(tmp_path: Path, outcome: str, status: str) -> None:
    policy = ScriptedPolicy(acts({"action": "key", "keys": ["alt", "f4"]}))
    result, fake, _ = run(tmp_path, policy, confirmer=Approve(outcome))
    assert result.status == status
    assert steps(tmp_path)[0].verdict.confirmation == outcome
    assert fake.calls == ([("key", ("alt", "f4"))] if outcome == "approved" else [])


def test_confirm_always_asks_before_every_input_action_and_never_denies(tmp_path: Path) -> None:
    policy = ScriptedPolicy(acts(CLICK, {"action": "wait", "time": 0}))
    confirmer = Approve()
    result, fake, _ = run(tmp_path, policy, settings=settings_with(safety__confirm="always"), confirmer=confirmer)
    assert result.status == "success" and confirmer.asked == 1 and len(fake.calls) == 1
    policy = ScriptedPolicy(acts({"action": "key", "keys": ["ctrl", "w"]}))
    never = settings_with(safety__confirm="never")
    result, fake, _ = run(tmp_path / "never", policy, settings=never, confirmer=Approve())
    assert result.status == "denied" and fake.calls == []


def test_the_runner_without_a_terminal_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.safety.assemble.has_terminal", lambda: False)
    settings = settings_with(trace__dir=str(tmp_path))
    policy = ScriptedPolicy(acts({"action": "key", "keys": ["ctrl", "q"]}))
    report = execute("t", policy, settings, computer=FakeComputer())
    assert report.result.status == "denied"
    assert read_trace(report.trace_dir).steps[0].verdict.confirmation == "unavailable"


# --- the terminal confirmer ------------------------------------------------------------------

def tty(tmp_path: Path, timeout: float = 2.0, stop: threading.Event | None = None) -> tuple[TtyConfirmer, int, Any]:
    read_fd, write_fd = os.pipe()
    out = open(tmp_path / "out.txt", "w+", encoding="utf-8")  # noqa: SIM115 - closed by the test's end
    return TtyConfirmer(tmp_path, timeout, stop, os.fdopen(read_fd, "r"), out), write_fd, out


def answer_when_asked(shown: Path, write_fd: int, answer: bytes) -> None:
    """Like a person: answer once the question is on the screen (earlier input is thrown away)."""
    deadline = time.monotonic() + 5
    while "Allow it?" not in shown.read_text(encoding="utf-8") and time.monotonic() < deadline:
        time.sleep(0.01)
    os.write(write_fd, answer)


SHOT = Screenshot(Image.new("RGB", (1280, 800), (200, 200, 200)), Monitor(0, 0, 1280, 800))
RISKY = parse_action({"action": "left_click", "coordinate": [640, 400]})
WHY = Verdict("confirm", "protected_region", "inside [600, 380, 80, 40]")


@pytest.mark.parametrize(("answer", "approved", "outcome"), [(b"y\n", True, "approved"), (b"YES\n", True, "approved"),
                                                              (b"n\n", False, "refused"), (b"\n", False, "refused")])
def test_tty_confirmer_answers(tmp_path: Path, answer: bytes, approved: bool, outcome: str) -> None:
    confirmer, write_fd, out = tty(tmp_path)
    threading.Thread(target=answer_when_asked, args=(tmp_path / "out.txt", write_fd, answer)).start()
    result = confirmer.ask(RISKY, WHY, SHOT)
    assert (result.approved, result.outcome) == (approved, outcome)
    out.seek(0)
    shown = out.read()
    assert "left_click" in shown and "protected_region" in shown and "confirm-001.png" in shown
    with Image.open(tmp_path / "confirm-001.png") as preview:
        assert preview.size == (480, 320) and preview.getpixel((240 + 12, 160)) == (255, 0, 0)


def test_tty_confirmer_times_out_and_ignores_answers_typed_before_the_question(tmp_path: Path) -> None:
    confirmer, write_fd, _ = tty(tmp_path, timeout=0.3)
    os.write(write_fd, b"y\n")  # typed before the question: must not count
    started = time.monotonic()
    result = confirmer.ask(RISKY, WHY, SHOT)
    assert result.outcome == "timed_out" and not result and 0.25 < time.monotonic() - started < 1.5


def test_tty_confirmer_gives_up_when_the_run_is_stopped(tmp_path: Path) -> None:
    stop = threading.Event()
    confirmer, _, _ = tty(tmp_path, timeout=30, stop=stop)
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert not confirmer.ask(parse_action({"action": "type", "text": "x"}), WHY, SHOT)
    assert time.monotonic() - started < 1.0


# --- stop, takeover, limits ------------------------------------------------------------------

def test_stop_during_a_long_wait_cancels_within_100_ms(tmp_path: Path) -> None:
    agent, fake = make_agent(tmp_path, ScriptedPolicy(acts({"action": "wait", "time": 30}, CLICK)))
    threading.Timer(0.2, agent.stop.set).start()
    started = time.monotonic()
    result = run_task("t", agent)
    elapsed = time.monotonic() - started
    assert result.status == "cancelled" and result.exit_code == 3 and fake.calls == []
    assert elapsed < 0.2 + 0.1, elapsed
    assert read_trace(tmp_path / "trace").end.status == "cancelled"


def test_stop_during_the_model_call_executes_nothing(tmp_path: Path) -> None:
    holder: dict[str, Agent] = {}
    policy = Model(acts(CLICK), on_decide=lambda n: holder["agent"].stop.set())
    agent, fake = make_agent(tmp_path, policy)
    holder["agent"] = agent
    assert run_task("t", agent).status == "cancelled" and fake.calls == []


class SlowTyper(FakeComputer):
    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def type_text(self, text: str) -> None:
        super().type_text(text)
        self.stop.set()  # the kill arrives while the first chunk is being typed


def test_stop_while_typing_stops_after_the_current_chunk(tmp_path: Path) -> None:
    stop = threading.Event()
    agent, fake = make_agent(tmp_path, ScriptedPolicy(acts({"action": "type", "text": "x" * 100})),
                             computer=SlowTyper(stop), stop=stop)
    result = run_task("t", agent)
    assert result.status == "cancelled" and fake.calls == [("type", "x" * 8)]


class GrabbedWhileDeciding(ScriptedPolicy):
    """A script during whose first model call a person takes over (and resumes 0.1 s later)."""

    pause: Pause

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        if self.pause.epoch == 0:
            self.pause.pause("the pointer moved")
            threading.Timer(0.1, self.pause.resume, args=("test",)).start()
        return super().decide(task, shot, history)


def test_a_takeover_drops_the_pending_action_then_resumes_on_request(tmp_path: Path) -> None:
    policy = GrabbedWhileDeciding(acts(CLICK))
    agent, fake = make_agent(tmp_path, policy)
    policy.pause = agent.control.pause
    result = run_task("t", agent)
    agent.trace.close()
    assert result.status == "success" and result.steps == 2  # the dropped decision is not a step
    assert fake.calls == [("click", (10, 10), "left", 1)]  # decided again after the resume, done once
    lines = (tmp_path / "trace" / "trace.jsonl").read_text()
    assert '"event":"interrupted"' in lines


def test_a_takeover_during_typing_interrupts_the_action(tmp_path: Path) -> None:
    class Grabbed(FakeComputer):
        def type_text(self, text: str) -> None:
            super().type_text(text)
            if len(self.calls) == 1:
                agent.control.pause.pause("a key was pressed")
                threading.Timer(0.1, agent.control.pause.resume, args=("test",)).start()

    agent, fake = make_agent(tmp_path, ScriptedPolicy(acts({"action": "type", "text": "abcdefghijk"})),
                             computer=Grabbed())
    result = run_task("t", agent)
    assert result.status == "success"
    assert fake.calls == [("type", "abcdefgh"), ("type", "abcdefgh"), ("type", "ijk")]  # typed again after resume


def test_rate_limit_deny(tmp_path: Path) -> None:
    settings = settings_with(safety__limits__max_actions_per_minute=2, safety__limits__over_rate="deny")
    result, fake, _ = run(tmp_path, ScriptedPolicy(acts(CLICK, CLICK, CLICK)), settings=settings)
    assert result.status == "denied" and len(fake.calls) == 2
    assert steps(tmp_path)[2].verdict.rule == "rate_limit"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_wait(tmp_path: Path) -> None:
    clock = Clock()
    settings = settings_with(safety__limits__max_actions_per_minute=2)
    agent, fake = make_agent(tmp_path, ScriptedPolicy(acts(CLICK, CLICK, CLICK)), settings=settings, clock=clock)
    slept: list[float] = []

    def sleep(seconds: float) -> bool:
        slept.append(seconds)
        clock.now += seconds
        return True

    agent.control.sleep = sleep  # type: ignore[method-assign]
    assert run_task("t", agent).status == "success" and len(fake.calls) == 3 and slept == [60.0]


def test_wall_time_limit(tmp_path: Path) -> None:
    clock = Clock()
    policy = Model(acts(CLICK), on_decide=lambda n: setattr(clock, "now", clock.now + 20))
    result, fake, _ = run(tmp_path, policy, settings=settings_with(safety__limits__max_wall_time_s=50), clock=clock)
    assert result.status == "max_time" and result.exit_code == 1 and len(fake.calls) == 3


def test_policy_gets_the_stop_event_as_interrupt_event(tmp_path: Path) -> None:
    class Generating:
        name, scripted, interrupt_event = "g", False, None

    policy = Generating()
    session = SafetySession(settings_with(), TraceWriter(tmp_path / "t"), desktop=False, ask=False)
    with session.running(policy):
        assert policy.interrupt_event is session.stop


def test_the_kill_switch_interrupts_a_model_call_in_flight(tmp_path: Path) -> None:
    """QwenPolicy + the real HTTP backend against a server that takes 3 s: stop after 0.2 s ends the run at once."""
    import json

    from openai_server import FakeOpenAIServer, Scripted, completion

    from policies.qwen.backends.openai_backend import OpenAIBackend, OpenAIOptions
    from policies.qwen.policy import QwenPolicy

    answer = ('<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5, 5]}}'
              "</tool_call>")
    with FakeOpenAIServer(lambda request: answer) as server:
        server.queue = [Scripted(200, json.dumps(completion(answer)), delay_s=3.0)]
        policy = QwenPolicy(OpenAIBackend(OpenAIOptions(base_url=server.base_url, model="m")))
        stop = threading.Event()
        agent, fake = make_agent(tmp_path, policy, stop=stop)
        session = SafetySession(settings_with(), TraceWriter(tmp_path / "s"), desktop=False, ask=False, stop=stop)
        with session.running(policy):
            timer = threading.Timer(0.2, stop.set)
            timer.start()
            started = time.perf_counter()
            result = run_task("click", agent)
            elapsed = time.perf_counter() - started
    assert result.status == "cancelled" and result.exit_code == 3 and not fake.calls
    assert elapsed < 0.2 + 0.1, elapsed


# --- stuck -----------------------------------------------------------------------------------

POLL = {"settle.mode": "poll", "settle.interval_ms": 1, "settle.stable_frames": 1, "settle.timeout_ms": 50}


class Counter(FakeComputer):
    """Each click changes the screen (like a counter going up); `cycle` colours, then repeats."""

    def __init__(self, cycle: int = 1000) -> None:
        super().__init__(monitor=Monitor(0, 0, 64, 40))
        self.cycle, self.clicks = cycle, 0

    def click(self, at: Any, button: str, count: int) -> None:
        super().click(at, button, count)
        self.clicks += 1
        self.color = (self.clicks % self.cycle, 0, 0)


def stuck_run(tmp_path: Path, policy: Any, computer: Any = None, **overrides: Any) -> tuple[RunResult, Any]:
    settings = load_settings(None, {**POLL, "loop.max_steps": 12, **overrides})
    result, fake, _ = run(tmp_path, policy, settings=settings, computer=computer or FakeComputer(Monitor(0, 0, 64, 40)))
    return result, fake


def test_a_model_repeating_a_click_without_effect_is_warned_once_then_stuck(tmp_path: Path) -> None:
    policy = Model(acts(CLICK))
    result, _ = stuck_run(tmp_path, policy)
    assert result.status == "stuck" and result.exit_code == 1 and result.steps == 5
    warnings = [f for f in policy.feedback if "stuck" in f]
    assert len(warnings) == 1 and "repeated 4 times" in warnings[0] and "no visible effect" in policy.feedback[0]
    assert "stuck" in steps(tmp_path)[3].feedback


def test_ping_pong_is_stuck(tmp_path: Path) -> None:
    other = {"action": "left_click", "coordinate": [30, 30]}
    result, _ = stuck_run(tmp_path, Model(acts(CLICK, other)), computer=Counter(cycle=2))
    assert result.status == "stuck" and "alternated" in result.reason and result.steps == 7


def test_no_visible_change_over_k_steps_is_stuck(tmp_path: Path) -> None:
    moves = [{"action": "mouse_move", "coordinate": [i * 5, 1]} for i in range(12)]
    result, _ = stuck_run(tmp_path, Model(acts(*moves)))
    assert result.status == "stuck" and "no visible effect" in result.reason and result.steps == 6


def test_repeating_with_progress_is_not_stuck(tmp_path: Path) -> None:
    result, _ = stuck_run(tmp_path, Model(acts(CLICK)), computer=Counter())
    assert result.status == "max_steps"


def test_scripts_are_not_watched_unless_asked(tmp_path: Path) -> None:
    result, _ = stuck_run(tmp_path, ScriptedPolicy(acts(*[CLICK] * 8)))
    assert result.status == "success"
    result, _ = stuck_run(tmp_path / "all", ScriptedPolicy(acts(*[CLICK] * 8)), **{"safety.stuck.apply_to": "all"})
    assert result.status == "stuck"


def test_waits_and_small_jitter(tmp_path: Path) -> None:
    jitter = [{"action": "left_click", "coordinate": [10 + i % 3, 10]} for i in range(4)]
    result, _ = stuck_run(tmp_path, Model(acts(*jitter)), **{"safety.stuck.no_change": 50})
    assert result.status == "stuck" and "repeated" in result.reason
    result, _ = stuck_run(tmp_path / "w", Model(acts({"action": "wait", "time": 0})))
    assert result.status == "max_steps"


# --- the wall time cuts waits short; dropped actions keep their verdict; malformed rules --------

@pytest.mark.parametrize(("overrides", "script"), [
    ({}, [{"action": "wait", "time": 30}, CLICK]),  # a `wait` action
    ({"settle__mode": "fixed", "settle__fixed_ms": 30_000}, [CLICK, CLICK]),  # settling after an action
    ({"settle__mode": "poll", "settle__timeout_ms": 30_000}, [CLICK, CLICK]),
    ({"safety__limits__max_actions_per_minute": 1}, [CLICK, CLICK]),  # waiting for the rate limit
])
def test_waits_end_when_the_wall_time_runs_out(tmp_path: Path, overrides: dict, script: list[dict]) -> None:
    settings = settings_with(safety__limits__max_wall_time_s=0.4, **overrides)

    class Changing(FakeComputer):  # a screen that never settles
        def screenshot(self) -> Screenshot:
            self.color = (self.color[0] + 1) % 256, 0, 0
            return super().screenshot()

    started = time.monotonic()
    result, fake, _ = run(tmp_path, Model(acts(*script)), settings=settings, computer=Changing())
    assert result.status == "max_time", result
    assert time.monotonic() - started < 3
    assert len([c for c in fake.calls if c[0] != "move"]) <= 1  # (a click first points: settle's hover_first)


def test_an_action_dropped_by_a_takeover_keeps_its_verdict_in_the_trace(tmp_path: Path) -> None:
    policy = GrabbedWhileDeciding(acts(CLICK))
    agent, _ = make_agent(tmp_path, policy)
    policy.pause = agent.control.pause
    run_task("t", agent)
    agent.trace.close()
    lines = [json.loads(line) for line in (tmp_path / "trace" / "trace.jsonl").read_text().splitlines()]
    dropped = [line for line in lines if line.get("event") == "interrupted"]
    assert len(dropped) == 1 and dropped[0]["action"] == CLICK
    assert dropped[0]["verdict"] == {"decision": "allow", "rule": "default", "reason": "no rule objected"}


def test_a_rule_answering_nonsense_denies_the_action_and_the_run_is_no_error(tmp_path: Path) -> None:
    class Nonsense:
        name = "nonsense"

        def check(self, action: Action, shot: Screenshot) -> object:
            return "allow"

    settings = settings_with()
    fake = FakeComputer()
    agent = Agent(ScriptedPolicy(acts(CLICK)), fake, Gate([Nonsense()]), SayNo(),  # type: ignore[list-item]
                  TraceWriter(tmp_path / "trace"), settings)
    result = run_task("t", agent)
    agent.trace.close()
    assert result.status == "denied" and "nonsense" in result.reason and fake.calls == []
    assert steps(tmp_path)[0].verdict.rule == "nonsense"


def _pause_notice(tmp_path: Path, capsys: pytest.CaptureFixture[str], hooks: RunHooks | None = None,
                  thread: bool = False) -> str:
    session = SafetySession(settings_with(), TraceWriter(tmp_path / "t"), desktop=False, ask=False, hooks=hooks)

    def pause() -> None:
        with session.running():
            session.pause.pause("the pointer moved")
            session.resume("test")

    if thread:
        worker = threading.Thread(target=pause)
        worker.start()
        worker.join()
    else:
        pause()
    session.trace.close()
    return next(line for line in capsys.readouterr().err.splitlines() if "paused:" in line)


def test_the_pause_notice_names_only_ways_to_resume_that_work(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    in_process = _pause_notice(tmp_path / "a", capsys)
    assert f"`kill -USR1 {os.getpid()}`" in in_process and "Ctrl+C" in in_process
    off_main_thread = _pause_notice(tmp_path / "b", capsys, thread=True)  # no SIGUSR1 handler there
    assert "kill -USR1" not in off_main_thread
    notices: list[tuple[str, str]] = []
    daemon = RunHooks(resume_via="`deskpilot resume`", stop_via="`deskpilot cancel`",
                      on_notice=lambda event, line: notices.append((event, line)))
    by_daemon = _pause_notice(tmp_path / "c", capsys, hooks=daemon, thread=True)
    assert "`deskpilot resume`" in by_daemon and "`deskpilot cancel`" in by_daemon and "kill -USR1" not in by_daemon
    assert [event for event, _ in notices] == ["paused", "resumed"] and notices[0][1] in by_daemon
