"""``randbench evaluate RUN_DIR...``: a run's final policy evaluated again, over many episodes.

A run's learning curve evaluates its policy on ``eval.n_episodes`` episodes (10 in the benchmark)
every ``eval.freq`` steps. Its final return is the mean of the last 3 evaluations and its best
the highest one, so both carry the noise of a 10-episode mean; the best, a maximum over some 20
noisy means, is biased upwards even for a policy that never changes. This command tells the
policy's return from that noise:

- the final policy (``model.zip``, deterministic, observations normalized with the run's frozen
  ``vecnormalize.pkl`` statistics, raw rewards) plays ``episodes`` episodes on ``n_envs`` fresh
  copies of the run's task stepped together (SB3's ``evaluate_policy``, which gives each copy an
  equal share of the episodes, so that short episodes are not favoured), copy ``i`` seeded with the
  run's seed + 30000 + i (training uses seed + i, the learning curve's evaluations seed + 10000,
  ``randbench video`` seed + 20000): its mean return with a 95% percentile-bootstrap interval.
  One copy (``n_envs=1``) evaluates as the learning curve does, one episode after the other;
  several cost less per episode (one batched forward pass per step);
- the same policy's learning-curve statistics, had it never changed: the run's number of
  evaluations ``K`` and episodes per evaluation ``m`` (from ``metrics.csv``) drawn from these
  episode returns ``reps`` times: the median of the best of ``K`` evaluation means
  (``fixed_policy_best``) and how often the run's final (mean of its last 3 evaluations) reaches
  90% of that best (``fixed_policy_holds_90``): the chance that a policy that does not change at
  all passes a "final >= 90% of best" no-collapse criterion.

- how each episode ended: by the task (``terminated``: for the MuJoCo locomotion tasks a fall) or
  by its time limit, and, where the task reports its forward speed (``info["x_velocity"]``), the
  mean speed over each episode and over its last 50 steps (:class:`EpisodeEnds`);
- for MuJoCo tasks, the share of steps each limited joint spends at one of its limits
  (:class:`JointLimits`): a gait that holds a joint against its stop throughout.

Written to ``RUN_DIR/final_eval.json`` (the episodes' returns and lengths, the summary above, the
SHA-256 of the model it evaluated); a table of all runs is printed.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from analysis.argtypes import DEFAULT_LAST_K, DEFAULT_REPS, positive_int
from analysis.contract import FINAL_EVAL_FILE

RESULT_NAME = FINAL_EVAL_FILE
DEFAULT_EPISODES = 100
DEFAULT_N_ENVS = 10
SEED_OFFSET = 30_000
HOLD_FRACTION = 0.9  # the no-collapse criterion's "final >= 90% of best"
SPEED_LAST_STEPS = 50  # an episode's last steps whose forward speed is averaged
JOINT_LIMIT_MARGIN = 0.05  # rad (hinge) or m (slide): a joint this close to a limit is "at" it


class EpisodeEnds:
    """How each evaluation episode ended, recorded by ``evaluate_policy``'s per-step callback.

    For every counted episode, in the order ``evaluate_policy`` returns them: whether the task
    ended it (``terminated``: a fall, for the MuJoCo locomotion tasks) rather than its time limit,
    and where the task reports its forward speed (``info["x_velocity"]``, m/s: Hopper, Walker2d,
    Humanoid, Go1), the mean speed over the episode and over its last ``last`` steps. A speed that
    climbs at the end of terminated episodes is a gait that runs away before it falls.

    :param n_envs: env copies stepped together.
    :param last: steps at the end of an episode averaged for ``speed_last``.
    """

    def __init__(self, n_envs: int, last: int = SPEED_LAST_STEPS) -> None:
        self.last = last
        self.speeds: list[list[float]] = [[] for _ in range(n_envs)]
        self.terminated: list[bool] = []
        self.speed_mean: list[float] = []
        self.speed_last: list[float] = []

    def __call__(self, local: dict[str, Any], _globals: dict[str, Any]) -> None:
        i, info = local["i"], local["info"]
        if "x_velocity" in info:
            self.speeds[i].append(float(info["x_velocity"]))
        if local["done"]:
            self.terminated.append(not info.get("TimeLimit.truncated", False))
            speeds, self.speeds[i] = self.speeds[i], []
            if speeds:
                self.speed_mean.append(float(np.mean(speeds)))
                self.speed_last.append(float(np.mean(speeds[-self.last:])))

    def summary(self) -> dict[str, Any]:
        """``terminated`` per episode and its share; ``speed_mean`` / ``speed_last`` per episode when
        every episode reported its speed."""
        out: dict[str, Any] = {
            "terminated": self.terminated,
            "terminated_share": float(np.mean(self.terminated)) if self.terminated else math.nan,
        }
        if self.terminated and len(self.speed_mean) == len(self.terminated):
            out.update(speed_last_steps=self.last, speed_mean=self.speed_mean, speed_last=self.speed_last)
        return out


class JointLimits:
    """Share of steps each limited joint of a MuJoCo task spends at one of its limits, recorded by
    ``evaluate_policy``'s per-step callback.

    A joint is at a limit when its position (``data.qpos``; rad for a hinge, m for a slide joint) is
    within ``margin`` of either end of its range (``model.jnt_range``) or past it (MuJoCo's limits
    are soft). Only joints with a range (``model.jnt_limited``) count: for Hopper the thigh, leg and
    foot joints, not the free root. A gait whose joint sits at its stop in every step controls the
    body with the other joints only. The step that ends an episode is not counted (the copy has
    been reset by then).

    :param margin: distance to a limit that counts as at it, > 0 (rad or m).
    :raises ValueError: on a margin <= 0
    """

    def __init__(self, margin: float = JOINT_LIMIT_MARGIN) -> None:
        if not margin > 0:
            raise ValueError(f"margin={margin!r} is invalid; expected a distance > 0 (rad or m)")
        self.margin = float(margin)
        self.envs: list[Any] | None = None  # the copies' MuJoCo envs; [] for a task that is not MuJoCo
        self.names: list[str] = []
        self.address = np.zeros(0, dtype=int)
        self.low = self.high = np.zeros(0)
        self.at_limit = np.zeros(0)
        self.steps = 0

    def bind(self, vec_env: Any) -> None:
        """Find the MuJoCo model of every env copy under ``vec_env`` (VecEnv wrappers followed to the
        base VecEnv's ``envs``); a task without one records nothing."""
        base = vec_env
        while hasattr(base, "venv"):
            base = base.venv
        envs = [getattr(env, "unwrapped", env) for env in getattr(base, "envs", [])]
        if not envs or not all(hasattr(env, "model") and hasattr(env, "data") for env in envs):
            self.envs = []
            return
        model = envs[0].model
        joints = [j for j in range(model.njnt) if model.jnt_limited[j]]
        self.envs = envs
        self.names = [model.joint(j).name for j in joints]
        self.address = np.asarray([model.jnt_qposadr[j] for j in joints], dtype=int)
        self.low, self.high = model.jnt_range[joints, 0].copy(), model.jnt_range[joints, 1].copy()
        self.at_limit = np.zeros(len(joints))

    def __call__(self, local: dict[str, Any], _globals: dict[str, Any]) -> None:
        if self.envs is None:
            self.bind(local["env"])
        if not self.envs or local["done"]:
            return
        q = self.envs[local["i"]].data.qpos[self.address]
        self.at_limit += (q <= self.low + self.margin) | (q >= self.high - self.margin)
        self.steps += 1

    def summary(self) -> dict[str, Any]:
        """``joint_limit_share`` (joint name -> share of the counted steps at a limit) and the margin;
        empty for a task without limited MuJoCo joints or without a counted step."""
        if not self.names or not self.steps:
            return {}
        shares = self.at_limit / self.steps
        return {"joint_limit_margin": self.margin,
                "joint_limit_share": {name: float(v) for name, v in zip(self.names, shares, strict=True)}}


def read_curve(run_dir: Path) -> tuple[np.ndarray, int | None]:
    """The learning curve of ``metrics.csv``, read once.

    :return: the evaluation means (``eval_return_mean``, shape (K,), float, in order; empty when the
        run has no ``metrics.csv`` or no evaluation) and the episodes per evaluation
        (``eval_episodes`` of the last row that has one; None when none has).
    """
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return np.zeros(0), None
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    means = np.asarray([float(r["eval_return_mean"]) for r in rows if r.get("eval_return_mean") not in ("", None)],
                       dtype=float)
    counts = [r["eval_episodes"] for r in rows if r.get("eval_episodes") not in ("", None)]
    return means, (int(float(counts[-1])) if counts else None)


def fixed_policy_curve(
    returns: np.ndarray, n_evaluations: int, episodes_per_evaluation: int, reps: int, seed: int = 0,
    last_k: int = DEFAULT_LAST_K,
) -> dict[str, float]:
    """The learning-curve statistics of a policy that never changes, by resampling its episodes.

    Each of ``reps`` simulated curves has ``n_evaluations`` evaluations of
    ``episodes_per_evaluation`` episodes drawn with replacement from ``returns``; its best is the
    highest evaluation mean and its final the mean of its last ``last_k`` evaluation means.

    :param returns: shape (n,), the policy's episode returns, n >= 1
    :return: ``fixed_policy_best`` (median best), ``fixed_policy_best_low`` / ``_high`` (5th and
        95th percentiles), ``fixed_policy_final`` (median final) and ``fixed_policy_holds_90``
        (fraction of curves whose final is >= 90% of their best; meaningful for positive returns)
    :raises ValueError: on an empty ``returns`` or a count < 1
    """
    returns = np.asarray(returns, dtype=float)
    if returns.size == 0:
        raise ValueError("returns is empty; expected the episode returns of at least one episode")
    for name, value in (("n_evaluations", n_evaluations), ("episodes_per_evaluation", episodes_per_evaluation),
                        ("reps", reps), ("last_k", last_k)):
        if value < 1:
            raise ValueError(f"{name}={value} is invalid; expected an integer >= 1")
    rng = np.random.default_rng(seed)
    draws = rng.choice(returns, size=(reps, n_evaluations, episodes_per_evaluation), replace=True)
    means = draws.mean(axis=2)  # (reps, K)
    best = means.max(axis=1)
    final = means[:, -min(last_k, n_evaluations):].mean(axis=1)
    return {
        "fixed_policy_best": float(np.median(best)),
        "fixed_policy_best_low": float(np.percentile(best, 5)),
        "fixed_policy_best_high": float(np.percentile(best, 95)),
        "fixed_policy_final": float(np.median(final)),
        "fixed_policy_holds_90": float(np.mean(final >= HOLD_FRACTION * best)),
    }


def evaluate_run(
    run_dir: str | Path,
    episodes: int = DEFAULT_EPISODES,
    seed: int | None = None,
    reps: int = DEFAULT_REPS,
    n_envs: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate a run's final policy over ``episodes`` episodes and write ``RUN_DIR/final_eval.json``.

    :param run_dir: a completed run folder (``config.yaml``, ``model.zip``; ``vecnormalize.pkl``
        and ``metrics.csv`` used when present)
    :param episodes: evaluation episodes, >= 1
    :param seed: seed of the first evaluation env copy (default: the run's seed + 30000)
    :param reps: simulated learning curves of the fixed policy (:func:`fixed_policy_curve`), >= 1
    :param n_envs: env copies stepped together, 1 <= n_envs <= episodes (default: 10, at most
        ``episodes``)
    :param log: callable taking one progress line, or None
    :return: the content of ``final_eval.json``
    :raises ValueError: on a bad argument or a folder that is not a completed run
    """
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    from analysis.aggregate import bootstrap_ci
    from analysis.contract import atomic_write_json
    from envs.make import gym_kwargs
    from envs.vec import LeanDummyVecEnv
    from sweeps.video import load_run_model, read_run_config, run_identity

    say = log or (lambda line: None)
    if n_envs is None:
        n_envs = min(DEFAULT_N_ENVS, episodes) if isinstance(episodes, int) else DEFAULT_N_ENVS
    for name, value in (("episodes", episodes), ("reps", reps), ("n_envs", n_envs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid; expected an integer >= 1")
    if n_envs > episodes:
        raise ValueError(f"n_envs={n_envs} is invalid for {episodes} episodes; expected at most one copy per episode")
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    env_id, env_kwargs = config["env"]["id"], dict(config["env"].get("kwargs") or {})
    eval_seed = int(config.get("seed", 0)) + SEED_OFFSET if seed is None else int(seed)
    model = load_run_model(config, run_dir / "model.zip")
    env = make_vec_env(
        env_id, n_envs=n_envs, seed=eval_seed, env_kwargs=gym_kwargs(env_kwargs), vec_env_cls=LeanDummyVecEnv
    )
    normalized = (run_dir / "vecnormalize.pkl").is_file()
    if normalized:
        env = VecNormalize.load(str(run_dir / "vecnormalize.pkl"), env)
        env.training, env.norm_reward = False, False
    say(f"evaluating {run_dir} ({env_id}, {config['algo'].get('name')}) over {episodes} episodes "
        f"on {n_envs} env copies, seed {eval_seed}")
    started = time.perf_counter()
    ends, joints = EpisodeEnds(n_envs), JointLimits()

    def record(local: dict[str, Any], globals_: dict[str, Any]) -> None:
        ends(local, globals_)
        joints(local, globals_)

    try:
        returns, lengths = evaluate_policy(
            model, env, n_eval_episodes=episodes, deterministic=True, return_episode_rewards=True,
            callback=record,
        )
    finally:
        env.close()
    returns = np.asarray(returns, dtype=float)
    low, high = bootstrap_ci(returns, seed=0, reps=reps) if returns.size > 1 else (math.nan, math.nan)
    curve, per_evaluation = read_curve(run_dir)
    info: dict[str, Any] = {
        **run_identity(run_dir, config),
        "normalization": normalized,
        "deterministic": True,
        "seed": eval_seed,
        "n_envs": n_envs,
        "episodes": int(returns.size),
        "returns": returns.tolist(),
        "lengths": [int(n) for n in lengths],
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_ci95": [low, high],
        "curve_evaluations": int(curve.size),
        "curve_episodes_per_evaluation": per_evaluation,
        "curve_final": float(curve[-DEFAULT_LAST_K:].mean()) if curve.size else math.nan,
        "curve_best": float(curve.max()) if curve.size else math.nan,
        "evaluate_s": time.perf_counter() - started,
        **ends.summary(),
        **joints.summary(),
    }
    if curve.size and per_evaluation:
        info.update(fixed_policy_curve(returns, int(curve.size), per_evaluation, reps=reps))
    atomic_write_json(run_dir / RESULT_NAME, info)
    say(f"  return {info['return_mean']:.1f} +- {info['return_std']:.1f} in {info['evaluate_s']:.1f} s "
        f"-> {run_dir / RESULT_NAME}")
    return info


def format_table(results: list[dict[str, Any]]) -> str:
    """One line per evaluated run: its return over the episodes and its learning curve's final and best,
    with what a fixed policy's curve would show."""
    from tabulate import tabulate

    def number(value: Any) -> str:
        return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.1f}"

    rows = []
    for r in results:
        low, high = r["return_ci95"]
        rows.append([
            r["run_dir"], r["episodes"], f"{number(r['return_mean'])} [{number(low)}, {number(high)}]",
            number(r["curve_final"]), number(r["curve_best"]), number(r.get("fixed_policy_best")),
            "n/a" if "fixed_policy_holds_90" not in r else f"{r['fixed_policy_holds_90']:.0%}",
            "n/a" if math.isnan(r.get("terminated_share", math.nan)) else f"{r['terminated_share']:.0%}",
            _speeds(r), _joint_at_limit(r),
        ])
    headers = ["run", "episodes", "return [95% CI]", "curve final", "curve best", "fixed-policy best",
               "fixed policy holds 90%", "ended by the task", "speed: all / end of ended (m/s)", "joint most at a limit (share of steps)"]
    return tabulate(rows, headers=headers, disable_numparse=True)


def _speeds(result: dict[str, Any]) -> str:
    """Mean forward speed over all episodes, and over the last steps of those the task ended."""
    if "speed_mean" not in result:
        return "n/a"
    ended = [last for last, t in zip(result["speed_last"], result["terminated"], strict=True) if t]
    return f"{np.mean(result['speed_mean']):.2f} / " + (f"{np.mean(ended):.2f}" if ended else "-")


def _joint_at_limit(result: dict[str, Any]) -> str:
    """The limited joint that spends the largest share of the steps at a limit, with that share."""
    shares = result.get("joint_limit_share")
    if not shares:
        return "n/a"
    name = max(shares, key=shares.get)
    return f"{name} {shares[name]:.0%}"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``randbench evaluate``."""
    parser = argparse.ArgumentParser(
        prog="randbench evaluate",
        description="Evaluate runs' final policies (deterministic, with their frozen normalization statistics) "
        f"over many episodes; writes RUN_DIR/{RESULT_NAME} and prints what a never-changing policy's "
        "learning curve would show for its final and best.",
    )
    parser.add_argument("run_dirs", metavar="RUN_DIR", type=Path, nargs="+", help="completed run folders")
    parser.add_argument(
        "--episodes", type=positive_int, default=DEFAULT_EPISODES,
        help=f"evaluation episodes per run (default: {DEFAULT_EPISODES})",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the first evaluation env copy (default: run seed + 30000)"
    )
    parser.add_argument(
        "--n-envs", type=positive_int, default=None, metavar="N",
        help=f"env copies stepped together (default: {DEFAULT_N_ENVS}, at most the episodes; 1 evaluates as the "
        "learning curve does)",
    )
    parser.add_argument(
        "--reps", type=positive_int, default=DEFAULT_REPS,
        help=f"bootstrap resamples and simulated fixed-policy curves (default: {DEFAULT_REPS})",
    )
    return parser


def evaluate_main(argv: list[str] | None = None) -> int:
    """Run ``randbench evaluate``; returns the exit status (0 written, 2 bad input)."""
    from sweeps.video import read_run_config

    args = build_parser().parse_args(argv)
    for run_dir in args.run_dirs:  # refuse bad input before spending time on the good runs
        try:
            read_run_config(run_dir)
        except ValueError as error:
            print(f"randbench evaluate: {error}", file=sys.stderr)
            return 2
    results = []
    for run_dir in args.run_dirs:
        try:
            results.append(evaluate_run(
                run_dir, episodes=args.episodes, seed=args.seed, reps=args.reps, n_envs=args.n_envs, log=print
            ))
        except ValueError as error:
            print(f"randbench evaluate: {error}", file=sys.stderr)
            return 2
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(evaluate_main())
