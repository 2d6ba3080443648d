"""Learning-rate and clip-range schedules referenced from the config tree with ``_target_``."""

from stable_baselines3.common.utils import LinearSchedule


def linear_schedule(initial_value: float, final_value: float = 0.0) -> LinearSchedule:
    """Linear decay from ``initial_value`` to ``final_value`` over training.

    The zoo's ``lin_<x>`` schedules (rl-baselines3-zoo ``utils.linear_schedule``): SB3 calls the
    schedule with ``progress_remaining`` going from 1 (start) to 0 (end).

    :param initial_value: value at the start of training (e.g. a learning rate).
    :param final_value: value at the end of training.
    :return: a picklable callable ``progress_remaining -> value``.
    :raises ValueError: if ``initial_value`` is negative.
    """
    if initial_value < 0:
        raise ValueError(f"linear_schedule: initial_value must be >= 0, got {initial_value}")
    # SB3's LinearSchedule goes from start to end as progress goes 0 -> end_fraction of training.
    return LinearSchedule(start=initial_value, end=final_value, end_fraction=1.0)
