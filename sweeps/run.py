"""The life of one run: check, skip or (re)start, build, learn, record the outcome.

Statuses written to ``meta.json`` (DESIGN.md): ``running`` while training, then ``completed``,
``failed`` (an exception; its text is recorded), ``interrupted`` (SIGINT or SIGTERM) or
``diverged`` (a non-finite loss, return or parameter). What was written before the end is kept.
"""

from __future__ import annotations

import math
import re
import signal
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_limits

from baselines.build import build_algorithm
from envs.make import check_env_id, make_eval_env, make_train_env
from sweeps import meta
from sweeps.recorder import DivergedError, RunRecorder, TimeBudgetReached
from sweeps.rundir import atomic_write_json, atomic_write_text, check_writable, read_status

# Files of a previous, unfinished attempt that a restart replaces.
RUN_FILES = (
    "config.yaml", "metrics.csv", "episodes.csv", "progress.csv", "meta.json", "model.zip", "vecnormalize.pkl",
)


class RunInterrupted(KeyboardInterrupt):
    """Raised in the training process when it receives SIGTERM (SIGINT raises KeyboardInterrupt)."""


@dataclass
class RunResult:
    """Outcome of :func:`run`: the run folder and its final status (``skipped`` if already done)."""

    run_dir: Path
    status: str
    error: str | None = None


_FOLDER_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*")


def run_dir_of(cfg: DictConfig) -> Path:
    """``<output.root>/<sweep_name>/<env.name>/<algo_label>/seed<seed>``."""
    return Path(cfg.output.root) / str(cfg.sweep_name) / cfg.env.name / str(cfg.algo_label) / f"seed{cfg.seed}"


def check_run_config(cfg: DictConfig) -> None:
    """Refuse run-level settings that cannot work, before anything is built or written.

    :raises ValueError: naming the bad value and what would be accepted.
    """
    checks = [
        ("budget", cfg.budget, "an integer number of env steps > 0"),
        ("eval.freq", cfg.eval.freq, "an integer number of env steps > 0"),
        ("eval.n_episodes", cfg.eval.n_episodes, "an integer >= 1"),
        ("threads", cfg.threads, "an integer >= 1"),
        ("env.n_envs", cfg.env.n_envs, "an integer >= 1"),
    ]
    for key, value, accepted in checks:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}={value!r} is invalid; expected {accepted}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ValueError(f"seed={cfg.seed!r} is invalid; expected an integer >= 0")
    budget_s = cfg.get("budget_s")
    if budget_s is not None and (
        isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) or not budget_s > 0
    ):
        raise ValueError(f"budget_s={budget_s!r} is invalid; expected null or train seconds > 0")
    check_sweep_jobs(cfg.get("sweep_jobs"))
    for key in ("sweep_name", "algo_label"):
        if not _FOLDER_NAME.fullmatch(str(cfg[key])):
            raise ValueError(
                f"{key}={cfg[key]!r} is invalid; expected a folder name of letters, digits, '.', '_', '+' "
                f"and '-' (not starting with '.')"
            )
    check_env_id(cfg.env.id)


def check_sweep_jobs(jobs: Any) -> None:
    """Refuse a ``sweep_jobs`` value that is not ``null`` or ``{env: {algo_label: n_seeds}}``.

    :raises ValueError: naming the bad entry and the accepted form.
    """
    if jobs is None:
        return
    accepted = "null or a mapping {env: {algo_label: number of seeds >= 1}}"
    if not OmegaConf.is_dict(jobs) and not isinstance(jobs, dict):
        raise ValueError(f"sweep_jobs={jobs!r} is invalid; expected {accepted}")
    for env, algos in jobs.items():
        if not OmegaConf.is_dict(algos) and not isinstance(algos, dict):
            raise ValueError(f"sweep_jobs.{env}={algos!r} is invalid; expected {accepted}")
        for algo, n_seeds in algos.items():
            if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
                raise ValueError(f"sweep_jobs.{env}.{algo}={n_seeds!r} is invalid; expected {accepted}")


def in_sweep(cfg: DictConfig) -> bool:
    """Whether this (env, algo_label, seed) is one of the sweep's jobs.

    A sweep preset whose algorithms take different numbers of seeds, or whose tasks take
    different algorithms, sweeps the full grid and lists its jobs in ``sweep_jobs``
    (``{env: {algo_label: n_seeds}}``, seeds ``0 .. n_seeds-1``); ``null`` keeps every job.
    """
    jobs = cfg.get("sweep_jobs")
    if jobs is None:
        return True
    n_seeds = jobs.get(cfg.env.name, {}).get(str(cfg.algo_label))
    return n_seeds is not None and int(cfg.seed) < int(n_seeds)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`RunInterrupted` for the duration of the block (main thread only)."""

    def handler(signum: int, frame: Any) -> None:
        raise RunInterrupted(f"received signal {signal.Signals(signum).name}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread: leave signals to the launcher
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _summary(error: BaseException) -> str:
    """``Type: first line of the message``, for one-line progress output."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run(cfg: DictConfig) -> RunResult:
    """Train one (algo, env, seed) as configured and record it in its run folder.

    Skips the run when its ``meta.json`` says ``completed`` (unless ``force``). Bad input
    raises ``ValueError`` before anything is written. SIGINT/SIGTERM record ``interrupted`` and
    re-raise, so a sweep stops; any other exception records ``failed`` (or ``diverged``) and is
    returned in the result, so a sweep goes on with its other jobs.

    :param cfg: the composed run config (conf/config.yaml).
    :return: the run folder and its final status.
    :raises ValueError: on bad input (unknown env id, budget <= 0, ...), before any work.
    :raises KeyboardInterrupt: after recording ``interrupted``.
    """
    check_run_config(cfg)
    run_dir = run_dir_of(cfg)
    label = f"{cfg.env.name}/{cfg.algo_label}/seed{cfg.seed}"
    if not in_sweep(cfg):
        return RunResult(run_dir, "excluded")
    status = read_status(run_dir)
    if cfg.get("dry_run"):
        limit = f"{cfg.budget:,} steps" + (f" or {cfg.budget_s:g} train s" if cfg.get("budget_s") else "")
        print(f"[{label}] {cfg.algo.name} on {cfg.env.id}, {limit} -> {run_dir} ({status or 'not started'})",
              flush=True)
        return RunResult(run_dir, "dry_run")
    if status == "completed" and not cfg.force:
        print(f"[{label}] completed run found in {run_dir}, skipping (force=true re-runs it)", flush=True)
        return RunResult(run_dir, "skipped")
    check_writable(run_dir)
    torch.set_num_threads(int(cfg.threads))
    # numpy/scipy's BLAS too (RANDPOL's exact critic solvers, SES): parallel runs must not
    # oversubscribe the cores through a second thread pool.
    threadpool_limits(limits=int(cfg.threads))

    try:
        train_env, eval_env, model = build_run(cfg)
    except ValueError:
        raise
    except Exception as caught:  # noqa: BLE001 - e.g. an argument the algorithm does not take
        error = traceback.format_exc()
        print(f"[{label}] failed while building: {_summary(caught)}", flush=True)
        if read_status(run_dir) != "completed":  # never overwrite a finished run's record
            _clear(run_dir)
            atomic_write_json(run_dir / "meta.json", _base_meta(cfg, label) | {
                "status": "failed", "error": error, "end_time": _now()})
        return RunResult(run_dir, "failed", error)
    return _train(cfg, model, train_env, eval_env, run_dir, label)


def build_run(cfg: DictConfig) -> tuple[Any, Any, Any]:
    """The training env, the evaluation env and the algorithm of a run, as ``run`` builds them.

    :return: ``(train_env, eval_env, model)``; the caller closes the envs.
    :raises ValueError: on a config the algorithm or env refuses (see ``check_algorithm_config``).
    """
    env_kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True)
    normalize = cfg.env.normalize
    train_env = make_train_env(
        cfg.env.id,
        n_envs=cfg.env.n_envs,
        seed=cfg.seed,
        env_kwargs=env_kwargs,
        vec_env=cfg.env.vec_env,
        normalize=OmegaConf.to_container(normalize) if OmegaConf.is_config(normalize) else normalize,
        gamma=cfg.algo.model.get("gamma"),
    )
    eval_env = make_eval_env(cfg.env.id, seed=cfg.seed + 10_000, env_kwargs=env_kwargs, train_env=train_env)
    try:
        model = build_algorithm(cfg.algo, train_env, seed=cfg.seed, device=cfg.device)
    except BaseException:
        train_env.close()
        eval_env.close()
        raise
    return train_env, eval_env, model


def _clear(run_dir: Path) -> None:
    """Remove the files of a previous unfinished attempt (or of a forced re-run)."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


def _base_meta(cfg: DictConfig, label: str) -> dict[str, Any]:
    return {
        "run_id": f"{cfg.sweep_name}/{label}",
        "sweep": str(cfg.sweep_name),
        "algo": str(cfg.algo_label),
        "algo_name": cfg.algo.name,
        "env": cfg.env.name,
        "env_id": cfg.env.id,
        "seed": int(cfg.seed),
        "budget": int(cfg.budget),
        "budget_s": None if cfg.get("budget_s") is None else float(cfg.budget_s),
        "status": "running",
        "error": None,
        "start_time": _now(),
        "end_time": None,
        "versions": meta.versions(),
        "git_commit": meta.git_commit(),
        "host": meta.host(),
    }


def _train(cfg: DictConfig, model: Any, train_env: Any, eval_env: Any, run_dir: Path, label: str) -> RunResult:
    _clear(run_dir)
    # The algorithm's own training log (losses, approx KL, entropy, explained variance, learning
    # rate, ...) as SB3's logger writes it: progress.csv in the run folder, one row per dump.
    from stable_baselines3.common.logger import configure

    model.set_logger(configure(str(run_dir), ["csv"]))
    config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
    atomic_write_text(run_dir / "config.yaml", config_yaml)
    info = _base_meta(cfg, label) | {
        "config_digest": meta.config_digest(config_yaml),
        "parameters": meta.parameter_counts(model),
    }
    atomic_write_json(run_dir / "meta.json", info)
    recorder = RunRecorder(
        run_dir,
        eval_env,
        eval_freq=cfg.eval.freq,
        n_eval_episodes=cfg.eval.n_episodes,
        total_timesteps=cfg.budget,
        deterministic=cfg.eval.deterministic,
        label=label,
        progress=cfg.progress,
        budget_s=cfg.get("budget_s"),
    )
    print(
        f"[{label}] training {cfg.algo.name} on {cfg.env.id} for {cfg.budget:,} steps "
        f"({train_env.num_envs} env(s), {info['parameters']['trainable']:,} trainable parameters) -> {run_dir}",
        flush=True,
    )
    started = time.perf_counter()
    status, error, interrupt, summary = "completed", None, None, ""
    try:
        with sigterm_as_interrupt():
            try:
                model.learn(total_timesteps=int(cfg.budget), callback=recorder)
            except TimeBudgetReached:  # a completed run: evaluate the final policy
                recorder.finish()
    except KeyboardInterrupt as caught:
        status, error, interrupt = "interrupted", str(caught) or "KeyboardInterrupt (SIGINT)", caught
        summary = error
    except DivergedError as caught:
        status, error, summary = "diverged", str(caught), str(caught)
    except Exception as caught:  # noqa: BLE001 - any training error is recorded and the sweep goes on
        status, error, summary = "failed", traceback.format_exc(), _summary(caught)
        try:  # an exception raised because the weights became NaN/inf is a divergence
            recorder.check_finite()
        except DivergedError as diverged:
            status, error, summary = "diverged", f"{diverged}\n{error}", str(diverged)
    try:
        recorder.flush()
        if status == "completed":
            _save_model(model, train_env, run_dir)
    finally:
        info.update(
            status=status,
            error=error,
            end_time=_now(),
            timesteps=int(model.num_timesteps),
            duration_s=time.perf_counter() - started,
            train_time_s=recorder.metrics[-1][1] if recorder.metrics else None,
            **_stop_info(recorder, status, int(model.num_timesteps), int(cfg.budget)),
            **_load_info(recorder.load_1m),
        )
        # Sparse algorithms (RLx2) report measured sparsity, compression and FLOPs after training.
        if callable(getattr(model, "sparsity_report", None)):
            info["sparsity"] = model.sparsity_report()
        atomic_write_json(run_dir / "meta.json", info)
        model.logger.close()
        train_env.close()
        eval_env.close()
    print(f"[{label}] {status}" + (f": {summary}" if summary else ""), flush=True)
    if interrupt is not None:
        raise interrupt
    return RunResult(run_dir, status, error)


def _stop_info(recorder: RunRecorder, status: str, timesteps: int, budget: int) -> dict[str, Any]:
    """Which limit ended a completed run: ``budget`` (env steps) or ``budget_s`` (train seconds)."""
    if status != "completed":
        return {"stop_reason": None}
    if recorder.stop_reason == "budget_s":
        return {
            "stop_reason": "budget_s",
            "budget_s_overshoot_s": float(recorder.stop_train_time_s - recorder.budget_s),
        }
    return {"stop_reason": "budget" if timesteps >= budget else None}


def _load_info(samples: list[float]) -> dict[str, Any]:
    """The 1-minute load average at each evaluation, its maximum and mean (None without samples)."""
    finite = [value for value in samples if math.isfinite(value)]
    return {
        "load_1m": [round(value, 2) for value in samples],
        "load_1m_max": max(finite) if finite else None,
        "load_1m_mean": sum(finite) / len(finite) if finite else None,
    }


def _save_model(model: Any, train_env: Any, run_dir: Path) -> None:
    """model.zip (and vecnormalize.pkl), each through a temporary file and a rename."""
    from stable_baselines3.common.vec_env import VecNormalize

    tmp = run_dir / ".model.tmp.zip"
    model.save(tmp)
    tmp.replace(run_dir / "model.zip")
    if isinstance(train_env, VecNormalize):
        tmp = run_dir / ".vecnormalize.tmp.pkl"
        train_env.save(tmp)
        tmp.replace(run_dir / "vecnormalize.pkl")
