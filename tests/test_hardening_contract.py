"""randbench's algorithms against SB3's contract (issue 14, items 8-12): callbacks stop training
and see step locals, RLx2 policies save and load on their own, a second learn() runs the RLx2
schedules, Dict observation spaces are refused at construction, TensorBoard runs carry the class
name, tensorboard is a dependency."""

from __future__ import annotations

import tomllib
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import (
    BaseCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.env_util import make_vec_env

from algos.randpol import RANDPOL
from algos.rat import RAT
from algos.rlx2 import RLx2SAC, RLx2SACPolicy, RLx2TD3, RLx2TD3Policy
from algos.ses import StructuredES

REPO = Path(__file__).resolve().parent.parent
PENDULUM_EPISODE = 200  # Pendulum-v1 episodes are truncated at 200 steps
RLX2_SMALL = {
    "learning_starts": 50,
    "batch_size": 16,
    "buffer_size": 1000,
    "buffer_min_size": 200,
    "topology_interval": 20,
    "buffer_check_interval": 100,
    "policy_kwargs": {"net_arch": [16, 16]},
    "device": "cpu",
}


def pendulum():
    return make_vec_env("Pendulum-v1", n_envs=1, seed=0)


def small(name: str, env=None, **kwargs):
    """A tiny model of each randbench algorithm on Pendulum."""
    env = pendulum() if env is None else env
    if name == "ses":
        return StructuredES("LinearPolicy", env, n_delta=2, seed=0, **kwargs)
    if name == "randpol":
        return RANDPOL(
            "RandomFeaturePolicy",
            env,
            n_steps=64,
            batch_size=64,
            n_epochs=1,
            policy_kwargs={"net_arch": [16, 16]},
            seed=0,
            **kwargs,
        )
    if name == "rat":
        return RAT(
            "MlpPolicy",
            env,
            n_steps=64,
            n_minibatches=2,
            n_epochs=1,
            policy_kwargs={"net_arch": [8]},
            seed=0,
            **kwargs,
        )
    cls = {"rlx2_td3": RLx2TD3, "rlx2_sac": RLx2SAC}[name]
    return cls("MlpPolicy", env, seed=0, **{**RLX2_SMALL, **kwargs})


ALGOS = ("ses", "randpol", "rat", "rlx2_td3", "rlx2_sac")


# -- item 8: callbacks --------------------------------------------------------------------------
class StopAfter(BaseCallback):
    """Returns False at its ``n``-th call; records the locals it saw."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.seen_dones = n, []

    def _on_step(self) -> bool:
        self.seen_dones.append(self.locals["dones"].copy())
        return self.n_calls < self.n


@pytest.mark.parametrize("name", ALGOS)
def test_a_callback_returning_false_stops_training(name: str):
    model = small(name)
    callback = StopAfter(30)
    model.learn(5000, callback=callback)
    assert callback.n_calls == 30  # not one step more
    assert model.num_timesteps == 30


def test_structured_es_gives_callbacks_the_step_locals():
    model = small("ses")
    stop = StopTrainingOnMaxEpisodes(max_episodes=3)
    model.learn(20 * PENDULUM_EPISODE, callback=stop)
    assert stop.n_episodes == 3 and model.num_timesteps == 3 * PENDULUM_EPISODE
    recorder = StopAfter(10**9)
    model = small("ses")
    model.learn(PENDULUM_EPISODE, callback=recorder)  # one update: a population of 2 n_delta episodes
    dones = np.concatenate(recorder.seen_dones)
    assert dones.shape == (model.pop_size * PENDULUM_EPISODE,)
    assert dones.sum() == model.pop_size and dones[PENDULUM_EPISODE - 1 :: PENDULUM_EPISODE].all()


def test_structured_es_stopped_mid_update_does_not_step():
    model = small("ses")
    before = model.weights.clone()
    model.learn(5000, callback=StopAfter(PENDULUM_EPISODE + 1))  # inside the first population
    assert th.equal(model.weights, before) and model._n_updates == 0


def test_structured_es_keeps_stopping_by_exception_from_on_rollout_start():
    class Budget(Exception):
        pass

    class RaiseAtSecondRollout(BaseCallback):
        def _on_rollout_start(self) -> None:
            if self.num_timesteps > 0:
                raise Budget

        def _on_step(self) -> bool:
            return True

    model = small("ses")
    with pytest.raises(Budget):
        model.learn(10**6, callback=RaiseAtSecondRollout())
    assert model.num_timesteps == model.pop_size * PENDULUM_EPISODE


@pytest.mark.parametrize("name", ALGOS)
def test_eval_callback_stop_on_reward_stops_every_algorithm(name: str):
    model = small(name)
    stop = StopTrainingOnRewardThreshold(reward_threshold=-1e9, verbose=0)  # any return reaches it
    callback = EvalCallback(pendulum(), callback_on_new_best=stop, eval_freq=40, n_eval_episodes=1, verbose=0)
    model.learn(5000, callback=callback)
    assert callback.n_calls == 40 and model.num_timesteps == 40
    assert np.isfinite(callback.best_mean_reward)  # it evaluated once, and stop-on-reward fired


# -- item 9: RLx2 policies save and load on their own -------------------------------------------
@pytest.mark.parametrize(("cls", "policy_cls"), [(RLx2TD3, RLx2TD3Policy), (RLx2SAC, RLx2SACPolicy)])
def test_rlx2_policy_saves_and_loads_on_its_own(tmp_path: Path, cls, policy_cls):
    model = cls("MlpPolicy", pendulum(), seed=0, **RLX2_SMALL)
    model.learn(120)
    assert type(model.policy) is policy_cls
    model.policy.save(tmp_path / "policy.pth")
    loaded = policy_cls.load(tmp_path / "policy.pth")
    original = model.policy.state_dict()
    assert loaded.state_dict().keys() == original.keys()
    assert any(key.endswith(".mask") and not original[key].all() for key in original)  # it is sparse
    for key, value in loaded.state_dict().items():
        assert th.equal(value, original[key]), key
    obs = np.zeros((3, 3), dtype=np.float32)
    assert np.array_equal(
        loaded.predict(obs, deterministic=True)[0], model.policy.predict(obs, deterministic=True)[0]
    )


# -- item 10: a second learn() runs the RLx2 schedules ------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("cls", [RLx2TD3, RLx2SAC])
def test_rlx2_second_learn_runs_topology_updates_and_buffer_checks(cls):
    model = cls("MlpPolicy", pendulum(), seed=0, policy_distance_threshold=0.0, **RLX2_SMALL)
    model.learn(400)
    first = dict(model.topology_updates), model.buffer_checks
    assert first[0]["critic"] > 0 and first[1] == 4
    model.learn(400)  # reset_num_timesteps=True: a new run
    assert model.topology_updates["critic"] == 2 * first[0]["critic"]
    assert model.topology_updates["actor"] == 2 * first[0]["actor"]
    assert model.buffer_checks == 2 * first[1]
    model.learn(400, reset_num_timesteps=False)  # continues the run: the horizon grows with it
    assert model.topology_updates["critic"] > 2 * first[0]["critic"]
    assert model.buffer_checks == 2 * first[1] + 4


# -- item 11: Dict observation spaces are refused at construction --------------------------------
class DictObsEnv(gym.Env):
    observation_space = spaces.Dict(
        {"position": spaces.Box(-1, 1, (2,)), "velocity": spaces.Box(-1, 1, (2,))}
    )
    action_space = spaces.Box(-1, 1, (1,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


@pytest.mark.parametrize(("name", "label"), [("ses", "StructuredES"), ("randpol", "RANDPOL"), ("rat", "RAT")])
def test_dict_observations_are_refused_at_construction(name: str, label: str):
    with pytest.raises(ValueError) as caught:
        small(name, env=DictObsEnv())
    message = str(caught.value)
    assert message.startswith(f"{label} cannot act on the observation space Dict(")
    assert "'position'" in message and "supported: Box, Discrete, MultiDiscrete, MultiBinary" in message


# -- item 12: TensorBoard run names; tensorboard is a dependency ---------------------------------
@pytest.mark.parametrize(
    ("name", "run"), [("ses", "StructuredES_1"), ("rlx2_td3", "RLx2TD3_1"), ("rlx2_sac", "RLx2SAC_1")]
)
def test_tensorboard_runs_are_named_after_the_algorithm(tmp_path: Path, name: str, run: str):
    model = small(name, tensorboard_log=str(tmp_path))
    model.learn(60)
    assert [p.name for p in tmp_path.iterdir()] == [run]


def test_tensorboard_is_a_dependency():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.replace(" ", "").lower().startswith("tensorboard") for d in dependencies)
    import tensorboard  # noqa: F401 - installed with the project
