"""The return-curve figure's axes: a log time axis only where runs' lengths differ widely."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis.figures import plot_return_curves


def _curves(ends: dict[str, float]) -> pd.DataFrame:
    """Two seeds per algorithm, 6 evaluations each, on one env; train time up to ``ends[algo]``."""
    rows = []
    for algo, end in ends.items():
        for seed in (0, 1):
            for i, t in enumerate(np.linspace(end / 6, end, 6)):
                rows.append(
                    {
                        "env": "lunarlander",
                        "env_id": "LunarLanderContinuous-v3",
                        "algo": algo,
                        "seed": seed,
                        "run_id": f"{algo}-{seed}",
                        "timesteps": 10_000 * (i + 1),
                        "train_time_s": t,
                        "eval_return_mean": 10.0 * i + seed,
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("ends", "scale"),
    [({"randpol": 140.0, "rat": 4_000.0}, "log"), ({"randpol": 140.0, "ppo": 260.0}, "linear")],
)
def test_seconds_axis_is_logarithmic_only_when_curve_ends_differ_more_than_log_span(ends, scale):
    fig = plot_return_curves(_curves(ends), x="train_time_s", reps=50)
    ax = fig.axes[0]
    assert ax.get_xscale() == scale
    assert ("log scale" in ax.get_xlabel()) == (scale == "log")
    plt.close(fig)


def test_timesteps_axis_stays_linear_whatever_the_spread():
    curves = _curves({"randpol": 140.0, "rat": 4_000.0})
    curves.loc[curves["algo"] == "rat", "timesteps"] *= 50
    fig = plot_return_curves(curves, x="timesteps", reps=50)
    assert fig.axes[0].get_xscale() == "linear"
    plt.close(fig)
