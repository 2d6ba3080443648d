"""Learning-rate and clip-range schedules referenced from the config tree with ``_target_``."""

from stable_baselines3.common.utils import LinearSchedule


def linear_schedule(initial_value: float, final_value: float = 0.0, end_fraction: float = 1.0) -> LinearSchedule:
    """Linear decay from ``initial_value`` to ``final_value`` over training.

    The zoo's ``lin_<x>`` schedules (rl-baselines3-zoo ``utils.linear_schedule``): SB3 calls the
    schedule with ``progress_remaining`` going from 1 (start) to 0 (end), where the end is the
    run's step budget (``total_timesteps``).

    :param initial_value: value at the start of training (e.g. a learning rate).
    :param final_value: value at the end of the decay, held after it.
    :param end_fraction: fraction of the step budget, in (0, 1], at which ``final_value`` is reached
        (SB3's ``LinearSchedule``); below 1 for runs that a time budget (``budget_s``) stops before
        their step budget.
    :return: a picklable callable ``progress_remaining -> value``.
    :raises ValueError: if ``initial_value`` is negative or ``end_fraction`` is outside (0, 1].
    """
    if initial_value < 0:
        raise ValueError(f"linear_schedule: initial_value must be >= 0, got {initial_value}")
    if not 0 < end_fraction <= 1:
        raise ValueError(f"linear_schedule: end_fraction must be in (0, 1], got {end_fraction}")
    # SB3's LinearSchedule goes from start to end as progress goes 0 -> end_fraction of training.
    return LinearSchedule(start=initial_value, end=final_value, end_fraction=end_fraction)
