"""The `deskpilot` command line: parse arguments, build settings, dispatch to a command.

Exit codes are a contract: 0 success; 1 the task ended without success (failure, max steps,
denied, stuck, error); 2 bad input (arguments, config, script, trace) or an unusable environment;
3 cancelled by the user. Every expected problem is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from agent.config import ConfigError, Settings, load_settings
from agent.runner import EnvironmentProblem, RunReport
from agent.trace import TraceError
from policies.script import ScriptError

BAD_INPUT = 2
_EXPECTED = (ConfigError, ScriptError, TraceError, EnvironmentProblem)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except _EXPECTED as exc:
        print(f"deskpilot: {exc}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("deskpilot: cancelled", file=sys.stderr)
        return 3


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deskpilot", description="A desktop agent: observe, decide, gate, act.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    replay = sub.add_parser("replay", help="replay a task script (YAML/JSON) or a trace directory")
    replay.add_argument("path", help="a task script file or a trace directory")
    replay.add_argument("--var", action="append", default=[], metavar="K=V", help="fill {{K}} in the script")
    _common(replay)
    replay.set_defaults(handler=_replay)
    demo = sub.add_parser("demo", help="run a bundled task on a private virtual display and sandbox app")
    demo.add_argument("--trace-dir", help="where to write the trace (default: trace.dir of the config)")
    demo.add_argument("--config", help="config file (default: ./config.yaml if present)")
    demo.add_argument("--backend", choices=["pyautogui", "pynput"], help="executor backend")
    demo.set_defaults(handler=_demo)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", default=None, help="decide and review, execute nothing")
    p.add_argument("--trace-dir", help="where to write the trace (default: trace.dir of the config)")
    p.add_argument("--config", help="config file (default: ./config.yaml if present)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps")
    p.add_argument("--backend", choices=["pyautogui", "pynput"], help="executor backend")


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    path = args.config or ("config.yaml" if Path("config.yaml").is_file() else None)
    overrides = {
        "safety.dry_run": getattr(args, "dry_run", None),
        "trace.dir": args.trace_dir,
        "loop.max_steps": getattr(args, "max_steps", None),
        "executor.backend": getattr(args, "backend", None),
        **extra,
    }
    return load_settings(path, overrides)


def _replay(args: argparse.Namespace) -> int:
    from agent.replay import load_replay
    from agent.runner import execute

    task, policy = load_replay(args.path, args.var)
    settings = settings_from(args)
    if args.max_steps is None:  # a script runs to its end: one step per action plus the final one
        settings = settings_from(args, **{"loop.max_steps": max(settings.loop.max_steps, len(policy.steps) + 1)})
    return report(execute(task, policy, settings, {"source": str(args.path)}))


def _demo(args: argparse.Namespace) -> int:
    from agent.demo import run_demo

    return run_demo(settings_from(args))


def report(run: RunReport) -> int:
    r = run.result
    print(f"status: {r.status} ({r.reason}); steps: {r.steps}")
    if r.answer is not None:
        print(f"answer: {r.answer}")
    print(f"trace: {run.trace_dir}")
    return r.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
