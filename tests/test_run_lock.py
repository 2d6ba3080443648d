"""One writer per run folder (a lock with a heartbeat), lost runs, and sweep workers that stop
when their sweep process is gone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.load import load_runs
from analysis.runlock import LOCK_NAME, STALE_AFTER_S, read_lock
from sweeps import lock as lock_module
from sweeps.lock import RunFolderLocked, acquire
from tests.conftest import RANDBENCH, REPO, randbench
from tests.helpers.synthetic_runs import write_run
from tests.test_run_life import QUICK, meta_of


@pytest.fixture
def other_process():
    """A live process that is not this one (its PID holds locks in the tests)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(folder: Path, pid: int, heartbeat_age_s: float = 0.0, host: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({
        "host": host or socket.gethostname(), "pid": pid, "start_time": "2026-12-01T00:00:00+00:00",
        "heartbeat_unix": time.time() - heartbeat_age_s,
    }))


def test_a_live_holder_refuses_a_second_writer_and_a_gone_one_is_taken_over(tmp_path, other_process):
    folder = tmp_path / "run"
    write_lock(folder, other_process.pid)
    with pytest.raises(RunFolderLocked, match=f"PID {other_process.pid} on host {socket.gethostname()}"):
        acquire(folder)
    assert read_lock(folder)["pid"] == other_process.pid  # the holder's lock is untouched
    # another host's fresh heartbeat cannot be judged by its PID: it holds too
    write_lock(folder, dead_pid(), host="elsewhere")
    with pytest.raises(RunFolderLocked, match="host elsewhere"):
        acquire(folder)
    for gone in (
        lambda: write_lock(folder, dead_pid()),  # its process has exited
        lambda: write_lock(folder, other_process.pid, heartbeat_age_s=STALE_AFTER_S + 5),  # stale heartbeat
    ):
        gone()
        held = acquire(folder)
        assert read_lock(folder)["pid"] == os.getpid()
        held.release()
        assert not (folder / LOCK_NAME).exists()


def test_the_heartbeat_is_refreshed_and_never_written_over_a_new_holder(tmp_path, monkeypatch, other_process):
    monkeypatch.setattr(lock_module, "HEARTBEAT_S", 0.05)
    folder = tmp_path / "run"
    folder.mkdir()
    held = acquire(folder)
    first = read_lock(folder)["heartbeat_unix"]
    time.sleep(0.3)
    assert read_lock(folder)["heartbeat_unix"] > first
    write_lock(folder, other_process.pid)  # taken over, e.g. after this process was thought gone
    time.sleep(0.3)
    assert read_lock(folder)["pid"] == other_process.pid
    held.release()
    assert read_lock(folder)["pid"] == other_process.pid  # release removes only its own lock


def test_report_lists_a_running_run_whose_holder_is_gone_as_lost(tmp_path, other_process):
    alive = write_run(tmp_path, "pendulum", "ppo", 0, [500], [-900.0], status="running")
    gone = write_run(tmp_path, "pendulum", "a2c", 0, [500], [-900.0], status="running")
    stale = write_run(tmp_path, "pendulum", "sac", 0, [500], [-900.0], status="running")
    write_run(tmp_path, "pendulum", "td3", 0, [500], [-900.0], status="running")  # no lock file
    write_lock(alive, other_process.pid)
    write_lock(gone, dead_pid())
    write_lock(stale, other_process.pid, heartbeat_age_s=STALE_AFTER_S + 60)
    runs = load_runs(tmp_path).runs.set_index("algo")
    assert runs.loc["ppo", "status"] == "running"
    assert runs.loc["a2c", "status"] == "lost" and runs.loc["sac", "status"] == "lost"
    assert runs.loc["td3", "status"] == "running"  # no lock file: nothing says the holder is gone
    assert json.loads((gone / "meta.json").read_text())["status"] == "running"  # the record is not rewritten


@pytest.mark.slow
def test_randbench_train_refuses_a_folder_another_live_run_writes(runs_root, other_process):
    overrides = [*QUICK, "budget=512", "eval.freq=256", f"output.root={runs_root}", "sweep_name=l"]
    run_dir = runs_root / "l" / "pendulum" / "ppo" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "meta.json").write_text(json.dumps({"status": "running"}))
    write_lock(run_dir, other_process.pid)
    done = randbench(["train", *overrides])
    assert done.returncode == 2, done.stderr
    assert f"PID {other_process.pid}" in done.stderr and "being written by another run" in done.stderr
    assert json.loads((run_dir / "meta.json").read_text()) == {"status": "running"}  # nothing touched
    other_process.kill()
    other_process.wait()
    done = randbench(["train", *overrides])  # the holder has exited: the run is taken over and completes
    assert done.returncode == 0, done.stderr
    assert meta_of(run_dir)["status"] == "completed" and not (run_dir / LOCK_NAME).exists()


@pytest.mark.slow
def test_workers_of_a_killed_sweep_stop_and_take_no_further_job(runs_root):
    """SIGKILL to the sweep process: its two joblib workers record their runs as interrupted at
    the next rollout and exit; the third job never starts."""
    args = ["train", "-m", *QUICK, "budget=10000000", "eval.freq=256", "progress=true", "seed=0,1,2",
            "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"output.root={runs_root}", "sweep_name=orphan"]
    process = subprocess.Popen([*RANDBENCH, *args], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    started: set[str] = set()
    for line in process.stdout:  # both workers are training once each has evaluated
        if "eval return" in line:
            started.add(line.split("]")[0])
        if len(started) == 2:
            break
    workers = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    process.send_signal(signal.SIGKILL)
    process.wait()
    seed_dirs = [runs_root / "orphan" / "pendulum" / "ppo" / f"seed{k}" for k in range(3)]
    deadline = time.time() + 60
    while time.time() < deadline:
        statuses = [meta_of(d)["status"] if (d / "meta.json").exists() else None for d in seed_dirs]
        alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
                 and "popen_loky" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        if statuses.count("interrupted") == 2 and not alive:
            break
        time.sleep(0.5)
    try:
        assert sorted(map(str, statuses)) == ["None", "interrupted", "interrupted"], statuses
        assert all("sweep process" in meta_of(d)["error"] for d in seed_dirs if (d / "meta.json").exists())
        assert not alive, f"workers still running: {alive}"
    finally:
        subprocess.run(["pkill", "-KILL", "-s", str(process.pid)], check=False)
