"""`deskpilot bench model`: the model's share of a step, measured per phase, with no download.

With `--random-weights` the full-size Qwen2.5-VL architecture (`--size 3B|7B|72B`, or `tiny` for CPU
tests) is built from a config in code with random weights, on the GPU when there is one, with the
offline tokenizer (real special ids) and the image processor; without it the configured
`model.name` is loaded. A random screenshot of `--screen` is resized with `--max-pixels` and sent
with the real computer_use prompt through the same `TransformersBackend.complete` a run uses.
Reported as medians over `--repeats` (after one warm-up): vision-encoder ms (the vision tower
timed alone), prefill ms (time to first token minus the vision encoder), decode ms/token, the full
step (preprocess + generate), peak GPU memory; `--decoding both` adds the constrained-decoding
overhead per token, measured in the same run. Not for: the agent's own overhead (bench loop).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.config import ConfigError

TASK = "Open the File menu and save the document as report.txt in the Documents folder."
DECODINGS = ("free", "constrained")


@dataclass(frozen=True)
class BenchModelOptions:
    size: str = "tiny"
    random_weights: bool = True
    screen: tuple[int, int] = (1920, 1080)
    max_pixels: int = 1280 * 28 * 28
    min_pixels: int = 3136
    new_tokens: int = 40
    attn: str = "auto"
    dtype: str | None = None  # None: bfloat16 on a GPU, float32 on the CPU
    repeats: int = 5
    warmup: int = 1
    decoding: str = "free"  # free | constrained | both
    threads: int | None = None  # CPU intra-op threads (None: torch's default)


def run_bench(options: BenchModelOptions, model_settings: Any = None) -> dict[str, Any]:
    """Build (or load) the model, run warm-up + repeats, return the medians and the setup."""
    import torch

    from policies.qwen.prompt import build_messages
    from policies.qwen.resize import resize_for_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if options.threads:
        torch.set_num_threads(options.threads)
    started = time.perf_counter()
    backend = _backend(options, model_settings, device)
    load_s = time.perf_counter() - started
    image, frame = resize_for_model(_noise(*options.screen), options.min_pixels, options.max_pixels)
    messages = build_messages(TASK, image, frame)
    decodings = DECODINGS if options.decoding == "both" else (options.decoding,)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    runs = _repeat(backend, messages, options, decodings)
    result = _setup(options, backend, device, frame, load_s)
    result.update({name: _medians(samples) for name, samples in runs.items()})
    if len(decodings) == 2:
        free, forced = result["free"]["decode_ms_per_token"], result["constrained"]["decode_ms_per_token"]
        result["constrained_overhead_ms_per_token"] = round(forced - free, 3)
    result["peak_gpu_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None
    backend.close()
    return result


def _backend(options: BenchModelOptions, model_settings: Any, device: str) -> Any:
    from agent.config import ModelSettings
    from policies.qwen.transformers_backend import TransformersBackend, resolve_attention

    dtype = options.dtype or ("bfloat16" if device == "cuda" else "float32")
    if not options.random_weights:
        base = model_settings or ModelSettings()
        settings = base.model_copy(update={"dtype": dtype, "min_pixels": options.min_pixels,
                                           "max_pixels": options.max_pixels, "temperature": 0.0,
                                           "attn_implementation": options.attn, "decoding": "free"})
        backend = TransformersBackend(settings)
    else:
        attention = resolve_attention(options.attn, dtype)
        settings = ModelSettings(name=f"random-{options.size}", dtype=dtype, device_map=device, temperature=0.0,
                                 attn_implementation=attention, min_pixels=options.min_pixels,
                                 max_pixels=options.max_pixels, repetition_penalty=1.0)
        backend = TransformersBackend(settings, parts=random_parts(options, dtype, attention, device))
    backend.exact_length = True
    return backend


def random_parts(options: BenchModelOptions, dtype: str, attention: str, device: str) -> tuple[Any, Any, Any]:
    """(model, tokenizer, image processor) for the `options.size` architecture, random weights, no download."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from policies.qwen.architecture import SIZES, make_config, transformers_major
    from policies.qwen.offline_tokenizer import build_tokenizer
    from policies.qwen.transformers_inputs import load_image_processor

    if options.size not in SIZES:
        raise ValueError(f"unknown size {options.size!r}; expected one of {', '.join(SIZES)}")
    dtype_arg = "dtype" if transformers_major() >= 5 else "torch_dtype"
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(
            make_config(SIZES[options.size]), attn_implementation=attention, **{dtype_arg: getattr(torch, dtype)}
        )
    return model.eval(), build_tokenizer(), load_image_processor(None, options.min_pixels, options.max_pixels)


def _repeat(backend: Any, messages: Any, options: BenchModelOptions, decodings: tuple[str, ...]) -> dict[str, list]:
    """Warm-up + repeats, the decoding modes interleaved so drift hits them alike."""
    from policies.qwen.messages import ModelRequest

    requests = {
        name: ModelRequest(messages, max_new_tokens=options.new_tokens, constrained=name == "constrained")
        for name in decodings
    }
    prepared = backend.prepare(requests[decodings[0]])
    samples: dict[str, list] = {name: [] for name in decodings}
    for i in range(options.warmup + options.repeats):
        for name, request in requests.items():
            vision_ms = _time_vision(backend, prepared)
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


def _setup(options: BenchModelOptions, backend: Any, device: str, frame: Any, load_s: float) -> dict[str, Any]:
    import torch
    import transformers

    name = torch.cuda.get_device_name(0) if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    return {
        "options": {**asdict(options), "screen": f"{options.screen[0]}x{options.screen[1]}"},
        "device": name, "dtype": str(backend.model.dtype).removeprefix("torch."),
        "attn": backend.model.config._attn_implementation, "model_image": f"{frame.model_width}x{frame.model_height}",
        "vision_tokens": frame.vision_tokens, "load_s": round(load_s, 2),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }


def _noise(width: int, height: int) -> Any:
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))


def format_result(result: dict[str, Any]) -> str:
    """A small text table of the medians, one column per decoding mode."""
    modes = [m for m in DECODINGS if m in result]
    keys = list(dict.fromkeys(k for m in modes for k in result[m]))
    r, o = result, result["options"]
    lines = [f"model bench: {o['size']} on {r['device']}, {r['dtype']}, attn {r['attn']}, screen {o['screen']} "
             f"-> {r['model_image']} ({r['vision_tokens']} vision tokens)",
             f"{'median':<24}" + "".join(f"{m:>14}" for m in modes)]
    for key in keys:
        lines.append(f"{key:<24}" + "".join(f"{result[m].get(key, float('nan')):>14.2f}" for m in modes))
    if "constrained_overhead_ms_per_token" in result:
        lines.append(f"constrained overhead: {result['constrained_overhead_ms_per_token']:.2f} ms/token")
    lines.append(f"peak GPU memory: {result['peak_gpu_mem_gib']} GiB; load {result['load_s']} s")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", choices=["tiny", "3B", "7B"], help="architecture for --random-weights (tiny: CPU tests)")
    p.add_argument("--random-weights", action="store_true", help="build the architecture in code (no download)")
    p.add_argument("--screen", default="1920x1080", type=_screen, help="screenshot size WIDTHxHEIGHT")
    p.add_argument("--max-pixels", type=int, default=1280 * 28 * 28, help="pixel budget of the resized image")
    p.add_argument("--new-tokens", type=int, default=40, help="tokens to decode per step")
    p.add_argument("--attn", choices=["auto", "sdpa", "flash_attention_2", "eager"], default="auto")
    p.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], help="default: bf16 on GPU, fp32 on CPU")
    p.add_argument("--repeats", type=int, default=5, help="measured steps (after one warm-up)")
    p.add_argument("--decoding", choices=["free", "constrained", "both"], default="free")
    p.add_argument("--threads", type=int, help="CPU intra-op threads (default: torch's)")
    p.add_argument("--json", dest="json_out", help="also write the result as JSON to this file")
    p.add_argument("--config", help="config file (default: ./config.yaml if present)")
    p.add_argument("--trace-dir", help=argparse.SUPPRESS)


def options_from(args: argparse.Namespace) -> BenchModelOptions:
    if args.repeats < 1 or args.new_tokens < 1:
        raise ConfigError("--repeats and --new-tokens must be at least 1")
    if not args.random_weights and args.size:
        raise ConfigError(f"--size {args.size} needs --random-weights (without it, model.name of the config is loaded)")
    return BenchModelOptions(
        size=args.size or "tiny", random_weights=args.random_weights, screen=args.screen, max_pixels=args.max_pixels,
        new_tokens=args.new_tokens, attn=args.attn, dtype=args.dtype, repeats=args.repeats, decoding=args.decoding,
        threads=args.threads,
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
