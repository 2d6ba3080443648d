"""Sweeps on a real Slurm cluster: the one-node cluster of scripts/local_slurm.sh, with accounting.

Marked ``slurm``: ``make test`` leaves them out, ``make test-slurm`` (and .ci/run) runs them; the
fixture starts the cluster (installing Slurm, munge and MariaDB with apt-get when missing, which
needs root) and stops it afterwards unless it was already up.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import RANDBENCH, REPO, TINY

pytestmark = pytest.mark.slurm

SCRIPT = REPO / "scripts" / "local_slurm.sh"
# One CPU and 1 GB per job, so that the node's two CPUs run two jobs at once.
SLURM = ["hydra/launcher=slurm", "hydra.launcher.partition=local", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10"]
PENDULUM_PPO = ["algo=ppo", "env=pendulum", "progress=false", *TINY["ppo"]]


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    """The environment of a process that uses the local cluster (SLURM_CONF set)."""
    was_up = subprocess.run([SCRIPT, "status"], capture_output=True, check=False).returncode == 0
    started = subprocess.run([SCRIPT, "start"], capture_output=True, text=True, timeout=900, check=False)
    assert started.returncode == 0, f"scripts/local_slurm.sh start failed:\n{started.stderr}"
    exports = subprocess.run([SCRIPT, "env"], capture_output=True, text=True, check=True).stdout
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for line in exports.splitlines():
        key, value = line.removeprefix("export ").split("=", 1)
        env[key] = value
    yield env
    if not was_up:
        subprocess.run([SCRIPT, "stop"], capture_output=True, timeout=120, check=False)


def sweep(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*RANDBENCH, "train", "-m", *args], cwd=REPO, env=env, capture_output=True, text=True, check=False,
                          timeout=timeout)


def meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


def summary_status(stdout: str, run: str) -> str:
    """The status the sweep summary on stdout gives ``run`` (``<env>/<algo_label>/seed<k>``)."""
    lines = [line.split() for line in stdout.splitlines() if line.startswith(run + " ")]
    assert len(lines) == 1, f"{run} not once in the sweep summary:\n{stdout}"
    return lines[0][1]


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.5)


def test_sweep_completes_on_slurm_and_a_rerun_skips_it(slurm_env, runs_root):
    args = [*PENDULUM_PPO, "seed=0,1", "budget=1024", "eval.freq=512", "eval.n_episodes=1",
            f"output.root={runs_root}", "sweep_name=slurm", *SLURM]
    first = sweep(args, slurm_env)
    assert first.returncode == 0, first.stdout + first.stderr
    for seed in (0, 1):
        run_dir = runs_root / "slurm" / "pendulum" / "ppo" / f"seed{seed}"
        record = meta(run_dir)
        assert record["status"] == "completed" and record["timesteps"] >= 1024
        assert record["slurm"]["job_id"] and record["slurm"]["array_task_id"] == seed
        assert summary_status(first.stdout, f"pendulum/ppo/seed{seed}") == "completed"
    again = sweep(args, slurm_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [summary_status(again.stdout, f"pendulum/ppo/seed{seed}") for seed in (0, 1)] == ["skipped", "skipped"]


def test_scancel_records_interrupted_ends_the_sweep_and_a_rerun_resumes(slurm_env, runs_root):
    # Two runs of 12 train seconds each; seed 0 is cancelled once it has written a checkpoint.
    args = [*PENDULUM_PPO, "seed=0,1", "budget=10000000", "budget_s=12", "checkpoint.freq=2048", "eval.freq=4096",
            "eval.n_episodes=1", f"output.root={runs_root}", "sweep_name=cancel", *SLURM]
    cancelled = runs_root / "cancel" / "pendulum" / "ppo" / "seed0"
    process = subprocess.Popen([*RANDBENCH, "train", "-m", *args], cwd=REPO, env=slurm_env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: (cancelled / ".checkpoint").is_dir() and any((cancelled / ".checkpoint").iterdir()),
                   240, "seed 0's first checkpoint")
        job = meta(cancelled)["slurm"]  # an array task is cancelled by <array job>_<task>
        subprocess.run(["scancel", f"{job['array_job_id']}_{job['array_task_id']}"], env=slurm_env, check=True)
        stdout, stderr = process.communicate(timeout=300)  # ends: no wait for a job that cannot finish
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, stdout + stderr
    assert summary_status(stdout, "pendulum/ppo/seed0") == "interrupted"
    assert summary_status(stdout, "pendulum/ppo/seed1") == "completed"
    assert "did not complete" in stderr
    record = meta(cancelled)
    assert record["status"] == "interrupted" and "SIGTERM" in record["error"]
    interrupted_at = record["timesteps"]

    rerun = sweep(args, slurm_env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert summary_status(rerun.stdout, "pendulum/ppo/seed0") == "completed"
    assert summary_status(rerun.stdout, "pendulum/ppo/seed1") == "skipped"
    record = meta(cancelled)
    assert record["status"] == "completed"
    (resume,) = record["resumes"]
    assert resume["previous_status"] == "interrupted"
    assert 0 < resume["from_timesteps"] <= interrupted_at
    assert record["train_time_s"] >= 12


def test_a_run_longer_than_its_time_limit_continues_in_a_requeued_job(slurm_env, runs_root):
    # A one-minute Slurm job whose run needs 40 train seconds (about 30 s fit in one job): Slurm's
    # SIGUSR2 ahead of the limit makes the run checkpoint and stop, submitit requeues the job, and
    # the requeued job resumes (Slurm holds a requeued job for about 2 minutes first).
    args = [*PENDULUM_PPO, "seed=0", "budget=100000000", "budget_s=40", "checkpoint.freq=2048", "eval.freq=8192",
            "eval.n_episodes=1", f"output.root={runs_root}", "sweep_name=requeue", *SLURM,
            "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=30", "hydra.launcher.max_num_timeout=5"]
    done = sweep(args, slurm_env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    record = meta(runs_root / "requeue" / "pendulum" / "ppo" / "seed0")
    assert record["status"] == "completed" and record["stop_reason"] == "budget_s"
    assert record["slurm"]["restart_count"] >= 1
    assert record["resumes"] and all(resume["previous_status"] == "interrupted" for resume in record["resumes"])
    assert all(resume["from_timesteps"] > 0 for resume in record["resumes"])
    assert record["train_time_s"] >= 40

