"""The run folder contract: what ``sweeps`` writes and ``analysis`` reads (docs/design.md).

One module for both halves (``analysis`` never imports ``sweeps``; ``sweeps`` imports this): the
file names, the columns of ``metrics.csv`` and ``episodes.csv`` and their rows as named records,
the statuses, and the one atomic writer every file of a run folder, report and reference goes
through. It imports nothing heavier than the standard library.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
EPISODES_FILE = "episodes.csv"
PROGRESS_FILE = "progress.csv"
META_FILE = "meta.json"
MODEL_FILE = "model.zip"
VECNORMALIZE_FILE = "vecnormalize.pkl"
LOCK_FILE = ".lock.json"
FINAL_EVAL_FILE = "final_eval.json"  # written by `randbench evaluate` from a completed run's model

# Any of these marks a folder as a run folder (as does the name seed<k>).
IDENTITY_FILES = (META_FILE, METRICS_FILE, EPISODES_FILE, CONFIG_FILE)
# What a completed run has on disk (plus vecnormalize.pkl for a normalized env); meta.json is
# written last, once they all are.
PROMISED_FILES = (CONFIG_FILE, METRICS_FILE, EPISODES_FILE, PROGRESS_FILE, MODEL_FILE)
# The files of an unfinished attempt that a restart replaces.
ATTEMPT_FILES = (CONFIG_FILE, METRICS_FILE, EPISODES_FILE, PROGRESS_FILE, META_FILE, MODEL_FILE, VECNORMALIZE_FILE)
# Made from a finished run's model afterwards: they describe a model a re-run replaces, so a new
# attempt removes them with the attempt files (videos carry the SHA-256 of their model instead).
DERIVED_FILES = (FINAL_EVAL_FILE,)

# Written by a run: running while it trains, then one of the others.
STATUSES = ("running", "completed", "failed", "interrupted", "diverged")
# Never written: ``analysis`` lists a running run whose lock holder is gone as lost (analysis.runlock).
LOST = "lost"


class MetricsRow(NamedTuple):
    """One evaluation: a row of ``metrics.csv``.

    ``timesteps``: env steps summed over parallel envs; ``train_time_s``: seconds spent training
    (evaluation and file writing excluded); ``wall_time_s``: since training started;
    ``cpu_time_s``: process CPU time; ``fps``: env steps per train second since the previous
    evaluation; ``eval_*``: over ``eval_episodes`` evaluation episodes; ``train_return_mean``: the
    last 100 training episodes (NaN before the first).
    """

    timesteps: int
    train_time_s: float
    wall_time_s: float
    cpu_time_s: float
    fps: float
    eval_return_mean: float
    eval_return_std: float
    eval_return_min: float
    eval_return_max: float
    eval_episodes: int
    eval_length_mean: float
    train_return_mean: float


class EpisodeRow(NamedTuple):
    """One training episode: a row of ``episodes.csv`` (``timesteps`` at its end)."""

    timesteps: int
    train_time_s: float
    #: the episode's return (``return`` in the file)
    episode_return: float
    length: int


METRICS_COLUMNS = MetricsRow._fields
EPISODES_COLUMNS = ("timesteps", "train_time_s", "return", "length")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so a
    reader never sees a half-written file and a failure leaves the previous file in place.

    The file is readable by all (0o644), as a plain ``open()`` would make it.

    :raises OSError: the folder does not exist or is not writable.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_atomic(path, text.encode())


def atomic_write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a CSV with a header row, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


# Temporary files of the writers: write_atomic's ``.<name>.<random>.tmp``, the model's
# ``.model.tmp.zip`` and ``.vecnormalize.tmp.pkl``, sweeps' ``.write-check.*``.
TEMP_PATTERNS = (".*.tmp", ".*.tmp.zip", ".*.tmp.pkl", ".write-check.*")
