"""Checkpoints of a run, and resuming a run from its last one.

Every ``checkpoint.freq`` env steps (at the first rollout boundary past it, right after an
evaluation would be), a run writes what it needs to continue into ``<run>/.checkpoint/``: the
model with its optimizers (``model.zip``), the replay buffer of an off-policy algorithm, the
VecNormalize statistics, the algorithm's training log so far, the RNG states of torch, numpy and
Python, gSDE's exploration noise, and the recorder's state (its metrics and episode rows, the
train, wall and CPU time so far, the next evaluation and checkpoint) and, where they can be saved, the envs themselves
(``env_state.pkl``, see :func:`env_state`). ``state.json`` is written last; the folder replaces the
previous checkpoint by two renames, so that a kill at any moment leaves one whole checkpoint
(``.checkpoint`` or, between the renames, ``.checkpoint.old``).

A re-run of an unfinished run (``running``, ``interrupted``, ``failed`` or ``lost``) with the
same config resumes from it: timesteps continue, train time accumulates, and meta.json's
``resumes`` records when, from which step and how many env steps of the interrupted attempt were
lost. Where the envs were saved (a ``DummyVecEnv`` of pure-Python or MuJoCo tasks: Pendulum,
Hopper, Humanoid), the episodes in flight at the checkpoint continue and the evaluation env
draws its next episodes as it would have, so that an algorithm whose own state is all in the
checkpoint continues exactly as the uninterrupted run (tested: PPO with gSDE, SAC, RANDPOL).
Where they cannot be saved (Box2D's LunarLander and BipedalWalker hold SWIG objects; Go1's state
is too large; a ``SubprocVecEnv`` keeps its envs in other processes), the envs start new
episodes: the episodes in flight at the checkpoint are lost, and the curve after the resume is
another sample of the same run.
"""

from __future__ import annotations

import io
import json
import pickle
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
ENV_STATE_FILE = "env_state.pkl"
FORMAT = 1


def _new_object(cls: type) -> Any:
    return cls.__new__(cls)


def _set_attributes(obj: Any, state: dict[str, Any]) -> Any:
    obj.__dict__.update(state)
    return obj


def _env_pickler(buffer: io.BytesIO) -> Any:
    """A cloudpickle pickler that saves gymnasium envs by their attributes, as they are now.

    gymnasium's ``EzPickle`` (MuJoCo, Box2D envs) pickles an env as its constructor arguments, so
    that unpickling builds a fresh env: its physics state, RNG and step counter would be lost
    without an error. Here such an object is saved by its ``__dict__`` instead.
    """
    import cloudpickle
    from gymnasium.utils import EzPickle

    class EnvPickler(cloudpickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, EzPickle) and not isinstance(obj, type):
                return (_new_object, (type(obj),), dict(obj.__dict__), None, None, _set_attributes)
            return super().reducer_override(obj)

    return EnvPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)


_VEC_NORMALIZE_IN_FLIGHT = ("returns", "old_obs", "old_reward")  # per-step state, not the statistics


def _vec_chain(venv: Any) -> tuple[Any, list[Any]]:
    """The innermost VecEnv of ``venv`` and the VecEnv wrappers around it, outermost first."""
    wrappers = []
    while hasattr(venv, "venv"):
        wrappers.append(venv)
        venv = venv.venv
    return venv, wrappers


ENV_STATE_MAX_BYTES = 64 * 2**20


class _CappedBuffer(io.BytesIO):
    """A bytes buffer that refuses to grow past ``max_bytes`` (raises OverflowError)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.max_bytes:
            raise OverflowError(f"the env state is larger than {self.max_bytes} bytes")
        return super().write(data)


def env_state(venv: Any, max_bytes: int = ENV_STATE_MAX_BYTES) -> bytes | None:
    """The vectorized env as it is now, pickled, or None where it cannot be saved.

    Saved: every sub-env of a ``DummyVecEnv`` with its wrappers (physics state, RNG, time-limit
    counter, the Monitor's episode in flight) and the per-step state of VecNormalize wrappers
    (the discounted returns in flight and the last raw observation and reward; the statistics
    are saved with ``VecNormalize.save``). None for a ``SubprocVecEnv`` (its envs live in other
    processes), for envs that do not pickle (Box2D bodies are SWIG objects) and for a state
    larger than ``max_bytes`` (a MuJoCo env pickles its model with its data: about 1.2 MB per
    copy of Hopper-v5 and Humanoid-v5, 75 MB per copy of Go1 with its meshes).
    """
    from stable_baselines3.common.vec_env import DummyVecEnv

    inner, wrappers = _vec_chain(venv)
    if not isinstance(inner, DummyVecEnv):
        return None
    state = {
        "envs": inner.envs,
        "wrappers": [{k: getattr(w, k) for k in _VEC_NORMALIZE_IN_FLIGHT if hasattr(w, k)} for w in wrappers],
    }
    buffer = _CappedBuffer(max_bytes)  # stops a state that outgrows the cap (Go1) early
    try:
        _env_pickler(buffer).dump(state)
    except Exception:  # noqa: BLE001 - whatever an env holds that does not pickle, or too large: not saved
        return None
    return buffer.getvalue()


def _load_env_state(venv: Any, data: bytes | None) -> dict[str, Any] | None:
    """The state :func:`env_state` saved, unpickled, if it fits ``venv`` (built like the saved one)."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    inner, wrappers = _vec_chain(venv)
    if data is None or not isinstance(inner, DummyVecEnv):
        return None
    try:
        state = pickle.loads(data)
    except Exception:  # noqa: BLE001 - a state of other package versions: start new episodes
        return None
    if len(state["envs"]) != len(inner.envs) or len(state["wrappers"]) != len(wrappers):
        for env in state["envs"]:
            env.close()
        return None
    return state


def _apply_env_state(venv: Any, state: dict[str, Any]) -> None:
    """Replace the sub-envs of ``venv`` by the saved ones (the fresh ones are closed), drop the seeds
    ``venv`` would apply at its next ``reset()``, and put VecNormalize's in-flight values back, so
    that the envs go on from where they were."""
    inner, wrappers = _vec_chain(venv)
    for env in inner.envs:
        env.close()
    inner.envs = list(state["envs"])
    inner._reset_seeds()
    inner._reset_options()
    for wrapper, saved in zip(wrappers, state["wrappers"]):
        for key, value in saved.items():
            setattr(wrapper, key, value)


def restore_env_state(venv: Any, data: bytes | None) -> bool:
    """Put a state from :func:`env_state` into ``venv`` (built like the saved one).

    :return: False (``venv`` untouched) when there is no state or it does not fit ``venv``.
    """
    state = _load_env_state(venv, data)
    if state is None:
        return False
    _apply_env_state(venv, state)
    return True


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


SDE_NOISE_FILE = "sde_noise.pt"


def _sde_holder(model: Any) -> Any:
    """The module whose ``reset_noise`` the algorithm calls when it uses gSDE, or None."""
    if not getattr(model, "use_sde", False):
        return None
    holder = getattr(model, "actor", None)  # off-policy: the actor draws; on-policy: the policy
    if holder is None:
        holder = getattr(model, "policy", None)
    dist = getattr(holder, "action_dist", None)
    return holder if hasattr(dist, "exploration_mat") and hasattr(holder, "reset_noise") else None


def _restore_sde_noise_at_first_reset(holder: Any, saved: dict[str, Any]) -> None:
    """Make the next ``reset_noise`` call put the saved gSDE noise back instead of drawing new noise.

    SB3 draws gSDE's exploration matrices at the start of every rollout, before the callbacks'
    rollout start where a checkpoint is written: the uninterrupted run acts on that draw and its
    RNG has moved past it, so the resumed run must reuse the draw, not repeat it.
    """
    def first_reset(n_envs: int = 1) -> None:
        del holder.reset_noise  # back to the class's method for every later call
        dist = holder.action_dist
        dist.exploration_mat = saved["exploration_mat"]
        dist.exploration_matrices = saved["exploration_matrices"]

    holder.reset_noise = first_reset


def _is_off_policy(model: Any) -> bool:
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    return isinstance(model, OffPolicyAlgorithm)


def save_checkpoint(
    run_dir: Path, model: Any, train_env: Any, recorder: Any, digest: str, eval_env: Any = None
) -> float:
    """Write a checkpoint of the run as it is now (see the module docstring).

    :param eval_env: the evaluation env, saved with the training env where both can be
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
    holder = _sde_holder(model)
    if holder is not None and getattr(holder.action_dist, "exploration_mat", None) is not None:
        dist = holder.action_dist
        torch.save({"exploration_mat": dist.exploration_mat, "exploration_matrices": dist.exploration_matrices},
                   new / SDE_NOISE_FILE)
    envs = {"train": env_state(train_env), "eval": None if eval_env is None else env_state(eval_env)}
    if envs["train"] is not None:
        with open(new / ENV_STATE_FILE, "wb") as file:
            pickle.dump(envs, file, protocol=pickle.HIGHEST_PROTOCOL)
    atomic_write_json(new / STATE_FILE, {
        "format": FORMAT,
        "config_digest": digest,
        "timesteps": int(model.num_timesteps),
        "envs_saved": envs["train"] is not None,
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


def load_model(folder: Path, model: Any, train_env: Any, eval_env: Any = None) -> tuple[Any, bool]:
    """The checkpoint's model (same class as ``model``), its replay buffer and normalization restored.

    The VecNormalize statistics are copied into ``train_env`` (which stays the run's env). Where
    the checkpoint holds the envs (:func:`env_state`), they replace the sub-envs of ``train_env``
    and ``eval_env`` and the model keeps its last observation, so that training continues the
    episodes in flight; otherwise the model resets the env when training starts. The RNG states
    are restored last, so that what follows draws as the interrupted attempt would have.

    :return: the model, and whether the envs were restored (False: new episodes start)
    """
    from stable_baselines3.common.vec_env import VecNormalize

    folder = Path(folder)
    if isinstance(train_env, VecNormalize) and (folder / "vecnormalize.pkl").is_file():
        saved = VecNormalize.load(str(folder / "vecnormalize.pkl"), train_env.venv)
        train_env.obs_rms, train_env.ret_rms = saved.obs_rms, saved.ret_rms
    envs: dict[str, bytes | None] = {}
    if (folder / ENV_STATE_FILE).is_file():
        try:
            with open(folder / ENV_STATE_FILE, "rb") as file:
                envs = pickle.load(file)
        except Exception:  # noqa: BLE001 - unreadable: new episodes, as without it
            envs = {}
    # loaded first, applied only once the model has loaded: a failed load leaves the envs fresh
    train_state = _load_env_state(train_env, envs.get("train"))
    envs_restored = train_state is not None
    restored = type(model).load(folder / "model.zip", env=train_env, device=model.device, force_reset=not envs_restored)
    if _is_off_policy(restored) and (folder / "replay_buffer.pkl").is_file():
        restored.load_replay_buffer(folder / "replay_buffer.pkl")
    if train_state is not None:
        _apply_env_state(train_env, train_state)
        if eval_env is not None:
            restore_env_state(eval_env, envs.get("eval"))
    holder = _sde_holder(restored)
    if holder is not None and (folder / SDE_NOISE_FILE).is_file():
        _restore_sde_noise_at_first_reset(holder, torch.load(folder / SDE_NOISE_FILE, weights_only=False))
    states = torch.load(folder / "rng.pt", weights_only=False)
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["random"])
    return restored, envs_restored


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
