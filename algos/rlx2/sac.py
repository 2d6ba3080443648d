"""RLx2-SAC: SAC trained with sparse actor and critic from scratch (Tan et al. 2023, arXiv 2205.15043)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

from algos.rlx2.base import RLx2Mixin
from algos.rlx2.policies import RLx2SACPolicy


class RLx2SAC(RLx2Mixin, SAC):
    """SAC with RLx2's sparse training: masked actor (hidden layers, mean and log-std heads) and
    twin critic with Erdos-Renyi densities, RigL topology evolution, a delayed multi-step TD
    target and a dynamic-capacity replay buffer. Switches as in :class:`algos.rlx2.RLx2TD3`.

    The multi-step target is SB3's: ``sum_k gamma^k r_k + gamma^n (min Q' - alpha log pi)`` at
    the n-th next state; the authors' code also adds the entropy bonus of the intermediate
    states, which SB3's n-step buffer does not provide. The behaviour mean action of the
    dynamic buffer is the deterministic action ``tanh(mu(s))``.

    Defaults are the authors' settings: 256x256 networks, Adam 3e-4, batch 256, 25,000 warm-up
    steps, automatic entropy coefficient with target entropy -|A|, buffer capacity between
    2e5 and 3e6 transitions. Counters are described in :mod:`algos.rlx2.base`.

    :param policy: ``"MlpPolicy"`` (:class:`algos.rlx2.policies.RLx2SACPolicy`, SB3's SAC policy with
        masked linear layers) or a SAC policy class.
    :param env: gymnasium env, VecEnv or env id (Box actions).
    :param learning_rate: Adam learning rate of actor, critic and entropy coefficient, or a schedule.
    :param buffer_size: replay capacity upper bound (transitions per env).
    :param learning_starts: env steps of uniform random actions before learning.
    :param batch_size: minibatch size of each update.
    :param tau: soft target update coefficient.
    :param gamma: discount factor.
    :param train_freq: env steps (or ``(n, "episode")``) between training phases.
    :param gradient_steps: critic updates per training phase (-1: as many as env steps).
    :param action_noise: optional extra exploration noise.
    :param ent_coef: entropy coefficient, ``"auto"`` (learned, optionally ``"auto_<init>"``) or a float.
    :param target_update_interval: gradient steps between soft target updates.
    :param target_entropy: target entropy of the learned coefficient, ``"auto"`` = -|A|.
    :param use_sde: generalized state-dependent exploration instead of Gaussian noise.
    :param sde_sample_freq: steps between gSDE noise resamples (-1: once per rollout).
    :param use_sde_at_warmup: use gSDE instead of uniform random actions during warm-up.
    :param actor_sparsity: target fraction of zero weights over the actor's linear layers, [0, 1).
    :param critic_sparsity: target fraction of zero weights over the twin critic's linear layers, [0, 1).
    :param topology_evolution: drop/grow the topology (False: static sparse network).
    :param grow_criterion: ``"gradient"`` (RigL, dense-gradient magnitude) or ``"random"`` (SET).
    :param topology_interval: Delta, updates of a network between its topology updates.
    :param drop_fraction: zeta, initial fraction of active weights replaced, cosine-decayed to 0.
    :param topology_end: critic updates after which the topology stops changing (also the
        actor's: one actor update per critic update); None: the critic updates of ``learn()``.
    :param multi_step: n of the multi-step TD target once switched on (1 turns it off).
    :param multi_step_delay: critic updates with 1-step targets before switching to n steps.
    :param dynamic_buffer: drop the oldest transitions when the policy has moved away from them.
    :param buffer_min_size: capacity lower bound of the dynamic buffer (transitions per env).
    :param policy_distance_threshold: shrink when half the mean squared difference of mean
        actions (scaled to [-1, 1]) on the oldest transitions exceeds this.
    :param buffer_check_interval: env steps between two policy-distance checks.
    :param buffer_shrink_fraction: share of the stored transitions dropped by one shrink.
    :param policy_distance_batch: oldest transitions the policy distance is measured on.
    :param stats_window_size: episodes averaged in rollout logs.
    :param tensorboard_log: tensorboard folder or None (runs are named ``RLx2SAC_<k>``).
    :param policy_kwargs: policy keyword arguments; ``net_arch`` defaults to ``[256, 256]``.
    :param verbose: SB3 verbosity.
    :param seed: random seed.
    :param device: torch device.
    :param _init_setup_model: build the networks now (False when loading).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": RLx2SACPolicy}
    policy: SACPolicy

    def __init__(
        self,
        policy: str | type[SACPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 3_000_000,
        learning_starts: int = 25_000,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        actor_sparsity: float = 0.9,
        critic_sparsity: float = 0.85,
        topology_evolution: bool = True,
        grow_criterion: str = "gradient",
        topology_interval: int = 10_000,
        drop_fraction: float = 0.5,
        topology_end: int | None = None,
        multi_step: int = 3,
        multi_step_delay: int = 300_000,
        dynamic_buffer: bool = True,
        buffer_min_size: int = 200_000,
        policy_distance_threshold: float = 0.2,
        buffer_check_interval: int = 10_000,
        buffer_shrink_fraction: float = 0.1,
        policy_distance_batch: int = 2048,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            action_noise=action_noise,
            ent_coef=ent_coef,
            target_update_interval=target_update_interval,
            target_entropy=target_entropy,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            use_sde_at_warmup=use_sde_at_warmup,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs={"net_arch": [256, 256], **(policy_kwargs or {})},
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
        )
        self._init_rlx2(
            actor_sparsity=actor_sparsity,
            critic_sparsity=critic_sparsity,
            topology_evolution=topology_evolution,
            grow_criterion=grow_criterion,
            topology_interval=topology_interval,
            drop_fraction=drop_fraction,
            topology_end=topology_end,
            multi_step=multi_step,
            multi_step_delay=multi_step_delay,
            dynamic_buffer=dynamic_buffer,
            buffer_min_size=buffer_min_size,
            policy_distance_threshold=policy_distance_threshold,
            buffer_check_interval=buffer_check_interval,
            buffer_shrink_fraction=buffer_shrink_fraction,
            policy_distance_batch=policy_distance_batch,
        )
        if _init_setup_model:
            self._setup_model()

    @property
    def actor_period(self) -> int:  # type: ignore[override]
        return 1

    def _target_networks(self) -> dict[str, tuple[nn.Module, nn.Module | None]]:
        return {"actor": (self.actor, None), "critic": (self.critic, self.critic_target)}

    def _behaviour_mean_action(self, obs: th.Tensor) -> th.Tensor:
        return self.actor(obs, deterministic=True)

    def _flops_per_gradient_step(self, actor_flops: int, critic_flops: int) -> float:
        # actor forward on s and s'; target critic forward; critic forward + backward (2x);
        # actor loss: critic forward + backward through it, actor backward
        return actor_flops * 4 + critic_flops * 7
