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
    return load_settings(path, overrides, {**FLAGS, **(flags or {})})


def report(run: RunReport) -> int:
    """Print how a run ended and where its trace is; return the exit code."""
    r = run.result
    print(f"status: {r.status} ({r.reason}); steps: {r.steps}")
    if r.answer is not None:
        print(f"answer: {r.answer}")
    print(f"trace: {run.trace_dir}")
    return r.exit_code
