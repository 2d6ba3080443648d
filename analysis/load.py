"""Run folders -> tidy pandas DataFrames.

Reads only files on disk, following the run folder contract of docs/design.md:
``<runs>/<sweep>/<env>/<algo>/seed<k>/`` with ``meta.json``, ``metrics.csv``, ``episodes.csv`` and
``config.yaml``. A damaged run (missing or unreadable ``meta.json``, a value of the wrong type in
it, a truncated ``metrics.csv``, a non-finite return, a copy of another run folder) is recorded as a
:class:`Problem` naming its folder, its file and the reason, and left out of the tables; it is never
dropped silently and never stops the loading of the other runs. Files are parsed with a round-trip
float parser, so the analysis sees exactly the numbers the harness wrote.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from analysis.contract import (
    EPISODES_COLUMNS,
    IDENTITY_FILES,
    LOST,
    METRICS_COLUMNS,
    MODEL_FILE,
    STATUSES,
    VECNORMALIZE_FILE,
)
from analysis.runlock import holder_gone, read_lock

# Every row must hold a finite number in these: the metrics are built on them. (fps may be NaN on
# a zero interval and train_return_mean before the first training episode ends.)
REQUIRED_FINITE = ("timesteps", "train_time_s", "wall_time_s", "eval_return_mean")
# Every CSV is parsed with this float parser: pandas' default ("high") can be one ulp off what was
# written (0.950037875999982 read as 0.9500378759999819); "round_trip" gives Python's float().
FLOAT_PRECISION = "round_trip"
# Metadata copied onto every row of the tidy tables.
RUN_COLUMNS = ("run_id", "sweep", "env", "env_id", "algo", "seed", "status")
# Columns of the runs table (one row per run), see Run.info.
INFO_COLUMNS = RUN_COLUMNS + (
    "error",
    "error_line",
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
    "cpu_capability",
    "cpu_gflops",
    "cpu_cores",
    "torch_threads",
    "hostname",
    "budget_s",
    "stop_reason",
    "load_1m_max",
    "load_1m_mean",
    "n_evals",
    "missing_files",
    "path",
    "env_name",
)


def _number_or_none(value: Any) -> float | None:
    """A meta.json number as float; None for a missing or non-numeric value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


# Lines of an error text that only locate the problem (Hydra and OmegaConf append them).
_LOCATION_LINE = re.compile(r"^\s*(full_key|object_type|reference_type|config_key)\s*[:=]")


def error_summary(error: Any) -> str | None:
    """The one line of a run's error text that names the problem.

    ``meta.json`` keeps the whole error: a Python traceback for a failed run (its exception line
    is the first line after the last frame, not its last line: Hydra and OmegaConf end the message
    with location lines such as ``full_key: algo.model``), a sentence followed by the traceback
    for a diverged run, a sentence for an interrupted one. The summary is that sentence or the
    exception line; an exception line ending in ``:`` (Hydra's ``Error in call to target 'x':``)
    is joined with the line that follows it, the wrapped error.

    :param error: the ``error`` value of ``meta.json`` (text, or None)
    :return: one line, or None for no error
    """
    if error is None or not str(error).strip():
        return None
    lines = [line.rstrip() for line in str(error).strip().splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if starts and starts[0] > 0:  # a sentence before the traceback (diverged runs) says it
        block = lines[: starts[0]]
    elif starts:
        after = lines[starts[-1] + 1 :]
        first = next((i for i, line in enumerate(after) if not line[:1].isspace()), None)
        block = after[first:] if first is not None else after
    else:
        block = lines
    block = [line for line in block if not _LOCATION_LINE.match(line)] or block
    summary = block[0].strip()
    if summary.endswith(":") and len(block) > 1:
        summary = f"{summary} {block[1].strip()}"
    return summary


def _integer(folder: Path, file: str, key: str, value: Any, minimum: int) -> int | None:
    """A whole number of ``file`` (None stays None), or a RunFolderError naming the key and value."""
    if value is None:
        return None
    number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if number and value == int(value) and value >= minimum:
        return int(value)
    raise RunFolderError(folder, file, f"{key!r} is {value!r}; expected a whole number >= {minimum}")


def _text(folder: Path, file: str, key: str, value: Any) -> str:
    """A non-empty identity string of ``file``, or a RunFolderError naming the key and value."""
    if isinstance(value, str) and value.strip():
        return value
    raise RunFolderError(folder, file, f"{key!r} is {value!r}; expected a non-empty string")


def _mapping(folder: Path, file: str, key: str, value: Any) -> dict[str, Any]:
    """A JSON object of ``file`` (missing -> empty), or a RunFolderError naming the key and value."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise RunFolderError(folder, file, f"{key!r} is {value!r}; expected a JSON object")


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
    :param missing_files: files a completed run promises that are not on disk (``model.zip``, and
        ``vecnormalize.pkl`` for a normalized env)
    :param unfinished_files: leftover temporary files of the harness's atomic writes
        (``.model.tmp.zip``): a write that was cut off
    """

    path: Path
    meta: dict[str, Any]
    config: dict[str, Any]
    metrics: pd.DataFrame
    episodes: pd.DataFrame | None
    missing_files: tuple[str, ...] = ()
    unfinished_files: tuple[str, ...] = ()

    @property
    def info(self) -> dict[str, Any]:
        """One row of the runs table: identity, status, budget, parameter counts, host, versions.

        Each value comes from ``meta.json``, else ``config.yaml``, else the folder layout
        ``<sweep>/<env>/<algo>/seed<k>``.

        :raises RunFolderError: a value of the wrong type (``"seed": "zero"``, ``"budget": "lots"``,
            ``"budget": 0``, ``"env": 5``), naming the file, the key and the value
        """
        meta, config, folder = self.meta, self.config, self.path
        env_cfg = config.get("env") if isinstance(config.get("env"), dict) else {}
        algo_cfg = config.get("algo") if isinstance(config.get("algo"), dict) else {}
        eval_cfg = config.get("eval") if isinstance(config.get("eval"), dict) else {}
        parts = self.path.parts

        def pick(key: str, config_value: Any, layout: Any = None) -> tuple[Any, str]:
            """(value, file it came from): meta.json first, then config.yaml, then the layout."""
            if meta.get(key) is not None:
                return meta[key], "meta.json"
            if config_value is not None:
                return config_value, "config.yaml"
            return layout, "folder name"

        def integer(key: str, config_value: Any, minimum: int, layout: Any = None) -> int | None:
            value, file = pick(key, config_value, layout)
            return _integer(folder, file, key, value, minimum)

        def text(key: str, config_value: Any, layout: str) -> str:
            value, file = pick(key, config_value, layout)
            return value if file == "folder name" else _text(folder, file, key, value)

        layout_seed = (
            int(self.path.name[4:])
            if self.path.name.startswith("seed") and self.path.name[4:].isdigit()
            else None
        )
        seed = integer("seed", config.get("seed"), 0, layout_seed)
        params = _mapping(folder, "meta.json", "parameters", meta.get("parameters"))
        host = _mapping(folder, "meta.json", "host", meta.get("host"))
        env_id = meta.get("env_id", env_cfg.get("id"))
        if env_id is not None:
            env_id = _text(folder, "meta.json" if "env_id" in meta else "config.yaml", "env_id", env_id)
        info = {
            "sweep": text("sweep", config.get("sweep_name"), parts[-4] if len(parts) >= 4 else ""),
            "env": text("env", env_cfg.get("name"), parts[-3] if len(parts) >= 3 else ""),
            "env_id": env_id,
            "algo": text(
                "algo_label" if "algo_label" in meta else "algo",  # "algo": folders written before 2026-12
                config.get("algo_label", algo_cfg.get("name")),
                parts[-2] if len(parts) >= 2 else "",
            ),
            "seed": -1 if seed is None else seed,
            "status": meta["status"],
            "error": meta.get("error"),
            "error_line": error_summary(meta.get("error")),
            "budget": integer("budget", config.get("budget"), 1),
            "eval_freq": _integer(
                folder, "config.yaml", "eval.freq", eval_cfg.get("freq", env_cfg.get("eval_freq")), 1
            ),
            "eval_episodes": _integer(
                folder, "config.yaml", "eval.n_episodes", eval_cfg.get("n_episodes"), 1
            ),
            "n_envs": _integer(folder, "config.yaml", "env.n_envs", env_cfg.get("n_envs"), 1),
            "params_total": _integer(folder, "meta.json", "parameters.total", params.get("total"), 0),
            "params_trainable": _integer(
                folder, "meta.json", "parameters.trainable", params.get("trainable"), 0
            ),
            "start_time": meta.get("start_time"),
            "end_time": meta.get("end_time"),
            "git_commit": meta.get("git_commit"),
            "cpu_model": host.get("cpu_model"),
            "cpu_capability": host.get("cpu_capability"),
            "cpu_gflops": _number_or_none(host.get("cpu_gflops")),
            "cpu_cores": host.get("cpu_cores"),
            "torch_threads": host.get("torch_threads"),
            "hostname": host.get("hostname"),
            "budget_s": _number_or_none(meta.get("budget_s")),
            "stop_reason": meta.get("stop_reason"),
            "load_1m_max": _number_or_none(meta.get("load_1m_max")),
            "load_1m_mean": _number_or_none(meta.get("load_1m_mean")),
            "n_evals": len(self.metrics),
            "missing_files": ", ".join(self.missing_files) or None,
            "path": str(self.path),
        }
        run_id = meta.get("run_id")
        info["run_id"] = (
            _text(folder, "meta.json", "run_id", run_id)
            if run_id is not None
            else f"{info['sweep']}/{info['env']}/{info['algo']}/seed{info['seed']}"
        )
        return info


@dataclass
class RunSet:
    """All runs under a folder, as tidy tables.

    :param root: the folder that was searched (the first, when several were: see :attr:`roots`)
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
    roots: tuple[Path, ...] = ()

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

    A run folder is a directory holding at least one of ``IDENTITY_FILES``, or named ``seed<k>``.

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
    return any((folder / f).is_file() for f in IDENTITY_FILES) or (name.startswith("seed") and name[4:].isdigit())


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
    """Read a run CSV and check it is whole: header, numeric columns, no cut-off last row.

    Floats are parsed round-trip (:data:`FLOAT_PRECISION`): every value is the float written.
    Every value of ``required_finite`` must be a finite number (not empty, NaN or +-inf).
    """
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
        frame = pd.read_csv(path, float_precision=FLOAT_PRECISION)
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
        values = frame[column].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            value = values[row - 1]
            what = "empty" if np.isnan(value) else f"{value} (not a finite number)"
            raise RunFolderError(
                folder,
                name,
                f"column {column!r} is {what} at row {row} of {len(frame)}; the file is truncated or damaged",
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

    ``meta.json`` is required, and its values must have the types the harness writes. For a
    completed run, ``metrics.csv`` is required and must end at the step count ``meta.json``
    records (``timesteps``: the harness evaluates the final policy, so a file cut at a row
    boundary ends earlier); its missing ``model.zip`` (or ``vecnormalize.pkl`` of a normalized
    env) is recorded in :attr:`Run.missing_files` (:func:`load_runs` decides whether to warn),
    and a leftover temporary file of a cut-off write is a warning. A run that ended otherwise is
    kept with its status and error whatever its ``metrics.csv`` holds: none (it failed before its
    first evaluation), a damaged one (a warning) or, for a diverged run, a last evaluation or
    training episode with a non-finite return (dropped from its tables: it is what ``diverged``
    records). A missing ``config.yaml`` or an unreadable ``episodes.csv`` are warnings: the
    analysis does not need them.

    :param folder: the run folder
    :return: the run and the warnings found
    :raises RunFolderError: naming the folder, the file and the reason, when the run cannot be used
    """
    folder = Path(folder)
    warnings: list[Problem] = []
    meta = _read_meta(folder)
    if meta["status"] == "running":
        lock = read_lock(folder)
        reason = None if lock is None else holder_gone(lock)
        if reason is not None:  # nobody writes this folder any more: the run was lost, not running
            meta = {**meta, "status": LOST, "error": meta.get("error") or f"lost: {reason}"}
    status = meta["status"]
    try:
        config = _read_config(folder)
    except RunFolderError as error:
        warnings.append(Problem(folder, error.file, error.reason, skipped=False))
        config = {}
    # A diverged run's last evaluation is the non-finite one that stopped it.
    required = tuple(c for c in REQUIRED_FINITE if status != "diverged" or c != "eval_return_mean")
    try:
        metrics = _read_csv(folder, "metrics.csv", METRICS_COLUMNS, required)
    except RunFolderError as error:
        if status == "completed":
            raise
        if (folder / "metrics.csv").is_file():
            warnings.append(
                Problem(
                    folder, error.file, f"{error.reason}; the {status} run is listed without its curve", False
                )
            )
        metrics = pd.DataFrame({c: pd.Series(dtype=float) for c in METRICS_COLUMNS})
    if status == "diverged":
        finite = np.isfinite(metrics["eval_return_mean"].to_numpy(dtype=float))
        metrics = metrics[finite].reset_index(drop=True)
    missing: tuple[str, ...] = ()
    if status == "completed":
        missing = _check_completed(folder, meta, config, metrics)
    unfinished = tuple(sorted(p.name for p in folder.glob(".*.tmp*") if p.is_file()))
    try:
        episodes = _read_csv(
            folder,
            "episodes.csv",
            EPISODES_COLUMNS,
            ("timesteps",) if status == "diverged" else ("timesteps", "return"),
        )
    except RunFolderError as error:
        warnings.append(Problem(folder, error.file, error.reason, skipped=False))
        episodes = None
    if status == "diverged" and episodes is not None:
        episodes = episodes[np.isfinite(episodes["return"].to_numpy(dtype=float))].reset_index(drop=True)
    run = Run(folder, meta, config, metrics, episodes, missing, unfinished)
    if unfinished:
        warnings.append(
            Problem(
                folder,
                unfinished[0],
                f"is a leftover temporary file of a write that was cut off ({', '.join(unfinished)})"
                + (f"; {', '.join(missing)} missing" if missing else ""),
                skipped=False,
            )
        )
    run.info  # noqa: B018 - checks every value the tables take from meta.json and config.yaml
    return run, warnings


def _check_completed(
    folder: Path, meta: dict[str, Any], config: dict[str, Any], metrics: pd.DataFrame
) -> tuple[str, ...]:
    """Check a completed run's metrics against meta.json; return the promised files not on disk.

    :raises RunFolderError: no evaluation rows, or a last row at other steps than meta.json's
        ``timesteps`` (the harness evaluates the final policy)
    """
    if metrics.empty:
        raise RunFolderError(
            folder, "metrics.csv", "has no evaluation rows although meta.json says completed"
        )
    steps = _integer(folder, "meta.json", "timesteps", meta.get("timesteps"), 0)
    last = float(metrics["timesteps"].iloc[-1])
    if steps is not None and last != steps:
        raise RunFolderError(
            folder,
            "metrics.csv",
            f"ends at {last:.0f} env steps (row {len(metrics)}) but meta.json says the run made {steps}; "
            + ("the file is truncated" if last < steps else "the two files do not belong together"),
        )
    env_cfg = config.get("env") if isinstance(config.get("env"), dict) else {}
    normalized = env_cfg.get("normalize") is True or isinstance(env_cfg.get("normalize"), dict)
    promised = [MODEL_FILE] + ([VECNORMALIZE_FILE] if normalized else [])
    return tuple(name for name in promised if not (folder / name).is_file())


def _with_run_columns(frame: pd.DataFrame, info: dict[str, Any]) -> pd.DataFrame:
    frame = frame.copy()
    for position, column in enumerate(RUN_COLUMNS):
        frame.insert(position, column, info[column])
    return frame


def _missing_model_problems(runs: list[Run]) -> list[Problem]:
    """A warning for each completed run without its model files, in a tree that keeps models.

    A tree where no completed run has its model files is a copy of the results without the models
    (``results/benchmark`` is committed so): nothing is flagged, and the runs table's
    ``missing_files`` column says what is absent. Where some completed runs have them, each
    completed run that lacks one is flagged (deleted, or never written). A run with a leftover
    temporary file is flagged in any tree (:func:`load_run`).
    """
    completed = [run for run in runs if run.meta["status"] == "completed"]
    if not any(not run.missing_files for run in completed):
        return []
    return [
        Problem(
            run.path,
            name,
            "is missing although meta.json says completed, while other completed runs here have theirs: "
            "the trained model is not on disk (its metrics are kept)",
            skipped=False,
        )
        for run in completed
        if not run.unfinished_files
        for name in run.missing_files
    ]


def _without_copies(runs: list[Run]) -> tuple[list[Run], list[Problem]]:
    """Keep one run folder per ``run_id``; the others are copies of it (or of its files).

    The folder kept is one at the place its ``run_id`` names (``<sweep>/<env>/<algo>/seed<k>`` at
    the end of its path), the shallowest of those (a backup copy sits deeper), else the first in
    sorted order.
    """
    by_id: dict[str, list[Run]] = {}
    for run in runs:
        by_id.setdefault(run.info["run_id"], []).append(run)
    kept, problems = [], []
    for run_id, group in by_id.items():
        home = [run for run in group if run.path.as_posix().endswith("/" + run_id.strip("/"))]
        keep = min(home, key=lambda run: len(run.path.parts)) if home else group[0]
        kept.append(keep)
        for other in group:
            if other is keep:
                continue
            same = all(other.meta.get(k) == keep.meta.get(k) for k in ("start_time", "config_digest"))
            what = "a copy of that run folder" if same else "another run under the same run_id"
            problems.append(
                Problem(
                    other.path,
                    "meta.json",
                    f"run_id {run_id!r} is also the run_id of {keep.path}: {what}; counted once, from {keep.path}",
                )
            )
    order = {id(run): i for i, run in enumerate(runs)}
    return sorted(kept, key=lambda run: order[id(run)]), problems


def _steps_label(budget: int | None) -> str:
    """An env-step budget in words: ``"1M steps"``, ``"250,000 steps"``."""
    if budget is None:
        return "a step budget"
    return f"{budget // 1_000_000}M steps" if budget % 1_000_000 == 0 else f"{budget:,} steps"


def label_tasks(infos: Sequence[dict[str, Any]]) -> None:
    """Tell apart, in place, the runs of one env trained under different kinds of budget.

    A run with a wall-clock budget (``budget_s``: stop at that many train seconds) and a run with
    an env-step budget answer different questions (return at equal train time, return at equal
    samples), and their seeds must not share a confidence interval or a PPO-level threshold. Where
    the runs of one env have more than one ``budget_s`` (None counts as one), their ``env``
    becomes ``"<env> (<budget>)"``: ``"hopper (1200 train s)"`` for the time-budget runs and
    ``"hopper (1M steps)"`` for the others (``"hopper (a step budget)"`` if those differ in steps).
    Otherwise ``env`` stays the env's config name. Differences in step budget alone do not split
    a task. ``env_name`` always holds the config name.

    :param infos: rows of the runs table (:attr:`Run.info`), changed in place
    """
    time_budgets: dict[str, set[Any]] = {}
    step_budgets: dict[str, set[Any]] = {}
    for info in infos:
        info["env_name"] = env = info["env"]
        time_budgets.setdefault(env, set()).add(info.get("budget_s"))
        if info.get("budget_s") is None:
            step_budgets.setdefault(env, set()).add(info.get("budget"))
    for info in infos:
        env = info["env_name"]
        if len(time_budgets[env]) == 1:
            continue
        if info.get("budget_s") is not None:
            label = f"{info['budget_s']:g} train s"
        else:
            steps = step_budgets[env]
            label = _steps_label(next(iter(steps))) if len(steps) == 1 else "a step budget"
        info["env"] = f"{env} ({label})"


def load_runs(root: str | Path | Sequence[str | Path], log: Any = None) -> RunSet:
    """Load every run folder under ``root`` into tidy tables.

    :param root: a runs folder, a sweep folder or a single run folder, or several of them (e.g. a
        study's runs and the benchmark runs they are read against); a run found twice counts once
    :param log: callable taking one line of text for progress and problems (e.g. ``print``), or None
    :return: the tables and the problems found (damaged runs are listed there and skipped; a
        folder whose ``meta.json`` has the ``run_id`` of another, a copy, is skipped and named
        with the folder counted instead, so no run counts twice)
    :raises FileNotFoundError: ``root`` does not exist
    :raises ValueError: no run folder at all under ``root``
    """
    roots = (Path(root),) if isinstance(root, (str, Path)) else tuple(Path(r) for r in root)
    if not roots:
        raise ValueError("no runs folder given")
    folders = list(dict.fromkeys(folder for r in roots for folder in find_run_folders(r)))
    where = " or ".join(repr(str(r)) for r in roots)
    if not folders:
        raise ValueError(
            f"no run folders under {where}: expected <sweep>/<env>/<algo>/seed<k>/ folders holding "
            f"meta.json and metrics.csv (written by `randbench train`)"
        )
    runs: list[Run] = []
    problems: list[Problem] = []
    for folder in folders:
        try:
            run, warnings = load_run(folder)
        except RunFolderError as error:
            problems.append(Problem(folder, error.file, error.reason, skipped=True))
        except (TypeError, ValueError, KeyError, AttributeError) as error:  # one run never stops the rest
            problems.append(Problem(folder, ".", f"cannot be loaded ({type(error).__name__}: {error})"))
        else:
            runs.append(run)
            problems.extend(warnings)
    runs, copies = _without_copies(runs)
    problems.extend(copies)
    problems.extend(_missing_model_problems(runs))
    if log is not None:
        for problem in problems:
            log(f"  ! {problem}")
    infos = [run.info for run in runs]
    label_tasks(infos)
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
        root=roots[0],
        roots=roots,
        runs=table.sort_values(order, kind="stable").reset_index(drop=True),
        curves=(pd.concat(curves, ignore_index=True) if curves else empty_curves),
        episodes=(pd.concat(episodes, ignore_index=True) if episodes else empty_episodes),
        problems=problems,
        meta={info["run_id"]: run.meta for run, info in zip(runs, infos)},
        configs={info["run_id"]: run.config for run, info in zip(runs, infos)},
    )
