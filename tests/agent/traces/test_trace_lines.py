"""Typed trace lines: every line round-trips, and a trace written before them still reads, replays and reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.gate import Verdict
from actions.schema import Key, LeftClick, Terminate, Type
from agent.replay.source import load_replay
from agent.traces.lines import EndLine, EventLine, Origin, Outcome, Screen, StepLine, line_from_json
from agent.traces.report import render
from agent.traces.script_from import script_from_trace
from agent.traces.store import read_trace

V1 = Path(__file__).resolve().parents[2] / "data" / "trace-v1"  # written by deskpilot at 2656d45 (schema 1)


@pytest.mark.parametrize("line", [
    Origin(source="task.yaml", model={"backend": "openai"}, daemon_task="t1", extra={"dialect": "qwen2.5-vl"})
    .header("do it", "qwen", Screen(1920, 1080, 1.0, {"left": 0, "top": 0, "width": 1920, "height": 1080})),
    StepLine(3, {"action": "left_click", "coordinate": [1, 2]}, Outcome("executed"),
             Verdict("confirm", "confirm_always", "asked", "approved"), "fb", {"decide": 2.5}, None, "text",
             {"coordinate": [0.1, 0.2]}, None, {"verify": {"result": "matched"}}, "step-0003.png", {"new": [1]}),
    StepLine(1, None, Outcome("invalid", "no tool call"), error="no tool call"),
    EventLine("paused", {"reason": "a key was pressed"}),
    EndLine("success", "terminate: success", 3, None, 1.5, "end.png", ("x.png: disk full",), {"ignored_events": 2}),
])
def test_every_line_round_trips_through_json(line: object) -> None:
    text = json.dumps(line.to_json())  # type: ignore[attr-defined]
    assert line_from_json(json.loads(text)) == line


def test_a_schema_1_trace_still_reads_replays_and_reports() -> None:
    trace = read_trace(V1)
    assert trace.header.version == 1 and trace.header.source == "fixture" and trace.header.screen is not None
    assert [s.outcome.status for s in trace.steps] == ["executed", "executed", "executed", "final"]
    assert trace.end is not None and trace.end.status == "success" and trace.end.screenshot is None
    task, policy = load_replay(V1)
    assert task.startswith("Say hello") and [type(a) for a in policy.steps] == [LeftClick, Type, Key, Terminate]
    page = render(trace)
    assert page.count('<section class="step ') == 4 and "Hello Zoë" in page
    assert "Hello {{name}}" in script_from_trace(trace, ["name=Zoë"])


def test_the_screen_after_a_step_is_the_next_screenshot_or_the_end_one(tmp_path: Path) -> None:
    from trace_helpers import ui_image, write_trace

    before, after = ui_image((200, 100), {"A": (50, 50)}), ui_image((200, 100), {"B": (150, 50)})
    path = write_trace(tmp_path / "t", "t", [({"action": "left_click", "coordinate": [50, 50]}, before, {}),
                                             ({"action": "left_click", "coordinate": [150, 50]}, before, {})],
                       end_image=after)
    trace = read_trace(path)
    assert trace.end is not None and trace.end.screenshot == "end.png" and (path / "end.png").is_file()
    assert trace.screenshot_after(trace.steps[0]) == path / "step-0002.png"
    assert trace.screenshot_after(trace.steps[1]) == path / "end.png"
    assert read_trace(V1).screenshot_after(read_trace(V1).steps[-1]) is None  # schema 1: never claimed
