"""A rollout buffer that keeps the random features of every collected observation.

RANDPOL's hidden layers never change, so the features ``psi(s)`` (actor) and ``phi(s)``
(critic) of an observation are the same in every epoch of an update: they are computed once
while collecting and stored here, and ``train()`` reads them instead of running the random
layers again.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.vec_env import VecNormalize


class FeatureRolloutBufferSamples(NamedTuple):
    """``RolloutBufferSamples`` plus the cached random features (all float32 tensors).

    Shapes for a batch of B transitions: observations (B, *obs_shape), actions (B, action_dim),
    old_values / old_log_prob / advantages / returns (B,), pi_features (B, J_pi),
    vf_features (B, J_vf).
    """

    observations: th.Tensor
    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor
    pi_features: th.Tensor
    vf_features: th.Tensor


class FeatureRolloutBuffer(RolloutBuffer):
    """SB3 ``RolloutBuffer`` with per-transition actor and critic random features.

    The actor features are written by :meth:`add` at every step; the critic features and the
    values ``V(s_t)`` of the whole rollout are written once by :meth:`set_critic` (one batched
    pass instead of one small pass per step: the critic does not change during a rollout, so
    this gives the same numbers for less work). With shared features, ``vf_features`` is the
    same array as ``pi_features``.

    :param buffer_size: rollout length per env (n_steps).
    :param observation_space: observation space.
    :param action_space: action space.
    :param pi_features_dim: J_pi, actor feature dimension (> 0).
    :param vf_features_dim: J_vf, critic feature dimension; ``None`` when features are shared.
    :param device: torch device of the returned tensors.
    :param gae_lambda: GAE(lambda) parameter in [0, 1].
    :param gamma: discount factor in [0, 1].
    :param n_envs: number of parallel envs.
    """

    pi_features: np.ndarray
    vf_features: np.ndarray

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        pi_features_dim: int,
        vf_features_dim: int | None = None,
        device: th.device | str = "auto",
        gae_lambda: float = 1,
        gamma: float = 0.99,
        n_envs: int = 1,
    ) -> None:
        if pi_features_dim <= 0 or (vf_features_dim is not None and vf_features_dim <= 0):
            raise ValueError(f"feature dimensions must be > 0, got {pi_features_dim} and {vf_features_dim}")
        # Allocated once and reused by every rollout: tens of MB that would otherwise be
        # re-allocated (and page-faulted in) at each reset.
        self._pi_storage = np.zeros((buffer_size, n_envs, pi_features_dim), dtype=np.float32)
        self._vf_storage = (
            None if vf_features_dim is None else np.zeros((buffer_size, n_envs, vf_features_dim), dtype=np.float32)
        )
        super().__init__(buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs)

    @property
    def shared_features(self) -> bool:
        return self._vf_storage is None

    def reset(self) -> None:
        super().reset()
        self.pi_features = self._pi_storage
        self.vf_features = self._pi_storage if self._vf_storage is None else self._vf_storage

    def add(  # type: ignore[override]
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        episode_start: np.ndarray,
        log_prob: np.ndarray,
        pi_features: th.Tensor | np.ndarray,
    ) -> None:
        """Store one step of all envs; values come later from :meth:`set_critic`.

        :param obs: observations (n_envs, *obs_shape), the input of ``pi_features``.
        :param action: sampled (unclipped) actions (n_envs, action_dim).
        :param reward: rewards (n_envs,), already bootstrapped on truncation or not.
        :param episode_start: whether ``obs`` starts an episode (n_envs,).
        :param log_prob: log pi(action | obs) (n_envs,).
        :param pi_features: actor features psi(obs) (n_envs, J_pi).
        """
        pos = self.pos
        self.observations[pos] = obs
        self.actions[pos] = action.reshape((self.n_envs, self.action_dim))
        self.rewards[pos] = reward
        self.episode_starts[pos] = episode_start
        self.log_probs[pos] = log_prob
        self.pi_features[pos] = pi_features
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True

    def set_critic(self, vf_features: th.Tensor | np.ndarray | None, values: th.Tensor | np.ndarray) -> None:
        """Store the critic features and values of the whole (full) rollout.

        :param vf_features: phi(s_t) of shape (buffer_size, n_envs, J_vf); ``None`` when the
            features are shared (they are already in ``pi_features``).
        :param values: V(s_t) of shape (buffer_size, n_envs).
        :raises ValueError: if shared-ness and ``vf_features`` disagree.
        """
        if (vf_features is None) != self.shared_features:
            raise ValueError("vf_features must be None exactly when the features are shared")
        if vf_features is not None:
            self.vf_features[...] = vf_features
        self.values[...] = values

    def samples(self) -> FeatureRolloutBufferSamples:
        """Every transition of the full rollout as tensors, without a copy (time-major order).

        The order does not matter to RANDPOL's losses (all are per-transition averages), so the
        arrays are reshaped in place instead of swapped and shuffled as :meth:`get` does; for a
        rollout of 16 envs x 1024 steps that saves two copies of each feature matrix.
        """
        assert self.full, "the rollout buffer is not full"
        assert not self.generator_ready, "samples() must be called before get()"
        n = self.buffer_size * self.n_envs
        flat = (
            self.observations.reshape(n, *self.obs_shape),
            self.actions.reshape(n, self.action_dim).astype(np.float32, copy=False),
            self.values.reshape(n),
            self.log_probs.reshape(n),
            self.advantages.reshape(n),
            self.returns.reshape(n),
            self.pi_features.reshape(n, -1),
            self.vf_features.reshape(n, -1),
        )
        return FeatureRolloutBufferSamples(*(self.to_torch(array, copy=False) for array in flat))

    def get(self, batch_size: int | None = None) -> Generator[FeatureRolloutBufferSamples, None, None]:  # type: ignore[override]
        if not self.generator_ready:
            # The parent flattens its own arrays on first use; the features are flattened here
            # the same way (a view for one env, a copy otherwise).
            self.pi_features = self.swap_and_flatten(self.pi_features)
            self.vf_features = self.pi_features if self.shared_features else self.swap_and_flatten(self.vf_features)
        yield from super().get(batch_size)  # type: ignore[misc]

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> FeatureRolloutBufferSamples:
        samples = super()._get_samples(batch_inds, env)
        return FeatureRolloutBufferSamples(
            *samples, self.to_torch(self.pi_features[batch_inds]), self.to_torch(self.vf_features[batch_inds])
        )
