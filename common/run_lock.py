"""One writer per output folder: an advisory lock on `<output>/run.lock` for the whole run.

The lock is `fcntl.flock` on the file, so the kernel drops it when the holder exits in any way (kill -9
included): a lock file left behind by a dead run is simply taken over. The holder's PID is written into the
file so that a second run into the same folder can name it in its one-line error.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "run.lock"


class RunLockError(RuntimeError):
    """Another live process holds the output folder's lock."""


def _read_pid(handle) -> str:
    handle.seek(0)
    text = handle.read().strip()
    return text if text.isdigit() else "unknown"


class RunLock:
    """Hold `<folder>/run.lock` from `acquire()` to `release()` (or process exit)."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._handle = None
        self.previous_pid: str | None = None  # PID of a run that died holding the lock (taken over)

    def acquire(self) -> RunLock:
        """Take the lock or raise RunLockError naming the holder's PID; a dead holder's file is taken over."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(handle)
            handle.close()
            raise RunLockError(
                f"{self.path.parent} is in use by another training run (PID {pid}, lock {self.path}); "
                "wait for it to finish, stop it, or choose another -o/--output"
            ) from None
        old = _read_pid(handle)  # a clean release empties the file: a PID here died holding the lock
        if old not in ("unknown", str(os.getpid())):
            self.previous_pid = old
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Empty the file (so the next run sees a clean release) and drop the lock."""
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.flush()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
