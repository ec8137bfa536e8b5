"""Settings: config.yaml (plus CLI overrides) → one validated, frozen `Settings` object.

Every section forbids unknown keys, so a typo is an error rather than a silent default. The CLI
builds the object once and passes it down; no other module reads config files or the environment.
`ConfigError` carries a one-line message naming the file, the key and the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actions.errors import DeskpilotError
from actions.files import MiB, check_expansion, read_input_text
from agent.console.config import ConsoleSettings
from agent.daemon.config import DaemonSettings
from agent.safety.config import SafetySettings

MAX_CONFIG_BYTES = 4 * MiB  # a config is a few kilobytes; more is not one
MAX_CONFIG_VALUES = 100_000  # values once YAML aliases are expanded (every section and rule list many times over)


class ConfigError(DeskpilotError, ValueError):
    """A bad config file or override; the message is one line."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScreenSettings(_Section):
    # auto: native Wayland when the session is Wayland (wlroots by its protocols), else X11; see actions.backends
    backend: Literal["auto", "x11", "wlroots", "gnome"] = "auto"
    # gnome only: auto = the xdg-desktop-portal when the session bus has it (consent), else mutter's own API
    gnome_via: Literal["auto", "mutter", "portal"] = "auto"
    monitor: int = Field(1, ge=0)
    scale: float = Field(1.0, gt=0, le=8)

    @field_validator("scale")
    @classmethod
    def _one_pixel_space(cls, scale: float) -> float:
        import sys

        if scale != 1.0 and sys.platform.startswith("linux"):
            raise ValueError(f"must be 1 on X11, not {scale:g}: X11 input and screen capture share one pixel "
                             "space, so any other value sends every click to the wrong place")
        return scale


class ExecutorSettings(_Section):
    backend: Literal["pyautogui", "pynput"] = "pyautogui"
    pause: float = Field(0.0, ge=0, le=5)
    scroll_pixels_per_click: int = Field(1, ge=1, le=1000)


class SettleSettings(_Section):
    mode: Literal["auto", "events", "poll", "fixed", "off"] = "auto"
    quiet_ms: int = Field(20, ge=1, le=1000)
    interval_ms: int = Field(25, ge=1, le=1000)
    stable_frames: int = Field(2, ge=1, le=20)
    effect_ms: int = Field(500, ge=0, le=60_000)
    ping: bool = True
    ping_quiet_ms: int = Field(40, ge=1, le=1000)
    ping_skip: list[str] = Field(default_factory=lambda: ["firefox", "firefox-esr", "thunderbird"])
    hover_first: bool = True
    hover_ms: int = Field(100, ge=0, le=5_000)
    timeout_ms: int = Field(2000, ge=0, le=60_000)
    change_threshold: float = Field(0.0, ge=0, le=1)
    caret_px: int = Field(3, ge=0, le=50)
    fixed_ms: int = Field(1000, ge=0, le=60_000)


class LoopSettings(_Section):
    max_steps: int = Field(50, ge=1, le=10_000)
    max_consecutive_errors: int = Field(3, ge=1, le=100)
    max_denials: int = Field(3, ge=1, le=100)


class TraceSettings(_Section):
    dir: str = "traces"
    png_compress_level: int = Field(1, ge=0, le=9)


DIALECT_NAMES = ("auto", "qwen2.5-vl", "qwen3-vl", "ui-tars-1.5", "gta1", "ui-venus-ground", "holo1.5")


ROLE_KEYS = ("backend", "name", "base_url", "dialect", "min_pixels", "max_pixels")


class RoleSettings(_Section):
    """`model.planner` or `model.grounder`: one model in one role (empty name: the role is not split off).

    The planner chooses each action and names its target in words; the grounder turns the words
    into a point. A planner with a name replaces the keys of the `model:` section it gives."""

    backend: Literal["transformers", "openai"] = "transformers"
    name: str = ""
    base_url: str = Field("http://127.0.0.1:8000/v1", pattern=r"^https?://")
    dialect: Literal[DIALECT_NAMES] = "auto"  # type: ignore[valid-type]
    min_pixels: int | None = Field(None, ge=28 * 28, le=16384 * 28 * 28)
    max_pixels: int | None = Field(None, ge=28 * 28, le=16384 * 28 * 28)


class ModelSettings(_Section):
    """The Qwen-VL-family policy: which backend, model and dialect, image budget, generation, loading."""

    backend: Literal["transformers", "openai"] = "transformers"
    name: str = Field("Qwen/Qwen2.5-VL-7B-Instruct", min_length=1)
    dialect: Literal[DIALECT_NAMES] = "auto"  # type: ignore[valid-type]
    base_url: str = Field("http://127.0.0.1:8000/v1", pattern=r"^https?://")
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    min_pixels: int | None = Field(None, ge=28 * 28, le=16384 * 28 * 28)
    max_pixels: int | None = Field(None, ge=28 * 28, le=16384 * 28 * 28)
    history_images: int = Field(1, ge=1, le=16)
    extended_actions: bool = False
    max_new_tokens: int = Field(256, ge=1, le=8192)
    think_tokens: int = Field(1024, ge=0, le=32768)
    temperature: float = Field(0.1, ge=0, le=2)
    top_p: float = Field(0.001, gt=0, le=1)
    top_k: int = Field(1, ge=0)
    repetition_penalty: float = Field(1.05, gt=0, le=10)
    request_timeout_s: float = Field(120.0, gt=0, le=3600)
    retries: int = Field(3, ge=0, le=10)
    device_map: str = "auto"
    dtype: Literal["bfloat16", "float16", "float32", "auto"] = "bfloat16"
    attn_implementation: Literal["auto", "flash_attention_2", "sdpa", "eager"] = "auto"
    decoding: Literal["free", "constrained"] = "free"
    jump_forward: bool = True
    prefix_cache: bool = True
    cuda_graphs: bool = True
    compile_decode: bool = False
    compile_cache_dir: str = ""
    resize_on_device: bool = True
    vision_attention: Literal["sdpa", "flex"] = "sdpa"
    planner: RoleSettings = RoleSettings()
    grounder: RoleSettings = RoleSettings()
    zoom: bool = False
    zoom_crop: float = Field(0.5, ge=0.05, le=1)

    @model_validator(mode="before")
    @classmethod
    def _planner_is_the_model(cls, data: Any) -> Any:
        """A named `planner` gives the agent model: each role key it sets replaces the section's own."""
        planner = data.get("planner") if isinstance(data, dict) else None
        if not isinstance(planner, dict) or not planner.get("name"):
            return data
        return {**data, **{key: planner[key] for key in ROLE_KEYS if key in planner}}

    @model_validator(mode="after")
    def _pixel_range(self) -> ModelSettings:
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) must not exceed max_pixels ({self.max_pixels})")
        return self


class RecordSettings(_Section):
    """`deskpilot record`: how a person's input becomes actions."""

    stop_key: str = "ctrl+alt+shift+e"
    double_click_ms: int = Field(400, ge=50, le=2000)
    drag_px: int = Field(5, ge=1, le=100)
    frame_interval_ms: int = Field(100, ge=10, le=2000)

    @field_validator("stop_key")
    @classmethod
    def _combo(cls, combo: str) -> str:
        from actions.rules import parse_combo

        parse_combo(combo)
        return combo


class ReplaySettings(_Section):
    """Replaying a trace: checking the screen around each target before acting."""

    verify: bool = True
    crop_px: int = Field(96, ge=16, le=512)
    match_threshold: float = Field(0.8, gt=0, le=1)
    search_radius_px: int = Field(240, ge=0, le=10_000)
    reground: bool = False


class Settings(_Section):
    screen: ScreenSettings = ScreenSettings()
    executor: ExecutorSettings = ExecutorSettings()
    settle: SettleSettings = SettleSettings()
    loop: LoopSettings = LoopSettings()
    trace: TraceSettings = TraceSettings()
    safety: SafetySettings = SafetySettings()
    model: ModelSettings = ModelSettings()
    daemon: DaemonSettings = DaemonSettings()
    console: ConsoleSettings = ConsoleSettings()
    record: RecordSettings = RecordSettings()
    replay: ReplaySettings = ReplaySettings()

    def summary(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_settings(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                  origins: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (YAML; None = defaults), apply dotted-key overrides, validate.

    An error in an overridden key is blamed on where the override came from: `origins[key]` (a
    flag such as "--max-steps"), else "command line", never on the file that did not say it.
    """
    source = str(path) if path is not None else "defaults"
    data = _read(Path(path)) if path is not None else {}
    given = {dotted: value for dotted, value in (overrides or {}).items() if value is not None}
    placed = {_planner_key(data, dotted): dotted for dotted in given}
    for where, dotted in placed.items():
        _set(data, where.split("."), given[dotted], source)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        blamed = next((dotted for where, dotted in placed.items()
                       if any(key == k or key.startswith(f"{k}.") for k in (where, dotted))), None)
        origin = source if blamed is None else (origins or {}).get(blamed, "command line")
        raise ConfigError(f"{origin}: {key}: {err['msg']}") from None


def _read(path: Path) -> dict[str, Any]:
    import yaml

    try:  # bounded: a FIFO or /dev/zero given as --config is refused, not read (actions.files)
        data = yaml.safe_load(read_input_text(path, MAX_CONFIG_BYTES))
        check_expansion(data, MAX_CONFIG_VALUES)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML{_where(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a config: nested too deeply to read") from None
    except ValueError as exc:  # check_expansion: aliases that multiply into more than a config holds
        raise ConfigError(f"{path}: not a config: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def _where(exc: Exception) -> str:
    """' at line L, column C: problem' (1-based, as editors count) for a YAML error, on one line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f": {first}"
    context = getattr(exc, "context", None)
    what = f"{context}: {problem}" if context else problem
    return f" at line {mark.line + 1}, column {mark.column + 1}: {' '.join(what.split())}"


def _planner_key(data: dict[str, Any], dotted: str) -> str:
    """Where an override of the agent model's `dotted` key goes: into `model.planner` when the file names one
    (the planner's keys win over the section's, so a flag such as --model must land there to count)."""
    model = data.get("model")
    planner = model.get("planner") if isinstance(model, dict) else None
    role, _, key = dotted.partition(".")
    if role == "model" and key in ROLE_KEYS and isinstance(planner, dict) and planner.get("name"):
        return f"model.planner.{key}"
    return dotted


def _set(data: dict[str, Any], keys: list[str], value: Any, source: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {key}: must be a mapping")
        node = child
    node[keys[-1]] = value
