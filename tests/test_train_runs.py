"""Every stock algorithm (and RAT) trains on every task for a tiny budget and leaves a complete run folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sweeps.run import run
from sweeps.rundir import EPISODES_COLUMNS, METRICS_COLUMNS
from tests.conftest import TINY, make_config

ENVS = ("pendulum", "lunarlander", "bipedalwalker", "hopper", "humanoid")
META_KEYS = {
    "run_id", "algo_label", "algo_name", "env", "env_id", "seed", "status", "error", "start_time", "end_time",
    "config_digest", "versions", "git_commit", "host", "parameters",
}
VERSION_KEYS = {"python", "torch", "stable-baselines3", "sb3-contrib", "gymnasium", "mujoco", "numpy", "randbench"}


@pytest.mark.slow
@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("algo", sorted(TINY))
def test_tiny_run_writes_run_folder(algo, env, runs_root):
    budget, eval_freq = 1500, 500
    cfg = make_config(
        f"algo={algo}", f"env={env}", f"budget={budget}", f"eval.freq={eval_freq}", "eval.n_episodes=1",
        f"output.root={runs_root}", "sweep_name=tiny", "progress=false", *TINY[algo],
    )
    result = run(cfg)
    run_dir = runs_root / "tiny" / env / algo / "seed0"
    assert result.status == "completed" and result.run_dir == run_dir

    meta = json.loads((run_dir / "meta.json").read_text())
    assert META_KEYS <= set(meta)
    assert (meta["status"], meta["algo_label"], meta["env"], meta["seed"]) == ("completed", algo, env, 0)
    assert VERSION_KEYS <= set(meta["versions"]) and meta["versions"]["randbench"] is not None
    assert meta["host"]["torch_threads"] == 1
    assert 0 < meta["parameters"]["trainable"] <= meta["parameters"]["total"]
    assert meta["timesteps"] >= budget

    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert tuple(metrics.columns) == METRICS_COLUMNS
    assert len(metrics) >= 1 and metrics["timesteps"].iloc[-1] == meta["timesteps"]
    assert metrics["timesteps"].is_monotonic_increasing
    assert (metrics["train_time_s"] <= metrics["wall_time_s"] + 1e-9).all()
    assert np.isfinite(metrics["eval_return_mean"]).all() and (metrics["eval_episodes"] == 1).all()

    episodes = pd.read_csv(run_dir / "episodes.csv")
    assert tuple(episodes.columns) == EPISODES_COLUMNS
    # (an empty episodes.csv, e.g. BipedalWalker's 1600-step episodes, has only its header)
    assert (episodes["length"] > 0).all() and np.isfinite(episodes["return"].astype(float)).all()
    if env == "pendulum":  # fixed 200-step episodes: the tiny budget holds several
        assert len(episodes) >= budget // 200 - cfg.env.n_envs and (episodes["length"] == 200).all()
    assert (episodes["timesteps"].astype(int) <= meta["timesteps"]).all()

    assert (run_dir / "progress.csv").is_file()  # the algorithm's own training log
    assert (run_dir / "model.zip").stat().st_size > 0
    assert (run_dir / "config.yaml").read_text().count(f"name: {algo}") == 1
    assert (run_dir / "vecnormalize.pkl").exists() == bool(cfg.env.normalize)


def test_run_limits_blas_threads_to_the_torch_threads(runs_root):
    # Parallel runs each get `threads` cores: numpy/scipy's BLAS pool (RANDPOL's exact critic
    # solvers) must not start one thread per core on top of torch's.
    from threadpoolctl import threadpool_info

    cfg = make_config(
        "algo=ppo", "env=pendulum", "budget=256", "eval.freq=256", "eval.n_episodes=1", "threads=1",
        f"output.root={runs_root}", "sweep_name=threads", "progress=false", *TINY["ppo"],
    )
    assert run(cfg).status == "completed"
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
