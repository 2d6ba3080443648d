"""Shared helpers: compose run configs in-process and call the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"
RANDBENCH = [sys.executable, "-m", "sweeps.cli"]

torch.set_num_threads(1)


def make_config(*overrides: str, return_hydra_config: bool = False) -> DictConfig:
    """The run config of conf/config.yaml with ``overrides``, as ``randbench train`` composes it."""
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def randbench(args: Sequence[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run the ``randbench`` command in a subprocess, from the repository root."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [*RANDBENCH, *args], cwd=REPO, capture_output=True, check=False, text=True, timeout=timeout, env=env, **kwargs
    )


# Tiny-budget settings per algorithm, so that every (algo, env) pair trains in seconds:
# on-policy rollouts shrunk, ES populations shrunk; the rest of each tuned config is kept.
TINY = {
    "ppo": ["env.n_envs=2", "++algo.model.n_steps=64", "++algo.model.batch_size=64", "++algo.model.n_epochs=2"],
    "a2c": ["env.n_envs=2", "++algo.model.n_steps=8"],
    "trpo": ["env.n_envs=2", "++algo.model.n_steps=128", "++algo.model.batch_size=128",
             "++algo.model.n_critic_updates=2"],
    "sac": ["++algo.model.learning_starts=200", "++algo.model.batch_size=32",
            "++algo.model.train_freq=8", "++algo.model.gradient_steps=1"],
    "td3": ["++algo.model.learning_starts=200", "++algo.model.batch_size=32", "++algo.model.train_freq=8",
            "++algo.model.gradient_steps=1"],
    "ddpg": ["++algo.model.learning_starts=200", "++algo.model.batch_size=32", "++algo.model.train_freq=8",
             "++algo.model.gradient_steps=1"],
    "ars": ["++algo.model.n_delta=2", "++algo.model.n_top=2"],
    "rlx2_td3": ["++algo.model.learning_starts=200", "++algo.model.batch_size=32", "++algo.model.train_freq=8",
                 "++algo.model.gradient_steps=1"],
    "rlx2_sac": ["++algo.model.learning_starts=200", "++algo.model.batch_size=32", "++algo.model.train_freq=8",
                 "++algo.model.gradient_steps=1"],
    "rat": ["env.n_envs=2", "++algo.model.n_steps=64", "++algo.model.n_minibatches=2", "++algo.model.n_epochs=1"],
}


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root
