"""Past traces for the console: the list under the trace directory, and a report for one of them.

Only names of directories directly below the trace base are accepted (no paths, no `..`), so the
page can only ever open traces, never other files.
Not for: rendering (agent.traces.report) or reading traces (agent.traces.store).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agent.traces.store import TRACE_FILE

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
LIMIT = 50


def list_traces(base: Path) -> list[dict[str, Any]]:
    """The newest `LIMIT` traces below `base`: name, task, status, steps (unreadable ones say so)."""
    from agent.traces.store import TraceError, read_trace

    try:
        found = sorted((p for p in base.iterdir() if (p / TRACE_FILE).is_file()),
                       key=lambda p: p.stat().st_mtime, reverse=True)[:LIMIT]
    except OSError:
        return []
    out = []
    for path in found:
        try:
            trace = read_trace(path)
        except (TraceError, OSError) as exc:
            out.append({"name": path.name, "task": "", "status": f"unreadable: {exc}", "steps": 0})
            continue
        status = trace.end.status if trace.end is not None else "unfinished"
        out.append({"name": path.name, "task": trace.header.task, "status": status, "steps": len(trace.steps)})
    return out


def report_html(base: Path, name: str) -> str | None:
    """The HTML report of trace `name` below `base`, or None if there is no such trace."""
    from agent.traces.report import render
    from agent.traces.store import TraceError, read_trace

    if not NAME.match(name) or not (base / name / TRACE_FILE).is_file():
        return None
    try:
        return render(read_trace(base / name))
    except (TraceError, OSError):
        return None
