"""Traces: durable line by line; readable after a crash; a torn last line is tolerated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actions.fake import FakeComputer
from agent.trace import MAX_PENDING, TRACE_FILE, TraceError, TraceWriter, read_trace

ROOT = Path(__file__).resolve().parent.parent


def test_write_and_read_back(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "t")
    writer.header(task="demo", screen={"width": 1280})
    writer.step(1, {"action": {"action": "wait", "time": 0}}, FakeComputer().screenshot())
    writer.end(status="success")
    assert (tmp_path / "t" / "step-0001.png").stat().st_size > 0  # on disk before the end line
    writer.close()
    trace = read_trace(tmp_path / "t")
    assert trace.header["schema"] == "deskpilot.trace" and trace.header["task"] == "demo"
    assert trace.steps[0]["screenshot"] == "step-0001.png"
    assert (tmp_path / "t" / "step-0001.png").stat().st_size > 0
    assert "trace" in trace.steps[0]["timings_ms"] and trace.end["status"] == "success"


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path)
    writer.header(task="x")
    writer.step(1, {"action": None}, None)
    writer.close()
    with open(tmp_path / TRACE_FILE, "a") as f:
        f.write('{"type": "step", "ind')
    trace = read_trace(tmp_path)
    assert trace.torn and len(trace.steps) == 1 and trace.end is None


@pytest.mark.parametrize(("content", "fragment"), [("", "header"), ('{"type":"step"}\n', "header"),
                                                    ('{"type":"header"}\nnot json\n{}\n', "line 2")])
def test_not_a_trace(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / TRACE_FILE).write_text(content)
    with pytest.raises(TraceError, match=fragment):
        read_trace(tmp_path)


WRITER = """
import sys, time
from actions.fake import FakeComputer
from agent.trace import TraceWriter
w = TraceWriter(sys.argv[1])
w.header(task="crash")
shot = FakeComputer().screenshot()
for i in range(1, 10_000):
    w.step(i, {"action": {"action": "wait", "time": 0}}, shot)
    print(i, flush=True)
"""


def test_sigkill_loses_no_finished_step(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "t")], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    assert proc.stdout is not None
    finished = 0
    deadline = time.time() + 30
    while finished < 5 and time.time() < deadline:
        finished = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    trace = read_trace(tmp_path / "t")
    assert len(trace.steps) >= finished >= 5
    # lines are written on the loop thread; only the last few images can still be in the queue
    present = [(tmp_path / "t" / step["screenshot"]).exists() for step in trace.steps]
    assert all(present[: -(MAX_PENDING + 1)]), present
    assert all(json.loads(line) for line in (tmp_path / "t" / TRACE_FILE).read_text().splitlines()[:-1])


class Unwritable:
    """A screenshot whose image cannot be produced (as with a full disk)."""

    @property
    def image(self):
        raise OSError("No space left on device")


def test_a_failed_screenshot_is_reported_in_the_end_line_and_the_run_goes_on(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "t")
    writer.header(task="x")
    writer.step(1, {"action": None}, Unwritable())  # type: ignore[arg-type]
    writer.step(2, {"action": None}, FakeComputer().screenshot())
    writer.end(status="success")
    writer.close()
    trace = read_trace(tmp_path / "t")
    assert len(trace.steps) == 2 and (tmp_path / "t" / "step-0002.png").exists()
    assert trace.end["screenshot_errors"] == ["step-0001.png: No space left on device"]
