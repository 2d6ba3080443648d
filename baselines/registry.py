"""Every algorithm the harness can run, with what it needs from the environment.

The config tree builds an algorithm from ``algo.model._target_``; this registry is the list of
names the harness accepts and the facts used to refuse a bad combination before any work starts
(the action spaces an algorithm can act in). Classes are given as import paths and imported only
when used, so the randbench algorithms in ``algos/`` load on demand.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from gymnasium import spaces


@dataclass(frozen=True)
class AlgorithmSpec:
    """What the harness knows about one algorithm.

    :param name: the name used in configs and on the command line (``algo=<name>``).
    :param class_path: ``module.Class`` of the SB3 ``BaseAlgorithm`` subclass.
    :param action_spaces: gymnasium space classes the algorithm can act in.
    :param family: ``on_policy``, ``off_policy`` or ``evolution`` (batch-size checks depend on it).
    :param source: library or paper the implementation comes from.
    """

    name: str
    class_path: str
    action_spaces: tuple[type[spaces.Space], ...]
    family: str
    source: str

    def load_class(self) -> type:
        """Import and return the algorithm class."""
        module, _, cls = self.class_path.rpartition(".")
        return getattr(importlib.import_module(module), cls)

    def supports(self, action_space: spaces.Space) -> bool:
        """Whether the algorithm can act in ``action_space``."""
        return isinstance(action_space, self.action_spaces)


_ALL = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
_BOX = (spaces.Box,)

ALGORITHMS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec("ppo", "stable_baselines3.PPO", _ALL, "on_policy", "stable-baselines3"),
        AlgorithmSpec("a2c", "stable_baselines3.A2C", _ALL, "on_policy", "stable-baselines3"),
        AlgorithmSpec("sac", "stable_baselines3.SAC", _BOX, "off_policy", "stable-baselines3"),
        AlgorithmSpec("td3", "stable_baselines3.TD3", _BOX, "off_policy", "stable-baselines3"),
        AlgorithmSpec("ddpg", "stable_baselines3.DDPG", _BOX, "off_policy", "stable-baselines3"),
        AlgorithmSpec("trpo", "sb3_contrib.TRPO", _ALL, "on_policy", "sb3-contrib"),
        AlgorithmSpec("ars", "sb3_contrib.ARS", (spaces.Box, spaces.Discrete), "evolution", "sb3-contrib"),
        AlgorithmSpec("randpol", "algos.randpol.RANDPOL", _BOX, "on_policy", "Liu et al. 2025, arXiv 2505.19054"),
        AlgorithmSpec("ses", "algos.ses.StructuredES", _BOX, "evolution", "Choromanski et al. 2018"),
        AlgorithmSpec("rlx2_td3", "algos.rlx2.RLx2TD3", _BOX, "off_policy", "Tan et al. 2023 (RLx2)"),
        AlgorithmSpec("rlx2_sac", "algos.rlx2.RLx2SAC", _BOX, "off_policy", "Tan et al. 2023 (RLx2)"),
        AlgorithmSpec("rat", "algos.rat.RAT", _BOX, "on_policy", "Sun 2026, arXiv 2605.18591 (RAT)"),
    )
}


def get_spec(name: str) -> AlgorithmSpec:
    """The registry entry for ``name``.

    :raises ValueError: naming the unknown algorithm and listing the accepted names.
    """
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(
            f"unknown algorithm {name!r}; accepted: {', '.join(sorted(ALGORITHMS))}"
        ) from None
