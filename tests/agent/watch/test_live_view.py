"""The live step view: colour and a spinner on a pseudo-terminal, plain lines on a pipe, --json = the trace.

The display tests run `deskpilot demo` (its own Xvfb and sandbox app) as a person would: once with
stderr on a pseudo-terminal, once piped, once with --json.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from display_helpers import display_skip_reason

from actions.gate import Verdict
from agent.traces.lines import Effect, Outcome, StepLine
from agent.traces.store import TRACE_FILE
from agent.watch.text import Counts, step_text
from agent.watch.view import LiveView

ROOT = Path(__file__).resolve().parents[3]
ESC = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def line(index: int, status: str = "executed", decision: str = "allow", confirmation: str | None = None,
         verify: str | None = None, raw: str | None = None) -> StepLine:
    return StepLine(index=index, action={"action": "left_click", "coordinate": [10, 20]}, outcome=Outcome(status),
                    verdict=Verdict(decision, "text.privilege" if decision != "allow" else "default", "", confirmation),
                    timings_ms={"decide": 812.4, "execute": 3.1}, effect=Effect(True),
                    raw_text=raw, policy={"verify": {"result": verify}} if verify else {})


def test_a_step_line_says_what_a_person_needs() -> None:
    text = step_text(line(3, raw="I will click the Save button to keep the file.\n<tool_call>{}</tool_call>"))
    first, thought = text.splitlines()
    assert first.split()[:4] == ["3", "left_click", "coordinate=[10,20]", "allow"]
    assert "executed" in first and "changed" in first and "decide 812 · execute 3 ms" in first
    assert thought.strip() == "“I will click the Save button to keep the file.”"
    assert not ESC.search(text)
    coloured = step_text(line(4, "denied", "deny"), colour=True)
    assert "\x1b[31mdeny\x1b[0m (text.privilege)" in coloured and "\x1b[31mdenied" in coloured


def test_counts() -> None:
    counts = Counts()
    for step in (line(1), line(2, "denied", "deny"), line(3, confirmation="approved"), line(4, "failed"),
                 line(5, verify="moved"), line(6, "final", verify="diverged")):
        counts.add(step)
    assert counts.text() == "3 executed, 1 denied, 1 confirmed, 2 failed, 1 verified"


def test_the_summary_ends_with_the_absolute_trace_path(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    view = LiveView("plain", out, err)
    view.started(tmp_path)
    view.step(line(1))
    view.step(line(2, "denied", "deny"))
    assert view.finish("denied", "step 2 denied", 2, None, tmp_path, 1) == 1
    said = out.getvalue().splitlines()
    assert said[0] == "status: denied (step 2 denied); steps: 2"
    assert said[1].startswith("counts: 1 executed, 1 denied, 0 confirmed, 0 failed, 0 verified; wall time ")
    assert said[-2:] == [f"report: deskpilot report {tmp_path}", f"trace: {tmp_path}"]
    assert [x.split()[0] for x in err.getvalue().splitlines()[1:]] == ["1", "2"] and not ESC.search(err.getvalue())


def test_quiet_says_only_the_summary(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    view = LiveView("quiet", out, err)
    view.started(tmp_path)
    view.step(line(1))
    view.finish("success", "answered", 1, "42", tmp_path, 0)
    assert err.getvalue() == "" and "answer: 42" in out.getvalue()


def test_a_diverged_replay_names_the_ways_out(tmp_path: Path) -> None:
    out = io.StringIO()
    LiveView("quiet", out, io.StringIO()).finish("failure", "terminate: failure — step 1 (...) diverged: x", 1,
                                                  None, tmp_path, 1)
    assert "--no-verify" in out.getvalue() and "--reground" in out.getvalue()


display = pytest.mark.skipif(display_skip_reason() is not None, reason=display_skip_reason() or "")


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    return {**env, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}


def demo_cmd(tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", "demo", "--trace-dir", str(tmp / "t"), *extra]


@display
def test_on_a_terminal_steps_are_coloured_with_a_spinner(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(demo_cmd(tmp_path), stdin=terminal, stdout=subprocess.PIPE, stderr=terminal,
                            env=demo_env(), cwd=tmp_path)
    os.close(terminal)
    seen, deadline = b"", time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([controller], [], [], 0.2)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other side closed: the command ended
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    stdout = proc.communicate(timeout=30)[0].decode()
    os.close(controller)
    shown = seen.decode(errors="replace")
    assert proc.returncode == 0, shown + stdout
    assert "\x1b[32mexecuted\x1b[0m" in shown and "\x1b[1mleft_click coordinate=" in shown  # colour
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] step \d+: deciding", shown)  # the spinner, redrawn in place
    assert "\r\x1b[K" in shown
    assert "status: success" in stdout and not ESC.search(stdout)  # stdout is a pipe: no colour there


@display
def test_piped_steps_are_plain_lines(tmp_path: Path) -> None:
    proc = subprocess.run(demo_cmd(tmp_path), capture_output=True, text=True, env=demo_env(), cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not ESC.search(proc.stderr) and "\r" not in proc.stderr
    steps = [x for x in proc.stderr.splitlines() if x.lstrip()[:1].isdigit()]
    assert len(steps) == 10 and "left_click" in steps[0] and "executed" in steps[0]
    assert steps[-1].split()[:2] == ["10", "terminate"]
    trace = proc.stdout.split("trace: ", 1)[1].splitlines()[0]
    assert Path(trace).is_absolute() and f"report: deskpilot report {trace}" in proc.stdout
    assert "counts: 9 executed, 0 denied, 0 confirmed, 0 failed, 0 verified; wall time" in proc.stdout


@display
def test_json_is_the_trace_line_by_line(tmp_path: Path) -> None:
    proc = subprocess.run(demo_cmd(tmp_path, "--json"), capture_output=True, text=True, env=demo_env(),
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = [json.loads(x) for x in proc.stdout.splitlines()]
    trace = next((tmp_path / "t").iterdir())
    recorded = [json.loads(x) for x in (trace / TRACE_FILE).read_text().splitlines()]
    assert events == recorded
    assert [e["type"] for e in events] == ["header", *["step"] * 10, "end"]
