"""Build the training and evaluation environments of a run from its ``env`` config.

Every algorithm gets the same wrappers (fair-comparison rules in docs/design.md): gymnasium's env,
SB3's ``Monitor`` (raw episode return and length, before any normalization), a ``DummyVecEnv``
or ``SubprocVecEnv`` of ``n_envs`` copies and, when the config asks for it, ``VecNormalize``.
The one-process vectorization and the normalization are envs/vec.py's lean subclasses
(``LeanDummyVecEnv``, ``LeanVecNormalize``: SB3's arithmetic without its per-step copies;
Dict observations keep SB3's ``VecNormalize``).
The evaluation env is a separate single env whose normalization statistics are copied from the
training env before each evaluation (``sync_envs_normalization``) and never updated by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize

from envs.vec import LeanDummyVecEnv, LeanVecNormalize

VEC_ENV_CLASSES = {"dummy": LeanDummyVecEnv, "subproc": SubprocVecEnv}


def _normalizer(venv: VecEnv, lean: bool = True) -> type[VecNormalize]:
    """``LeanVecNormalize`` for Box observations, SB3's ``VecNormalize`` for Dict ones (or when
    ``lean`` is false)."""
    if not lean or isinstance(venv.observation_space, gym.spaces.Dict):
        return VecNormalize
    return LeanVecNormalize


def check_env_id(env_id: str) -> None:
    """Raise a clear error when ``env_id`` is not a registered gymnasium id.

    :raises ValueError: naming the id, with close matches from the registry.
    """
    import envs  # noqa: F401  (registers randbench's own tasks)

    if env_id not in gym.registry:
        import difflib

        close = difflib.get_close_matches(env_id, list(gym.registry), n=5)
        raise ValueError(
            f"unknown gymnasium env id {env_id!r}"
            + (f"; did you mean one of {close}?" if close else "; see gymnasium.pprint_registry()")
        )


def check_env_settings(env_id: str, n_envs: Any, vec_env: str) -> None:
    """The rules of a training env's settings, in one place (the run config check and
    :func:`make_train_env` both call it).

    :param env_id: a registered gymnasium id (:func:`check_env_id`).
    :param n_envs: an integer >= 1.
    :param vec_env: a key of ``VEC_ENV_CLASSES`` (``"dummy"`` or ``"subproc"``).
    :raises ValueError: naming the bad setting and what would be accepted.
    """
    if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
        raise ValueError(f"env.n_envs={n_envs!r} is invalid; expected an integer >= 1")
    if vec_env not in VEC_ENV_CLASSES:
        raise ValueError(f"env.vec_env={vec_env!r} is invalid; expected one of {sorted(VEC_ENV_CLASSES)}")
    check_env_id(env_id)


def normalize_kwargs(normalize: bool | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """VecNormalize keyword arguments from the config's ``normalize`` value.

    :param normalize: ``false``/``None`` (no normalization), ``true`` (observations and rewards),
        or a mapping of VecNormalize arguments such as ``{norm_obs: true, norm_reward: false}``.
    :return: ``None`` for no normalization, else the keyword arguments.
    :raises ValueError: for any other value.
    """
    if normalize is None or normalize is False:
        return None
    if normalize is True:
        return {"norm_obs": True, "norm_reward": True}
    if isinstance(normalize, Mapping):
        return dict(normalize)
    raise ValueError(
        f"env.normalize must be false, true or a mapping of VecNormalize arguments, got {normalize!r}"
    )


def gym_kwargs(env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments for ``gymnasium.make``: the config's, with ``render_mode=None`` unless set.

    SB3's ``make_vec_env`` asks for ``render_mode="rgb_array"`` when none is given. Training
    never renders, and on LunarLander that mode is not free: every engine firing creates a
    Box2D particle body whose lifetime only counts down in ``render()``, so without rendering
    the particles pile up for the whole episode and ``World.Step`` slows down with them (about
    1.3 ms per step instead of 0.1 ms once a policy hovers; gymnasium 1.x ``lunar_lander.py``).
    """
    return {"render_mode": None, **dict(env_kwargs or {})}


def make_train_env(
    env_id: str,
    n_envs: int,
    seed: int,
    env_kwargs: Mapping[str, Any] | None = None,
    vec_env: str = "dummy",
    normalize: bool | Mapping[str, Any] | None = None,
    gamma: float | None = None,
    lean: bool = True,
) -> VecEnv:
    """The training environment: ``n_envs`` monitored copies, vectorized, optionally normalized.

    :param env_id: gymnasium id, e.g. ``"Hopper-v5"``.
    :param n_envs: number of parallel copies (>= 1); timesteps count steps summed over copies.
    :param seed: copy ``i`` is seeded with ``seed + i``.
    :param env_kwargs: keyword arguments for ``gymnasium.make`` (``render_mode`` defaults to
        ``None``, see :func:`gym_kwargs`).
    :param vec_env: ``"dummy"`` (one process, ``LeanDummyVecEnv``) or ``"subproc"`` (one process
        per copy, SB3's ``SubprocVecEnv``).
    :param normalize: see :func:`normalize_kwargs`.
    :param gamma: discount used by VecNormalize's return normalization (the algorithm's gamma).
    :param lean: false builds SB3's stock ``DummyVecEnv`` and ``VecNormalize`` instead of the lean
        subclasses (same results; benchmarks/throughput.py measures both).
    :raises ValueError: on an unknown id, ``n_envs < 1`` or an unknown ``vec_env``.
    """
    check_env_settings(env_id, n_envs, vec_env)
    vec_env_cls = DummyVecEnv if (vec_env == "dummy" and not lean) else VEC_ENV_CLASSES[vec_env]
    venv = make_vec_env(
        env_id,
        n_envs=n_envs,
        seed=seed,
        env_kwargs=gym_kwargs(env_kwargs),
        vec_env_cls=vec_env_cls,
    )
    kwargs = normalize_kwargs(normalize)
    if kwargs is not None:
        if gamma is not None:
            kwargs.setdefault("gamma", gamma)
        venv = _normalizer(venv, lean)(venv, **kwargs)
    return venv


def make_eval_env(
    env_id: str,
    seed: int,
    env_kwargs: Mapping[str, Any] | None = None,
    train_env: VecEnv | None = None,
) -> VecEnv:
    """A separate single-copy evaluation env, normalized like ``train_env`` but frozen.

    Observation statistics are synced from the training env before every evaluation (see
    :func:`stable_baselines3.common.vec_env.sync_envs_normalization`); rewards are never
    normalized, so evaluation returns are raw episode returns.

    :param seed: seed of the evaluation env (use one distinct from the training seeds).
    :param train_env: the training env; if it is a ``VecNormalize`` the eval env is wrapped too.
    """
    venv = make_vec_env(
        env_id, n_envs=1, seed=seed, env_kwargs=gym_kwargs(env_kwargs), vec_env_cls=LeanDummyVecEnv
    )
    if isinstance(train_env, VecNormalize):
        venv = _normalizer(venv)(
            venv, training=False, norm_obs=train_env.norm_obs, norm_reward=False, gamma=train_env.gamma
        )
    return venv
