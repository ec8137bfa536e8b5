"""Writing the files a command was asked to produce (`report --out`, `export --out`): whole or not at all.

`write_atomically(path, chunks)` writes text to a temporary file beside `path` (created with the
umask's permissions) that replaces `path` only once everything was written, so a failed or
interrupted command never leaves a half-written file (nor clobbers the old one). An OSError of the
output file itself (opening, writing, renaming) becomes an `OutputError`: one line naming the path,
which the CLI prints (exit 2); errors while producing the text keep their own types, so bugs still show.
`check_file`, `make_dir` and `writing` give the same one-line error for the rest of a command's output
(a directory or device named as the file, a folder that cannot be made, an image that cannot be saved).
Not for: traces (agent.traces.store writes those line by line, durably, on purpose).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from actions.errors import DeskpilotError


class OutputError(DeskpilotError):
    """A file the command was asked to write cannot be written; the message is one line naming it."""


def cannot_write(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OutputError(f"cannot write {path}: {reason}")


def check_file(path: Path) -> None:
    """Refuse an output path that names a directory, or anything else that is not a regular file (a
    device such as /dev/null, a FIFO, a socket), before any work is done: the temporary file would
    replace it — run as root, `--out /dev/null` would turn the device into a file."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory (give a file name)")
    if path.exists() and not path.is_file():
        raise OutputError(f"cannot write {path}: not a regular file (a device, FIFO or socket; give a file name)")


def check_target(path: Path) -> None:
    """`check_file`, and the folder `path` goes in must be there: for a file written after long work
    (a benchmark's JSON), so a bad path is refused before the work and not after it."""
    check_file(path)
    if not path.absolute().parent.is_dir():
        raise OutputError(f"cannot write {path}: {path.absolute().parent} is not a directory")


def make_dir(path: Path) -> None:
    """`mkdir -p`, as an OutputError naming `path` when it cannot be made."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(path, exc) from None


def write_atomically(path: str | Path, chunks: Iterable[str]) -> Path:
    """Write the text `chunks` to `path` through a temporary file beside it; return `path`.

    Exceptions from producing the chunks (the caller's work) pass through unchanged, and the
    temporary file is removed; OSErrors from the file itself become OutputError.
    """
    path = Path(path)
    if path.is_symlink():  # write where the link points, keep the link
        path = path.resolve()
    check_file(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 & ~umask, like open()
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for chunk in chunks:
                writing(path, f.write, chunk)
            writing(path, f.flush)
            writing(path, os.fsync, f.fileno())
        writing(path, os.replace, temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def writing(path: Path, call: Callable[..., object], *args: object) -> None:
    """`call(*args)`, an OSError of which is an OutputError naming `path`."""
    try:
        call(*args)
    except OSError as exc:
        raise cannot_write(path, exc) from None
