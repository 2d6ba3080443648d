"""Run folders -> tidy pandas DataFrames.

Reads only files on disk, following the run folder contract of DESIGN.md:
``<runs>/<sweep>/<env>/<algo>/seed<k>/`` with ``meta.json``, ``metrics.csv``, ``episodes.csv`` and
``config.yaml``. A damaged run (missing or unreadable ``meta.json``, truncated ``metrics.csv``) is
recorded as a :class:`Problem` naming its folder and file and left out of the tables; it is never
dropped silently and never stops the loading of the other runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

RUN_FILES = ("meta.json", "metrics.csv", "episodes.csv", "config.yaml")
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
# Every row must hold a number in these: the metrics are built on them. (fps may be NaN on a zero
# interval and train_return_mean before the first training episode ends.)
REQUIRED_FINITE = ("timesteps", "train_time_s", "wall_time_s", "eval_return_mean")
EPISODES_COLUMNS = ("timesteps", "train_time_s", "return", "length")
STATUSES = ("running", "completed", "failed", "interrupted", "diverged")
# Metadata copied onto every row of the tidy tables.
RUN_COLUMNS = ("run_id", "sweep", "env", "env_id", "algo", "seed", "status")
# Columns of the runs table (one row per run), see Run.info.
INFO_COLUMNS = RUN_COLUMNS + (
    "error",
    "budget",
    "eval_freq",
    "eval_episodes",
    "n_envs",
    "params_total",
    "params_trainable",
    "start_time",
    "end_time",
    "git_commit",
    "cpu_model",
    "cpu_cores",
    "torch_threads",
    "hostname",
    "budget_s",
    "stop_reason",
    "load_1m_max",
    "load_1m_mean",
    "n_evals",
    "path",
)


def _number_or_none(value: Any) -> float | None:
    """A meta.json number as float; None for a missing or non-numeric value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class RunFolderError(ValueError):
    """A run folder whose files cannot be used; the message names the folder and the file.

    :param folder: the run folder
    :param file: the file at fault (e.g. ``"metrics.csv"``)
    :param reason: what is wrong with it
    """

    def __init__(self, folder: Path, file: str, reason: str) -> None:
        self.folder = Path(folder)
        self.file = file
        self.reason = reason
        super().__init__(f"{self.folder / file}: {reason}")


@dataclass(frozen=True)
class Problem:
    """Something wrong with one run folder, found while loading.

    :param folder: the run folder
    :param file: the file at fault
    :param message: what is wrong
    :param skipped: True if the run was left out of the tables, False for a warning only
    """

    folder: Path
    file: str
    message: str
    skipped: bool = True

    def __str__(self) -> str:
        action = "run skipped" if self.skipped else "warning"
        return f"{self.folder / self.file}: {self.message} ({action})"


@dataclass
class Run:
    """One loaded run folder.

    :param path: the run folder
    :param meta: the content of ``meta.json``
    :param config: the content of ``config.yaml`` (empty if the file is missing)
    :param metrics: ``metrics.csv``, one row per evaluation point (may have no rows for a run that
        failed before its first evaluation)
    :param episodes: ``episodes.csv``, one row per training episode (None if missing or unreadable)
    """

    path: Path
    meta: dict[str, Any]
    config: dict[str, Any]
    metrics: pd.DataFrame
    episodes: pd.DataFrame | None

    @property
    def info(self) -> dict[str, Any]:
        """One row of the runs table: identity, status, budget, parameter counts, host, versions."""
        meta, config = self.meta, self.config
        env_cfg = config.get("env") if isinstance(config.get("env"), dict) else {}
        algo_cfg = config.get("algo") if isinstance(config.get("algo"), dict) else {}
        eval_cfg = config.get("eval") if isinstance(config.get("eval"), dict) else {}
        # Folder layout <sweep>/<env>/<algo>/seed<k> is the fallback for identity fields.
        parts = self.path.parts
        seed = meta.get("seed", config.get("seed"))
        if seed is None and self.path.name.startswith("seed") and self.path.name[4:].isdigit():
            seed = int(self.path.name[4:])
        params = meta.get("parameters") or {}
        host = meta.get("host") or {}
        budget = meta.get("budget", config.get("budget"))
        info = {
            "sweep": meta.get("sweep", config.get("sweep_name", parts[-4] if len(parts) >= 4 else "")),
            "env": meta.get("env", env_cfg.get("name", parts[-3] if len(parts) >= 3 else "")),
            "env_id": meta.get("env_id", env_cfg.get("id")),
            "algo": meta.get("algo", algo_cfg.get("name", parts[-2] if len(parts) >= 2 else "")),
            "seed": int(seed) if seed is not None else -1,
            "status": meta["status"],
            "error": meta.get("error"),
            "budget": int(budget) if budget is not None else None,
            "eval_freq": eval_cfg.get("freq", env_cfg.get("eval_freq")),
            "eval_episodes": eval_cfg.get("n_episodes"),
            "n_envs": env_cfg.get("n_envs"),
            "params_total": params.get("total"),
            "params_trainable": params.get("trainable"),
            "start_time": meta.get("start_time"),
            "end_time": meta.get("end_time"),
            "git_commit": meta.get("git_commit"),
            "cpu_model": host.get("cpu_model"),
            "cpu_cores": host.get("cpu_cores"),
            "torch_threads": host.get("torch_threads"),
            "hostname": host.get("hostname"),
            "budget_s": _number_or_none(meta.get("budget_s")),
            "stop_reason": meta.get("stop_reason"),
            "load_1m_max": _number_or_none(meta.get("load_1m_max")),
            "load_1m_mean": _number_or_none(meta.get("load_1m_mean")),
            "n_evals": len(self.metrics),
            "path": str(self.path),
        }
        info["run_id"] = (
            meta.get("run_id") or f"{info['sweep']}/{info['env']}/{info['algo']}/seed{info['seed']}"
        )
        return info


@dataclass
class RunSet:
    """All runs under a folder, as tidy tables.

    :param root: the folder that was searched
    :param runs: one row per loaded run (columns of :attr:`Run.info`), sorted by env, algo, seed
    :param curves: one row per evaluation point: the ``metrics.csv`` columns plus ``RUN_COLUMNS``
    :param episodes: one row per training episode: the ``episodes.csv`` columns plus ``RUN_COLUMNS``
    :param problems: damaged run folders (skipped) and warnings, in the order found
    :param meta: run_id -> content of its ``meta.json`` (versions, host, ...)
    :param configs: run_id -> content of its ``config.yaml`` (empty if the file is missing)
    """

    root: Path
    runs: pd.DataFrame
    curves: pd.DataFrame
    episodes: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def completed(self) -> pd.DataFrame:
        """Rows of :attr:`runs` with status ``completed``."""
        return self.runs[self.runs["status"] == "completed"]

    @property
    def not_completed(self) -> pd.DataFrame:
        """Rows of :attr:`runs` that did not complete (failed, interrupted, diverged, running)."""
        return self.runs[self.runs["status"] != "completed"]

    @property
    def completed_curves(self) -> pd.DataFrame:
        """Rows of :attr:`curves` that belong to completed runs."""
        return self.curves[self.curves["status"] == "completed"]


def find_run_folders(root: str | Path) -> list[Path]:
    """Every run folder under ``root`` (``root`` itself if it is one), sorted.

    A run folder is a directory holding at least one of ``RUN_FILES``, or named ``seed<k>``.

    :param root: a runs folder (``results/runs``), a sweep folder or a single run folder
    :raises FileNotFoundError: ``root`` does not exist or is not a directory
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"runs folder {str(root)!r} does not exist or is not a directory")
    found = []

    def visit(folder: Path) -> None:
        if _is_run_folder(folder):
            found.append(folder)
            return
        for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            visit(child)

    visit(root)
    return found


def _is_run_folder(folder: Path) -> bool:
    name = folder.name
    return any((folder / f).is_file() for f in RUN_FILES) or (name.startswith("seed") and name[4:].isdigit())


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "meta.json"
    if not path.is_file():
        raise RunFolderError(
            folder, "meta.json", "file is missing (the run never started or the folder is damaged)"
        )
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise RunFolderError(folder, "meta.json", f"cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise RunFolderError(folder, "meta.json", f"is not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise RunFolderError(folder, "meta.json", f"expected a JSON object, got {type(meta).__name__}")
    status = meta.get("status")
    if status not in STATUSES:
        raise RunFolderError(folder, "meta.json", f"status {status!r} is not one of {list(STATUSES)}")
    return meta


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.yaml"
    if not path.is_file():
        raise RunFolderError(folder, "config.yaml", "file is missing")
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise RunFolderError(folder, "config.yaml", f"cannot be parsed ({error})") from None
    if not isinstance(config, dict):
        raise RunFolderError(folder, "config.yaml", f"expected a mapping, got {type(config).__name__}")
    return config


def _read_csv(
    folder: Path, name: str, columns: Iterable[str], required_finite: Iterable[str]
) -> pd.DataFrame:
    """Read a run CSV and check it is whole: header, numeric columns, no cut-off last row."""
    path = folder / name
    if not path.is_file():
        raise RunFolderError(folder, name, "file is missing")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise RunFolderError(folder, name, f"cannot be read ({error})") from None
    if not text.strip():
        raise RunFolderError(folder, name, "file is empty (no header row)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, ValueError) as error:
        raise RunFolderError(folder, name, f"cannot be parsed as CSV ({error})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RunFolderError(
            folder, name, f"lacks columns {missing} (has {list(frame.columns)}); the file may be truncated"
        )
    # The writer ends every row with a newline; a file without one was cut mid-row.
    if len(frame) and not text.endswith("\n"):
        raise RunFolderError(folder, name, f"is truncated: the last row (row {len(frame)}) is incomplete")
    if frame.empty:
        return frame.astype({c: float for c in columns})
    for column in columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            bad = pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 1 if bad.any() else 0
            raise RunFolderError(
                folder,
                name,
                f"column {column!r} holds a non-number at row {row}: {frame[column].iloc[row - 1]!r}",
            )
    for column in required_finite:
        empty = frame[column].isna().to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0]) + 1
            raise RunFolderError(
                folder,
                name,
                f"column {column!r} is empty at row {row} of {len(frame)}; the file is truncated or damaged",
            )
    steps = frame["timesteps"].to_numpy()
    if len(steps) > 1 and (np.diff(steps) < 0).any():
        row = int(np.flatnonzero(np.diff(steps) < 0)[0]) + 2
        raise RunFolderError(
            folder, name, f"timesteps decrease at row {row}; expected non-decreasing env steps"
        )
    return frame


def load_run(folder: str | Path) -> tuple[Run, list[Problem]]:
    """Load one run folder.

    ``meta.json`` is required. ``metrics.csv`` is required for a completed run; a run that ended
    otherwise may have none (it failed before its first evaluation). A missing ``config.yaml`` or
    an unreadable ``episodes.csv`` are warnings: the analysis does not need them.

    :param folder: the run folder
    :return: the run and the warnings found
    :raises RunFolderError: naming the folder and the file, when the run cannot be used
    """
    folder = Path(folder)
    warnings: list[Problem] = []
    meta = _read_meta(folder)
    try:
        config = _read_config(folder)
    except RunFolderError as error:
        warnings.append(Problem(folder, error.file, error.reason, skipped=False))
        config = {}
    try:
        metrics = _read_csv(folder, "metrics.csv", METRICS_COLUMNS, REQUIRED_FINITE)
    except RunFolderError:
        if meta["status"] == "completed" or (folder / "metrics.csv").is_file():
            raise
        metrics = pd.DataFrame({c: pd.Series(dtype=float) for c in METRICS_COLUMNS})
    if meta["status"] == "completed" and metrics.empty:
        raise RunFolderError(
            folder, "metrics.csv", "has no evaluation rows although meta.json says completed"
        )
    try:
        episodes = _read_csv(folder, "episodes.csv", EPISODES_COLUMNS, ("timesteps", "return"))
    except RunFolderError as error:
        warnings.append(Problem(folder, error.file, error.reason, skipped=False))
        episodes = None
    return Run(folder, meta, config, metrics, episodes), warnings


def _with_run_columns(frame: pd.DataFrame, info: dict[str, Any]) -> pd.DataFrame:
    frame = frame.copy()
    for position, column in enumerate(RUN_COLUMNS):
        frame.insert(position, column, info[column])
    return frame


def load_runs(root: str | Path, log: Any = None) -> RunSet:
    """Load every run folder under ``root`` into tidy tables.

    :param root: a runs folder, a sweep folder or a single run folder
    :param log: callable taking one line of text for progress and problems (e.g. ``print``), or None
    :return: the tables and the problems found (damaged runs are listed there and skipped)
    :raises FileNotFoundError: ``root`` does not exist
    :raises ValueError: no run folder at all under ``root``
    """
    root = Path(root)
    folders = find_run_folders(root)
    if not folders:
        raise ValueError(
            f"no run folders under {str(root)!r}: expected <sweep>/<env>/<algo>/seed<k>/ folders holding "
            f"meta.json and metrics.csv (written by `randbench train`)"
        )
    runs: list[Run] = []
    problems: list[Problem] = []
    for folder in folders:
        try:
            run, warnings = load_run(folder)
        except RunFolderError as error:
            problems.append(Problem(folder, error.file, error.reason, skipped=True))
        else:
            runs.append(run)
            problems.extend(warnings)
    if log is not None:
        for problem in problems:
            log(f"  ! {problem}")
    infos = [run.info for run in runs]
    seen: set[str] = set()
    for info in infos:
        # A copied run folder keeps its meta.json run_id; its path tells the two apart.
        if info["run_id"] in seen:
            info["run_id"] = info["path"]
        seen.add(info["run_id"])
    table = pd.DataFrame(infos, columns=list(INFO_COLUMNS))
    curves = [_with_run_columns(run.metrics, info) for run, info in zip(runs, infos) if len(run.metrics)]
    episodes = [
        _with_run_columns(run.episodes, info)
        for run, info in zip(runs, infos)
        if run.episodes is not None and len(run.episodes)
    ]
    empty_curves = pd.DataFrame(columns=list(RUN_COLUMNS) + list(METRICS_COLUMNS))
    empty_episodes = pd.DataFrame(columns=list(RUN_COLUMNS) + list(EPISODES_COLUMNS))
    order = ["env", "algo", "seed"]
    return RunSet(
        root=root,
        runs=table.sort_values(order, kind="stable").reset_index(drop=True),
        curves=(pd.concat(curves, ignore_index=True) if curves else empty_curves),
        episodes=(pd.concat(episodes, ignore_index=True) if episodes else empty_episodes),
        problems=problems,
        meta={info["run_id"]: run.meta for run, info in zip(runs, infos)},
        configs={info["run_id"]: run.config for run, info in zip(runs, infos)},
    )
