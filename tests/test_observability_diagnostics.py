"""Training diagnostics from progress.csv (analysis/progress.py) and their report figure
(analysis/figures.py `training_diagnostics`), on real run folders of an on-policy, an off-policy
and a sparse (RLx2) algorithm, and on folders without or with a damaged progress.csv."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.figures import FIGURES, plot_training_diagnostics
from analysis.load import load_runs
from analysis.progress import load_progress
from sweeps.run import run
from tests.conftest import TINY, make_config

# End-to-end: `make test` leaves this module out (`make test-slow` and CI run it).
pytestmark = pytest.mark.slow

ALGOS = ("ppo", "sac", "rlx2_td3")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("diagnostics_runs")
    for algo in ALGOS:
        result = run(make_config(
            f"algo={algo}", "env=pendulum", "budget=2000", "eval.freq=1000", "eval.n_episodes=1",
            f"output.root={root}", "progress=false", *TINY[algo],
        ))
        assert result.status == "completed"
    return root / "default"


def test_each_family_gets_its_diagnostics_against_timesteps(runs):
    progress, problems = load_progress(load_runs(runs))
    assert problems == []
    shown = progress.groupby("algo")["diagnostic"].agg(set).to_dict()
    assert shown["ppo"] == {"approx_kl", "entropy", "explained_variance"}
    assert shown["sac"] == {"critic_loss"}
    assert shown["rlx2_td3"] == {"critic_loss", "sparsity"}
    assert set(progress.loc[progress["diagnostic"] == "sparsity", "series"]) == {"actor", "critic"}
    # entropy is minus SB3's entropy_loss, at the dump's env steps
    log = pd.read_csv(runs / "pendulum" / "ppo" / "seed0" / "progress.csv").dropna(subset=["train/entropy_loss"])
    entropy = progress[(progress["algo"] == "ppo") & (progress["diagnostic"] == "entropy")]
    assert entropy["timesteps"].tolist() == log["time/total_timesteps"].tolist()
    assert entropy["value"].to_numpy() == pytest.approx(-log["train/entropy_loss"].to_numpy())
    sparsity = progress.loc[progress["diagnostic"] == "sparsity", "value"]
    assert ((sparsity > 0.5) & (sparsity < 1)).all()  # RLx2's conf: 90% actor, 85% critic
    assert (progress["timesteps"].between(1, 2000 + 200)).all()


def test_diagnostics_figure_has_a_panel_per_diagnostic(runs):
    progress, _ = load_progress(load_runs(runs))
    figure = plot_training_diagnostics(progress)
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert titles == ["pendulum: approx. KL", "pendulum: entropy", "pendulum: explained variance",
                      "pendulum: critic loss", "pendulum: RLx2 sparsity"]
    kl, critic = figure.axes[0], figure.axes[3]
    assert kl.get_yscale() == "log" and len(kl.lines) == 1  # ppo only
    assert len(critic.lines) == 2  # sac and rlx2_td3
    assert len(figure.axes[4].lines) == 2 and figure.axes[4].lines[1].get_linestyle() == "--"
    assert "training_diagnostics" in FIGURES


def test_old_run_folders_without_progress_csv_and_damaged_ones(runs, tmp_path):
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    (copy / "pendulum" / "ppo" / "seed0" / "progress.csv").unlink()  # written before progress.csv existed
    damaged = copy / "pendulum" / "sac" / "seed0" / "progress.csv"
    damaged.write_text("train/critic_loss\n1.0\n")  # no time/total_timesteps column
    loaded = load_runs(copy)
    assert len(loaded.completed) == 3  # every run stays in the tables
    progress, problems = load_progress(loaded)
    assert set(progress["algo"]) == {"rlx2_td3"}
    [problem] = problems
    assert problem.file == "progress.csv" and not problem.skipped
    assert problem.folder == damaged.parent and "no 'time/total_timesteps' column" in problem.message
    empty, _ = load_progress(load_runs(copy / "pendulum" / "ppo"))
    assert empty.empty and list(empty.columns)[:4] == ["run_id", "env", "algo", "seed"]
    assert np.isfinite(progress["value"]).all()
