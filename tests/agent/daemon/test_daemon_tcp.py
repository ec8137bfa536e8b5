"""TCP: off unless configured, loopback only (a config error otherwise), and a bearer token sent first."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from daemon_helpers import ask, running_daemon, script, settings_for

from agent.config import ConfigError
from agent.daemon.client import Endpoint, connect, request, stream
from agent.daemon.sockets import DaemonError
from agent.daemon.wire import StatusRequest, Submit, auth_line

TOKEN = "s3cret-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_ask(address: tuple[str, int], message: dict, first: bytes = b"") -> dict:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(first + json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            assert chunk, "closed without a reply"
            data += chunk
    return json.loads(data)


def test_no_tcp_unless_configured(base: Path) -> None:
    with running_daemon(base) as daemon:
        assert daemon.tcp_address is None and len(daemon._listeners) == 1


def test_tcp_needs_the_token_first(base: Path) -> None:
    settings = settings_for(base, **{"daemon.tcp": f"127.0.0.1:{free_port()}"})
    with running_daemon(base, settings, token=TOKEN) as daemon:
        address = daemon.tcp_address
        assert tcp_ask(address, {"type": "status"})["code"] == "unauthorized"
        assert tcp_ask(address, {"type": "status"}, b"AUTH wrong\n")["code"] == "unauthorized"
        assert tcp_ask(address, {"type": "status"}, b"AUTH \n")["code"] == "unauthorized"
        assert tcp_ask(address, {"type": "status"}, b"AUTH " + TOKEN.encode() + b"x\n")["code"] == "unauthorized"
        assert tcp_ask(address, {"type": "status"}, auth_line(TOKEN))["type"] == "status"
        assert request(Endpoint(tcp=address, token=TOKEN), StatusRequest(type="status")).type == "status"
        assert request(Endpoint(tcp=address), StatusRequest(type="status")).code == "unauthorized"
        assert ask(daemon, {"type": "status"})["type"] == "status"  # the Unix socket needs no token
        path = script(base, [{"action": "left_click", "coordinate": [5, 5]}])
        submit = Submit(type="submit", kind="replay", path=str(path))
        assert stream(connect(Endpoint(tcp=address, token=TOKEN)), submit, confirm=lambda q: False) == 0
        assert stream(connect(Endpoint(tcp=address, token="nope")), submit, confirm=lambda q: False) == 2


def test_tcp_without_a_token_does_not_start(base: Path) -> None:
    settings = settings_for(base, **{"daemon.tcp": f"127.0.0.1:{free_port()}"})
    with pytest.raises(DaemonError, match="DESKPILOT_DAEMON_TOKEN"), running_daemon(base, settings):
        pass


@pytest.mark.parametrize("address", ["0.0.0.0:8765", "192.168.1.20:8765", "example.com:80", "[::]:1",
                                     "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1", ":8765"])
def test_non_loopback_or_malformed_binds_are_config_errors(address: str) -> None:
    from agent.config import load_settings

    with pytest.raises(ConfigError, match=r"daemon\.tcp"):
        load_settings(None, {"daemon.tcp": address})


@pytest.mark.parametrize("address", ["127.0.0.1:8765", "127.3.4.5:1", "[::1]:8765", "localhost:8765"])
def test_loopback_binds_are_accepted(address: str) -> None:
    from agent.config import load_settings

    assert load_settings(None, {"daemon.tcp": address}).daemon.tcp == address
