"""Checkpoints and resume: a run killed with SIGKILL continues from its last checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from sweeps.checkpoint import CHECKPOINT_DIR, STATE_FILE
from tests.conftest import RANDBENCH, REPO, TINY, randbench

CASES = {
    # (overrides, budget, checkpoint.freq): rollouts and updates shrunk so that each case takes seconds
    "ppo": (["algo=ppo", "env=pendulum", "env.n_envs=1", "algo.model.n_steps=256", "++algo.model.batch_size=64",
             "++algo.model.n_epochs=2"], 8192, 1024),
    "sac": (["algo=sac", "env=pendulum", *TINY["sac"]], 3000, 600),
    "randpol": (["algo=randpol", "env=pendulum", "env.n_envs=1", "++algo.model.n_steps=256",
                 "++algo.model.policy_kwargs.net_arch=[32,32]"], 8192, 1024),
}


def _state(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / CHECKPOINT_DIR / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _kill_after_two_checkpoints(args: list[str], run_dir: Path, freq: int) -> None:
    """Start ``randbench train`` and SIGKILL it once a checkpoint at >= 2 * freq steps is written."""
    process = subprocess.Popen([*RANDBENCH, "train", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        state = _state(run_dir)
        if state is not None and state["timesteps"] >= 2 * freq:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("algo", sorted(CASES))
def test_a_killed_run_resumes_from_its_checkpoint(algo, runs_root):
    overrides, budget, freq = CASES[algo]
    args = [*overrides, f"budget={budget}", f"checkpoint.freq={freq}", f"eval.freq={freq // 2}",
            "eval.n_episodes=1", "progress=false", f"output.root={runs_root}", "sweep_name=ck"]
    run_dir = runs_root / "ck" / "pendulum" / algo / "seed0"
    _kill_after_two_checkpoints(args, run_dir, freq)
    killed = json.loads((run_dir / "meta.json").read_text())
    assert killed["status"] == "running"  # SIGKILL: nothing could record it
    checkpoint = _state(run_dir)
    assert checkpoint is not None and checkpoint["timesteps"] >= 2 * freq

    done = randbench(["train", *args])
    assert done.returncode == 0, done.stderr
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["timesteps"] >= budget
    [resume] = meta["resumes"]
    assert resume["from_timesteps"] == checkpoint["timesteps"] and resume["previous_status"] == "running"
    assert meta["start_time"] == killed["start_time"]
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["timesteps"].is_monotonic_increasing and metrics["timesteps"].is_unique
    assert metrics["train_time_s"].is_monotonic_increasing and metrics["wall_time_s"].is_monotonic_increasing
    # the rows up to the checkpoint are the killed attempt's, then the resumed attempt's follow
    kept = metrics[metrics["timesteps"] <= checkpoint["timesteps"]]
    assert kept["timesteps"].tolist() == [row[0] for row in checkpoint["recorder"]["metrics"]]
    assert metrics["timesteps"].iloc[-1] == meta["timesteps"]
    progress = pd.read_csv(run_dir / "progress.csv")
    assert progress["time/total_timesteps"].is_monotonic_increasing
    assert progress["time/total_timesteps"].iloc[0] < checkpoint["timesteps"] < progress["time/total_timesteps"].iloc[-1]
    assert meta["checkpoints"]["count"] >= 2 and meta["checkpoints"]["freq"] == freq
    assert not (run_dir / CHECKPOINT_DIR).exists() and not (run_dir / ".lock.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("algo", sorted(CASES))
def test_a_resumed_run_reproduces_the_uninterrupted_run(algo, runs_root):
    """Pendulum's envs are saved with the checkpoint, so the episodes in flight continue and the
    evaluation env draws as it would have: the killed and resumed run's evaluations and training
    episodes are those of an uninterrupted run of the same seed, number for number."""
    overrides, budget, freq = CASES[algo]
    args = [*overrides, f"budget={budget}", f"checkpoint.freq={freq}", f"eval.freq={freq // 2}",
            "eval.n_episodes=2", "progress=false", "sweep_name=same"]
    whole = randbench(["train", *args, f"output.root={runs_root / 'whole'}"])
    assert whole.returncode == 0, whole.stderr
    resumed_dir = runs_root / "resumed" / "same" / "pendulum" / algo / "seed0"
    _kill_after_two_checkpoints([*args, f"output.root={runs_root / 'resumed'}"], resumed_dir, freq)
    checkpoint = _state(resumed_dir)
    assert checkpoint["envs_saved"] is True
    done = randbench(["train", *args, f"output.root={runs_root / 'resumed'}"])
    assert done.returncode == 0, done.stderr
    [resume] = json.loads((resumed_dir / "meta.json").read_text())["resumes"]
    assert resume["envs_restored"] is True and resume["from_timesteps"] == checkpoint["timesteps"]
    whole_dir = runs_root / "whole" / "same" / "pendulum" / algo / "seed0"
    columns = ["timesteps", "eval_return_mean", "eval_return_std", "eval_length_mean", "train_return_mean"]
    expected, got = (pd.read_csv(d / "metrics.csv")[columns] for d in (whole_dir, resumed_dir))
    assert (got["timesteps"] > checkpoint["timesteps"]).sum() >= 2  # evaluations after the resume
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    episodes = [pd.read_csv(d / "episodes.csv")[["timesteps", "return", "length"]] for d in (whole_dir, resumed_dir)]
    pd.testing.assert_frame_equal(episodes[1], episodes[0], check_exact=True)


def test_box2d_envs_are_not_saved_and_mujoco_envs_continue_exactly():
    """LunarLander's Box2D bodies do not pickle (its episodes restart on resume); a MuJoCo env
    saved mid-episode steps and resets exactly as the original from there on."""
    import numpy as np

    from envs.make import make_train_env
    from sweeps.checkpoint import env_state, restore_env_state

    lander = make_train_env("LunarLanderContinuous-v3", n_envs=1, seed=0)
    lander.reset()
    assert env_state(lander) is None
    assert restore_env_state(lander, None) is False
    lander.close()
    original = make_train_env("Hopper-v5", n_envs=2, seed=0, normalize=True, gamma=0.99)
    copy = make_train_env("Hopper-v5", n_envs=2, seed=5, normalize=True, gamma=0.99)
    original.reset()
    copy.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        original.step(rng.uniform(-1, 1, (2, 3)).astype(np.float32))
    assert restore_env_state(copy, env_state(original)) is True
    copy.obs_rms, copy.ret_rms = original.obs_rms.copy(), original.ret_rms.copy()
    for _ in range(1500):  # several episodes: terminations, time limits and seedless resets
        action = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
        (obs_a, rew_a, done_a, _), (obs_b, rew_b, done_b, _) = original.step(action), copy.step(action)
        assert np.array_equal(obs_a, obs_b) and np.array_equal(rew_a, rew_b) and np.array_equal(done_a, done_b)
    original.close()
    copy.close()


@pytest.mark.slow
def test_force_and_a_changed_config_start_from_step_zero(runs_root):
    overrides, *_ = CASES["ppo"]
    args = [*overrides, "budget=2048", "checkpoint.freq=512", "eval.freq=512", "eval.n_episodes=1",
            "progress=false", f"output.root={runs_root}", "sweep_name=ck0"]
    run_dir = runs_root / "ck0" / "pendulum" / "ppo" / "seed0"
    assert randbench(["train", *args]).returncode == 0
    assert not (run_dir / CHECKPOINT_DIR).exists()  # removed once completed
    # an interrupted run whose checkpoint was made with another config does not resume from it
    (run_dir / CHECKPOINT_DIR).mkdir()
    (run_dir / CHECKPOINT_DIR / STATE_FILE).write_text(json.dumps({"format": 1, "config_digest": "other",
                                                                    "timesteps": 1024}))
    meta = json.loads((run_dir / "meta.json").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    done = randbench(["train", *args])
    assert done.returncode == 0, done.stderr
    assert "resumes" not in json.loads((run_dir / "meta.json").read_text())
    assert not (run_dir / CHECKPOINT_DIR).exists()


@pytest.mark.slow
def test_a_bad_checkpoint_frequency_is_refused(runs_root):
    done = randbench(["train", "algo=ppo", "env=pendulum", "checkpoint.freq=0", f"output.root={runs_root}"])
    assert done.returncode == 2 and "checkpoint.freq=0 is invalid" in done.stderr


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_and_the_re_run_loses_nothing(runs_root):
    """Slurm's cancel and pre-emption send SIGTERM first: the run checkpoints at the next rollout
    boundary, records interrupted (exit 130), and its re-run resumes exactly there."""
    overrides, *_ = CASES["ppo"]
    args = [*overrides, "budget=100000", "checkpoint.freq=50000", "eval.freq=512", "eval.n_episodes=1",
            "progress=true", f"output.root={runs_root}", "sweep_name=term"]
    run_dir = runs_root / "term" / "pendulum" / "ppo" / "seed0"
    process = subprocess.Popen([*RANDBENCH, "train", *args], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    evaluations = 0
    for line in process.stdout:
        evaluations += "eval return" in line
        if evaluations == 3:
            break
    process.send_signal(signal.SIGTERM)
    output = process.stdout.read()
    assert process.wait(timeout=60) == 130, output
    meta = json.loads((run_dir / "meta.json").read_text())
    checkpoint = _state(run_dir)
    assert meta["status"] == "interrupted" and "SIGTERM" in meta["error"] and "checkpoint written" in meta["error"]
    assert checkpoint is not None and checkpoint["timesteps"] == meta["timesteps"] < 50000
    # the re-run: a shorter budget is another config, so resume with the same one and stop it early
    resumed = subprocess.Popen([*RANDBENCH, "train", *args], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    for line in resumed.stdout:
        if "eval return" in line:
            break
    resumed.send_signal(signal.SIGTERM)
    resumed.stdout.read()
    assert resumed.wait(timeout=60) == 130
    again = json.loads((run_dir / "meta.json").read_text())
    [resume] = again["resumes"]
    assert resume["from_timesteps"] == meta["timesteps"] and resume["lost_timesteps"] == 0
    assert again["timesteps"] > meta["timesteps"]
