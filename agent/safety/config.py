"""The `safety:` section of config.yaml: gate rules, confirm mode, kill switch, takeover, limits, stuck.

Frozen pydantic models that forbid unknown keys, like every other section (`agent.config` imports
`SafetySettings` from here). Defaults are what a careful user would pick: destructive shell
commands, pipe-to-shell and secrets are denied; sudo, closing windows, long text and Enter into a
terminal are asked about; nobody asked means no. Every rule's verdict is allow | confirm | deny
("allow" switches the rule off).
Not for: building rules from these values (`agent.safety.assemble` does) or reading files (`agent.config`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from actions.rules import parse_combo

RuleVerdict = Literal["allow", "confirm", "deny"]
TERMINALS: tuple[str, ...] = (
    "xterm", "uxterm", "gnome-terminal", "gnome-terminal-server", "konsole", "xfce4-terminal", "terminator",
    "tilix", "alacritty", "kitty", "urxvt", "rxvt", "st", "st-256color", "wezterm", "org.wezfurlong.wezterm",
    "foot", "lxterminal", "mate-terminal", "qterminal", "terminology", "guake", "yakuake", "tilda", "sakura",
    "eterm", "termite", "cool-retro-term", "ptyxis", "org.gnome.ptyxis", "org.gnome.console", "kgx", "blackbox",
    "zutty", "contour", "rio", "ghostty", "com.mitchellh.ghostty",
)
DENY_HOTKEYS: tuple[str, ...] = (
    "ctrl+alt+delete", "ctrl+alt+backspace", "super+l", "ctrl+alt+l",
    *(f"ctrl+alt+f{i}" for i in range(1, 13)),
)
CONFIRM_HOTKEYS: tuple[str, ...] = (
    "alt+f4", "ctrl+q", "ctrl+w", "ctrl+shift+q", "ctrl+shift+w", "ctrl+alt+t", "alt+f2", "super+r",
    "shift+delete", "ctrl+shift+delete",
)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HotkeyLists(_Section):
    deny: tuple[str, ...] = DENY_HOTKEYS
    confirm: tuple[str, ...] = CONFIRM_HOTKEYS

    @field_validator("deny", "confirm")
    @classmethod
    def _combos(cls, combos: tuple[str, ...]) -> tuple[str, ...]:
        for combo in combos:
            parse_combo(combo)
        return combos


class CustomPattern(_Section):
    name: str = Field(min_length=1, max_length=60)
    pattern: str = Field(min_length=1)  # a Python regular expression; (?i) for case-insensitive
    verdict: RuleVerdict = "deny"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern


class TextRules(_Section):
    destructive: RuleVerdict = "deny"  # rm -r, mkfs, dd of=/dev/…, fork bombs, chmod -R 777 /
    privilege: RuleVerdict = "confirm"  # sudo, su, doas, pkexec
    pipe_to_shell: RuleVerdict = "deny"  # curl … | sh, bash <(wget …)
    secrets: RuleVerdict = "deny"  # private keys, cloud/API tokens, long random strings
    custom: tuple[CustomPattern, ...] = ()
    max_length: int = Field(500, ge=1, le=10_000)
    too_long: RuleVerdict = "confirm"


class TerminalEnterRule(_Section):
    verdict: RuleVerdict = "confirm"
    classes: tuple[str, ...] = TERMINALS  # WM_CLASS names (instance or class), case-insensitive


class RegionRule(_Section):
    verdict: RuleVerdict = "deny"
    rects: tuple[tuple[int, int, int, int], ...] = ()  # [x, y, width, height] in screen pixels

    @field_validator("rects")
    @classmethod
    def _positive(cls, rects: tuple[tuple[int, int, int, int], ...]) -> tuple[tuple[int, int, int, int], ...]:
        if any(w <= 0 or h <= 0 for _, _, w, h in rects):
            raise ValueError("every rect needs a positive width and height")
        return rects


class AppRule(_Section):
    allow: tuple[str, ...] = ()  # WM_CLASS names; empty = any application
    verdict: RuleVerdict = "deny"  # for input to any other window, or when the window cannot be told


class LimitSettings(_Section):
    max_wall_time_s: float = Field(1800.0, ge=0)  # 0 = no limit; status max_time
    max_actions_per_minute: int = Field(120, ge=0, le=100_000)  # 0 = no limit
    over_rate: Literal["wait", "deny"] = "wait"


class StuckSettings(_Section):
    apply_to: Literal["model", "all", "none"] = "model"  # scripts repeat actions on purpose
    repeat: int = Field(4, ge=2, le=100)  # the same action this many times in a row
    cycles: int = Field(3, ge=2, le=50)  # A-B-A-B… with this many A-B pairs
    no_change: int = Field(5, ge=2, le=100)  # this many actions in a row without a visible effect
    tolerance_px: int = Field(8, ge=0, le=200)


class TakeoverSettings(_Section):
    enabled: bool = True
    resume_hotkey: str = "ctrl+alt+shift+r"
    grace_ms: int = Field(150, ge=0, le=2000)  # how late the agent's own input events may arrive

    @field_validator("resume_hotkey")
    @classmethod
    def _combo(cls, combo: str) -> str:
        parse_combo(combo)
        return combo


class SafetySettings(_Section):
    dry_run: bool = False
    confirm: Literal["never", "risky", "always"] = "risky"
    confirm_timeout_s: float = Field(30.0, gt=0, le=3600)
    confirm_via: Literal["terminal", "console", "desktop"] = "terminal"  # where the person is asked
    kill_hotkey: str = "ctrl+alt+shift+k"
    hotkeys: HotkeyLists = HotkeyLists()
    text: TextRules = TextRules()
    terminal_enter: TerminalEnterRule = TerminalEnterRule()
    regions: RegionRule = RegionRule()
    apps: AppRule = AppRule()
    limits: LimitSettings = LimitSettings()
    stuck: StuckSettings = StuckSettings()
    takeover: TakeoverSettings = TakeoverSettings()

    @field_validator("kill_hotkey")
    @classmethod
    def _combo(cls, combo: str) -> str:
        parse_combo(combo)
        return combo

    @model_validator(mode="after")
    def _distinct_hotkeys(self) -> SafetySettings:
        if parse_combo(self.kill_hotkey) == parse_combo(self.takeover.resume_hotkey):
            raise ValueError("kill_hotkey and takeover.resume_hotkey must differ")
        return self
