"""`deskpilot script-from TRACE`: a recorded trace as a task script, typed literals as {{vars}}."""

from __future__ import annotations

from pathlib import Path

import pytest
from trace_helpers import ui_image, write_trace

from agent.cli.main import main
from agent.traces.script_from import script_from_trace
from agent.traces.store import read_trace
from policies.scripted.script_file import ScriptError, load_script

SCREEN = ui_image((320, 200))


def trace(tmp_path: Path, *steps: tuple[dict, dict], task: str = "log in: as 'bob'") -> Path:
    return write_trace(tmp_path / "t", task, [(action, SCREEN, extra) for action, extra in steps])


def test_vars_replace_typed_literals_and_the_script_loads(tmp_path: Path) -> None:
    path = trace(tmp_path,
                 ({"action": "left_click", "coordinate": [10, 20]}, {}),
                 ({"action": "type", "text": "bob@example.org"}, {}),
                 ({"action": "key", "keys": ["tab"]}, {}),
                 ({"action": "type", "text": "hunter2 for bob"}, {}),
                 ({"action": "left_click", "coordinate": [300, 190]}, {"outcome": {"status": "denied", "detail": "x"}}),
                 ({"action": "terminate", "status": "success"}, {}))
    text = script_from_trace(read_trace(path), ["user=bob", "password=hunter2"])
    (tmp_path / "task.yaml").write_text(text, encoding="utf-8")
    assert "  - {action: left_click, coordinate: [10, 20]}" in text  # one readable line per step
    script = load_script(tmp_path / "task.yaml")
    assert script.task == "log in: as 'bob'"
    assert [s.action for s in script.steps] == ["left_click", "type", "key", "type"]  # no denied step, no terminate
    assert script.steps[1].text == "bob@example.org" and script.steps[3].text == "hunter2 for bob"
    other = load_script(tmp_path / "task.yaml", {"user": "eve", "password": "s3cret"})
    assert other.steps[1].text == "eve@example.org" and other.steps[3].text == "s3cret for eve"


def test_a_literal_that_was_never_typed_is_an_error(tmp_path: Path) -> None:
    path = trace(tmp_path, ({"action": "type", "text": "hello"}, {}))
    with pytest.raises(ScriptError, match="'bye' was never typed"):
        script_from_trace(read_trace(path), ["x=bye"])
    with pytest.raises(ScriptError, match="NAME=VALUE"):
        script_from_trace(read_trace(path), ["1x=hello"])


def test_typed_text_that_looks_like_a_placeholder_is_refused(tmp_path: Path) -> None:
    path = trace(tmp_path, ({"action": "type", "text": "{{ not_a_var }}"}, {}))
    with pytest.raises(ScriptError, match="placeholder"):
        script_from_trace(read_trace(path))


def test_the_cli_prints_the_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = trace(tmp_path, ({"action": "double_click", "coordinate": [5, 6]}, {}))
    assert main(["script-from", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Task script made by `deskpilot script-from`") and "double_click" in out
    assert main(["script-from", str(path), "--var", "a=zzz"]) == 2
