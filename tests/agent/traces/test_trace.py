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
from agent.traces.lines import VERSION, EndLine, Header, Outcome, Screen, StepLine
from agent.traces.store import MAX_PENDING, TRACE_FILE, TraceError, TraceWriter, read_trace

ROOT = Path(__file__).resolve().parents[3]


def test_write_and_read_back(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "t")
    writer.header(Header(task="demo", policy="scripted", screen=Screen(1280, 800)))
    writer.step(StepLine(1, {"action": "wait", "time": 0}, Outcome("executed")), FakeComputer().screenshot())
    writer.end(EndLine(status="success"))
    assert (tmp_path / "t" / "step-0001.png").stat().st_size > 0  # on disk before the end line
    writer.close()
    trace = read_trace(tmp_path / "t")
    assert trace.header.version == VERSION and trace.header.task == "demo"
    assert trace.steps[0].screenshot == "step-0001.png"
    assert (tmp_path / "t" / "step-0001.png").stat().st_size > 0
    assert "trace" in trace.steps[0].timings_ms and trace.end.status == "success"


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path)
    writer.header(Header(task="x", policy="scripted"))
    writer.step(StepLine(1, None, Outcome("invalid")), None)
    writer.close()
    with open(tmp_path / TRACE_FILE, "a") as f:
        f.write('{"type": "step", "ind')
    trace = read_trace(tmp_path)
    assert trace.torn and len(trace.steps) == 1 and trace.end is None


@pytest.mark.parametrize(("content", "fragment"), [("", "header"), ('{"type":"step"}\n', "header"),
                                                    ('{"type":"header"}\nnot json\n{}\n', "line 2"),
                                                    ('{"type":"header"}\n' + "[" * 100_000 + "]" * 100_000 + "\n{}\n",
                                                     "line 2 is not JSON")])  # deeper than json can follow
def test_not_a_trace(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / TRACE_FILE).write_text(content)
    with pytest.raises(TraceError, match=fragment):
        read_trace(tmp_path)


WRITER = """
import sys, time
from actions.fake import FakeComputer
from agent.traces.lines import Header, Outcome, StepLine
from agent.traces.store import TraceWriter
w = TraceWriter(sys.argv[1])
w.header(Header(task="crash", policy="scripted"))
shot = FakeComputer().screenshot()
for i in range(1, 10_000):
    w.step(StepLine(i, {"action": "wait", "time": 0}, Outcome("executed")), shot)
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
    present = [(tmp_path / "t" / step.screenshot).exists() for step in trace.steps]
    assert all(present[: -(MAX_PENDING + 1)]), present
    assert all(json.loads(line) for line in (tmp_path / "t" / TRACE_FILE).read_text().splitlines()[:-1])


class Unwritable:
    """A screenshot whose image cannot be produced (as with a full disk)."""

    @property
    def image(self):
        raise OSError("No space left on device")


def test_a_failed_screenshot_is_reported_in_the_end_line_and_the_run_goes_on(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "t")
    writer.header(Header(task="x", policy="scripted"))
    writer.step(StepLine(1, None, Outcome("invalid")), Unwritable())  # type: ignore[arg-type]
    writer.step(StepLine(2, None, Outcome("invalid")), FakeComputer().screenshot())
    writer.end(EndLine(status="success"))
    writer.close()
    trace = read_trace(tmp_path / "t")
    assert len(trace.steps) == 2 and (tmp_path / "t" / "step-0002.png").exists()
    assert trace.end.screenshot_errors == ("step-0001.png: No space left on device",)


def trace_lines(tmp_path: Path, *lines: str) -> Path:
    header = '{"type":"header","schema":"deskpilot.trace","version":1,"task":"x"}'
    (tmp_path / TRACE_FILE).write_text("\n".join((header, *lines)) + "\n")
    return tmp_path


@pytest.mark.parametrize(("line", "fragment"), [
    ('{"type":"step","index":1,"outcome":[1]}', "line 2: `outcome` must be an object or null, not a list"),
    ('{"type":"step","index":1,"action":"str"}', "line 2: `action` must be an object or null, not a string"),
    ('{"type":"step","index":1,"raw_text":5}', "line 2: `raw_text` must be a string or null, not an integer"),
    ('{"type":"step","index":1,"timings_ms":[1]}', "line 2: `timings_ms` must be an object or null, not a list"),
    ('{"type":"step","index":"1"}', "line 2: `index` must be an integer, not a string"),
    ('{"type":"step","index":true}', "line 2: `index` must be an integer, not a boolean"),
    ('{"type":"step"}', "line 2: a step line needs `index`"),
    ('{"type":"step","index":1,"policy":{"verify":[]}}', "line 2: `policy.verify` must be an object or null"),
    ('{"type":"step","index":1,"action":{"action":["left_click"]}}', "`action.action` must be a string"),
    ('{"type":"step","index":1,"outcome":{"status":7}}', "`outcome.status` must be a string or null"),
    ('[1,2]', "line 2: expected a JSON object, got a list"),
    ('{"type":3}', "line 2: `type` must be a string, not an integer"),
    ('{"type":"end","status":{}}', "line 2: `status` must be a string or null, not an object"),
    ('{"type":"step","index":1,"verdict":{"decision":"maybe"}}', "`verdict.decision` must be one of allow, confirm"),
    ('{"type":"header","schema":"deskpilot.trace","version":99}', "version 99 is newer than this deskpilot reads"),
])
def test_a_malformed_line_is_a_one_line_error_naming_the_file_and_line(tmp_path: Path, line: str,
                                                                        fragment: str) -> None:
    with pytest.raises(TraceError) as caught:
        read_trace(trace_lines(tmp_path, line, '{"type":"end","status":"success"}'))
    assert fragment in str(caught.value) and str(tmp_path / TRACE_FILE) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("header", "fragment"), [
    ('[1,2]', "no deskpilot trace header"), ('"header"', "no deskpilot trace header"),
    ('{"type":"header","schema":"deskpilot.trace","screen":[1]}', "line 1: `screen` must be an object"),
    ('{"type":"header","schema":"deskpilot.trace","screen":{"width":"wide"}}', "`screen.width` must be a number"),
])
def test_a_malformed_header_is_refused(tmp_path: Path, header: str, fragment: str) -> None:
    (tmp_path / TRACE_FILE).write_text(header + "\n")
    with pytest.raises(TraceError) as caught:
        read_trace(tmp_path)
    assert fragment in str(caught.value)


def test_nulls_and_unknown_fields_and_line_types_pass(tmp_path: Path) -> None:
    trace = read_trace(trace_lines(
        tmp_path,
        '{"type":"step","index":1,"action":null,"policy":null,"outcome":null,"raw_text":null,"new_field":[1]}',
        '{"type":"checkpoint","anything":[1,2]}',
        '{"type":"step","index":2,"action":{"action":"wait","time":1},"policy":{"verify":null}}',
        '{"type":"step","index":3,"ou',  # torn by a crash: still dropped
    ))
    assert [s.index for s in trace.steps] == [1, 2] and trace.torn
