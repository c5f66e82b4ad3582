"""One writer per output: an exclusive OS lock on an output folder, naming its holder.

The lock file sits beside the folder (``.NAME.lock``), not in it, because a model bundle is
replaced as a whole folder and a lock inside the old one would not guard the new one. The
lock is ``fcntl.flock``: the system drops it when the holder exits, even on ``kill -9``, so a
stale lock never blocks a line. The file's text names the holder for the refused run.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inspector.safe_text import shown

# Held for the life of the process, keyed by the lock file's real path: taking the lock
# again in the same process (the command, then the folder inspection it runs) is a no-op.
_HELD: dict[str, int] = {}


class OutputLocked(RuntimeError):
    """Another process is writing into the output folder; ``str()`` names it in one line."""


def lock_path(out: str | os.PathLike[str]) -> Path:
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}.lock"


def hold_output_lock(out: str | os.PathLike[str]) -> Path:
    """Take the exclusive lock on the output folder ``out`` until this process exits.

    Returns:
        The lock file.

    Raises:
        OutputLocked: another process holds it (the message names its pid, host, command
            and start time).
    """
    path = lock_path(out)
    key = os.path.realpath(path)
    if key in _HELD:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd) or "another process"
        os.close(fd)
        raise OutputLocked(
            f"{shown(str(out))} is being written by {holder}; wait for it to finish or "
            "choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, _describe().encode("utf-8", "backslashreplace"))
    _HELD[key] = fd
    return path


def claim_output(out: str | os.PathLike[str], device: str | None = None) -> Path:
    """Before a command's work: check that ``device`` is here, then lock ``out``.

    Raises:
        ValueError: ``device`` names a GPU this machine does not have.
        OutputLocked: another process writes into ``out``.
    """
    if device:
        from inspector.backends import require_device

        require_device(device)
    return hold_output_lock(out)


@contextmanager
def output_lock(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the lock on ``out`` inside the block; given back after it unless already held."""
    held = os.path.realpath(lock_path(out)) in _HELD
    path = hold_output_lock(out)
    try:
        yield path
    finally:
        if not held:
            release_output_lock(out)


def release_output_lock(out: str | os.PathLike[str]) -> None:
    """Give the lock back before the process ends (a long-lived station process)."""
    fd = _HELD.pop(os.path.realpath(lock_path(out)), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def _describe() -> str:
    command = " ".join(shown(a) for a in sys.argv)[:300].replace("\n", " ")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"pid {os.getpid()} on {socket.gethostname()} ({command}), started {started}"


def _read(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 1000).decode("utf-8", "replace").strip()
    except OSError:
        return ""
