"""The run recorder: an SB3 callback that evaluates, times and records a run.

Measurement rules (docs/design.md, fair comparison): wall-clock is measured here, not taken from SB3's
``time/fps``; time spent evaluating and writing files is excluded from ``train_time_s``;
evaluation uses the deterministic policy on a separate env whose normalization statistics are
synced from the training env.

Evaluation happens at rollout boundaries (``on_rollout_start``), the first one at or after every
``eval_freq`` env steps, so the evaluated policy is the one that just finished an update (for
on-policy and evolution-strategy algorithms, evaluating mid-rollout would evaluate a policy that
is about to change, or, in ARS, a perturbed candidate).

A wall-clock budget (``budget_s``, train seconds) is checked at the same boundaries: once the
train time reaches it, the recorder raises :class:`TimeBudgetReached` out of ``learn()`` (the
run then ends as completed), so a run ends within one rollout or update of its time budget
(``stop_reason``, ``budget_s_overshoot_s``). An exception rather than ``on_step`` returning
False: sb3-contrib's ARS (and SES, built on it) ignores the return value of ``on_step``.
The machine's 1-minute load average is sampled at every evaluation (``load_1m``), so that a
run's wall-clock can be judged comparable or not.
"""

from __future__ import annotations

import math
import os
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

from analysis.contract import EPISODES_COLUMNS, METRICS_COLUMNS, EpisodeRow, MetricsRow
from sweeps.loggers import HARNESS_KEYS, log_harness_scalars
from sweeps.rundir import atomic_write_csv


class DivergedError(RuntimeError):
    """Training produced a non-finite loss, return or parameter."""


class TimeBudgetReached(Exception):
    """The run's train time reached its ``budget_s``; raised at a rollout/update boundary."""


def _fmt_duration(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds))) if math.isfinite(seconds) else "?"


def _load_1m() -> float:
    """The machine's 1-minute load average (NaN where the OS does not give one)."""
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return float("nan")


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
    :param budget_s: train seconds (evaluation excluded) after which training stops at the next
        rollout or update boundary; None for no time limit.
    :param parent_pid: stop (``KeyboardInterrupt``, recorded as ``interrupted``) at the next
        rollout once this process is no longer this one's parent: the sweep that started the job
        is gone. None: no such check.
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
        budget_s: float | None = None,
        parent_pid: int | None = None,
        checkpoint_freq: int | None = None,
        on_checkpoint: Any = None,
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
        self.metrics: list[MetricsRow] = []
        self.episodes: list[EpisodeRow] = []
        self._recent_returns: deque[float] = deque(maxlen=100)
        self._infos_seen = False
        self._t0 = self._cpu0 = 0.0
        self._excluded_s = 0.0
        self._next_eval = self.eval_freq
        self._last_point = (0, 0.0)  # (timesteps, train_time_s) of the previous evaluation
        self.budget_s = None if budget_s is None else float(budget_s)
        self.stop_reason: str | None = None  # "budget_s" once the time budget stopped training
        self.stop_train_time_s: float | None = None  # train time when the stop was asked for
        self.load_1m: list[float] = []  # 1-minute load average at each evaluation
        self.parent_pid = parent_pid
        # Checkpoints (sweeps/checkpoint.py): every checkpoint_freq env steps, on_checkpoint() writes one.
        self.checkpoint_freq = None if checkpoint_freq is None else int(checkpoint_freq)
        self.on_checkpoint = on_checkpoint
        self._next_checkpoint = self.checkpoint_freq
        self.checkpoint_times: list[float] = []  # seconds each checkpoint took
        # Time already spent by earlier attempts of a resumed run (load_state_dict).
        self._train_offset = self._wall_offset = self._cpu_offset = 0.0
        self._training = False
        self.stop_request: str | None = None  # why training must stop at the next rollout (a signal)

    # -- timing -----------------------------------------------------------------------------
    def train_time_s(self, now: float | None = None) -> float:
        """Seconds spent training so far: wall-clock since learn() started, minus evaluation."""
        return self._train_offset + (time.perf_counter() if now is None else now) - self._t0 - self._excluded_s

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs of the recorder (JSON-serializable), as of now."""
        now = time.perf_counter()
        return {
            "metrics": [list(row) for row in self.metrics],
            "episodes": [list(row) for row in self.episodes],
            "recent_returns": list(self._recent_returns),
            "infos_seen": self._infos_seen,
            "train_time_s": self.train_time_s(now),
            "wall_time_s": self._wall_offset + now - self._t0,
            "cpu_time_s": self._cpu_offset + time.process_time() - self._cpu0,
            "next_eval": self._next_eval,
            "next_checkpoint": self._next_checkpoint,
            "last_point": list(self._last_point),
            "load_1m": list(self.load_1m),
            "checkpoint_times": list(self.checkpoint_times),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s record: rows kept, times accumulating from there."""
        self.metrics = [MetricsRow(*row) for row in state["metrics"]]
        self.episodes = [EpisodeRow(*row) for row in state["episodes"]]
        self._recent_returns.extend(state["recent_returns"])
        self._infos_seen = bool(state["infos_seen"])
        self._train_offset = float(state["train_time_s"])
        self._wall_offset = float(state["wall_time_s"])
        self._cpu_offset = float(state["cpu_time_s"])
        self._next_eval = int(state["next_eval"])
        if self.checkpoint_freq is not None:
            self._next_checkpoint = int(state["next_checkpoint"] or self.checkpoint_freq)
        self._last_point = (int(state["last_point"][0]), float(state["last_point"][1]))
        self.load_1m = list(state["load_1m"])
        self.checkpoint_times = list(state.get("checkpoint_times", []))

    def request_stop(self, reason: str) -> bool:
        """Ask a training, checkpointing run to checkpoint and stop at the next rollout boundary.

        :return: False when the request cannot be deferred (not training, no checkpoints, or a
            stop was already asked for): the caller stops the run at once.
        """
        if not self._training or self.on_checkpoint is None or self.checkpoint_freq is None or self.stop_request:
            return False
        self.stop_request = reason
        return True

    def _on_training_start(self) -> None:
        self._training = True
        self._t0 = time.perf_counter()
        self._cpu0 = time.process_time()

    # -- training episodes ------------------------------------------------------------------
    def _record_episode(self, episode_return: float, length: int) -> None:
        self.episodes.append(EpisodeRow(self.num_timesteps, self.train_time_s(), float(episode_return), int(length)))
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
        if self.stop_request is not None:  # a deferred SIGTERM: keep the work, then stop
            self._training = False
            self._write_checkpoint()
            raise KeyboardInterrupt(f"{self.stop_request}; checkpoint written at {self.num_timesteps} steps")
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            # The sweep that started this job is gone (killed): a worker must not train on alone.
            raise KeyboardInterrupt(f"the sweep process {self.parent_pid} that started this run is gone")
        if self.num_timesteps >= self._next_eval:
            self.evaluate()
        if self._next_checkpoint is not None and self.on_checkpoint is not None and self.num_timesteps >= self._next_checkpoint:
            while self._next_checkpoint <= self.num_timesteps:
                self._next_checkpoint += self.checkpoint_freq  # type: ignore[operator]
            self._write_checkpoint()
        if self.budget_s is not None and self.stop_reason is None:
            train_time = self.train_time_s()
            if train_time >= self.budget_s:
                self.stop_reason, self.stop_train_time_s = "budget_s", train_time
                raise TimeBudgetReached(
                    f"train time {train_time:.1f} s reached budget_s={self.budget_s:g} at {self.num_timesteps} steps"
                )

    def _write_checkpoint(self) -> None:
        """Call ``on_checkpoint``; the time it takes is not training (as evaluation is not)."""
        start = time.perf_counter()
        self.on_checkpoint()
        elapsed = time.perf_counter() - start
        self.checkpoint_times.append(elapsed)
        self._excluded_s += elapsed

    def _on_training_end(self) -> None:
        self._training = False
        self.finish()

    def finish(self) -> None:
        """Evaluate the final policy unless the last evaluation was at the current step count."""
        if not self.metrics or self.metrics[-1].timesteps != self.num_timesteps:
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
        row = MetricsRow(
            timesteps=self.num_timesteps,
            train_time_s=train_time,
            wall_time_s=self._wall_offset + start - self._t0,
            cpu_time_s=self._cpu_offset + time.process_time() - self._cpu0,
            fps=fps,
            eval_return_mean=float(returns.mean()),
            eval_return_std=float(returns.std()),
            eval_return_min=float(returns.min()),
            eval_return_max=float(returns.max()),
            eval_episodes=len(returns),
            eval_length_mean=float(np.mean(lengths)),
            train_return_mean=float(np.mean(self._recent_returns)) if self._recent_returns else float("nan"),
        )
        self.metrics.append(row)
        # TensorBoard / W&B, when configured (sweeps/loggers.py); progress.csv is left alone.
        harness = (row.eval_return_mean, row.eval_return_std, row.eval_return_min, row.eval_return_max,
                   row.eval_length_mean, row.train_time_s, row.wall_time_s, row.fps)
        log_harness_scalars(self.logger, dict(zip(HARNESS_KEYS, harness, strict=True)), self.num_timesteps)
        self.load_1m.append(_load_1m())
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

    def _print_progress(self, row: MetricsRow) -> None:
        steps, train_time, wall = row.timesteps, row.train_time_s, row.wall_time_s
        done = min(steps / max(self.total_timesteps, 1), 1.0)
        rate = steps / wall if wall > 0 else float("nan")
        eta = max(self.total_timesteps - steps, 0) / rate if rate > 0 else float("nan")
        if self.budget_s is not None:  # whichever limit comes first
            done = max(done, min(train_time / self.budget_s, 1.0))
            eta = min(eta, max(self.budget_s - train_time, 0.0) * wall / train_time if train_time > 0 else eta)
        print(
            f"[{self.label}] {steps:>10,}/{self.total_timesteps:,} steps ({done:6.1%}) | "
            f"eval return {row.eval_return_mean:9.2f} ± {row.eval_return_std:7.2f} | fps {row.fps:8.1f} | "
            f"train {_fmt_duration(train_time)} | elapsed {_fmt_duration(wall)} | ETA {_fmt_duration(eta)}",
            flush=True,
        )
