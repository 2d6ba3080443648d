"""Aggregates over seeds and, with rliable, over tasks, against direct computations."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from analysis.aggregate import (
    aggregate_scores,
    bootstrap_ci,
    cost_ratios,
    curve_bands,
    improvement_pairs,
    performance_profiles,
    probability_of_improvement,
    score_matrices,
    seed_aggregates,
)


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(0).normal(10.0, 3.0, 8)
    low, high = bootstrap_ci(values, seed=3, reps=1000)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values, seed=3, reps=1000)  # same seed, same interval
    assert (low, high) != bootstrap_ci(values, seed=4, reps=1000)
    assert low >= values.min() and high <= values.max()  # a percentile CI of a mean stays in the data
    assert bootstrap_ci([5.0, 5.0, 5.0], seed=0) == (5.0, 5.0)
    assert all(np.isnan(bootstrap_ci([5.0], seed=0)))  # one seed: no interval
    assert all(np.isnan(bootstrap_ci([np.nan, 2.0], seed=0)))  # NaNs are left out first


def test_seed_aggregates_count_not_reached_runs():
    runs = pd.DataFrame(
        {
            "env": "e",
            "algo": "x",
            "timesteps_to_threshold": [np.nan, 100.0, 200.0],
            "final_return": [1.0, 2.0, 3.0],
        }
    )
    table = seed_aggregates(runs, ["timesteps_to_threshold", "final_return"], seed=0, reps=200).set_index(
        "metric"
    )
    assert table.loc["timesteps_to_threshold", "n_runs"] == 3
    assert table.loc["timesteps_to_threshold", "n"] == 2
    assert table.loc["timesteps_to_threshold", "mean"] == 150.0
    assert table.loc["final_return", "mean"] == 2.0


def test_cost_ratios_by_hand():
    runs = pd.DataFrame(
        {
            "env": "e",
            "algo": ["ppo", "ppo", "randpol", "randpol", "a2c", "a2c"],
            "t": [20.0, 30.0, 5.0, 15.0, np.nan, np.nan],
        }
    )
    table = cost_ratios(runs, "ppo", "t", seed=0, reps=500).set_index("algo")
    assert table.loc["randpol", "ratio"] == pytest.approx(10.0 / 25.0)
    assert table.loc["randpol", "ci_low"] <= 0.4 <= table.loc["randpol", "ci_high"]
    assert table.loc["ppo", "ratio"] == 1.0
    assert np.isnan(table.loc["a2c", "ratio"]) and table.loc["a2c", "n"] == 0
    vs_randpol = cost_ratios(runs, "randpol", "t", seed=0, reps=500).set_index("algo")
    assert vs_randpol.loc["ppo", "ratio"] == pytest.approx(2.5)  # RANDPOL 2.5x faster than PPO
    assert cost_ratios(runs, "sac", "t").empty


def _direct_stratified_bootstrap(scores: dict, seed: int, reps: int) -> dict:
    """rliable's stratified bootstrap written out: per resample, each task's runs are drawn with
    replacement (indices from numpy's global generator, algorithm after algorithm)."""

    def aggregates(m):
        task_means = m.mean(axis=0)
        return [
            scipy.stats.trim_mean(m, 0.25, axis=None),
            task_means.mean(),
            np.median(task_means),
            1 - np.minimum(m, 1).mean(),
        ]

    np.random.seed(seed)
    result = {}
    for algo, m in scores.items():
        n_runs, n_tasks = m.shape
        values = np.array(
            [
                aggregates(m[np.random.choice(n_runs, m.shape, replace=True), np.arange(n_tasks)])
                for _ in range(reps)
            ]
        )
        result[algo] = (aggregates(m), np.percentile(values, [2.5, 97.5], axis=0))
    return result


def test_rliable_aggregates_match_a_direct_computation():
    rng = np.random.default_rng(1)
    scores = {"ppo": rng.uniform(0, 1.2, (5, 3)), "randpol": rng.uniform(0.2, 1.0, (4, 3))}
    table = aggregate_scores(scores, seed=7, reps=300).set_index(["algo", "metric"])
    direct = _direct_stratified_bootstrap(scores, seed=7, reps=300)
    for algo, (points, (low, high)) in direct.items():
        for i, metric in enumerate(["IQM", "Mean", "Median", "Optimality gap"]):
            row = table.loc[(algo, metric)]
            assert row["estimate"] == pytest.approx(points[i], rel=1e-12)
            assert row["ci_low"] == pytest.approx(low[i], rel=1e-12)
            assert row["ci_high"] == pytest.approx(high[i], rel=1e-12)
    # the global numpy generator is left as it was
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    aggregate_scores(scores, seed=7, reps=100)
    assert np.random.random() == expected


def test_probability_of_improvement_matches_a_direct_computation():
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.6, 0.2, (4, 2)), rng.normal(0.5, 0.2, (3, 2))
    table = probability_of_improvement({"x": x, "y": y}, [("x", "y")], seed=5, reps=200)

    def poi(a, b):  # P(a > b) per task, ties count half, averaged over tasks
        per_task = [
            np.mean((a[:, t, None] > b[None, :, t]) + 0.5 * (a[:, t, None] == b[None, :, t]))
            for t in range(a.shape[1])
        ]
        return float(np.mean(per_task))

    np.random.seed(5)
    values = []
    for _ in range(200):  # stratified independent bootstrap: x's indices, then y's
        ix = np.random.choice(4, x.shape, replace=True)
        iy = np.random.choice(3, y.shape, replace=True)
        values.append(poi(x[ix, np.arange(2)], y[iy, np.arange(2)]))
    low, high = np.percentile(values, [2.5, 97.5])
    row = table.iloc[0]
    assert (row["algo_x"], row["algo_y"]) == ("x", "y")
    assert row["probability"] == pytest.approx(poi(x, y))
    assert row["ci_low"] == pytest.approx(low) and row["ci_high"] == pytest.approx(high)
    with pytest.raises(ValueError, match="no scores for"):
        probability_of_improvement({"x": x}, [("x", "z")])


def test_performance_profile_point_estimates():
    scores = {"a": np.array([[0.1, 0.9], [0.5, 0.7]])}
    _taus, profiles, cis = performance_profiles(scores, taus=np.array([0.0, 0.6, 1.0]), seed=0, reps=100)
    np.testing.assert_allclose(profiles["a"], [1.0, 0.5, 0.0])  # fraction of the 4 runs above tau
    assert cis["a"].shape == (2, 3)


def test_score_matrices_share_tasks_and_seeds():
    runs = pd.DataFrame(
        {
            "env": ["e1"] * 5 + ["e2"] * 3 + ["e3"],
            "algo": ["a", "a", "a", "b", "b", "a", "a", "b", "a"],
            "seed": [0, 1, 2, 0, 1, 0, 1, 0, 0],
            "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        }
    )
    matrices = score_matrices(runs)
    assert matrices.tasks == ["e1", "e2"]  # e3 has no run of b
    np.testing.assert_allclose(
        matrices.scores["a"], [[0.1, 0.6], [0.2, 0.7]]
    )  # 2 seeds: its fewest on a task
    np.testing.assert_allclose(matrices.scores["b"], [[0.4, 0.8]])
    assert any("e3" in note and "b" in note for note in matrices.notes)


def test_improvement_pairs_prefer_randpol_then_ppo():
    assert improvement_pairs(["ppo", "randpol", "a2c"]) == [("randpol", "ppo"), ("randpol", "a2c")]
    assert improvement_pairs(["ppo", "a2c"]) == [("ppo", "a2c")]
    assert improvement_pairs(["ppo"]) == []


def test_curve_bands():
    aligned = pd.DataFrame(
        {
            "env": "e",
            "algo": "x",
            "run_id": ["a", "a", "b", "b"],
            "timesteps": [0, 10, 0, 10],
            "eval_return_mean": [1.0, 3.0, 3.0, 3.0],
        }
    )
    bands = curve_bands(aligned, "timesteps", seed=0, reps=200)
    np.testing.assert_allclose(bands["mean"], [2.0, 3.0])
    assert bands["ci_low"].iloc[0] <= 2.0 <= bands["ci_high"].iloc[0]
    assert bands["ci_low"].iloc[1] == bands["ci_high"].iloc[1] == 3.0  # no spread, no width
    single = curve_bands(aligned[aligned["run_id"] == "a"], "timesteps", seed=0, reps=200)
    assert single["ci_low"].isna().all()
