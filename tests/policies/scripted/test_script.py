"""Task scripts: placeholders, validation of the whole script before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.schema import LeftClick, Type
from policies.scripted.script_file import ScriptError, load_script, parse_var


def write(tmp_path: Path, text: str, name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_vars_fill_text_and_coordinates(tmp_path: Path) -> None:
    path = write(tmp_path, """
task: greet {{name}}
vars: {name: World, x: 5}
steps:
  - {action: left_click, coordinate: ["{{x}}", 80]}
  - {action: type, text: "Hello {{ name }}!"}
""")
    script = load_script(path, {"name": "Zoë"})
    assert script.task == "greet Zoë"
    assert script.steps == (LeftClick(coordinate=(5, 80)), Type(text="Hello Zoë!"))


def test_json_scripts_work_too(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"steps": [{"action": "key", "keys": ["Return"]}]}), "task.json")
    assert load_script(path).steps[0].keys == ("enter",)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("steps:\n  - {action: type, text: 'Hi {{who}}'}\n", "step 1: missing variable 'who'"),
        ("steps:\n  - {action: wait, time: 1}\n  - {action: fly}\n", "step 2: unknown action 'fly'"),
        ("steps:\n  - {action: left_click, coordinate: [1]}\n", "step 1: coordinate"),
        ("steps: []\n", "non-empty list"),
        ("steps: [\n", "not valid YAML"),
        ("- just a list\n", "mapping"),
        ("stepz: []\n", "unknown top-level key 'stepz'"),
        ("steps:\n  - left_click\n", "step 1: a step must be a mapping"),
    ],
)
def test_invalid_scripts_name_file_step_and_reason(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScriptError) as err:
        load_script(path)
    message = str(err.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_a_bad_step_late_in_the_script_rejects_the_whole_script(tmp_path: Path) -> None:
    steps = "".join("  - {action: wait, time: 0}\n" for _ in range(9)) + "  - {action: key, keys: [warp]}\n"
    with pytest.raises(ScriptError, match="step 10"):
        load_script(write(tmp_path, "steps:\n" + steps))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="cannot read"):
        load_script(tmp_path / "nope.yaml")


def test_parse_var() -> None:
    assert parse_var("name=a=b") == ("name", "a=b")
    with pytest.raises(ScriptError):
        parse_var("no-equals")
    with pytest.raises(ScriptError):
        parse_var("1x=3")
