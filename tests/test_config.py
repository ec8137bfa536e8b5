"""config.yaml documents every default; bad settings are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


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
        ("- 1\n", "mapping"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert fragment in str(err.value) and "\n" not in str(err.value) and str(path) in str(err.value)


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        Settings().loop.max_steps = 3  # type: ignore[misc]
