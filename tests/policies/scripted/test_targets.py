"""Natural-language targets in task scripts: checked at load, grounded at run time, recorded in the trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.fake import FakeComputer
from actions.geometry import Monitor, Point, Screenshot
from actions.schema import LeftClick, LeftClickDrag, Scroll, Type
from agent.cli import main as cli
from agent.config import load_settings
from agent.errors import EnvironmentProblem
from agent.run.runner import execute
from agent.traces.lines import Origin
from agent.traces.store import read_trace
from policies.grounding import GroundingError, Targeted
from policies.qwen.messages import ModelReply, ModelRequest
from policies.qwen.policy import QwenPolicy
from policies.scripted.policy import ScriptedPolicy
from policies.scripted.script_file import ScriptError, load_script

SCRIPT = """
task: save the {{doc}}
vars: {doc: report}
steps:
  - {action: left_click, target: "the Save button of the {{doc}}"}
  - {action: type, text: "hello"}
  - {action: scroll, pixels: -3, target: "the file list"}
  - {action: left_click_drag, start_coordinate: [5, 5], target: "the trash can"}
"""


def write(tmp_path: Path, text: str = SCRIPT) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class Points:
    """A grounder that answers from a table and records what it was asked."""

    def __init__(self, table: dict[str, Point]) -> None:
        self.table, self.asked = table, []

    def ground(self, target: str, shot: Screenshot) -> Point:
        self.asked.append((target, shot.size))
        if target not in self.table:
            raise GroundingError(f"could not locate {target!r}")
        return self.table[target]


def test_targets_load_as_targeted_steps_with_placeholders_filled(tmp_path: Path) -> None:
    script = load_script(write(tmp_path))
    first, second, third, fourth = script.steps
    assert first == Targeted("left_click", (), "the Save button of the report")
    assert second == Type(text="hello")
    assert third == Targeted("scroll", (("pixels", -3),), "the file list")
    assert fourth.resolve((40, 50)) == LeftClickDrag(start_coordinate=(5, 5), coordinate=(40, 50))
    assert third.resolve((1, 2)) == Scroll(pixels=-3, coordinate=(1, 2))


@pytest.mark.parametrize(("step", "fragment"), [
    ('{action: type, text: hi, target: "the box"}', "takes no coordinate"),
    ('{action: left_click, target: "x", coordinate: [1, 2]}', "either a target or a coordinate"),
    ('{action: left_click, target: ""}', "non-empty"),
    ("{action: left_click, target: [1, 2]}", "non-empty"),
    ('{action: scroll, target: "the list"}', "pixels"),
    ('{action: left_click, target: "x", button: left}', "button"),
])
def test_bad_targeted_steps_fail_at_load_naming_the_step(tmp_path: Path, step: str, fragment: str) -> None:
    path = write(tmp_path, f"steps:\n  - {{action: wait, time: 0}}\n  - {step}\n")
    with pytest.raises(ScriptError, match=fragment) as info:
        load_script(path)
    assert "step 2" in str(info.value) and "\n" not in str(info.value)


def test_grounded_points_are_used_and_recorded(tmp_path: Path) -> None:
    script = load_script(write(tmp_path))
    grounder = Points({"the Save button of the report": (100, 200), "the file list": (300, 400),
                       "the trash can": (500, 600)})
    policy = ScriptedPolicy(script.steps, "task.yaml", grounder)
    computer = FakeComputer(monitor=Monitor(0, 0, 1280, 800))
    settings = load_settings(None, {"settle.mode": "off", "trace.dir": str(tmp_path / "t"), "loop.max_steps": 10})
    report = execute(script.task, policy, settings, Origin(source="task.yaml"), computer)
    assert report.result.status == "success"
    assert [c for c in computer.calls if c[0] != "close"] == [
        ("click", (100, 200), "left", 1), ("type", "hello"), ("scroll", (300, 400), 0, -3),
        ("drag", (5, 5), (500, 600)),
    ]
    assert [a for a, _ in grounder.asked] == list(policy.targets) and grounder.asked[0][1] == (1280, 800)
    steps = read_trace(report.trace_dir).steps
    assert steps[0].policy == {"script_step": 1, "target": "the Save button of the report", "grounded": [100, 200]}
    assert steps[0].action == {"action": "left_click", "coordinate": [100, 200]}
    assert "target" not in steps[1].policy


def test_a_target_that_cannot_be_found_ends_the_script_with_error(tmp_path: Path) -> None:
    policy = ScriptedPolicy(load_script(write(tmp_path)).steps, "task.yaml", Points({}))
    settings = load_settings(None, {"settle.mode": "off", "trace.dir": str(tmp_path / "t")})
    report = execute("t", policy, settings, computer=FakeComputer())
    assert report.result.status == "error"
    assert "could not locate 'the Save button of the report'" in report.result.reason
    assert report.result.steps == 1


def test_targets_without_a_grounder_fail_before_the_first_step(tmp_path: Path) -> None:
    policy = ScriptedPolicy(load_script(write(tmp_path)).steps, "task.yaml")
    assert policy.targets[0] == "the Save button of the report"
    with pytest.raises(ScriptError, match="no model is configured"):
        policy.decide("t", FakeComputer().screenshot(), [])
    computer = FakeComputer()  # the loop ends such a run itself, with the reason, before any input
    report = execute("t", policy, load_settings(None, {"trace.dir": str(tmp_path / "t")}), computer=computer)
    assert report.result.status == "error" and "no model is configured" in report.result.reason
    assert report.result.steps == 0 and not [c for c in computer.calls if c[0] != "close"]


def test_scripts_without_targets_need_no_grounder(tmp_path: Path) -> None:
    policy = ScriptedPolicy([LeftClick(coordinate=(1, 1))])
    assert policy.targets == () and policy.decide("t", FakeComputer().screenshot(), []).action == LeftClick(
        coordinate=(1, 1))


class ModelSaying:
    name = "fake"

    def __init__(self, text: str) -> None:
        self.text, self.requests = text, []

    def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        return ModelReply(self.text)

    def close(self) -> None:
        pass


def test_the_qwen_policy_grounds_targets_in_resized_space(tmp_path: Path) -> None:
    """1366x768 is resized to 1316x728: the model's point is mapped back before the click."""
    backend = ModelSaying('<tool_call>\n{"name": "computer_use", "arguments": '
                          '{"action": "left_click", "coordinate": [658, 364]}}\n</tool_call>')
    path = write(tmp_path, 'steps:\n  - {action: double_click, target: "the OK button"}\n')
    policy = ScriptedPolicy(load_script(path).steps, str(path), QwenPolicy(backend))
    computer = FakeComputer(monitor=Monitor(0, 0, 1366, 768))
    settings = load_settings(None, {"settle.mode": "off", "trace.dir": str(tmp_path / "t")})
    assert execute("t", policy, settings, computer=computer).result.status == "success"
    assert ("click", (683, 384), "left", 2) in computer.calls
    assert backend.requests[0].messages[1].parts[0].image.size == (1316, 728)


def test_cli_replay_of_a_script_with_targets_and_no_usable_model_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_model(settings: object, backend: object = None) -> QwenPolicy:
        raise EnvironmentProblem("the transformers backend needs the model extra: pip install 'deskpilot[model]'")

    monkeypatch.setattr("agent.run.policy_factory.build_policy", no_model)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["replay", str(write(tmp_path)), "--no-daemon", "--trace-dir", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "targets ('the Save button of the report', ...) need a model" in err
    assert "deskpilot[model]" in err or "download it first" in err  # the model extra missing, or no model
    assert not (tmp_path / "t").exists()  # nothing ran
