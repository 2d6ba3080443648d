"""The run folder: atomic writes of the files of the run folder contract (docs/design.md).

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


# Temporary files of the run folder's writers: atomic_write_text's ``.<name>.<random>.tmp``, the
# model's ``.model.tmp.zip`` and ``.vecnormalize.tmp.pkl``, check_writable's ``.write-check.*``.
TEMP_PATTERNS = (".*.tmp", ".*.tmp.zip", ".*.tmp.pkl", ".write-check.*")


def remove_temp_files(folder: Path) -> list[str]:
    """Remove the temporary files a crashed or killed writer left in ``folder``.

    :return: the names removed (none if the folder does not exist).
    """
    removed = []
    for pattern in TEMP_PATTERNS:
        for path in Path(folder).glob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path.name)
    return removed


def read_status(run_dir: Path) -> str | None:
    """The ``status`` recorded in ``run_dir/meta.json``, or ``None`` if there is no readable one."""
    try:
        return json.loads((Path(run_dir) / "meta.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def check_writable(folder: Path, create: bool = True) -> None:
    """Check that a file can be written in ``folder`` (creating it first if ``create``).

    With ``create=False`` nothing is created: the check writes and removes a temporary file in
    ``folder`` if it exists, else in its nearest existing parent, which must be a folder (so a
    refused command leaves no folder behind).

    :param folder: the folder that will be written.
    :param create: make ``folder`` (and its parents) if it does not exist.
    :raises ValueError: naming the folder and the reason, when it cannot be written.
    """
    folder = Path(folder)
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        existing = folder.absolute()
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(existing))
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-check."):
            pass
    except OSError as error:
        raise ValueError(
            f"output folder {str(folder)!r} cannot be written ({error.strerror or error}); "
            f"set output.root to a writable folder"
        ) from None
