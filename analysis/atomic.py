"""Atomic file writes for the analysis outputs (reports, regression references).

``analysis`` never imports ``sweeps`` (docs/design.md), so it keeps its own copy of this small piece.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so a
    reader never sees a half-written file and a failure leaves the previous file in place.

    The file is made readable by all (0o644), as a plain ``open()`` would make it.

    :raises OSError: the folder does not exist or is not writable
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
