"""Turn a daemon `Submit` request into what one run needs: task text, policy, settings, trace origin.

A replay loads its script or trace (with the request's vars) the way `deskpilot replay` does, and
runs to its end unless `max_steps` says otherwise; a script with targets is grounded by the
daemon's model. A run uses the daemon's model policy. Request options (dry_run, max_steps,
trace_dir) override the daemon's settings for that task only. The files a replay reads are vetted
first (`vet_files`: regular files within `daemon.max_task_file_bytes`, opened without blocking), at
submit time and again when the task starts.
Not for: running it (`agent.daemon.worker`) or validating the wire format (`agent.daemon.wire`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actions.errors import DeskpilotError
from actions.files import NOT_REGULAR, open_input
from agent.config import Settings
from agent.daemon.wire import Options, Submit
from agent.traces.lines import Origin
from agent.traces.store import TRACE_FILE
from policies.base import Policy

if TYPE_CHECKING:
    from agent.daemon.worker import ModelHolder


class TaskProblem(DeskpilotError, ValueError):
    """A submitted task that cannot be run (bad script, no model); one line."""


def check(request: Submit, model: ModelHolder, max_file_bytes: int) -> None:
    """Refuse at submit time what would fail at once: a bad script or trace, a run with no model."""
    if request.kind == "run" and model.factory is None:
        raise TaskProblem("this daemon has no model policy (started with --no-model), so it takes replays only; "
                          "`deskpilot run --no-daemon` runs the task here with the configured model")
    if request.kind == "replay":
        _load(request, max_file_bytes)


def vet_files(path: str, max_bytes: int) -> None:
    """The files a replay of `path` reads must be regular files of at most `max_bytes`: a FIFO would
    block the reader for ever, /dev/zero would fill memory. Kinds are read with stat (a device is
    never opened); each file is then opened with O_NONBLOCK and checked again, so one swapped in
    between cannot block either."""
    target = Path(path)
    directory = target if stat.S_ISDIR(_stat(target, path).st_mode) else None
    if directory is None and target.name == TRACE_FILE:
        directory = target.parent
    files = [target] if directory is None else [directory / TRACE_FILE, *sorted(directory.glob("*.png"))]
    for file in files:
        _vet(file, max_bytes)


def _stat(file: Path, shown: str) -> os.stat_result:
    try:
        return os.stat(file)
    except OSError as exc:
        raise TaskProblem(f"{shown}: {(exc.strerror or str(exc)).lower()}") from None


def _vet(file: Path, max_bytes: int) -> None:
    """`file` is a regular file of at most `max_bytes` (actions.files: checked before and after opening it)."""
    try:
        open_input(file, max_bytes).close()
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            size = _stat(file, str(file)).st_size
            raise TaskProblem(f"{file}: {size} bytes, more than daemon.max_task_file_bytes ({max_bytes})") from None
        if exc.strerror == NOT_REGULAR or exc.errno == errno.EISDIR:
            raise TaskProblem(f"{file}: not a regular file (a FIFO, device or socket cannot be replayed)") from None
        raise TaskProblem(f"{file}: {(exc.strerror or str(exc)).lower()}") from None


@dataclass(frozen=True)
class Prepared:
    """One task ready to run; call `close` after it ran."""

    task: str
    policy: Policy
    settings: Settings
    origin: Origin
    close: Callable[[], None] = lambda: None


def prepare(request: Submit, settings: Settings, model: ModelHolder) -> Prepared:
    if request.kind == "run":
        assert request.task is not None
        return Prepared(request.task, model.get(), with_options(settings, request.options), _model_origin(settings))
    task, policy = _load(request, settings.daemon.max_task_file_bytes)  # vetted again: the files may have changed
    floor = len(policy.steps) + 1  # a script runs to its end: one step per action plus the final one
    settings = with_options(settings, request.options, floor)
    if _is_trace(request.path):  # the same verified replay as `deskpilot replay TRACE` in-process
        return _verified(request, settings, model)
    origin = Origin(source=request.path)
    if policy.targets:
        policy = policy.with_grounder(model.get())  # type: ignore[arg-type]
        origin = _model_origin(settings).with_(source=request.path)
    return Prepared(task, policy, settings, origin)


def _verified(request: Submit, settings: Settings, model: ModelHolder) -> Prepared:
    from agent.replay.verify import prepare_replay

    options = request.options
    reground = settings.replay.reground if options.reground is None else options.reground
    grounder = model.get() if reground and options.verify is not False and model.factory is not None else None
    assert request.path is not None
    replay = prepare_replay(request.path, settings, options.verify, reground, grounder)
    return Prepared(replay.task, replay.policy, settings, replay.origin, replay.close)


def _is_trace(path: str | None) -> bool:
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


def _load(request: Submit, max_file_bytes: int) -> Any:
    from agent.replay.source import load_replay

    assert request.path is not None
    vet_files(request.path, max_file_bytes)
    try:
        return load_replay(request.path, [f"{k}={v}" for k, v in request.vars.items()])
    except DeskpilotError as exc:  # a bad script or trace
        raise TaskProblem(str(exc)) from None


def _model_origin(settings: Settings) -> Origin:
    from agent.run.policy_factory import describe

    return Origin(model=describe(settings))
