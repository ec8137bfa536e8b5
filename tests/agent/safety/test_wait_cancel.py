"""A `wait` step cut short by a cancel is recorded as cancelled (not `executed`), and the trace of a
run (in-process, through `execute`) is private: directories 0700, trace and screenshots 0600."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

from actions.fake import FakeComputer
from actions.schema import parse_action
from agent.config import load_settings
from agent.run.hooks import RunHooks
from agent.run.runner import execute
from agent.traces.store import read_trace
from policies.scripted.policy import ScriptedPolicy


def test_a_wait_cut_short_by_cancel_is_not_executed(tmp_path: Path) -> None:
    settings = load_settings(None, {"settle.mode": "off", "trace.dir": str(tmp_path / "traces")})
    steps = [parse_action({"action": "left_click", "coordinate": [5, 5]}), parse_action({"action": "wait", "time": 30}),
             parse_action({"action": "left_click", "coordinate": [6, 6]})]
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    report = execute("wait then cancel", ScriptedPolicy(steps), settings, computer=FakeComputer(),
                     hooks=RunHooks(stop=stop))
    assert time.monotonic() - started < 5
    trace = read_trace(report.trace_dir)
    wait = next(s for s in trace.steps if s.action and s.action.get("action") == "wait")
    assert wait.outcome.status != "executed" and "cancelled during the 30 s wait" in wait.outcome.detail
    assert report.result.status == "cancelled" and report.result.exit_code == 3
    assert trace.end is not None and trace.end.status == "cancelled"


def test_an_in_process_trace_is_private(tmp_path: Path) -> None:
    base = tmp_path / "new" / "traces"
    settings = load_settings(None, {"settle.mode": "off", "trace.dir": str(base)})
    report = execute("private", ScriptedPolicy([parse_action({"action": "left_click", "coordinate": [5, 5]})]),
                     settings, computer=FakeComputer())
    assert_private(Path(report.trace_dir))
    assert stat.S_IMODE(base.stat().st_mode) == 0o700  # created by the run: closed too


def assert_private(trace_dir: Path) -> None:
    assert stat.S_IMODE(trace_dir.stat().st_mode) == 0o700
    files = list(trace_dir.iterdir())
    assert any(f.suffix == ".png" for f in files) and any(f.name == "trace.jsonl" for f in files)
    modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
    assert set(modes.values()) == {"0o600"}, modes
