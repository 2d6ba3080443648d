"""``progress.csv`` (the algorithm's own training log) -> one tidy table of training diagnostics.

Every run folder written by ``randbench train`` holds ``progress.csv``: SB3's logger, one row per
dump, one column per logged key, ``time/total_timesteps`` the env steps of the dump. Older run
folders lack it; a run without one is left out of the diagnostics (never an error). A file that
cannot be read is a :class:`~analysis.load.Problem` (a warning: the run stays in every table).

The diagnostics (:data:`DIAGNOSTICS`) are those that explain a curve:

- on-policy algorithms: approximate KL of the update (SB3's ``train/approx_kl``; TRPO's mean KL,
  ``train/kl_divergence_loss``), policy entropy (``train/entropy``, or minus SB3's
  ``train/entropy_loss``, which is the negative mean entropy), explained variance of the value
  function (``train/explained_variance``);
- off-policy algorithms: the critic loss (``train/critic_loss``, mean squared TD error; SB3 logs
  no Q-value);
- RLx2: measured actor and critic sparsity (``rlx2/actor_sparsity``, ``rlx2/critic_sparsity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.load import Problem, RunSet

PROGRESS_FILE = "progress.csv"
STEP_COLUMN = "time/total_timesteps"
COLUMNS = ("run_id", "env", "algo", "seed", "family", "diagnostic", "series", "timesteps", "value")


@dataclass(frozen=True)
class Diagnostic:
    """One panel of the diagnostics figure.

    :param name: short name (the ``diagnostic`` column)
    :param title: the panel's title
    :param label: the panel's y-axis label, with units
    :param families: algorithm families it is drawn for (``algo.family`` of config.yaml); a run
        whose family is unknown gets every diagnostic its log has
    :param series: (series name, progress.csv column, sign); the first column a run's log has
        gives the series (a later one is an alternative name, e.g. TRPO's KL)
    :param log_scale: draw the y axis on a log scale (positive values only)
    """

    name: str
    title: str
    label: str
    families: tuple[str, ...]
    series: tuple[tuple[str, str, float], ...]
    log_scale: bool = False


DIAGNOSTICS = (
    Diagnostic("approx_kl", "approx. KL", "Approx. KL of the update (nats)", ("on_policy",),
               (("KL", "train/approx_kl", 1.0), ("KL", "train/kl_divergence_loss", 1.0)), log_scale=True),
    Diagnostic("entropy", "entropy", "Policy entropy (nats)", ("on_policy",),
               (("entropy", "train/entropy", 1.0), ("entropy", "train/entropy_loss", -1.0))),
    Diagnostic("explained_variance", "explained variance", "Explained variance of the value function", ("on_policy",),
               (("explained variance", "train/explained_variance", 1.0),)),
    Diagnostic("critic_loss", "critic loss", "Critic loss (mean squared TD error)", ("off_policy",),
               (("critic loss", "train/critic_loss", 1.0),), log_scale=True),
    Diagnostic("sparsity", "RLx2 sparsity", "RLx2 sparsity (fraction of zero weights)", ("off_policy",),
               (("actor", "rlx2/actor_sparsity", 1.0), ("critic", "rlx2/critic_sparsity", 1.0))),
)


def read_progress(folder: str | Path) -> pd.DataFrame | None:
    """A run folder's ``progress.csv``; None when the folder has none.

    :raises ValueError: the file cannot be parsed or has no ``time/total_timesteps`` column
        (the message names the file)
    """
    path = Path(folder) / PROGRESS_FILE
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame({STEP_COLUMN: pd.Series(dtype=float)})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as error:
        raise ValueError(f"{path}: cannot be parsed as CSV ({error})") from None
    if STEP_COLUMN not in frame.columns:
        raise ValueError(f"{path}: has no {STEP_COLUMN!r} column (has {list(frame.columns)[:8]}...)")
    return frame


def _series(frame: pd.DataFrame, diagnostic: Diagnostic) -> list[tuple[str, pd.DataFrame]]:
    out, taken = [], set()
    steps = pd.to_numeric(frame[STEP_COLUMN], errors="coerce")
    for series, column, sign in diagnostic.series:
        if series in taken or column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce") * sign
        keep = np.isfinite(values.to_numpy(dtype=float)) & np.isfinite(steps.to_numpy(dtype=float))
        if diagnostic.log_scale:
            keep &= values.to_numpy(dtype=float) > 0
        if keep.any():
            taken.add(series)
            out.append((series, pd.DataFrame({"timesteps": steps[keep].to_numpy(), "value": values[keep].to_numpy()})))
    return out


def load_progress(runs: RunSet, completed_only: bool = True) -> tuple[pd.DataFrame, list[Problem]]:
    """The diagnostics of every run that has a ``progress.csv``, as one tidy table.

    :param runs: the loaded runs (:func:`analysis.load.load_runs`)
    :param completed_only: only runs whose status is ``completed`` (the report's)
    :return: (one row per (run, diagnostic, series, dump) with the columns of :data:`COLUMNS`,
        the unreadable files as warnings)
    """
    table = runs.completed if completed_only else runs.runs
    frames, problems = [], []
    for row in table.itertuples():
        try:
            progress = read_progress(row.path)
        except ValueError as error:
            problems.append(Problem(Path(row.path), PROGRESS_FILE, str(error).split(": ", 1)[-1], skipped=False))
            continue
        if progress is None or progress.empty:
            continue
        algo_cfg = (runs.configs.get(row.run_id) or {}).get("algo") or {}
        family = algo_cfg.get("family") if isinstance(algo_cfg, dict) else None
        for diagnostic in DIAGNOSTICS:
            if family is not None and family not in diagnostic.families:
                continue
            for series, points in _series(progress, diagnostic):
                frames.append(points.assign(
                    run_id=row.run_id, env=row.env, algo=row.algo, seed=row.seed, family=family,
                    diagnostic=diagnostic.name, series=series,
                ))
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS)), problems
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)], problems
