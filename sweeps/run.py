"""The life of one run: check, skip or (re)start, build, learn, record the outcome.

Statuses written to ``meta.json`` (docs/design.md): ``running`` while training, then ``completed``,
``failed`` (an exception; its text is recorded), ``interrupted`` (SIGINT or SIGTERM) or
``diverged`` (a non-finite loss, return or parameter). What was written before the end is kept.

A run is ``completed`` only once every file it promises is on disk (``PROMISED_FILES``, and
``vecnormalize.pkl`` when the env is normalized), ``meta.json`` last; an interrupt or an error while
those files are written records ``interrupted`` or ``failed`` instead, and no temporary file stays.
Every check that can refuse a job (:func:`plan_run`, :func:`build_run`) runs before its folder is
made, so a refused job leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
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

from analysis.contract import ATTEMPT_FILES, DERIVED_FILES, PROMISED_FILES, VECNORMALIZE_FILE
from baselines.build import build_algorithm
from envs.make import check_env_settings, make_eval_env, make_train_env
from sweeps import meta
from sweeps.checkpoint import (
    find_checkpoint,
    load_model,
    remove_checkpoints,
    restore_progress,
    save_checkpoint,
)
from sweeps.lock import acquire, check_unlocked
from sweeps.recorder import DivergedError, RunRecorder, TimeBudgetReached
from sweeps.rundir import (
    atomic_write_json,
    atomic_write_text,
    check_writable,
    read_status,
    remove_temp_files,
)

# Top-level config keys that change neither what is trained nor what is measured: a completed run
# whose config differs from a re-run's only in these is the same run, and is skipped.
UNCHECKED_KEYS = ("progress", "force", "dry_run", "output", "sweep_jobs", "logger", "hydra", "checkpoint")


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


def check_device(device: Any) -> None:
    """Refuse a torch device this machine cannot train on.

    Accepted: ``cpu``, ``auto`` (CUDA when available, else CPU; meta.json records which) and
    ``cuda`` / ``cuda:<index>`` when ``torch.cuda.is_available()`` and the index exists. SB3 would
    silently fall back to the CPU for an unavailable ``cuda``.

    :raises ValueError: naming the device, why it cannot be used and what is accepted.
    """
    text = str(device)
    accepted = "cpu, auto, or cuda[:index] on a machine with CUDA"
    if text == "auto":
        return
    try:
        parsed = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r} is invalid; expected {accepted}") from None
    if parsed.type == "cpu":
        return
    if parsed.type != "cuda":
        raise ValueError(f"device={text!r} is not supported; expected {accepted}")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={text!r} cannot be used: CUDA is not available on this machine "
            f"(torch {torch.__version__}, torch.cuda.is_available() is False); use device=cpu"
        )
    if parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(
            f"device={text!r} cannot be used: this machine has {torch.cuda.device_count()} CUDA device(s); "
            f"expected cuda:0 .. cuda:{torch.cuda.device_count() - 1}"
        )


def check_run_config(cfg: DictConfig) -> None:
    """Refuse run-level settings that cannot work, before anything is built or written.

    Besides the ranges below: ``sweep_name``, ``env.name`` and ``algo_label`` must be plain
    folder names (no ``..``, no ``/``), so that the run folder stays inside ``output.root``;
    ``device`` must be usable here (:func:`check_device`).

    :raises ValueError: naming the bad value and what would be accepted.
    """
    checks = [
        ("budget", cfg.budget, "an integer number of env steps > 0"),
        ("eval.freq", cfg.eval.freq, "an integer number of env steps > 0"),
        ("eval.n_episodes", cfg.eval.n_episodes, "an integer >= 1"),
        ("threads", cfg.threads, "an integer >= 1"),
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
    freq = OmegaConf.select(cfg, "checkpoint.freq")
    if freq is not None and (isinstance(freq, bool) or not isinstance(freq, int) or freq < 1):
        raise ValueError(f"checkpoint.freq={freq!r} is invalid; expected null (no checkpoints) or env steps >= 1")
    check_sweep_jobs(cfg.get("sweep_jobs"))
    from sweeps.loggers import check_logger_config  # refuse a bad logger setting before any folder work

    check_logger_config(cfg)
    for key in ("sweep_name", "env.name", "algo_label"):
        value = OmegaConf.select(cfg, key)
        if not _FOLDER_NAME.fullmatch(str(value)):
            raise ValueError(
                f"{key}={value!r} is invalid; expected a folder name of letters, digits, '.', '_', '+' "
                f"and '-' (not starting with '.')"
            )
    root = Path(str(cfg.output.root)).absolute().resolve()
    if not run_dir_of(cfg).absolute().resolve().is_relative_to(root):
        raise ValueError(f"the run folder {run_dir_of(cfg)} is outside output.root={cfg.output.root!r}")
    check_device(cfg.device)
    check_env_settings(cfg.env.id, cfg.env.n_envs, cfg.env.vec_env)


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


def preemption_signal() -> signal.Signals:
    """The signal Slurm sends ahead of a job's time limit and on pre-emption, as submitit asks for it
    (``sbatch --signal=USR2@<signal_delay_s>``): SIGUSR2, or the signal that submitit's environment
    variable ``SUBMITIT_PREEMPT_SIGNAL`` names (e.g. ``USR1``).

    :raises ValueError: when ``SUBMITIT_PREEMPT_SIGNAL`` names no signal.
    """
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2").strip().upper()
    try:
        return signal.Signals["SIG" + name.removeprefix("SIG")]
    except KeyError:
        raise ValueError(f"SUBMITIT_PREEMPT_SIGNAL={name!r} names no signal; expected e.g. USR2 or USR1") from None


@contextmanager
def sigterm_as_interrupt(recorder: RunRecorder | None = None) -> Iterator[None]:
    """Turn SIGTERM and the pre-emption signal into :class:`RunInterrupted` for the duration of the
    block (main thread only).

    With a ``recorder`` that is training and checkpointing, the first such signal is handed to it
    instead: it writes a checkpoint at the next rollout boundary and then stops the run the same
    way (Slurm sends SIGTERM before it kills a cancelled job, and :func:`preemption_signal` ahead of
    a time limit or a pre-emption). A second signal stops at once.

    Inside a submitit job, submitit's own handler of the pre-emption signal (which requeues the job)
    is called once the block has recorded the run, so that the requeued job resumes it from the
    checkpoint; without one, the pre-emption signal interrupts the run like SIGTERM.
    """
    preempt = preemption_signal()
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        name = f"received signal {signal.Signals(signum).name}"
        if signum == preempt:
            name += " (a Slurm time limit or pre-emption ahead)"
        if recorder is not None and recorder.request_stop(name):
            return
        raise RunInterrupted(name)

    try:
        previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, preempt)}
    except ValueError:  # not in the main thread: leave signals to the launcher
        yield
        return
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        requeue = previous[preempt]
        if preempt in received and callable(requeue):
            requeue(preempt, None)  # submitit: requeue the job, then exit this process


def training_config(cfg: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """The resolved config without :data:`UNCHECKED_KEYS`: what decides the trained run.

    :param cfg: a run config (composed, or loaded from a run folder's ``config.yaml``).
    :return: a plain nested dict.
    """
    if not OmegaConf.is_config(cfg):
        cfg = OmegaConf.create(cfg)
    out: dict[str, Any] = {}
    for key in cfg:
        if key in UNCHECKED_KEYS:
            continue
        value = cfg[key]
        out[str(key)] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return out


def config_digest(cfg: DictConfig | dict[str, Any]) -> str:
    """SHA-256 of :func:`training_config` as sorted JSON (equal configs, equal digests).

    Recorded in meta.json as ``config_digest``; ``config_digest_excludes`` names the keys it skips.
    """
    text = json.dumps(training_config(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= _flatten(item, f"{prefix}{key}.")
        return flat
    return {prefix[:-1]: value}


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every dotted key whose value differs (``<absent>`` if missing)."""
    absent = object()
    before, after = _flatten(old), _flatten(new)
    lines = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key, absent), after.get(key, absent)
        if a != b:
            lines.append(f"{key}: {'<absent>' if a is absent else repr(a)} -> {'<absent>' if b is absent else repr(b)}")
    return lines


def _constructor_defaults(model: Any) -> dict[str, Any]:
    """Dotted ``algo.model.*`` keys -> the default of the constructor argument they set.

    Covers the algorithm class named by ``_target_`` and, for ``policy_kwargs``, the policy
    class its ``policy`` alias names. Unknown or unimportable targets give ``{}``.
    """
    import importlib
    import inspect

    if not isinstance(model, dict) or not isinstance(model.get("_target_"), str):
        return {}
    module_name, _, class_name = model["_target_"].rpartition(".")
    try:
        algorithm = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        return {}

    def defaults_of(cls: Any, prefix: str) -> dict[str, Any]:
        try:
            parameters = inspect.signature(cls.__init__).parameters.values()
        except (TypeError, ValueError):
            return {}
        return {f"{prefix}{p.name}": p.default for p in parameters if p.default is not inspect.Parameter.empty}

    out = defaults_of(algorithm, "algo.model.")
    policy = model.get("policy")
    policy_class = getattr(algorithm, "policy_aliases", {}).get(policy) if isinstance(policy, str) else None
    if policy_class is not None:
        out |= defaults_of(policy_class, "algo.model.policy_kwargs.")
    return out


def _added_at_default(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """Dotted keys the old config lacks that the new one sets to the code's default.

    An option added to the algorithm (and to its config) after a run was made, at the value
    that keeps the old behaviour, does not make that run another run.
    """
    before, after = _flatten(old), _flatten(new)
    defaults = _constructor_defaults(new.get("algo", {}).get("model") if isinstance(new.get("algo"), dict) else None)
    return {
        key
        for key, value in after.items()
        if key not in before and key in defaults and defaults[key] == value
    }


def _removed_null(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """Dotted keys the old config set to null that the new one no longer has.

    An optional setting is read with ``.get()``, so null and absent are the same setting (e.g.
    ``algo.action_noise``, dropped from the on-policy configs that never used it).
    """
    before, after = _flatten(old), _flatten(new)
    return {key for key, value in before.items() if value is None and key not in after}


def completed_config_differences(cfg: DictConfig, run_dir: Path) -> list[str]:
    """How ``cfg`` differs from the config a completed run in ``run_dir`` was made with.

    meta.json's ``config_digest`` decides when it matches; otherwise (another digest, or a run
    made before the digest skipped :data:`UNCHECKED_KEYS`) the folder's ``config.yaml`` is compared
    key by key, and an algorithm option the old config lacks is no difference when the new one
    sets it to the constructor's default (an option added to the code since, at the old behaviour),
    nor is a key the old config set to null and the new one lacks (null and absent read alike).

    :return: ``[]`` when it is the same run; else one ``key: old -> new`` line per difference.
    """
    try:
        recorded = json.loads((run_dir / "meta.json").read_text()).get("config_digest")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded == config_digest(cfg):
        return []
    try:
        old = OmegaConf.load(run_dir / "config.yaml")
        if not OmegaConf.is_dict(old):
            raise ValueError("not a mapping")
        before, after = training_config(old), training_config(cfg)
        added = _added_at_default(before, after) | _removed_null(before, after)
        return [line for line in config_differences(before, after) if line.split(":", 1)[0] not in added]
    except Exception as error:  # noqa: BLE001 - any unreadable config.yaml: say so
        return [f"config.yaml: missing or unreadable ({type(error).__name__}), and config_digest differs"]


def plan_run(cfg: DictConfig) -> str:
    """Check a job as far as can be done without building it, and say what :func:`run` will do.

    Nothing is created. A completed run is skipped when its config is the same (see
    :func:`completed_config_differences`) and refused when it differs, unless ``force``.

    :return: ``excluded`` (not one of the sweep's ``sweep_jobs``), ``dry_run``, ``skip`` or ``train``.
    :raises ValueError: on a bad setting (:func:`check_run_config`), a completed run made with
        another config (the message names the keys and ``force=true``), an unwritable output folder.
    """
    check_run_config(cfg)
    if not in_sweep(cfg):
        return "excluded"
    if cfg.get("dry_run"):
        return "dry_run"
    run_dir = run_dir_of(cfg)
    if read_status(run_dir) == "completed" and not cfg.force:
        differences = completed_config_differences(cfg, run_dir)
        if not differences:
            return "skip"
        shown = "; ".join(differences[:10]) + (f"; and {len(differences) - 10} more" if len(differences) > 10 else "")
        raise ValueError(
            f"{run_dir} holds a completed run made with another config ({shown}); "
            f"force=true replaces it, or another sweep_name or output.root keeps both"
        )
    check_writable(run_dir, create=False)
    if run_dir.is_dir():
        check_unlocked(run_dir)  # another live process writes this run
    return "train"


def _summary(error: BaseException) -> str:
    """``Type: first line of the message``, for one-line progress output."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run(cfg: DictConfig, parent_pid: int | None = None) -> RunResult:
    """Train one (algo, env, seed) as configured and record it in its run folder.

    Skips the run when its ``meta.json`` says ``completed`` (unless ``force``). Bad input
    raises ``ValueError`` before anything is written. SIGINT/SIGTERM record ``interrupted`` and
    re-raise, so a sweep stops; any other exception records ``failed`` (or ``diverged``) and is
    returned in the result, so a sweep goes on with its other jobs.

    Every refusal (:func:`plan_run`, then :func:`build_run`: a value the algorithm's or the env's
    constructor rejects) happens before the run folder is made; a forced re-run with a refused
    config leaves the finished run as it was.

    :param cfg: the composed run config (conf/config.yaml).
    :param parent_pid: the PID of the sweep process that started this job (a joblib worker's
        parent); when it is gone, training stops at the next rollout and the run is recorded as
        ``interrupted``. None for a run that belongs to no sweep process.
    :return: the run folder and its final status: ``completed``, ``failed``, ``diverged``,
        ``skipped`` (completed before, same config), ``excluded`` (not in ``sweep_jobs``) or
        ``dry_run``.
    :raises ValueError: on bad input (unknown env id, budget <= 0, a constructor's rejection, a
        completed run made with another config, ...), before anything is written.
    :raises KeyboardInterrupt: after recording ``interrupted``.
    """
    plan = plan_run(cfg)
    run_dir = run_dir_of(cfg)
    label = f"{cfg.env.name}/{cfg.algo_label}/seed{cfg.seed}"
    if plan == "excluded":
        n_seeds = (cfg.sweep_jobs or {}).get(cfg.env.name, {}).get(str(cfg.algo_label))
        kept = "no seed" if n_seeds is None else f"seeds 0-{int(n_seeds) - 1}"
        print(f"[{label}] not one of this sweep's jobs (sweep_jobs keeps {kept} of {cfg.algo_label} on "
              f"{cfg.env.name}); not run (sweep_jobs=null runs every job)", flush=True)
        return RunResult(run_dir, "excluded")
    if plan == "dry_run":
        status = read_status(run_dir)
        if status == "completed" and not cfg.force and completed_config_differences(cfg, run_dir):
            status = "completed with another config: would be refused without force=true"
        limit = f"{cfg.budget:,} steps" + (f" or {cfg.budget_s:g} train s" if cfg.get("budget_s") else "")
        print(f"[{label}] {cfg.algo.name} on {cfg.env.id}, {limit} -> {run_dir} ({status or 'not started'})",
              flush=True)
        return RunResult(run_dir, "dry_run")
    if plan == "skip":
        print(f"[{label}] completed run found in {run_dir}, skipping (force=true re-runs it)", flush=True)
        return RunResult(run_dir, "skipped")
    torch.set_num_threads(int(cfg.threads))
    # numpy/scipy's BLAS too (RANDPOL's exact critic solvers, SES): parallel runs must not
    # oversubscribe the cores through a second thread pool.
    threadpool_limits(limits=int(cfg.threads))

    train_env, eval_env, model = build_run(cfg)
    try:
        check_writable(run_dir, create=True)
        lock = acquire(run_dir)  # one writer per run folder; refused while another lives
    except BaseException:
        train_env.close()
        eval_env.close()
        raise
    try:
        return _train(cfg, model, train_env, eval_env, run_dir, label, parent_pid)
    finally:
        lock.release()


def _refusal(cfg: DictConfig, caught: BaseException) -> ValueError:
    """A constructor's exception as a ValueError naming the algorithm, the env and the root cause."""
    cause = caught
    while cause.__cause__ is not None:  # Hydra's InstantiationException wraps the constructor's error
        cause = cause.__cause__
    text = " ".join(str(cause).split()) or "(no message)"
    return ValueError(f"{cfg.algo.name} on {cfg.env.id} refused the config: {type(cause).__name__}: {text}")


def build_run(cfg: DictConfig, vec_env: str | None = None) -> tuple[Any, Any, Any]:
    """The training env, the evaluation env and the algorithm of a run, as ``run`` builds them.

    :param cfg: the run config.
    :param vec_env: ``dummy`` or ``subproc`` instead of ``env.vec_env`` (a check needs no processes).
    :return: ``(train_env, eval_env, model)``; the caller closes the envs.
    :raises ValueError: on a config the algorithm or env refuses: ``check_algorithm_config``'s
        checks, or any exception of an env's or the algorithm's constructor (its type and message).
    """
    env_kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True)
    normalize = cfg.env.normalize
    try:
        train_env = make_train_env(
            cfg.env.id,
            n_envs=cfg.env.n_envs,
            seed=cfg.seed,
            env_kwargs=env_kwargs,
            vec_env=vec_env or cfg.env.vec_env,
            normalize=OmegaConf.to_container(normalize) if OmegaConf.is_config(normalize) else normalize,
            gamma=cfg.algo.model.get("gamma"),
        )
    except ValueError:
        raise
    except Exception as caught:  # e.g. an env kwarg gymnasium does not take
        raise _refusal(cfg, caught) from caught
    try:
        eval_env = make_eval_env(cfg.env.id, seed=cfg.seed + 10_000, env_kwargs=env_kwargs, train_env=train_env)
    except BaseException as caught:
        train_env.close()
        if isinstance(caught, Exception) and not isinstance(caught, ValueError):
            raise _refusal(cfg, caught) from caught
        raise
    try:
        model = build_algorithm(cfg.algo, train_env, seed=cfg.seed, device=cfg.device, budget=int(cfg.budget))
    except BaseException as caught:
        train_env.close()
        eval_env.close()
        if isinstance(caught, Exception) and not isinstance(caught, ValueError):
            raise _refusal(cfg, caught) from caught
        raise
    return train_env, eval_env, model


def check_buildable(cfg: DictConfig) -> None:
    """Build a job's envs (in this process) and algorithm and discard them: what :func:`run` would refuse.

    :raises ValueError: see :func:`build_run`.
    """
    train_env, eval_env, _ = build_run(cfg, vec_env="dummy")
    train_env.close()
    eval_env.close()


def _clear(run_dir: Path) -> None:
    """Remove the files of a previous unfinished attempt (or of a forced re-run), temporary ones too,
    and what was made from its model (``final_eval.json``)."""
    for name in (*ATTEMPT_FILES, *DERIVED_FILES):
        (run_dir / name).unlink(missing_ok=True)
    remove_temp_files(run_dir)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and the pre-emption signal back while the block runs; a signal that
    arrived is delivered after it.

    Used for the final meta.json, so that the record of a run is always written whole.
    """
    held = {signal.SIGINT, signal.SIGTERM, preemption_signal()}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _promised_files(train_env: Any) -> tuple[str, ...]:
    from stable_baselines3.common.vec_env import VecNormalize

    return PROMISED_FILES + ((VECNORMALIZE_FILE,) if isinstance(train_env, VecNormalize) else ())


def _write_final_files(model: Any, train_env: Any, recorder: RunRecorder, run_dir: Path) -> None:
    """The files of a completed run, before its meta.json: CSVs, model, statistics, training log.

    :raises OSError: a file could not be written (disk full, read-only folder), or one is missing.
    """
    recorder.flush()
    _save_model(model, train_env, run_dir)
    model.logger.close()  # progress.csv (and TensorBoard/W&B) complete
    missing = [name for name in _promised_files(train_env) if not (run_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"missing after the final save: {', '.join(missing)}")


def _base_meta(cfg: DictConfig, label: str) -> dict[str, Any]:
    return {
        "run_id": f"{cfg.sweep_name}/{label}",
        "sweep": str(cfg.sweep_name),
        "algo_label": str(cfg.algo_label),  # the compared method: a registry name or a variant of one
        "algo_name": cfg.algo.name,  # the registry name (baselines/registry.py)
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
        "slurm": meta.slurm_job(),  # None outside a Slurm job
    }


def _resume_point(cfg: DictConfig, run_dir: Path) -> tuple[Path, dict[str, Any], dict[str, Any]] | None:
    """The checkpoint an unfinished run continues from, with the interrupted attempt's meta.json.

    None for a forced re-run, a completed run or one without a checkpoint of this config.
    """
    if cfg.force or read_status(run_dir) == "completed":
        return None
    found = find_checkpoint(run_dir, config_digest(cfg))
    if found is None:
        return None
    try:
        previous = json.loads((run_dir / "meta.json").read_text())
    except (OSError, ValueError):
        previous = {}
    return found[0], found[1], previous if isinstance(previous, dict) else {}


def _train(
    cfg: DictConfig, model: Any, train_env: Any, eval_env: Any, run_dir: Path, label: str, parent_pid: int | None = None
) -> RunResult:
    resume = _resume_point(cfg, run_dir)
    resumes: list[dict[str, Any]] = []
    if resume is not None:
        folder, state, previous = resume
        try:
            model, envs_restored = load_model(folder, model, train_env, eval_env)
        except Exception as caught:  # noqa: BLE001 - an unusable checkpoint: start again from step 0
            print(f"[{label}] checkpoint {folder} cannot be loaded ({_summary(caught)}); starting from step 0",
                  flush=True)
            resume = None
    if resume is None:
        _clear(run_dir)
        remove_checkpoints(run_dir)
    else:
        remove_temp_files(run_dir)
        interrupted_at = previous.get("timesteps")
        resumes = [*previous.get("resumes", []), {
            "time": _now(),
            "from_timesteps": int(state["timesteps"]),
            "interrupted_at_timesteps": interrupted_at,
            "lost_timesteps": max(int(interrupted_at) - int(state["timesteps"]), 0)
            if isinstance(interrupted_at, int) else None,
            "previous_status": previous.get("status"),
            "envs_restored": envs_restored,  # False: the episodes in flight were restarted
        }]
    # The algorithm's own training log (losses, approx KL, entropy, explained variance, learning
    # rate, ...) as SB3's logger writes it: progress.csv in the run folder, one row per dump.
    # TensorBoard and W&B too when the config's logger node asks for them (sweeps/loggers.py).
    from sweeps.loggers import configure_run_logger

    configure_run_logger(cfg, model, run_dir)
    if resume is not None:
        restore_progress(resume[0], model)
    config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
    info = _base_meta(cfg, label) | {
        # of the config without UNCHECKED_KEYS; config.yaml holds the whole config
        "config_digest": config_digest(cfg),
        "config_digest_excludes": list(UNCHECKED_KEYS),
        "device": str(model.device),  # what training really uses ("auto" resolved)
        "parameters": meta.parameter_counts(model),
    }
    if resumes:  # the run began with its first attempt; each resume is listed
        info["start_time"] = resume[2].get("start_time", info["start_time"])  # type: ignore[index]
        info["resumes"] = resumes
    try:
        atomic_write_text(run_dir / "config.yaml", config_yaml)
        atomic_write_json(run_dir / "meta.json", info)
    except OSError as caught:
        error = f"could not write the run folder {run_dir}: {_summary(caught)}"
        print(f"[{label}] failed: {error}", flush=True)
        model.logger.close()
        train_env.close()
        eval_env.close()
        return RunResult(run_dir, "failed", error)
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
        parent_pid=parent_pid,
        checkpoint_freq=OmegaConf.select(cfg, "checkpoint.freq"),
        on_checkpoint=lambda: save_checkpoint(run_dir, model, train_env, recorder, info["config_digest"], eval_env),
    )
    if resume is not None:
        recorder.load_state_dict(resume[1]["recorder"])
        recorder.flush()  # metrics.csv and episodes.csv as of the checkpoint, at once
    evaluations = (
        "" if cfg.eval.freq <= cfg.budget or cfg.get("budget_s") is not None
        else f"; eval.freq={cfg.eval.freq:,} > budget: one evaluation, at the end"
    )
    print(
        f"[{label}] training {cfg.algo.name} on {cfg.env.id} for {cfg.budget:,} steps "
        f"({train_env.num_envs} env(s), {info['parameters']['trainable']:,} trainable parameters, "
        f"device {info['device']}{evaluations}) -> {run_dir}",
        flush=True,
    )
    started = time.perf_counter()
    status, error, interrupt, summary = "completed", None, None, ""
    recorded = False

    def record() -> None:
        """meta.json last, whole: a signal that arrives meanwhile is delivered once it is written."""
        nonlocal status, error, summary, recorded
        with signals_deferred():
            remove_temp_files(run_dir)
            info.update(
                status=status,
                error=error,
                end_time=_now(),
                timesteps=int(model.num_timesteps),
                duration_s=time.perf_counter() - started,
                train_time_s=recorder.metrics[-1].train_time_s if recorder.metrics else None,
                evaluations=len(recorder.metrics),
                **_stop_info(recorder, status, int(model.num_timesteps), int(cfg.budget)),
                **_load_info(recorder.load_1m),
                checkpoints=_checkpoint_info(recorder),
            )
            # Sparse algorithms (RLx2) report measured sparsity, compression and FLOPs after training.
            if callable(getattr(model, "sparsity_report", None)):
                try:
                    info["sparsity"] = model.sparsity_report()
                except Exception as caught:  # noqa: BLE001 - the run's record matters more
                    info["sparsity"] = {"error": _summary(caught)}
            try:
                atomic_write_json(run_dir / "meta.json", info)
                if status == "completed":
                    remove_checkpoints(run_dir)  # a completed run is never resumed
            except OSError as caught:
                note = (f"could not record the outcome ({status}) in {run_dir / 'meta.json'}: "
                        f"{_summary(caught)}; it still says 'running', so a re-run restarts the run")
                status, error, summary = "failed", note if error is None else f"{note}\n{error}", note
                remove_temp_files(run_dir)
            recorded = True

    try:
        with sigterm_as_interrupt(recorder):
            try:
                try:
                    if resume is None:
                        model.learn(total_timesteps=int(cfg.budget), callback=recorder)
                    else:  # the rest of the budget; SB3 adds the steps already made
                        model.learn(total_timesteps=max(int(cfg.budget) - int(model.num_timesteps), 0),
                                    callback=recorder, reset_num_timesteps=False)
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
            # The final files, each through a temporary file and a rename; SIGINT and SIGTERM
            # still interrupt (recorded as such), and no temporary file is left behind.
            try:
                if status == "completed":
                    _write_final_files(model, train_env, recorder, run_dir)
                else:
                    recorder.flush()
            except KeyboardInterrupt as caught:
                if status == "completed":
                    status, interrupt = "interrupted", caught
                    error = f"{str(caught) or 'KeyboardInterrupt (SIGINT)'}, while the final files were written"
                    summary = error
            except Exception as caught:  # noqa: BLE001 - disk full, read-only folder, ...
                note = f"writing the final files failed: {_summary(caught)}"
                if status == "completed":
                    status, error, summary = "failed", f"{note}\n{traceback.format_exc()}", note
                else:
                    error = f"{error}\n({note})"
            record()
    except KeyboardInterrupt as caught:
        interrupt = interrupt or caught
        if not recorded:  # a signal between two steps above: the run was not completed
            if status == "completed":
                status = "interrupted"
                error = summary = f"{str(caught) or 'KeyboardInterrupt (SIGINT)'}, while the final files were written"
            record()
        # else: delivered after meta.json was written; the record stands and the sweep stops
    finally:
        try:
            model.logger.close()
        except Exception:  # noqa: BLE001, S110 - already closed or unwritable: nothing more to keep
            pass
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


def _checkpoint_info(recorder: RunRecorder) -> dict[str, Any]:
    """How many checkpoints the run wrote (all attempts) and what they cost, in seconds."""
    times = recorder.checkpoint_times
    return {
        "freq": recorder.checkpoint_freq,
        "count": len(times),
        "total_s": round(sum(times), 3),
        "max_s": round(max(times), 3) if times else None,
    }


def _load_info(samples: list[float]) -> dict[str, Any]:
    """The 1-minute load average at each evaluation, its maximum and mean (None without samples)."""
    finite = [value for value in samples if math.isfinite(value)]
    return {
        "load_1m": [round(value, 2) for value in samples],
        "load_1m_max": max(finite) if finite else None,
        "load_1m_mean": sum(finite) / len(finite) if finite else None,
    }


def _save_model(model: Any, train_env: Any, run_dir: Path) -> None:
    """model.zip (and vecnormalize.pkl), each through a temporary file and a rename.

    A temporary file is removed when the save fails or is interrupted.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    saves = [(".model.tmp.zip", "model.zip", model.save)]
    if isinstance(train_env, VecNormalize):
        saves.append((".vecnormalize.tmp.pkl", "vecnormalize.pkl", train_env.save))
    for tmp_name, name, save in saves:
        tmp = run_dir / tmp_name
        try:
            save(tmp)
            tmp.replace(run_dir / name)
        finally:
            tmp.unlink(missing_ok=True)
