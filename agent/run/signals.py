"""SIGINT and SIGTERM as a stop flag: a run (or a recording) ends cleanly, its trace gets its end line.

Not for: the kill hotkey or takeover (agent.safety), or the daemon's client, which cancels its remote task.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM set `stop` instead of raising; the old handlers come back after.

    Off the main thread (the daemon's worker) signals cannot be handled here, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
