"""`deskpilot bench model`: the model's share of a step, measured per phase and per optimization, no download.

With `--random-weights` the full-size Qwen2.5-VL architecture (`--size 3B|7B`, or `tiny` for CPU
tests) is built from a config in code with random weights (same compute as the real checkpoint),
on the GPU when there is one, with the offline tokenizer (real special ids) and the image
processor; without it the configured `model.name` is loaded. For every attention implementation ×
screen size × max_pixels asked for, a random screenshot is resized and sent with the real
computer_use prompt through the same `TransformersBackend.complete` a run uses, once per variant:
  baseline     free decoding, the whole prompt prefilled every step
  prefix       free decoding, the system prompt's KV cache reused across steps (`model.prefix_cache`)
  constrained  prefix + the tool-call grammar (`model.decoding: constrained`)
Variants are interleaved within each repeat so drift hits them alike; medians over `--repeats`
after one warm-up (which also builds the prefix cache, as a run's first step does). Reported:
vision-encoder ms (the vision tower timed alone), prefill ms (time to first token minus vision),
decode ms/token, the full step (preprocess + generate), peak GPU memory, and the ratios
baseline/prefix (step time) and constrained − prefix (ms per token).
Not for: the agent's own overhead (bench loop).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.config import ConfigError

TASK = "Open the File menu and save the document as report.txt in the Documents folder."
VARIANTS = ("baseline", "prefix", "constrained")


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
    from policies.qwen.resize import resize_for_model

    image, frame = resize_for_model(_noise(*screen), options.min_pixels, budget)
    messages = build_messages(TASK, image, frame)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    runs = _repeat(backend, messages, options)
    variants = {name: _medians(samples) for name, samples in runs.items()}
    cell: dict[str, Any] = {
        "attn": backend.model.config._attn_implementation, "screen": f"{screen[0]}x{screen[1]}",
        "max_pixels": budget, "model_image": f"{frame.model_width}x{frame.model_height}",
        "vision_tokens": frame.vision_tokens, "variants": variants, "ratios": _ratios(variants),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
    }
    return cell


def _ratios(variants: dict[str, dict[str, float]]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    if "baseline" in variants and "prefix" in variants:
        base, cached = variants["baseline"], variants["prefix"]
        ratios["prefix_cache_step_speedup"] = round(base["step_ms"] / max(cached["step_ms"], 1e-9), 3)
        ratios["prefix_cache_ttft_speedup"] = round(base["ttft_ms"] / max(cached["ttft_ms"], 1e-9), 3)
    free = variants.get("prefix") or variants.get("baseline")
    if "constrained" in variants and free is not None:
        forced = variants["constrained"]["decode_ms_per_token"]
        ratios["constrained_overhead_ms_per_token"] = round(forced - free["decode_ms_per_token"], 3)
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
    from policies.qwen.architecture import random_parts
    from policies.qwen.transformers_backend import TransformersBackend, resolve_attention

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


def _repeat(backend: Any, messages: Any, options: BenchModelOptions) -> dict[str, list]:
    """Warm-up + repeats, the variants interleaved; each variant keeps its own decoder (and prefix cache)."""
    from policies.qwen.decode import Decoder
    from policies.qwen.messages import ModelRequest

    decoders = {name: Decoder(backend.model, backend.image_token_id, prefix_cache=name != "baseline")
                for name in options.variants}
    requests = {name: ModelRequest(messages, max_new_tokens=options.new_tokens, constrained=name == "constrained")
                for name in options.variants}
    prepared = backend.prepare(requests[options.variants[0]])
    samples: dict[str, list] = {name: [] for name in options.variants}
    for i in range(options.warmup + options.repeats):
        for name, request in requests.items():
            vision_ms = _time_vision(backend, prepared)
            backend.decoder = decoders[name]
            reply = backend.complete(request)
            if i >= options.warmup:
                samples[name].append(_sample(reply, vision_ms))
    return samples


def _sample(reply: Any, vision_ms: float) -> dict[str, float]:
    t = reply.timings_ms
    tokens = reply.completion_tokens or 1
    sample = {
        "vision_ms": vision_ms, "prefill_ms": max(t["prefill"] - vision_ms, 0.0), "ttft_ms": t["prefill"],
        "decode_ms_per_token": t.get("decode_per_token", 0.0), "preprocess_ms": t["preprocess"],
        "step_ms": t["total"], "completion_tokens": float(tokens), "prompt_tokens": float(reply.prompt_tokens),
        "cached_prefix_tokens": float(reply.extra.get("cached_prefix_tokens", 0)),
    }
    if "grammar" in t:
        sample["grammar_ms_per_token"] = t["grammar"] / tokens
    return sample


def _time_vision(backend: Any, prepared: Any) -> float:
    """The vision tower alone on this request's pixels (synchronized), in ms."""
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


def format_result(result: dict[str, Any]) -> str:
    """A text table per cell: one column per variant, then the ratios."""
    o = result["options"]
    lines = [f"model bench: {o['size']} on {result.get('device', '?')}, {result.get('dtype', '?')}, "
             f"{o['new_tokens']} tokens per answer, medians of {o['repeats']}"]
    for cell in result["cells"]:
        if "skipped" in cell:
            lines.append(f"\n[{cell['attn']}] skipped: {cell['skipped']}")
            continue
        lines.append(f"\n[{cell['attn']}] screen {cell['screen']}, max_pixels {cell['max_pixels']} -> "
                     f"{cell['model_image']} ({cell['vision_tokens']} vision tokens)")
        names = list(cell["variants"])
        lines.append(f"{'median':<24}" + "".join(f"{n:>14}" for n in names))
        for key in dict.fromkeys(k for n in names for k in cell["variants"][n]):
            lines.append(f"{key:<24}" + "".join(f"{cell['variants'][n].get(key, float('nan')):>14.2f}" for n in names))
        lines += [f"{name}: {value}" for name, value in cell["ratios"].items()]
        lines.append(f"peak GPU memory: {cell['peak_gpu_mem_gib']} GiB; load {cell['load_s']} s")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", choices=["tiny", "3B", "7B"], help="architecture for --random-weights (tiny: CPU tests)")
    p.add_argument("--random-weights", action="store_true", help="build the architecture in code (no download)")
    p.add_argument("--screen", nargs="+", default=[(1920, 1080)], type=_screen, help="screenshot sizes WIDTHxHEIGHT")
    p.add_argument("--max-pixels", nargs="+", type=int, default=[1280 * 28 * 28], help="pixel budgets to sweep")
    p.add_argument("--new-tokens", type=int, default=40, help="tokens to decode per step")
    p.add_argument("--attn", nargs="+", choices=["auto", "sdpa", "flash_attention_2", "eager"], default=["auto"])
    p.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], help="default: bf16 on GPU, fp32 on CPU")
    p.add_argument("--repeats", type=int, default=5, help="measured steps (after one warm-up)")
    p.add_argument("--variants", default="baseline,prefix", type=_variants,
                   help="comma-separated, from: baseline (no prefix cache), prefix, constrained")
    p.add_argument("--threads", type=int, help="CPU intra-op threads (default: torch's)")
    p.add_argument("--json", dest="json_out", help="also write the result as JSON to this file")
    p.add_argument("--config", help="config file (default: ./config.yaml if present)")
    p.add_argument("--trace-dir", help=argparse.SUPPRESS)


def options_from(args: argparse.Namespace) -> BenchModelOptions:
    if args.repeats < 1 or args.new_tokens < 1:
        raise ConfigError("--repeats and --new-tokens must be at least 1")
    if not args.random_weights and args.size:
        raise ConfigError(f"--size {args.size} needs --random-weights (without it, model.name of the config is loaded)")
    if any(not 784 <= budget <= 16384 * 784 for budget in args.max_pixels):
        raise ConfigError("--max-pixels must be between 784 and 12845056")
    return BenchModelOptions(
        size=args.size or "tiny", random_weights=args.random_weights, screens=tuple(args.screen),
        max_pixels=tuple(args.max_pixels), new_tokens=args.new_tokens, attn=tuple(dict.fromkeys(args.attn)),
        dtype=args.dtype, repeats=args.repeats, variants=args.variants, threads=args.threads,
    )


def main(args: argparse.Namespace, model_settings: Any = None) -> int:
    from agent.runner import EnvironmentProblem
    from policies.qwen.errors import BackendError
    from policies.qwen.transformers_backend import require_model_extra

    options = options_from(args)
    try:
        require_model_extra()
        result = run_bench(options, model_settings)
    except BackendError as exc:
        raise EnvironmentProblem(str(exc)) from None
    print(format_result(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _screen(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) >= 28 and int(height) >= 28):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}")
    return int(width), int(height)


def _variants(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in VARIANTS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"variants are {', '.join(VARIANTS)}; got {text!r}")
    return names
