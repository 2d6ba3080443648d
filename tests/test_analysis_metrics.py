"""Per-run metrics and curve alignment against hand-computed values."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.analyze import analyze
from analysis.envspec import EnvSpec, load_env_specs
from analysis.load import load_runs
from analysis.metrics import (
    align_curves,
    final_return,
    first_crossing,
    median_fps,
    normalized_auc,
    run_metrics,
    thresholds,
    train_time_to_budget,
)
from tests.helpers.synthetic_runs import write_run

PENDULUM = EnvSpec("pendulum", "Pendulum-v1", 2000, -200.0, -1400.0, -150.0)


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """A config tree of our own, so the expected numbers do not depend on conf/env's values."""
    env_dir = tmp_path / "conf" / "env"
    env_dir.mkdir(parents=True)
    (env_dir / "pendulum.yaml").write_text(
        "name: pendulum\nid: Pendulum-v1\nbudget: 2000\nreward_threshold: -200.0\n"
        "score_bounds: {min: -1400.0, max: -150.0}\n"
    )
    return tmp_path / "conf"


def curve(timesteps, returns, train=None, wall=None, fps=None) -> pd.DataFrame:
    n = len(timesteps)
    return pd.DataFrame(
        {
            "timesteps": timesteps,
            "eval_return_mean": returns,
            "train_time_s": train if train is not None else np.arange(1, n + 1, dtype=float),
            "wall_time_s": wall if wall is not None else np.arange(1, n + 1, dtype=float) + 0.5,
            "fps": fps if fps is not None else np.full(n, 100.0),
        }
    )


def test_final_return_is_mean_of_last_k_points():
    assert final_return([1, 2, 3, 4, 5], k=3) == 4.0
    assert final_return([1, 2, 3, 4, 5], k=1) == 5.0
    assert final_return([1, 2], k=3) == 1.5  # fewer points than k: all of them
    with pytest.raises(ValueError, match="k=0"):
        final_return([1, 2], k=0)
    with pytest.raises(ValueError, match="no evaluation points"):
        final_return([], k=3)


def test_auc_by_hand():
    # grid 0,100,200,300,400; held at 0 before 100: 0 + 500 + 1000 + 1500 = 3000 over 400 steps
    assert normalized_auc([100, 200, 300, 400], [0, 10, 10, 20], budget=400) == pytest.approx(7.5)
    assert normalized_auc([100, 300], [5, 5], budget=1000) == pytest.approx(5.0)  # a flat curve is its value
    # a last rollout past the budget is cut at the budget: value 20 at 400, area 0 + 2000
    assert normalized_auc([200, 600], [0, 40], budget=400) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="budget=0"):
        normalized_auc([1], [1], budget=0)


def test_first_crossing_and_not_reached():
    c = curve(
        [500, 1000, 1500, 2000],
        [-500, -300, -200, -100],
        train=[1.0, 2.0, 3.0, 4.0],
        wall=[1.5, 3.0, 4.5, 6.0],
    )
    hit = first_crossing(c, -200.0)  # equal to the threshold counts as reached
    assert (hit.reached, hit.timesteps, hit.train_time_s, hit.wall_time_s) == (True, 1500.0, 3.0, 4.5)
    miss = first_crossing(c, 0.0)
    assert miss.reached is False
    assert np.isnan(miss.timesteps) and np.isnan(miss.train_time_s)
    assert first_crossing(c, float("nan")).reached is False


def test_train_time_to_budget_interpolates_at_the_budget():
    assert train_time_to_budget([4096], [4.0], budget=2048) == pytest.approx(2.0)  # rollout overshoot
    assert train_time_to_budget([512, 1024], [1.0, 3.0], budget=768) == pytest.approx(2.0)
    assert train_time_to_budget([512, 1024], [1.0, 3.0], budget=1024) == pytest.approx(3.0)
    assert np.isnan(train_time_to_budget([512], [1.0], budget=1024))  # stopped before the budget


def test_median_fps_ignores_undefined_intervals():
    assert median_fps([np.nan, 100.0, 300.0, 200.0]) == 200.0
    assert np.isnan(median_fps([np.nan]))


def test_align_curves_with_different_evaluation_points():
    curves = pd.concat(
        [
            curve([0, 100, 200, 300], [0, 10, 20, 30]).assign(run_id="a", env="e", algo="x", seed=0),
            curve([0, 150, 300], [0, 30, 30]).assign(run_id="b", env="e", algo="x", seed=1),
        ]
    )
    aligned = align_curves(curves, num=4)
    grid = aligned[aligned["run_id"] == "a"]["timesteps"].to_numpy()
    np.testing.assert_allclose(grid, [0, 100, 200, 300])
    np.testing.assert_allclose(aligned[aligned["run_id"] == "a"]["eval_return_mean"], [0, 10, 20, 30])
    np.testing.assert_allclose(aligned[aligned["run_id"] == "b"]["eval_return_mean"], [0, 20, 30, 30])


def test_align_curves_spans():
    curves = pd.concat(
        [
            curve([0, 100, 200, 300], [0, 10, 20, 30]).assign(run_id="a", env="e", algo="x", seed=0),
            curve([100, 250], [10, 25]).assign(run_id="b", env="e", algo="x", seed=1),
        ]
    )
    common = align_curves(curves, num=4, span="common")
    np.testing.assert_allclose(common[common["run_id"] == "a"]["timesteps"], [100, 150, 200, 250])
    assert common["eval_return_mean"].notna().all()  # every grid value has every run
    union = align_curves(curves, num=4, span="union")
    b = union[union["run_id"] == "b"]
    np.testing.assert_allclose(b["timesteps"], [0, 100, 200, 300])
    assert np.isnan(b["eval_return_mean"].iloc[0]) and np.isnan(
        b["eval_return_mean"].iloc[3]
    )  # no extrapolation
    assert b["eval_return_mean"].iloc[2] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="span='all'"):
        align_curves(curves, span="all")


def test_thresholds_from_conf_and_from_fraction():
    curves = pd.concat(
        [
            curve([1, 2, 3], [-900, -800, -700]).assign(run_id="a", env="pendulum", algo="ppo"),
            curve([1, 2, 3], [-300, -200, -200]).assign(run_id="b", env="pendulum", algo="randpol"),
        ]
    )
    specs = {"pendulum": PENDULUM}
    assert thresholds(curves, specs) == {"pendulum": -200.0}
    # best mean final return (k=3): randpol -233.33; halfway from -1400 to it
    assert thresholds(curves, specs, fraction=0.5)["pendulum"] == pytest.approx(
        -1400 + 0.5 * (1400 - 700 / 3)
    )
    assert np.isnan(thresholds(curves, {})["pendulum"])  # unknown env: no threshold, not an error
    with pytest.raises(ValueError, match="fraction 0"):
        thresholds(curves, specs, fraction=0)


def test_run_metrics_from_run_folders(tmp_path: Path, conf_dir: Path):
    write_run(
        tmp_path,
        "pendulum",
        "ppo",
        0,
        [500, 1000, 1500, 2000],
        [-1000, -600, -300, -150],
        train_time_s=[1, 2, 3, 4],
        budget=2000,
        params=(9026, 9026),
    )
    write_run(
        tmp_path,
        "pendulum",
        "randpol",
        0,
        [500, 1000, 1500, 2000],
        [-1300, -1200, -1100, -1000],
        train_time_s=[0.5, 1, 1.5, 2],
        budget=2000,
        params=(700_000, 3_000),
    )
    runs = load_runs(tmp_path / "t")
    specs = load_env_specs(conf_dir)
    table = run_metrics(runs.curves, runs.runs, specs, thresholds(runs.curves, specs)).set_index("algo")
    ppo, randpol = table.loc["ppo"], table.loc["randpol"]
    assert ppo["final_return"] == pytest.approx(-350.0)
    assert ppo["score"] == pytest.approx((-350 + 1400) / 1250)
    # grid 0,500,...,2000 with -1000 held before 500: 500*(-1000 - 800 - 450 - 225) / 2000
    assert ppo["auc"] == pytest.approx(-618.75)
    assert bool(ppo["reached"]) and ppo["timesteps_to_threshold"] == 2000
    assert ppo["train_time_to_threshold_s"] == pytest.approx(4.0)
    assert ppo["wall_time_to_threshold_s"] == pytest.approx(4.0 + 3 * 0.1)  # 0.1 s per earlier evaluation
    assert ppo["median_fps"] == pytest.approx(500.0)
    assert ppo["train_time_to_budget_s"] == pytest.approx(4.0)
    assert (ppo["params_total"], ppo["params_trainable"]) == (9026, 9026)
    assert not bool(randpol["reached"]) and np.isnan(randpol["train_time_to_threshold_s"])
    assert randpol["median_fps"] == pytest.approx(1000.0)
    assert (randpol["params_total"], randpol["params_trainable"]) == (700_000, 3_000)


def test_analyze_uses_an_explicit_conf_dir(tmp_path: Path, conf_dir: Path):
    (conf_dir / "env" / "pendulum.yaml").write_text(
        "name: pendulum\nid: Pendulum-v1\nreward_threshold: -1250.0\nscore_bounds: {min: -1500.0, max: -500.0}\n"
    )
    write_run(tmp_path, "pendulum", "ppo", 0, [500, 1000], [-1300, -1000], budget=1000)
    write_run(tmp_path, "pendulum", "a2c", 0, [500, 1000], [-1400, -1400], budget=1000)
    result = analyze(tmp_path, conf_dir=conf_dir, reps=100)
    table = result.run_metrics.set_index("algo")
    assert result.thresholds == {"pendulum": -1250.0}
    assert table.loc["ppo", "score"] == pytest.approx((-1150 + 1500) / 1000)
    assert table.loc["ppo", "timesteps_to_threshold"] == 1000
