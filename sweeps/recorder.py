"""The run recorder: an SB3 callback that evaluates, times and records a run.

Measurement rules (DESIGN.md, fair comparison): wall-clock is measured here, not taken from SB3's
``time/fps``; time spent evaluating and writing files is excluded from ``train_time_s``;
evaluation uses the deterministic policy on a separate env whose normalization statistics are
synced from the training env.

Evaluation happens at rollout boundaries (``on_rollout_start``), the first one at or after every
``eval_freq`` env steps, so the evaluated policy is the one that just finished an update (for
on-policy and evolution-strategy algorithms, evaluating mid-rollout would evaluate a policy that
is about to change, or, in ARS, a perturbed candidate).
"""

from __future__ import annotations

import math
import time
from collections import deque
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

from sweeps.rundir import EPISODES_COLUMNS, METRICS_COLUMNS, atomic_write_csv


class DivergedError(RuntimeError):
    """Training produced a non-finite loss, return or parameter."""


def _fmt_duration(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds))) if math.isfinite(seconds) else "?"


class RunRecorder(BaseCallback):
    """Evaluate every ``eval_freq`` env steps and write ``metrics.csv`` and ``episodes.csv``.

    :param run_dir: the run folder; files are rewritten atomically at every evaluation.
    :param eval_env: a separate evaluation VecEnv (one env, Monitor-wrapped).
    :param eval_freq: env steps (summed over parallel envs) between evaluations, > 0.
    :param n_eval_episodes: episodes per evaluation, >= 1.
    :param total_timesteps: the run's budget in env steps (for progress and ETA).
    :param deterministic: evaluate the deterministic policy.
    :param label: prefix of the progress lines, e.g. ``"hopper/ppo/seed0"``.
    :param progress: print one line per evaluation.
    """

    def __init__(
        self,
        run_dir: Path,
        eval_env: VecEnv,
        eval_freq: int,
        n_eval_episodes: int,
        total_timesteps: int,
        deterministic: bool = True,
        label: str = "",
        progress: bool = True,
    ) -> None:
        super().__init__(verbose=0)
        self.run_dir = Path(run_dir)
        self.eval_env = eval_env
        self.eval_freq = int(eval_freq)
        self.n_eval_episodes = int(n_eval_episodes)
        self.total_timesteps = int(total_timesteps)
        self.deterministic = deterministic
        self.label = label
        self.progress = progress
        self.metrics: list[list[Any]] = []
        self.episodes: list[tuple[int, float, float, int]] = []
        self._recent_returns: deque[float] = deque(maxlen=100)
        self._infos_seen = False
        self._t0 = self._cpu0 = 0.0
        self._excluded_s = 0.0
        self._next_eval = self.eval_freq
        self._last_point = (0, 0.0)  # (timesteps, train_time_s) of the previous evaluation

    # -- timing -----------------------------------------------------------------------------
    def train_time_s(self, now: float | None = None) -> float:
        """Seconds spent training so far: wall-clock since learn() started, minus evaluation."""
        return (time.perf_counter() if now is None else now) - self._t0 - self._excluded_s

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()
        self._cpu0 = time.process_time()

    # -- training episodes ------------------------------------------------------------------
    def _record_episode(self, episode_return: float, length: int) -> None:
        self.episodes.append((self.num_timesteps, self.train_time_s(), float(episode_return), int(length)))
        self._recent_returns.append(float(episode_return))
        if not math.isfinite(episode_return):
            raise DivergedError(f"non-finite training episode return {episode_return} at {self.num_timesteps} steps")

    def _on_step(self) -> bool:
        infos = self.locals.get("infos")
        if infos is not None:
            self._infos_seen = True
            for info in infos:
                episode = info.get("episode")
                if episode is not None:
                    self._record_episode(episode["r"], episode["l"])
        return True

    def _on_rollout_end(self) -> None:
        # Algorithms that do not pass per-step infos to callbacks (ARS and its relatives)
        # collect a fresh list of monitor episodes per update in ep_info_buffer.
        if not self._infos_seen and isinstance(self.model.ep_info_buffer, list):
            for episode in self.model.ep_info_buffer:
                self._record_episode(episode["r"], episode["l"])

    # -- evaluation -------------------------------------------------------------------------
    def _on_rollout_start(self) -> None:
        if self.num_timesteps >= self._next_eval:
            self.evaluate()

    def _on_training_end(self) -> None:
        if not self.metrics or self.metrics[-1][0] != self.num_timesteps:
            self.evaluate()

    def check_finite(self) -> None:
        """Raise :class:`DivergedError` on a non-finite policy parameter or logged training loss.

        Only losses count: other logged statistics are NaN in healthy runs (SB3's
        ``explained_variance`` is NaN when every return of a rollout is the same, e.g. CartPole
        episodes all at their 500-step limit).
        """
        for name, value in self.model.logger.name_to_value.items():
            if (
                name.startswith("train/")
                and "loss" in name
                and isinstance(value, (float, int, np.floating))
                and not math.isfinite(value)
            ):
                raise DivergedError(f"non-finite {name} = {value} at {self.num_timesteps} steps")
        for name, parameter in self.model.policy.named_parameters():
            if not torch.isfinite(parameter).all():
                raise DivergedError(f"non-finite policy parameter {name} at {self.num_timesteps} steps")

    def evaluate(self) -> None:
        """Evaluate the current policy, append a metrics row, rewrite the CSV files, print progress."""
        start = time.perf_counter()
        train_time = self.train_time_s(start)
        self.check_finite()
        sync_envs_normalization(self.training_env, self.eval_env)
        returns, lengths = evaluate_policy(
            self.model,
            self.eval_env,
            n_eval_episodes=self.n_eval_episodes,
            deterministic=self.deterministic,
            return_episode_rewards=True,
        )
        returns = np.asarray(returns, dtype=float)
        last_steps, last_time = self._last_point
        interval = train_time - last_time
        fps = (self.num_timesteps - last_steps) / interval if interval > 0 else float("nan")
        row = [
            self.num_timesteps,
            train_time,
            start - self._t0,
            time.process_time() - self._cpu0,
            fps,
            float(returns.mean()),
            float(returns.std()),
            float(returns.min()),
            float(returns.max()),
            len(returns),
            float(np.mean(lengths)),
            float(np.mean(self._recent_returns)) if self._recent_returns else float("nan"),
        ]
        self.metrics.append(row)
        self._last_point = (self.num_timesteps, train_time)
        while self._next_eval <= self.num_timesteps:
            self._next_eval += self.eval_freq
        self.flush()
        if self.progress:
            self._print_progress(row)
        self._excluded_s += time.perf_counter() - start
        if not np.isfinite(returns).all():
            raise DivergedError(f"non-finite evaluation return at {self.num_timesteps} steps")

    def flush(self) -> None:
        """Write metrics.csv and episodes.csv as they are now (atomically)."""
        atomic_write_csv(self.run_dir / "metrics.csv", METRICS_COLUMNS, self.metrics)
        atomic_write_csv(self.run_dir / "episodes.csv", EPISODES_COLUMNS, self.episodes)

    def _print_progress(self, row: list[Any]) -> None:
        steps, train_time, wall = row[0], row[1], row[2]
        done = min(steps / max(self.total_timesteps, 1), 1.0)
        rate = steps / wall if wall > 0 else float("nan")
        eta = max(self.total_timesteps - steps, 0) / rate if rate > 0 else float("nan")
        print(
            f"[{self.label}] {steps:>10,}/{self.total_timesteps:,} steps ({done:6.1%}) | "
            f"eval return {row[5]:9.2f} ± {row[6]:7.2f} | fps {row[4]:8.1f} | "
            f"train {_fmt_duration(train_time)} | elapsed {_fmt_duration(wall)} | ETA {_fmt_duration(eta)}",
            flush=True,
        )
