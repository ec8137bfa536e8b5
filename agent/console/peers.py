"""Who is at the other end of a loopback TCP connection: the peer's uid, from the kernel's socket table.

The console listens on loopback TCP, where any local user can connect; the token keeps strangers
out of the pages, but a stranger who never sends a token could still hold connections open. Knowing
the peer's uid at accept time lets the server refuse other users before they cost a thread or a
slot (as the daemon's Unix socket does with SO_PEERCRED, which TCP sockets lack).
How: on Linux every TCP socket is a line of /proc/net/tcp (IPv4) or /proc/net/tcp6 (IPv6, and IPv4
through mapped addresses) with its local and remote address and its owner's uid. The peer's socket
is the one whose local address is our remote one and whose remote address is our local one.
Not for: deciding whom to serve (agent.console.server does).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


class PeerUnknown(Exception):
    """This system cannot say who the peer is (no /proc/net/tcp: not Linux)."""


def loopback_peer_uid(conn: socket.socket, tables: tuple[Path, ...] = TABLES) -> int | None:
    """The uid owning the other end of `conn` (an accepted loopback TCP connection); None when the peer's
    socket is not in the table (it has gone already). Raises PeerUnknown where there is no table."""
    if not any(table.exists() for table in tables):
        raise PeerUnknown("no /proc/net/tcp here: the peer's user cannot be told")
    ours, theirs = conn.getsockname(), conn.getpeername()
    want = ({_entry(theirs[0], theirs[1], v6) for v6 in (False, True)},
            {_entry(ours[0], ours[1], v6) for v6 in (False, True)})
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 7 and fields[1] in want[0] and fields[2] in want[1]:
                return int(fields[7])
    return None


def _entry(host: str, port: int, v6: bool) -> str:
    """`host:port` as the kernel writes it in /proc/net/tcp (v6=False) or tcp6 (v6=True): the address's
    32-bit words in the machine's byte order, in hex, then the port in hex."""
    address = ipaddress.ip_address(host.split("%")[0])
    if v6 and address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    elif not v6 and isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (address.version == 6) != v6:
        return ""
    words = struct.unpack(f"={len(address.packed) // 4}I", address.packed)
    return "".join(f"{w:08X}" for w in words) + f":{port:04X}"
