"""envs/vec.py: the lean wrappers give exactly what SB3's DummyVecEnv and VecNormalize give."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from algos.randpol import RANDPOL
from envs.make import make_eval_env, make_train_env
from envs.vec import LeanDummyVecEnv, LeanVecNormalize, update_running_moments
from sweeps.checkpoint import env_state


def _rms_pair(shape):
    a, b = RunningMeanStd(shape=shape), RunningMeanStd(shape=shape)
    return a, b


def _assert_rms_equal(a: RunningMeanStd, b: RunningMeanStd) -> None:
    assert a.mean.dtype == b.mean.dtype and a.var.dtype == b.var.dtype
    assert a.mean.tobytes() == b.mean.tobytes()
    assert a.var.tobytes() == b.var.tobytes()
    assert a.count == b.count


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (3,), (2, 5)])
@pytest.mark.parametrize("n", [1, 2, 7])
def test_update_running_moments_is_bitwise_rms_update(dtype, shape, n):
    rng = np.random.default_rng(n)
    a, b = _rms_pair(shape)
    for step in range(5):
        batch = (rng.normal(size=(n, *shape)) * 10.0 ** rng.integers(-3, 4)).astype(dtype)
        if step == 2:
            batch[...] = -0.0
        a.update(batch)
        update_running_moments(b, batch)
        _assert_rms_equal(a, b)


def test_update_running_moments_non_finite_and_fallbacks():
    a, b = _rms_pair((2,))
    batch = np.array([[np.inf, 1.0], [np.nan, 2.0]])
    with np.errstate(invalid="ignore"):
        a.update(batch)
        update_running_moments(b, batch)
    np.testing.assert_array_equal(a.mean, b.mean)  # nan == nan under assert_array_equal
    np.testing.assert_array_equal(a.var, b.var)
    # integer batches and empty ones go to rms.update unchanged
    a, b = _rms_pair((2,))
    ints = np.array([[1, 2], [3, 5]], dtype=np.int64)
    a.update(ints)
    update_running_moments(b, ints)
    _assert_rms_equal(a, b)
    halves = np.array([[1.5, 2.25], [3.0, 5.5]], dtype=np.float16)
    a.update(halves)
    update_running_moments(b, halves)
    _assert_rms_equal(a, b)
    empty = np.zeros((0, 2))
    with pytest.warns(RuntimeWarning):
        update_running_moments(b, empty)


def _stacks(env_id, n_envs, norm, max_episode_steps):
    kwargs = {"max_episode_steps": max_episode_steps}
    stock = make_vec_env(env_id, n_envs=n_envs, seed=3, env_kwargs=kwargs, vec_env_cls=DummyVecEnv)
    lean = make_vec_env(env_id, n_envs=n_envs, seed=3, env_kwargs=kwargs, vec_env_cls=LeanDummyVecEnv)
    if norm is not None:
        stock = VecNormalize(stock, gamma=0.98, **norm)
        lean = LeanVecNormalize(lean, gamma=0.98, **norm)
    return stock, lean


def _assert_infos_equal(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            if key == "episode":
                assert {k: v for k, v in x[key].items() if k != "t"} == {
                    k: v for k, v in y[key].items() if k != "t"
                }  # Monitor's "t" is wall-clock
            elif isinstance(x[key], np.ndarray):
                assert x[key].dtype == y[key].dtype and x[key].tobytes() == y[key].tobytes()
            else:
                assert x[key] == y[key]


@pytest.mark.parametrize(
    "env_id,norm",
    [
        ("Pendulum-v1", None),
        ("Pendulum-v1", {"norm_obs": True, "norm_reward": True}),
        ("Pendulum-v1", {"norm_obs": False, "norm_reward": True}),
        ("Hopper-v5", {"norm_obs": True, "norm_reward": False, "clip_obs": 0.5}),
    ],
)
def test_lean_stack_steps_like_sb3s(env_id, norm):
    stock, lean = _stacks(env_id, n_envs=2, norm=norm, max_episode_steps=15)
    rng = np.random.default_rng(0)
    o1, o2 = stock.reset(), lean.reset()
    assert o1.dtype == o2.dtype and o1.tobytes() == o2.tobytes()
    dones_seen = 0
    for _ in range(40):
        actions = rng.uniform(-1, 1, size=(2, *stock.action_space.shape)).astype(np.float32)
        r1, r2 = stock.step(actions), lean.step(actions)
        for x, y in zip(r1[:3], r2[:3], strict=True):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
        _assert_infos_equal(r1[3], r2[3])
        dones_seen += int(r1[2].sum())
    assert dones_seen >= 4  # the terminal-observation path ran
    if norm is not None:
        if norm["norm_obs"]:
            _assert_rms_equal(stock.obs_rms, lean.obs_rms)
        _assert_rms_equal(stock.ret_rms, lean.ret_rms)
        assert lean.get_original_obs().tobytes() == stock.get_original_obs().tobytes()


class _ReusingEnv(gym.Env):
    """An env that hands out the same observation array and info array every step."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self):
        self._obs = np.zeros(2)
        self._arr = np.zeros(1)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self._obs[:] = 0.0
        return self._obs, {}

    def step(self, action):
        self._t += 1
        self._obs += 1.0
        self._arr[0] = self._t
        return self._obs, 1.0, self._t % 3 == 0, False, {"arr": self._arr}


def test_lean_infos_and_terminal_observations_are_copies():
    venv = LeanDummyVecEnv([_ReusingEnv])
    venv.reset()
    history = [venv.step(np.zeros((1, 1), np.float32)) for _ in range(3)]
    # the env reuses its arrays; what was returned before keeps its value
    assert [float(h[3][0]["arr"][0]) for h in history] == [1.0, 2.0, 3.0]
    terminal = history[2][3][0]["terminal_observation"]
    np.testing.assert_array_equal(terminal, [3.0, 3.0])
    np.testing.assert_array_equal(history[2][0][0], [0.0, 0.0])  # reset observation
    history[2][3][0]["extra"] = 1  # a caller's change stays in the caller's dict
    assert "extra" not in venv.buf_infos[0]
    assert history[1][0] is not history[2][0]


def test_harness_builds_lean_wrappers_and_saves_a_plain_vecnormalize(tmp_path):
    train = make_train_env("Pendulum-v1", n_envs=2, seed=0, normalize=True, gamma=0.9)
    assert type(train) is LeanVecNormalize and type(train.venv) is LeanDummyVecEnv
    assert train.gamma == 0.9
    ev = make_eval_env("Pendulum-v1", seed=100, train_env=train)
    assert type(ev) is LeanVecNormalize and not ev.training and not ev.norm_reward
    assert type(make_train_env("Pendulum-v1", 1, 0)) is LeanDummyVecEnv
    train.reset()
    for _ in range(5):
        train.step(np.zeros((2, 1), np.float32))
    path = tmp_path / "vecnormalize.pkl"
    train.save(str(path))
    assert b"envs.vec" not in path.read_bytes()  # loads without randbench
    loaded = VecNormalize.load(str(path), make_vec_env("Pendulum-v1", n_envs=2, seed=0))
    assert type(loaded) is VecNormalize
    _assert_rms_equal(loaded.obs_rms, train.obs_rms)
    _assert_rms_equal(loaded.ret_rms, train.ret_rms)
    assert train.venv is not None  # saving did not detach the training env
    assert env_state(train) is not None  # checkpoints still save a lean env's state


class _DictEnv(gym.Env):
    observation_space = gym.spaces.Dict({"x": gym.spaces.Box(-1, 1, (2,), np.float32)})
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        return {"x": np.zeros(2, np.float32)}, {}

    def step(self, action):
        return {"x": np.ones(2, np.float32)}, 0.0, False, False, {}


def test_dict_observations_keep_sb3s_vecnormalize():
    from envs.make import _normalizer

    venv = LeanDummyVecEnv([_DictEnv])
    assert _normalizer(venv) is VecNormalize
    with pytest.raises(TypeError, match="Box observation spaces only"):
        LeanVecNormalize(venv)
    obs = venv.reset()
    assert isinstance(obs, dict) and obs["x"].shape == (1, 2)


def _params(model) -> dict[str, th.Tensor]:
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


@pytest.mark.parametrize("algo", ["randpol", "ppo"])
def test_training_on_either_stack_learns_the_same_parameters(algo):
    results = []
    for cls, norm_cls in ((DummyVecEnv, VecNormalize), (LeanDummyVecEnv, LeanVecNormalize)):
        env = norm_cls(make_vec_env("Pendulum-v1", n_envs=2, seed=0, vec_env_cls=cls))
        if algo == "randpol":
            model = RANDPOL("RandomFeaturePolicy", env, n_steps=32, batch_size=32, n_epochs=2,
                            critic_epochs=2, policy_kwargs={"net_arch": [16, 24]}, seed=0, device="cpu")
        else:
            model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=2,
                        policy_kwargs={"net_arch": [16]}, seed=0, device="cpu")
        model.learn(192)
        results.append(_params(model))
    stock, lean = results
    assert stock.keys() == lean.keys()
    for key in stock:
        assert th.equal(stock[key], lean[key]), key
