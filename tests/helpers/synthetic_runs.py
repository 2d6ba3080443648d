"""Synthetic run folders that follow the run folder contract of docs/design.md (as `randbench train`
writes them: csv rows ending in a newline, meta.json keys of sweeps/run.py, a resolved config.yaml).

Used by the analysis tests to check metrics against hand-computed values without training.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from sweeps.rundir import EPISODES_COLUMNS, METRICS_COLUMNS

ENVS = {
    "pendulum": {
        "id": "Pendulum-v1",
        "reward_threshold": -200.0,
        "score_bounds": {"min": -1400.0, "max": -150.0},
    },
    "hopper": {"id": "Hopper-v5", "reward_threshold": 3000.0, "score_bounds": {"min": 0.0, "max": 3500.0}},
}


def _csv(columns: Sequence[str], rows: Sequence[Sequence[float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def write_run(
    root: Path,
    env: str,
    algo: str,
    seed: int,
    timesteps: Sequence[float],
    returns: Sequence[float],
    train_time_s: Sequence[float] | None = None,
    budget: int | None = None,
    status: str = "completed",
    error: str | None = None,
    params: tuple[int, int] = (1000, 1000),
    sweep: str = "t",
    eval_time_s: float = 0.1,
    progress: bool = True,
    budget_s: float | None = None,
) -> Path:
    """Write ``root/<sweep>/<env>/<algo>/seed<seed>/`` with the four run files (and progress.csv).

    :param timesteps: env steps of the evaluation points
    :param returns: eval_return_mean at those points
    :param train_time_s: train seconds at those points (default: 1 ms per env step)
    :param budget: the run's budget (default: the last timesteps value)
    :param eval_time_s: seconds each evaluation adds to wall_time_s
    :param budget_s: the run's wall-clock budget (train seconds; meta.json), None for none
    :param progress: also write progress.csv, an on-policy training log as SB3's CSV logger
        writes it (one dump per evaluation point; deterministic, no random draws)
    """
    folder = Path(root) / sweep / env / algo / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    steps = np.asarray(timesteps, dtype=float)
    train = steps * 1e-3 if train_time_s is None else np.asarray(train_time_s, dtype=float)
    budget = int(steps[-1]) if budget is None else budget
    rows = []
    prev_steps = prev_time = 0.0
    for i, (t, r, tt) in enumerate(zip(steps, returns, train)):
        fps = (t - prev_steps) / (tt - prev_time) if tt > prev_time else float("nan")
        prev_steps, prev_time = t, tt
        wall = tt + i * eval_time_s
        rows.append([int(t), tt, wall, wall * 0.9, fps, r, 5.0, r - 10, r + 10, 2, 200.0, r - 20])
    (folder / "metrics.csv").write_text(_csv(METRICS_COLUMNS, rows))
    episodes = [[int(t), tt, r - 20, 200] for t, tt, r in zip(steps, train, returns)]
    (folder / "episodes.csv").write_text(_csv(EPISODES_COLUMNS, episodes))
    if progress:
        fraction = np.linspace(0, 1, len(steps))
        log = [
            [int(t), 0.02 * (1 - 0.8 * f), 1.4 * (1 - 0.5 * f), 0.9 * f]
            for t, f in zip(steps, fraction)
        ]
        columns = ["time/total_timesteps", "train/approx_kl", "train/entropy_loss", "train/explained_variance"]
        (folder / "progress.csv").write_text(_csv(columns, log))
    env_cfg = {
        "name": env,
        "kwargs": {},
        "n_envs": 1,
        "vec_env": "dummy",
        "normalize": False,
        "budget": budget,
        "eval_freq": int(steps[0]),
        **ENVS.get(env, ENVS["pendulum"]),
    }
    config = {
        "algo": {
            "name": algo,
            "family": "on_policy",
            "model": {"_target_": f"x.{algo}"},
            "action_noise": None,
        },
        "env": env_cfg,
        "seed": seed,
        "budget": budget,
        "eval": {"freq": int(steps[0]), "n_episodes": 2, "deterministic": True},
        "threads": 1,
        "device": "cpu",
        "sweep_name": sweep,
        "output": {"root": str(root)},
        "force": False,
        "progress": True,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    meta = {
        "run_id": f"{sweep}/{env}/{algo}/seed{seed}",
        "sweep": sweep,
        "algo_label": algo,
        "algo_name": algo,
        "env": env,
        "env_id": env_cfg["id"],
        "seed": seed,
        "budget": budget,
        "budget_s": budget_s,
        "status": status,
        "error": error,
        "start_time": "2025-01-01T00:00:00+00:00",
        "end_time": "2025-01-01T00:10:00+00:00",
        "config_digest": "0" * 64,
        "versions": {
            "python": "3.11.2",
            "torch": "2.13.0",
            "stable-baselines3": "2.9.0",
            "sb3-contrib": "2.9.0",
            "gymnasium": "1.4.0",
            "mujoco": "3.3.0",
            "numpy": "2.4.6",
            "randbench": "0.1.0",
        },
        "git_commit": "abc1234",
        "host": {
            "hostname": "testhost",
            "cpu_model": "Test CPU @ 3.0GHz",
            "cpu_cores": 2,
            "torch_threads": 1,
            "platform": "Linux",
        },
        "parameters": {"total": params[0], "trainable": params[1]},
        "timesteps": int(steps[-1]),
        "duration_s": float(train[-1]) + 1.0,
        "train_time_s": float(train[-1]),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def learning_curve(start: float, end: float, n: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A saturating curve from ``start`` to about ``end`` over ``n`` points, with noise."""
    progress = 1 - np.exp(-4 * np.linspace(0, 1, n))
    return start + (end - start) * progress + rng.normal(0, noise, n)


def write_sweep(root: Path, seeds: Sequence[int] = (0, 1, 2), with_failures: bool = True) -> Path:
    """A small sweep on pendulum and hopper with ppo, a2c and randpol (randpol: fewer trainable
    parameters, higher FPS, slower in timesteps), plus a failed and a diverged run.

    :return: the sweep folder ``root/t``
    """
    rng = np.random.default_rng(0)
    # algo -> (final return fraction of the score range, seconds per env step, trainable, total)
    algos = {
        "ppo": (0.9, 2e-3, 10_000, 10_000),
        "a2c": (0.6, 1.5e-3, 10_000, 10_000),
        "randpol": (0.85, 0.6e-3, 3_000, 700_000),
    }
    for env, (n, step) in {"pendulum": (20, 500), "hopper": (25, 1000)}.items():
        bounds = ENVS[env]["score_bounds"]
        lo, hi = bounds["min"], bounds["max"]
        for algo, (frac, sec, trainable, total) in algos.items():
            for seed in seeds:
                steps = np.arange(1, n + 1) * step
                # randpol needs more timesteps: its curve rises later
                scale = 1.3 if algo == "randpol" else 1.0
                curve = learning_curve(
                    lo + 0.05 * (hi - lo), lo + frac * (hi - lo), int(n * scale), rng, 0.02 * (hi - lo)
                )[:n]
                train = steps * sec * rng.uniform(0.95, 1.05)
                write_run(
                    root,
                    env,
                    algo,
                    seed,
                    steps,
                    curve,
                    train,
                    budget=int(steps[-1]),
                    params=(total, trainable),
                )
    if with_failures:
        write_run(
            root,
            "pendulum",
            "ppo",
            9,
            [500, 1000],
            [-1300.0, -1250.0],
            status="failed",
            budget=10_000,
            error='Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: CUDA error: boom',
        )
        write_run(
            root,
            "hopper",
            "a2c",
            9,
            [1000],
            [12.0],
            status="diverged",
            budget=25_000,
            error="non-finite train/value_loss = nan at 2048 steps",
        )
    return Path(root) / "t"
