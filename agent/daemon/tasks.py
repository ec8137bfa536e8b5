"""Turn a daemon `Submit` request into what one run needs: task text, policy, settings, header.

A replay loads its script or trace (with the request's vars) the way `deskpilot replay` does, and
runs to its end unless `max_steps` says otherwise; a script with targets is grounded by the
daemon's model. A run uses the daemon's model policy. Request options (dry_run, max_steps,
trace_dir) override the daemon's settings for that task only.
Not for: running it (`agent.daemon.worker`) or validating the wire format (`agent.daemon.wire`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Settings
from agent.daemon.wire import Options, Submit
from policies.base import Policy

if TYPE_CHECKING:
    from agent.daemon.worker import ModelHolder


class TaskProblem(ValueError):
    """A submitted task that cannot be run (bad script, no model); one line."""


def check(request: Submit, model: ModelHolder) -> None:
    """Refuse at submit time what would fail at once: a bad script or trace, a run with no model."""
    if request.kind == "run" and model.factory is None:
        raise TaskProblem("this daemon has no model policy (started with --no-model), so it takes replays only; "
                          "`deskpilot run --no-daemon` runs the task here with the configured model")
    if request.kind == "replay":
        _load(request)


@dataclass(frozen=True)
class Prepared:
    """One task ready to run; call `close` after it ran."""

    task: str
    policy: Policy
    settings: Settings
    header: dict[str, Any]
    close: Callable[[], None] = lambda: None


def prepare(request: Submit, settings: Settings, model: ModelHolder) -> Prepared:
    if request.kind == "run":
        assert request.task is not None
        return Prepared(request.task, model.get(), with_options(settings, request.options), _model_header(settings))
    task, policy = _load(request)
    floor = len(policy.steps) + 1  # a script runs to its end: one step per action plus the final one
    settings = with_options(settings, request.options, floor)
    if _is_trace(request.path):  # the same verified replay as `deskpilot replay TRACE` in-process
        return _verified(request, settings, model)
    header: dict[str, Any] = {"source": request.path}
    if policy.targets:
        policy = policy.with_grounder(model.get())  # type: ignore[arg-type]
        header.update(_model_header(settings))
    return Prepared(task, policy, settings, header)


def _verified(request: Submit, settings: Settings, model: ModelHolder) -> Prepared:
    from agent.replay.verify import prepare_replay

    options = request.options
    reground = settings.replay.reground if options.reground is None else options.reground
    grounder = model.get() if reground and options.verify is not False and model.factory is not None else None
    assert request.path is not None
    replay = prepare_replay(request.path, settings, options.verify, reground, grounder)
    return Prepared(replay.task, replay.policy, settings, replay.header, replay.close)


def _is_trace(path: str | None) -> bool:
    from agent.traces.store import TRACE_FILE

    return path is not None and (Path(path).is_dir() or Path(path).name == TRACE_FILE)


def with_options(settings: Settings, options: Options, steps_floor: int = 0) -> Settings:
    data = settings.model_dump()
    if options.dry_run is not None:
        data["safety"]["dry_run"] = options.dry_run
    if options.max_steps is not None:
        data["loop"]["max_steps"] = options.max_steps
    elif steps_floor:
        data["loop"]["max_steps"] = max(settings.loop.max_steps, steps_floor)
    if options.trace_dir is not None:
        data["trace"]["dir"] = options.trace_dir
    return Settings.model_validate(data)


def _load(request: Submit) -> Any:
    from agent.replay.source import load_replay
    from agent.traces.store import TraceError
    from policies.scripted.script_file import ScriptError

    assert request.path is not None
    try:
        return load_replay(request.path, [f"{k}={v}" for k, v in request.vars.items()])
    except (ScriptError, TraceError) as exc:
        raise TaskProblem(str(exc)) from None


def _model_header(settings: Settings) -> dict[str, Any]:
    from agent.run.policy_factory import describe

    return {"model": describe(settings)}
