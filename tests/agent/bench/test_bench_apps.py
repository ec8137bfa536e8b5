"""The real-app settle benchmark: per action kind, events against polling, on a real GTK app (Mousepad under
openbox), and its summary: medians per kind, the actions that do not settle (terminate) left out."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from agent.bench import apps
from agent.config import load_settings
from agent.sandbox.xvfb import available


def step(settle: float | None, changed: bool) -> SimpleNamespace:
    timings = {"hover": 0.0} if settle is None else {"hover": 10.0, "settle": settle}
    return SimpleNamespace(timings_ms=timings, effect=SimpleNamespace(changed=changed))


def test_the_summary_takes_medians_per_kind_and_leaves_out_terminate() -> None:
    kinds = {"left_click": [step(30, True), step(50, True), step(500, False)], "terminate": [step(None, False)]}
    out = apps._summary(kinds)
    assert "terminate" not in out
    assert out["left_click"] == {"settle_ms": 50.0, "hover_ms": 10.0, "n": 3, "changed": 2}
    assert out["all"]["n"] == 3 and out["changed_only"] == {"settle_ms": 40.0, "n": 2}


MISSING = available() or next((f"{p} is not installed" for p in ("openbox", "mousepad", "xdotool", "xwininfo", "xprop")
                               if shutil.which(p) is None), None)


@pytest.mark.display
@pytest.mark.skipif(bool(MISSING), reason=str(MISSING))
def test_mousepad_settles_on_events_and_by_polling() -> None:
    result = apps.bench_apps(load_settings(None), (1280, 800), 1, ("mousepad",))
    for mode in ("ping", "events", "poll"):
        kinds = result["mousepad"][mode]
        assert kinds["type"]["changed"] == kinds["type"]["n"] == 2  # the typed text showed, both times
        assert kinds["all"]["n"] == 9 and kinds["changed_only"]["settle_ms"] > 0
