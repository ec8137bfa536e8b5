"""One daemon per queue: an exclusive lock on a file beside the queue store.

`QueueLock.acquire` takes `flock(LOCK_EX | LOCK_NB)` on `<queue>.lock` (0600, in the queue's 0700
directory) before anything in the queue is opened, read or changed, and writes the owner's pid and
socket into it. The kernel drops the lock when its process ends, however it ends (SIGKILL too), so
a stale lock file never blocks the next daemon. A second daemon on the same queue gets `QueueBusy`,
one line naming the first one's pid and socket, having changed nothing.
Not for: the queue itself (`agent.daemon.queue_store`) or the socket (`agent.daemon.sockets`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from agent.daemon.sockets import DaemonError


class QueueBusy(DaemonError):
    """Another daemon holds this queue; one line naming it."""


class QueueLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, path: Path, socket_path: Path) -> QueueLock:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise QueueBusy(f"another daemon ({owner}) already serves the queue {path.with_suffix('')}; "
                            "stop it first, or give this one its own daemon.queue_db and daemon.socket") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket_path}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock; the file stays (removing it would race a newcomer)
            self._fd = -1


def _read_owner(fd: int) -> str:
    try:
        pid, _, socket_path = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip().partition(" ")
    except OSError:
        return "pid unknown"
    return f"pid {pid or 'unknown'}, socket {socket_path or 'unknown'}"
