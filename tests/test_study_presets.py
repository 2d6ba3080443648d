"""Every committed study run is what its preset composes today.

The study's variants are deltas on a task's tuned RANDPOL; when a tuned file changes (a study
result adopted), the presets must keep composing the configs their committed runs were made with,
or a re-run of the preset would refuse those runs (another config) and the page's commands would
no longer reproduce it. This holds each run folder under ``results/study/`` against the overrides
that made it, with the check the sweep itself uses (``completed_config_differences``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps.run import completed_config_differences
from sweeps.rundir import read_status
from tests.conftest import REPO, make_config

STUDY = REPO / "results" / "study"

# (sweep folder, task folder, label) -> the overrides of `randbench train` that made the run.
RUNS: dict[tuple[str, str, str], tuple[str, ...]] = {
    **{("lunarlander", "lunarlander", f"randpol_{v}"): ("+sweep=study/lunarlander", f"+randpol_variant={v}")
       for v in ("guard", "natural", "normobs_guard", "fourier_natural", "fourier_guard", "guard_tight",
                 "guard_loose", "fourier_raw_guard", "natural_damped")},
    ("lunarlander", "lunarlander", "randpol_mlp_critic"): ("+sweep=study/swap_lunarlander", "+swap=randpol_mlp_critic",
                                                           "tuned=randpol_lunarlander_n_steps_128"),
    ("lunarlander", "lunarlander", "ppo_random_critic"): ("+sweep=study/swap_lunarlander", "+swap=ppo_random_critic"),
    **{("lunarlander", "lunarlander", f"randpol_{v}"): ("+sweep=study/settings_lunarlander", f"+randpol_variant={v}")
       for v in ("discount_guard", "ppo_update_guard", "ppo_update_discount_guard")},
    **{("lunarlander", "lunarlander", f"randpol_{v}"): ("+sweep=study/rollout_lunarlander", f"+randpol_variant={v}")
       for v in ("n_steps_256_guard", "n_steps_512_guard", "natural_damped_n_steps_512",
                 "n_steps_1024_guard", "fourier_raw_n_steps_512_guard")},
    ("sparse_lunarlander", "lunarlander_sparse", "randpol_n_steps_512_guard"): (
        "+sweep=study/sparse_lunarlander", "algo=randpol", "+randpol_variant=n_steps_512_guard"),
    # Go1: the variant at PPO's Go1 minibatch, and PPO's own Go1 rows run beside it into the study.
    ("go1", "go1", "randpol_ppo_update_guard"): ("+sweep=study/actor_go1", "+randpol_variant=ppo_update_guard",
                                                 "algo.model.batch_size=512"),
    ("go1", "go1", "randpol_ppo_update_guard_decay"): ("+sweep=study/actor_go1", "+randpol_variant=ppo_update_guard_decay",
                                                       "algo.model.batch_size=512"),
    ("go1", "go1", "ppo"): ("+sweep=bench/go1", "algo=ppo", "output.root=results/study"),
    ("go1", "go1", "randpol"): ("+sweep=bench/go1", "algo=randpol", "output.root=results/study"),
    ("ppo_hopper", "hopper", "ppo"): ("+sweep=bench/hopper", "algo=ppo", "output.root=results/study",
                                      "sweep_name=ppo_hopper", "sweep_jobs=null"),
    **{("hopper", "hopper", f"randpol_{v}"): ("+sweep=study/hopper", f"+randpol_variant={v}")
       for v in ("guard", "natural", "fourier_raw_guard")},
    **{("hopper", "hopper", f"randpol_{v}"): ("+sweep=study/actor_hopper", f"+randpol_variant={v}")
       for v in ("ppo_update", "ppo_update_guard")},
    **{("hopper", "hopper", f"randpol_{v}"): ("+sweep=study/settings_hopper", f"+randpol_variant={v}")
       for v in ("ppo_settings_guard", "ppo_update_settings_guard", "ppo_update_discount_guard",
                 "ppo_update_std_guard", "ppo_update_settings_guard_linear")},
    # The swap preset also runs PPO, so the tuned RANDPOL it was run over is named on the command line.
    ("hopper", "hopper", "randpol_mlp_critic"): ("+sweep=study/swap_hopper", "+swap=randpol_mlp_critic",
                                                 "tuned=randpol_zoo_hopper"),
    ("hopper", "hopper", "ppo_random_critic"): ("+sweep=study/swap_hopper", "+swap=ppo_random_critic"),
    ("hopper_long", "hopper", "randpol_guard"): ("+sweep=study/hopper_long", "+randpol_variant=guard"),
    ("sparse_lunarlander", "lunarlander_sparse", "randpol"): ("+sweep=study/sparse_lunarlander", "algo=randpol"),
    ("sparse_lunarlander", "lunarlander_sparse", "ppo"): ("+sweep=study/sparse_lunarlander", "algo=ppo"),
    **{("bipedalwalker", "bipedalwalker", f"randpol_{v}"): ("+sweep=study/actor_bipedalwalker", f"+randpol_variant={v}",
                                                            "algo.model.clip_range=0.18")
       for v in ("ppo_update_guard", "ppo_update_guard_n_steps_512", "ppo_update_guard_linear")},
    ("humanoid", "humanoid", "randpol_ppo_update_guard"): (
        "+sweep=study/actor_humanoid", "+randpol_variant=ppo_update_guard", "algo.model.clip_range=0.3",
        "algo.model.batch_size=256", "algo.model.n_epochs=5", "algo.model.learning_rate=3.56987e-05",
        "algo.model.max_grad_norm=2", "algo.model.ent_coef=0.00238306", "algo.model.policy_kwargs.log_std_init=-2"),
    ("update_check_hopper", "hopper", "randpol"): ("+sweep=study/update_check_hopper",),
    ("width_hopper", "hopper", "randpol_j2000"): ("+sweep=study/width_hopper", "+randpol_variant=width_2000"),
    ("gait_hopper", "hopper", "randpol_tanh"): ("+sweep=study/gait_hopper", "+randpol_variant=tanh"),
    ("gait_hopper", "hopper", "randpol_tuned_mlp_critic"): ("+sweep=study/gait_hopper", "+randpol_variant=mlp_critic"),
    ("gait_hopper", "hopper", "randpol_std_lr_2"): ("+sweep=study/gait_hopper", "+randpol_variant=std_lr_2"),
    ("gait_hopper", "hopper", "randpol_n_steps_8192"): ("+sweep=study/gait_hopper", "+randpol_variant=n_steps_8192"),
    ("decay_bipedalwalker", "bipedalwalker", "randpol_linear"): ("+sweep=study/decay_bipedalwalker",
                                                                 "+randpol_variant=linear"),
    **{("width_bipedalwalker", "bipedalwalker", f"randpol_j{j}"): ("+sweep=study/width_bipedalwalker",
                                                                   f"+randpol_variant=width_{j}")
       for j in (100, 500, 800, 1000, 2000)},
}


def committed_runs() -> list[Path]:
    """The run folders under results/study whose meta.json says completed."""
    return sorted(p.parent for p in STUDY.glob("*/*/*/seed*/meta.json") if read_status(p.parent) == "completed")


def label_of(run: Path) -> tuple[str, str, str]:
    sweep, task, label = run.relative_to(STUDY).parts[:3]
    return sweep, task, label


COMMITTED = committed_runs()


def test_every_committed_study_label_has_its_overrides():
    assert COMMITTED, "no committed study runs found"
    assert {label_of(run) for run in COMMITTED} - set(RUNS) == set(), (
        "a study label without the overrides that made it: add it to RUNS")


@pytest.mark.parametrize("run", COMMITTED, ids=lambda run: str(run.relative_to(STUDY)))
def test_study_preset_composes_the_committed_runs_config(run):
    overrides = RUNS.get(label_of(run))
    assert overrides is not None, f"{run}: no overrides in RUNS"
    seed = int(run.name.removeprefix("seed"))
    cfg = make_config(*overrides, f"seed={seed}", "hydra/launcher=basic")
    assert completed_config_differences(cfg, run) == []
