"""The run folder: atomic writes of the files of DESIGN.md's run folder contract.

A file is written to a temporary file in the same folder and renamed over the target, so a crash
or a signal never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

METRICS_COLUMNS = (
    "timesteps",
    "train_time_s",
    "wall_time_s",
    "cpu_time_s",
    "fps",
    "eval_return_mean",
    "eval_return_std",
    "eval_return_min",
    "eval_return_max",
    "eval_episodes",
    "eval_length_mean",
    "train_return_mean",
)
EPISODES_COLUMNS = ("timesteps", "train_time_s", "return", "length")
STATUSES = ("running", "completed", "failed", "interrupted", "diverged")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; run files are meant to be shared
        with os.fdopen(fd, "w", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a CSV with a header row, atomically."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_status(run_dir: Path) -> str | None:
    """The ``status`` recorded in ``run_dir/meta.json``, or ``None`` if there is no readable one."""
    try:
        return json.loads((Path(run_dir) / "meta.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and check that a file can be written in it.

    :raises ValueError: naming the folder and the reason, when it cannot be written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check."):
            pass
    except OSError as error:
        raise ValueError(
            f"output folder {str(folder)!r} cannot be written ({error.strerror or error}); "
            f"set output.root to a writable folder"
        ) from None
