"""Checkpoints of a run, and resuming a run from its last one.

Every ``checkpoint.freq`` env steps (at the first rollout boundary past it, right after an
evaluation would be), a run writes what it needs to continue into ``<run>/.checkpoint/``: the
model with its optimizers (``model.zip``), the replay buffer of an off-policy algorithm, the
VecNormalize statistics, the algorithm's training log so far, the RNG states of torch, numpy and
Python, and the recorder's state (its metrics and episode rows, the train, wall and CPU time so
far, the next evaluation and checkpoint). ``state.json`` is written last; the folder replaces the
previous checkpoint by two renames, so that a kill at any moment leaves one whole checkpoint
(``.checkpoint`` or, between the renames, ``.checkpoint.old``).

A re-run of an unfinished run (``running``, ``interrupted``, ``failed`` or ``lost``) with the
same config resumes from it: timesteps continue, train time accumulates, the envs start new
episodes (the episodes in flight at the checkpoint are lost), and meta.json's ``resumes`` records
when, from which step and how many env steps of the interrupted attempt were lost.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.contract import PROGRESS_FILE, atomic_write_json

CHECKPOINT_DIR = ".checkpoint"
_NEW, _OLD = ".checkpoint.new", ".checkpoint.old"
STATE_FILE = "state.json"
FORMAT = 1


def remove_checkpoints(run_dir: Path) -> None:
    """Delete every checkpoint folder of ``run_dir`` (a completed or restarted run needs none)."""
    for name in (CHECKPOINT_DIR, _NEW, _OLD):
        shutil.rmtree(Path(run_dir) / name, ignore_errors=True)


def find_checkpoint(run_dir: Path, digest: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest whole checkpoint of ``run_dir`` made with config digest ``digest``, or None.

    :return: its folder and the content of its ``state.json``.
    """
    for name in (CHECKPOINT_DIR, _OLD):
        folder = Path(run_dir) / name
        try:
            state = json.loads((folder / STATE_FILE).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and state.get("format") == FORMAT and state.get("config_digest") == digest:
            return folder, state
    return None


def _is_off_policy(model: Any) -> bool:
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    return isinstance(model, OffPolicyAlgorithm)


def save_checkpoint(run_dir: Path, model: Any, train_env: Any, recorder: Any, digest: str) -> float:
    """Write a checkpoint of the run as it is now (see the module docstring).

    :return: the seconds it took.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    started = time.perf_counter()
    run_dir = Path(run_dir)
    new = run_dir / _NEW
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    model.save(new / "model.zip")
    if _is_off_policy(model) and getattr(model, "replay_buffer", None) is not None:
        model.save_replay_buffer(new / "replay_buffer.pkl")
    if isinstance(train_env, VecNormalize):
        train_env.save(str(new / "vecnormalize.pkl"))
    for output in getattr(model.logger, "output_formats", []):
        file = getattr(output, "file", None)
        if file is not None and hasattr(file, "flush"):
            file.flush()
    if (run_dir / PROGRESS_FILE).is_file():
        shutil.copyfile(run_dir / PROGRESS_FILE, new / PROGRESS_FILE)
    torch.save(
        {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()},
        new / "rng.pt",
    )
    atomic_write_json(new / STATE_FILE, {
        "format": FORMAT,
        "config_digest": digest,
        "timesteps": int(model.num_timesteps),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "recorder": recorder.state_dict(),
    })
    current, old = run_dir / CHECKPOINT_DIR, run_dir / _OLD
    shutil.rmtree(old, ignore_errors=True)
    if current.exists():
        current.rename(old)
    new.rename(current)
    shutil.rmtree(old, ignore_errors=True)
    return time.perf_counter() - started


def load_model(folder: Path, model: Any, train_env: Any) -> Any:
    """The checkpoint's model (same class as ``model``), its replay buffer and normalization restored.

    The VecNormalize statistics are copied into ``train_env`` (which stays the run's env); the
    RNG states are restored last, so that what follows draws as the interrupted attempt would have.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    folder = Path(folder)
    if isinstance(train_env, VecNormalize) and (folder / "vecnormalize.pkl").is_file():
        saved = VecNormalize.load(str(folder / "vecnormalize.pkl"), train_env.venv)
        train_env.obs_rms, train_env.ret_rms = saved.obs_rms, saved.ret_rms
    restored = type(model).load(folder / "model.zip", env=train_env, device=model.device)
    if _is_off_policy(restored) and (folder / "replay_buffer.pkl").is_file():
        restored.load_replay_buffer(folder / "replay_buffer.pkl")
    states = torch.load(folder / "rng.pt", weights_only=False)
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["random"])
    return restored


def restore_progress(folder: Path, model: Any) -> None:
    """Put the checkpoint's ``progress.csv`` rows back in front of the new logger's CSV output."""
    from stable_baselines3.common.logger import CSVOutputFormat

    saved = Path(folder) / PROGRESS_FILE
    if not saved.is_file():
        return
    text = saved.read_text()
    header = text.splitlines()[0] if text else ""
    for output in model.logger.output_formats:
        if isinstance(output, CSVOutputFormat) and header:
            output.file.write(text if text.endswith("\n") else text + "\n")
            output.file.flush()
            output.keys = header.split(output.separator)
