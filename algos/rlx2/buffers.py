"""RLx2's dynamic-capacity replay buffer on top of SB3's n-step replay buffer.

Tan et al. 2023 (RLx2), Section 4.3: the buffer keeps the behaviour policy's mean action of every
transition; every few thousand steps the current policy's mean action on the oldest transitions
is compared with the stored one, and when the policy has moved far from the one that collected
them, the oldest transitions are dropped (down to a minimum size). New transitions fill the
buffer back up to ``buffer_size``, so its capacity follows how fast the policy changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.buffers import NStepReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize


class DynamicNStepReplayBuffer(NStepReplayBuffer):
    """An n-step replay buffer whose oldest transitions can be dropped, storing behaviour mean actions.

    The valid transitions are the ``n_transitions`` rows starting at ``start`` (circularly);
    ``pos`` (where the next row goes) is always ``(start + n_transitions) % buffer_size``.
    Sampling is uniform over the valid rows. ``n_steps`` is read at every ``sample()`` (SB3's
    ``NStepReplayBuffer._get_samples``), so an algorithm can switch from 1-step to n-step targets
    by setting it.

    :param buffer_size: maximum capacity (rows; each row holds one transition per env).
    :param observation_space: observation space.
    :param action_space: a Box action space.
    :param device: torch device of the sampled tensors.
    :param n_envs: number of parallel envs.
    :param optimize_memory_usage: not supported (must be False).
    :param handle_timeout_termination: bootstrap on truncation (SB3's meaning).
    :param n_steps: steps of the multi-step TD target (1 = one-step target).
    :param gamma: discount factor of the n-step returns.
    :param min_size: smallest number of rows :meth:`shrink` keeps, in [1, buffer_size].
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: Any = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        n_steps: int = 1,
        gamma: float = 0.99,
        min_size: int | None = None,
    ) -> None:
        if not isinstance(action_space, spaces.Box):
            raise TypeError(f"DynamicNStepReplayBuffer needs a Box action space, got {action_space}")
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device=device,
            n_envs=n_envs,
            optimize_memory_usage=optimize_memory_usage,
            handle_timeout_termination=handle_timeout_termination,
            n_steps=n_steps,
            gamma=gamma,
        )
        min_size = self.buffer_size if min_size is None else int(min_size)
        if not 1 <= min_size <= self.buffer_size:
            raise ValueError(f"min_size must be in [1, buffer_size={self.buffer_size}], got {min_size}")
        self.min_size = min_size
        # behaviour policy's mean action (scaled to [-1, 1], like the stored actions)
        self.mean_actions = np.zeros((self.buffer_size, self.n_envs, self.action_dim), dtype=np.float32)
        self.start = 0
        self.n_transitions = 0
        self._staged_mean_actions: np.ndarray | None = None

    def stage_mean_actions(self, mean_actions: np.ndarray) -> None:
        """Mean actions (``(n_envs, action_dim)``, scaled) of the transition the next ``add()`` stores.

        Staged by the algorithm when it picks the action, because SB3 calls ``add()`` with the
        executed action only.
        """
        self._staged_mean_actions = np.asarray(mean_actions, dtype=np.float32).reshape(
            self.n_envs, self.action_dim
        )

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """Store one transition per env (SB3's ``add``), with the staged mean actions, or the
        executed actions when none were staged (the authors' choice for random warm-up actions)."""
        mean = self._staged_mean_actions if self._staged_mean_actions is not None else action
        self.mean_actions[self.pos] = np.asarray(mean, dtype=np.float32).reshape(self.n_envs, self.action_dim)
        self._staged_mean_actions = None
        super().add(obs, next_obs, action, reward, done, infos)
        if self.n_transitions < self.buffer_size:
            self.n_transitions += 1
        else:  # full: the row just written replaced the oldest one
            self.start = self.pos

    def size(self) -> int:
        """Number of valid rows."""
        return self.n_transitions

    def reset(self) -> None:
        super().reset()
        self.start = 0
        self.n_transitions = 0

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        """Uniform sample of ``batch_size`` valid transitions with ``n_steps``-step returns."""
        if self.n_transitions == 0:
            raise ValueError("cannot sample from an empty buffer")
        batch_inds = (
            self.start + np.random.randint(0, self.n_transitions, size=batch_size)
        ) % self.buffer_size
        return self._get_samples(batch_inds, env=env)

    def oldest(self, n: int, env: VecNormalize | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Observations (normalized by ``env`` if given) and behaviour mean actions of the ``n``
        oldest transitions (fewer if the buffer holds fewer), shapes ``(n, *obs_shape)`` and
        ``(n, action_dim)``."""
        rows = (self.start + np.arange(min(self.n_transitions, -(-n // self.n_envs)))) % self.buffer_size
        obs = self.observations[rows].reshape(-1, *self.obs_shape)[:n]
        mean = self.mean_actions[rows].reshape(-1, self.action_dim)[:n]
        return self._normalize_obs(obs, env), mean

    def shrink(self, fraction: float) -> int:
        """Drop the oldest ``int(fraction * size)`` rows, never going below ``min_size``.

        :param fraction: share of the valid rows to drop, in [0, 1].
        :return: number of rows dropped.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        n_drop = min(int(fraction * self.n_transitions), self.n_transitions - self.min_size)
        if n_drop <= 0:
            return 0
        self.start = (self.start + n_drop) % self.buffer_size
        self.n_transitions -= n_drop
        return n_drop
