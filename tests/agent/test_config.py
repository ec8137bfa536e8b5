"""config.yaml documents every default; bad settings are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_config_yaml_holds_exactly_the_defaults() -> None:
    assert load_settings(ROOT / "config.yaml") == Settings()


def test_every_setting_is_documented_in_config_yaml() -> None:
    import yaml

    data = yaml.safe_load((ROOT / "config.yaml").read_text())
    defaults = Settings().model_dump()
    assert set(data) == set(defaults)
    for section, values in defaults.items():
        assert set(data[section]) == set(values), section


def test_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("loop:\n  max_steps: 7\n")
    settings = load_settings(path, {"loop.max_steps": 9, "safety.dry_run": True, "trace.dir": None})
    assert settings.loop.max_steps == 9 and settings.safety.dry_run and settings.trace.dir == "traces"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("loop:\n  max_stepz: 3\n", "loop.max_stepz: Extra inputs are not permitted"),
        ("loop:\n  max_steps: -1\n", "loop.max_steps"),
        ("executor:\n  backend: xdotool\n", "executor.backend"),
        ("screens: {}\n", "screens"),
        ("loop: [\n", "not valid YAML"),
        ("loop: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested too deeply"),
        ("- 1\n", "mapping"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    path, message = _load_error(tmp_path, text)
    assert fragment in message and "\n" not in message and str(path) in message


@pytest.mark.parametrize(("text", "where"), [
    ("loop: [\n", "at line 2, column 1: while parsing a flow node: expected the node content"),
    ("loop:\n  max_steps: 3\n   bad: 4\n", "at line 3, column 7: mapping values are not allowed here"),
])
def test_broken_yaml_names_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path, message = _load_error(tmp_path, text)
    assert message.startswith(f"{path}: not valid YAML {where}") and "\n" not in message


def _load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    """(the config file written with `text`, the ConfigError message loading it gives)."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    return path, str(err.value)


@pytest.mark.parametrize("path_text", [None, "loop:\n  max_steps: 5\n"])
def test_a_bad_override_is_blamed_on_its_flag_not_the_config(tmp_path: Path, path_text: str | None) -> None:
    path = None
    if path_text is not None:
        path = tmp_path / "c.yaml"
        path.write_text(path_text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, {"loop.max_steps": 0}, {"loop.max_steps": "--max-steps"})
    assert str(err.value).startswith("--max-steps: loop.max_steps: Input should be greater than or equal to 1")
    with pytest.raises(ConfigError, match=r"^command line: loop\.max_steps: "):  # no origin given
        load_settings(path, {"loop.max_steps": 0})


def test_a_bad_file_value_is_still_blamed_on_the_file_when_another_key_is_overridden(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("loop:\n  max_steps: 0\n")
    with pytest.raises(ConfigError, match=rf"^{path}: loop\.max_steps: "):
        load_settings(path, {"loop.max_denials": 2}, {"loop.max_denials": "--max-denials"})


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        Settings().loop.max_steps = 3  # type: ignore[misc]
