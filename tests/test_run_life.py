"""The life of a run: skip when completed, force, interrupt by a real signal, failure, divergence."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from sweeps.run import run
from tests.conftest import RANDBENCH, REPO, make_config, randbench
from tests.test_hardening_runs import failing_override

QUICK = ["algo=ppo", "env=pendulum", "env.n_envs=1", "algo.model.n_steps=256", "++algo.model.batch_size=64",
         "eval.n_episodes=1", "progress=false"]


def meta_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


def test_completed_run_is_skipped_and_force_reruns_it(runs_root, capsys):
    overrides = [*QUICK, "budget=512", "eval.freq=256", f"output.root={runs_root}", "sweep_name=s"]
    first = run(make_config(*overrides))
    assert first.status == "completed"
    stamps = {p.name: p.stat().st_mtime_ns for p in first.run_dir.iterdir()}
    second = run(make_config(*overrides))
    assert second.status == "skipped"
    assert "skipping" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in first.run_dir.iterdir()} == stamps
    # what `randbench evaluate` made of the first model describes a model the re-run replaces
    (first.run_dir / "final_eval.json").write_text(json.dumps({"model_sha256": "of the first model"}))
    third = run(make_config(*overrides, "force=true"))
    assert third.status == "completed"
    assert (first.run_dir / "model.zip").stat().st_mtime_ns > stamps["model.zip"]
    assert not (first.run_dir / "final_eval.json").exists()


def test_unfinished_run_is_restarted(runs_root):
    overrides = [*QUICK, "budget=512", "eval.freq=256", f"output.root={runs_root}", "sweep_name=r"]
    run_dir = runs_root / "r" / "pendulum" / "ppo" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "meta.json").write_text(json.dumps({"status": "interrupted"}))
    (run_dir / "metrics.csv").write_text("stale\n")
    assert run(make_config(*overrides)).status == "completed"
    assert meta_of(run_dir)["status"] == "completed"
    assert pd.read_csv(run_dir / "metrics.csv")["timesteps"].iloc[-1] == 512


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_records_interrupted_and_keeps_what_was_written(sig, runs_root):
    args = ["train", *QUICK, "budget=10000000", "eval.freq=256", "progress=true",
            f"output.root={runs_root}", "sweep_name=sig"]
    # The default disposition of SIGINT in the child: a process started with SIGINT ignored (a
    # background job, some test runners' workers) keeps ignoring it, as Python does.
    process = subprocess.Popen([*RANDBENCH, *args], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509 - no threads here
    evaluations = 0
    for line in process.stdout:  # wait until the run has written two evaluation points
        evaluations += "eval return" in line
        if evaluations == 2:
            break
    process.send_signal(sig)
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"the run did not stop within 120 s of {sig.name}") from None
    assert process.returncode == 130, output
    run_dir = runs_root / "sig" / "pendulum" / "ppo" / "seed0"
    meta = meta_of(run_dir)
    assert meta["status"] == "interrupted" and meta["end_time"] is not None
    assert ("SIGTERM" if sig == signal.SIGTERM else "SIGINT") in meta["error"]
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert len(metrics) >= 2 and 0 < meta["timesteps"] < 10_000_000
    assert not (run_dir / "model.zip").exists()


@pytest.mark.slow
def test_failed_job_is_recorded_and_the_sweep_goes_on(runs_root):
    # seed 0's learning-rate schedule raises once it trains: its job fails while seed 1's completes;
    # the sweep's exit status says that not every job completed.
    result = randbench(["train", "-m", "seed=0,1", *QUICK, "budget=256", "eval.freq=256", failing_override(0),
                        f"output.root={runs_root}", "sweep_name=fail"])
    assert result.returncode == 1, result.stderr
    failed = meta_of(runs_root / "fail" / "pendulum" / "ppo" / "seed0")
    assert failed["status"] == "failed" and "fails on purpose" in failed["error"]
    assert meta_of(runs_root / "fail" / "pendulum" / "ppo" / "seed1")["status"] == "completed"


@pytest.mark.slow
def test_failure_in_a_single_run_exits_non_zero(runs_root):
    result = randbench(["train", *QUICK, "budget=256", failing_override(0), f"output.root={runs_root}"])
    assert result.returncode == 1
    assert "failed" in result.stderr and "meta.json" in result.stderr and "fails on purpose" in result.stderr


@pytest.mark.slow
def test_argument_the_algorithm_does_not_take_is_refused(runs_root):
    # A2C takes no n_epochs argument: the sweep is refused before PPO trains, and nothing is written.
    result = randbench(["train", "-m", "algo=ppo,a2c", "env=pendulum", "env.n_envs=1", "budget=256",
                        "eval.freq=256", "eval.n_episodes=1", "++algo.model.n_steps=256",
                        "++algo.model.n_epochs=2", f"output.root={runs_root}", "sweep_name=fail"])
    assert result.returncode == 2, result.stderr
    assert "pendulum/a2c/seed0: a2c on Pendulum-v1 refused the config: TypeError" in result.stderr
    assert "n_epochs" in result.stderr and list(runs_root.iterdir()) == []


def test_non_finite_weights_record_diverged(runs_root):
    result = run(make_config(*QUICK, "budget=2048", "eval.freq=256", "algo.model.learning_rate=1e12",
                             f"output.root={runs_root}"))
    assert result.status == "diverged"
    meta = meta_of(result.run_dir)
    assert meta["status"] == "diverged" and "non-finite" in meta["error"]


def test_only_non_finite_losses_count_as_divergence(tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import configure

    from sweeps.recorder import DivergedError, RunRecorder

    model = PPO("MlpPolicy", "Pendulum-v1", n_steps=64, batch_size=64, device="cpu")
    model.set_logger(configure(None, []))
    recorder = RunRecorder(tmp_path, model.get_env(), eval_freq=64, n_eval_episodes=1, total_timesteps=64)
    recorder.init_callback(model)
    # NaN when every return of a rollout is equal: a healthy run
    model.logger.record("train/explained_variance", float("nan"))
    recorder.check_finite()
    model.logger.record("train/value_loss", float("inf"))
    with pytest.raises(DivergedError, match="train/value_loss"):
        recorder.check_finite()


@pytest.mark.slow
def test_train_time_excludes_evaluation(runs_root, monkeypatch):
    from sweeps import recorder

    real = recorder.evaluate_policy

    def slow_evaluate(*args, **kwargs):
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(recorder, "evaluate_policy", slow_evaluate)
    result = run(make_config(*QUICK, "budget=1024", "eval.freq=256", f"output.root={runs_root}"))
    metrics = pd.read_csv(result.run_dir / "metrics.csv")
    assert len(metrics) == 4
    # every earlier evaluation slept 0.3 s: wall-clock holds it, train time does not
    gap = metrics["wall_time_s"] - metrics["train_time_s"]
    assert (gap.diff().iloc[1:] >= 0.3).all()
    steps = metrics["timesteps"].diff().iloc[1:]
    train = metrics["train_time_s"].diff().iloc[1:]
    assert (metrics["fps"].iloc[1:] - steps / train).abs().max() < 1e-6 * metrics["fps"].max()
