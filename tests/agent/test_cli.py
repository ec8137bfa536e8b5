"""The CLI's exit codes and one-line errors, without a display."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize("with_config", [False, True])
def test_bad_flag_is_blamed_on_the_flag(tmp_path: Path, with_config: bool) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("steps:\n  - {action: wait, time: 0}\n")
    config = tmp_path / "c.yaml"
    config.write_text("loop:\n  max_steps: 5\n")
    args = ["--config", str(config)] if with_config else []
    proc = deskpilot("replay", str(script), "--max-steps", "0", *args, cwd=tmp_path)
    assert_one_line_error(proc, 2, "deskpilot: --max-steps: loop.max_steps: Input should be greater than")
    assert "c.yaml" not in proc.stderr and "defaults" not in proc.stderr


def test_broken_config_yaml_names_line_and_column(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("steps:\n  - {action: wait, time: 0}\n")
    config = tmp_path / "c.yaml"
    config.write_text("loop:\n  max_steps: [5\n")
    proc = deskpilot("replay", str(script), "--config", str(config), cwd=tmp_path)
    assert_one_line_error(proc, 2, f"{config}: not valid YAML at line 3, column 1: ")


def test_not_a_trace(tmp_path: Path) -> None:
    assert_one_line_error(deskpilot("replay", str(tmp_path)), 2, "trace")


@pytest.mark.parametrize("backend", ["pyautogui", "pynput"])
def test_no_display_is_a_clear_error(tmp_path: Path, backend: str) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("steps:\n  - {action: wait, time: 0}\n")
    proc = deskpilot("replay", str(script), "--executor", backend, "--trace-dir", str(tmp_path / "t"))
    assert_one_line_error(proc, 2, "display")


def test_cancel_with_a_malformed_id_is_a_usage_error() -> None:
    assert_one_line_error(deskpilot("cancel", "zzz"), 2, "'zzz' is not a task id (8 hex digits")


def small_trace(tmp_path: Path) -> Path:
    from trace_helpers import ui_image, write_trace

    screen = ui_image((320, 200), {"OK": (100, 100)})
    steps = [({"action": "left_click", "coordinate": [100, 100]}, screen, {}),
             ({"action": "terminate", "status": "success"}, screen, {})]
    return write_trace(tmp_path / "trace", "press OK", steps)


@pytest.mark.parametrize("args", [("report", "{trace}", "--out", "/nonexistent/dir/x.html"),
                                  ("report", "{trace}", "--out", "{tmp}"),
                                  ("export", "{trace}", "--out", "{tmp}"),
                                  ("export", "{trace}", "--out", "/proc/x/y.jsonl")])
def test_an_output_path_that_cannot_be_written_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    trace = small_trace(tmp_path)
    proc = deskpilot(*(a.format(trace=trace, tmp=tmp_path) for a in args))
    assert_one_line_error(proc, 2, "deskpilot: cannot write ")


@pytest.mark.parametrize("command", ["report", "export", "script-from", "replay"])
@pytest.mark.parametrize(("line", "number", "fragment"), [
    (0, 1, "no deskpilot trace header"),
    (1, 2, "line 2: `outcome` must be an object or null, not a list"),
])
def test_a_malformed_trace_is_one_line_naming_the_line(tmp_path: Path, command: str, line: int, number: int,
                                                        fragment: str) -> None:
    trace = small_trace(tmp_path)
    lines = (trace / "trace.jsonl").read_text().splitlines()
    lines[line] = "[1,2]" if line == 0 else lines[line].replace('"outcome":{', '"outcome":[1],"was":{')
    (trace / "trace.jsonl").write_text("\n".join(lines) + "\n")
    extra = ("--out", str(tmp_path / "d.jsonl")) if command == "export" else ()
    assert_one_line_error(deskpilot(command, str(trace), *extra), 2, fragment)
    assert not (tmp_path / "d.jsonl").exists()
