"""Raw simulation throughput of the Go1 task next to Hopper-v5: env steps per second.

    python -m benchmarks.env_throughput [--steps 5000] [--repeats 3]

Each case steps one env in this process (one core: MuJoCo steps single-threaded) with uniform
random actions, drawn beforehand from a seeded generator so that drawing them is not timed;
episode ends are handled with ``reset()`` inside the timed loop, as training would. It reports
the median over ``repeats`` of steps per wall-clock second and of steps per CPU second of this
process (the latter is steadier on a machine shared with other jobs), prints a table and writes
``results/benchmarks/env_throughput.csv``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pandas as pd

import envs.go1


@dataclass(frozen=True)
class Case:
    """One env configuration to time.

    :param name: label in the table.
    :param env_id: gymnasium id.
    :param kwargs: ``gymnasium.make`` keyword arguments.
    """

    name: str
    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)


CASES: tuple[Case, ...] = (
    Case("go1", envs.go1.ENV_ID),
    Case("go1 domain randomization", envs.go1.ENV_ID, {"domain_randomization": True}),
    Case("go1 elliptic cones", envs.go1.ENV_ID, {"friction_cone": "elliptic"}),
    Case("hopper", "Hopper-v5"),
)


def time_case(case: Case, steps: int, seed: int) -> dict[str, float]:
    """Step ``case``'s env ``steps`` times with random actions.

    :param case: the env to time.
    :param steps: timed env steps (> 0).
    :param seed: seed of the env and of the action generator.
    :return: ``steps_per_s`` (wall clock), ``steps_per_cpu_s`` and ``episodes`` finished.
    """
    env = gym.make(case.env_id, **case.kwargs)
    space = env.action_space
    actions = np.random.default_rng(seed).uniform(space.low, space.high, size=(steps, *space.shape))
    actions = actions.astype(space.dtype)
    env.reset(seed=seed)
    for action in actions[: min(200, steps)]:  # warm-up: caches, lazy allocations
        env.step(action)
    env.reset(seed=seed)
    episodes = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episodes += 1
            env.reset()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    env.close()
    return {"steps_per_s": steps / wall, "steps_per_cpu_s": steps / cpu, "episodes": episodes}


def run(steps: int, repeats: int, seed: int = 0) -> pd.DataFrame:
    """Time every case of :data:`CASES`; one row per case with medians over ``repeats``."""
    rows = []
    for case in CASES:
        timings = pd.DataFrame([time_case(case, steps, seed + r) for r in range(repeats)])
        rows.append(
            {
                "env": case.name,
                "env_id": case.env_id,
                "kwargs": case.kwargs,
                "steps": steps,
                "repeats": repeats,
                "steps_per_s": timings["steps_per_s"].median(),
                "steps_per_cpu_s": timings["steps_per_cpu_s"].median(),
                # Random-policy episode length in env steps (NaN when no episode ended).
                "mean_episode_length": steps * repeats / timings["episodes"].sum()
                if timings["episodes"].sum() > 0
                else float("nan"),
                "mujoco": mujoco.__version__,
                "cpu": platform.processor() or platform.machine(),
                "logical_cpus": os.cpu_count(),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000, help="timed env steps per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per case (median reported)")
    parser.add_argument(
        "--output", type=Path, default=Path("results/benchmarks/env_throughput.csv"), help="CSV path"
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error(f"--steps and --repeats must be >= 1, got {args.steps} and {args.repeats}")
    envs.go1.register()
    table = run(args.steps, args.repeats)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output, index=False)
    shown = table[["env", "env_id", "steps_per_s", "steps_per_cpu_s", "mean_episode_length"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    print(f"written: {args.output}")
    return table


if __name__ == "__main__":
    main()
