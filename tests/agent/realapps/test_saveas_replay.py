"""A Save-As demonstration in mousepad (GTK) replayed, with effect verification, to the same file; and the
same replay stopped with a report when the dialog never gets the Enter. The demonstration is a trace of the
save done once through the runner, ending as a person's recording does: after the dialog has gone (a wait
after the Enter). Each replay starts a fresh mousepad; the file is looked for while mousepad still runs
(GTK writes it a little after the dialog's response: stopping mousepad first loses it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from realapps_helpers import Desktop, app_skip_reason, wait_until

from actions.schema import parse_action
from agent.cli.main import main
from agent.config import load_settings
from agent.replay.verify import replay_trace
from agent.run.runner import execute
from agent.sandbox.launch import pointing_at
from agent.traces.store import read_trace
from policies.scripted.policy import ScriptedPolicy

SKIP = app_skip_reason("mousepad")
pytestmark = [pytest.mark.display, pytest.mark.skipif(bool(SKIP), reason=str(SKIP))]
TEXT = "Notiz für Zoë: Łódź ✓\n"


@pytest.fixture(scope="module")
def desk() -> Iterator[Desktop]:
    d = Desktop((1280, 800))
    yield d
    d.close()


@contextmanager
def mousepad(desk: Desktop) -> Iterator[None]:
    proc = desk.launch(["mousepad"])
    try:
        window = desk.window(cls="mousepad", timeout=60)
        desk.xdotool("windowactivate", "--sync", window, check=False)
        yield
    finally:
        desk.stop(proc)


@contextmanager
def enter_swallowed(display: str) -> Iterator[None]:
    """Another client grabs Return on the root window (as a hotkey daemon does): every Return press goes
    to it, so the dialog never sees the replay's Enter; all other keys still reach the dialog."""
    from Xlib import XK, X
    from Xlib.display import Display

    d = Display(display)
    root, code = d.screen().root, d.keysym_to_keycode(XK.string_to_keysym("Return"))
    root.grab_key(code, X.AnyModifier, False, X.GrabModeAsync, X.GrabModeAsync)
    d.sync()
    try:
        yield
    finally:
        root.ungrab_key(code, X.AnyModifier)
        d.close()


@pytest.fixture(scope="module")
def demonstration(desk: Desktop, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("saveas")
    target = tmp / "note.txt"
    steps = [{"action": "type", "text": TEXT}, {"action": "key", "keys": ["ctrl", "s"]},
             {"action": "wait", "time": 1.5}, {"action": "key", "keys": ["ctrl", "a"]},
             {"action": "type", "text": str(target)}, {"action": "wait", "time": 1.0},  # the path completes
             {"action": "key", "keys": ["enter"]}, {"action": "wait", "time": 1.0}]  # the dialog goes
    with mousepad(desk), pointing_at(desk.display):
        report = execute("save a note", ScriptedPolicy([parse_action(s) for s in steps]), settings(tmp))
        assert report.result.status == "success", report.result.reason
        wait_until(target.exists, 20, f"the demonstration to write {target}")
    assert target.read_bytes() == TEXT.encode()
    return report.trace_dir, target


def settings(tmp: Path):
    return load_settings(None, {"trace.dir": str(tmp / "traces"), "safety.limits.max_actions_per_minute": 0})


def test_the_demonstration_replays_to_the_same_file(desk: Desktop, demonstration: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    trace, target = demonstration
    target.unlink()
    with mousepad(desk), pointing_at(desk.display):
        report = replay_trace(trace, settings(tmp_path))
        assert report.result.status == "success", report.result.reason
        wait_until(target.exists, 20, "the replay to write the file")
    assert target.read_bytes() == TEXT.encode()
    checks = {e["step"]: e for s in read_trace(report.trace_dir).steps if (e := s.policy.get("effect"))}
    enter = next(s.index for s in read_trace(trace).steps if s.action.get("keys") == ["enter"])
    assert checks[enter]["result"] == "as recorded"  # seen: the dialog gone, the title naming the file


def test_a_swallowed_enter_stops_the_replay_with_a_report(desk: Desktop, demonstration: tuple[Path, Path],
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace, target = demonstration
    target.unlink(missing_ok=True)
    config = tmp_path / "config.yaml"
    config.write_text("safety:\n  limits:\n    max_actions_per_minute: 0\n")
    out = tmp_path / "traces"
    argv = ["replay", str(trace), "--no-daemon", "--quiet", "--config", str(config), "--trace-dir", str(out)]
    with mousepad(desk), pointing_at(desk.display), enter_swallowed(desk.display):
        code = main(argv)
        assert not target.exists()
    assert code == 1, capsys.readouterr()
    end = read_trace(next(out.iterdir())).end
    assert end is not None and end.status == "failure"
    enter = next(s.index for s in read_trace(trace).steps if s.action.get("keys") == ["enter"])
    assert end.reason.startswith(f"terminate: failure — step {enter} (key enter) did not have its recorded effect: "
                                 "the region [")
    assert "(x, y, w, h) should have changed as in the recording within" in end.reason
    assert "it still looks as it did before the step" in end.reason
    assert f"status: failure (terminate: failure — step {enter} (key enter)" in capsys.readouterr().out
