"""Bad input is refused before any training, with a message naming the value and what is accepted."""

from __future__ import annotations

import json

import pytest

from baselines.registry import get_spec
from sweeps.run import run
from tests.conftest import make_config, randbench

BASE = ["env=pendulum", "budget=256", "eval.n_episodes=1", "progress=false"]


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["budget=0"], "budget=0 is invalid; expected an integer number of env steps > 0"),
        (["budget=-10"], "budget=-10 is invalid"),
        (["eval.freq=0"], "eval.freq=0 is invalid; expected an integer number of env steps > 0"),
        (["eval.n_episodes=0"], "eval.n_episodes=0 is invalid"),
        (["seed=-1"], "seed=-1 is invalid"),
        (["env.id=Hopper-v99"], "unknown gymnasium env id 'Hopper-v99'; did you mean"),
        (["env.n_envs=0"], "env.n_envs=0 is invalid; expected an integer >= 1"),
        (["env.vec_env=threads"], "env.vec_env='threads' is invalid; expected one of ['dummy', 'subproc']"),
        (["algo=sac", "env=cartpole"], "algo 'sac' cannot act in a Discrete action space"),
        (["algo=ppo", "++algo.model.batch_size=999999"], "batch_size=999999 is larger than the rollout"),
        (["algo=sac", "++algo.model.batch_size=512", "++algo.model.buffer_size=100"],
         "batch_size=512 is larger than buffer_size=100"),
        (["algo=ppo", "algo.model._target_=stable_baselines3.A2C"], "expected 'stable_baselines3.PPO'"),
        (["algo=ppo", "algo.family=off_policy"], "algo 'ppo': family is 'off_policy', expected 'on_policy'"),
        (["algo_label=../ppo"], "algo_label='../ppo' is invalid; expected a folder name"),
        (["sweep_name=a/b"], "sweep_name='a/b' is invalid; expected a folder name"),
    ],
)
def test_bad_input_is_refused_before_training(overrides, message, runs_root):
    cfg = make_config(*BASE, *overrides, f"output.root={runs_root}")
    with pytest.raises(ValueError, match=None) as error:
        run(cfg)
    assert message in str(error.value)
    assert list(runs_root.iterdir()) == []  # nothing written, not even a folder


def test_bad_input_keeps_a_finished_run(runs_root):
    good = [*BASE, "env.n_envs=1", "algo.model.n_steps=256", "++algo.model.batch_size=64",
            f"output.root={runs_root}", "eval.freq=256"]
    first = run(make_config(*good))
    before = (first.run_dir / "meta.json").read_text()
    with pytest.raises(ValueError):
        run(make_config(*good, "force=true", "++algo.model.batch_size=999999"))
    assert (first.run_dir / "meta.json").read_text() == before
    assert json.loads(before)["status"] == "completed"


@pytest.mark.slow
def test_cli_reports_bad_input_with_exit_status_2(runs_root):
    result = randbench(["train", *BASE, "budget=0", f"output.root={runs_root}"])
    assert result.returncode == 2
    assert "randbench train: error: budget=0 is invalid" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(runs_root.iterdir()) == []


@pytest.mark.parametrize("multirun", [False, True])
def test_unwritable_output_root_is_refused(tmp_path, multirun):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    result = randbench(["train", *(["-m"] if multirun else []), *BASE, f"output.root={blocked / 'runs'}"])
    assert result.returncode == 2
    assert f"output folder '{blocked / 'runs'}' cannot be written" in result.stderr


def test_unknown_algo_and_env_list_the_accepted_names():
    result = randbench(["train", "algo=dqn"])
    assert result.returncode == 2
    assert "Could not find 'algo/dqn'" in result.stderr and "ppo" in result.stderr and "ars" in result.stderr
    result = randbench(["train", "env=atari"])
    assert result.returncode == 2
    assert "Could not find 'env/atari'" in result.stderr and "hopper" in result.stderr
    with pytest.raises(ValueError, match="unknown algorithm 'dqn'; accepted: a2c, ars"):
        get_spec("dqn")
