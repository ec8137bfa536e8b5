"""The trace commands of the `deskpilot` CLI: record, script-from, report, export.

Kept out of agent.cli.main so that module stays about running tasks; `add_commands` registers these
sub-commands on its parser and every handler follows its conventions (one-line errors, exit codes;
an output file that cannot be written is an `agent.cli.output.OutputError`, exit 2). `export` ends with
a note on stderr: the image budget training must use for the coordinates to match.
Not for: the work itself (agent.record.recorder, agent.traces.script_from, agent.traces.report, agent.traces.export).
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from agent.cli.common import settings_from


def add_commands(sub: Any) -> None:
    record = sub.add_parser("record", help="record what you do (mouse and keyboard) as a replayable trace")
    record.add_argument("--out", metavar="DIR", help="the trace directory to write (default: a new one in trace.dir)")
    record.add_argument("--stop-key", metavar="KEY", help="key combination that ends the recording "
                        "(default: record.stop_key of the config, ctrl+alt+shift+e)")
    record.add_argument("--task", default="", help="what the demonstration does, in words (used by export)")
    record.add_argument("--trace-dir", help="where new traces go (default: trace.dir of the config)")
    record.add_argument("--config", help="config file (default: ./config.yaml if present)")
    record.set_defaults(handler=_record)
    script = sub.add_parser("script-from", help="print a task script (YAML) that replays a trace")
    script.add_argument("path", metavar="TRACE", help="a trace directory")
    script.add_argument("--var", action="append", default=[], metavar="NAME=LITERAL",
                        help="turn the typed LITERAL into {{NAME}} (with LITERAL as its default)")
    script.set_defaults(handler=_script_from)
    report = sub.add_parser("report", help="write a self-contained HTML report of a trace")
    report.add_argument("path", metavar="TRACE", help="a trace directory")
    report.add_argument("--out", metavar="FILE", help="the HTML file (default: TRACE/report.html)")
    report.set_defaults(handler=_report)
    export = sub.add_parser("export", help="turn traces into fine-tuning data")
    export.add_argument("paths", nargs="+", metavar="TRACE", help="trace directories")
    export.add_argument("--format", default="qwen-sft", choices=["qwen-sft"],
                        help="qwen-sft: Qwen2.5-VL chat records (messages + images), LLaMA-Factory/ms-swift")
    export.add_argument("--out", required=True, metavar="FILE", help="the JSONL file; images go to images/ beside it")
    export.add_argument("--all", dest="include_all", action="store_true",
                        help="include every step with an action, not only executed steps of successful runs")
    export.add_argument("--config", help="config file for the model's image budget (default: ./config.yaml)")
    export.set_defaults(handler=_export, trace_dir=None)


def _record(args: argparse.Namespace) -> int:
    from agent.record.recorder import announce_stderr, record
    from agent.run.signals import stop_on_signals

    settings = settings_from(args, **{"record.stop_key": args.stop_key})
    stop = threading.Event()
    with stop_on_signals(stop):
        result = record(settings, args.out, args.task, stop, announce=announce_stderr)
    ignored = f"; {result.ignored} event(s) outside the monitor or of unknown keys ignored" if result.ignored else ""
    print(f"recorded {result.steps} step(s) ({result.reason}){ignored}")
    print(f"trace: {Path(result.trace_dir).absolute()}")
    return 0


def _script_from(args: argparse.Namespace) -> int:
    from agent.traces.script_from import script_from_trace
    from agent.traces.store import read_trace

    sys.stdout.write(script_from_trace(read_trace(args.path), args.var))
    return 0


def _report(args: argparse.Namespace) -> int:
    from agent.traces.report import write_report

    print(f"report: {write_report(args.path, args.out).absolute()}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from agent.traces.export import export_qwen_sft, training_note

    result = export_qwen_sft(args.paths, args.out, settings_from(args), args.include_all)
    for line in result.skipped:
        print(f"skipped {line}", file=sys.stderr)
    print(f"exported {result.records} record(s) and {result.images} image(s) to {Path(result.out).absolute()}")
    if result.records:
        print(f"deskpilot: {training_note(result)}", file=sys.stderr)
    return 0 if result.records else 1
