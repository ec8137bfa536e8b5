"""The daemon's task queue in SQLite, so queued tasks survive a daemon restart.

Tasks move queued → running → finished (with the run's status), or queued → finished (cancelled
before they started). `recover`, called by the daemon once it holds the queue's lock, marks a task
still `running` as `interrupted`: the daemon died while it drove the desktop, and it is never
silently run again. Opening the store changes nothing. Submit requests are stored
as their JSON (the TCP token is never part of it). Finished tasks beyond `keep_finished` are pruned.
The store is shared between the daemon's threads behind one lock.
Not for: running tasks or talking to clients.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from agent.daemon.wire import Submit, TaskInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    summary TEXT NOT NULL,
    status TEXT, reason TEXT, trace_dir TEXT, exit_code INTEGER,
    submitted_at REAL NOT NULL, started_at REAL, finished_at REAL
)
"""
_COLUMNS = "id, kind, state, summary, status, reason, trace_dir, exit_code, submitted_at, started_at, finished_at"


class QueueStore:
    def __init__(self, path: str | Path, keep_finished: int = 100) -> None:
        self.path, self.keep = Path(path), keep_finished
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # private before SQLite opens it
        os.close(fd)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def recover(self) -> list[str]:
        """Mark the tasks left `running` by a daemon that died `interrupted`; their ids. Call it only while
        holding the queue's lock (`agent.daemon.lock`): a task another daemon runs is running indeed."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM tasks WHERE state='running'").fetchall()
            self._db.execute(
                "UPDATE tasks SET state='interrupted', status='cancelled', finished_at=?, "
                "reason='the daemon stopped while this task ran; it is not run again' WHERE state='running'",
                (time.time(),),
            )
        return [row[0] for row in rows]

    def add(self, task_id: str, request: Submit) -> None:
        stored = request.model_dump_json()
        with self._lock:
            self._db.execute(
                "INSERT INTO tasks (id, kind, request, state, summary, submitted_at) VALUES (?, ?, ?, 'queued', ?, ?)",
                (task_id, request.kind, stored, request.summary(), time.time()),
            )

    def claim_next(self) -> tuple[str, str] | None:
        """Mark the oldest queued task running and return its id and stored request (JSON, for
        `Submit.model_validate_json`); None when the queue is empty."""
        with self._lock:
            row = self._db.execute("SELECT id, request FROM tasks WHERE state='queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE tasks SET state='running', started_at=? WHERE id=?", (time.time(), row[0]))
        return str(row[0]), str(row[1])

    def count_queued(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM tasks WHERE state='queued'").fetchone()[0])

    def set_trace(self, task_id: str, trace_dir: str) -> None:
        with self._lock:
            self._db.execute("UPDATE tasks SET trace_dir=? WHERE id=?", (trace_dir, task_id))

    def finish(self, task_id: str, status: str, reason: str, exit_code: int, trace_dir: str | None = None,
               state: str = "finished") -> None:
        with self._lock:
            self._db.execute(
                "UPDATE tasks SET state=?, status=?, reason=?, exit_code=?, trace_dir=COALESCE(?, trace_dir), "
                "finished_at=? WHERE id=?",
                (state, status, reason, exit_code, trace_dir, time.time(), task_id),
            )
            self._prune()

    def cancel_queued(self, task_id: str, reason: str) -> bool:
        """Finish a still-queued task as cancelled; False when it is not queued (any more)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE tasks SET state='finished', status='cancelled', reason=?, exit_code=3, finished_at=? "
                "WHERE id=? AND state='queued'",
                (reason, time.time(), task_id),
            )
            return cursor.rowcount == 1

    def get(self, task_id: str) -> TaskInfo | None:
        return next(iter(self._select("WHERE id=?", (task_id,))), None)

    def position(self, task_id: str) -> int | None:
        """1-based place among the queued tasks (None when not queued)."""
        queued = [t.id for t in self._select("WHERE state='queued' ORDER BY seq")]
        return queued.index(task_id) + 1 if task_id in queued else None

    def queued(self) -> list[TaskInfo]:
        tasks = self._select("WHERE state='queued' ORDER BY seq")
        return [t.model_copy(update={"position": i}) for i, t in enumerate(tasks, start=1)]

    def running(self) -> TaskInfo | None:
        return next(iter(self._select("WHERE state='running' ORDER BY seq")), None)

    def recent(self, limit: int = 10) -> list[TaskInfo]:
        return self._select("WHERE state IN ('finished', 'interrupted') ORDER BY seq DESC LIMIT ?", (limit,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _select(self, where: str, params: tuple[object, ...] = ()) -> list[TaskInfo]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM tasks {where}", params).fetchall()
        names = _COLUMNS.split(", ")
        return [TaskInfo.model_validate(dict(zip(names, row, strict=True))) for row in rows]

    def _prune(self) -> None:
        self._db.execute(
            "DELETE FROM tasks WHERE state IN ('finished', 'interrupted') AND seq NOT IN "
            "(SELECT seq FROM tasks WHERE state IN ('finished', 'interrupted') ORDER BY seq DESC LIMIT ?)",
            (self.keep,),
        )
