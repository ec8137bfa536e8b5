"""The loop with a fake computer: every status, the gate before the executor, dry run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from actions.fake import FakeComputer
from actions.gate import Gate, OnScreen, RefuseConfirmer, Verdict
from actions.schema import Action, parse_action
from agent.config import Settings, load_settings
from agent.run.loop import Agent, RunResult, run_task
from agent.traces.store import TraceWriter, read_trace
from policies.base import Decision, StepRecord
from policies.scripted.policy import ScriptedPolicy


def acts(*items: dict) -> list[Action]:
    return [parse_action(item) for item in items]


def run(tmp_path: Path, policy, computer: FakeComputer | None = None, settings: Settings | None = None,
        gate: Gate | None = None, confirmer=None, stop: bool = False) -> tuple[RunResult, FakeComputer]:
    computer = computer or FakeComputer()
    settings = settings or load_settings(None, {"settle.mode": "off"})
    agent = Agent(policy, computer, gate or Gate([OnScreen()]), confirmer or RefuseConfirmer(),
                  TraceWriter(tmp_path / "trace"), settings)
    if stop:
        agent.stop.set()
    result = run_task("test task", agent)
    agent.trace.close()
    return result, computer


CLICK = {"action": "left_click", "coordinate": [10, 10]}


def test_script_runs_to_success_and_records_every_step(tmp_path: Path) -> None:
    result, fake = run(tmp_path, ScriptedPolicy(acts(CLICK, {"action": "type", "text": "hé"})))
    assert result.status == "success" and result.exit_code == 0 and result.steps == 3
    assert fake.calls == [("click", (10, 10), "left", 1), ("type", "hé")]
    trace = read_trace(tmp_path / "trace")
    assert [s.outcome.status for s in trace.steps] == ["executed", "executed", "final"]
    assert trace.end.status == "success" and trace.header.screen.width == 1280
    assert {"capture", "decide", "gate", "execute", "trace"} <= set(trace.steps[0].timings_ms)


def test_terminate_failure_is_exit_1(tmp_path: Path) -> None:
    result, _ = run(tmp_path, ScriptedPolicy(acts({"action": "terminate", "status": "failure"})))
    assert result.status == "failure" and result.exit_code == 1


def test_off_screen_click_is_denied_and_never_executed(tmp_path: Path) -> None:
    off = {"action": "left_click", "coordinate": [5000, 10]}
    result, fake = run(tmp_path, ScriptedPolicy(acts(CLICK, off, CLICK)))
    assert result.status == "denied" and result.exit_code == 1
    assert fake.calls == [("click", (10, 10), "left", 1)]
    step = read_trace(tmp_path / "trace").steps[1]
    assert step.verdict.rule == "on_screen" and step.outcome.status == "denied"


def test_dry_run_executes_nothing(tmp_path: Path) -> None:
    settings = load_settings(None, {"settle.mode": "off", "safety.dry_run": True})
    result, fake = run(tmp_path, ScriptedPolicy(acts(CLICK, {"action": "key", "keys": ["enter"]})), settings=settings)
    assert result.status == "success" and fake.calls == []
    assert [s.outcome.status for s in read_trace(tmp_path / "trace").steps][:2] == ["dry_run", "dry_run"]


def test_max_steps(tmp_path: Path) -> None:
    settings = load_settings(None, {"settle.mode": "off", "loop.max_steps": 2})
    result, fake = run(tmp_path, ScriptedPolicy(acts(CLICK, CLICK, CLICK)), settings=settings)
    assert result.status == "max_steps" and result.exit_code == 1 and len(fake.calls) == 2


def test_stop_before_start_is_cancelled(tmp_path: Path) -> None:
    result, fake = run(tmp_path, ScriptedPolicy(acts(CLICK)), stop=True)
    assert result.status == "cancelled" and result.exit_code == 3 and fake.calls == []
    assert read_trace(tmp_path / "trace").end.status == "cancelled"


class Broken(FakeComputer):
    def click(self, at, button, count):  # type: ignore[override]
        raise OSError("X connection lost")


def test_a_failing_executor_ends_with_error(tmp_path: Path) -> None:
    result, _ = run(tmp_path, ScriptedPolicy(acts(CLICK, CLICK)), computer=Broken())
    assert result.status == "error" and "X connection lost" in result.reason and result.steps == 1


class Babbler:
    """A model-like policy whose answers never parse."""

    name, scripted = "babbler", False

    def __init__(self) -> None:
        self.seen_feedback: list[str] = []

    def decide(self, task: str, shot, history: Sequence[StepRecord]) -> Decision:
        self.seen_feedback = [s.feedback for s in history]
        return Decision(action=None, raw_text="I think I will click", error="no tool call found")


def test_unusable_answers_are_fed_back_then_end_with_error(tmp_path: Path) -> None:
    policy = Babbler()
    result, _ = run(tmp_path, policy)
    assert result.status == "error" and result.steps == 3
    assert len(policy.seen_feedback) == 2 and "no tool call found" in policy.seen_feedback[0]
    assert read_trace(tmp_path / "trace").steps[0].raw_text == "I think I will click"


class AskEverything:
    name = "ask"

    def check(self, action, shot):
        return Verdict("confirm", self.name, "testing")


class Yes:
    def ask(self, action, verdict, shot) -> bool:
        return True


@pytest.mark.parametrize(("confirmer", "status", "calls"), [(None, "denied", 0), (Yes(), "success", 1)])
def test_confirm_goes_to_the_confirmer_which_refuses_by_default(tmp_path, confirmer, status, calls) -> None:
    result, fake = run(tmp_path, ScriptedPolicy(acts(CLICK)), gate=Gate([AskEverything()]), confirmer=confirmer)
    assert result.status == status and len(fake.calls) == calls


class Exploding:
    name = "exploding"

    def check(self, action, shot):
        raise RuntimeError("bug")


def test_a_broken_rule_denies(tmp_path: Path) -> None:
    result, fake = run(tmp_path, ScriptedPolicy(acts(CLICK)), gate=Gate([OnScreen(), Exploding()]))
    assert result.status == "denied" and fake.calls == []


class ServerDown:
    name, scripted = "down", False

    def decide(self, task, shot, history):
        raise ConnectionError("http://127.0.0.1:8000/v1: connection refused after 3 retries")


def test_a_failing_policy_ends_with_error_and_a_closed_trace(tmp_path: Path) -> None:
    result, fake = run(tmp_path, ServerDown())
    assert result.status == "error" and "connection refused" in result.reason and fake.calls == []
    assert read_trace(tmp_path / "trace").end.status == "error"


class ScreenGone(FakeComputer):
    def __init__(self) -> None:
        super().__init__()
        self.shots = 0

    def screenshot(self):
        self.shots += 1
        if self.shots > 1:
            raise OSError("X server went away")
        return super().screenshot()


def test_a_broken_desktop_mid_run_still_ends_the_trace(tmp_path: Path) -> None:
    result, _ = run(tmp_path, ScriptedPolicy(acts(CLICK, CLICK)), computer=ScreenGone())
    assert result.status == "error" and "X server went away" in result.reason and result.steps == 1
    trace = read_trace(tmp_path / "trace")
    assert trace.end.status == "error" and len(trace.steps) == 1


class Counting:
    def __init__(self) -> None:
        self.asked = 0

    def ask(self, action, verdict, shot) -> bool:
        self.asked += 1
        return False


def test_dry_run_records_who_would_be_asked_without_asking(tmp_path: Path) -> None:
    settings = load_settings(None, {"settle.mode": "off", "safety.dry_run": True})
    confirmer = Counting()
    result, fake = run(tmp_path, ScriptedPolicy(acts(CLICK)), settings=settings, gate=Gate([AskEverything()]),
                       confirmer=confirmer)
    assert result.status == "success" and fake.calls == [] and confirmer.asked == 0
    step = read_trace(tmp_path / "trace").steps[0]
    assert step.outcome.status == "dry_run" and "would need confirmation" in step.outcome.detail


def test_settle_mode_events_without_drawing_notices_stops_before_the_first_action(tmp_path: Path) -> None:
    settings = load_settings(None, {"settle.mode": "events"})
    result, fake = run(tmp_path, ScriptedPolicy(acts(CLICK)), settings=settings)
    assert (result.status, result.steps, fake.calls) == ("error", 0, [])
    assert "settle.mode: events needs the X DAMAGE extension" in result.reason and "\n" not in result.reason
    assert read_trace(tmp_path / "trace").end.status == "error"
