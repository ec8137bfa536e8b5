"""The client side: `submit_or_none`, the live step view, answering questions, and the CLI's
`replay` hand-off and `status` / `queue` / `cancel` against a daemon running in a thread."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from daemon_helpers import (
    SteppedPolicy,
    config_file,
    running_daemon,
    script,
    settings_for,
    submit,
    wait_until,
)

from agent.cli.main import main
from agent.daemon.client import ask_on_tty, replay_request, step_line, submit_or_none
from agent.daemon.wire import ConfirmRequest, StepEvent

CLICK = {"action": "left_click", "coordinate": [20, 30]}


def test_no_daemon_means_none(base: Path) -> None:
    settings = settings_for(base, **{"daemon.socket": str(base / "nobody.sock")})
    assert submit_or_none(settings, replay_request(script(base, [CLICK]))) is None


def test_submit_streams_steps_and_answers_questions(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(base, **{"safety.confirm": "always", "daemon.socket": str(base / "run" / "d.sock")})
    asked: list[ConfirmRequest] = []
    with running_daemon(base, settings):
        request = replay_request(script(base, [CLICK, {"action": "type", "text": "ok"}]), max_steps=5)
        code = submit_or_none(settings, request, confirm=lambda q: asked.append(q) or True)
    out, err = capsys.readouterr()
    assert code == 0 and [q.question for q in asked] == [1, 2]
    assert "status: success" in out and "trace: " in out
    steps = [line for line in err.splitlines() if line.lstrip()[:1].isdigit()]
    assert len(steps) == 3 and "left_click" in steps[0] and "allow (confirm_always)" in steps[0]
    assert "handing the task to the daemon" in err


def test_cli_replay_hands_off_and_status_queue_cancel_answer(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(base)
    path = script(base, [CLICK])
    policy = SteppedPolicy(steps=3, gated=True)
    with running_daemon(base, settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")}),
                       policy=policy) as daemon:
        assert main(["replay", str(path), "--config", str(config)]) == 0
        assert "status: success" in capsys.readouterr().out
        sock, replies = submit(daemon, kind="run", task="blocked")
        with sock:
            task_id = replies.until("started")[0]["id"]
            assert main(["status", "--config", str(config)]) == 0
            assert f"running: {task_id}  running" in capsys.readouterr().out
            assert main(["queue", "--config", str(config), "--json"]) == 0
            assert f'"id": "{task_id}"' in capsys.readouterr().out
            assert main(["cancel", "ffffffff", "--config", str(config)]) == 1
            assert main(["cancel", "--config", str(config)]) == 0
            assert f"task {task_id} cancelled (it was running)" in capsys.readouterr().out
            policy.allow(5)
            assert replies.until("end")[0]["status"] == "cancelled"
        wait_until(lambda: daemon.worker.current is None)
    assert main(["queue", "--config", str(config)]) == 2
    assert "no daemon answers" in capsys.readouterr().err


def test_no_daemon_flag_runs_in_process(base: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)  # in-process needs a display: none here, so it says so
    config = config_file(base)
    with running_daemon(base, settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")})) as daemon:
        code = main(["replay", str(script(base, [CLICK])), "--config", str(config), "--no-daemon", "--dry-run"])
        assert daemon.store.recent() == []
    err = capsys.readouterr().err
    assert code == 2 and "display" in err and "handing" not in err


def test_refused_task_is_bad_input(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")})
    with running_daemon(base, settings):
        request = replay_request(script(base, [CLICK])).model_copy(update={"path": str(base / "gone.yaml")})
        assert submit_or_none(settings, request) == 2
    assert "no such file" in capsys.readouterr().err


def test_step_line() -> None:
    event = StepEvent(id="a", index=3, action={"action": "left_click", "coordinate": [640, 400]},
                      verdict={"decision": "allow", "rule": "default", "reason": ""}, outcome={"status": "executed"},
                      timings_ms={"decide": 12.2, "execute": 30.0, "settle": 80.4})
    expected = "  3  left_click coordinate=[640,400]  allow  executed  decide 12 · execute 30 · settle 80 ms"
    assert step_line(event) == expected
    unusable = StepEvent(id="a", index=1, action=None, verdict=None, outcome={"status": "invalid"}, timings_ms={})
    assert "(unusable answer)" in step_line(unusable) and "invalid" in step_line(unusable)


def test_without_a_terminal_the_answer_is_no() -> None:
    question = ConfirmRequest(id="a", question=1, action=CLICK, rule="r", reason="why", timeout_s=5)
    err = io.StringIO()
    assert ask_on_tty(question, stdin=io.StringIO("y\n"), err=err) is False
    assert "no terminal" in err.getvalue()


@pytest.mark.parametrize(("typed", "approved"), [(b"y\n", True), (b"yes\n", True), (b"n\n", False), (b"", False)])
def test_a_terminal_answers(typed: bytes, approved: bool) -> None:
    import os
    import pty

    question = ConfirmRequest(id="a", question=1, action=CLICK, rule="r", reason="why", timeout_s=0.3,
                              preview="/t/confirm-001.png")
    master, slave = pty.openpty()
    with os.fdopen(slave, "r") as terminal:
        os.write(master, typed)
        err = io.StringIO()
        assert ask_on_tty(question, stdin=terminal, err=err) is approved
    os.close(master)
    assert "Allow it? [y/N]" in err.getvalue() and "/t/confirm-001.png" in err.getvalue()
    assert ("timed out" in err.getvalue()) is (typed == b"")


def test_cli_run_hands_the_task_to_the_daemons_loaded_model(base: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)  # in-process would fail: only the daemon can do it
    config = config_file(base)
    policy = SteppedPolicy(steps=2)
    with running_daemon(base, settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")}),
                        policy=policy):
        assert main(["run", "click twice", "--config", str(config)]) == 0
    assert policy.tasks == ["click twice"]
    assert "status: success" in capsys.readouterr().out


def test_cli_run_with_model_flags_stays_in_process(base: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    config = config_file(base)
    policy = SteppedPolicy(steps=2)
    with running_daemon(base, settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")}),
                        policy=policy):
        code = main(["run", "click", "--config", str(config), "--model", "/models/other"])
    assert code == 2 and policy.tasks == [] and "display" in capsys.readouterr().err


def test_a_trace_replayed_by_the_daemon_is_verified_like_in_process(base: Path) -> None:
    from agent.traces.store import read_trace

    settings = settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")})
    with running_daemon(base, settings) as daemon:
        assert submit_or_none(settings, replay_request(script(base, [CLICK]))) == 0
        first = Path(daemon.store.recent()[0].trace_dir)
        assert submit_or_none(settings, replay_request(first)) == 0
        assert submit_or_none(settings, replay_request(first, verify=False)) == 0
        unverified, verified = (Path(t.trace_dir) for t in daemon.store.recent()[:2])  # newest first
    assert read_trace(verified).header.replay["verify"] is True
    assert read_trace(unverified).header.replay["verify"] is False
    assert read_trace(verified).steps[0].policy["verify"]["result"] in {"matched", "settled"}


def test_run_on_a_daemon_without_a_model_suggests_no_daemon(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(base)
    with running_daemon(base, settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")})):
        assert main(["run", "click", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "takes replays only" in err and "deskpilot run --no-daemon" in err


@pytest.mark.parametrize(("command", "flag"), [("replay", "--executor"), ("run", "--executor")])
def test_an_executor_chosen_here_is_said_to_be_unused_by_the_daemon(base: Path, command: str, flag: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(base)
    task = str(script(base, [CLICK])) if command == "replay" else "click"
    with running_daemon(base, settings_for(base, **{"daemon.socket": str(base / "run" / "d.sock")}),
                        policy=SteppedPolicy(steps=1)):
        assert main([command, task, "--config", str(config), flag, "pynput"]) == 0
        assert main([command, task, "--config", str(config)]) == 0
        assert main([command, task, "--config", str(config), "--console"]) == 0
    err = capsys.readouterr().err
    assert err.count(f"deskpilot: {flag} pynput is not used: the daemon's executor runs the task") == 1
    assert "--no-daemon runs it here with pynput" in err
    assert err.count("deskpilot: --console is not used: the daemon serves its own console") == 1
