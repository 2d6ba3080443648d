"""Turn an ``algo`` config into an SB3 algorithm bound to an environment.

``algo.model`` is instantiated with Hydra (``_target_`` is the algorithm class, the other keys
its constructor arguments; nested ``_target_`` nodes build schedules and activation classes).
Before anything is built, :func:`check_algorithm_config` refuses combinations that cannot work.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import ActionNoise, NormalActionNoise
from stable_baselines3.common.vec_env import VecEnv

from baselines.registry import AlgorithmSpec, get_spec

ACTION_NOISE_TYPES = ("normal",)


def _constructor_value(spec: AlgorithmSpec, model_cfg: Mapping[str, Any], key: str) -> Any:
    """The value ``key`` will have: from the config, else the class's own default (or None)."""
    if key in model_cfg:
        return model_cfg[key]
    parameter = inspect.signature(spec.load_class()).parameters.get(key)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value_ranges(spec: AlgorithmSpec, model_cfg: Mapping[str, Any], budget: int | None = None) -> None:
    """Refuse constructor values that SB3 accepts but that cannot train as asked.

    ``gamma`` and ``gae_lambda`` in [0, 1] (a discount above 1 makes the returns grow without
    bound); a numeric ``clip_range`` > 0 (0 freezes the policy; ``None`` is RANDPOL's unclipped
    policy gradient) and ``clip_range_vf`` null or > 0; ``n_epochs`` an integer >= 1 (0 runs no
    update); for off-policy algorithms ``learning_starts`` an integer in [0, budget) (at or
    beyond the budget no gradient step is ever taken). Schedules (``_target_`` nodes) are not
    checked. Values absent from the config are the class's own defaults, which are valid.

    :param spec: the registry entry of the algorithm.
    :param model_cfg: the resolved ``algo.model`` mapping.
    :param budget: the run's budget in env steps, or None to skip the ``learning_starts`` check.
    :raises ValueError: naming the value and the accepted range.
    """
    name = spec.name
    for key in ("gamma", "gae_lambda"):
        value = model_cfg.get(key)
        if value is not None and not (_is_number(value) and 0 <= value <= 1):
            raise ValueError(f"algo {name!r}: {key}={value!r} is invalid; expected a number in [0, 1]")
    for key, accepted in (("clip_range", "a number > 0 (or null where the algorithm allows it)"),
                          ("clip_range_vf", "null or a number > 0")):
        value = model_cfg.get(key)
        if value is not None and not isinstance(value, Mapping) and not (_is_number(value) and value > 0):
            raise ValueError(f"algo {name!r}: {key}={value!r} is invalid; expected {accepted}")
    n_epochs = model_cfg.get("n_epochs")
    if n_epochs is not None and (not _is_number(n_epochs) or int(n_epochs) != n_epochs or n_epochs < 1):
        raise ValueError(f"algo {name!r}: n_epochs={n_epochs!r} is invalid; expected an integer >= 1")
    starts = model_cfg.get("learning_starts")
    if spec.family == "off_policy" and starts is not None:
        if not _is_number(starts) or int(starts) != starts or starts < 0:
            raise ValueError(f"algo {name!r}: learning_starts={starts!r} is invalid; expected an integer >= 0")
        if budget is not None and starts >= budget:
            raise ValueError(
                f"algo {name!r}: learning_starts={starts} is not below budget={budget}: no gradient step "
                f"would ever be taken; expected learning_starts in [0, {budget}) (lower it or raise the budget)"
            )


def check_algorithm_config(
    algo_cfg: DictConfig, action_space: spaces.Space, n_envs: int, budget: int | None = None
) -> AlgorithmSpec:
    """Refuse an algorithm config that cannot run in this environment, before any work starts.

    Checks: the name is registered; ``model._target_`` is that algorithm's class, and ``family``
    (when set) the registry's; the algorithm
    can act in ``action_space``; for on-policy algorithms the minibatch fits in the rollout
    (``batch_size <= n_steps * n_envs``); for off-policy ones it fits in the replay buffer;
    ``action_noise`` has a known type and a non-negative std; the value ranges of
    :func:`check_value_ranges` (``gamma``, ``clip_range``, ``n_epochs``, ``learning_starts``).

    :param algo_cfg: the ``algo`` node of the run config.
    :param action_space: the training env's action space.
    :param n_envs: number of parallel envs (rollout size is ``n_steps * n_envs``).
    :param budget: the run's budget in env steps (for ``learning_starts``); None skips that check.
    :return: the registry entry of the algorithm.
    :raises ValueError: naming the bad value and what would be accepted.
    """
    spec = get_spec(algo_cfg.name)
    model_cfg = OmegaConf.to_container(algo_cfg.model, resolve=True)
    target = model_cfg.get("_target_")
    if target != spec.class_path:
        raise ValueError(
            f"algo {spec.name!r}: model._target_ is {target!r}, expected {spec.class_path!r}"
        )
    family = algo_cfg.get("family")
    if family is not None and family != spec.family:
        # the config's family (read by the presets' per-family settings and the progress
        # figures) must be the registry's, which decides the checks below
        raise ValueError(f"algo {spec.name!r}: family is {family!r}, expected {spec.family!r} (baselines/registry.py)")
    if not spec.supports(action_space):
        accepted = ", ".join(cls.__name__ for cls in spec.action_spaces)
        raise ValueError(
            f"algo {spec.name!r} cannot act in a {type(action_space).__name__} action space "
            f"({action_space}); it accepts: {accepted}"
        )
    batch_size = _constructor_value(spec, model_cfg, "batch_size")
    if spec.family == "on_policy" and batch_size is not None:
        n_steps = _constructor_value(spec, model_cfg, "n_steps")
        if n_steps is not None and batch_size > n_steps * n_envs:
            raise ValueError(
                f"algo {spec.name!r}: batch_size={batch_size} is larger than the rollout "
                f"n_steps * n_envs = {n_steps} * {n_envs} = {n_steps * n_envs}; "
                f"use batch_size <= {n_steps * n_envs}"
            )
    if spec.family == "off_policy" and batch_size is not None:
        buffer_size = _constructor_value(spec, model_cfg, "buffer_size")
        if buffer_size is not None and batch_size > buffer_size:
            raise ValueError(
                f"algo {spec.name!r}: batch_size={batch_size} is larger than buffer_size={buffer_size}"
            )
    check_value_ranges(spec, model_cfg, budget)
    noise = algo_cfg.get("action_noise")
    if noise is not None:
        if spec.family != "off_policy":
            raise ValueError(f"algo {spec.name!r}: action_noise is only used by off-policy algorithms")
        if noise.get("type") not in ACTION_NOISE_TYPES:
            raise ValueError(
                f"algo.action_noise.type must be one of {ACTION_NOISE_TYPES}, got {noise.get('type')!r}"
            )
        if not noise.get("std", -1) >= 0:
            raise ValueError(f"algo.action_noise.std must be >= 0, got {noise.get('std')!r}")
    return spec


def make_action_noise(noise_cfg: Mapping[str, Any] | None, action_space: spaces.Box) -> ActionNoise | None:
    """Gaussian exploration noise as rl-baselines3-zoo builds it (``noise_type: normal``).

    :param noise_cfg: ``None`` or ``{type: normal, std: sigma}``; sigma is per action dimension.
    :param action_space: a Box of shape ``(a,)``.
    :return: ``NormalActionNoise(mean=zeros(a), sigma=std * ones(a))`` or ``None``.
    """
    if noise_cfg is None:
        return None
    n_actions = int(np.prod(action_space.shape))
    return NormalActionNoise(mean=np.zeros(n_actions), sigma=float(noise_cfg["std"]) * np.ones(n_actions))


def build_algorithm(
    algo_cfg: DictConfig, env: VecEnv, seed: int, device: str = "cpu", verbose: int = 0,
    budget: int | None = None,
) -> BaseAlgorithm:
    """Check the config against ``env`` and instantiate the algorithm.

    :param algo_cfg: the ``algo`` node of the run config (``name``, ``model``, ``action_noise``).
    :param env: the training VecEnv.
    :param seed: the algorithm's seed (SB3 seeds torch, numpy and the action space with it).
    :param device: torch device.
    :param verbose: SB3 verbosity (0: silent; the harness prints its own progress lines).
    :param budget: the run's budget in env steps, for the ``learning_starts`` check (None: unchecked).
    :raises ValueError: see :func:`check_algorithm_config`.
    """
    check_algorithm_config(algo_cfg, env.action_space, env.num_envs, budget=budget)
    extra: dict[str, Any] = {}
    noise = algo_cfg.get("action_noise")
    if noise is not None:
        extra["action_noise"] = make_action_noise(OmegaConf.to_container(noise), env.action_space)
    return instantiate(
        algo_cfg.model, env=env, seed=seed, device=device, verbose=verbose, _convert_="all", **extra
    )
