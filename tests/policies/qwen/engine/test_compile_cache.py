"""Compilation paid once per machine: the compile cache directory, the warm-up, and a second process
that reads the compiled step back instead of compiling it (CPU inductor with g++, the tiny model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policies.qwen.engine.compile_cache import VARIABLE, compile_cache_dir, use_compile_cache

ROOT = Path(__file__).resolve().parents[4]


def test_the_cache_directory_is_configured_or_under_the_users_cache(tmp_path: Path) -> None:
    assert compile_cache_dir(str(tmp_path / "c"), {}) == tmp_path / "c"
    assert compile_cache_dir("", {"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "deskpilot" / "torch-compile"
    assert compile_cache_dir("", {}) == Path.home() / ".cache" / "deskpilot" / "torch-compile"
    env: dict[str, str] = {"XDG_CACHE_HOME": str(tmp_path)}
    assert use_compile_cache("", env) == tmp_path / "deskpilot" / "torch-compile" == Path(env[VARIABLE])
    assert (tmp_path / "deskpilot" / "torch-compile").is_dir()
    mine = {VARIABLE: str(tmp_path / "mine")}
    assert use_compile_cache("", mine) == tmp_path / "mine"  # the user's own variable is kept
    assert use_compile_cache(str(tmp_path / "cfg"), mine) == tmp_path / "cfg"  # the config key wins


@pytest.fixture(scope="module")
def backend(tiny_qwen_dir: Path):
    from test_transformers_backend import tiny_settings

    from policies.qwen.backends.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_settings(tiny_qwen_dir, repetition_penalty=1.0))


@pytest.mark.model
def test_warm_up_does_nothing_without_static_steps_and_sizes_the_buffers_with_them(backend) -> None:
    from test_decode import _request

    from policies.qwen.backends.transformers_backend import WARM_UP_TOKENS
    from policies.qwen.engine.decode import Decoder

    assert backend.decoder.static is None and backend.warm_up() == 0.0  # the CPU path: the model's forward
    saved = backend.decoder
    try:
        plain = backend.complete(_request("Type hello", tokens=10)).text
        backend.decoder = Decoder(backend.model, backend.image_token_id, True, "eager",
                                  end_token_id=saved.end_token_id)
        assert backend.warm_up() > 0
        buffers = backend.decoder.static._buffers
        assert buffers.length == WARM_UP_TOKENS
        assert backend.decoder._prefix is None  # the warm-up leaves the system-prompt cache alone
        assert backend.complete(_request("Type hello", tokens=10)).text == plain
        assert backend.decoder.static._buffers is buffers  # the first task reuses what was warmed
    finally:
        backend.decoder = saved


_PROCESS = """
import json, sys, time
sys.path[:0] = [{root!r}]
from agent.config import ModelSettings
from policies.qwen.backends.transformers_backend import TransformersBackend
from policies.qwen.engine.compile_cache import use_compile_cache
from policies.qwen.engine.decode import Decoder
backend = TransformersBackend(ModelSettings(name={model!r}, dtype="float32", device_map="cpu",
                                            attn_implementation="sdpa", temperature=0.0))
used = use_compile_cache({cache!r})
backend.decoder = Decoder(backend.model, backend.image_token_id, True, "compiled")
started = time.perf_counter()
backend.warm_up(512)
print(json.dumps({{"seconds": time.perf_counter() - started, "cache": str(used)}}))
"""


@pytest.mark.model
def test_a_second_process_compiles_from_the_cache(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    """Cold, then warm, in two fresh processes sharing only the cache directory (~1 min on 2 cores)."""
    cache = tmp_path / "compile-cache"
    script = _PROCESS.format(root=str(ROOT), model=str(tiny_qwen_dir), cache=str(cache))
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600,
                              cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cold, warm = runs[0]["seconds"], runs[1]["seconds"]
    print(f"\nwarm-up with torch.compile: first process {cold:.1f} s, second process {warm:.1f} s")
    assert runs[0]["cache"] == str(cache) and any(cache.rglob("*"))
    assert warm < cold * 0.6, (cold, warm)
