"""The Go1 task: API contract, reproducibility, PD control, domain randomization, option errors."""

from __future__ import annotations

import ctypes.util
import inspect
import os
import subprocess
import sys

import gymnasium as gym
import mujoco
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs.go1
from envs.go1 import ENV_ID, MAX_EPISODE_STEPS
from envs.go1.randomization import DEFAULT_RANDOMIZATION_RANGES
from tests.conftest import REPO

envs.go1.register()


def make(**kwargs) -> gym.Env:
    return gym.make(ENV_ID, **kwargs)


def test_register_is_idempotent_and_sets_the_time_limit():
    envs.go1.register()
    envs.go1.register()
    assert gym.spec(ENV_ID).max_episode_steps == MAX_EPISODE_STEPS == 1000


@pytest.mark.parametrize("domain_randomization", [False, True])
def test_gymnasium_and_sb3_env_checkers_pass(domain_randomization: bool):
    env = make(domain_randomization=domain_randomization)
    # The render check opens every declared mode, "human" too, which needs a display; rgb_array
    # rendering has its own test below.
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(make(domain_randomization=domain_randomization), warn=True)


def test_spaces_and_observation_at_home():
    env = make(reset_noise_scale=0.0)
    assert env.action_space.shape == (12,)
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (45,) == env.observation_space.shape
    # Upright at rest: no velocity, gravity straight down in the trunk frame, joints at home.
    np.testing.assert_allclose(obs[0:6], 0.0, atol=1e-12)
    np.testing.assert_allclose(obs[6:9], [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(obs[9:45], 0.0, atol=1e-12)
    commanded = make(forward_velocity_command=(0.4, 0.6))
    obs, _ = commanded.reset(seed=0)
    assert obs.shape == (46,) and 0.4 <= obs[-1] <= 0.6


def test_seeded_resets_are_reproducible():
    a, b = make(), make()
    obs_a, _ = a.reset(seed=7)
    obs_b, _ = b.reset(seed=7)
    np.testing.assert_array_equal(obs_a, obs_b)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(20, 12))
    for action in actions:
        step_a, step_b = a.step(action), b.step(action)
        np.testing.assert_array_equal(step_a[0], step_b[0])
        assert step_a[1] == step_b[1]
    obs_other, _ = b.reset(seed=8)
    assert not np.array_equal(obs_a, obs_other)


def test_pd_law_runs_in_the_actuators_with_the_torque_limit():
    kp, kd = 30.0, 0.8
    env = make(kp=kp, kd=kd, action_scale=0.4)
    go1 = env.unwrapped
    env.reset(seed=0)
    # go1.xml's motors: ctrlrange +-45.43 N m, forcerange +-23.7 N m from its shared default class.
    np.testing.assert_allclose(go1.torque_limit, 23.7)
    action = np.random.default_rng(1).uniform(-1, 1, size=12)
    env.step(action)
    model, data = go1.model, go1.data
    mujoco.mj_forward(model, data)
    q = data.qpos[go1._joint_qpos]
    qdot = data.qvel[go1._joint_dof]
    target = go1.q_home + 0.4 * action
    expected = np.clip(kp * (target - q) - kd * qdot, -23.7, 23.7)
    np.testing.assert_allclose(data.actuator_force, expected, rtol=1e-9, atol=1e-9)


def test_standing_still_is_healthy_and_x_velocity_is_measured():
    env = make()
    env.reset(seed=0)
    for _ in range(100):
        _, reward, terminated, truncated, info = env.step(np.zeros(12))
    assert not terminated and not truncated
    assert abs(info["x_velocity"]) < 0.05
    assert reward == pytest.approx(
        info["reward_forward"] + info["reward_healthy"] - info["cost_torque"] - info["cost_action_rate"]
    )
    # x_velocity is the displacement of the step over dt.
    x_before = env.unwrapped.data.qpos[0]
    _, _, _, _, info = env.step(np.full(12, 0.5))
    assert info["x_velocity"] == pytest.approx((info["x_position"] - x_before) / 0.02)


def test_commanded_velocity_is_tracked_with_an_exp_kernel():
    env = make(forward_velocity_command=(0.5, 0.5), tracking_sigma=0.25, forward_reward_weight=2.0)
    obs, _ = env.reset(seed=0)
    assert obs[-1] == 0.5
    for _ in range(50):
        _, _, _, _, info = env.step(np.zeros(12))
    expected = 2.0 * np.exp(-((info["x_velocity"] - 0.5) ** 2) / 0.25)
    assert info["reward_forward"] == pytest.approx(expected)
    assert info["reward_forward"] == pytest.approx(2.0 * np.exp(-1.0), rel=0.05)  # standing: v_x ~ 0


def test_fall_terminates():
    env = make(min_height=0.5)  # above the standing height: the first step is a fall
    env.reset(seed=0)
    _, _, terminated, _, _ = env.step(np.zeros(12))
    assert terminated


def _model_parameters(env: gym.Env) -> dict[str, np.ndarray]:
    go1 = env.unwrapped
    model = go1.model
    return {
        "foot_friction": model.geom_friction[go1._feet, 0].copy(),
        "floor_friction": model.geom_friction[go1._floor, 0].copy(),
        "trunk_mass": model.body_mass[go1._trunk].copy(),
        "gain": model.actuator_gainprm[:, 0].copy(),
        "damping": -model.actuator_biasprm[:, 2].copy(),
    }


def test_without_randomization_the_model_is_nominal():
    env = make(kp=30.0, kd=0.75)
    go1 = env.unwrapped
    for seed in range(3):
        env.reset(seed=seed)
        params = _model_parameters(env)
        np.testing.assert_allclose(params["foot_friction"], 0.8)
        assert params["trunk_mass"] == pytest.approx(5.204)
        np.testing.assert_allclose(params["gain"], 30.0)
        np.testing.assert_allclose(params["damping"], 0.75)
        assert go1.domain is None


def test_randomization_stays_within_the_documented_ranges_and_varies():
    kp, kd = 30.0, 0.75
    env = make(kp=kp, kd=kd, domain_randomization=True)
    r = DEFAULT_RANDOMIZATION_RANGES
    drawn = []
    for seed in range(30):
        env.reset(seed=seed)
        params = _model_parameters(env)
        domain = env.unwrapped.domain
        drawn.append(params)
        assert r["friction"][0] <= params["foot_friction"][0] <= r["friction"][1]
        np.testing.assert_array_equal(params["foot_friction"], params["floor_friction"])
        assert r["payload"][0] <= params["trunk_mass"] - 5.204 <= r["payload"][1]
        strength = domain.motor_strength
        assert np.all((r["motor_strength"][0] <= strength) & (strength <= r["motor_strength"][1]))
        kp_factor = params["gain"] / (kp * strength)
        kd_factor = params["damping"] / (kd * strength)
        np.testing.assert_allclose(kp_factor, kp_factor[0])  # one Kp factor for all motors
        assert r["kp_factor"][0] <= kp_factor[0] <= r["kp_factor"][1]
        assert r["kd_factor"][0] <= kd_factor[0] <= r["kd_factor"][1]
        assert r["obs_noise"][0] <= domain.obs_noise <= r["obs_noise"][1]
    # Thirty draws spread over most of each range.
    frictions = [p["foot_friction"][0] for p in drawn]
    assert max(frictions) - min(frictions) > 0.5 * (r["friction"][1] - r["friction"][0])
    masses = [float(p["trunk_mass"]) for p in drawn]
    assert max(masses) - min(masses) > 0.5 * (r["payload"][1] - r["payload"][0])


def test_randomization_is_reproducible_per_seed():
    a, b = make(domain_randomization=True), make(domain_randomization=True)
    obs_a, _ = a.reset(seed=3)
    obs_b, _ = b.reset(seed=3)
    np.testing.assert_array_equal(obs_a, obs_b)
    for key, value in _model_parameters(a).items():
        np.testing.assert_array_equal(value, _model_parameters(b)[key], err_msg=key)
    step_a, step_b = a.step(np.full(12, 0.3)), b.step(np.full(12, 0.3))
    np.testing.assert_array_equal(step_a[0], step_b[0])  # same noise draws too
    b.reset(seed=4)
    assert _model_parameters(a)["trunk_mass"] != _model_parameters(b)["trunk_mass"]


def test_randomization_ranges_override_and_observation_noise():
    env = make(
        domain_randomization=True,
        randomization_ranges={"payload": (2.0, 2.0), "obs_noise": (1.0, 1.0)},
    )
    env.reset(seed=0)
    assert _model_parameters(env)["trunk_mass"] == pytest.approx(5.204 + 2.0)
    # With noise, two observations of the same state differ; without it they are equal.
    go1 = env.unwrapped
    assert not np.array_equal(go1._get_obs(), go1._get_obs())
    quiet = make(domain_randomization=True, randomization_ranges={"obs_noise": (0.0, 0.0)}).unwrapped
    quiet.reset(seed=0)
    np.testing.assert_array_equal(quiet._get_obs(), quiet._get_obs())


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kp": -1.0}, r"kp=-1\.0 is invalid; accepted: > 0"),
        ({"kd": -0.5}, r"kd=-0\.5 is invalid; accepted: >= 0"),
        ({"action_scale": 0.0}, r"action_scale=0\.0 is invalid"),
        ({"frame_skip": 0}, r"frame_skip=0 is invalid; accepted: an integer >= 1"),
        ({"max_tilt": 4.0}, r"max_tilt=4\.0 is invalid; accepted: in \(0, pi\]"),
        (
            {"friction_cone": "round"},
            r"friction_cone='round' is invalid; accepted: \['elliptic', 'pyramidal'\]",
        ),
        ({"forward_velocity_command": (1.0, 0.5)}, r"forward_velocity_command=\(1\.0, 0\.5\) is invalid"),
        (
            {"randomization_ranges": {"gravity": (0.0, 1.0)}},
            r"unknown key 'gravity'; accepted keys: \['friction'",
        ),
        ({"randomization_ranges": {"friction": (1.0, 0.5)}}, r"\['friction'\] needs low <= high"),
        ({"randomization_ranges": {"friction": (0.0, 0.5)}}, r"\['friction'\] low must be > 0"),
        ({"randomization_ranges": {"motor_strength": (0.9,)}}, r"must be two numbers"),
        ({"randomization_ranges": {"payload": (-6.0, 0.0)}}, r"\['payload'\] low must be > -5\.204"),
    ],
)
def test_invalid_options_raise_a_clear_error(kwargs: dict, match: str):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_elliptic_cone_option_sets_the_model():
    assert make(friction_cone="elliptic").unwrapped.model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
    assert make().unwrapped.model.opt.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL


@pytest.mark.slow
@pytest.mark.skipif(ctypes.util.find_library("EGL") is None, reason="needs an EGL (OpenGL) library")
def test_rgb_array_rendering():
    code = (
        "import gymnasium as gym, numpy as np, envs.go1 as g; g.register();"
        "env = gym.make('randbench/Go1-v0', render_mode='rgb_array', width=64, height=48);"
        "env.reset(seed=0); frame = env.render();"
        "assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=REPO,
        env={**os.environ, "MUJOCO_GL": "egl"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_config_lists_every_task_option_with_the_constructor_default():
    from omegaconf import OmegaConf

    from envs.go1.go1_env import Go1Env
    from tests.conftest import make_config

    cfg = make_config("algo=ppo", "env=go1")
    assert cfg.env.id == ENV_ID and cfg.env.name == "go1"
    kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True)
    viewer_options = {"render_mode", "width", "height", "camera_name"}
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(Go1Env.__init__).parameters.items()
        if name != "self" and name not in viewer_options
    }
    assert kwargs == defaults
    # A command-line override reaches the env.
    cfg = make_config("algo=ppo", "env=go1", "env.kwargs.kp=40", "env.kwargs.domain_randomization=true")
    env = make(**OmegaConf.to_container(cfg.env.kwargs, resolve=True))
    assert env.unwrapped.kp == 40.0 and env.unwrapped.domain_randomization


def test_throughput_benchmark_writes_a_row_per_case(tmp_path):
    from benchmarks import env_throughput

    output = tmp_path / "env_throughput.csv"
    env_throughput.main(["--steps", "30", "--repeats", "1", "--output", str(output)])
    table = pd.read_csv(output)
    assert {"randbench/Go1-v0", "Hopper-v5"} <= set(table["env_id"])
    assert (table["steps_per_s"] > 0).all() and (table["steps_per_cpu_s"] > 0).all()
