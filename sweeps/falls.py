"""What comes before a fall: ``python -m sweeps.falls RUN_DIR ... --out CSV``.

A diagnosis of the final policies of locomotion runs (the RANDPOL study's Hopper part,
``docs/randpol_study_notes.md``). Each run's final policy (deterministic, ``model.zip``, observations
normalized with its frozen ``vecnormalize.pkl``) plays ``--episodes`` episodes on one copy of its
task, seeded with ``--seed`` + episode index; at every step it records the critic's value of the
state (the policy's ``predict_values``, in the run's training units: returns scaled by
VecNormalize's reward statistics where the run normalized rewards), the forward speed
(``info["x_velocity"]``, m/s, where the task reports it) and the largest absolute normalized
observation (in standard deviations of the training statistics).

For the episodes the task ended (``terminated``: a fall) after more than ``--skip`` + the first
window edge steps, it averages these over windows that end a given number of steps before the
fall (``--windows``, default 150, 100, 50, 20, 0: steps -150 to -100, -100 to -50, -50 to -20 and
-20 to the fall), and over the steady part before them (from step ``--skip`` to the first window,
``window = steady``). For the episodes that reached their time limit it averages them from step
``--skip`` to ``--skip`` less than the end (``window = time limit``). A critic whose value drops
over the steps before a fall predicts it; observations beyond 3 standard deviations are states
outside what the training rollouts' statistics cover.

Writes one CSV (``--out``): a row per (run, window) with the episode counts and the means of
``value``, ``speed`` and ``beyond_3_std`` (share of steps with some normalized observation beyond
3); prints them. Exit status 2 on bad input (a folder that is not a completed run, a policy
without a critic, bad windows).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.argtypes import positive_int

DEFAULT_WINDOWS = (150, 100, 50, 20, 0)
DEFAULT_SKIP = 100
DEFAULT_SEED = 70_000
BEYOND = 3.0  # standard deviations of the training statistics
COLUMNS = ("run_dir", "algo", "seed", "window", "from_step", "to_step", "episodes", "value", "speed", "beyond_3_std")


def parse_windows(text: str) -> tuple[int, ...]:
    """``"150,100,50,20,0"`` -> (150, 100, 50, 20, 0): strictly decreasing steps before the fall, ending at 0.

    :raises ValueError: on anything else
    """
    try:
        edges = tuple(int(part) for part in text.split(","))
    except ValueError:
        edges = ()
    if len(edges) < 2 or edges[-1] != 0 or any(a <= b for a, b in itertools.pairwise(edges)):
        raise ValueError(f"windows={text!r} is invalid; expected strictly decreasing step counts before the fall "
                         "ending at 0, e.g. 150,100,50,20,0")
    return edges


def play(run_dir: Path, episodes: int, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's final policy over ``episodes`` deterministic episodes, one copy of its task.

    :return: the run's config, and per episode ``terminated`` (bool) and per-step arrays
        ``value`` (T,), ``speed`` (T,) (NaN where the task reports none) and ``obs_max`` (T,)
    :raises ValueError: on a folder that is not a completed run or a policy without a critic
    """
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from envs.make import gym_kwargs
    from envs.vec import LeanDummyVecEnv
    from sweeps.video import load_run_model, read_run_config

    config = read_run_config(run_dir)
    model = load_run_model(config, run_dir / "model.zip")
    if not hasattr(model.policy, "predict_values"):
        raise ValueError(f"{run_dir}: the policy of {config['algo'].get('name')!r} has no critic "
                         "(predict_values); expected an actor-critic run (ppo, a2c, trpo, randpol)")
    env_kwargs = dict(config["env"].get("kwargs") or {})
    out = []
    for episode in range(episodes):
        env = make_vec_env(config["env"]["id"], n_envs=1, seed=seed + episode, env_kwargs=gym_kwargs(env_kwargs),
                           vec_env_cls=LeanDummyVecEnv)
        if (run_dir / "vecnormalize.pkl").is_file():
            env = VecNormalize.load(str(run_dir / "vecnormalize.pkl"), env)
            env.training, env.norm_reward = False, False
        obs = env.reset()
        value, speed, obs_max = [], [], []
        while True:
            with torch.no_grad():
                value.append(float(model.policy.predict_values(torch.as_tensor(obs, dtype=torch.float32))[0, 0]))
            obs_max.append(float(np.abs(obs).max()))
            action, _ = model.predict(obs, deterministic=True)
            obs, _reward, done, info = env.step(action)
            speed.append(float(info[0].get("x_velocity", math.nan)))
            if done[0]:
                out.append({"terminated": not info[0].get("TimeLimit.truncated", False), "value": np.asarray(value),
                            "speed": np.asarray(speed), "obs_max": np.asarray(obs_max)})
                break
        env.close()
    return config, out


def summarize(episodes: list[dict[str, Any]], windows: Sequence[int], skip: int) -> list[dict[str, Any]]:
    """Per-window means over the episodes (see the module's docstring); a window without an episode is NaN.

    :param episodes: as :func:`play` returns them
    :param windows: strictly decreasing steps before the fall, ending at 0
    :param skip: first steps of an episode left out of ``steady`` and ``time limit``
    """
    def row(window: str, start: int | None, stop: int | None, parts: list[slice], eps: list[dict]) -> dict[str, Any]:
        picked = [(e, s) for e, s in zip(eps, parts, strict=True) if len(e["value"][s])]

        def mean(key: str, f=lambda x: x) -> float:
            return float(np.mean([np.mean(f(e[key][s])) for e, s in picked])) if picked else math.nan

        return {"window": window, "from_step": start, "to_step": stop, "episodes": len(picked),
                "value": mean("value"), "speed": mean("speed"), "beyond_3_std": mean("obs_max", lambda x: x > BEYOND)}

    falls = [e for e in episodes if e["terminated"] and len(e["value"]) > skip + windows[0]]
    full = [e for e in episodes if not e["terminated"]]
    rows = [row("steady", skip, -windows[0], [slice(skip, len(e["value"]) - windows[0]) for e in falls], falls)]
    for a, b in itertools.pairwise(windows):
        rows.append(row(f"{-a} to {-b}", -a, -b, [slice(len(e["value"]) - a, len(e["value"]) - b) for e in falls],
                        falls))
    rows.append(row("time limit", skip, -skip, [slice(skip, len(e["value"]) - skip) for e in full], full))
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.falls",
        description="The critic's value, the forward speed and the observations' range over the steps before "
        "the falls of runs' final policies.",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, help="completed actor-critic run folders (with model.zip)")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write")
    parser.add_argument("--episodes", type=positive_int, default=30, help="episodes per run (default 30)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the first episode (default {DEFAULT_SEED}: apart from training, evaluation, "
                        "video and randbench evaluate)")
    parser.add_argument("--windows", default=",".join(map(str, DEFAULT_WINDOWS)),
                        help="steps before the fall that bound the windows (default 150,100,50,20,0)")
    parser.add_argument("--skip", type=int, default=DEFAULT_SKIP,
                        help=f"first steps of an episode left out of the steady window (default {DEFAULT_SKIP})")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the diagnosis; returns the exit status (0 written, 2 bad input)."""
    from tabulate import tabulate

    from sweeps.video import read_run_config

    args = build_parser().parse_args(argv)
    try:
        windows = parse_windows(args.windows)
        if args.skip < 0:
            raise ValueError(f"--skip={args.skip} is invalid; expected steps >= 0")
        for run_dir in args.run_dirs:
            read_run_config(run_dir)
    except ValueError as error:
        print(f"sweeps.falls: {error}", file=sys.stderr)
        return 2
    rows = []
    for run_dir in args.run_dirs:
        try:
            config, episodes = play(run_dir, args.episodes, args.seed)
        except ValueError as error:
            print(f"sweeps.falls: {error}", file=sys.stderr)
            return 2
        ended = sum(e["terminated"] for e in episodes)
        print(f"{run_dir}: {ended} of {len(episodes)} episodes ended by the task")
        for row in summarize(episodes, windows, args.skip):
            rows.append({"run_dir": str(run_dir), "algo": config["algo"].get("label") or config["algo"].get("name"),
                         "seed": config.get("seed"), **row})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(tabulate([[r[c] for c in COLUMNS[1:]] for r in rows], headers=COLUMNS[1:], floatfmt=".2f"))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
