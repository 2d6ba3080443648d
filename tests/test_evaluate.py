"""`randbench evaluate` (sweeps/evaluate.py): a run's final policy over many episodes, and the
learning-curve statistics a policy that never changes would show."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from sweeps.evaluate import RESULT_NAME, EpisodeEnds, JointLimits, evaluate_run, fixed_policy_curve
from sweeps.run import run
from tests.conftest import TINY, make_config, randbench


@pytest.fixture(scope="module")
def hopper_run(tmp_path_factory) -> Path:
    """A tiny PPO run on Hopper-v5 (normalized observations), one evaluation of 3 episodes at its end."""
    root = tmp_path_factory.mktemp("evaluate_runs")
    result = run(make_config(
        "algo=ppo", "env=hopper", "budget=256", "eval.freq=256", "eval.n_episodes=3",
        f"output.root={root}", "progress=false", *TINY["ppo"],
    ))
    assert result.status == "completed"
    return root / "default" / "hopper" / "ppo" / "seed0"


def test_fixed_policy_of_constant_return_holds_and_its_best_is_its_return():
    stats = fixed_policy_curve(np.full(50, 1000.0), n_evaluations=20, episodes_per_evaluation=10, reps=200)
    assert stats["fixed_policy_best"] == stats["fixed_policy_final"] == 1000.0
    assert stats["fixed_policy_holds_90"] == 1.0


def test_fixed_policy_of_a_falling_gait_shows_a_best_above_its_mean_and_fails_the_criterion():
    # a gait that falls early in half of its episodes: returns 500 or 3000, mean 1750
    returns = np.array([500.0, 3000.0] * 50)
    stats = fixed_policy_curve(returns, n_evaluations=20, episodes_per_evaluation=10, reps=2000, seed=1)
    # one 10-episode mean has standard deviation 1250 / sqrt(10) = 395; the best of 20 is about 1.87
    # standard deviations above the mean
    assert 2300 < stats["fixed_policy_best"] < 2700
    assert stats["fixed_policy_best_low"] < stats["fixed_policy_best"] < stats["fixed_policy_best_high"]
    assert abs(stats["fixed_policy_final"] - 1750) < 100
    assert stats["fixed_policy_holds_90"] < 0.05
    again = fixed_policy_curve(returns, n_evaluations=20, episodes_per_evaluation=10, reps=2000, seed=1)
    assert again == stats


def test_fixed_policy_refuses_empty_returns_and_bad_counts():
    with pytest.raises(ValueError, match="returns is empty"):
        fixed_policy_curve(np.zeros(0), 3, 3, 10)
    with pytest.raises(ValueError, match="n_evaluations=0 is invalid"):
        fixed_policy_curve(np.ones(3), 0, 3, 10)


def test_evaluate_reproduces_the_learning_curves_evaluation_and_writes_its_result(hopper_run):
    metrics = (hopper_run / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 2  # header and the one evaluation
    run_seed = 0
    # the learning curve's evaluation env is seeded with seed + 10000: the same seed and episode
    # count give the same episodes, so the command evaluates as the harness does
    same = evaluate_run(hopper_run, episodes=3, seed=run_seed + 10_000, reps=50, n_envs=1)
    row = next(csv.DictReader((hopper_run / "metrics.csv").open()))
    assert same["return_mean"] == pytest.approx(float(row["eval_return_mean"]), rel=1e-12)
    assert same["normalization"] and same["deterministic"]

    info = evaluate_run(hopper_run, episodes=7, reps=50)
    written = json.loads((hopper_run / RESULT_NAME).read_text())
    assert written == json.loads(json.dumps(info))
    assert info["seed"] == run_seed + 30_000 and info["episodes"] == 7 == len(info["returns"]) == len(info["lengths"])
    assert info["return_mean"] == pytest.approx(np.mean(info["returns"]))
    assert info["curve_evaluations"] == 1 and info["curve_episodes_per_evaluation"] == 3
    assert info["curve_best"] == info["curve_final"] == pytest.approx(float(row["eval_return_mean"]))
    assert 0.0 <= info["fixed_policy_holds_90"] <= 1.0
    assert evaluate_run(hopper_run, episodes=7, reps=50)["returns"] == info["returns"]  # seeded
    # how the episodes ended, in the order of their returns: an untrained Hopper falls long before
    # its 1,000-step limit, and Hopper reports its forward speed at every step
    assert len(info["terminated"]) == len(info["speed_mean"]) == len(info["speed_last"]) == 7
    assert info["terminated"] == [n < 1000 for n in info["lengths"]] and info["terminated_share"] == 1.0
    for n, mean, last in zip(info["lengths"], info["speed_mean"], info["speed_last"], strict=True):
        if n <= 50:  # the last 50 steps are the whole episode
            assert last == pytest.approx(mean)
    # Hopper's limited joints are its thigh, leg and foot hinges (the root's three are free)
    assert list(info["joint_limit_share"]) == ["thigh_joint", "leg_joint", "foot_joint"]
    assert all(0.0 <= share <= 1.0 for share in info["joint_limit_share"].values())
    assert info["n_envs"] == 7  # the default 10 copies, capped at one per episode
    one = evaluate_run(hopper_run, episodes=7, reps=50, n_envs=1)
    assert one["n_envs"] == 1 and one["episodes"] == 7


def test_evaluate_cli_prints_a_table_and_refuses_bad_input(hopper_run, tmp_path):
    done = randbench(["evaluate", str(hopper_run), "--episodes", "2", "--reps", "20"])
    assert done.returncode == 0, done.stderr
    assert "fixed-policy best" in done.stdout and str(hopper_run) in done.stdout
    missing = randbench(["evaluate", str(hopper_run), str(tmp_path / "nowhere")])
    assert missing.returncode == 2 and "does not exist or is not a directory" in missing.stderr
    copies = randbench(["evaluate", str(hopper_run), "--episodes", "2", "--n-envs", "3"])
    assert copies.returncode == 2 and "n_envs=3 is invalid for 2 episodes" in copies.stderr
    episodes = randbench(["evaluate", str(hopper_run), "--episodes", "0"])
    assert episodes.returncode == 2 and "--episodes: 0 must be >= 1" in episodes.stderr


def test_episode_ends_follow_the_counted_episodes_of_each_env_copy():
    ends = EpisodeEnds(n_envs=2, last=2)

    def step(i, speed, done=False, truncated=False):
        info = {"x_velocity": speed} if speed is not None else {}
        if done:
            info["TimeLimit.truncated"] = truncated
        ends({"i": i, "info": info, "done": done}, {})

    # copy 0 runs 1, 2, 3, 6 and falls; copy 1 runs 1, 1 and reaches its time limit in between
    step(0, 1.0); step(1, 1.0); step(0, 2.0); step(1, 1.0, done=True, truncated=True)
    step(0, 3.0); step(0, 6.0, done=True)
    summary = ends.summary()
    assert summary["terminated"] == [False, True] and summary["terminated_share"] == 0.5
    assert summary["speed_mean"] == [1.0, 3.0] and summary["speed_last"] == [1.0, 4.5]

    silent = EpisodeEnds(n_envs=1)  # a task without a forward speed (Pendulum, LunarLander)
    silent({"i": 0, "info": {"TimeLimit.truncated": True}, "done": True}, {})
    assert silent.summary() == {"terminated": [False], "terminated_share": 0.0}


def test_joint_limits_count_the_steps_a_joint_spends_at_its_stop():
    import gymnasium as gym

    class Copies:  # a VecEnv wrapper over a base VecEnv's env copies, as evaluate_policy passes it
        def __init__(self, envs):
            self.venv = type("Base", (), {"envs": envs})()

    env = gym.make("Hopper-v5")
    env.reset(seed=0)
    hopper = env.unwrapped
    joints = JointLimits(margin=0.05)
    qpos, qvel = hopper.init_qpos.copy(), hopper.init_qvel.copy()
    qpos[3] = -0.5  # the thigh bent (it starts straight, at its upper stop, as the leg does)

    def step(leg, foot, done=False):
        qpos[4], qpos[5] = leg, foot  # leg_joint range [-150, 0] deg, foot_joint [-45, 45] deg
        hopper.set_state(qpos, qvel)
        joints({"env": Copies([env]), "i": 0, "done": done}, {})

    step(0.0, 0.0)                   # leg straight: at its upper stop
    step(-1.0, np.deg2rad(45) + 0.01)  # foot past its upper limit (soft limits)
    step(-0.97, 0.0)                 # nothing at a limit
    step(0.0, 0.0, done=True)        # the step that ends an episode is not counted
    summary = joints.summary()
    assert summary["joint_limit_margin"] == 0.05
    assert summary["joint_limit_share"] == pytest.approx(
        {"thigh_joint": 0.0, "leg_joint": 1 / 3, "foot_joint": 1 / 3})
    env.close()

    flat = JointLimits()  # a task without MuJoCo joints (LunarLander) records nothing
    flat({"env": Copies([gym.make("LunarLanderContinuous-v3")]), "i": 0, "done": False}, {})
    assert flat.summary() == {}
    with pytest.raises(ValueError, match="margin=0"):
        JointLimits(margin=0)
