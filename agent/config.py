"""Settings: config.yaml (plus CLI overrides) → one validated, frozen `Settings` object.

Every section forbids unknown keys, so a typo is an error rather than a silent default. The CLI
builds the object once and passes it down; no other module reads config files or the environment.
`ConfigError` carries a one-line message naming the file, the key and the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(ValueError):
    """A bad config file or override; the message is one line."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScreenSettings(_Section):
    monitor: int = Field(1, ge=0)
    scale: float = Field(1.0, gt=0, le=8)


class ExecutorSettings(_Section):
    backend: Literal["pyautogui", "pynput"] = "pyautogui"
    pause: float = Field(0.0, ge=0, le=5)
    scroll_pixels_per_click: int = Field(1, ge=1, le=1000)


class SettleSettings(_Section):
    enabled: bool = True
    interval_ms: int = Field(25, ge=1, le=1000)
    stable_frames: int = Field(2, ge=1, le=20)
    timeout_ms: int = Field(2000, ge=0, le=60_000)
    change_threshold: float = Field(0.0, ge=0, le=1)


class LoopSettings(_Section):
    max_steps: int = Field(50, ge=1, le=10_000)
    max_consecutive_errors: int = Field(3, ge=1, le=100)
    max_denials: int = Field(3, ge=1, le=100)


class TraceSettings(_Section):
    dir: str = "traces"
    png_compress_level: int = Field(1, ge=0, le=9)


class SafetySettings(_Section):
    dry_run: bool = False


class Settings(_Section):
    screen: ScreenSettings = ScreenSettings()
    executor: ExecutorSettings = ExecutorSettings()
    settle: SettleSettings = SettleSettings()
    loop: LoopSettings = LoopSettings()
    trace: TraceSettings = TraceSettings()
    safety: SafetySettings = SafetySettings()

    def summary(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_settings(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read `path` (YAML; None = defaults), apply dotted-key overrides, validate."""
    source = str(path) if path is not None else "defaults"
    data = _read(Path(path)) if path is not None else {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set(data, dotted.split("."), value, source)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        raise ConfigError(f"{source}: {key}: {err['msg']}") from None


def _read(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def _set(data: dict[str, Any], keys: list[str], value: Any, source: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {key}: must be a mapping")
        node = child
    node[keys[-1]] = value
