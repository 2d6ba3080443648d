"""Domain randomization of the Go1 task: which physical parameters vary, over which ranges.

With ``domain_randomization=True`` the env draws one :class:`DomainSample` from its seeded
generator (``env.np_random``) at every reset, so a seed fixes the sequence of simulated robots.
Each range is ``(low, high)``, drawn uniformly; ``randomization_ranges`` replaces any of them.

=================  ======  =============================================================  ==================
key                unit    what it changes                                                default range
=================  ======  =============================================================  ==================
``friction``       --      sliding friction of foot-floor contacts (feet and floor geoms)  (0.5, 1.25)
``payload``        kg      mass added to the trunk at its centre of mass (<0: lighter)      (-1.0, 3.0)
``motor_strength`` --      per-motor multiplier of the PD torque (12 draws)                 (0.9, 1.1)
``kp_factor``      --      multiplier of the proportional gain Kp (all motors)              (0.8, 1.3)
``kd_factor``      --      multiplier of the derivative gain Kd (all motors)                (0.5, 1.5)
``obs_noise``      --      noise level: obs += level * OBS_NOISE_SCALES * N(0, 1) per step  (0.0, 1.0)
=================  ======  =============================================================  ==================

Sources of the ranges: friction and the observation-noise scales are legged_gym's defaults
(Rudin et al., 2022, "Learning to Walk in Minutes Using Massively Parallel Deep RL",
``LeggedRobotCfg.domain_rand`` and ``noise``); payload, motor strength and the PD-gain factors
are the Go1 settings of walk-these-ways (Margolis and Agrawal, 2022). The nominal robot (no
randomization) is friction 0.8 (the value in go1.xml), payload 0, every factor 1, no noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RANDOMIZATION_RANGES: dict[str, tuple[float, float]] = {
    "friction": (0.5, 1.25),
    "payload": (-1.0, 3.0),
    "motor_strength": (0.9, 1.1),
    "kp_factor": (0.8, 1.3),
    "kd_factor": (0.5, 1.5),
    "obs_noise": (0.0, 1.0),
}

# Smallest value each range may reach, and whether the bound itself is allowed: a friction, a
# strength or a stiffness of zero would make the robot unable to stand. The payload bound depends
# on the trunk mass and is checked by the env.
_LOWER_BOUNDS: dict[str, tuple[float, bool]] = {
    "friction": (0.0, False),
    "motor_strength": (0.0, False),
    "kp_factor": (0.0, False),
    "kd_factor": (0.0, True),
    "obs_noise": (0.0, True),
}

#: Standard deviation of the observation noise at level 1, per observation block (legged_gym's
#: ``noise_scales``): base linear velocity m/s, base angular velocity rad/s, gravity direction,
#: joint positions rad, joint velocities rad/s. The previous action and the command are exact.
OBS_NOISE_SCALES: dict[str, float] = {
    "base_linear_velocity": 0.1,
    "base_angular_velocity": 0.2,
    "gravity": 0.05,
    "joint_positions": 0.01,
    "joint_velocities": 1.5,
}


@dataclass(frozen=True)
class DomainSample:
    """One simulated robot: the randomized parameters used for one episode.

    :param friction: sliding friction coefficient of foot-floor contacts.
    :param payload: mass added to the trunk, kg.
    :param motor_strength: torque multiplier per motor, shape (n_motors,).
    :param kp_factor: multiplier of the proportional gain.
    :param kd_factor: multiplier of the derivative gain.
    :param obs_noise: observation-noise level (multiplies :data:`OBS_NOISE_SCALES`).
    """

    friction: float
    payload: float
    motor_strength: np.ndarray
    kp_factor: float
    kd_factor: float
    obs_noise: float


def resolve_ranges(overrides: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, float]]:
    """Default ranges with ``overrides`` applied, each checked.

    :param overrides: ``{key: (low, high)}`` for any subset of :data:`DEFAULT_RANDOMIZATION_RANGES`
        keys, or None for the defaults.
    :return: a complete ``{key: (low, high)}`` dict.
    :raises ValueError: on an unknown key, a range that is not two numbers with low <= high, or a
        bound below what the parameter accepts.
    """
    ranges = dict(DEFAULT_RANDOMIZATION_RANGES)
    for key, value in (overrides or {}).items():
        if key not in ranges:
            raise ValueError(f"randomization_ranges has unknown key {key!r}; accepted keys: {sorted(ranges)}")
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(
                f"randomization_ranges[{key!r}] must be two numbers (low, high), got {value!r}"
            ) from None
        if not low <= high:
            raise ValueError(f"randomization_ranges[{key!r}] needs low <= high, got ({low}, {high})")
        if key in _LOWER_BOUNDS:
            bound, inclusive = _LOWER_BOUNDS[key]
            if low < bound or (low == bound and not inclusive):
                relation = ">=" if inclusive else ">"
                raise ValueError(f"randomization_ranges[{key!r}] low must be {relation} {bound}, got {low}")
        ranges[key] = (low, high)
    return ranges


def sample_domain(
    rng: np.random.Generator, ranges: Mapping[str, tuple[float, float]], n_motors: int
) -> DomainSample:
    """Draw one robot uniformly from ``ranges``.

    :param rng: the env's seeded generator (``env.np_random``).
    :param ranges: complete ranges, as returned by :func:`resolve_ranges`.
    :param n_motors: number of motors (12 for the Go1).
    :return: the drawn parameters.
    """
    return DomainSample(
        friction=float(rng.uniform(*ranges["friction"])),
        payload=float(rng.uniform(*ranges["payload"])),
        motor_strength=rng.uniform(*ranges["motor_strength"], size=n_motors),
        kp_factor=float(rng.uniform(*ranges["kp_factor"])),
        kd_factor=float(rng.uniform(*ranges["kd_factor"])),
        obs_noise=float(rng.uniform(*ranges["obs_noise"])),
    )
