"""The queue survives a daemon restart; a task that was running is marked interrupted, not re-run."""

from __future__ import annotations

import threading
from pathlib import Path

from daemon_helpers import SteppedPolicy, ask, paths_for, running_daemon, submit, wait_until

from agent.daemon.queue_store import QueueStore
from agent.daemon.wire import Submit
from agent.traces.store import read_trace


def test_queued_tasks_survive_a_restart_and_the_running_one_is_interrupted(base: Path) -> None:
    policy = SteppedPolicy(steps=3, gated=True)
    with running_daemon(base, policy=policy) as daemon:
        running, replies = submit(daemon, kind="run", task="was running")
        started, _ = replies.until("started")
        wait_until(policy.deciding.is_set, what="the first task to decide")
        waiting = []
        for text, detach in (("second", False), ("third", True)):
            sock, more = submit(daemon, kind="run", task=text, options={"detach": detach})
            waiting.append((sock, more, more.until("queued")[0]["id"]))
        threading.Timer(0.3, policy.allow, args=(5,)).start()  # let the blocked decision return
    # the daemon has stopped: the clients still attached heard why
    end, _ = replies.until("end")
    assert end["status"] == "cancelled" and "the daemon stopped" in end["reason"]
    shutdown, _ = waiting[0][1].until("error")
    assert shutdown["code"] == "shutdown" and waiting[0][2] in shutdown["message"]
    for sock, _, _ in [(running, None, None), *waiting]:
        sock.close()
    assert read_trace(started["trace_dir"]).end.status == "cancelled"

    store = QueueStore(paths_for(base).queue_db)
    assert [t.id for t in store.queued()] == [waiting[0][2], waiting[1][2]]
    assert store.get(started["id"]).state == "interrupted"
    store.close()

    after = SteppedPolicy(steps=1)
    with running_daemon(base, policy=after) as daemon:
        for _, _, task_id in waiting:
            wait_until(lambda task_id=task_id: daemon.store.get(task_id).state == "finished", what=task_id)
        tasks = {t["id"]: t for t in ask(daemon, {"type": "queue"})["tasks"]}
    assert after.tasks == ["second", "third"]  # in their order; the interrupted one is not run again
    assert tasks[started["id"]]["state"] == "interrupted"
    assert [tasks[i]["status"] for _, _, i in waiting] == ["success", "success"]


def test_a_daemon_that_died_mid_task_leaves_it_interrupted(base: Path) -> None:
    db = base / "queue.sqlite3"
    store = QueueStore(db)
    for task_id in ("0000000a", "0000000b"):
        store.add(task_id, Submit(type="submit", kind="run", task=f"task {task_id}"))
    assert store.claim_next() is not None  # running when the process "dies" (nothing finishes it)
    store.close()
    reopened = QueueStore(db)
    assert reopened.get("0000000a").state == "running"  # opening changes nothing: only the lock holder recovers
    assert reopened.recover() == ["0000000a"]
    a, b = reopened.get("0000000a"), reopened.get("0000000b")
    assert a.state == "interrupted" and a.status == "cancelled" and "not run again" in a.reason
    assert b.state == "queued" and reopened.claim_next()[0] == "0000000b"
    reopened.close()


def test_finished_tasks_are_pruned(base: Path) -> None:
    store = QueueStore(base / "q.sqlite3", keep_finished=2)
    for n in range(5):
        task_id = f"{n:08x}"
        store.add(task_id, Submit(type="submit", kind="run", task="t"))
        store.claim_next()
        store.finish(task_id, "success", "done", 0)
    assert [t.id for t in store.recent()] == ["00000004", "00000003"]
    store.close()
