"""Build the model side of a run from `Settings`: the chat backend and the Qwen policy around it.

`build_backend` picks the backend named in `model.backend`: `openai` (stdlib HTTP client; the API
key is read here, at the edge, from the environment variable that `model.api_key_env` names) or
`transformers` (in-process; torch and transformers are imported only when that backend is built).
A missing extra or model is an `EnvironmentProblem`: one line, exit 2 from the CLI.
Not for: running anything (runner) or argument parsing (cli).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from agent.config import Settings
from agent.errors import EnvironmentProblem
from policies.qwen.errors import BackendError
from policies.qwen.messages import ChatBackend
from policies.qwen.policy import QwenOptions, QwenPolicy

MODEL_EXTRA = "pip install 'deskpilot[model]'"


def build_backend(settings: Settings, env: Mapping[str, str] | None = None) -> ChatBackend:
    """The backend `settings.model` asks for; EnvironmentProblem when it cannot be had here."""
    m = settings.model
    if m.backend == "openai":
        from policies.qwen.backends.openai_backend import OpenAIBackend, OpenAIOptions

        environ = os.environ if env is None else env
        return OpenAIBackend(OpenAIOptions(
            base_url=m.base_url, model=m.name, api_key=environ.get(m.api_key_env) or None,
            temperature=m.temperature, top_p=m.top_p, top_k=m.top_k, repetition_penalty=m.repetition_penalty,
            timeout_s=m.request_timeout_s, retries=m.retries,
        ))
    return _transformers_backend(settings)


def _transformers_backend(settings: Settings) -> ChatBackend:
    try:
        from policies.qwen.backends.transformers_backend import TransformersBackend
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if missing == "policies.qwen.backends.transformers_backend":
            raise EnvironmentProblem("this deskpilot has no transformers backend; use --backend openai") from None
        raise EnvironmentProblem(
            f"the transformers backend needs the model extra ({missing} is missing): {MODEL_EXTRA}, "
            "or use --backend openai with a server"
        ) from None
    try:
        return TransformersBackend(settings.model)
    except BackendError as exc:  # the backend's own one-liner (missing model, missing extra)
        raise EnvironmentProblem(str(exc)) from None
    except ImportError as exc:
        raise EnvironmentProblem(f"cannot load {settings.model.name!r}: {exc} ({MODEL_EXTRA})") from None
    except (OSError, ValueError) as exc:  # from_pretrained: no such directory or hub id, bad files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EnvironmentProblem(f"cannot load model {settings.model.name!r}: {first}") from None


def qwen_options(settings: Settings) -> QwenOptions:
    m = settings.model
    return QwenOptions(
        min_pixels=m.min_pixels, max_pixels=m.max_pixels, history_images=m.history_images,
        max_new_tokens=m.max_new_tokens, constrained=m.decoding == "constrained",
    )


def build_policy(settings: Settings, backend: ChatBackend | None = None) -> QwenPolicy:
    """A Qwen policy on `backend` (built from settings when not given)."""
    return QwenPolicy(backend if backend is not None else build_backend(settings), qwen_options(settings))


def describe(settings: Settings) -> dict[str, object]:
    """What the trace header records about the model (never the API key)."""
    m = settings.model
    where = m.base_url if m.backend == "openai" else m.device_map
    return {"backend": m.backend, "name": m.name, "where": where, "max_pixels": m.max_pixels,
            "min_pixels": m.min_pixels, "decoding": m.decoding}
