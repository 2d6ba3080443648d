"""Sparse-reward variants of gymnasium tasks: the episode's reward paid at its last step.

``EpisodeEndReward`` holds back every step's reward and pays their sum at the step that ends the
episode (terminated or truncated), 0 at every other step. The episode return is unchanged, so
evaluation returns compare with the dense task's; what changes is the credit assignment an
algorithm faces (the RANDPOL paper's "sparse reward" check). The wrapper sits outside the task's
``TimeLimit``, so a truncated episode is paid too.

Registered tasks (importing ``envs`` registers them):

- ``randbench/LunarLanderContinuousSparse-v3``: LunarLanderContinuous-v3 (1,000-step limit)
  with its reward paid at the episode's end; config ``env=lunarlander_sparse``.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

SPARSE_TASKS = {"randbench/LunarLanderContinuousSparse-v3": "LunarLanderContinuous-v3"}


class EpisodeEndReward(gym.Wrapper):
    """Pay the sum of an episode's rewards at its last step, 0 before.

    ``info["dense_reward"]`` keeps each step's own reward. Rewards are summed in float (Python's
    double), in step order.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._pending = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._pending = 0.0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._pending += float(reward)
        info = {**info, "dense_reward": float(reward)}
        if terminated or truncated:
            paid, self._pending = self._pending, 0.0
            return obs, paid, terminated, truncated, info
        return obs, 0.0, terminated, truncated, info


def make_sparse(dense_id: str, **kwargs: Any) -> gym.Env:
    """Entry point of a sparse task: ``gymnasium.make(dense_id, **kwargs)`` (its time limit
    included) wrapped in :class:`EpisodeEndReward`.

    :param dense_id: the dense task's gymnasium id
    :param kwargs: the task's keyword arguments (e.g. ``render_mode``)
    """
    return EpisodeEndReward(gym.make(dense_id, **kwargs))


def register() -> None:
    """Register every task of ``SPARSE_TASKS`` with gymnasium (once)."""
    for env_id, dense_id in SPARSE_TASKS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="envs.sparse:make_sparse",
                kwargs={"dense_id": dense_id},
                disable_env_checker=True,  # the dense task's own gym.make checks it
            )
