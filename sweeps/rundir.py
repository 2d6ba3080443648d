"""The run folder, writer's side: its atomic writers and columns come from the contract
(:mod:`analysis.contract`); this module adds what only the writer needs (temporary-file clean-up,
the recorded status, the writability check)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from analysis.contract import (  # noqa: F401 - the contract, re-exported for the writers
    EPISODES_COLUMNS,
    META_FILE,
    METRICS_COLUMNS,
    STATUSES,
    TEMP_PATTERNS,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
)


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
        return json.loads((Path(run_dir) / META_FILE).read_text()).get("status")
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
