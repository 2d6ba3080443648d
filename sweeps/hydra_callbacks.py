"""Hydra callbacks of the ``randbench train`` app: checks before anything is written, the sweep summary.

:class:`SweepGuard` (``hydra.callbacks.sweep_guard`` in conf/config.yaml):

- before a single run or a sweep: ``output.root`` can be written (nothing is created);
- before the first job of a sweep trains: every job is composed and checked as :func:`sweeps.run.run`
  would (run settings, a completed run made with another config, the algorithm's and the env's
  constructors), for any launcher; one refused job refuses the sweep (exit status 2), each reason
  printed, and no folder is made;
- when a sweep ends: one table on stdout (run, status, final evaluation return, train time, FPS,
  and the meta.json of each run that did not complete), the same rows in
  ``<output.root>/<sweep_name>/summary.csv``, and exit status 1 unless every job completed or was
  skipped.

Hydra turns exceptions raised in callbacks into warnings, so a refusal is a clean ``SystemExit``
with the reason on stderr.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from sweeps.rundir import atomic_write_csv, check_writable

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
SUMMARY_COLUMNS = ("run", "status", "final_eval_return", "train_time_s", "fps", "meta_json")


@dataclass
class JobPlan:
    """One job of a sweep, as checked before the sweep started.

    :param label: ``<env>/<algo_label>/seed<k>``.
    :param run_dir: the job's run folder.
    :param sweep_dir: ``<output.root>/<sweep_name>``, where ``summary.csv`` goes.
    :param plan: what :func:`sweeps.run.plan_run` said: ``train``, ``skip``, ``excluded`` or ``dry_run``.
    """

    label: str
    run_dir: Path
    sweep_dir: Path
    plan: str


def _refuse(lines: list[str]) -> None:
    from sweeps.train import ExitStatus

    print("randbench train: error: " + "\n  ".join(lines), file=sys.stderr, flush=True)
    raise ExitStatus(2)


def _check_root(config: DictConfig) -> None:
    try:
        check_writable(Path(config.output.root), create=False)
    except ValueError as error:
        _refuse([str(error)])


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The override list of every job of a multirun, as Hydra's basic sweeper will launch them.

    :param config: the multirun's primary config (with its ``hydra`` node).
    :return: one list of ``key=value`` overrides per job, in launch order.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    return [list(job) for batch in BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
            for job in batch]


def _job_config(config: DictConfig, overrides: list[str]) -> DictConfig:
    """A job's run config as the task function receives it (composed, without the hydra node)."""
    from hydra.core.global_hydra import GlobalHydra

    job = GlobalHydra.instance().config_loader().load_sweep_config(config, list(overrides))
    with read_write(job), open_dict(job):
        del job["hydra"]
    return job


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def plan_sweep(config: DictConfig) -> list[JobPlan]:
    """Check every job of a sweep before any trains; refuse the sweep if one job is refused.

    Each job is composed, then checked by :func:`sweeps.run.plan_run`; a job that will train is
    also built once per distinct config (the seed aside) by :func:`sweeps.run.check_buildable`.
    Excluded jobs (``sweep_jobs``) are not checked further, nor is a dry run's build.

    :param config: the multirun's primary config.
    :return: one :class:`JobPlan` per job.
    :raises SystemExit: exit status 2, every refused job and its reason on stderr.
    """
    import hashlib

    from sweeps.run import check_buildable, plan_run, run_dir_of, training_config

    plans: list[JobPlan] = []
    problems: list[str] = []
    built: dict[str, str | None] = {}
    jobs = sweep_jobs(config)
    for overrides in jobs:
        try:
            job = _job_config(config, overrides)
        except Exception as error:  # noqa: BLE001 - Hydra's composition errors come in many types
            problems.append(f"job {' '.join(overrides)}: {_first_line(error)}")
            continue
        label = f"{job.env.name}/{job.algo_label}/seed{job.seed}"
        try:
            plan = plan_run(job)
            if plan == "train":
                settings = {key: value for key, value in training_config(job).items() if key != "seed"}
                key = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
                if key not in built:
                    try:
                        check_buildable(job)
                        built[key] = None
                    except ValueError as error:
                        built[key] = str(error)
                if built[key] is not None:
                    raise ValueError(built[key])
        except ValueError as error:
            problems.append(f"{label}: {error}")
            continue
        plans.append(JobPlan(label, run_dir_of(job), Path(job.output.root) / str(job.sweep_name), plan))
    if problems:
        _refuse([f"{len(problems)} of {len(jobs)} job(s) of the sweep refused; nothing was trained:", *problems])
    return plans


def _read_meta(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _final_return(run_dir: Path) -> float | None:
    """``eval_return_mean`` of the last row of metrics.csv (None when there is none)."""
    try:
        with open(run_dir / "metrics.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return float(rows[-1]["eval_return_mean"]) if rows else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _attempted_since(meta: dict[str, Any], started: datetime) -> bool:
    """Whether a run started, or resumed, at or after ``started`` (a resumed run keeps the start
    time of its first attempt; each resume is listed in ``resumes``)."""
    times = [meta.get("start_time")] + [resume.get("time") for resume in meta.get("resumes") or []
                                        if isinstance(resume, dict)]
    for value in times:
        try:
            if datetime.fromisoformat(str(value)) >= started.replace(microsecond=0):
                return True
        except ValueError:
            continue
    return False


def summary_rows(plans: list[JobPlan], started: datetime) -> list[dict[str, Any]]:
    """One row per job that was to train or be skipped, read from its run folder.

    ``status`` is ``skipped`` for a completed run that was not re-run, the status meta.json
    records for a job that ran (or resumed), and ``not run`` for one whose meta.json this sweep did
    not write (its job never started, or was refused). ``fps`` is timesteps over train seconds.

    :param plans: the jobs, from :func:`plan_sweep`.
    :param started: when the sweep started (UTC); an older meta.json is not this sweep's.
    """
    rows = []
    for job in plans:
        if job.plan not in ("train", "skip"):
            continue
        meta = _read_meta(job.run_dir)
        status = meta.get("status") if meta else None
        if job.plan == "skip" and status == "completed":
            status = "skipped"
        elif meta is not None and job.plan == "train":
            status = status if _attempted_since(meta, started) else "not run"
        status = str(status or "not run")
        train_time = _number((meta or {}).get("train_time_s"))
        timesteps = _number((meta or {}).get("timesteps"))
        rows.append({
            "run": job.label,
            "status": status,
            "final_eval_return": _final_return(job.run_dir) if meta else None,
            "train_time_s": train_time,
            "fps": timesteps / train_time if timesteps is not None and train_time else None,
            "meta_json": "" if status in ("completed", "skipped") else str(job.run_dir / "meta.json"),
            "_sweep_dir": job.sweep_dir,
        })
    return rows


def _fmt(value: Any, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def print_summary(rows: list[dict[str, Any]]) -> None:
    """The sweep's table on stdout, one line per run."""
    header = ("run", "status", "final return", "train s", "FPS", "meta.json")
    table = [(row["run"], row["status"], _fmt(row["final_eval_return"], 2), _fmt(row["train_time_s"], 1),
              _fmt(row["fps"], 0), row["meta_json"]) for row in rows]
    widths = [max(len(header[i]), *(len(line[i]) for line in table)) for i in range(len(header))]
    print(f"\nsweep summary: {len(rows)} run(s)", flush=True)
    for line in (header, tuple("-" * width for width in widths), *table):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def write_summaries(rows: list[dict[str, Any]]) -> list[Path]:
    """``summary.csv`` in each sweep folder, with that sweep's rows (atomically).

    :return: the files written.
    """
    written = []
    for sweep_dir in dict.fromkeys(row["_sweep_dir"] for row in rows):
        sweep_dir.mkdir(parents=True, exist_ok=True)
        mine = [[row[column] if row[column] is not None else "" for column in SUMMARY_COLUMNS]
                for row in rows if row["_sweep_dir"] == sweep_dir]
        atomic_write_csv(sweep_dir / "summary.csv", SUMMARY_COLUMNS, mine)
        written.append(sweep_dir / "summary.csv")
    return written


class SweepGuard(Callback):
    """The checks before a run or a sweep writes anything, and the summary after a sweep (module doc)."""

    def __init__(self) -> None:
        self.plans: list[JobPlan] | None = None
        self.started = datetime.now(UTC)
        self.dry_run_dir: str | None = None  # a dry run's scratch sweep folder, removed at its end

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_root(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_root(config)
        self.started = datetime.now(UTC)
        if config.get("dry_run"):
            # Hydra's sweeper saves the invocation as multirun.yaml in the sweep folder, next to the
            # record of the sweep that made its runs; a dry run trains nothing and must not replace
            # that record, so its own goes to a scratch folder.
            with read_write(config.hydra), open_dict(config.hydra):
                self.dry_run_dir = config.hydra.sweep.dir = tempfile.mkdtemp(prefix="randbench-dry-run-")
        if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
            print(f"randbench train: sweeper {config.hydra.sweeper.get('_target_')} is not Hydra's basic sweeper; "
                  f"its jobs are checked one by one as they start", file=sys.stderr, flush=True)
            return
        self.plans = plan_sweep(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.dry_run_dir is not None:
            shutil.rmtree(self.dry_run_dir, ignore_errors=True)
        if self.plans is None:
            return
        rows = summary_rows(self.plans, self.started)
        if not rows:  # a dry run, or every job excluded: nothing trained, nothing to summarize
            return
        print_summary(rows)
        for path in write_summaries(rows):
            print(f"summary: {path}", flush=True)
        unfinished = [row for row in rows if row["status"] not in ("completed", "skipped")]
        if unfinished:
            from sweeps.train import ExitStatus

            print(f"randbench train: {len(unfinished)} of {len(rows)} run(s) did not complete", file=sys.stderr,
                  flush=True)
            raise ExitStatus(1)


# The name older configs give this callback.
OutputRootCheck = SweepGuard
