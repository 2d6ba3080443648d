"""Observation spaces randbench's own algorithms can act on."""

from __future__ import annotations

from gymnasium import spaces

# Spaces SB3's FlattenExtractor turns into one flat feature vector.
FLAT_OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def check_flat_observation_space(observation_space: spaces.Space | None, algorithm: str) -> None:
    """Refuse an observation space that does not flatten into one vector (``Dict``, ``Tuple``, ...).

    :param observation_space: the env's observation space, or None (not known yet: loading)
    :param algorithm: the algorithm's name, for the message
    :raises ValueError: naming the space and the supported ones
    """
    if observation_space is not None and not isinstance(observation_space, FLAT_OBSERVATION_SPACES):
        raise ValueError(
            f"{algorithm} cannot act on the observation space {observation_space}: its policy takes a flat "
            "vector of features; supported: Box, Discrete, MultiDiscrete, MultiBinary (flatten a Dict "
            "space first, e.g. with gymnasium.wrappers.FlattenObservation)"
        )
