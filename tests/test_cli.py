"""The CLI's exit codes and one-line errors, without a display."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def deskpilot(*args: str, cwd: Path = ROOT, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)}, timeout=60)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_unknown_command() -> None:
    assert_one_line_error(deskpilot("fly"), 2, "invalid choice")


def test_missing_script(tmp_path: Path) -> None:
    assert_one_line_error(deskpilot("replay", str(tmp_path / "none.yaml")), 2, "no such file")


def test_invalid_script(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("steps:\n  - {action: left_click}\n  - {action: explode}\n")
    assert_one_line_error(deskpilot("replay", str(path)), 2, "step 2: unknown action 'explode'")


def test_missing_var(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("steps:\n  - {action: type, text: '{{who}}'}\n")
    assert_one_line_error(deskpilot("replay", str(path)), 2, "missing variable 'who'")
    assert_one_line_error(deskpilot("replay", str(path), "--var", "bad"), 2, "NAME=VALUE")


def test_bad_config(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("steps:\n  - {action: wait, time: 0}\n")
    config = tmp_path / "c.yaml"
    config.write_text("loop:\n  max_steps: many\n")
    assert_one_line_error(deskpilot("replay", str(script), "--config", str(config)), 2, "loop.max_steps")


def test_not_a_trace(tmp_path: Path) -> None:
    assert_one_line_error(deskpilot("replay", str(tmp_path)), 2, "trace")


@pytest.mark.parametrize("backend", ["pyautogui", "pynput"])
def test_no_display_is_a_clear_error(tmp_path: Path, backend: str) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("steps:\n  - {action: wait, time: 0}\n")
    proc = deskpilot("replay", str(script), "--backend", backend, "--trace-dir", str(tmp_path / "t"))
    assert_one_line_error(proc, 2, "display")
