"""RAT: Tikhonov-regularized natural policy gradients by a randomized advantage transformation.

Mingfei Sun, "Randomized Advantage Transformation (RAT): Computing Natural Policy Gradients via
Direct Backpropagation", arXiv 2605.18591 (ICML 2026). The regularized natural gradient
``(F + lambda I)^-1 g`` of a minibatch equals the vanilla policy gradient with the transformed
advantages ``a~ = (K D / n + lambda I)^-1 A`` (Woodbury), where K is the n x n Gram matrix of
per-sample scores (see :mod:`algos.rat.transform`). Shuffled on-policy minibatches are the
blocks of a randomized block Kaczmarz iteration: each does one n x n solve and one SGD step.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar, NamedTuple, Self

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.utils import explained_variance
from torch.nn import functional as F

from algos.rat.policies import RATPolicy
from algos.rat.transform import (
    adapt_learning_rate,
    clamped_ratios,
    gram_matrix,
    per_sample_scores,
    scores_times,
    transform_advantages,
)
from algos.spaces import check_flat_observation_space


class RATDirection(NamedTuple):
    """One minibatch's RAT direction and what the update logs about it.

    :param direction: x, the ascent direction, by actor parameter name (name -> parameter shape).
    :param kl: approximate KL(pi_old || pi) on the minibatch before the step (nats).
    :param fisher_norm: ``sqrt(x^T F x)`` with the minibatch's ratio-weighted Fisher F.
    :param used_cholesky: whether the symmetric Cholesky solve succeeded (else LU fallback).
    :param condition_number: condition number of the solved symmetric system (NaN if not asked).
    :param clamped_fraction: fraction of ratios at the clamp bounds.
    """

    direction: dict[str, th.Tensor]
    kl: float
    fisher_norm: float
    used_cholesky: bool
    condition_number: float
    clamped_fraction: float




class RAT(OnPolicyAlgorithm):
    """Randomized Advantage Transformation (RAT) natural policy gradients.

    Each iteration collects ``n_steps`` steps per env, computes GAE(lambda) advantages and
    returns, then for ``n_epochs`` passes over ``n_minibatches`` shuffled minibatches:

    - critic: one Adam step on the MSE to the returns, gradient norm clipped to ``critic_max_grad_norm``;
    - actor: advantages normalized in the minibatch; per-sample scores H by ``torch.func``;
      ``rho = clip(pi / pi_old, *ratio_clip)``; a~ from the n x n system
      ``(K D / n + lambda I) a~ = A`` (or ``A - H x_prev`` with ``kaczmarz_memory``);
      the direction x is the gradient of ``(1/n) sum_i rho_i log pi(a_i|s_i) a~_i`` (+ ``x_prev``
      with memory); the learning rate adapts to the minibatch KL (before the step); one SGD step
      along x with its L2 norm clipped to ``max_grad_norm``.

    :param policy: ``"RATPolicy"`` or the class (separate actor and critic networks).
    :param env: gymnasium env, VecEnv or env id (Box action space).
    :param learning_rate: initial actor SGD learning rate (> 0); afterwards KL-adapted.
    :param n_steps: env steps per env per rollout (>= 1); a rollout holds ``n_steps * n_envs``
        transitions.
    :param n_epochs: passes over a rollout (>= 1).
    :param n_minibatches: minibatches (Kaczmarz blocks) per pass (>= 1); the n x n solve has
        ``n = ceil(n_steps * n_envs / n_minibatches)``.
    :param gamma: discount factor in [0, 1].
    :param gae_lambda: GAE lambda in [0, 1].
    :param tikhonov_lambda: lambda of ``(F + lambda I)^-1 g`` (> 0).
    :param kaczmarz_memory: carry the previous minibatch's direction ``x_prev`` into the
        right-hand side (``A - H x_prev``) and the direction (``x_prev + ...``), reset every
        rollout; False for the plain per-minibatch solve.
    :param ratio_clip: ``(low, high)`` clamp of the importance ratios, ``0 < low <= 1 <= high``.
    :param target_kl: KL target of the learning-rate adaptation (> 0, nats).
    :param kl_adapt_factor: multiplicative learning-rate step (> 1).
    :param min_learning_rate: floor of the adapted learning rate (> 0).
    :param max_learning_rate: cap of the adapted learning rate (>= min_learning_rate).
    :param max_grad_norm: L2 clip of the actor direction (> 0).
    :param normalize_advantage: standardize advantages in each minibatch.
    :param critic_learning_rate: critic Adam learning rate (> 0).
    :param critic_max_grad_norm: L2 clip of the critic gradient (> 0).
    :param stats_window_size: episodes averaged in the rollout logs.
    :param tensorboard_log: tensorboard log folder, or ``None``.
    :param policy_kwargs: :class:`RATPolicy` arguments.
    :param verbose: 0 silent, 1 info, 2 debug.
    :param seed: seed of the networks, the action noise and the minibatch order.
    :param device: torch device.
    :param _init_setup_model: build the networks now (SB3 internal).
    :raises ValueError: on an out-of-range option, or an observation space the policy cannot
        flatten (``Dict``, ``Tuple``), before any work starts.
    :raises TypeError: if ``learning_rate`` is a schedule (the KL rule adapts it).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"RATPolicy": RATPolicy, "MlpPolicy": RATPolicy}
    policy: RATPolicy

    def __init__(
        self,
        policy: str | type[RATPolicy],
        env: GymEnv | str,
        learning_rate: float = 0.05,
        n_steps: int = 2048,
        n_epochs: int = 4,
        n_minibatches: int = 8,
        gamma: float = 0.999,
        gae_lambda: float = 0.95,
        tikhonov_lambda: float = 0.1,
        kaczmarz_memory: bool = True,
        ratio_clip: tuple[float, float] = (0.1, 10.0),
        target_kl: float = 0.008,
        kl_adapt_factor: float = 1.5,
        min_learning_rate: float = 1e-4,
        max_learning_rate: float = 0.05,
        max_grad_norm: float = 0.5,
        normalize_advantage: bool = True,
        critic_learning_rate: float = 1e-3,
        critic_max_grad_norm: float = 5.0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if (policy_kwargs or {}).get("use_sde", False):
            raise ValueError(
                "RAT does not support gSDE (policy_kwargs.use_sde): its log-std is state-independent"
            )
        ratio_clip = tuple(ratio_clip)  # type: ignore[assignment]  # a config gives a list
        _check_options(
            learning_rate=learning_rate, n_steps=n_steps, n_epochs=n_epochs, n_minibatches=n_minibatches,
            gamma=gamma, gae_lambda=gae_lambda, tikhonov_lambda=tikhonov_lambda, ratio_clip=ratio_clip,
            target_kl=target_kl, kl_adapt_factor=kl_adapt_factor, min_learning_rate=min_learning_rate,
            max_learning_rate=max_learning_rate, max_grad_norm=max_grad_norm,
            critic_learning_rate=critic_learning_rate, critic_max_grad_norm=critic_max_grad_norm,
        )  # fmt: skip
        # before SB3's set-up, whose own refusal of a Dict space names a policy this algorithm lacks
        check_flat_observation_space(getattr(env, "observation_space", None), "RAT")
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=0.0,
            vf_coef=0.0,  # the critic has its own optimizer, not a joint loss
            max_grad_norm=max_grad_norm,
            use_sde=False,
            sde_sample_freq=-1,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
            supported_action_spaces=(spaces.Box,),
        )
        check_flat_observation_space(getattr(self, "observation_space", None), "RAT")  # unset while loading
        self.n_epochs = n_epochs
        self.n_minibatches = n_minibatches
        self.tikhonov_lambda = tikhonov_lambda
        self.kaczmarz_memory = kaczmarz_memory
        self.ratio_clip = ratio_clip
        self.target_kl = target_kl
        self.kl_adapt_factor = kl_adapt_factor
        self.min_learning_rate = min_learning_rate
        self.max_learning_rate = max_learning_rate
        self.normalize_advantage = normalize_advantage
        self.critic_learning_rate = critic_learning_rate
        self.critic_max_grad_norm = critic_max_grad_norm
        # The KL-adapted actor learning rate; saved with the model so training resumes with it.
        self.actor_learning_rate = float(learning_rate)
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        if not isinstance(self.policy, RATPolicy):
            raise TypeError(f"RAT needs a RATPolicy, got {type(self.policy).__name__}")
        # Plain SGD: the step must be the transformed-advantage gradient itself (Adam's
        # per-coordinate scaling would undo the natural-gradient preconditioning).
        self.policy.optimizer = th.optim.SGD(self.policy.actor_parameters(), lr=self.actor_learning_rate)
        self.critic_optimizer = th.optim.Adam(self.policy.critic_parameters(), lr=self.critic_learning_rate)

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer", "critic_optimizer"], []

    @property
    def batch_size(self) -> int:
        """Minibatch size n of the n x n solve: ``ceil(n_steps * n_envs / n_minibatches)``."""
        return math.ceil(self.n_steps * self.n_envs / self.n_minibatches)

    def rat_direction(
        self,
        obs: th.Tensor,
        actions: th.Tensor,
        old_log_prob: th.Tensor,
        advantages: th.Tensor,
        memory: dict[str, th.Tensor] | None = None,
        condition_number: bool = False,
    ) -> RATDirection:
        """The RAT direction ``x = (F + lambda I)^-1 g`` of one minibatch, by backpropagation.

        :param obs: observations, shape (n, *obs_shape).
        :param actions: rollout actions, shape (n, action_dim).
        :param old_log_prob: their log-likelihoods under the rollout policy, shape (n,).
        :param advantages: A (already normalized if wanted), shape (n,).
        :param memory: ``x_prev`` by actor parameter name for the Kaczmarz memory term, or None.
        :param condition_number: also compute the condition number of the solved system.
        :return: :class:`RATDirection` (the parameters are not changed).
        """
        policy = self.policy
        theta = policy.actor_named_parameters()
        n = advantages.shape[0]
        log_prob = policy.actor_log_prob(obs, actions)
        log_ratio = log_prob.detach() - old_log_prob
        low, high = self.ratio_clip
        ratios = clamped_ratios(log_prob, old_log_prob, low, high)
        kl = float(((th.exp(log_ratio) - 1) - log_ratio).mean())

        scores = per_sample_scores(policy, obs, actions)
        gram = gram_matrix(scores)
        prior = None if memory is None else scores_times(scores, memory)  # H x_prev
        rhs = advantages if prior is None else advantages - prior
        solved = transform_advantages(gram, ratios, rhs, self.tikhonov_lambda, condition_number)

        # x = H^T D a~ / n is the gradient of (1/n) sum_i rho_i log pi_i a~_i: plain backprop.
        surrogate = (ratios * solved.advantages * log_prob).mean()
        grads = th.autograd.grad(surrogate, list(theta.values()))
        direction = {name: g for name, g in zip(theta, grads, strict=True)}
        # Fisher norm from quantities at hand: H x = K D a~ / n (+ H x_prev).
        h_x = gram @ (ratios * solved.advantages) / n
        if memory is not None:
            direction = {name: g + memory[name] for name, g in direction.items()}
            h_x = h_x + prior
        fisher_norm = float((ratios * h_x.square()).mean().sqrt())
        clamped = float(((ratios <= low) | (ratios >= high)).float().mean())
        return RATDirection(
            direction, kl, fisher_norm, solved.used_cholesky, solved.condition_number, clamped
        )

    def train(self) -> None:
        """One RAT update: ``n_epochs`` passes of critic Adam steps and actor RAT-SGD steps."""
        start = time.perf_counter()
        self.policy.set_training_mode(True)
        policy, actor_optimizer = self.policy, self.policy.optimizer
        theta = policy.actor_named_parameters()
        critic_parameters = policy.critic_parameters()
        critic_losses, fisher_norms, direction_norms, clamped = [], [], [], []
        fallbacks, condition_number = 0, float("nan")
        memory: dict[str, th.Tensor] | None = None
        n_batches = self.n_epochs * math.ceil(self.rollout_buffer.buffer_size * self.n_envs / self.batch_size)
        batch_index = 0

        for _ in range(self.n_epochs):
            for batch in self.rollout_buffer.get(self.batch_size):
                batch_index += 1
                # critic
                values = policy.predict_values(batch.observations).flatten()
                critic_loss = F.mse_loss(values, batch.returns)
                self.critic_optimizer.zero_grad(set_to_none=True)
                critic_loss.backward()
                th.nn.utils.clip_grad_norm_(critic_parameters, self.critic_max_grad_norm)
                self.critic_optimizer.step()
                critic_losses.append(critic_loss.detach().item())

                # actor
                advantages = batch.advantages
                if self.normalize_advantage and advantages.numel() > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                step = self.rat_direction(
                    batch.observations,
                    batch.actions,
                    batch.old_log_prob,
                    advantages,
                    memory,
                    condition_number=batch_index == n_batches,  # an eigendecomposition: once per update
                )
                self.actor_learning_rate = adapt_learning_rate(
                    self.actor_learning_rate, step.kl, self.target_kl, self.kl_adapt_factor,
                    self.min_learning_rate, self.max_learning_rate,
                )  # fmt: skip
                for name, parameter in theta.items():
                    parameter.grad = -step.direction[name]  # SGD descends; x is an ascent direction
                norm = float(th.nn.utils.clip_grad_norm_(list(theta.values()), self.max_grad_norm))
                for group in actor_optimizer.param_groups:
                    group["lr"] = self.actor_learning_rate
                actor_optimizer.step()
                # The applied step is lr * min(1, clip / |x|) * x (clip_grad_norm_'s coefficient).
                scale = self.actor_learning_rate * min(1.0, self.max_grad_norm / (norm + 1e-6))
                fisher_norms.append(scale * step.fisher_norm)
                direction_norms.append(norm)
                clamped.append(step.clamped_fraction)
                fallbacks += not step.used_cholesky
                if batch_index == n_batches:
                    condition_number = step.condition_number
                if self.kaczmarz_memory:
                    memory = {name: x.detach() for name, x in step.direction.items()}

        self._n_updates += self.n_epochs
        with th.no_grad():
            rollout = next(self.rollout_buffer.get(None))
            log_ratio = policy.actor_log_prob(rollout.observations, rollout.actions) - rollout.old_log_prob
            approx_kl = float(((th.exp(log_ratio) - 1) - log_ratio).mean())
        update_time = time.perf_counter() - start

        self.logger.record("train/approx_kl", approx_kl)
        self.logger.record("train/fisher_norm", float(np.mean(fisher_norms)))
        self.logger.record("train/condition_number", condition_number)
        self.logger.record("train/update_time_s", update_time)
        self.logger.record("train/learning_rate", self.actor_learning_rate)
        self.logger.record("train/direction_norm", float(np.mean(direction_norms)))
        self.logger.record("train/ratio_clamped_fraction", float(np.mean(clamped)))
        self.logger.record("train/cholesky_fallbacks", fallbacks)
        self.logger.record("train/critic_loss", float(np.mean(critic_losses)))
        self.logger.record(
            "train/explained_variance",
            explained_variance(self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten()),
        )
        self.logger.record("train/std", float(policy.log_std.detach().exp().mean()))
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")

    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "RAT",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Self:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )


def _check_options(
    *,
    learning_rate: float,
    n_steps: int,
    n_epochs: int,
    n_minibatches: int,
    gamma: float,
    gae_lambda: float,
    tikhonov_lambda: float,
    ratio_clip: tuple[float, float],
    target_kl: float,
    kl_adapt_factor: float,
    min_learning_rate: float,
    max_learning_rate: float,
    max_grad_norm: float,
    critic_learning_rate: float,
    critic_max_grad_norm: float,
) -> None:
    """Raise ``ValueError`` naming the first bad RAT option and what is accepted."""
    if callable(learning_rate) or not isinstance(learning_rate, (int, float)):
        raise TypeError(
            f"learning_rate must be a number > 0 (RAT adapts it to target_kl; no schedule), got {learning_rate!r}"
        )
    checks = [
        (learning_rate > 0, f"learning_rate must be > 0, got {learning_rate}"),
        (n_steps >= 1, f"n_steps must be an int >= 1, got {n_steps}"),
        (n_epochs >= 1, f"n_epochs must be >= 1, got {n_epochs}"),
        (n_minibatches >= 1, f"n_minibatches must be >= 1, got {n_minibatches}"),
        (0.0 <= gamma <= 1.0, f"gamma must be in [0, 1], got {gamma}"),
        (0.0 <= gae_lambda <= 1.0, f"gae_lambda must be in [0, 1], got {gae_lambda}"),
        (tikhonov_lambda > 0, f"tikhonov_lambda must be > 0, got {tikhonov_lambda}"),
        (
            len(ratio_clip) == 2 and 0 < ratio_clip[0] <= 1 <= ratio_clip[1],
            f"ratio_clip must be (low, high) with 0 < low <= 1 <= high, got {ratio_clip}",
        ),
        (target_kl > 0, f"target_kl must be > 0, got {target_kl}"),
        (kl_adapt_factor > 1, f"kl_adapt_factor must be > 1, got {kl_adapt_factor}"),
        (min_learning_rate > 0, f"min_learning_rate must be > 0, got {min_learning_rate}"),
        (
            max_learning_rate >= min_learning_rate,
            f"max_learning_rate must be >= min_learning_rate ({min_learning_rate}), got {max_learning_rate}",
        ),
        (max_grad_norm > 0, f"max_grad_norm must be > 0, got {max_grad_norm}"),
        (critic_learning_rate > 0, f"critic_learning_rate must be > 0, got {critic_learning_rate}"),
        (critic_max_grad_norm > 0, f"critic_max_grad_norm must be > 0, got {critic_max_grad_norm}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
