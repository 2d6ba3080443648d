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
