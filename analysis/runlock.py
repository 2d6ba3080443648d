"""The run folder's lock file, as both halves of randbench read it (docs/design.md).

A live run holds ``.lock.json`` in its folder: the host, PID and start time of the process that
writes the folder, and a heartbeat that process refreshes every :data:`HEARTBEAT_S` seconds
(``sweeps.lock`` writes it). A folder whose ``meta.json`` says ``running`` is **lost** when its
holder is gone: no lock file at all is not evidence either way, but a lock whose PID is dead on
this host, or whose heartbeat is older than :data:`STALE_AFTER_S`, is. ``randbench report`` lists
such runs as ``lost``; a re-run takes the folder over and starts the run again.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from analysis.contract import LOCK_FILE as LOCK_NAME

HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0  # ten missed heartbeats


def read_lock(folder: Path) -> dict[str, Any] | None:
    """The lock of ``folder`` as a dict, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads((Path(folder) / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this host (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a zombie has exited: its lock is as good as released
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def holder_gone(lock: dict[str, Any], now: float | None = None) -> str | None:
    """Why the lock's holder is gone (a sentence), or None while it may still be alive.

    :param lock: the content of a lock file (:func:`read_lock`).
    :param now: Unix time to judge the heartbeat at (default: now).
    """
    now = time.time() if now is None else now
    heartbeat = lock.get("heartbeat_unix")
    if isinstance(heartbeat, (int, float)) and now - heartbeat > STALE_AFTER_S:
        return f"its last heartbeat is {now - heartbeat:.0f} s old (limit {STALE_AFTER_S:.0f} s)"
    pid = lock.get("pid")
    if lock.get("host") == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid):
        return f"its process {pid} on this host has exited"
    return None


def describe(lock: dict[str, Any]) -> str:
    """``PID 123 on host h since <start> (heartbeat 12 s ago)``."""
    heartbeat = lock.get("heartbeat_unix")
    age = f" (heartbeat {time.time() - heartbeat:.0f} s ago)" if isinstance(heartbeat, (int, float)) else ""
    return f"PID {lock.get('pid')} on host {lock.get('host')} since {lock.get('start_time')}{age}"
