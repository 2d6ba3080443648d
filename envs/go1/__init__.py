"""The Unitree Go1 locomotion task (``randbench/Go1-v0``); see :mod:`envs.go1.go1_env`."""

from __future__ import annotations

import gymnasium

ENV_ID = "randbench/Go1-v0"
#: 1000 steps of 20 ms: 20 s episodes, as in Gymnasium's MuJoCo locomotion tasks.
MAX_EPISODE_STEPS = 1000


def register() -> None:
    """Register ``randbench/Go1-v0`` with gymnasium; calling it again does nothing.

    Every constructor option of :class:`envs.go1.go1_env.Go1Env` is a ``gymnasium.make`` kwarg,
    and so is ``max_episode_steps``.
    """
    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point="envs.go1.go1_env:Go1Env",
        max_episode_steps=MAX_EPISODE_STEPS,
    )


__all__ = ["ENV_ID", "MAX_EPISODE_STEPS", "register"]
