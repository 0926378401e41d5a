"""One refresh at a time per Connection: a thread lock within a process, a file lock across them."""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from airflow_provider_kibo.errors import KiboLockTimeout

DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "airflow-provider-kibo-locks"
LOCK_WAIT_SECONDS = 300.0
"""Longest wait for another process's refresh: enough for one with all its retries."""
LOCK_POLL_SECONDS = 0.01
"""How often a waiting process tries the file lock; waiters queue behind one another after a
refresh, so this bounds how long each of them waits for its turn."""

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextmanager
def ticket_lock(lock_dir: Path, name: str, *, blocking: bool = True) -> Iterator[bool]:
    """
    Hold the lock called ``name``; yield whether it was taken.

    :param lock_dir: the folder of the lock files; processes that share it share the lock
    :param name: the lock's name, e.g. the Connection id
    :param blocking: wait up to :data:`LOCK_WAIT_SECONDS` (raising :class:`KiboLockTimeout` after),
        or give up at once and yield ``False``
    """
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(f"{lock_dir}/{name}", threading.Lock())
    if not thread_lock.acquire(timeout=LOCK_WAIT_SECONDS if blocking else 0):
        if blocking:
            raise KiboLockTimeout(_timeout_message(name))
        yield False
        return
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        file_lock = filelock.FileLock(lock_dir / _file_name(name), thread_local=False)
        try:
            file_lock.acquire(timeout=LOCK_WAIT_SECONDS if blocking else 0, poll_interval=LOCK_POLL_SECONDS)
        except filelock.Timeout:
            if blocking:
                raise KiboLockTimeout(_timeout_message(name)) from None
            yield False
            return
        try:
            yield True
        finally:
            file_lock.release()
    finally:
        thread_lock.release()


def _file_name(name: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{readable}-{digest}.lock"


def _timeout_message(name: str) -> str:
    return f"Waited {LOCK_WAIT_SECONDS:g} s for another process to finish refreshing the Kibo ticket of {name!r}"
