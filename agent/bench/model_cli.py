"""`deskpilot bench model` on the command line: its arguments, the text table, the JSON file.

The measuring is `agent.bench.model`; this module turns arguments into `BenchModelOptions`
(argument mistakes are one-line errors, exit 2), runs it, prints one table per cell and writes
the result as JSON with `--json`. Not for: measuring anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.bench.model import GRAMMAR, VARIANTS, BenchModelOptions, run_bench
from agent.config import ConfigError

MAX_SIDE = 16384  # --screen: pixels a side, the largest screens and then some
MAX_THREADS = 1024  # --threads: torch makes that many threads; more is a typo


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
            lines.append(f"{key:<24}" + "".join(f"{_figure(cell['variants'][n].get(key)):>14}" for n in names))
        lines += [f"{name}: {'-' if value is None else value}" for name, value in cell["ratios"].items()]
        if cell.get("same_answer"):
            first = next(n for n in names if n not in GRAMMAR)
            lines.append(f"same answer as {first}: " + ", ".join(
                f"{n} {'yes' if same else 'no'}" for n, same in cell["same_answer"].items()))
        step = f"; static step: {cell['static_step']}" if "static" in cell["variants"] else ""
        if cell.get("resize_ms"):
            lines.append("resize to W′×H′ before the step, ms: " + ", ".join(
                f"{n} {ms:.2f}" for n, ms in cell["resize_ms"].items()))
        if cell.get("first_step_ms"):
            lines.append("first step (warm-up), ms: " + ", ".join(
                f"{n} {ms:.0f}" for n, ms in cell["first_step_ms"].items()))
        memory = cell.get("peak_gpu_mem_gib")
        memory = f"peak GPU memory: {memory} GiB" if memory is not None else "peak GPU memory: - (no GPU)"
        lines.append(f"{memory}; load {cell['load_s']} s{step}")
    return "\n".join(lines)


def _figure(value: Any) -> str:
    """A number for the table; '-' where there is none (never 'None' or 'nan')."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return "-"
    return f"{value:.2f}"


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
                   help="comma-separated, from: baseline (no prefix cache), prefix, static (CUDA graphs), "
                        "compiled (torch.compile + CUDA graphs), constrained (token by token), "
                        "jump (constrained, jump-forward)")
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
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:  # torch refuses < 1 with a traceback
        raise ConfigError(f"--threads must be between 1 and {MAX_THREADS}")
    return BenchModelOptions(
        size=args.size or "tiny", random_weights=args.random_weights, screens=tuple(args.screen),
        max_pixels=tuple(args.max_pixels), new_tokens=args.new_tokens, attn=tuple(dict.fromkeys(args.attn)),
        dtype=args.dtype, repeats=args.repeats, variants=args.variants, threads=args.threads,
    )


def main(args: argparse.Namespace, model_settings: Any = None) -> int:
    from agent.cli.output import check_target, write_atomically
    from agent.errors import EnvironmentProblem
    from policies.qwen.backends.transformers_backend import require_model_extra
    from policies.qwen.errors import BackendError

    options = options_from(args)
    if args.json_out:  # a path that cannot be a file is refused before the benchmark, not after it
        check_target(Path(args.json_out))
    try:
        require_model_extra()
        result = run_bench(options, model_settings)
    except BackendError as exc:
        raise EnvironmentProblem(str(exc)) from None
    print(format_result(result))
    if args.json_out:  # whole or not at all; an OutputError naming the file when it cannot be written
        write_atomically(args.json_out, [json.dumps(result, indent=2) + "\n"])
    return 0


def _screen(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    # at most a screen's size: the synthetic screenshot is allocated whole (100000x100000 would be 28 GiB)
    if not (sep and width.isdigit() and height.isdigit() and all(28 <= int(n) <= MAX_SIDE for n in (width, height))):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT between 28 and {MAX_SIDE}, got {text!r}")
    return int(width), int(height)


def _variants(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in VARIANTS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"variants are {', '.join(VARIANTS)}; got {text!r}")
    return names
