"""One writer per run folder: the lock a live run holds, with its heartbeat.

``acquire`` creates ``.lock.json`` exclusively (``O_EXCL``) and starts a daemon thread that
rewrites its heartbeat every ``HEARTBEAT_S`` seconds; a second process asked for the same folder
gets :class:`RunFolderLocked` naming the holder, unless the holder is gone (its PID dead on this
host, or its heartbeat stale), in which case the folder is taken over. The file's format and the
"gone" rules are in :mod:`analysis.runlock`, which ``randbench report`` reads too.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from analysis.runlock import HEARTBEAT_S, LOCK_NAME, describe, holder_gone, read_lock
from sweeps.rundir import atomic_write_json


class RunFolderLocked(ValueError):
    """Another live process writes this run folder."""


def check_unlocked(folder: Path) -> None:
    """Raise :class:`RunFolderLocked` if a live process holds ``folder``'s lock (creates nothing)."""
    lock = read_lock(folder)
    if lock is not None and lock.get("pid") != os.getpid() and holder_gone(lock) is None:
        raise RunFolderLocked(
            f"{folder} is being written by another run: {describe(lock)}; wait for it, or stop that process "
            f"(a lock whose process has exited, or whose heartbeat is older than a few minutes, is taken over)"
        )


class RunLock:
    """The lock of one run folder, held by this process until :meth:`release`."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self.content = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start_time": datetime.now(UTC).isoformat(timespec="seconds"),
            "heartbeat_unix": time.time(),
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        self.content["heartbeat_unix"] = time.time()
        atomic_write_json(self.path, self.content)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                if (read_lock(self.path.parent) or {}).get("pid") != os.getpid():
                    return  # taken over (this process was thought gone): never write over the new holder
                self._write()
            except OSError:  # a full disk must not kill the run; the next beat tries again
                pass

    def start(self) -> RunLock:
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.path.parent}", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file if this process still holds it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if (read_lock(self.path.parent) or {}).get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)


def acquire(folder: Path) -> RunLock:
    """Take the lock of an existing run folder and start its heartbeat.

    :raises RunFolderLocked: a live process holds it (the message names it).
    """
    lock = RunLock(folder)
    try:
        fd = os.open(lock.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        check_unlocked(folder)  # raises while the holder lives
        lock._write()  # the holder is gone: take the folder over
        if (read_lock(folder) or {}).get("pid") != os.getpid():  # another process took it first
            check_unlocked(folder)
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(lock.content, indent=2) + "\n")
    return lock.start()
