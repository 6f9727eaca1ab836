"""A lock file per download: one process at a time fetches a file, and a dead process never blocks the next.

The lock holds "PID HOST" from the moment it exists (created by a hard link of a complete file). A waiting
process takes a lock over at once when its process is gone (same host), or after ten minutes (another
host, whose processes cannot be checked).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from facefix import files
from facefix.console import console

_LOCK_STALE_SECONDS = 600


def _lock_owner(lock: Path) -> tuple[int, str] | None:
    """(pid, host) written in a lock file, or ``None`` if it cannot be read (yet)."""
    with contextlib.suppress(OSError, ValueError):
        pid, host = lock.read_text().split(maxsplit=1)
        return int(pid), host.strip()
    return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _abandoned(lock: Path) -> tuple[bool, tuple[int, str] | None]:
    """Whether the lock's process died (same host: checked at once) or the lock is older than any real
    download; and the owner that was judged."""
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False, None
    owner = _lock_owner(lock)
    if owner is None:  # unreadable: not written by this version (locks appear with their content)
        return age > _LOCK_STALE_SECONDS, None
    pid, host = owner
    if host == socket.gethostname():
        return not _process_alive(pid), owner
    return age > _LOCK_STALE_SECONDS, owner


def take_over(lock: Path, judged: tuple[int, str] | None) -> None:
    """Remove an abandoned lock, but only the one judged: two waiting processes may judge it at once,
    and the second must not remove the lock the first has just taken."""
    grabbed = files.temp_path(lock)
    try:
        os.rename(lock, grabbed)  # atomic: of several takers, one gets this file
    except FileNotFoundError:
        return
    if _lock_owner(grabbed) != judged:  # a live lock taken meanwhile: give it back
        with contextlib.suppress(OSError):
            os.link(grabbed, lock)
    grabbed.unlink(missing_ok=True)


def try_lock(lock: Path) -> bool:
    """Create ``lock`` holding "PID HOST", atomically with its content (never seen empty)."""
    tmp = files.temp_path(lock)
    tmp.write_text(f"{os.getpid()} {socket.gethostname()}")
    try:
        os.link(tmp, lock)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive(lock: Path, label: str = "") -> Iterator[None]:
    """Hold ``lock`` so only one process downloads a file; a dead process's lock is taken over at once."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    told = False
    while not try_lock(lock):
        abandoned, owner = _abandoned(lock)
        if abandoned:
            take_over(lock, owner)
            continue
        if not told and owner:
            console.print(f"waiting: process {owner[0]} on {owner[1]} is downloading {label or lock.stem}")
            told = True
        time.sleep(0.1)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
