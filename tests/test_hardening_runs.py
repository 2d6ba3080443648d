"""Runs and sweeps under hostile input and a flaky machine (issue 14, items 1-5, and the sweep summary).

1. a run is ``completed`` only once every file it promises is on disk; a signal, a full disk or an
   unwritable folder during the final save is recorded, and no temporary file stays;
2. a completed run whose config differs from the re-run's is refused, naming the keys;
3. every refused input exits 2, before any folder is made, a sweep's jobs all checked first;
4. no refused input makes a folder, and no setting moves a run outside ``output.root``;
5. values SB3 accepts but cannot train with are refused with the accepted range;
6. a sweep ends with a summary table, ``summary.csv``, and exit status 1 unless every job completed.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from envs.vec import LeanVecNormalize
from sweeps.run import config_digest, run
from tests.conftest import REPO, make_config, randbench

QUICK = ["algo=ppo", "env=pendulum", "env.n_envs=1", "algo.model.n_steps=256", "++algo.model.batch_size=64",
         "eval.n_episodes=1", "progress=false", "budget=256", "eval.freq=256"]


def failing_schedule(fail_seed: int, seed: int):
    """A learning-rate schedule that raises once training of seed ``fail_seed`` updates (a runtime failure).

    Built with ``_target_`` from a Hydra override; the constructor's call at progress 1 succeeds.
    """

    def schedule(progress_remaining: float) -> float:
        if seed == fail_seed and progress_remaining < 1:
            raise RuntimeError(f"schedule of seed {seed} fails on purpose")
        return 3e-4

    return schedule


def failing_override(fail_seed: int) -> str:
    """The Hydra override that makes seed ``fail_seed``'s run fail once it trains."""
    return ("++algo.model.learning_rate={_target_:tests.test_hardening_runs.failing_schedule,"
            f"fail_seed:{fail_seed},seed:${{seed}}}}")


def meta_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


def leftovers(run_dir: Path) -> list[str]:
    """Hidden (temporary) files in a run folder."""
    return sorted(path.name for path in run_dir.iterdir() if path.name.startswith("."))


def tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


# -- 1. nothing finished is lost, nothing unfinished is "completed" ---------------------------------
SIGNAL_DURING_SAVE = r"""
import os, signal, sys, time
from pathlib import Path
from stable_baselines3.common.base_class import BaseAlgorithm

# Python's own SIGINT handler, as in a foreground process: a test runner started in the background
# (SIGINT ignored, which its children inherit) must not turn the interrupt into a completed run.
signal.signal(signal.SIGINT, signal.default_int_handler)

def save(self, path, *args, **kwargs):
    Path(path).write_bytes(b"")         # what a signal in the middle of the save leaves
    os.kill(os.getpid(), signal.%s)
    time.sleep(30)

BaseAlgorithm.save = save
from sweeps.cli import main
sys.exit(main(["train", *sys.argv[1:]]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_during_the_final_save_records_interrupted(sig, runs_root):
    result = subprocess.run([sys.executable, "-c", SIGNAL_DURING_SAVE % sig, *QUICK, f"output.root={runs_root}"],
                            cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    run_dir = runs_root / "default" / "pendulum" / "ppo" / "seed0"
    meta = meta_of(run_dir)
    assert result.returncode == 130, result.stdout[-2000:] + result.stderr[-2000:]
    assert meta["status"] == "interrupted" and sig in meta["error"] and meta["end_time"] is not None
    assert not (run_dir / "model.zip").exists()
    assert leftovers(run_dir) == []
    assert "Traceback" not in result.stderr
    # a re-run restarts it instead of skipping it
    assert run(make_config(*QUICK, f"output.root={runs_root}")).status == "completed"
    assert (run_dir / "model.zip").is_file()


def test_full_disk_during_the_final_save_records_failed(runs_root, monkeypatch):
    def save(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04")  # partly written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(BaseAlgorithm, "save", save)
    result = run(make_config(*QUICK, f"output.root={runs_root}"))
    assert result.status == "failed"
    meta = meta_of(result.run_dir)
    assert meta["status"] == "failed" and "No space left on device" in meta["error"]
    assert not (result.run_dir / "model.zip").exists()
    assert leftovers(result.run_dir) == []


def test_failed_statistics_save_is_not_completed(runs_root, monkeypatch):
    def save(self, path):
        Path(path).write_bytes(b"")
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(VecNormalize, "save", save)
    monkeypatch.setattr(LeanVecNormalize, "save", save)  # the class the harness builds
    result = run(make_config(*QUICK, "env.normalize=true", f"output.root={runs_root}"))
    assert result.status == "failed"
    assert meta_of(result.run_dir)["status"] == "failed" and "Permission denied" in result.error
    assert not (result.run_dir / "vecnormalize.pkl").exists() and leftovers(result.run_dir) == []


def test_unwritable_folder_at_the_end_is_reported_not_raised(runs_root, monkeypatch):
    import sweeps.run as run_module

    real = run_module.atomic_write_json

    def write(path, data):
        if data.get("status") != "running":  # the folder became read-only during training
            Path(path).with_name(f".{Path(path).name}.x.tmp").write_text("{")  # a partial temporary file
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        real(path, data)

    def save(self, path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(run_module, "atomic_write_json", write)
    monkeypatch.setattr(BaseAlgorithm, "save", save)
    result = run(make_config(*QUICK, f"output.root={runs_root}"))
    assert result.status == "failed" and "could not record the outcome" in result.error
    assert meta_of(result.run_dir)["status"] == "running"  # never "completed"; a re-run restarts it
    assert not (result.run_dir / "model.zip").exists() and leftovers(result.run_dir) == []


def test_completed_run_has_every_promised_file(runs_root):
    result = run(make_config(*QUICK, "env.normalize=true", f"output.root={runs_root}"))
    assert result.status == "completed"
    names = {path.name for path in result.run_dir.iterdir()}
    assert {"config.yaml", "metrics.csv", "episodes.csv", "progress.csv", "model.zip", "vecnormalize.pkl",
            "meta.json"} <= names
    assert leftovers(result.run_dir) == []
    meta = meta_of(result.run_dir)
    assert meta["device"] == "cpu" and meta["evaluations"] == 1


def test_restart_removes_stale_temporary_files(runs_root):
    run_dir = runs_root / "default" / "pendulum" / "ppo" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "meta.json").write_text(json.dumps({"status": "running"}))
    for name in (".model.tmp.zip", ".meta.json.abc123.tmp", ".vecnormalize.tmp.pkl"):
        (run_dir / name).write_bytes(b"")
    assert run(make_config(*QUICK, f"output.root={runs_root}")).status == "completed"
    assert leftovers(run_dir) == []


# -- 2. a completed run made with another config is refused, not skipped -------------------------------
def test_rerun_with_another_config_is_refused(runs_root, capsys):
    first = run(make_config(*QUICK, f"output.root={runs_root}"))
    assert first.status == "completed"
    before = {path.name: path.stat().st_mtime_ns for path in first.run_dir.iterdir()}
    with pytest.raises(ValueError) as error:
        run(make_config(*QUICK, f"output.root={runs_root}", "budget=512", "algo.model.gamma=0.95"))
    message = str(error.value)
    assert "budget: 256 -> 512" in message and "algo.model.gamma:" in message and "-> 0.95" in message
    assert "force=true" in message and str(first.run_dir) in message
    assert {path.name: path.stat().st_mtime_ns for path in first.run_dir.iterdir()} == before
    # keys that do not change what is trained may differ
    same = run(make_config(*QUICK, f"output.root={runs_root}", "progress=true", "logger.tensorboard=false",
                           "+sweep_jobs={pendulum: {ppo: 1}}"))
    assert same.status == "skipped"
    meta = meta_of(first.run_dir)
    assert meta["config_digest"] == config_digest(make_config(*QUICK, f"output.root={runs_root}"))
    assert "progress" in meta["config_digest_excludes"] and "output" in meta["config_digest_excludes"]
    # force=true replaces it
    assert run(make_config(*QUICK, f"output.root={runs_root}", "budget=512", "force=true")).status == "completed"
    assert meta_of(first.run_dir)["budget"] == 512


def test_run_with_an_older_digest_is_compared_by_its_config_yaml(runs_root):
    first = run(make_config(*QUICK, f"output.root={runs_root}"))
    meta = meta_of(first.run_dir)
    meta["config_digest"] = hashlib.sha256((first.run_dir / "config.yaml").read_bytes()).hexdigest()
    (first.run_dir / "meta.json").write_text(json.dumps(meta))
    assert run(make_config(*QUICK, f"output.root={runs_root}", "progress=true")).status == "skipped"
    with pytest.raises(ValueError, match="eval.n_episodes: 1 -> 2"):
        run(make_config(*QUICK, f"output.root={runs_root}", "eval.n_episodes=2"))


@pytest.mark.slow
def test_cli_refuses_a_changed_rerun_with_exit_status_2(runs_root):
    assert run(make_config(*QUICK, f"output.root={runs_root}")).status == "completed"
    result = randbench(["train", *QUICK, "budget=512", f"output.root={runs_root}"])
    assert result.returncode == 2, result.stderr[-2000:]
    assert "budget: 256 -> 512" in result.stderr and "force=true" in result.stderr
    assert "Traceback" not in result.stderr


# -- 3 and 4. refused input: exit status 2, no folder ---------------------------------------------------
@pytest.mark.parametrize("args,message", [
    (["algo=ppp"], "Could not find 'algo/ppp'"),
    (["env=pendulm"], "Could not find 'env/pendulm'"),
    (["algo.model.foo=1"], "foo"),
    (["algo=ppo,a2c"], "Ambiguous value for argument 'algo=ppo,a2c'"),
])
def test_hydra_level_mistakes_exit_2_and_make_no_folder(args, message, runs_root):
    result = randbench(["train", *args, f"output.root={runs_root}"])
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "randbench train: error" in result.stderr
    assert tree(runs_root) == []


@pytest.mark.parametrize("extra,reason", [
    (["algo.model.learning_rate=-1"], "ValueError: Invalid learning rate: -1"),
    (["algo=randpol", "algo.model.C=0"], "C (critic L-infinity constant, |alpha_j| <= C/J) must be > 0, got 0"),
    (["algo=randpol", "algo.model.policy_kwargs.net_arch=[]"], "net_arch widths must be a non-empty list"),
    (["++algo.model.batch_size=0"], "`batch_size` must be greater than 1"),
    (["algo=a2c", "++algo.model.n_epochs=2"], "unexpected keyword argument 'n_epochs'"),
])
def test_constructor_rejections_are_refused_before_any_folder(extra, reason, runs_root):
    with pytest.raises(ValueError) as error:
        run(make_config("env=pendulum", "budget=256", "progress=false", *extra, f"output.root={runs_root}"))
    assert reason in str(error.value) and "refused the config" in str(error.value)
    assert tree(runs_root) == []


@pytest.mark.slow
def test_cli_prints_a_constructor_rejection_with_exit_status_2(runs_root):
    result = randbench(["train", "algo=randpol", "algo.model.C=0", "budget=256", f"output.root={runs_root}"])
    assert result.returncode == 2, result.stderr[-2000:]
    assert "randbench train: error: randpol on Pendulum-v1 refused the config: ValueError: C" in result.stderr
    assert "Traceback" not in result.stderr and tree(runs_root) == []


@pytest.mark.slow
def test_sweep_of_invalid_jobs_exits_2_and_makes_no_folder(runs_root):
    result = randbench(["train", "-m", "algo=ppo,a2c", "seed=0,1", "budget=-1", f"output.root={runs_root}"])
    assert result.returncode == 2, result.stderr[-2000:]
    assert "4 of 4 job(s) of the sweep refused" in result.stderr and "budget=-1 is invalid" in result.stderr
    assert tree(runs_root) == []


@pytest.mark.slow
def test_sweep_is_checked_whole_before_the_first_job_trains(runs_root):
    result = randbench(["train", "-m", "algo=ppo,sac", "env=cartpole", "budget=256", f"output.root={runs_root}"])
    assert result.returncode == 2, result.stderr[-2000:]
    assert "1 of 2 job(s)" in result.stderr and "cartpole/sac/seed0: algo 'sac' cannot act" in result.stderr
    assert "training" not in result.stdout and tree(runs_root) == []  # PPO was not trained


@pytest.mark.slow
def test_sweep_with_a_hydra_mistake_in_one_job_exits_2(runs_root):
    result = randbench(["train", "-m", "algo=ppo,ppp", "budget=256", f"output.root={runs_root}"])
    assert result.returncode == 2, result.stderr[-2000:]
    assert "algo/ppp" in result.stderr and tree(runs_root) == []


@pytest.mark.slow
@pytest.mark.parametrize("multirun", [False, True])
def test_no_setting_moves_a_run_outside_output_root(multirun, tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    result = randbench(["train", *(["-m", "seed=6,7"] if multirun else ["seed=7"]), "sweep_name=..",
                        "budget=256", f"output.root={root}"])
    assert result.returncode == 2, result.stderr[-2000:]
    assert "sweep_name='..' is invalid" in result.stderr
    assert tree(tmp_path) == ["runs"]


@pytest.mark.slow
def test_refused_single_run_makes_no_folder(tmp_path):
    root = tmp_path / "not-yet" / "runs"
    result = randbench(["train", "budget=0", f"output.root={root}"])
    assert result.returncode == 2 and "budget=0 is invalid" in result.stderr
    assert tree(tmp_path) == []  # not even output.root


def test_env_name_cannot_leave_the_sweep_folder(runs_root):
    with pytest.raises(ValueError, match=r"env.name='..' is invalid"):
        run(make_config(*QUICK, "env.name=..", f"output.root={runs_root}"))
    assert tree(runs_root) == []


# -- 5. accepted but wrong ----------------------------------------------------------------------------
@pytest.mark.parametrize("extra,message", [
    (["algo.model.gamma=1.5"], "gamma=1.5 is invalid; expected a number in [0, 1]"),
    (["algo=randpol", "algo.model.gamma=-0.1"], "gamma=-0.1 is invalid; expected a number in [0, 1]"),
    (["algo.model.clip_range=0"], "clip_range=0 is invalid; expected a number > 0"),
    (["algo=randpol", "algo.model.clip_range=0"], "clip_range=0 is invalid; expected a number > 0"),
    (["algo.model.n_epochs=0"], "n_epochs=0 is invalid; expected an integer >= 1"),
    (["algo=sac", "++algo.model.learning_starts=1000"],
     ("learning_starts=1000 is not below budget=256: no gradient step would ever be taken; "
      "expected learning_starts in [0, 256)")),
])
def test_values_that_cannot_train_are_refused(extra, message, runs_root):
    with pytest.raises(ValueError) as error:
        run(make_config("env=pendulum", "budget=256", "progress=false", *extra, f"output.root={runs_root}"))
    assert message in str(error.value)
    assert tree(runs_root) == []


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_is_refused(device, runs_root, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available on this machine.*use device=cpu"):
        run(make_config(*QUICK, f"device={device}", f"output.root={runs_root}"))
    with pytest.raises(ValueError, match="device='tpu' is invalid; expected cpu, auto"):
        run(make_config(*QUICK, "device=tpu", f"output.root={runs_root}"))
    assert tree(runs_root) == []


def test_auto_device_records_the_device_used(runs_root):
    result = run(make_config(*QUICK, "device=auto", f"output.root={runs_root}"))
    assert meta_of(result.run_dir)["device"] == ("cuda" if torch.cuda.is_available() else "cpu")


def test_evaluation_frequency_beyond_the_budget_says_what_happens(runs_root, capsys):
    result = run(make_config(*QUICK, "eval.freq=100000", f"output.root={runs_root}"))
    assert result.status == "completed"
    assert "eval.freq=100,000 > budget: one evaluation, at the end" in capsys.readouterr().out
    assert meta_of(result.run_dir)["evaluations"] == 1


# -- 6. the sweep summary -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "local"])
def test_sweep_ends_with_a_summary_and_a_non_zero_status(launcher, runs_root):
    extra = [] if launcher == "basic" else ["hydra/launcher=local", "hydra.launcher.n_jobs=2"]
    args = ["train", "-m", "seed=0,1,2", *QUICK, failing_override(1), "+sweep_jobs={pendulum: {ppo: 2}}",
            f"output.root={runs_root}", "sweep_name=sum", *extra]
    result = randbench(args)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    failed_meta = runs_root / "sum" / "pendulum" / "ppo" / "seed1" / "meta.json"
    lines = result.stdout[result.stdout.index("sweep summary"):].splitlines()
    assert lines[0] == "sweep summary: 2 run(s)"
    assert lines[1].split() == ["run", "status", "final", "return", "train", "s", "FPS", "meta.json"]
    rows = {line.split()[0]: line.split() for line in lines[3:5]}
    assert rows["pendulum/ppo/seed0"][1] == "completed" and len(rows["pendulum/ppo/seed0"]) == 5
    assert rows["pendulum/ppo/seed1"][1] == "failed" and rows["pendulum/ppo/seed1"][-1] == str(failed_meta)
    assert "seed2" not in result.stdout[result.stdout.index("sweep summary"):]  # excluded, and said so
    assert ("[pendulum/ppo/seed2] not one of this sweep's jobs (sweep_jobs keeps seeds 0-1 of ppo on pendulum); "
            "not run (sweep_jobs=null runs every job)") in result.stdout
    assert "1 of 2 run(s) did not complete" in result.stderr
    with open(runs_root / "sum" / "summary.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(row["run"], row["status"]) for row in table] == [("pendulum/ppo/seed0", "completed"),
                                                               ("pendulum/ppo/seed1", "failed")]
    completed, failed = table
    assert float(completed["final_eval_return"]) < 0 and float(completed["fps"]) > 0
    assert float(completed["train_time_s"]) > 0 and completed["meta_json"] == ""
    assert failed["meta_json"] == str(failed_meta)
    assert "fails on purpose" in json.loads(failed_meta.read_text())["error"]
    # the re-run skips the completed run and re-runs the failed one
    again = randbench(args)
    assert again.returncode == 1
    with open(runs_root / "sum" / "summary.csv", newline="") as handle:
        assert [row["status"] for row in csv.DictReader(handle)] == ["skipped", "failed"]


@pytest.mark.slow
def test_sweep_that_completes_exits_0_with_its_summary(runs_root):
    result = randbench(["train", "-m", "seed=0,1", *QUICK, f"output.root={runs_root}", "sweep_name=ok"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sweep summary: 2 run(s)" in result.stdout
    with open(runs_root / "ok" / "summary.csv", newline="") as handle:
        assert [row["status"] for row in csv.DictReader(handle)] == ["completed", "completed"]


@pytest.mark.slow
def test_dry_run_sweep_writes_no_summary(runs_root):
    # The record of the sweep that made the folder's runs stays as it was.
    (runs_root / "dry").mkdir(parents=True)
    (runs_root / "dry" / "multirun.yaml").write_text("the sweep that ran\n")
    result = randbench(["train", "-m", "seed=0,1", *QUICK, "dry_run=true", f"output.root={runs_root}",
                        "sweep_name=dry"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sweep summary" not in result.stdout and not (runs_root / "dry" / "summary.csv").exists()
    assert (runs_root / "dry" / "multirun.yaml").read_text() == "the sweep that ran\n"
    assert not list(runs_root.rglob("meta.json"))
