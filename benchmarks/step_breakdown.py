"""Where a training step's time goes: simulator, SB3's vector wrappers, the rest of the rollout, train().

``python -m benchmarks.step_breakdown [--envs hopper lunarlander] [--algos randpol ppo]
[--steps N] [--output results/benchmarks/step_breakdown.csv]``

For every (env, algorithm) the tuned config's ``learn(steps)`` runs under ``cProfile`` twice, on
the harness's lean wrappers (envs/vec.py) and on SB3's stock ``DummyVecEnv``/``VecNormalize``.
Each row gives microseconds per env step of:

- ``total``: ``learn()`` (wall-clock, profiled);
- ``train``: the update (``train()``), and ``train_share`` its fraction of ``total``;
- ``env``: ``Monitor.step`` and everything under it (gymnasium's wrappers and the simulator);
- ``vec_wrappers``: ``VecEnv.step`` minus ``env`` (DummyVecEnv, VecNormalize: copies, running
  statistics, normalization);
- ``rollout_other``: ``collect_rollouts`` minus ``VecEnv.step`` (the policy's forward pass,
  buffer, callbacks, the critic's pass over the rollout).

The profiler adds a cost to every Python call, so absolute numbers are above an unprofiled run
(``benchmarks/throughput.py`` measures that); the split is what this is for. Timesteps count
env steps summed over the ``n_envs`` copies.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import cProfile
import pstats
import time
from pathlib import Path

import pandas as pd
import torch as th

from baselines.build import build_algorithm
from benchmarks.throughput import DEFAULT_STEPS, check_env_names, compose_config, make_env


def _cumulative(stats: pstats.Stats, file_suffix: str, name: str) -> float:
    """Cumulative seconds of the functions called ``name`` defined in a file ending in ``file_suffix``."""
    return sum(
        row[3] for (filename, _, funcname), row in stats.stats.items()  # type: ignore[attr-defined]
        if funcname == name and filename.endswith(file_suffix)
    )


def breakdown(env: str, algo: str, steps: int, lean: bool, seed: int = 0) -> dict[str, object]:
    """One profiled ``learn(steps)`` of the tuned ``algo`` on ``env``: microseconds per env step."""
    cfg = compose_config(algo, env)
    model = build_algorithm(cfg.algo, make_env(cfg, seed, lean), seed=seed, device="cpu", verbose=0)
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    model.learn(steps)
    profile.disable()
    total = time.perf_counter() - start
    model.get_env().close()
    stats = pstats.Stats(profile)
    n = model.num_timesteps
    train = sum(
        _cumulative(stats, suffix, "train")
        for suffix in ("randpol/randpol.py", "ppo/ppo.py", "a2c/a2c.py")
    )
    rollout = _cumulative(stats, ".py", "collect_rollouts")
    vec_step = _cumulative(stats, "vec_env/base_vec_env.py", "step")
    env_step = _cumulative(stats, "common/monitor.py", "step")
    per_step = {
        "total": total,
        "train": train,
        "env": env_step,
        "vec_wrappers": vec_step - env_step,
        "rollout_other": rollout - vec_step,
    }
    return {
        "env": env,
        "algo": algo,
        "stack": "lean" if lean else "sb3",
        "n_envs": int(cfg.env.n_envs),
        "timesteps": n,
        **{f"{k}_us": 1e6 * v / n for k, v in per_step.items()},
        "train_share": train / total if total else float("nan"),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=["hopper", "lunarlander"], help="env config names (conf/env/)")
    parser.add_argument("--algos", nargs="+", default=["randpol", "ppo"], choices=["randpol", "ppo", "a2c"])
    parser.add_argument("--steps", type=int, default=None, help="env steps per profile (default: per env)")
    parser.add_argument("--output", type=Path, default=Path("results/benchmarks/step_breakdown.csv"))
    args = parser.parse_args(argv)
    check_env_names(parser, args.envs)
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    th.set_num_threads(1)
    rows = []
    for env in args.envs:
        for algo in args.algos:
            for lean in (False, True):
                row = breakdown(env, algo, args.steps or DEFAULT_STEPS.get(env, 16_384), lean)
                rows.append(row)
                print(
                    f"{env:12s} {algo:8s} {row['stack']:5s} total {row['total_us']:6.1f} us/step: "
                    f"env {row['env_us']:5.1f}, vec wrappers {row['vec_wrappers_us']:5.1f}, "
                    f"rollout other {row['rollout_other_us']:5.1f}, train {row['train_us']:5.1f} "
                    f"({100 * row['train_share']:.0f}%)",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output, index=False, float_format="%.4g")
    print(f"written: {args.output}")
    return table


if __name__ == "__main__":
    main()
