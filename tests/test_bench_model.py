"""`deskpilot bench model` on CPU with the tiny architecture: every phase reported, the CLI wired up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.bench_model import BenchModelOptions, format_result, options_from
from agent.cli import build_parser, main

PHASES = {"vision_ms", "prefill_ms", "ttft_ms", "decode_ms_per_token", "preprocess_ms", "step_ms"}


@pytest.mark.model
def test_bench_model_tiny_on_cpu_reports_every_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    out = tmp_path / "bench.json"
    argv = ["bench", "model", "--random-weights", "--size", "tiny", "--screen", "320x200", "--max-pixels", "50176",
            "--new-tokens", "4", "--repeats", "2", "--threads", "1", "--json", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    free = result["free"]
    assert set(free) >= PHASES and all(free[k] > 0 for k in PHASES - {"prefill_ms"})
    assert free["completion_tokens"] == 4  # exact length: random weights may not end a step early
    assert result["model_image"] == "280x168" and result["vision_tokens"] == 280 * 168 // 784  # smart_resize
    assert result["dtype"] == "float32" and result["attn"] == "sdpa" and result["peak_gpu_mem_gib"] is None
    assert free["step_ms"] >= free["ttft_ms"]
    assert "decode_ms_per_token" in capsys.readouterr().out


def test_options_from_the_command_line() -> None:
    args = build_parser().parse_args(["bench", "model", "--random-weights", "--size", "7B", "--screen", "2560x1440",
                                      "--attn", "flash_attention_2", "--decoding", "both", "--repeats", "3"])
    options = options_from(args)
    assert options == BenchModelOptions(size="7B", screen=(2560, 1440), attn="flash_attention_2", decoding="both",
                                        repeats=3)


@pytest.mark.parametrize("argv", [["--size", "7B"], ["--random-weights", "--repeats", "0"]])
def test_bad_combinations_are_one_line_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "model", *argv]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_format_result_shows_both_modes_and_the_overhead() -> None:
    row = {"vision_ms": 1.0, "decode_ms_per_token": 2.0}
    result = {"options": {"size": "tiny", "screen": "1x1"}, "device": "cpu", "dtype": "float32", "attn": "sdpa",
              "model_image": "28x28", "vision_tokens": 1, "free": row,
              "constrained": {**row, "grammar_ms_per_token": 0.1}, "constrained_overhead_ms_per_token": 0.5,
              "peak_gpu_mem_gib": None, "load_s": 1.0}
    text = format_result(result)
    assert "grammar_ms_per_token" in text and "constrained overhead: 0.50 ms/token" in text
