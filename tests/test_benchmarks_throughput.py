"""benchmarks/throughput.py: every case measured, ratios taken within each group."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmarks import throughput


@pytest.mark.slow
def test_throughput_measures_tuned_defaults_and_bare_cases(tmp_path):
    output = tmp_path / "throughput.csv"
    table = throughput.main(
        ["--envs", "pendulum", "--steps", "256", "--repeats", "1", "--defaults", "--output", str(output)]
    )
    rows = table.set_index("condition")
    expected = {"raw", "bare", "ppo_tuned", "randpol_tuned", "raw_defaults", "bare_defaults", "ppo_defaults",
                "randpol_defaults", "raw_sb3", "ppo_sb3", "randpol_sb3"}
    assert expected <= set(rows.index)
    assert (rows["fps"] > 0).all() and (rows["timesteps"] >= 256).all()
    # a reference is 1 against itself; each group is compared with its own PPO and envs
    for reference, column in (("ppo_tuned", "ratio_vs_ppo"), ("raw", "ratio_vs_raw"), ("bare", "ratio_vs_bare"),
                              ("ppo_defaults", "ratio_vs_ppo"), ("bare_defaults", "ratio_vs_bare")):
        assert rows.at[reference, column] == 1.0
    runs = pd.read_csv(tmp_path / "throughput_runs.csv").set_index("condition")
    assert math.isclose(
        rows.at["randpol_defaults", "ratio_vs_ppo"],
        runs.at["randpol_defaults", "fps"] / runs.at["ppo_defaults", "fps"],
        rel_tol=2e-3,
    )
    assert rows.at["raw_sb3", "algo"] == "none" and rows.at["randpol_sb3", "algo"] == "randpol"
    assert rows.at["bare", "normalize"] == "False" and rows.at["randpol_defaults", "n_envs"] == 1
    assert pd.read_csv(output).shape[0] == len(rows)


@pytest.mark.slow
def test_step_breakdown_splits_learn_into_its_parts(tmp_path):
    from benchmarks import step_breakdown

    output = tmp_path / "breakdown.csv"
    table = step_breakdown.main(["--envs", "pendulum", "--algos", "randpol", "--steps", "256", "--output", str(output)])
    assert list(table["stack"]) == ["sb3", "lean"]
    parts = ["train_us", "env_us", "vec_wrappers_us", "rollout_other_us"]
    assert (table[parts] > 0).all().all()
    # the parts are disjoint pieces of learn(): together at most the total
    assert (table[parts].sum(axis=1) <= table["total_us"] * 1.001).all()
    assert ((table["train_share"] > 0) & (table["train_share"] < 1)).all()
    assert pd.read_csv(output).shape == table.shape


@pytest.mark.slow
def test_update_cost_splits_train_and_checks_the_batched_guard_changes_nothing(tmp_path):
    from benchmarks import update_cost

    output = tmp_path / "update_cost.csv"
    table = update_cost.main(["--envs", "hopper", "--steps", "4096", "--repeats", "1", "--output", str(output)])
    rows = table.set_index("condition")
    # Hopper's tuned RANDPOL has the KL guard: its per-step check is measured beside the batched one
    assert set(rows.index) == {"tuned", "guard_per_step", "actor_autograd", "autograd_per_step", "critic_ridge", "critic_lsq"}
    assert rows.at["guard_per_step", "guard_chunk"] == 1 and rows.at["tuned", "guard_chunk"] > 1
    assert bool(rows.at["guard_per_step", "same_result"]) and bool(rows.at["autograd_per_step", "same_result"])
    assert (rows["n_updates"] == 2).all()
    # train() is its critic fit and actor update (and a little bookkeeping), inside learn()
    assert ((rows["critic_us"] + rows["actor_us"] <= rows["train_us"]) & (rows["train_us"] < rows["total_us"])).all()
    assert rows.at["tuned", "ratio_vs_tuned"] == 1.0
    assert list(rows["critic_solver"]) == ["adam"] * 4 + ["ridge", "lsq"]
    assert pd.read_csv(output).shape[0] == 6
