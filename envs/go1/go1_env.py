"""Unitree Go1 forward locomotion in MuJoCo (``randbench/Go1-v0``), with domain randomization.

The RANDPOL paper's fifth task is locomotion of a simulated 12-motor Unitree Go1; its reward,
observation and randomization ranges are not published in a readable form, so **this task
definition is randbench's own**. It follows the field's common practice for learned quadruped
locomotion (legged_gym, Rudin et al. 2022; walk-these-ways, Margolis and Agrawal 2022) and the
conventions of Gymnasium's MuJoCo tasks (Ant-v5), and every choice below is an option.

Control (why not raw torques: torque actions on this model with an Ant-style control cost give a
cost near -550 per step for random actions and a fall within about 10 steps, an unusable task):

- action ``a`` in [-1, 1]^12 sets joint position targets ``q* = q_home + action_scale * a``.
  ``action_scale`` 0.5 rad (legged_gym's base value) reaches the thigh swing of a trot; at this
  scale random actions make the robot stumble and sometimes fall, so standing still is not
  what random exploration already does (at 0.25 rad a random policy stands for all 1000 steps).
- a PD law ``tau = motor_strength * (Kp (q* - q) - Kd qdot)``, clipped to the motors' 23.7 N m,
  runs at every 2 ms physics step inside ``mujoco.mj_step`` (see :mod:`envs.go1.scene`).
  ``Kp`` 30 N m/rad, ``Kd`` 0.75 N m s/rad: the middle of the 20-40 range used for the Go1; at
  legged_gym's Kp 20 the trunk sags from 0.27 m to 0.21 m under its own weight (0.26 rad knee
  error), at 30 it stands at 0.235 m.
- ``frame_skip`` 10 substeps of 2 ms: the policy acts at 50 Hz, as on the real robot.
- ``friction_cone`` ``"pyramidal"``: go1.xml asks for elliptic cones with ``impratio`` 100, which
  makes the constraint solver about 3x slower (under 1,000 steps per second on one core);
  MuJoCo's default pyramidal cones keep the same friction coefficients and impratio.

Observation (45 numbers, in SI units; VecNormalize rescales them):
base linear velocity (3, m/s) and angular velocity (3, rad/s) in the trunk frame, gravity
direction in the trunk frame (3), joint positions minus home (12, rad), joint velocities
(12, rad/s), previous action (12); plus the commanded forward velocity (1, m/s) when
``forward_velocity_command`` is set.

Reward per step (dt = 0.02 s), with ``v_x`` the trunk's world-frame forward velocity over the step:
``forward_reward_weight * v_x`` (or ``* exp(-(v_x - v_cmd)^2 / tracking_sigma)`` with a command)
``+ healthy_reward - torque_cost_weight * sum(tau^2) - action_rate_cost_weight * sum((a - a_prev)^2)``.
Forward velocity is linear by default, as in Ant-v5 and Hopper-v5, because it keeps a gradient
towards faster walking at every speed; the exp kernel (legged_gym's tracking term, sigma 0.25) is
the option for commanded-velocity tracking. Weights: ``forward_reward_weight`` 2 and
``healthy_reward`` 0.5 make walking at 0.5 m/s pay twice the bonus for standing, while a fall,
which forfeits the bonus for the rest of the episode, costs more than a lunge gains;
``action_rate_cost_weight`` 0.01 is legged_gym's, and ``torque_cost_weight`` 2e-4 costs about
0.03 per step when standing, enough to discourage needless effort without rewarding stillness.
No gait-shaping terms (foot air time, base height, orientation) are used, so learned gaits are
fast bounds rather than a tidy trot. ``info["x_velocity"]`` is the forward speed in m/s.

Termination when the trunk is lower than ``min_height`` (0.15 m; it stands at 0.235 m) or
tilts more than ``max_tilt`` (1.0 rad) from upright; truncation after 1000 steps (20 s) by the
registered ``max_episode_steps``, as in Gymnasium's MuJoCo locomotion tasks.

Reset: the ``home`` keyframe of go1.xml (standing pose), joint angles plus uniform noise of
``reset_noise_scale`` (0.05) rad, joint velocities plus Gaussian noise of that standard deviation
in rad/s, so episodes differ without starting off balance; with ``domain_randomization`` a new robot is drawn (:mod:`envs.go1.randomization`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import mujoco
import numpy as np
from gymnasium import spaces, utils
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from envs.go1.randomization import (
    OBS_NOISE_SCALES,
    DomainSample,
    resolve_ranges,
    sample_domain,
)
from envs.go1.scene import (
    FLOOR_GEOM,
    FOOT_GEOMS,
    HOME_KEYFRAME,
    TRUNK_BODY,
    build_scene,
    go1_xml_path,
    motor_torque_limits,
    set_pd_actuators,
)

N_JOINTS = 12
#: MuJoCo friction-cone types by option name.
FRICTION_CONES: dict[str, int] = {
    "pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL,
    "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC,
}


class Go1Env(MujocoEnv, utils.EzPickle):
    """Forward walking of the Unitree Go1 with PD position-target actions at 50 Hz.

    See the module docstring for the task definition and why each default was chosen.

    :param frame_skip: physics steps of ``model.opt.timestep`` (2 ms) per env step (>= 1).
    :param kp: proportional gain of the PD law, N m / rad (> 0).
    :param kd: derivative gain of the PD law, N m s / rad (>= 0).
    :param action_scale: rad of joint-target offset per unit of action (> 0).
    :param forward_reward_weight: weight of the forward-velocity term (>= 0).
    :param healthy_reward: reward per step while the robot is upright (>= 0).
    :param torque_cost_weight: weight of the sum of squared joint torques, per (N m)^2 (>= 0).
    :param action_rate_cost_weight: weight of the sum of squared action changes (>= 0).
    :param forward_velocity_command: None for the linear forward-velocity reward, or
        ``(low, high)`` m/s: a command drawn at each reset, tracked with an exp kernel and
        appended to the observation.
    :param tracking_sigma: width of the tracking kernel, (m/s)^2 (> 0).
    :param min_height: the episode ends when the trunk is below this height, m (>= 0).
    :param max_tilt: the episode ends when the trunk tilts more than this from upright,
        rad, in (0, pi].
    :param reset_noise_scale: scale of the joint-angle (rad) and joint-velocity (rad/s) noise
        at reset (>= 0).
    :param friction_cone: ``"pyramidal"`` (MuJoCo's default) or ``"elliptic"`` (go1.xml's own
        setting, about 3x slower to simulate).
    :param domain_randomization: draw friction, payload, motor strength, PD gains and
        observation noise at every reset.
    :param randomization_ranges: ``{key: (low, high)}`` replacing any default range of
        :data:`envs.go1.randomization.DEFAULT_RANDOMIZATION_RANGES`.
    :param render_mode: None, ``"human"``, ``"rgb_array"`` or ``"depth_array"``.
    :param width: render width in pixels.
    :param height: render height in pixels.
    :param camera_name: camera used for rendering; go1.xml's ``tracking`` camera follows the robot.
    :raises ValueError: on an option outside its accepted range (the message names it).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array", "depth_array"]}

    def __init__(
        self,
        frame_skip: int = 10,
        kp: float = 30.0,
        kd: float = 0.75,
        action_scale: float = 0.5,
        forward_reward_weight: float = 2.0,
        healthy_reward: float = 0.5,
        torque_cost_weight: float = 2e-4,
        action_rate_cost_weight: float = 0.01,
        forward_velocity_command: Sequence[float] | None = None,
        tracking_sigma: float = 0.25,
        min_height: float = 0.15,
        max_tilt: float = 1.0,
        reset_noise_scale: float = 0.05,
        friction_cone: str = "pyramidal",
        domain_randomization: bool = False,
        randomization_ranges: Mapping[str, Sequence[float]] | None = None,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
        camera_name: str | None = "tracking",
    ) -> None:
        # Every constructor argument, so that copies and pickles rebuild the same task.
        utils.EzPickle.__init__(self, **{k: v for k, v in locals().items() if k not in ("self", "__class__")})
        _check_options(
            frame_skip=frame_skip,
            kp=kp,
            kd=kd,
            action_scale=action_scale,
            forward_reward_weight=forward_reward_weight,
            healthy_reward=healthy_reward,
            torque_cost_weight=torque_cost_weight,
            action_rate_cost_weight=action_rate_cost_weight,
            tracking_sigma=tracking_sigma,
            min_height=min_height,
            max_tilt=max_tilt,
            reset_noise_scale=reset_noise_scale,
        )
        if friction_cone not in FRICTION_CONES:
            raise ValueError(
                f"Go1 option friction_cone={friction_cone!r} is invalid; accepted: {sorted(FRICTION_CONES)}"
            )
        if forward_velocity_command is not None:
            forward_velocity_command = _check_command(forward_velocity_command)
        ranges = resolve_ranges(randomization_ranges)
        self.kp = float(kp)
        self.kd = float(kd)
        self.action_scale = float(action_scale)
        self.forward_reward_weight = float(forward_reward_weight)
        self.healthy_reward = float(healthy_reward)
        self.torque_cost_weight = float(torque_cost_weight)
        self.action_rate_cost_weight = float(action_rate_cost_weight)
        self.forward_velocity_command = forward_velocity_command
        self.tracking_sigma = float(tracking_sigma)
        self.min_height = float(min_height)
        self.max_tilt = float(max_tilt)
        self.reset_noise_scale = float(reset_noise_scale)
        self.friction_cone = friction_cone
        self.domain_randomization = bool(domain_randomization)
        self.randomization_ranges = ranges

        obs_size = 45 + (forward_velocity_command is not None)
        MujocoEnv.__init__(
            self,
            str(go1_xml_path()),
            frame_skip,
            observation_space=spaces.Box(-np.inf, np.inf, shape=(obs_size,), dtype=np.float64),
            render_mode=render_mode,
            width=width,
            height=height,
            camera_name=camera_name,
        )
        # The frame rate follows frame_skip; MujocoEnv would reject a class-level one that differs.
        self.metadata = {**self.metadata, "render_fps": int(np.round(1.0 / self.dt))}
        self.action_space = spaces.Box(-1.0, 1.0, shape=(N_JOINTS,), dtype=np.float32)
        if self.model.nu != N_JOINTS:
            raise RuntimeError(f"the Go1 model has {self.model.nu} actuators, expected {N_JOINTS}")

        home = self.model.keyframe(HOME_KEYFRAME)
        self.init_qpos = home.qpos.copy()
        self.init_qvel = home.qvel.copy()
        # ctrl[i] drives joint actuator_trnid[i, 0]; its qpos address gives the home angle.
        joint_qpos = self.model.jnt_qposadr[self.model.actuator_trnid[:, 0]]
        joint_dof = self.model.jnt_dofadr[self.model.actuator_trnid[:, 0]]
        self._joint_qpos = joint_qpos
        self._joint_dof = joint_dof
        self.q_home = self.init_qpos[joint_qpos].copy()

        self.torque_limit = motor_torque_limits(self.model)
        self._trunk = self.model.body(TRUNK_BODY).id
        self._feet = np.array([self.model.geom(name).id for name in FOOT_GEOMS])
        self._floor = self.model.geom(FLOOR_GEOM).id
        self.nominal_trunk_mass = float(self.model.body_mass[self._trunk])
        if self.nominal_trunk_mass + ranges["payload"][0] <= 0.0:
            raise ValueError(
                f"randomization_ranges['payload'] low must be > -{self.nominal_trunk_mass} kg "
                f"(the trunk mass), got {ranges['payload'][0]}"
            )
        set_pd_actuators(
            self.model, np.full(N_JOINTS, self.kp), np.full(N_JOINTS, self.kd), self.torque_limit
        )

        self._obs_noise_std = np.concatenate(
            [
                np.full(3, OBS_NOISE_SCALES["base_linear_velocity"]),
                np.full(3, OBS_NOISE_SCALES["base_angular_velocity"]),
                np.full(3, OBS_NOISE_SCALES["gravity"]),
                np.full(N_JOINTS, OBS_NOISE_SCALES["joint_positions"]),
                np.full(N_JOINTS, OBS_NOISE_SCALES["joint_velocities"]),
                np.zeros(N_JOINTS + (forward_velocity_command is not None)),
            ]
        )
        self.domain: DomainSample | None = None
        self.command = 0.0
        self._previous_action = np.zeros(N_JOINTS)
        self._rotation = np.zeros(9)

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        model = build_scene(Path(self.fullpath), self.width, self.height)
        model.opt.cone = FRICTION_CONES[self.friction_cone]
        return model, mujoco.MjData(model)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Hold the joint targets of ``action`` for ``frame_skip`` physics steps.

        :param action: joint-target offsets in units of ``action_scale``, shape (12,), clipped
            to [-1, 1].
        :return: observation, reward, terminated, truncated (always False here: the
            TimeLimit wrapper truncates), info with the reward terms and ``x_velocity`` (m/s).
        """
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        xy_before = self.data.qpos[0:2].copy()
        self.data.ctrl[:] = self.q_home + self.action_scale * action
        # Straight mj_step: nothing here reads the contact forces that mj_rnePostConstraint fills.
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        x_velocity, y_velocity = (self.data.qpos[0:2] - xy_before) / self.dt

        if self.forward_velocity_command is None:
            forward_reward = self.forward_reward_weight * x_velocity
        else:
            error = (x_velocity - self.command) ** 2
            forward_reward = self.forward_reward_weight * np.exp(-error / self.tracking_sigma)
        torque = self.data.actuator_force  # of the last physics step: cheap, and smooth enough at 2 ms
        torque_cost = self.torque_cost_weight * float(torque @ torque)
        action_change = action - self._previous_action
        action_rate_cost = self.action_rate_cost_weight * float(action_change @ action_change)
        self._previous_action = action

        observation = self._get_obs()
        terminated = not self.is_healthy
        reward = forward_reward + self.healthy_reward - torque_cost - action_rate_cost
        info = {
            "x_position": float(self.data.qpos[0]),
            "y_position": float(self.data.qpos[1]),
            "x_velocity": float(x_velocity),
            "y_velocity": float(y_velocity),
            "reward_forward": float(forward_reward),
            "reward_healthy": self.healthy_reward,
            "cost_torque": torque_cost,
            "cost_action_rate": action_rate_cost,
        }
        if self.render_mode == "human":
            self.render()
        return observation, float(reward), terminated, False, info

    @property
    def is_healthy(self) -> bool:
        """Whether the trunk is above ``min_height`` and within ``max_tilt`` of upright."""
        mujoco.mju_quat2Mat(self._rotation, self.data.qpos[3:7])
        # rotation[8] is the world-z component of the trunk's z axis: cos(tilt).
        return bool(self.data.qpos[2] >= self.min_height and self._rotation[8] >= np.cos(self.max_tilt))

    def _get_obs(self) -> np.ndarray:
        qpos, qvel = self.data.qpos, self.data.qvel
        mujoco.mju_quat2Mat(self._rotation, qpos[3:7])
        rotation = self._rotation.reshape(3, 3)
        parts = [
            rotation.T @ qvel[0:3],  # free-joint linear velocity is in the world frame
            qvel[3:6],  # free-joint angular velocity is already in the trunk frame
            -rotation[2],  # world gravity direction (0, 0, -1) seen from the trunk
            qpos[self._joint_qpos] - self.q_home,
            qvel[self._joint_dof],
            self._previous_action,
        ]
        if self.forward_velocity_command is not None:
            parts.append([self.command])
        observation = np.concatenate(parts)
        if self.domain is not None and self.domain.obs_noise > 0.0:
            noise = self.np_random.standard_normal(observation.shape)
            observation += self.domain.obs_noise * self._obs_noise_std * noise
        return observation

    def reset_model(self) -> np.ndarray:
        """Home pose with noise; a new robot under domain randomization; a new command if any."""
        if self.domain_randomization:
            self.domain = sample_domain(self.np_random, self.randomization_ranges, N_JOINTS)
            self._apply_domain(self.domain)
        if self.forward_velocity_command is not None:
            self.command = float(self.np_random.uniform(*self.forward_velocity_command))
        qpos = self.init_qpos.copy()
        qvel = self.init_qvel.copy()
        noise = self.reset_noise_scale
        qpos[self._joint_qpos] += self.np_random.uniform(-noise, noise, size=N_JOINTS)
        qvel[self._joint_dof] += noise * self.np_random.standard_normal(N_JOINTS)
        self.set_state(qpos, qvel)
        self._previous_action = np.zeros(N_JOINTS)
        return self._get_obs()

    def _apply_domain(self, domain: DomainSample) -> None:
        """Write one drawn robot into the model (every randomized field, so no episode leaks)."""
        self.model.geom_friction[self._feet, 0] = domain.friction
        self.model.geom_friction[self._floor, 0] = domain.friction
        self.model.body_mass[self._trunk] = self.nominal_trunk_mass + domain.payload
        set_pd_actuators(
            self.model,
            domain.motor_strength * domain.kp_factor * self.kp,
            domain.motor_strength * domain.kd_factor * self.kd,
            self.torque_limit,
        )
        # Mass-dependent constants (subtree masses, solver weights) follow the new trunk mass.
        mujoco.mj_setConst(self.model, self.data)

    def _get_reset_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "x_position": float(self.data.qpos[0]),
            "y_position": float(self.data.qpos[1]),
        }
        if self.domain is not None:
            info["domain"] = self.domain
        return info


def _check_options(**options: float) -> None:
    """Raise ValueError naming the first option outside its accepted range."""
    rules = {
        "frame_skip": (lambda v: isinstance(v, (int, np.integer)) and v >= 1, "an integer >= 1"),
        "kp": (lambda v: v > 0, "> 0 (N m / rad)"),
        "kd": (lambda v: v >= 0, ">= 0 (N m s / rad)"),
        "action_scale": (lambda v: v > 0, "> 0 (rad)"),
        "forward_reward_weight": (lambda v: v >= 0, ">= 0"),
        "healthy_reward": (lambda v: v >= 0, ">= 0"),
        "torque_cost_weight": (lambda v: v >= 0, ">= 0"),
        "action_rate_cost_weight": (lambda v: v >= 0, ">= 0"),
        "tracking_sigma": (lambda v: v > 0, "> 0 ((m/s)^2)"),
        "min_height": (lambda v: v >= 0, ">= 0 (m)"),
        "max_tilt": (lambda v: 0 < v <= np.pi, "in (0, pi] (rad)"),
        "reset_noise_scale": (lambda v: v >= 0, ">= 0"),
    }
    for name, value in options.items():
        accepted, description = rules[name]
        if not accepted(value):
            raise ValueError(f"Go1 option {name}={value!r} is invalid; accepted: {description}")


def _check_command(command: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in command)
    except (TypeError, ValueError):
        raise ValueError(
            f"Go1 option forward_velocity_command={command!r} is invalid; accepted: None or (low, high) in m/s"
        ) from None
    if not low <= high:
        raise ValueError(
            f"Go1 option forward_velocity_command=({low}, {high}) is invalid; accepted: low <= high"
        )
    return low, high
