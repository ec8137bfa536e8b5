"""The loop benchmarks run end to end on a small virtual screen and report every phase."""

from __future__ import annotations

import importlib.util

import pytest

from agent.bench import loop as bench_loop
from agent.config import load_settings
from agent.sandbox.xvfb import available

pytestmark = [pytest.mark.display, pytest.mark.skipif(bool(available()), reason=f"no Xvfb: {available()}")]


def test_bench_loop_reports_every_phase_and_the_preprocessing() -> None:
    result = bench_loop.bench_loop(load_settings(None), (1280, 720), 8)
    phases = result["phases"]
    for name in (*bench_loop.PHASES, "overhead_without_settle", "step_total_without_model"):
        assert phases[name]["n"] == 8 and phases[name]["p95_ms"] >= phases[name]["median_ms"] >= 0
    assert phases["execute"]["median_ms"] > 0 and phases["settle"]["median_ms"] > 0
    with_torch = {"capture_rgb_resize_pixel_values"} if importlib.util.find_spec("torch") else set()
    assert set(result["preprocessing"]) == {"capture", "capture_and_rgb", "capture_rgb_resize",
                                            "capture_rgb_resize_png_base64", "png_base64_full_frame", *with_torch}
    pre = result["preprocessing"]
    for name in with_torch:
        assert pre[name]["median_ms"] > 0


def test_bench_settle_compares_wall_times_and_app_state() -> None:
    result = bench_loop.bench_settle(load_settings(None), (1280, 720), 4, fixed_ms=400)
    assert result["same_app_state"] is True
    assert result["fixed_wall_s"] > 4 * 0.4 and result["ratio"] == result["ratios"]["events"] > 1
    assert set(result["ratios"]) == set(result["step_ratios"]) == {"events", "poll"}
    assert result["fixed_steps_s"] > 4 * 0.4 and result["events_steps_s"] <= result["events_wall_s"]
    for mode in ("events", "poll"):
        per_action = result[f"{mode}_per_action"]
        assert sum(s["n"] for s in per_action.values()) == 4 and per_action["left_click"]["settle_ms"] > 0


def test_stats() -> None:
    s = bench_loop.stat([5.0, 1.0, 3.0, 100.0, 2.0])
    assert s.median == 3.0 and s.p95 == 100.0 and s.n == 5
