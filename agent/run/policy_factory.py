"""Build the model side of a run from `Settings`: the dialect, the chat backend and the policy around them.

`resolve_dialect` picks the dialect: `model.dialect`, or with `auto` the checkpoint's config.json
(a local directory's, or the hub cache's; nothing is downloaded for it) and its name. `build_backend`
picks the backend named in `model.backend`: `openai` (stdlib HTTP client; the API key is read here,
at the edge, from the environment variable `model.api_key_env` names; the server is checked to answer
before the first step) or `transformers` (in-process; torch and transformers are imported only then;
a model that is neither a local directory nor cached, with the hub offline or out of reach, fails at
once with the three ways forward instead of retrying). `build_grounder` is the model that turns
described targets into points: `model.grounder` when it names one, else the policy itself.
A missing extra, model or server is an `EnvironmentProblem`: one line, exit 2 from the CLI.
Not for: running anything (runner) or argument parsing (cli).
"""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from actions.files import MiB, read_input
from agent.config import ModelSettings, Settings
from agent.errors import EnvironmentProblem
from policies.qwen.dialects import Dialect, detect, dialect_for, is_thinking
from policies.qwen.errors import BackendError
from policies.qwen.messages import ChatBackend
from policies.qwen.planned import PlannedPolicy
from policies.qwen.policy import QwenOptions, QwenPolicy
from policies.qwen.zoom import ZoomOptions

MODEL_EXTRA = "pip install 'deskpilot[model]'"
HUB = ("huggingface.co", 443)


def checkpoint_config(name: str) -> dict[str, Any] | None:
    """config.json of a local checkpoint directory, or of the hub cache's copy; None when neither has it."""
    local = Path(name).expanduser()
    path: Any = local / "config.json" if local.is_dir() else None
    if path is None and "/" in name and not name.startswith(("/", ".", "~")):
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(name, "config.json")
            path = Path(found) if isinstance(found, str) else None
        except (ImportError, ValueError):
            path = None
    try:
        return json.loads(read_input(path, 16 * MiB)) if path is not None and path.is_file() else None
    except (OSError, ValueError, RecursionError):
        return None


def resolve_dialect(m: ModelSettings | Any, name: str | None = None) -> tuple[Dialect, str]:
    """The dialect for model section `m` (or a grounder section) and why it was chosen."""
    name = name or m.name
    if m.dialect != "auto":
        chosen, why = m.dialect, "model.dialect"
    else:
        config = checkpoint_config(name) if m.backend == "transformers" else None
        chosen, why = detect(name, config)
    return dialect_for(chosen, extended_actions=getattr(m, "extended_actions", False),
                       thinking=is_thinking(name)), why


def _budget(m: Any, dialect: Dialect) -> tuple[int, int]:
    low = m.min_pixels if m.min_pixels is not None else dialect.budget.min_pixels
    high = m.max_pixels if m.max_pixels is not None else dialect.budget.max_pixels
    return min(low, high), high


def build_backend(settings: Settings, env: Mapping[str, str] | None = None, check: bool = True) -> ChatBackend:
    """The backend `settings.model` asks for; EnvironmentProblem when it cannot be had here."""
    return _backend(settings.model, settings.model, env, check)


def _backend(m: Any, root: ModelSettings, env: Mapping[str, str] | None, check: bool) -> ChatBackend:
    environ = os.environ if env is None else env
    dialect, _ = resolve_dialect(m)
    low, high = _budget(m, dialect)
    if m.backend == "openai":
        from policies.qwen.backends.openai_backend import OpenAIBackend, OpenAIOptions

        if check:
            reachable(m.base_url)
        return OpenAIBackend(OpenAIOptions(
            base_url=m.base_url, model=m.name, api_key=environ.get(root.api_key_env) or None,
            temperature=root.temperature, top_p=root.top_p, top_k=root.top_k,
            repetition_penalty=root.repetition_penalty, timeout_s=root.request_timeout_s, retries=root.retries,
        ))
    local_only = available(m.name, environ) if check else False
    changes = {"name": m.name, "min_pixels": low, "max_pixels": high, "local_only": local_only}
    return _transformers_backend(root, changes)


def reachable(base_url: str, timeout_s: float = 2.0) -> None:
    """EnvironmentProblem unless something accepts connections at `base_url` (one try, no retries)."""
    parts = urllib.parse.urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout_s):
            return
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise EnvironmentProblem(f"no model server answers at {base_url} ({reason}): start it (e.g. vllm serve "
                                 "<model>) or pass --base-url with the right address") from None


def available(name: str, env: Mapping[str, str], timeout_s: float = 1.5) -> bool:
    """Whether `name` must be read from local files only (True: cached, hub out of reach); raises
    EnvironmentProblem at once when the model is neither here nor downloadable."""
    if Path(name).expanduser().exists() or name.startswith(("/", ".", "~")):
        return False  # a directory: the backend reads it (and says what is wrong with it)
    cached = checkpoint_config(name) is not None
    offline = str(env.get("HF_HUB_OFFLINE", "")).strip().lower() in ("1", "true", "yes", "on")
    if not offline and _hub_reachable(timeout_s):
        return False
    if cached:
        return True
    raise EnvironmentProblem(
        f"model {name!r} is not here: it is not a local directory, not in the Hugging Face cache, and the hub is "
        "out of reach — pass a local checkpoint directory (--model /path/to/model), use a server (--backend "
        "openai --base-url URL), or download it first where the hub is reachable (huggingface-cli download "
        f"{name})")


def _hub_reachable(timeout_s: float) -> bool:
    """One connection attempt to the hub, name lookup included, given up after `timeout_s` (a lookup can hang)."""
    import threading

    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection(HUB, timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, name="deskpilot-hub-check", daemon=True)
    worker.start()
    worker.join(timeout_s)
    return bool(result and result[0])


def _transformers_backend(root: ModelSettings, changes: dict[str, Any]) -> ChatBackend:
    try:
        from policies.qwen.backends.transformers_backend import TransformersBackend, TransformersOptions
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if missing == "policies.qwen.backends.transformers_backend":
            raise EnvironmentProblem("this deskpilot has no transformers backend; use --backend openai") from None
        raise EnvironmentProblem(
            f"the transformers backend needs the model extra ({missing} is missing): {MODEL_EXTRA}, "
            "or use --backend openai with a server"
        ) from None
    name = changes["name"]
    try:
        return TransformersBackend(TransformersOptions.of(root, **changes))
    except BackendError as exc:  # the backend's own one-liner (missing model, missing extra)
        raise EnvironmentProblem(str(exc)) from None
    except ImportError as exc:
        raise EnvironmentProblem(f"cannot load {name!r}: {exc} ({MODEL_EXTRA})") from None
    except (OSError, ValueError) as exc:  # from_pretrained: no such directory or hub id, bad files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EnvironmentProblem(f"cannot load model {name!r}: {first}") from None


def qwen_options(settings: Settings, dialect: Dialect | None = None) -> QwenOptions:
    m = settings.model
    low, high = _budget(m, dialect or resolve_dialect(m)[0])
    return QwenOptions(
        min_pixels=low, max_pixels=high, history_images=m.history_images, max_new_tokens=m.max_new_tokens,
        constrained=m.decoding == "constrained", extended_actions=m.extended_actions, think_tokens=m.think_tokens,
    )


def build_policy(settings: Settings, backend: ChatBackend | None = None) -> QwenPolicy | PlannedPolicy:
    """The model policy on `backend` (built from settings when not given), speaking the resolved dialect;
    with `model.grounder` named, the planner + grounder pair (the grounder's backend built here)."""
    dialect, _ = resolve_dialect(settings.model)
    if "agent" not in dialect.roles:
        raise EnvironmentProblem(f"{dialect.name} is a grounding model and cannot choose actions: set it as "
                                 "model.grounder and pick an agent model (qwen2.5-vl, qwen3-vl, ui-tars-1.5)")
    backend = backend if backend is not None else build_backend(settings)
    policy = QwenPolicy(backend, qwen_options(settings, dialect), dialect)
    if not settings.model.grounder.name:
        return policy
    return PlannedPolicy(policy, _grounder_policy(settings, backend), _zoom(settings))


def build_grounder(settings: Settings, backend: ChatBackend | None = None) -> QwenPolicy | PlannedPolicy:
    """What finds described targets (script `target:` steps, replay re-grounding): `model.grounder` when it
    names a model, else the model itself; zoomed with `model.zoom`."""
    g = settings.model.grounder
    if not g.name:  # the model itself grounds (a grounding specialist may be `model` here)
        dialect, _ = resolve_dialect(settings.model)
        policy = QwenPolicy(backend if backend is not None else build_backend(settings),
                            qwen_options(settings, dialect), dialect)
        return PlannedPolicy(policy, policy, _zoom(settings)) if settings.model.zoom else policy
    grounder = _grounder_policy(settings, None)
    return PlannedPolicy(grounder, grounder, _zoom(settings))


def _grounder_policy(settings: Settings, planner_backend: ChatBackend | None) -> QwenPolicy:
    g, m = settings.model.grounder, settings.model
    dialect, _ = resolve_dialect(g)
    low, high = _budget(g, dialect)
    shared = planner_backend is not None and (g.name, g.backend) == (m.name, m.backend)
    backend = planner_backend if shared else _backend(g, m, None, True)
    options = QwenOptions(min_pixels=low, max_pixels=high, max_new_tokens=m.max_new_tokens,
                          constrained=m.decoding == "constrained")
    return QwenPolicy(backend, options, dialect)


def _zoom(settings: Settings) -> ZoomOptions | None:
    return ZoomOptions(settings.model.zoom_crop) if settings.model.zoom else None


def describe(settings: Settings) -> dict[str, object]:
    """What the trace header records about the model (never the API key): backend, name, dialect, budget."""
    m = settings.model
    dialect, why = resolve_dialect(m)
    low, high = _budget(m, dialect)
    where = m.base_url if m.backend == "openai" else m.device_map
    out: dict[str, object] = {"backend": m.backend, "name": m.name, "dialect": dialect.name, "dialect_from": why,
                              "where": where, "max_pixels": high, "min_pixels": low, "decoding": m.decoding}
    if m.grounder.name:
        g_dialect, _ = resolve_dialect(m.grounder)
        out["grounder"] = {"backend": m.grounder.backend, "name": m.grounder.name, "dialect": g_dialect.name}
    return out
