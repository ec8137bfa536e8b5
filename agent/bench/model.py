"""`deskpilot bench model`: the model's share of a step, measured per phase and per optimization, no download.

With `--random-weights` the full-size Qwen2.5-VL architecture (`--size 3B|7B`, or `tiny` for CPU
tests) is built from a config in code with random weights (same compute as the real checkpoint),
on the GPU when there is one, with the offline tokenizer (real special ids) and the image
processor; without it the configured `model.name` is loaded. For every attention implementation ×
screen size × max_pixels asked for, a random screenshot is resized and sent with the real
computer_use prompt through the same `TransformersBackend.complete` a run uses, once per variant:
  baseline     free decoding, the whole prompt prefilled every step, the model's forward per token
  prefix       baseline + the system prompt's KV cache reused across steps (`model.prefix_cache`)
  static       prefix + decode steps on a static KV cache, replayed as CUDA graphs on a GPU
               (`model.cuda_graphs`; on the CPU the same step runs eagerly)
  compiled     static, the step run through torch.compile before capture (`model.compile_decode`)
  constrained  the tool-call grammar (`model.decoding: constrained`) on top of static if it is
               measured, else of prefix; the grammar's fixed opening is prefilled, not decoded;
               token by token after it (`model.jump_forward` off)
  jump         constrained with jump-forward decoding (`model.jump_forward`, the default): the
               tokens the grammar forces are fed as a draft in one pass; `decode_passes` counts
               the forward passes after the prefill (fewer than the decoded tokens)
Variants are interleaved within each repeat so drift hits them alike; medians over `--repeats`
after one warm-up (which also builds the prefix cache, as a run's first step does). Reported:
vision-encoder ms (the vision tower timed alone), prefill ms (time to first token minus vision),
decode ms/token, the full step (preprocess + generate), peak GPU memory, and each optimization's
gain as a ratio: the vision tower with transformers' per-window loop / batched windows (SDPA),
baseline/prefix (step, time to first token), prefix/static (decode per token,
step), baseline/static (step), free/constrained (step: the grammar's cost per token against the
decode steps its forced opening saves). The screenshot's resize to W′×H′ comes before the step: it
is timed apart (`resize_ms`: Pillow on the CPU, and the backend's own, on its GPU where it has one).
Not for: the agent's own overhead (bench loop), or the command line (`agent.bench.model_cli`).
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

TASK = "Open the File menu and save the document as report.txt in the Documents folder."
VARIANTS = ("baseline", "prefix", "static", "compiled", "constrained", "jump")
GRAMMAR = ("constrained", "jump")


@dataclass(frozen=True)
class BenchModelOptions:
    size: str = "tiny"
    random_weights: bool = True
    screens: tuple[tuple[int, int], ...] = ((1920, 1080),)
    max_pixels: tuple[int, ...] = (1280 * 28 * 28,)
    min_pixels: int = 3136
    new_tokens: int = 40
    attn: tuple[str, ...] = ("auto",)
    dtype: str | None = None  # None: bfloat16 on a GPU, float32 on the CPU
    repeats: int = 5
    warmup: int = 1
    variants: tuple[str, ...] = ("baseline", "prefix")
    threads: int | None = None  # CPU intra-op threads (None: torch's default)


def run_bench(options: BenchModelOptions, model_settings: Any = None) -> dict[str, Any]:
    """Every attention × screen × budget cell, each with every variant; the setup and the cells."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if options.threads:
        torch.set_num_threads(options.threads)
    dtype = options.dtype or ("bfloat16" if device == "cuda" else "float32")
    cells: list[dict[str, Any]] = []
    setup: dict[str, Any] = {}
    for attention in options.attn:
        missing = _unavailable(attention, dtype, device)
        if missing:
            cells.append({"attn": attention, "skipped": missing})
            continue
        started = time.perf_counter()
        backend = _backend(options, model_settings, device, dtype, attention)
        setup = setup or _setup(options, backend, device)
        load_s = round(time.perf_counter() - started, 2)
        for screen in options.screens:
            for budget in options.max_pixels:
                cells.append({**_cell(backend, options, screen, budget, device), "load_s": load_s})
        backend.close()
        del backend
    return {"options": _options_json(options), **setup, "cells": cells}


def _cell(backend: Any, options: BenchModelOptions, screen: tuple[int, int], budget: int, device: str) -> dict:
    import torch

    from policies.qwen.prompt import build_messages

    shot = _noise(*screen)
    resize = _time_resize(backend, shot, options.min_pixels, budget)
    image, frame = backend.resize_for_model(shot, options.min_pixels, budget)  # as the policy does
    messages = build_messages(TASK, image, frame)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    runs, texts = _repeat(backend, messages, options)
    variants = {name: _medians(samples) for name, samples in runs.items() if ":" not in name}
    first = {name: runs[f"{name}:first"][0]["first_step_ms"] for name in variants}
    free = [name for name in options.variants if name not in GRAMMAR]
    cell: dict[str, Any] = {
        "attn": backend.model.config._attn_implementation, "screen": f"{screen[0]}x{screen[1]}",
        "max_pixels": budget, "model_image": f"{frame.model_width}x{frame.model_height}",
        "vision_tokens": frame.vision_tokens, "variants": variants, "ratios": _ratios(variants),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
        "static_step": "cuda graph" if device == "cuda" else "eager",
        "resize_ms": resize,  # screenshot → W′×H′, before the step: Pillow on the CPU vs the backend's
        "first_step_ms": first,  # the warm-up: builds the prefix cache, captures graphs, compiles
        # whether each free-decoding variant wrote the same answer as the first one (greedy, the same input)
        "same_answer": {name: texts[name] == texts[free[0]] for name in free[1:]},
    }
    return cell


def _ratios(variants: dict[str, dict[str, float]]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    if "baseline" in variants and "prefix" in variants:
        base, cached = variants["baseline"], variants["prefix"]
        ratios["prefix_cache_step_speedup"] = round(base["step_ms"] / max(cached["step_ms"], 1e-9), 3)
        ratios["prefix_cache_ttft_speedup"] = round(base["ttft_ms"] / max(cached["ttft_ms"], 1e-9), 3)
    first = next(iter(variants.values()), {})
    if "vision_loop_ms" in first:
        ratios["vision_batched_windows_speedup"] = round(first["vision_loop_ms"] / max(first["vision_ms"], 1e-9), 3)
    if "static" in variants:
        fast = variants["static"]
        for name, slow in (("prefix", variants.get("prefix")), ("baseline", variants.get("baseline"))):
            if slow is not None:
                ratios[f"static_vs_{name}_step_speedup"] = round(slow["step_ms"] / max(fast["step_ms"], 1e-9), 3)
                ratios[f"static_vs_{name}_decode_speedup"] = round(
                    slow["decode_ms_per_token"] / max(fast["decode_ms_per_token"], 1e-9), 3)
    if "compiled" in variants and "static" in variants:
        fused, graphed = variants["compiled"], variants["static"]
        ratios["compiled_vs_static_step_speedup"] = round(graphed["step_ms"] / max(fused["step_ms"], 1e-9), 3)
        ratios["compiled_vs_static_decode_speedup"] = round(
            graphed["decode_ms_per_token"] / max(fused["decode_ms_per_token"], 1e-9), 3)
    free = variants.get("static") or variants.get("prefix") or variants.get("baseline")
    if "constrained" in variants and free is not None:
        forced = variants["constrained"]["decode_ms_per_token"]
        ratios["constrained_overhead_ms_per_token"] = round(forced - free["decode_ms_per_token"], 3)
        ratios["constrained_step_speedup"] = round(free["step_ms"] / max(variants["constrained"]["step_ms"], 1e-9), 3)
    if "jump" in variants and "constrained" in variants:
        slow, fast = variants["constrained"], variants["jump"]
        ratios["jump_vs_constrained_step_speedup"] = round(slow["step_ms"] / max(fast["step_ms"], 1e-9), 3)
        ratios["jump_vs_constrained_decode_passes"] = round(slow["decode_passes"] / max(fast["decode_passes"], 1), 3)
    return ratios


def _unavailable(attention: str, dtype: str, device: str) -> str | None:
    if attention != "flash_attention_2":
        return None
    if importlib.util.find_spec("flash_attn") is None:
        return "flash-attn is not installed (pip install 'deskpilot[flash]')"
    if device != "cuda" or dtype not in ("bfloat16", "float16"):
        return "flash_attention_2 needs a CUDA GPU and bf16/fp16"
    return None


def _backend(options: BenchModelOptions, model_settings: Any, device: str, dtype: str, attention: str) -> Any:
    from agent.config import ModelSettings
    from policies.qwen.backends.transformers_backend import TransformersBackend, resolve_attention
    from policies.qwen.offline.architecture import random_parts

    budget = max(options.max_pixels)
    if not options.random_weights:
        base = model_settings or ModelSettings()
        settings = base.model_copy(update={"dtype": dtype, "min_pixels": options.min_pixels, "max_pixels": budget,
                                           "temperature": 0.0, "attn_implementation": attention, "decoding": "free"})
        backend = TransformersBackend(settings)
    else:
        attention = resolve_attention(attention, dtype)
        settings = ModelSettings(name=f"random-{options.size}", dtype=dtype, device_map=device, temperature=0.0,
                                 attn_implementation=attention, min_pixels=options.min_pixels,
                                 max_pixels=budget, repetition_penalty=1.0)
        backend = TransformersBackend(settings, parts=random_parts(options.size, dtype, attention, device,
                                                                   options.min_pixels, budget))
    backend.exact_length = True
    return backend


def _repeat(backend: Any, messages: Any, options: BenchModelOptions) -> tuple[dict[str, list], dict[str, str]]:
    """Warm-up + repeats, the variants interleaved; each variant keeps its own decoder (and prefix cache).
    Returns the samples and each variant's last answer."""
    from policies.qwen.engine.decode import Decoder
    from policies.qwen.messages import ModelRequest

    step_kind = "graphs" if backend.model.device.type == "cuda" else "eager"
    static = {"static": step_kind, "compiled": "compiled",
              "constrained": step_kind if "static" in options.variants else "off"}
    static["jump"] = static["constrained"]
    decoders = {name: Decoder(backend.model, backend.image_token_id, prefix_cache=name != "baseline",
                              static=static.get(name, "off"))
                for name in options.variants}
    requests = {name: ModelRequest(messages, max_new_tokens=options.new_tokens, constrained=name in GRAMMAR)
                for name in options.variants}
    prepared = backend.prepare(requests[options.variants[0]])
    samples: dict[str, list] = {name: [] for name in options.variants}
    texts: dict[str, str] = {}
    for i in range(options.warmup + options.repeats):
        for name, request in requests.items():
            vision = _time_vision(backend, prepared)
            backend.decoder = decoders[name]
            backend.options = type(backend.options).of(backend.options, jump_forward=name == "jump")
            reply = backend.complete(request)
            texts[name] = reply.text
            if i == 0:
                samples[name + ":first"] = [{"first_step_ms": reply.timings_ms["total"]}]
            if i >= options.warmup:
                samples[name].append(_sample(reply, vision))
    return samples, texts


def _sample(reply: Any, vision: dict[str, float]) -> dict[str, float]:
    t = reply.timings_ms
    vision_ms = vision["vision_ms"]
    forced = int(reply.extra.get("forced_tokens", 0))
    tokens = max(reply.completion_tokens - forced, 1)  # decoded one by one
    sample = {
        **vision, "prefill_ms": max(t["prefill"] - vision_ms, 0.0), "ttft_ms": t["prefill"],
        "decode_ms_per_token": t.get("decode_per_token", 0.0), "preprocess_ms": t["preprocess"],
        "step_ms": t["total"], "completion_tokens": float(reply.completion_tokens), "forced_tokens": float(forced),
        "prompt_tokens": float(reply.prompt_tokens),
        "cached_prefix_tokens": float(reply.extra.get("cached_prefix_tokens", 0)),
        "decode_passes": float(reply.extra.get("decode_passes", 0)),
    }
    if "grammar" in t:
        sample["grammar_ms_per_token"] = t["grammar"] / tokens
    return sample


def _time_resize(backend: Any, shot: Any, min_pixels: int, budget: int, times: int = 5) -> dict[str, float]:
    """Medians of Pillow's resize (one CPU core) and of the backend's own (on its GPU, synchronized), in ms."""
    import torch

    from policies.qwen.resize import resize_for_model

    sync = torch.cuda.synchronize if backend.device.type == "cuda" else (lambda: None)
    out: dict[str, float] = {}
    for name, resize in (("pillow_cpu", resize_for_model), ("backend", backend.resize_for_model)):
        samples = []
        for _ in range(times):
            sync()
            started = time.perf_counter()
            resize(shot, min_pixels, budget)
            sync()
            samples.append((time.perf_counter() - started) * 1000)
        out[name] = round(statistics.median(samples), 3)
    return out


def _time_vision(backend: Any, prepared: Any) -> dict[str, float]:
    """The vision tower alone on this request's pixels (synchronized), in ms: as a step runs it
    (`vision_ms`) and, where the batched windows are installed, with transformers' per-window loop."""
    from policies.qwen.engine.vision_windows import transformers_loop

    times = {"vision_ms": _vision_once(backend, prepared)}
    with transformers_loop(backend.model) as patched:
        if patched:
            times["vision_loop_ms"] = _vision_once(backend, prepared)
    return times


def _vision_once(backend: Any, prepared: Any) -> float:
    import torch

    model = backend.model
    visual = model.model.visual
    pixels = prepared.tensors["pixel_values"].to(model.device, visual.dtype)
    grid = prepared.tensors["image_grid_thw"].to(model.device)
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        sync()
        started = time.perf_counter()
        visual(pixels, grid_thw=grid)
        sync()
    return (time.perf_counter() - started) * 1000


def _medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(s[key] for s in samples), 3) for key in samples[0]}


def _setup(options: BenchModelOptions, backend: Any, device: str) -> dict[str, Any]:
    import torch
    import transformers

    name = torch.cuda.get_device_name(0) if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    return {"device": name, "dtype": str(backend.model.dtype).removeprefix("torch."),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}


def _options_json(options: BenchModelOptions) -> dict[str, Any]:
    return {**asdict(options), "screens": [f"{w}x{h}" for w, h in options.screens]}


def _noise(width: int, height: int) -> Any:
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))
