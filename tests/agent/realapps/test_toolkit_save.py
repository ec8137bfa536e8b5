"""Unicode text typed into real editors and saved through each toolkit's own Save dialog, byte-exact on
disk: mousepad (GTK) and featherpad (Qt), each under openbox on a private Xvfb, driven through the real
runner (pyautogui, settle polling, gate, trace). Each editor starts once for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from realapps_helpers import Desktop, app_skip_reason, wait_until

from actions.schema import parse_action
from agent.config import load_settings
from agent.run.runner import execute
from agent.sandbox.launch import pointing_at
from policies.scripted.policy import ScriptedPolicy

pytestmark = pytest.mark.display
TEXT = "Grüße, Zoë — Łódź, Ærø, Ἀθῆναι, 東京 ✓\nsecond line: <b>&amp;</b> ~ | \\ @ /\n"
EDITORS = {"mousepad": ["mousepad"], "featherpad": ["featherpad"]}


@pytest.fixture(scope="module")
def desk() -> Iterator[Desktop]:
    reason = app_skip_reason()
    if reason:
        pytest.skip(reason)
    d = Desktop((1280, 800))
    yield d
    d.close()


@pytest.mark.parametrize("editor", sorted(EDITORS))
def test_unicode_text_saved_through_the_toolkits_save_dialog(desk: Desktop, editor: str, tmp_path: Path) -> None:
    if reason := app_skip_reason(editor):
        pytest.skip(reason)
    proc = desk.launch(EDITORS[editor])
    try:
        window = desk.window(cls=editor, timeout=60)
        desk.xdotool("windowactivate", "--sync", window, check=False)
        target = tmp_path / f"note-{editor}.txt"
        steps = [{"action": "type", "text": TEXT}, {"action": "key", "keys": ["ctrl", "s"]},
                 {"action": "wait", "time": 1.5},  # the dialog: opening it is not what this test proves
                 {"action": "key", "keys": ["ctrl", "a"]}, {"action": "type", "text": str(target)},
                 {"action": "wait", "time": 1.0}, {"action": "key", "keys": ["enter"]}]
        settings = load_settings(None, {"trace.dir": str(tmp_path / "traces"),
                                        "safety.limits.max_actions_per_minute": 0})
        with pointing_at(desk.display):
            report = execute(f"save a note in {editor}", ScriptedPolicy([parse_action(s) for s in steps]), settings)
        assert report.result.status == "success", report.result.reason
        wait_until(target.exists, 20, f"{editor} to write {target}")
        wait_until(lambda: target.read_bytes() == TEXT.encode(), 10, "the whole text on disk")
    finally:
        desk.stop(proc)
    assert target.read_bytes() == TEXT.encode()
