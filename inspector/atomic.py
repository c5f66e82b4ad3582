"""Files and folders that appear whole or not at all.

Every writer of an output (maps, overlays, reports, bundle files) writes to a temporary name
in the same folder, syncs it and renames it over the final name, so a kill or a full disk
leaves the previous file or the new one, never a truncated one under the final name. A
folder of files (a model bundle) is built beside the old one and swapped in with one rename.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# Tests name a step here to have the process SIGKILLed when it reaches it (``kill_point``).
KILL_AT_ENV = "INSPECTOR_KILL_AT"


def kill_point(step: str) -> None:
    """Die at once (SIGKILL, as a power cut or the OOM killer would) if asked to at ``step``.

    Lets tests check what is on disk after a kill between any two steps of a writer.
    """
    if os.environ.get(KILL_AT_ENV) == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it is synced and renamed to ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_writer(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_with(path: str | os.PathLike[str], write: Callable[[IO], object]) -> Path:
    """Let ``write(file)`` fill ``path`` atomically (e.g. ``lambda f: np.save(f, a)``)."""
    with atomic_writer(path, "wb") as f:
        write(f)
    return Path(path)


def staging_folder(final: str | os.PathLike[str]) -> Path:
    """A new empty folder beside ``final`` to build its replacement in."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.new-"))


def swap_in(staged: str | os.PathLike[str], final: str | os.PathLike[str]) -> None:
    """Make the folder ``staged`` be ``final`` in one step; the old ``final`` is removed.

    On Linux the two folders are exchanged atomically (``renameat2(RENAME_EXCHANGE)``), so
    at every instant ``final`` is wholly the old folder or wholly the new one. Elsewhere the
    old folder is renamed aside first, leaving a moment with no folder at ``final``.
    """
    staged, final = Path(staged), Path(final)
    _sync_folder(staged)
    if not final.exists():
        os.rename(staged, final)
    elif _exchange(staged, final):
        kill_point("swapped")
        shutil.rmtree(staged, ignore_errors=True)  # now holds the old folder
    else:
        aside = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
        os.rename(final, aside / "old")
        os.rename(staged, final)
        shutil.rmtree(aside, ignore_errors=True)
    _fsync(final.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux); False where the system cannot."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    res = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if res == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # file system without exchange: fall back to two renames
    raise OSError(err, f"cannot swap {a} into {b}: {os.strerror(err)}")


def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _sync_folder(folder: Path) -> None:
    """Sync the files of a folder and its entries, so they survive a power cut once swapped."""
    for p in folder.iterdir():
        if p.is_file():
            _fsync(p)
    _fsync(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename is atomic anyway
    finally:
        os.close(fd)
