"""The critic-fit diagnosis (sweeps/critic_fit.py): its measures on constructed matrices, and a
run of it on a trained RANDPOL run folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweeps.critic_fit import explained_variance, feature_spectrum, main
from sweeps.run import run
from tests.conftest import make_config


def test_explained_variance_is_one_for_a_perfect_fit_and_zero_for_the_mean():
    rng = np.random.default_rng(0)
    targets = rng.normal(size=100)
    assert explained_variance(targets, targets) == pytest.approx(1.0)
    assert explained_variance(np.full(100, targets.mean()), targets) == pytest.approx(0.0)
    assert np.isnan(explained_variance(np.zeros(5), np.ones(5)))


def test_feature_spectrum_of_constructed_matrices():
    rng = np.random.default_rng(0)
    low_rank = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 30))
    spectrum = feature_spectrum(low_rank)
    assert spectrum["rank"] == 2 and 1.0 <= spectrum["effective_rank"] <= 30.0
    identity = feature_spectrum(np.eye(40))
    # equal singular values: the effective rank is the dimension, the condition number 1
    assert identity["rank"] == 40 and identity["effective_rank"] == pytest.approx(40.0)
    assert identity["condition"] == pytest.approx(1.0) and identity["dead_share"] == 0.0
    with_dead = np.hstack([rng.normal(size=(50, 3)), np.zeros((50, 1))])
    assert feature_spectrum(with_dead)["dead_share"] == pytest.approx(0.25)


@pytest.mark.slow
def test_the_diagnosis_of_a_trained_randpol_run(runs_root, tmp_path, capsys):
    cfg = make_config(
        "algo=randpol", "env=pendulum", "budget=1024", "algo.model.n_steps=128", "env.n_envs=2",
        "algo.model.policy_kwargs.net_arch=[64,32]", "eval.freq=512", "eval.n_episodes=1", "progress=false",
        f"output.root={runs_root}",
    )
    result = run(cfg)
    out = tmp_path / "fit.csv"
    assert main([str(result.run_dir), "--out", str(out), "--rollouts", "2", "--widths", "50", "2000"]) == 0
    table = pd.read_csv(out)
    own = table[table["features"] == "run"]
    assert set(own["solver"]) == {"before", "adam", "lsq", "ridge", "unbounded"}
    assert set(own["rollout"]) == {0, 1} and (own["width"] == 32).all()
    # the last rollout has no held-out successor; every other fit is scored on the next rollout
    assert own.loc[own["rollout"] == 1, "ev_held_out"].isna().all()
    assert own.loc[own["rollout"] == 0, "ev_held_out"].notna().all()
    # dropping the bound can only lower the (ridge-penalized) in-sample error
    by = own[own["rollout"] == 0].set_index("solver")["ev_in_sample"]
    assert by["unbounded"] >= by["lsq"] - 1e-3 and by["lsq"] >= by["before"] - 1e-3
    widths = table[table["features"] == "relu [500, J]"]
    assert set(widths["width"]) == {50, 2000}
    # the exact box solve is skipped past MAX_LSQ_WIDTH; the spectrum is on every width row
    assert set(widths.loc[widths["width"] == 2000, "solver"]) == {"ridge", "unbounded"}
    assert widths["effective_rank"].notna().all() and (widths["rank"] <= widths["width"]).all()
    assert ((table["at_bound"] >= 0) & (table["at_bound"] <= 1)).all()
    assert "written:" in capsys.readouterr().out


@pytest.mark.slow
def test_a_run_that_is_not_randpol_is_refused(runs_root, tmp_path, capsys):
    cfg = make_config(
        "algo=ppo", "env=pendulum", "budget=256", "algo.model.n_steps=256", "++algo.model.batch_size=64",
        "env.n_envs=1", "eval.n_episodes=1", "progress=false", f"output.root={runs_root}",
    )
    result = run(cfg)
    assert main([str(result.run_dir), "--out", str(tmp_path / "fit.csv")]) == 2
    assert "expected a RANDPOL run" in capsys.readouterr().err
    assert not (tmp_path / "fit.csv").exists()


def test_one_rollout_is_refused(tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "fit.csv"), "--rollouts", "1"]) == 2
    assert "--rollouts 1 is invalid" in capsys.readouterr().err
