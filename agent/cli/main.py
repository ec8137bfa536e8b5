"""The `deskpilot` command line: parse arguments, build settings, dispatch to a command.

Exit codes are a contract: 0 success; 1 the task ended without success (failure, max steps, max time,
denied, stuck, error); 2 bad input (arguments, config, script, trace) or an unusable environment;
3 cancelled by the user. Every expected problem is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actions.errors import CANCELLED, DeskpilotError
from agent.cli.common import Parser, run_watched, settings_from, watch_flags
from agent.config import ConfigError, Settings
from agent.errors import EnvironmentProblem
from agent.traces.lines import Origin
from agent.traces.store import TRACE_FILE
from policies.base import NeedsGrounder


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except DeskpilotError as exc:  # every expected error, whichever layer raised it: one line, its exit code
        print(f"deskpilot: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("deskpilot: cancelled", file=sys.stderr)
        return CANCELLED


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="deskpilot", description="A desktop agent: observe, decide, gate, act.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    replay = sub.add_parser("replay", help="replay a task script (YAML/JSON) or a trace directory")
    replay.add_argument("path", help="a task script file or a trace directory")
    replay.add_argument("--var", action="append", default=[], metavar="K=V", help="fill {{K}} in the script")
    replay.add_argument("--no-daemon", action="store_true", help="run here even when a daemon is running")
    replay.add_argument("--no-verify", action="store_true", help="a trace: replay without comparing the screen")
    replay.add_argument("--reground", action="store_true", default=None,
                        help="a trace: let the configured model find targets that moved beyond recognition")
    _common(replay)
    watch_flags(replay)
    replay.set_defaults(handler=_replay)
    run = sub.add_parser("run", help="do TASK on this desktop with the Qwen2.5-VL policy")
    run.add_argument("task", help="what to do, in words")
    _run_args(run)
    watch_flags(run)
    run.set_defaults(handler=_run)
    demo = sub.add_parser("demo", help="run a bundled task on a private virtual display and sandbox app")
    demo.add_argument("--trace-dir", help="where to write the trace (default: trace.dir of the config)")
    demo.add_argument("--config", help="config file (default: ./config.yaml if present)")
    demo.add_argument("--executor", dest="backend", choices=["pyautogui", "pynput"], help="executor backend")
    demo.add_argument("--watch", action="store_true",
                      help="show the private display read-only in a browser (x11vnc + websockify + noVNC; URL printed)")
    watch_flags(demo)
    demo.set_defaults(handler=_demo)
    _bench_parsers(sub.add_parser("bench", help="measure: bench loop | bench settle | bench model"))
    from agent.cli.daemon import add_commands

    add_commands(sub)  # daemon, status, cancel, resume, queue
    from agent.cli.traces import add_commands as add_trace_commands

    add_trace_commands(sub)  # record, script-from, report, export
    from agent.cli.extras import add_commands as add_extra_commands

    add_extra_commands(sub)  # console, sandbox
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deskpilot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _bench_parsers(bench: argparse.ArgumentParser) -> None:
    """`bench` is a group: each benchmark adds its own sub-command to `bench.subcommands`."""
    group = bench.add_subparsers(dest="bench", required=True, parser_class=Parser)
    for name, help_text, steps in (("loop", "per-phase cost of a step without the model", 40),
                                   ("settle", "settling by polling vs a fixed 1 s sleep", 20)):
        p = group.add_parser(name, help=help_text)
        p.add_argument("--size", default="1920x1080", type=_size, help="virtual screen, e.g. 1920x1080 or 3840x2160")
        p.add_argument("--steps", type=int, default=steps, help="scripted steps to run")
        p.add_argument("--executor", dest="backend", choices=["pyautogui", "pynput"], help="executor backend")
        p.add_argument("--config", help="config file (default: ./config.yaml if present)")
        p.add_argument("--json", dest="json_out", help="also write the result as JSON to this file")
        p.add_argument("--trace-dir", help=argparse.SUPPRESS)
        p.set_defaults(handler=_bench)
    from agent.bench.model_cli import add_arguments as add_model_bench_arguments

    model = group.add_parser("model", help="Qwen2.5-VL step latency by phase: vision, prefill, decode, memory")
    add_model_bench_arguments(model)
    model.set_defaults(handler=_bench_model)
    bench.set_defaults(bench_group=group)


def _bench_model(args: argparse.Namespace) -> int:
    from agent.bench import model_cli as bench_model_cli

    return bench_model_cli.main(args, settings_from(args).model)


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or not (64 <= int(width) <= 8192 >= int(height) >= 64):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT between 64 and 8192, got {text!r}")
    return int(width), int(height)


def _bench(args: argparse.Namespace) -> int:
    import json

    from agent.bench import loop as bench_loop
    from agent.cli.output import check_target, write_atomically
    from agent.errors import EnvironmentProblem
    from agent.sandbox.xvfb import available

    if reason := available():
        raise EnvironmentProblem(f"bench {args.bench} needs Xvfb: {reason}")
    if args.steps < 1:
        raise ConfigError("--steps must be at least 1")
    if args.json_out:  # a path that cannot be a file is refused before the benchmark, not after it
        check_target(Path(args.json_out))
    settings = settings_from(args)
    if args.bench == "loop":
        result = bench_loop.bench_loop(settings, args.size, args.steps)
        bench_loop.print_loop(result)
    else:
        result = bench_loop.bench_settle(settings, args.size, args.steps)
        bench_loop.print_settle(result)
    if args.json_out:  # whole or not at all; an OutputError naming the file when it cannot be written
        write_atomically(args.json_out, [json.dumps(result, indent=2) + "\n"])
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", default=None, help="decide and review, execute nothing")
    p.add_argument("--trace-dir", help="where to write the trace (default: trace.dir of the config)")
    p.add_argument("--config", help="config file (default: ./config.yaml if present)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps")
    p.add_argument("--executor", dest="backend", choices=["pyautogui", "pynput"], help="executor backend")


def _run_args(p: argparse.ArgumentParser) -> None:
    """`run` has its own set: there `--backend` is the model backend; the executor is `--executor` everywhere."""
    p.add_argument("--backend", dest="model_backend", choices=["transformers", "openai"],
                   help="model backend (default: model.backend of the config)")
    p.add_argument("--model", help="hub id or local directory (transformers), or the served model name (openai)")
    p.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--max-steps", type=int, help="stop after this many steps")
    p.add_argument("--dry-run", action="store_true", default=None, help="decide and review, execute nothing")
    p.add_argument("--trace-dir", help="where to write the trace (default: trace.dir of the config)")
    p.add_argument("--config", help="config file (default: ./config.yaml if present)")
    p.add_argument("--executor", dest="backend", choices=["pyautogui", "pynput"], help="executor backend")
    p.add_argument("--no-daemon", action="store_true",
                   help="run here even when a daemon is running (--backend/--model/--base-url imply it)")


def _replay(args: argparse.Namespace) -> int:
    from agent.replay.source import load_replay

    task, policy = load_replay(args.path, args.var)
    settings = settings_from(args)
    if not args.no_daemon:  # a running daemon takes the task (and streams it back)
        from agent.daemon.client import replay_request, submit_or_none

        request = replay_request(args.path, args.var, args.dry_run, args.max_steps, args.trace_dir,
                                 verify=False if args.no_verify else None, reground=args.reground)
        code = submit_or_none(settings, request, note=_daemon_note(args), view=_view(args))
        if code is not None:
            return code
    if args.max_steps is None:  # a script runs to its end: one step per action plus the final one
        settings = settings_from(args, {"loop.max_steps": f"{args.path} ({len(policy.steps)} steps)"},
                                 **{"loop.max_steps": max(settings.loop.max_steps, len(policy.steps) + 1)})
    if Path(args.path).is_dir() or Path(args.path).name == TRACE_FILE:  # a trace: replay that verifies
        from agent.replay.verify import prepare_replay

        verify = False if args.no_verify else None  # None: replay.verify of the config
        prepared = prepare_replay(args.path, settings, verify, args.reground)
        try:
            return run_watched(args, settings, prepared.task, prepared.policy, prepared.origin)
        finally:
            prepared.close()
    return _play(args, task, policy, settings, str(args.path))


def _view(args: argparse.Namespace) -> Any:
    from agent.watch.session import mode_of
    from agent.watch.view import LiveView

    return LiveView(mode_of(args))


def _play(args: argparse.Namespace, task: str, policy: Any, settings: Settings, source: str) -> int:
    """Run a replay; a script that names targets gets the configured model to ground them."""
    if not (isinstance(policy, NeedsGrounder) and policy.targets):
        return run_watched(args, settings, task, policy, Origin(source=source))
    from agent.run.policy_factory import build_grounder, describe

    try:
        grounder = build_grounder(settings)
    except EnvironmentProblem as exc:
        raise EnvironmentProblem(f"{source}: its targets ({policy.targets[0]!r}, ...) need a model to find them "
                                 f"on the screen, and none can be used: {exc}") from None
    try:
        origin = Origin(source=source, model=describe(settings))
        return run_watched(args, settings, task, policy.with_grounder(grounder), origin)
    finally:
        grounder.close()


def _run(args: argparse.Namespace) -> int:
    from agent.run.policy_factory import build_policy, describe
    from agent.run.runner import check_desktop

    if not args.task.strip():
        raise ConfigError("the task must not be empty: say what to do, e.g. deskpilot run \"open the file menu\"")
    models = {"model.backend": args.model_backend, "model.name": args.model, "model.base_url": args.base_url}
    settings = settings_from(args, **models)
    if not args.no_daemon and not any(models.values()):  # a running daemon has the model loaded already
        from agent.daemon.client import run_request, submit_or_none

        code = submit_or_none(settings, run_request(args.task, args.dry_run, args.max_steps, args.trace_dir),
                              note=_daemon_note(args), view=_view(args))
        if code is not None:
            return code
    check_desktop(settings)  # no usable display: say so before a model is loaded
    policy = build_policy(settings)
    try:  # execute builds its own computer: on a real desktop the window rules, kill key and takeover apply
        return run_watched(args, settings, args.task, policy, Origin(model=describe(settings)))
    finally:
        policy.close()


def _daemon_note(args: argparse.Namespace) -> str:
    """What to say when the daemon takes a task with options chosen here that only a local run uses."""
    notes = []
    if args.backend:
        notes.append(f"--executor {args.backend} is not used: the daemon's executor runs the task (executor.backend "
                     f"of its config); --no-daemon runs it here with {args.backend}")
    if getattr(args, "console", False):
        notes.append("--console is not used: the daemon serves its own console when started with daemon.console "
                     "true (its URL is in its log); --no-daemon runs the task here with this console")
    return "\ndeskpilot: ".join(notes)


def _demo(args: argparse.Namespace) -> int:
    from agent.cli.demo import run_demo

    return run_demo(settings_from(args), args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
