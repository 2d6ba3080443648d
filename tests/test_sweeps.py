"""Sweeps: the basic, joblib (local) and submitit launchers write one run folder per job."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_config, randbench

SMALL = ["env=pendulum", "env.n_envs=1", "budget=256", "eval.freq=256", "eval.n_episodes=1",
         "++algo.model.n_steps=256", "progress=false"]


def statuses(root, sweep):
    return {
        str(path.parent.relative_to(root / sweep)): json.loads(path.read_text())["status"]
        for path in (root / sweep).rglob("meta.json")
    }


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "local", "submitit_local"])
def test_multirun_writes_every_run_folder(launcher, runs_root):
    extra = [] if launcher == "basic" else [f"hydra/launcher={launcher}"]
    if launcher == "local":
        extra.append("hydra.launcher.n_jobs=2")
    if launcher == "submitit_local":
        extra.append("hydra.launcher.timeout_min=5")
    result = randbench(["train", "-m", "algo=ppo,a2c", "seed=0,1", *SMALL, *extra,
                        f"output.root={runs_root}", f"sweep_name={launcher}"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert statuses(runs_root, launcher) == {
        f"pendulum/{algo}/seed{seed}": "completed" for algo in ("ppo", "a2c") for seed in (0, 1)
    }
    # a re-run of the same sweep skips every finished run
    again = randbench(["train", "-m", "algo=ppo,a2c", "seed=0,1", *SMALL, f"output.root={runs_root}",
                       f"sweep_name={launcher}"])
    assert again.returncode == 0 and again.stdout.count("skipping") == 4


def test_slurm_launcher_config():
    cfg = make_config("hydra/launcher=slurm", return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.randbench_launcher.slurm_launcher.SlurmLauncher"
    from hydra.utils import get_class

    # hydra-submitit-launcher's launcher underneath (by name: Hydra's plugin scan loads modules anew)
    bases = {f"{cls.__module__}.{cls.__qualname__}" for cls in get_class(launcher._target_).__mro__}
    assert "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in bases
    assert (launcher.timeout_min, launcher.cpus_per_task, launcher.array_parallelism) == (720, 2, 64)
    # a run that outlives its job's time limit checkpoints on SIGUSR2 and continues requeued
    assert (launcher.signal_delay_s, launcher.max_num_timeout) == (120, 20)
    assert "partition" in launcher


def test_demo_sweep_preset():
    cfg = make_config("+sweep=demo", return_hydra_config=True)
    assert cfg.sweep_name == "demo" and cfg.env.name == "lunarlander" and cfg.budget == 1_000_000
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert dict(cfg.hydra.sweeper.params) == {"algo": "ppo,randpol", "seed": "0,1"}
    # each algorithm keeps its tuned LunarLander settings
    for algo in ("ppo", "randpol"):
        job = make_config("+sweep=demo", f"algo={algo}", return_hydra_config=True)
        assert job.hydra.runtime.choices["tuned"] == f"{algo}_lunarlander"
    assert "JoblibLauncher" in cfg.hydra.launcher._target_


@pytest.mark.slow
def test_variants_of_a_sweep_get_their_own_run_folders(runs_root):
    """A sweep over an algorithm option keeps every variant apart when each has an algo_label."""
    result = randbench(["train", "-m", "algo=ppo", "algo.model.gamma=0.9,0.99", "algo_label=ppo_g${algo.model.gamma}",
                        *SMALL, f"output.root={runs_root}", "sweep_name=variants"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert statuses(runs_root, "variants") == {
        "pendulum/ppo_g0.9/seed0": "completed", "pendulum/ppo_g0.99/seed0": "completed"
    }
    meta = json.loads((runs_root / "variants" / "pendulum" / "ppo_g0.9" / "seed0" / "meta.json").read_text())
    assert (meta["algo_label"], meta["algo_name"]) == ("ppo_g0.9", "ppo")
