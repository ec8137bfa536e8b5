"""Reading the files a person hands deskpilot (traces, scripts, configs, screenshots), bounded.

A path given on the command line may name anything: a FIFO (reading it blocks until a writer comes,
maybe for ever), a device (/dev/zero never ends, /dev/urandom neither), a file of gigabytes. Every
reader of such a file goes through `open_input`/`read_input`: the file is opened with O_NONBLOCK (a
FIFO opens at once instead of waiting for a writer), must be a regular file once open (fstat of the
opened file, so one swapped in after a check cannot slip through), and at most `max_bytes` of it are
read. A refusal is an `OSError` with an errno and a one-line `strerror`, like every other reason a
file cannot be read, so each caller keeps turning it into its own one-line error (TraceError,
ScriptError, ConfigError, ...). `check_expansion` bounds the other way a small YAML file gets huge:
aliases (a "billion laughs" of nested anchors is a few hundred bytes and 10**9 nodes once walked).
Lives in the lowest layer, like actions.errors, so that policies/ and agent/ can both use it.
Not for: writing (agent.cli.output) or the daemon's own vetting of a task's files (agent.daemon.tasks).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

MiB = 1024 * 1024
NOT_REGULAR = "not a regular file (a FIFO, device or socket)"


def open_input(path: str | Path, max_bytes: int) -> BinaryIO:
    """`path` opened for reading in binary, refused (`OSError`) unless it is a regular file of at most
    `max_bytes` bytes; the caller closes it. Opening never blocks, whatever `path` names, and anything
    but a regular file is refused before it is opened (opening a device can do things of its own)."""
    _check(os.stat(path), path, max_bytes)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        _check(os.fstat(fd), path, max_bytes)  # what was opened: not a file swapped in after the stat
        os.set_blocking(fd, True)  # a regular file: reads never wait anyway; PIL and friends expect blocking
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check(info: os.stat_result, path: str | Path, max_bytes: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, NOT_REGULAR, str(path))
    if info.st_size > max_bytes:
        raise OSError(errno.EFBIG, f"larger than {_size(max_bytes)} ({_size(info.st_size)})", str(path))


def read_input(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` of them (`OSError` otherwise, also when
    the file grew past the limit after it was opened)."""
    with open_input(path, max_bytes) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(errno.EFBIG, f"larger than {_size(max_bytes)}", str(path))
    return data


def read_input_text(path: str | Path, max_bytes: int) -> str:
    """`read_input` decoded as UTF-8 (`UnicodeDecodeError` for other bytes)."""
    return read_input(path, max_bytes).decode("utf-8")


def check_expansion(data: Any, max_nodes: int) -> None:
    """Raise `ValueError` when `data` (parsed YAML/JSON) holds more than `max_nodes` values counted the
    way a reader walks it: a value reached through several aliases counts each time. The walk stops
    at the limit, so it costs at most `max_nodes` steps however big the expansion would be."""
    left = max_nodes
    stack = [data]
    while stack:
        node = stack.pop()
        left -= 1
        if left < 0:
            raise ValueError(f"more than {max_nodes} values once its aliases are expanded")
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)


def _size(n: int) -> str:
    return f"{n / MiB:.0f} MiB" if n >= MiB else f"{n} bytes"
