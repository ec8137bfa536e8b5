"""`deskpilot bench loop` and `bench settle`: what a step costs beside the model, measured.

`loop` runs a scripted task against the sandbox app on its own Xvfb of the given size, through
the real runner (gate, executor, settle, trace), and reports the median and p95 of every phase
from the trace, the overhead without settling, and — measured on the same frames — capture and
the model-side preprocessing (resize to W′×H′, PNG + base64 for an OpenAI-compatible server, with
the backend's own encoder; and PNG + base64 of the full captured frame).
`settle` runs the same script on fresh apps three times, settling on X drawing events (DAMAGE), by
polling captures, and with the fixed 1 s sleep most agents use, and reports the wall times, the ratios
to the fixed sleep, whether the app states match, and the medians of the pointing (`hover`,
settle.hover_first) and of the wait itself, overall and per action kind.
Not for: the model step itself (bench model).
"""

from __future__ import annotations

import base64
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import Settings
from agent.sandbox.launch import Sandbox
from agent.traces.lines import Origin
from agent.traces.store import read_trace

PHASES = ("capture", "decide", "gate", "hover", "execute", "settle", "trace")
VOLATILE = {"pid", "seq", "ready", "focus", "pointer", "last_click", "last_key"}


@dataclass(frozen=True)
class Stat:
    median: float
    p95: float
    n: int

    def to_json(self) -> dict[str, float]:
        return {"median_ms": round(self.median, 2), "p95_ms": round(self.p95, 2), "n": self.n}


def stat(values: list[float]) -> Stat:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Stat(statistics.median(ordered), p95, len(ordered))


def bench_steps(app: Sandbox, count: int) -> list[dict[str, Any]]:
    """`count` steps cycling through clicks, hover, scroll, typing and a hotkey on the sandbox app."""
    c = app.centers()
    at = {name: [c[f"{name}_x"], c[f"{name}_y"]] for name in ("ok_button", "check", "hover_target", "listbox",
                                                             "entry", "double_target")}
    cycle = [
        {"action": "left_click", "coordinate": at["ok_button"]},
        {"action": "left_click", "coordinate": at["check"]},
        {"action": "mouse_move", "coordinate": at["hover_target"]},
        {"action": "scroll", "pixels": -1, "coordinate": at["listbox"]},
        {"action": "left_click", "coordinate": at["entry"]},
        {"action": "type", "text": "ab"},
        {"action": "key", "keys": ["ctrl", "s"]},
        {"action": "double_click", "coordinate": at["double_target"]},
    ]
    return [cycle[i % len(cycle)] for i in range(count)]


@contextmanager
def virtual_display(size: tuple[int, int]) -> Iterator[Any]:
    """A private Xvfb that this process's executors point at (one per process: pyautogui binds
    to DISPLAY once, when it is first imported)."""
    from agent.sandbox.launch import pointing_at
    from agent.sandbox.xvfb import Xvfb

    with Xvfb(screens=(size,)) as xvfb, pointing_at(xvfb.display):
        yield xvfb


@contextmanager
def fresh_app(xvfb: Any, workdir: Path) -> Iterator[Sandbox]:
    workdir.mkdir(parents=True, exist_ok=True)
    with Sandbox(xvfb.env(), workdir / "state.json") as app:
        app.wait_ready()
        yield app


def run_steps(settings: Settings, steps: list[dict[str, Any]]) -> tuple[Path, float]:
    from actions.schema import parse_action
    from agent.run.runner import execute
    from policies.scripted.policy import ScriptedPolicy

    policy = ScriptedPolicy([parse_action(s) for s in steps])
    started = time.perf_counter()
    report = execute("benchmark", policy, settings, Origin(source="bench"))
    wall = time.perf_counter() - started
    if report.result.status != "success":
        raise RuntimeError(f"benchmark run ended with {report.result.status}: {report.result.reason}")
    return report.trace_dir, wall


def phase_stats(trace_dir: Path) -> dict[str, Any]:
    steps = [s for s in read_trace(trace_dir).steps if s.outcome.status == "executed"]
    timings = [s.timings_ms for s in steps]
    out = {p: stat([t.get(p, 0.0) for t in timings]).to_json() for p in PHASES}
    overhead = [sum(t.get(p, 0.0) for p in PHASES if p != "settle") for t in timings]
    out["overhead_without_settle"] = stat(overhead).to_json()
    totals = [o + t.get("settle", 0.0) for o, t in zip(overhead, timings, strict=True)]
    out["step_total_without_model"] = stat(totals).to_json()
    return out


def timed(fn: Callable[[], object], repeats: int) -> Stat:
    values = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        values.append((time.perf_counter() - started) * 1000)
    return stat(values)


def preprocessing_stats(settings: Settings, repeats: int) -> dict[str, Any]:
    """Capture alone, and what a model policy does to a fresh frame before the model sees it."""
    from agent.run.policy_factory import qwen_options
    from agent.run.runner import build_computer
    from policies.qwen.backends.png import png_bytes
    from policies.qwen.resize import resize_for_model

    computer = build_computer(settings)
    try:
        m = qwen_options(settings)  # the budget the configured dialect resizes with

        def resize() -> Any:
            return resize_for_model(computer.screenshot().image, m.min_pixels, m.max_pixels)[0]

        pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))  # as the openai backend's
        frame = computer.screenshot().image

        def encode() -> str:  # what the openai backend sends: the resized frame as a PNG data URL
            return base64.b64encode(png_bytes(resize(), pool)).decode()

        capture = timed(computer.screenshot, repeats)
        convert = timed(lambda: computer.screenshot().image, repeats)
        out = {"capture": capture.to_json(), "capture_and_rgb": convert.to_json(),
               "capture_rgb_resize": timed(resize, repeats).to_json(),
               "capture_rgb_resize_png_base64": timed(encode, repeats).to_json(),
               "png_base64_full_frame": timed(lambda: base64.b64encode(png_bytes(frame, pool)), repeats).to_json()}
        pool.shutdown()
        patches = _pixel_values(resize)
        if patches is not None:  # the in-process backend's rescale + normalize + patchify (torch, CPU here)
            out["capture_rgb_resize_pixel_values"] = timed(patches, repeats).to_json()
        return out
    finally:
        computer.close()


def _pixel_values(resize: Callable[[], Any]) -> Callable[[], Any] | None:
    """What the transformers backend does to the resized frame, on the CPU; None without torch."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    from policies.qwen.engine.pixels import PixelSpec, pixel_values

    return lambda: pixel_values([resize()], PixelSpec(), "cpu")


def bench_loop(settings: Settings, size: tuple[int, int], count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="deskpilot-bench-") as tmp:
        settings = _in(settings, tmp)
        with virtual_display(size) as xvfb, fresh_app(xvfb, Path(tmp)) as app:
            trace_dir, wall = run_steps(settings, bench_steps(app, count))
            result = {"screen": f"{size[0]}x{size[1]}", "steps": count, "wall_s": round(wall, 3),
                      "phases": phase_stats(trace_dir), "preprocessing": preprocessing_stats(settings, 15)}
    return result


def bench_settle(settings: Settings, size: tuple[int, int], count: int, fixed_ms: int = 1000,
                 modes: tuple[str, ...] = ("events", "poll", "fixed")) -> dict[str, Any]:
    """The same script settling on events, by polling and with a fixed sleep, each on a fresh app:
    wall times, ratios to the fixed sleep, the settle medians per action, and whether the states match."""
    out: dict[str, Any] = {"screen": f"{size[0]}x{size[1]}", "steps": count, "fixed_ms": fixed_ms}
    states = {}
    with tempfile.TemporaryDirectory(prefix="deskpilot-bench-") as tmp, virtual_display(size) as xvfb:
        with fresh_app(xvfb, Path(tmp) / "warm-up") as app:  # imports and first connections: no mode's cost
            run_steps(_in(settings, tmp), bench_steps(app, 2))
        for mode in modes:
            cfg = _in(settings, tmp).model_copy(update={"settle": settings.settle.model_copy(
                update={"mode": mode, "fixed_ms": fixed_ms})})
            with fresh_app(xvfb, Path(tmp) / mode) as app:
                trace_dir, wall = run_steps(cfg, bench_steps(app, count))
                phases = phase_stats(trace_dir)  # hover: the pointing before a click (settle.hover_first)
                out[f"{mode}_settle_ms"] = {p: phases[p] for p in ("hover", "settle")}
                out[f"{mode}_per_action"] = per_action_stats(trace_dir)
                out[f"{mode}_steps_s"] = round(sum(sum(t.timings_ms.get(p, 0.0) for p in PHASES)
                                                   for t in read_trace(trace_dir).steps) / 1000, 3)
                states[mode] = {k: v for k, v in app.wait_for(lambda s: s.get("seq")).items() if k not in VOLATILE}
            out[f"{mode}_wall_s"] = round(wall, 3)
    if "fixed" in modes:
        out["ratios"] = {m: round(out["fixed_wall_s"] / out[f"{m}_wall_s"], 2) for m in modes if m != "fixed"}
        out["ratio"] = out["ratios"][modes[0]]
        out["step_ratios"] = {m: round(out["fixed_steps_s"] / out[f"{m}_steps_s"], 2) for m in modes if m != "fixed"}
    out["same_app_state"] = all(state == states[modes[0]] for state in states.values())
    return out


def per_action_stats(trace_dir: Path) -> dict[str, Any]:
    """Per action kind: the median hover and settle, and how often the screen changed (the effect)."""
    kinds: dict[str, list[Any]] = {}
    for step in read_trace(trace_dir).steps:
        if step.outcome.status == "executed" and step.action is not None:
            kinds.setdefault(str(step.action["action"]), []).append(step)
    return {kind: {"hover_ms": round(statistics.median(s.timings_ms.get("hover", 0.0) for s in steps), 2),
                   "settle_ms": round(statistics.median(s.timings_ms.get("settle", 0.0) for s in steps), 2),
                   "changed": sum(1 for s in steps if s.effect is not None and s.effect.changed), "n": len(steps)}
            for kind, steps in kinds.items()}


def _in(settings: Settings, tmp: str) -> Settings:
    """The settings with traces below `tmp` and no actions-per-minute cap (it would be measured)."""
    from agent.config import load_settings

    data = settings.model_dump()
    data["trace"]["dir"] = str(Path(tmp) / "traces")
    data["safety"]["limits"]["max_actions_per_minute"] = 0
    return load_settings(None, {section: values for section, values in data.items()})


def print_loop(result: dict[str, Any]) -> None:
    print(f"bench loop: {result['screen']}, {result['steps']} steps, wall {result['wall_s']} s")
    print(f"{'phase':<32}{'median ms':>10}{'p95 ms':>10}")
    for name, s in {**result["phases"], **result["preprocessing"]}.items():
        print(f"{name:<32}{s['median_ms']:>10.2f}{s['p95_ms']:>10.2f}")


def print_settle(result: dict[str, Any]) -> None:
    """A table: wall time per settle mode, the ratios, the medians per action, the same app state?"""
    print(f"bench settle: {result['screen']}, {result['steps']} steps (fixed sleep {result['fixed_ms']} ms)")
    print(f"{'settle mode':<32}{'wall s':>10}{'vs fixed':>10}{'steps s':>10}{'vs fixed':>10}")
    labels = {"events": "events (X DAMAGE)", "poll": "poll (captures until still)", "fixed": "fixed sleep"}
    for mode, label in labels.items():
        if f"{mode}_wall_s" in result:
            ratio, steps = result.get("ratios", {}).get(mode), result.get("step_ratios", {}).get(mode)
            steps_s = result.get(f"{mode}_steps_s")
            print(f"{label:<32}{result[f'{mode}_wall_s']:>10.2f}{'' if ratio is None else f'{ratio:>9.2f}x':>10}"
                  f"{'' if steps_s is None else f'{steps_s:>10.2f}'}{'' if steps is None else f'{steps:>9.2f}x':>10}"
                  .rstrip())
    print("(wall: the whole run, start-up included; steps: the sum of the steps' phases, from the trace)")
    print(f"same app state: {'yes' if result['same_app_state'] else 'NO'}")
    for mode in ("events", "poll"):
        for phase, s in result.get(f"{mode}_settle_ms", {}).items():  # the pointing first, then the wait
            print(f"{mode} {phase:<25}median {s['median_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms")
    for mode in ("events", "poll"):
        for kind, s in result.get(f"{mode}_per_action", {}).items():
            print(f"{mode} {kind:<25}hover {s['hover_ms']:>7.1f}  settle {s['settle_ms']:>7.1f} ms median, "
                  f"changed {s['changed']}/{s['n']}")
