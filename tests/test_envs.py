"""The harness's environment factory (envs/make.py)."""

from __future__ import annotations

import numpy as np

from envs.make import gym_kwargs, make_eval_env, make_train_env


def test_train_and_eval_envs_do_not_render():
    train = make_train_env("LunarLanderContinuous-v3", n_envs=2, seed=0)
    evaluation = make_eval_env("LunarLanderContinuous-v3", seed=100)
    for venv in (train, evaluation):
        assert all(mode is None for mode in venv.get_attr("render_mode"))
    train.close()
    evaluation.close()


def test_lunarlander_world_does_not_grow_while_the_engines_fire():
    # With a render mode set, every engine firing adds a Box2D particle body that only
    # render() ever removes; without one the world keeps its bodies.
    venv = make_train_env("LunarLanderContinuous-v3", n_envs=1, seed=0)
    venv.reset()
    lander = venv.envs[0].unwrapped
    n_bodies = len(lander.world.bodies)
    for _ in range(50):
        venv.step(np.array([[1.0, 1.0]], dtype=np.float32))  # main and side engine on
    assert lander.particles == []
    assert len(lander.world.bodies) == n_bodies
    venv.close()


def test_an_explicit_render_mode_is_kept():
    assert gym_kwargs(None) == {"render_mode": None}
    assert gym_kwargs({"render_mode": "rgb_array", "gravity": -9.0}) == {"render_mode": "rgb_array", "gravity": -9.0}
    venv = make_train_env("Pendulum-v1", n_envs=1, seed=0, env_kwargs={"render_mode": "rgb_array"})
    assert venv.get_attr("render_mode") == ["rgb_array"]
    venv.close()


def _rollout(env, actions, seed: int = 3) -> tuple[list[float], bool, bool]:
    env.reset(seed=seed)
    rewards, terminated, truncated = [], False, False
    for action in actions:
        _, reward, terminated, truncated, _ = env.step(action)
        rewards.append(float(reward))
        if terminated or truncated:
            break
    return rewards, terminated, truncated


def test_sparse_lunarlander_pays_the_episode_return_at_its_last_step():
    import gymnasium as gym

    import envs  # noqa: F401  (registers the sparse tasks)

    actions = np.random.default_rng(0).uniform(-1, 1, size=(1_000, 2)).astype(np.float32)
    dense, _, _ = _rollout(gym.make("LunarLanderContinuous-v3"), actions)
    sparse, terminated, _ = _rollout(gym.make("randbench/LunarLanderContinuousSparse-v3"), actions)
    assert terminated and len(sparse) == len(dense) > 10  # random thrust crashes well before the limit
    assert sparse[:-1] == [0.0] * (len(sparse) - 1)
    assert abs(sparse[-1] - sum(dense)) < 1e-9


def test_a_truncated_sparse_episode_is_paid_and_the_next_starts_from_zero():
    import gymnasium as gym
    from gymnasium.wrappers import TimeLimit

    from envs.sparse import EpisodeEndReward

    env = EpisodeEndReward(TimeLimit(gym.make("Pendulum-v1").unwrapped, max_episode_steps=5))
    dense_env = TimeLimit(gym.make("Pendulum-v1").unwrapped, max_episode_steps=5)
    actions = np.zeros((10, 1), dtype=np.float32)
    for _ in range(2):  # two episodes: nothing carries over from the first
        sparse, _, truncated = _rollout(env, actions)
        dense, _, _ = _rollout(dense_env, actions)
        assert truncated and sparse[:4] == [0.0] * 4 and abs(sparse[4] - sum(dense)) < 1e-9


def test_sparse_env_config_composes_with_the_dense_tuned_settings():
    from omegaconf import OmegaConf

    from tests.conftest import make_config

    # RANDPOL's sparse task keeps the dense task's tuned settings of the time its study part ran
    # (2,048-transition rollouts), not the 8,192-transition rollouts adopted after it.
    dense_tuned = {"ppo": (), "randpol": ("tuned=randpol_lunarlander_n_steps_128",)}
    for algo in ("ppo", "randpol"):
        dense = make_config(f"algo={algo}", "env=lunarlander", *dense_tuned[algo])
        sparse = make_config(f"algo={algo}", "env=lunarlander_sparse")
        assert sparse.env.id == "randbench/LunarLanderContinuousSparse-v3" and sparse.env.name == "lunarlander_sparse"
        assert OmegaConf.to_container(sparse.algo) == OmegaConf.to_container(dense.algo)
        assert (sparse.env.n_envs, sparse.env.normalize) == (dense.env.n_envs, dense.env.normalize)
