"""What every `deskpilot` command shares: the argument parser's class, settings from a config file plus
flags, the run report every run-like command prints, and the exit codes.

Not for: any one command (agent.cli.main dispatches; agent.cli.daemon and agent.cli.traces add theirs).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from actions.errors import BAD_INPUT
from agent.config import Settings, load_settings
from agent.run.runner import RunReport


class Parser(argparse.ArgumentParser):
    """Every parser of the CLI: no abbreviated flags (`--max-step` is an error, not `--max-steps`), and
    usage errors exit BAD_INPUT naming --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


FLAGS = {  # the flag behind each override, so a bad value is blamed on it and not on the config file
    "safety.dry_run": "--dry-run", "trace.dir": "--trace-dir", "loop.max_steps": "--max-steps",
    "executor.backend": "--executor", "model.backend": "--backend", "model.name": "--model",
    "model.base_url": "--base-url", "record.stop_key": "--stop-key",
}


def settings_from(args: argparse.Namespace, flags: dict[str, str] | None = None, **extra: Any) -> Settings:
    """Config file + overrides; `flags` names the origin of an override where `FLAGS` does not."""
    path = args.config or ("config.yaml" if Path("config.yaml").is_file() else None)
    overrides = {
        "safety.dry_run": getattr(args, "dry_run", None),
        "trace.dir": args.trace_dir,
        "loop.max_steps": getattr(args, "max_steps", None),
        "executor.backend": getattr(args, "backend", None),
        **extra,
    }
    settings = load_settings(path, overrides, {**FLAGS, **(flags or {})})
    if not Path(settings.trace.dir).is_absolute():  # trace paths are printed and handed on: absolute everywhere
        overrides["trace.dir"] = str(Path(settings.trace.dir).absolute())
        settings = load_settings(path, overrides, {**FLAGS, **(flags or {})})
    return settings


def watch_flags(p: argparse.ArgumentParser) -> None:
    """--quiet, --json and --console: how a run is watched (agent.watch, agent.console)."""
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="no step lines, only the summary at the end")
    shown.add_argument("--json", dest="json_events", action="store_true",
                       help="one JSON object per line on stdout: the trace's own lines (header, steps, events, end)")
    p.add_argument("--console", action="store_true",
                   help="serve the local web console for this run (its URL, with a token, is printed)")


def run_watched(args: argparse.Namespace, settings: Settings, task: str, policy: Any, origin: Any) -> int:
    """Run `task` with the live view (and the console, if asked), print the summary, return the exit code."""
    from agent.run.runner import execute
    from agent.watch.session import Watch, mode_of

    with Watch(settings, mode_of(args), getattr(args, "console", False)) as watch:
        return watch.finish(execute(task, policy, settings, origin, hooks=watch.hooks()))


def report(run: RunReport) -> int:
    """Print how a run ended and where its trace is; return the exit code."""
    r = run.result
    print(f"status: {r.status} ({r.reason}); steps: {r.steps}")
    if r.answer is not None:
        print(f"answer: {r.answer}")
    print(f"trace: {Path(run.trace_dir).absolute()}")
    return r.exit_code
