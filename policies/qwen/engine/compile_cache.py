"""A compile cache kept across processes, so torch.compile of the decode step is paid once per machine.

Why: `model.compile_decode` compiles the static decode step with inductor (44 s for the 7B model on
an H200, a minute on the CPU tests' tiny model), and every new process — each `deskpilot run`, each
daemon start — paid it again. Inductor's FX graph cache and AOTAutograd cache (on by default in
torch 2.x) keep compiled kernels on disk, keyed by the graph, the inputs' shapes and the torch
version; by default under /tmp, which a reboot empties. Here they go under the user's cache
directory (`model.compile_cache_dir`; empty = `$XDG_CACHE_HOME/deskpilot/torch-compile`, else
`~/.cache/deskpilot/torch-compile`), set before the first compile through TORCHINDUCTOR_CACHE_DIR,
the variable inductor reads for it. A directory the user already set in that variable is kept.
Not for: deciding whether to compile (transformers_backend.static_mode) or CUDA graphs (static_decode).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

VARIABLE = "TORCHINDUCTOR_CACHE_DIR"


def compile_cache_dir(configured: str, env: Mapping[str, str]) -> Path:
    """The cache directory: `configured` (with ~), else $XDG_CACHE_HOME/deskpilot/torch-compile, else ~/.cache/..."""
    if configured:
        return Path(configured).expanduser()
    base = env.get("XDG_CACHE_HOME", "") or str(Path.home() / ".cache")
    return Path(base) / "deskpilot" / "torch-compile"


def use_compile_cache(configured: str, env: dict[str, str] | None = None) -> Path:
    """Point inductor's on-disk caches at the cache directory (the user's own TORCHINDUCTOR_CACHE_DIR
    wins over an empty `configured`) and make sure they are on; returns the directory used."""
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    env = os.environ if env is None else env
    if configured or not env.get(VARIABLE):
        directory = compile_cache_dir(configured, env)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[VARIABLE] = str(directory)
    inductor_config.fx_graph_cache = True
    functorch_config.enable_autograd_cache = True
    return Path(env[VARIABLE])
