"""Training throughput: RANDPOL against SB3 PPO and the raw env step rate, side by side.

``python -m benchmarks.throughput [--envs lunarlander hopper go1] [--steps N] [--repeats 3]
[--defaults] [--output results/benchmarks/throughput.csv]``

For every env, each repetition measures in turn (interleaved, so that a change of machine load
hits every condition alike):

- ``raw``: ``VecEnv.step`` with random actions under the vectorization of the tuned configs
  (same ``n_envs``, VecEnv class and ``VecNormalize``), the upper bound of any algorithm;
  envs and algorithms are built by the harness's own ``envs.make.make_train_env`` and
  ``baselines.build.build_algorithm`` (``hydra.utils.instantiate`` of ``algo.model``);
- ``ppo_tuned`` / ``randpol_tuned``: ``learn()`` of each algorithm with its tuned config
  (``conf/tuned/<algo>_<env>.yaml`` composed with ``conf/env/<env>.yaml`` by Hydra);
- ``randpol_matched``: RANDPOL with PPO's tuned ``n_envs`` and ``n_steps``, when its tuned
  config differs from them (otherwise ``randpol_tuned`` already is that comparison);
- ``raw_sb3``, ``ppo_sb3``, ``randpol_sb3``: ``raw``, ``ppo_tuned`` and ``randpol_tuned`` on SB3's
  stock ``DummyVecEnv`` and ``VecNormalize`` instead of the harness's lean subclasses
  (envs/vec.py: the same results without SB3's per-step copies), i.e. before that change;
- ``bare``: the simulator alone, ``gymnasium.make_vec`` (sync, the tuned ``n_envs``) with random
  actions and none of SB3's per-step wrappers (DummyVecEnv, Monitor, VecNormalize): the limit
  of any SB3 algorithm, ``raw`` / ``bare`` being what those wrappers cost;
- with ``--defaults``, the library defaults: ``PPO("MlpPolicy", env_id)`` against
  ``RANDPOL("RandomFeaturePolicy", env_id)`` (``ppo_defaults``, ``randpol_defaults``), each
  building its own env as SB3 does (one DummyVecEnv copy with Monitor, no normalization), with
  ``raw_defaults`` (that env stepped with random actions) and ``bare_defaults`` (one env).

Each row's ratios are against the PPO and the raw and bare env rates of its own group (tuned or
library defaults).

Only ``learn()`` is timed (construction excluded), with one torch thread. FPS is env steps per
wall-clock second; ``cpu_fps`` per CPU second of this process, which a busy machine disturbs
less. Ratios are medians over repetitions of the per-repetition ratios. The table is printed
and written as CSV (one row per env and condition); every single measurement goes to
``<output stem>_runs.csv``.
"""

from __future__ import annotations

import os

# One BLAS thread for numpy/scipy too; must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch as th
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv

from algos.randpol import RANDPOL
from baselines.build import build_algorithm
from envs.make import make_train_env

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
# Enough env steps for at least two rollouts of PPO's tuned config on each task.
DEFAULT_STEPS = {
    "lunarlander": 49_152,
    "hopper": 8_192,
    "bipedalwalker": 196_608,
    "humanoid": 8_192,
    "pendulum": 8_192,
    "go1": 16_384,
}


def check_env_names(parser: argparse.ArgumentParser, envs: list[str]) -> None:
    """Exit with a usage error (status 2) naming any of ``envs`` that is not a config in conf/env/."""
    known = sorted(p.stem for p in (CONF_DIR / "env").glob("*.yaml"))
    unknown = [env for env in envs if env not in known]
    if unknown:
        parser.error(f"unknown env(s) {unknown}; accepted: {known}")


def compose_config(algo: str, env: str) -> DictConfig:
    """The run config the harness would use for ``algo=<algo> env=<env>`` (tuned file included)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"algo={algo}", f"env={env}"])


def make_env(cfg: DictConfig, seed: int, lean: bool = True) -> VecEnv:
    """The training VecEnv of a run config, built as the harness builds it (``envs.make``);
    ``lean=False``: on SB3's stock DummyVecEnv and VecNormalize."""
    normalize = cfg.env.normalize
    return make_train_env(
        cfg.env.id,
        n_envs=cfg.env.n_envs,
        seed=seed,
        env_kwargs=OmegaConf.to_container(cfg.env.kwargs, resolve=True),  # type: ignore[arg-type]
        vec_env=cfg.env.vec_env,
        normalize=OmegaConf.to_container(normalize) if OmegaConf.is_config(normalize) else normalize,
        gamma=cfg.algo.model.get("gamma"),
        lean=lean,
    )


def vectorization(cfg: DictConfig) -> tuple[int, str, str]:
    """What the raw step rate depends on: (n_envs, VecEnv class, normalization)."""
    normalize = OmegaConf.to_container(cfg.env.normalize) if cfg.env.normalize else False
    return int(cfg.env.n_envs), str(cfg.env.vec_env), str(normalize)


def _step_randomly(venv, actions: list, steps: int) -> tuple[int, float, float]:
    """Step ``venv`` with the pre-drawn ``actions`` (cycled) for at least ``steps`` env steps, then
    close it: (steps, wall s, CPU s). The sampling is drawn beforehand: it is no part of the cost."""
    n_calls = -(-steps // venv.num_envs)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n_calls):
        venv.step(actions[i % len(actions)])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    venv.close()
    return n_calls * venv.num_envs, wall, cpu


def time_raw(cfg: DictConfig, steps: int, seed: int, lean: bool = True) -> tuple[int, float, float]:
    """Random-action ``VecEnv.step`` for ``steps`` env steps: (steps, wall s, CPU s)."""
    venv = make_env(cfg, seed, lean)
    venv.action_space.seed(seed)
    venv.reset()
    actions = [np.stack([venv.action_space.sample() for _ in range(venv.num_envs)]) for _ in range(64)]
    return _step_randomly(venv, actions, steps)


def time_bare(cfg: DictConfig, steps: int, seed: int) -> tuple[int, float, float]:
    """Random actions on ``gymnasium.make_vec`` (sync) without SB3's wrappers: (steps, wall s, CPU s).
    The vector env resets finished copies itself (autoreset)."""
    kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True) if cfg.env.kwargs else {}
    venv = gym.make_vec(cfg.env.id, num_envs=int(cfg.env.n_envs), vectorization_mode="sync", **kwargs)
    venv.action_space.seed(seed)
    venv.reset(seed=seed)
    return _step_randomly(venv, [venv.action_space.sample() for _ in range(64)], steps)


def _defaults_cfg(cfg: DictConfig) -> DictConfig:
    """The config of a library-defaults case: the env id, one env, no normalization."""
    out = cfg.copy()
    out.env.n_envs = 1
    out.env.normalize = False
    out.env.vec_env = "dummy"
    return out


def time_raw_defaults(cfg: DictConfig, steps: int, seed: int) -> tuple[int, float, float]:
    """Random actions on the env SB3 builds for an env id (one DummyVecEnv copy with Monitor)."""
    return time_raw(_defaults_cfg(cfg), steps, seed)


def time_bare_defaults(cfg: DictConfig, steps: int, seed: int) -> tuple[int, float, float]:
    """Random actions on one bare env (``gymnasium.make_vec``, one copy)."""
    return time_bare(_defaults_cfg(cfg), steps, seed)


def _timed_learn(model, steps: int) -> tuple[int, float, float]:
    """``model.learn(steps)``, then close its env: (timesteps, wall s, CPU s)."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(steps)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model.get_env().close()
    return int(model.num_timesteps), wall, cpu


def _time_default_learn(algo_class: type, policy: str, cfg: DictConfig, steps: int, seed: int) -> tuple[int, float, float]:
    return _timed_learn(algo_class(policy, cfg.env.id, seed=seed, device="cpu", verbose=0), steps)


def time_ppo_defaults(cfg: DictConfig, steps: int, seed: int) -> tuple[int, float, float]:
    """``PPO("MlpPolicy", env_id).learn(steps)``, construction excluded."""
    return _time_default_learn(PPO, "MlpPolicy", cfg, steps, seed)


def time_randpol_defaults(cfg: DictConfig, steps: int, seed: int) -> tuple[int, float, float]:
    """``RANDPOL("RandomFeaturePolicy", env_id).learn(steps)``, construction excluded."""
    return _time_default_learn(RANDPOL, "RandomFeaturePolicy", cfg, steps, seed)


def time_learn(cfg: DictConfig, steps: int, seed: int, lean: bool = True) -> tuple[int, float, float]:
    """``learn(steps)`` of the config's algorithm, construction excluded: (timesteps, wall s, CPU s)."""
    venv = make_env(cfg, seed, lean)
    # hydra.utils.instantiate of cfg.algo.model, after the harness's config checks.
    return _timed_learn(build_algorithm(cfg.algo, venv, seed=seed, device="cpu", verbose=0), steps)


def time_raw_sb3(cfg: DictConfig, steps: int, seed: int) -> tuple[int, float, float]:
    """:func:`time_raw` on SB3's stock DummyVecEnv and VecNormalize."""
    return time_raw(cfg, steps, seed, lean=False)


def time_learn_sb3(cfg: DictConfig, steps: int, seed: int) -> tuple[int, float, float]:
    """:func:`time_learn` on SB3's stock DummyVecEnv and VecNormalize."""
    return time_learn(cfg, steps, seed, lean=False)


Timer = Callable[[DictConfig, int, int], tuple[int, float, float]]
# condition -> (group, role): ratios are taken within a group, against its "ppo", "raw" and "bare".
ROLES = {
    "raw": ("tuned", "raw"),
    "bare": ("tuned", "bare"),
    "ppo_tuned": ("tuned", "ppo"),
    "randpol_tuned": ("tuned", None),
    "raw_randpol": ("tuned", None),
    "raw_sb3": ("tuned", None),
    "ppo_sb3": ("tuned", None),
    "randpol_sb3": ("tuned", None),
    "randpol_matched": ("tuned", None),
    "raw_defaults": ("defaults", "raw"),
    "bare_defaults": ("defaults", "bare"),
    "ppo_defaults": ("defaults", "ppo"),
    "randpol_defaults": ("defaults", None),
}


def conditions(env: str, defaults: bool = False) -> dict[str, tuple[DictConfig, Timer]]:
    """The measured conditions of one env: name -> (config, timing function)."""
    ppo, randpol = compose_config("ppo", env), compose_config("randpol", env)
    out: dict[str, tuple[DictConfig, Timer]] = {
        "raw": (ppo, time_raw),
        "bare": (ppo, time_bare),
        "ppo_tuned": (ppo, time_learn),
        "randpol_tuned": (randpol, time_learn),
        "raw_sb3": (ppo, time_raw_sb3),
        "ppo_sb3": (ppo, time_learn_sb3),
        "randpol_sb3": (randpol, time_learn_sb3),
    }
    if vectorization(randpol) != vectorization(ppo):
        out["raw_randpol"] = (randpol, time_raw)
    matched = randpol.copy()
    matched.env.n_envs = ppo.env.n_envs
    matched.algo.model.n_steps = ppo.algo.model.get("n_steps", 2048)
    if (matched.env.n_envs, matched.algo.model.n_steps) != (randpol.env.n_envs, randpol.algo.model.n_steps):
        out["randpol_matched"] = (matched, time_learn)
    if defaults:
        out["raw_defaults"] = (ppo, time_raw_defaults)
        out["bare_defaults"] = (ppo, time_bare_defaults)
        out["ppo_defaults"] = (ppo, time_ppo_defaults)
        out["randpol_defaults"] = (randpol, time_randpol_defaults)
    return out


def _described(cfg: DictConfig, condition: str, timer: Timer) -> dict[str, object]:
    """What a condition ran: algorithm, n_envs, rollout length and normalization."""
    defaults = ROLES[condition][0] == "defaults"
    env_only = timer in (time_raw, time_raw_sb3, time_bare, time_raw_defaults, time_bare_defaults)
    if defaults:
        cfg = _defaults_cfg(cfg)
    return {
        "algo": "none" if env_only else str(cfg.algo.name),
        "n_envs": int(cfg.env.n_envs),
        # library defaults: both algorithms' n_steps default is 2048
        "n_steps": None if env_only else 2048 if defaults else int(cfg.algo.model.get("n_steps", 2048)),
        "normalize": "False" if timer in (time_bare, time_bare_defaults) else vectorization(cfg)[2],
    }


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (env, condition): median FPS and median per-repetition ratios against the PPO,
    raw env and bare simulator conditions of the row's group (tuned or library defaults)."""
    rows = []
    for env, env_runs in runs.groupby("env", sort=False):
        fps = env_runs.pivot(index="repeat", columns="condition", values="fps")
        cpu_fps = env_runs.pivot(index="repeat", columns="condition", values="cpu_fps")

        def ratio(table: pd.DataFrame, condition: str, reference: str | None) -> float:
            if reference is None or reference not in table:
                return float("nan")
            return float((table[condition] / table[reference]).median())

        for condition, group in env_runs.groupby("condition", sort=False):
            family = ROLES[condition][0]
            refs = {role: name for name, (g, role) in ROLES.items() if g == family and role is not None}
            raw = "raw_randpol" if condition == "randpol_tuned" and "raw_randpol" in fps else refs["raw"]
            first = group.iloc[0]
            rows.append(
                {
                    "env": env,
                    "condition": condition,
                    "algo": first["algo"],
                    "n_envs": first["n_envs"],
                    "n_steps": first["n_steps"],
                    "normalize": first["normalize"],
                    "timesteps": int(group["timesteps"].median()),
                    "fps": float(group["fps"].median()),
                    "fps_min": float(group["fps"].min()),
                    "fps_max": float(group["fps"].max()),
                    "cpu_fps": float(group["cpu_fps"].median()),
                    "ratio_vs_ppo": ratio(fps, condition, refs["ppo"]),
                    "ratio_vs_raw": ratio(fps, condition, raw),
                    "ratio_vs_bare": ratio(fps, condition, refs["bare"]),
                    "cpu_ratio_vs_ppo": ratio(cpu_fps, condition, refs["ppo"]),
                    "cpu_ratio_vs_raw": ratio(cpu_fps, condition, raw),
                    "cpu_ratio_vs_bare": ratio(cpu_fps, condition, refs["bare"]),
                }
            )
    return pd.DataFrame(rows)


def write_tables(table: pd.DataFrame, runs: pd.DataFrame, output: Path) -> Path:
    """Write ``table`` to ``output`` and ``runs`` to ``<output stem>_runs.csv`` beside it (made if
    missing); each is written whole to a temporary name, then renamed, so that a crash leaves no
    half-written table. :return: the runs file's path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    runs_path = output.with_name(f"{output.stem}_runs.csv")
    for frame, path in ((table, output), (runs, runs_path)):
        tmp = path.with_suffix(".tmp")
        frame.to_csv(tmp, index=False, float_format="%.4g")
        tmp.replace(path)
    return runs_path


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=["lunarlander", "hopper", "go1"], help="env config names (conf/env/)")
    parser.add_argument("--steps", type=int, default=None, help="env steps per measurement (default: per env)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (>= 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--defaults",
        action="store_true",
        help='also the library defaults: PPO("MlpPolicy") against RANDPOL("RandomFeaturePolicy")',
    )
    parser.add_argument("--output", type=Path, default=Path("results/benchmarks/throughput.csv"))
    args = parser.parse_args(argv)
    check_env_names(parser, args.envs)
    if args.repeats < 1 or (args.steps is not None and args.steps < 1):
        parser.error(f"--repeats and --steps must be >= 1, got {args.repeats} and {args.steps}")

    th.set_num_threads(1)
    plan = {env: conditions(env, args.defaults) for env in args.envs}
    records = []
    for repeat in range(args.repeats):
        for env, env_conditions in plan.items():
            steps = args.steps or DEFAULT_STEPS.get(env, 16_384)
            for condition, (cfg, timer) in env_conditions.items():
                timesteps, wall, cpu = timer(cfg, steps, args.seed)
                records.append(
                    {
                        "env": env,
                        "condition": condition,
                        **_described(cfg, condition, timer),
                        "repeat": repeat,
                        "timesteps": timesteps,
                        "wall_s": wall,
                        "cpu_s": cpu,
                        "fps": timesteps / wall,
                        "cpu_fps": timesteps / cpu,
                    }
                )
                print(f"[{repeat}] {env:12s} {condition:16s} {timesteps / wall:9.0f} fps  ({wall:.1f} s)", flush=True)
    runs = pd.DataFrame(records)
    table = summarize(runs)
    runs_path = write_tables(table, runs, args.output)
    columns = ["env", "condition", "n_envs", "n_steps", "fps", "cpu_fps", "ratio_vs_ppo", "ratio_vs_raw", "ratio_vs_bare"]
    print()
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.2f}" if v < 100 else f"{v:.0f}"))
    print(f"\nwritten: {args.output}, {runs_path}")
    return table


if __name__ == "__main__":
    main()
