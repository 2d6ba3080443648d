"""The learning-rate schedules the config tree names (baselines/schedules.py)."""

import pickle

import pytest

from baselines.schedules import linear_schedule


def test_linear_schedule_goes_from_initial_to_final_over_the_budget():
    schedule = linear_schedule(3e-4)
    # SB3 passes progress_remaining: 1 at the start, 0 at the end of the step budget.
    assert schedule(1.0) == pytest.approx(3e-4)
    assert schedule(0.75) == pytest.approx(2.25e-4)
    assert schedule(0.0) == pytest.approx(0.0)


def test_linear_schedule_reaches_final_value_at_end_fraction_and_holds_it():
    schedule = linear_schedule(3e-4, final_value=1e-5, end_fraction=0.5)
    assert schedule(1.0) == pytest.approx(3e-4)
    assert schedule(0.75) == pytest.approx(3e-4 + 0.5 * (1e-5 - 3e-4))
    assert schedule(0.5) == pytest.approx(1e-5)
    assert schedule(0.1) == pytest.approx(1e-5)
    assert pickle.loads(pickle.dumps(schedule))(0.75) == pytest.approx(schedule(0.75))


@pytest.mark.parametrize("kwargs, message", [
    ({"initial_value": -1.0}, "initial_value must be >= 0"),
    ({"initial_value": 1.0, "end_fraction": 0.0}, r"end_fraction must be in \(0, 1\]"),
    ({"initial_value": 1.0, "end_fraction": 1.5}, r"end_fraction must be in \(0, 1\]"),
])
def test_linear_schedule_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        linear_schedule(**kwargs)
