"""`deskpilot bench model` on CPU with the tiny architecture: every phase and ratio reported, the CLI wired up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.bench.model import BenchModelOptions
from agent.bench.model_cli import format_result, options_from
from agent.cli.main import build_parser, main

PHASES = {"vision_ms", "prefill_ms", "ttft_ms", "decode_ms_per_token", "preprocess_ms", "step_ms"}


@pytest.mark.model
def test_bench_model_tiny_on_cpu_reports_every_phase_variant_and_ratio(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    out = tmp_path / "bench.json"
    argv = ["bench", "model", "--random-weights", "--size", "tiny", "--screen", "320x200", "640x400",
            "--max-pixels", "50176", "--new-tokens", "24", "--repeats", "2", "--threads", "1",
            "--variants", "baseline,prefix,static,constrained", "--attn", "sdpa", "flash_attention_2",
            "--json", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    cells = [c for c in result["cells"] if "skipped" not in c]
    skipped = [c for c in result["cells"] if "skipped" in c]
    assert len(cells) == 2 and [c["screen"] for c in cells] == ["320x200", "640x400"]
    assert len(skipped) == 1 and skipped[0]["attn"] == "flash_attention_2"  # no flash-attn, no GPU here
    first = cells[0]
    assert first["model_image"] == "280x168" and first["vision_tokens"] == 280 * 168 // 784  # smart_resize
    assert first["attn"] == "sdpa" and first["peak_gpu_mem_gib"] is None and result["dtype"] == "float32"
    for name in ("baseline", "prefix", "static", "constrained"):
        row = first["variants"][name]
        assert set(row) >= PHASES and all(row[k] > 0 for k in PHASES - {"prefill_ms"})
        assert row["step_ms"] >= row["ttft_ms"]
        # exact length for free decoding (random weights must not end a step early); the grammar may end sooner
        assert row["completion_tokens"] == 24 if name != "constrained" else 21 <= row["completion_tokens"] <= 24
    assert first["variants"]["baseline"]["cached_prefix_tokens"] == 0
    assert first["variants"]["prefix"]["cached_prefix_tokens"] > 500  # the system prompt came from the cache
    assert first["variants"]["static"]["cached_prefix_tokens"] > 500 and first["static_step"] == "eager"
    assert first["same_answer"] == {"prefix": True, "static": True}  # float32: the same greedy tokens
    assert first["variants"]["constrained"]["grammar_ms_per_token"] > 0
    assert set(first["resize_ms"]) == {"pillow_cpu", "backend"} and first["resize_ms"]["pillow_cpu"] > 0
    assert first["variants"]["prefix"]["vision_loop_ms"] > 0  # the same tower with transformers' window loop
    assert set(first["ratios"]) == {"vision_batched_windows_speedup",
                                    "prefix_cache_step_speedup", "prefix_cache_ttft_speedup",
                                    "static_vs_prefix_step_speedup", "static_vs_prefix_decode_speedup",
                                    "static_vs_baseline_step_speedup", "static_vs_baseline_decode_speedup",
                                    "constrained_overhead_ms_per_token", "constrained_step_speedup"}
    # the grammar's fixed opening (<tool_call>\n{"name": ... "action": ") is prefilled, not decoded
    assert first["variants"]["constrained"]["forced_tokens"] == 15
    assert first["variants"]["prefix"]["forced_tokens"] == 0
    assert first["ratios"]["prefix_cache_step_speedup"] > 0
    text = capsys.readouterr().out
    assert "prefix_cache_step_speedup" in text and "skipped: flash-attn is not installed" in text


def test_options_from_the_command_line() -> None:
    args = build_parser().parse_args(["bench", "model", "--random-weights", "--size", "7B", "--screen", "2560x1440",
                                      "1920x1080", "--max-pixels", "1003520", "2007040", "--attn", "sdpa",
                                      "flash_attention_2", "--variants", "prefix,constrained", "--repeats", "3"])
    options = options_from(args)
    assert options == BenchModelOptions(size="7B", screens=((2560, 1440), (1920, 1080)),
                                        max_pixels=(1003520, 2007040), attn=("sdpa", "flash_attention_2"),
                                        variants=("prefix", "constrained"), repeats=3)


@pytest.mark.parametrize("argv", [["--size", "7B"], ["--random-weights", "--repeats", "0"],
                                  ["--random-weights", "--max-pixels", "10"]])
def test_bad_combinations_are_one_line_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "model", *argv]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_an_unknown_variant_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "model", "--variants", "prefix,turbo"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "variants are baseline, prefix, static, compiled, constrained" in err


def test_format_result_shows_the_variants_ratios_and_skips() -> None:
    row = {"vision_ms": 1.0, "decode_ms_per_token": 2.0}
    result = {"options": {"size": "tiny", "new_tokens": 4, "repeats": 2}, "device": "cpu", "dtype": "float32",
              "cells": [{"attn": "sdpa", "screen": "1x1", "max_pixels": 784, "model_image": "28x28",
                         "vision_tokens": 1, "variants": {"baseline": row, "prefix": row},
                         "ratios": {"prefix_cache_step_speedup": 1.5}, "peak_gpu_mem_gib": None, "load_s": 1.0},
                        {"attn": "flash_attention_2", "skipped": "no flash"}]}
    text = format_result(result)
    assert "prefix_cache_step_speedup: 1.5" in text and "[flash_attention_2] skipped: no flash" in text
