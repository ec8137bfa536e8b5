"""Traces: a directory with `trace.jsonl` and one screenshot per step.

`trace.jsonl` holds a header line, one line per step and an end line. Each line is flushed and
fsynced as it is written, and a step's screenshot is on disk before its line, so a crash or
SIGKILL loses no finished step. `read_trace` reads a trace back, tolerating a torn last line.
Not for: deciding what goes in a step (the loop does).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actions.geometry import Screenshot

SCHEMA = "deskpilot.trace"
VERSION = 1
TRACE_FILE = "trace.jsonl"


class TraceError(ValueError):
    """A path that is not a readable trace; the message is one line."""


def new_trace_dir(base: str | Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(base) / f"{stamp}-{secrets.token_hex(3)}"
    path.mkdir(parents=True, exist_ok=False)
    return path


class TraceWriter:
    """Appends header, steps and end to a new trace directory, durably."""

    def __init__(self, directory: str | Path, png_compress_level: int = 1) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.dir / TRACE_FILE, "x", encoding="utf-8")  # noqa: SIM115 - held for the run
        self._compress = png_compress_level

    def header(self, **fields: Any) -> None:
        self._line({"type": "header", "schema": SCHEMA, "version": VERSION, **fields})

    def step(self, index: int, record: dict[str, Any], shot: Screenshot | None) -> None:
        """Write the step's screenshot, then its line (with the time both took, in ms)."""
        started = time.perf_counter()
        name = None
        if shot is not None:
            name = f"step-{index:04d}.png"
            _write_durably(self.dir / name, shot, self._compress)
        line = {"type": "step", "index": index, **record, "screenshot": name}
        line.setdefault("timings_ms", {})["trace"] = round((time.perf_counter() - started) * 1000, 2)
        self._line(line)

    def end(self, **fields: Any) -> None:
        self._line({"type": "end", **fields})

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def _line(self, obj: dict[str, Any]) -> None:
        self._file.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())


def _write_durably(path: Path, shot: Screenshot, compress_level: int = 1) -> None:
    with open(path, "wb") as f:
        shot.image.save(f, format="PNG", compress_level=compress_level)
        f.flush()
        os.fsync(f.fileno())


@dataclass(frozen=True)
class Trace:
    dir: Path
    header: dict[str, Any]
    steps: tuple[dict[str, Any], ...]
    end: dict[str, Any] | None = None
    torn: bool = field(default=False)


def read_trace(path: str | Path) -> Trace:
    """Read a trace directory (or its trace.jsonl); a torn final line is dropped, not fatal."""
    path = Path(path)
    file = path / TRACE_FILE if path.is_dir() else path
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: not a readable trace ({exc})") from None
    records, torn = [], False
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                torn = True
                break
            raise TraceError(f"{file}: line {number} is not JSON") from None
    if not records or records[0].get("type") != "header" or records[0].get("schema") != SCHEMA:
        raise TraceError(f"{file}: no deskpilot trace header on the first line")
    steps = tuple(r for r in records if r.get("type") == "step")
    end = next((r for r in records if r.get("type") == "end"), None)
    return Trace(dir=file.parent, header=records[0], steps=steps, end=end, torn=torn)
