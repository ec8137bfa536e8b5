"""The CLI's small promises: --version, no abbreviated flags, unknown --var names, tables without None,
absolute trace paths, `deskpilot sandbox` and `deskpilot console` start and stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from display_helpers import display_skip_reason

from agent.bench.loop import print_settle
from agent.bench.model_cli import format_result
from agent.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[3]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and re.fullmatch(r"deskpilot \S+\n", capsys.readouterr().out)


@pytest.mark.parametrize("argv", [["run", "x", "--max-step", "3"], ["replay", "x.yaml", "--dry"],
                                  ["bench", "loop", "--step", "2"], ["report", "t", "--ou", "r.html"]])
def test_abbreviated_flags_are_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_every_parser_refuses_abbreviations() -> None:
    def walk(parser: object) -> list[object]:
        found = [parser]
        for action in getattr(parser, "_actions", []):
            if hasattr(action, "_name_parser_map"):  # a sub-command group
                for child in action.choices.values():
                    found += walk(child)
        return found

    parsers = walk(build_parser())
    assert len(parsers) > 15 and all(getattr(p, "allow_abbrev", True) is False for p in parsers)


def test_an_unknown_var_lists_the_scripts_variables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("vars: {name: World}\nsteps:\n  - {action: type, text: 'Hello {{name}} {{greeting}}'}\n")
    code = main(["replay", str(script), "--no-daemon", "--var", "nmae=Foo", "--var", "greeting=hi"])
    err = capsys.readouterr().err
    assert code == 2 and "no variable 'nmae'" in err and "its variables: greeting, name" in err
    assert err.count("\n") == 1


def test_bench_model_table_has_no_none() -> None:
    row = {"vision_ms": 1.0, "decode_ms_per_token": None}
    result = {"options": {"size": "tiny", "new_tokens": 4, "repeats": 2}, "device": "cpu", "dtype": "float32",
              "cells": [{"attn": "sdpa", "screen": "1x1", "max_pixels": 784, "model_image": "28x28",
                         "vision_tokens": 1, "variants": {"baseline": row, "prefix": {"vision_ms": 2.0}},
                         "ratios": {"prefix_cache_step_speedup": None}, "peak_gpu_mem_gib": None, "load_s": 1.0}]}
    text = format_result(result)
    assert "None" not in text and "nan" not in text and "peak GPU memory: - (no GPU)" in text


def test_bench_settle_is_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    print_settle({"screen": "1920x1080", "steps": 20, "fixed_ms": 1000, "events_wall_s": 1.5, "poll_wall_s": 2.5,
                  "fixed_wall_s": 21.0, "ratios": {"events": 14.0, "poll": 8.4}, "ratio": 14.0,
                  "events_steps_s": 1.0, "fixed_steps_s": 20.0, "step_ratios": {"events": 20.0},
                  "same_app_state": True})
    out = capsys.readouterr().out
    assert "{" not in out and re.search(r"fixed sleep\s+21\.00", out) and "same app state: yes" in out
    assert re.search(r"events \(X DAMAGE\)\s+1\.50\s+14\.00x\s+1\.00\s+20\.00x", out)
    assert re.search(r"poll \(captures until still\)\s+2\.50\s+8\.40x\n", out)


def _started(proc: subprocess.Popen[str], pattern: str, timeout: float = 60) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if match := re.search(pattern, line):
            return match
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"no {pattern!r}: {proc.communicate()}")


def test_console_command_serves_traces_with_its_token(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_RUNTIME_DIR": str(tmp_path)}  # no daemon there
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "console", "--trace-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        url = _started(proc, r"console: (http://127\.0\.0\.1:\d+/\?token=\S+)").group(1)
        with urllib.request.urlopen(url.replace("/?", "/api/traces?"), timeout=5) as reply:
            assert reply.status == 200 and b'"traces": []' in reply.read()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url.split("?")[0] + "api/traces", timeout=5)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


@pytest.mark.skipif(display_skip_reason() is not None, reason=display_skip_reason() or "")
def test_sandbox_command_starts_the_app_on_a_private_display(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if k != "DISPLAY"}, "PYTHONPATH": str(ROOT)}
    state = tmp_path / "state.json"
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "sandbox", "--xvfb", "--state", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        display = _started(proc, r"sandbox app running on DISPLAY=(:\d+)").group(1)
        assert '"ready": true' in state.read_text()
        shown = subprocess.run(["xdotool", "search", "--name", "deskpilot sandbox"], env={**env, "DISPLAY": display},
                               capture_output=True, text=True, timeout=10)
        assert shown.returncode == 0 and shown.stdout.strip()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
