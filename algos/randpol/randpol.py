"""RANDPOL: actor-critic with fixed random hidden layers, only the output layers trained.

Liu, Jain, Nguyen, "Reduce Computational Cost In Deep Reinforcement Learning Via Randomized
Policy Learning", arXiv 2505.19054 (predecessor: "Randomized Policy Learning for Continuous
State and Action MDPs", arXiv 2006.04331).

The point of the method is cost, so the implementation removes the work that fixed layers make
unnecessary: the actor features psi(s) of every collected observation are computed once while
acting and kept in the rollout buffer, the critic features phi(s) of the whole rollout in one
batched pass at its end, and ``train()`` only touches the linear heads (no forward pass through
the random layers, no autograd graph through them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Self

import numpy as np
import torch as th
from gymnasium import spaces
from scipy.optimize import brentq
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from algos.randpol.buffers import FeatureRolloutBuffer, FeatureRolloutBufferSamples
from algos.randpol.policies import _HALF_LOG_2PI, RandomFeaturePolicy
from algos.randpol.solvers import LSQ_METHODS, linf_bound, project_linf_, solve_box_least_squares
from algos.spaces import check_flat_observation_space

CRITIC_SOLVERS = ("adam", "lsq", "ridge")
ACTOR_UPDATES = ("pg", "clip", "natural")


class RANDPOL(OnPolicyAlgorithm):
    """Randomized Policy Learning (RANDPOL).

    Actor ``mean(s) = A' psi(s) + b'`` and critic ``V(s) = alpha . phi(s) + b`` are linear in
    fixed random features (see :class:`RandomFeaturePolicy`). Each iteration collects
    ``n_steps`` steps per env, computes GAE(lambda) advantages and lambda-returns (bootstrapping
    on truncation, not on termination), fits the critic head to the returns under the
    L-infinity bound ``|alpha_j| <= C / J`` (a convex problem), then takes policy-gradient
    steps on the actor head and log-std.

    Choices the paper leaves open are options (defaults are the spec's):

    - critic solver: ``"adam"`` (projected Adam: Adam steps on minibatches, then clamp alpha to
      ``+-C/J`` after every step; paper settings lr 3e-4, batch 128), ``"lsq"`` (the
      box-constrained least squares solved exactly by ``scipy.optimize.lsq_linear``; seconds per
      update at J=800) or ``"ridge"`` (ridge solve, then clamp alpha and re-fit the bias).
    - actor update (``actor_update``): ``"pg"``, the paper's vanilla advantage policy gradient
      ``-A_t log pi(a_t|s_t)`` with normalized advantages, by Adam; ``"clip"``, PPO's clipped
      ratio surrogate (an ablation, a departure from the paper); ``"natural"``, one exact
      natural-gradient step per update on the linear head and log-std under a KL trust region
      (Kakade 2001; Rajeswaran et al. 2017, arXiv 1703.02660), see :meth:`_natural_step`.
    - KL guard (``max_kl``): after any actor update, the exact KL from the rollout policy
      (Gaussian, averaged over the rollout's states) is measured and, past ``max_kl``, the
      update is scaled back along its own direction until the KL equals ``max_kl``.

    :param policy: ``"RandomFeaturePolicy"`` or the class.
    :param env: gymnasium env, VecEnv or env id.
    :param learning_rate: actor-head Adam learning rate (> 0), or a schedule of progress remaining.
    :param n_steps: env steps per env per rollout (> 0); the rollout has ``n_steps * n_envs``
        transitions.
    :param batch_size: actor minibatch size (> 0), or ``None`` (default) for one step on the
        whole rollout per epoch: with vanilla (unclipped) policy-gradient steps, minibatches of
        128 moved the policy too far per update (see conf/algo/randpol.yaml for the numbers).
    :param n_epochs: passes over the rollout for the actor (>= 1).
    :param gamma: discount factor in [0, 1].
    :param gae_lambda: GAE lambda in [0, 1] (value targets are GAE(lambda) returns).
    :param normalize_advantage: standardize advantages over the rollout.
    :param ent_coef: entropy bonus coefficient (>= 0).
    :param max_grad_norm: clip the actor gradient norm to this (> 0), ``None`` for no clipping.
    :param clip_range: epsilon > 0 of PPO's clipped surrogate, for ``actor_update="clip"``.
    :param target_kl: stop the actor epochs early once the approximate KL to the rollout policy
        exceeds 1.5 times this (> 0, as SB3's PPO), ``None`` for no limit.
    :param actor_update: ``"pg"``, ``"clip"`` or ``"natural"`` (see above); ``None`` (default)
        is ``"clip"`` when ``clip_range`` is set and ``"pg"`` otherwise.
    :param natural_kl: the KL (nats, mean over the rollout's states) of each ``"natural"`` step
        (> 0; Rajeswaran et al.'s normalized step size delta, 0.05).
    :param natural_damping: Tikhonov damping of the feature second-moment matrix in the natural
        step, relative to its mean diagonal (>= 0).
    :param max_kl: the KL guard's limit (> 0) for every actor update, ``None`` for no guard.
    :param C: the L-infinity constant of the critic head: ``|alpha_j| <= C / J`` (> 0), in units of
        the value (of the possibly normalized reward) per unit of average feature magnitude.
    :param actor_C: the same bound for the actor mean head weights, ``None`` for no bound.
    :param critic_solver: ``"adam"``, ``"lsq"`` or ``"ridge"`` (see above).
    :param critic_learning_rate: Adam learning rate of the critic head (> 0), for ``"adam"``.
    :param critic_batch_size: critic minibatch size (> 0), for ``"adam"``.
    :param critic_epochs: passes over the rollout for the critic (>= 1), for ``"adam"``.
    :param critic_ridge: L2 penalty on alpha for the exact solvers (>= 0).
    :param lsq_method: ``scipy.optimize.lsq_linear`` method for ``"lsq"``: ``"bvls"`` or ``"trf"``.
    :param stats_window_size: episodes averaged in the rollout logs.
    :param tensorboard_log: tensorboard log folder, or ``None``.
    :param policy_kwargs: :class:`RandomFeaturePolicy` arguments (``net_arch``, ``activation``,
        ``weight_init``, ``init_scale``, ``share_features``, ``log_std_init``, ``log_std_lr_scale``).
    :param verbose: 0 silent, 1 info, 2 debug.
    :param seed: seed of the random layers, the action noise and the minibatch order.
    :param device: torch device.
    :param _init_setup_model: build the networks now (SB3 internal).
    :raises ValueError: on any out-of-range or unknown option, or an observation space the policy
        cannot flatten (``Dict``, ``Tuple``), before any work starts.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"RandomFeaturePolicy": RandomFeaturePolicy}
    policy: RandomFeaturePolicy
    rollout_buffer: FeatureRolloutBuffer
    # Actor steps per batched KL-guard check (see _gradient_steps); 1 checks after every step.
    # Not an option: any value >= 1 gives the same result, only the speed differs.
    guard_chunk: ClassVar[int] = 32

    def __init__(
        self,
        policy: str | type[RandomFeaturePolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int | None = None,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        max_grad_norm: float | None = None,
        clip_range: float | None = None,
        target_kl: float | None = None,
        actor_update: str | None = None,
        natural_kl: float = 0.05,
        natural_damping: float = 1e-4,
        max_kl: float | None = None,
        C: float = 1000.0,
        actor_C: float | None = None,
        critic_solver: str = "adam",
        critic_learning_rate: float = 3e-4,
        critic_batch_size: int = 128,
        critic_epochs: int = 10,
        critic_ridge: float = 1e-3,
        lsq_method: str = "bvls",
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        _check_options(
            n_steps=n_steps, batch_size=batch_size, n_epochs=n_epochs, gamma=gamma, gae_lambda=gae_lambda,
            ent_coef=ent_coef, max_grad_norm=max_grad_norm, clip_range=clip_range, target_kl=target_kl,
            actor_update=actor_update, natural_kl=natural_kl, natural_damping=natural_damping, max_kl=max_kl, C=C,
            actor_C=actor_C, critic_solver=critic_solver, critic_learning_rate=critic_learning_rate,
            critic_batch_size=critic_batch_size, critic_epochs=critic_epochs, critic_ridge=critic_ridge,
            lsq_method=lsq_method,
        )  # fmt: skip
        if isinstance(learning_rate, (int, float)) and not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        # before SB3's set-up, whose own refusal of a Dict space names a policy this algorithm lacks
        check_flat_observation_space(getattr(env, "observation_space", None), "RANDPOL")
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=ent_coef,
            vf_coef=0.0,  # the critic is fitted by its own solver, not through a joint loss
            max_grad_norm=max_grad_norm,  # type: ignore[arg-type]
            use_sde=False,
            sde_sample_freq=-1,
            rollout_buffer_class=FeatureRolloutBuffer,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
            supported_action_spaces=(spaces.Box,),
        )
        check_flat_observation_space(getattr(self, "observation_space", None), "RANDPOL")  # unset while loading
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.normalize_advantage = normalize_advantage
        self.clip_range = clip_range
        self.target_kl = target_kl
        self.actor_update = actor_update
        self.natural_kl = natural_kl
        self.natural_damping = natural_damping
        self.max_kl = max_kl
        self.C = C
        self.actor_C = actor_C
        self.critic_solver = critic_solver
        self.critic_learning_rate = critic_learning_rate
        self.critic_batch_size = critic_batch_size
        self.critic_epochs = critic_epochs
        self.critic_ridge = critic_ridge
        self.lsq_method = lsq_method
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        # The buffer needs the feature sizes, which only the policy knows: build the policy
        # first (SB3's order is buffer, then policy), then the buffer.
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, **{"use_sde": False, **self.policy_kwargs}
        ).to(self.device)
        if not isinstance(self.policy, RandomFeaturePolicy):
            raise TypeError(f"RANDPOL needs a RandomFeaturePolicy, got {type(self.policy).__name__}")
        if self.policy.critic_net is not None and self.critic_solver != "adam":
            raise ValueError(f"policy_kwargs.critic_net (a trained critic network) is fitted by Adam: it needs "
                             f"critic_solver='adam', got {self.critic_solver!r}")
        extractor = self.policy.mlp_extractor
        self.rollout_buffer = FeatureRolloutBuffer(
            self.n_steps,
            self.observation_space,  # type: ignore[arg-type]
            self.action_space,
            pi_features_dim=extractor.latent_dim_pi,
            vf_features_dim=None if extractor.share_features else extractor.latent_dim_vf,
            device=self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            n_envs=self.n_envs,
        )
        # fused: one kernel per step instead of a dozen; this runs hundreds of times per update.
        self.critic_optimizer = th.optim.Adam(self.policy.critic_parameters(), lr=self.critic_learning_rate, fused=True)

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer", "critic_optimizer"], []

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        super()._update_learning_rate(optimizers)
        # The policy's param groups carry an "lr_scale" (the log-std's, see log_std_lr_scale).
        for optimizer in optimizers if isinstance(optimizers, list) else [optimizers]:
            for group in optimizer.param_groups:
                group["lr"] *= group.get("lr_scale", 1.0)

    @property
    def resolved_actor_update(self) -> str:
        """The actor update in use: ``actor_update``, or ``"clip"`` / ``"pg"`` from ``clip_range``."""
        if self.actor_update is not None:
            return self.actor_update
        return "pg" if self.clip_range is None else "clip"

    @property
    def critic_bound(self) -> float:
        """C / J: the bound on every critic head weight."""
        return linf_bound(self.C, self.policy.mlp_extractor.latent_dim_vf)

    @property
    def actor_bound(self) -> float | None:
        """actor_C / J_pi, the bound on every actor mean-head weight, or ``None``."""
        return None if self.actor_C is None else linf_bound(self.actor_C, self.policy.mlp_extractor.latent_dim_pi)

    def parameter_counts(self) -> dict[str, int]:
        """Total (trainable heads + random layers, shared ones once) and trainable parameter counts."""
        trainable = sum(p.numel() for p in self.policy.actor_parameters() + self.policy.critic_parameters())
        random = sum(b.numel() for b in self.policy.random_buffers().values())
        return {"total": trainable + random, "trainable": trainable}

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """Collect ``n_rollout_steps`` steps per env, keeping the actor features of each observation.

        Same contract as SB3's ``OnPolicyAlgorithm.collect_rollouts`` (callbacks, episode
        statistics, bootstrap with ``gamma * V(terminal obs)`` on truncation), with the work a
        fixed policy makes unnecessary taken out of the per-step loop: the Gaussian noise and
        the log-likelihoods of a rollout are drawn at once, the step only runs the actor's
        random layers and head, and the critic (which does not change during the rollout)
        runs once at the end on every stored observation, last and truncated ones included.

        :return: False if a callback stopped training, True otherwise.
        """
        assert self._last_obs is not None, "No previous observation was provided"
        assert isinstance(rollout_buffer, FeatureRolloutBuffer)
        self.policy.set_training_mode(False)
        rollout_buffer.reset()
        callback.on_rollout_start()

        policy = self.policy
        low, high = self.action_space.low, self.action_space.high  # type: ignore[union-attr]
        # The policy is fixed during a rollout: look its pieces up once, not at every step.
        # The random net's forward itself, not Module.__call__ (whose hook handling costs as
        # much per step as the first layer).
        actor_forward, to_input = policy.mlp_extractor.pi_net.forward, policy.numpy_obs_converter()
        mean_weight_t = policy.action_net.weight.detach().t()
        with th.no_grad():
            noise = th.randn(n_rollout_steps, env.num_envs, policy.log_std.shape[0], device=self.device)
            # action = A' psi + b + std * eps: everything but A' psi is known before the rollout.
            offsets = policy.action_net.bias + policy.log_std.exp() * noise
            # log N(mean + std * eps; mean, std) = sum_i -eps_i^2 / 2 - log std_i - log(2 pi) / 2
            log_probs = (
                (-0.5 * noise.square() - policy.log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1).cpu().numpy()
            )
        truncated: list[tuple[int, int, np.ndarray]] = []

        n_steps = 0
        while n_steps < n_rollout_steps:
            with th.no_grad():
                pi_features = actor_forward(to_input(self._last_obs))  # type: ignore[arg-type]
                actions = th.addmm(offsets[n_steps], pi_features, mean_weight_t)
            actions = actions.cpu().numpy()
            # np.clip's result through two ufuncs, without np.clip's dispatch layers.
            clipped_actions = np.minimum(np.maximum(actions, low), high)

            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs

            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)

            # Truncated episodes are bootstrapped with V(terminal obs) once the critic runs.
            if dones.any():
                for idx in np.flatnonzero(dones):
                    terminal_obs = infos[idx].get("terminal_observation")
                    if terminal_obs is not None and infos[idx].get("TimeLimit.truncated", False):
                        truncated.append((n_steps, int(idx), terminal_obs))

            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions,
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                log_probs[n_steps],
                pi_features.cpu(),
            )
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones
            n_steps += 1

        if self.policy.features_need_fit:
            self._fit_feature_inputs(rollout_buffer)
        last_values = self._evaluate_critic(rollout_buffer, new_obs, truncated)
        rollout_buffer.compute_returns_and_advantage(last_values=last_values, dones=dones)

        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _fit_feature_inputs(self, rollout_buffer: FeatureRolloutBuffer) -> None:
        """Fit the random layers' input statistics on this rollout and recompute its actor features.

        Runs once, at the end of the first rollout: the mean head starts at zero, so that
        rollout's actions (and their log-likelihoods) did not depend on the features, and
        recomputing the features with the frozen statistics leaves the rollout consistent.
        """
        n_steps, n_envs = rollout_buffer.buffer_size, rollout_buffer.n_envs
        observations = obs_as_tensor(
            rollout_buffer.observations.reshape(n_steps * n_envs, *rollout_buffer.obs_shape), self.device
        )
        self.policy.fit_feature_inputs(observations)
        features = self.policy.actor_features(observations)
        rollout_buffer.pi_features[...] = features.reshape(n_steps, n_envs, -1).cpu().numpy()

    def _evaluate_critic(
        self,
        rollout_buffer: FeatureRolloutBuffer,
        last_obs: np.ndarray,
        truncated: list[tuple[int, int, np.ndarray]],
    ) -> th.Tensor:
        """Critic features and values of a full rollout in one batched pass.

        Stores phi(s_t) and V(s_t) in the buffer, adds ``gamma * V(terminal obs)`` to the
        reward of every truncated step, and returns V of the observation after the rollout
        (shape (n_envs,)).
        """
        n_steps, n_envs = rollout_buffer.buffer_size, rollout_buffer.n_envs
        policy = self.policy
        with th.no_grad():
            extra_obs = np.concatenate(
                [np.asarray(last_obs).reshape(n_envs, *rollout_buffer.obs_shape)]
                + [np.asarray(obs).reshape(1, *rollout_buffer.obs_shape) for _, _, obs in truncated]
            )
            extra_values = policy.values_from_features(policy.critic_features(obs_as_tensor(extra_obs, self.device)))
            extra_values = extra_values.flatten().cpu()
            if rollout_buffer.shared_features:
                vf_features = None
                flat_features = th.from_numpy(rollout_buffer.pi_features.reshape(n_steps * n_envs, -1)).to(self.device)
            else:
                observations = rollout_buffer.observations.reshape(n_steps * n_envs, *rollout_buffer.obs_shape)
                flat_features = policy.critic_features(obs_as_tensor(observations, self.device))
                vf_features = flat_features.reshape(n_steps, n_envs, -1).cpu()
            values = policy.values_from_features(flat_features).reshape(n_steps, n_envs).cpu()
        rollout_buffer.set_critic(vf_features, values)
        for (step, idx, _), value in zip(truncated, extra_values[n_envs:].numpy(), strict=True):
            rollout_buffer.rewards[step, idx] += self.gamma * value
        return extra_values[:n_envs]

    def train(self) -> None:
        """Fit the critic head, then update the actor head and log-std, on cached features only."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        # The whole rollout as tensors, once and without a copy; minibatches index into it.
        rollout = self.rollout_buffer.samples()
        values_before = rollout.old_values

        critic_loss = self._fit_critic(rollout.vf_features, rollout.returns)
        actor_stats = self._update_actor(rollout)

        with th.no_grad():
            values_after = self.policy.values_from_features(rollout.vf_features).flatten()
        self._n_updates += 1
        self.logger.record("train/critic_loss", critic_loss)
        for name, value in actor_stats.items():
            self.logger.record(f"train/{name}", value)
        self.logger.record(
            "train/explained_variance", explained_variance(values_before.numpy(), rollout.returns.numpy())
        )
        self.logger.record(
            "train/explained_variance_after", explained_variance(values_after.numpy(), rollout.returns.numpy())
        )
        if self.policy.critic_net is None:  # the share of critic head weights at the bound C/J
            alpha = self.policy.value_net.weight
            self.logger.record("train/critic_bound_active",
                               float((alpha.abs() >= self.critic_bound * (1 - 1e-6)).float().mean()))
        self.logger.record("train/std", float(self.policy.log_std.detach().exp().mean()))
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")

    def _fit_critic(self, vf_features: th.Tensor, returns: th.Tensor) -> float:
        """Regress the returns on phi under ``|alpha_j| <= C/J``; returns the final MSE.

        With ``policy_kwargs.critic_net`` the critic network is fitted instead, by minibatch Adam
        on the mean squared error (``critic_epochs`` passes of ``critic_batch_size``; no bound).
        """
        head = self.policy.value_net
        bound = self.critic_bound
        if self.policy.critic_net is not None:
            n = returns.shape[0]
            for _ in range(self.critic_epochs):
                for idx in th.randperm(n, device=self.device).split(self.critic_batch_size):
                    loss = F.mse_loss(head(vf_features[idx]).flatten(), returns[idx])
                    self.critic_optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.critic_optimizer.step()
        elif self.critic_solver == "adam":
            n = returns.shape[0]
            alpha, bias = head.weight, head.bias
            for _ in range(self.critic_epochs):
                for idx in th.randperm(n, device=self.device).split(self.critic_batch_size):
                    phi, targets = vf_features.index_select(0, idx), returns[idx]  # the rows of vf_features[idx]
                    # The gradient of the mean squared error of a linear model, written out:
                    # d/d(alpha, b) mean((phi alpha + b - R)^2) = 2/B (phi^T r, sum r), r the
                    # residuals; autograd would build a graph to get the same two products.
                    with th.no_grad():
                        residuals = th.addmv(bias, phi, alpha[0]) - targets
                        alpha.grad = (residuals @ phi).mul_(2.0 / len(idx)).unsqueeze_(0)
                        bias.grad = residuals.mean(dim=0, keepdim=True).mul_(2.0)
                    adam_step(self.critic_optimizer)
                    # Projected Adam: back onto the L-infinity ball after every step.
                    project_linf_(alpha, bound)
        else:
            alpha, bias = solve_box_least_squares(
                vf_features.cpu(), returns.cpu(), bound, self.critic_solver, self.lsq_method, self.critic_ridge
            )
            with th.no_grad():
                head.weight.copy_(th.as_tensor(alpha, dtype=head.weight.dtype).reshape(head.weight.shape))
                head.bias.fill_(bias)
                # Solvers stop at a tolerance; the bound must hold exactly.
                project_linf_(head.weight, bound)
        with th.no_grad():
            return float(F.mse_loss(self.policy.values_from_features(vf_features).flatten(), returns))

    def _update_actor(self, rollout: FeatureRolloutBufferSamples) -> dict[str, float]:
        """Update the actor head and log-std from the cached actor features (see ``actor_update``)."""
        advantages = rollout.advantages
        if self.normalize_advantage and advantages.numel() > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy = self.policy
        with th.no_grad():
            # The rollout policy, against which every KL of this update is measured.
            old = _ActorSnapshot(
                weight=policy.action_net.weight.detach().clone(),
                bias=policy.action_net.bias.detach().clone(),
                log_std=policy.log_std.detach().clone(),
                mean=policy.mean_actions(rollout.pi_features),
            )
        update = self.resolved_actor_update
        if update == "natural":
            stats = self._natural_step(rollout, advantages, old)
        else:
            stats = self._gradient_steps(rollout, advantages, old, clipped=update == "clip")
        # Statistics once, on the whole rollout, instead of a sync per minibatch.
        with th.no_grad():
            log_prob, entropy = policy.log_prob_from_features(rollout.pi_features, rollout.actions)
            stats.update(
                policy_loss=float(-(advantages * log_prob).mean()),
                entropy=float(entropy.mean()),
                approx_kl=float(_approx_kl(log_prob - rollout.old_log_prob)),
                kl=self._kl_from(old, rollout.pi_features),
            )
        return stats

    def _gradient_steps(
        self, rollout: FeatureRolloutBufferSamples, advantages: th.Tensor, old: _ActorSnapshot, clipped: bool
    ) -> dict[str, float]:
        """Adam epochs on the vanilla policy gradient (``clipped=False``) or PPO's clipped surrogate.

        With the KL guard, the exact KL after every step decides whether the update stops there
        (scaled back to ``max_kl``). Measured one step at a time, that check reads the whole
        rollout's features after each minibatch step, which costs more than the step itself;
        so the steps are taken in chunks of up to ``guard_chunk`` (within one epoch, whose
        shuffle is drawn at its start), the KL after each step of a chunk is measured for all of
        them in one product with the features, and only a chunk in which some step comes within
        0.1% of ``max_kl`` is undone and retaken one guarded step at a time, exactly as
        ``guard_chunk=1`` takes it. The result is the same as with ``guard_chunk=1`` (parameters,
        optimizer state, random state and statistics); what it costs is the steps of a retaken
        chunk, taken twice (usually once per update, in the chunk where the guard stops it).
        """
        n = advantages.shape[0]
        batch_size = n if self.batch_size is None else self.batch_size
        state = _StepState()
        for chunk in self._step_chunks(n, batch_size):
            if self.max_kl is None or len(chunk) == 1:
                self._guarded_steps(rollout, advantages, old, clipped, chunk, state)
            else:
                saved = _OptimizerSnapshot.take(self.policy.optimizer)  # parameters and Adam state
                n_clip = len(state.clip_fractions)
                taken = self._plain_steps(rollout, advantages, clipped, chunk, state)
                if taken and self._chunk_max_kl(old, rollout.pi_features, taken) > self.max_kl * (1 - 1e-3):
                    # Some step of the chunk may pass the limit: take the chunk again, guarded.
                    saved.restore(self.policy.optimizer)
                    del state.clip_fractions[n_clip:]
                    state.stop = False  # target_kl stops the retaken chunk where it stopped this one
                    self._guarded_steps(rollout, advantages, old, clipped, chunk, state)
            if state.stop:
                break
        stats: dict[str, float] = {}
        if clipped:
            stats["clip_fraction"] = float(th.stack(state.clip_fractions).mean()) if state.clip_fractions else 0.0
        if self.max_kl is not None:
            stats["kl_guard_scale"] = state.guard_scale
        return stats

    def _step_chunks(self, n: int, batch_size: int) -> Iterator[list[slice | th.Tensor]]:
        """The minibatches of all actor epochs, in chunks of at most ``guard_chunk`` steps.

        Each epoch's shuffle is drawn when its first chunk is asked for, as a plain loop over
        epochs draws it; a chunk never spans two shuffles (undoing it must not undo a draw).
        Whole-rollout steps need no shuffle (and a slice is a view where an index is a copy), so
        their chunks span epochs.
        """
        size = max(1, self.guard_chunk)
        if batch_size >= n:
            steps: list[slice | th.Tensor] = [slice(None)] * self.n_epochs
            for start in range(0, len(steps), size):
                yield steps[start : start + size]
            return
        for _ in range(self.n_epochs):
            batches = list(th.randperm(n, device=self.device).split(batch_size))
            for start in range(0, len(batches), size):
                yield batches[start : start + size]

    def _actor_step(
        self, rollout: FeatureRolloutBufferSamples, advantages: th.Tensor, clipped: bool, idx: slice | th.Tensor,
        state: _StepState,
    ) -> bool:
        """One Adam step of the actor on minibatch ``idx``; False (no step) if ``target_kl`` stops it."""
        policy = self.policy
        if not self._actor_gradients(rollout, advantages, clipped, idx, state):
            return False
        if self.max_grad_norm is not None:
            th.nn.utils.clip_grad_norm_(policy.actor_parameters(), self.max_grad_norm)
        adam_step(policy.optimizer)
        if self.actor_bound is not None:
            project_linf_(policy.action_net.weight, self.actor_bound)
        return True

    @th.no_grad()
    def _actor_gradients(
        self, rollout: FeatureRolloutBufferSamples, advantages: th.Tensor, clipped: bool, idx: slice | th.Tensor,
        state: _StepState,
    ) -> bool:
        """Set the actor's gradients of the minibatch loss ``idx`` in closed form; False (and no
        gradients) if ``target_kl`` stops the update first.

        The loss is ``-mean(A log pi)`` (``clipped=False``) or PPO's ``-mean(min(r A, clip(r) A))``
        with ``r = pi / pi_old``, minus ``ent_coef`` times the mean entropy. With the Gaussian
        ``N(W psi + b, sigma^2)``, ``z = (a - W psi - b) / sigma`` and ``g = dL/d log pi`` per sample
        (``-A / B``, or ``-r A / B`` where the unclipped term is the minimum and 0 where the
        clipped one is, as autograd's ``min`` and ``clamp`` give it):

            dL/dW = (g z / sigma)' psi      dL/db = sum g z / sigma      dL/dlog sigma = sum g (z^2 - 1) - ent_coef

        Two small products instead of an autograd graph per minibatch (the same gradients to
        float rounding).
        """
        policy = self.policy
        weight, bias, log_std = policy.action_net.weight, policy.action_net.bias, policy.log_std
        # rows idx of the features (index_select: the same rows as psi[idx], at a third of the cost)
        psi = rollout.pi_features if isinstance(idx, slice) else rollout.pi_features.index_select(0, idx)
        adv, old_log_prob = advantages[idx], rollout.old_log_prob[idx]
        # (action_dim, batch) layout: W psi' is a (3 x J) x (J x B) product, several times cheaper
        # at these shapes than psi W' with its transposed (J x 3) operand.
        inv_std = th.exp(-log_std)[:, None]
        z = (rollout.actions[idx].t() - th.addmm(bias[:, None], weight, psi.t())) * inv_std
        log_prob = (-0.5 * z.square() - log_std[:, None] - _HALF_LOG_2PI).sum(dim=0)
        if self.target_kl is not None and _approx_kl(log_prob - old_log_prob) > 1.5 * self.target_kl:
            state.stop = True
            return False
        if not clipped:
            # Vanilla advantage policy gradient (the paper's actor update).
            coef = adv / -adv.shape[0]
        else:
            # PPO's clipped surrogate: an ablation, not part of RANDPOL.
            ratio = th.exp(log_prob - old_log_prob)
            clipped_ratio = ratio.clamp(1 - self.clip_range, 1 + self.clip_range)  # type: ignore[operator]
            surrogate = ratio * adv
            coef = th.where(surrogate <= clipped_ratio * adv, surrogate, 0.0).div_(-adv.shape[0])
            state.clip_fractions.append(((ratio - 1).abs() > self.clip_range).float().mean())
        weighted = z * coef  # g z, (action_dim, B)
        mean_gradient = weighted * inv_std  # dL/dmean
        weight.grad = mean_gradient @ psi
        bias.grad = mean_gradient.sum(dim=1)
        log_std.grad = (weighted * z).sum(dim=1) - coef.sum() - self.ent_coef
        return True

    def _guarded_steps(
        self, rollout: FeatureRolloutBufferSamples, advantages: th.Tensor, old: _ActorSnapshot, clipped: bool,
        chunk: list[slice | th.Tensor], state: _StepState,
    ) -> None:
        """Steps on ``chunk``, each followed by the exact KL guard (when ``max_kl`` is set)."""
        for idx in chunk:
            if not self._actor_step(rollout, advantages, clipped, idx, state):
                return
            if self.max_kl is not None:
                state.guard_scale = self._guard_kl(old, rollout.pi_features)
                if state.guard_scale < 1.0:
                    state.stop = True
                    return

    def _plain_steps(
        self, rollout: FeatureRolloutBufferSamples, advantages: th.Tensor, clipped: bool,
        chunk: list[slice | th.Tensor], state: _StepState,
    ) -> list[tuple[th.Tensor, th.Tensor, th.Tensor]]:
        """Unguarded steps on ``chunk``; the actor (head weight, bias, log-std) after each."""
        policy = self.policy
        taken = []
        for idx in chunk:
            if not self._actor_step(rollout, advantages, clipped, idx, state):
                break
            taken.append((policy.action_net.weight.detach().clone(), policy.action_net.bias.detach().clone(),
                          policy.log_std.detach().clone()))
        return taken

    @th.no_grad()
    def _chunk_max_kl(
        self, old: _ActorSnapshot, pi_features: th.Tensor, taken: list[tuple[th.Tensor, th.Tensor, th.Tensor]]
    ) -> float:
        """The largest exact KL from ``old`` over the actors in ``taken``, in one feature product.

        The mean changes of all K actors are ``psi (W_k - W_old)' + (b_k - b_old)``, one
        (n, J) x (J, K * action_dim) product; the KL per actor is :func:`_line_kl` at scale 1.
        """
        weights = th.stack([weight for weight, _, _ in taken]) - old.weight  # (K, action_dim, J)
        biases = th.stack([bias for _, bias, _ in taken]) - old.bias  # (K, action_dim)
        n_taken, action_dim = biases.shape
        change = th.addmm(biases.reshape(-1), pi_features, weights.reshape(n_taken * action_dim, -1).t())
        mean_square = change.double().square().mean(dim=0).reshape(n_taken, action_dim)
        log_std_change = (th.stack([log_std for _, _, log_std in taken]) - old.log_std).double()
        sigma2 = th.exp(2 * old.log_std).double()
        return float(_line_kl_terms(1.0, mean_square, log_std_change, sigma2).sum(dim=1).max())

    @th.no_grad()
    def _natural_step(
        self, rollout: FeatureRolloutBufferSamples, advantages: th.Tensor, old: _ActorSnapshot
    ) -> dict[str, float]:
        """One natural-gradient step on the mean head and log-std, of KL ``natural_kl`` exactly.

        The policy is Gaussian, ``N(W psi(s) + b, diag(sigma^2))`` with a state-independent
        ``sigma``. With ``x = [psi(s); 1]``, the Fisher information of row ``i`` of ``[W b]``
        is ``G / sigma_i^2``, ``G = E[x x^T]`` over the rollout's states, and that of
        ``log sigma_i`` is 2; all cross terms are zero (Kakade 2001; Rajeswaran et al. 2017,
        arXiv 1703.02660, Sec. 3). The natural gradient of ``E[A log pi]`` is therefore

            d_i = G^{-1} E[A (a_i - mu_i) x]       (mean row i: one J x J Cholesky factor for all i)
            d_log_sigma_i = (E[A ((a_i - mu_i)^2 / sigma_i^2 - 1)] + ent_coef) / 2

        and the step ``eta * d`` is sized so that the exact KL from the rollout policy, averaged
        over its states, equals ``natural_kl``. For the mean rows alone that KL is
        ``eta^2 / 2 * sum_i E[(d_i . x)^2] / sigma_i^2``; with the log-std in the same step it
        is the closed form of :func:`_line_kl`, solved for ``eta`` by Brent's method (a scalar
        root, no policy evaluations). ``G`` gets a damping of ``natural_damping`` times its
        mean diagonal for the solve; the KL uses the undamped step as taken.

        :return: ``{"natural_step_size": eta}``.
        """
        policy = self.policy
        psi = rollout.pi_features
        n, n_features = psi.shape
        sigma2 = th.exp(2 * old.log_std).double()
        residuals = rollout.actions - old.mean  # (n, action_dim)
        weighted = advantages[:, None] * residuals
        # E[x x^T] and E[A (a - mu) x] with x = [psi; 1], in blocks (no concatenated copy of psi).
        gram = th.empty(n_features + 1, n_features + 1, dtype=th.float64)
        gram[:n_features, :n_features] = (psi.t() @ psi).double()
        psi_sum = psi.sum(dim=0).double()
        gram[:n_features, n_features] = psi_sum
        gram[n_features, :n_features] = psi_sum
        gram[n_features, n_features] = n
        gram /= n
        rhs = th.cat([psi.t() @ weighted, weighted.sum(dim=0, keepdim=True)]).double() / n  # (J + 1, action_dim)
        damping = self.natural_damping * float(gram.diagonal().mean())
        gram.diagonal().add_(damping)
        direction = th.cholesky_solve(rhs, th.linalg.cholesky(gram))  # (J + 1, action_dim)
        log_std_direction = ((advantages[:, None] * (residuals.square() / sigma2.float() - 1)).mean(dim=0).double() + self.ent_coef) / 2
        # The mean change per unit step, at every state, and its mean square per action dimension.
        mean_change = (psi.double() @ direction[:n_features] + direction[n_features]).float()
        mean_square = mean_change.double().square().mean(dim=0)
        eta = _step_for_kl(self.natural_kl, mean_square, log_std_direction, sigma2)
        if eta > 0:
            delta = (eta * direction).to(policy.action_net.weight.dtype)
            policy.action_net.weight.add_(delta[:n_features].t())
            policy.action_net.bias.add_(delta[n_features])
            policy.log_std.add_((eta * log_std_direction).to(policy.log_std.dtype))
            if self.actor_bound is not None:
                project_linf_(policy.action_net.weight, self.actor_bound)
        stats = {"natural_step_size": float(eta)}
        if self.max_kl is not None:
            stats["kl_guard_scale"] = self._guard_kl(old, psi)
        return stats

    @th.no_grad()
    def _kl_from(self, old: _ActorSnapshot, pi_features: th.Tensor) -> float:
        """Exact KL(rollout policy || current policy), averaged over the rollout's states (nats)."""
        return _line_kl(1.0, *self._change_since(old, pi_features))

    @th.no_grad()
    def _change_since(self, old: _ActorSnapshot, pi_features: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """The actor's change since ``old`` as :func:`_line_kl` takes it: the mean square of the
        mean's change per action dimension, the log-std change and the old variances."""
        policy = self.policy
        # The change itself, (W - W_old) psi' + (b - b_old): no cancellation between two means, and
        # a (3 x J) x (J x n) product, twice as fast as the (n x J) x (J x 3) one of the means.
        change = th.addmm((policy.action_net.bias - old.bias)[:, None], policy.action_net.weight - old.weight,
                          pi_features.t())
        mean_square = change.double().square().mean(dim=1)
        log_std_change = (policy.log_std.detach() - old.log_std).double()
        return mean_square, log_std_change, th.exp(2 * old.log_std).double()

    @th.no_grad()
    def _guard_kl(self, old: _ActorSnapshot, pi_features: th.Tensor) -> float:
        """Scale the actor's change since ``old`` back until its exact KL is ``max_kl``.

        Along the segment from the rollout policy to the current one, the mean moves linearly
        and the log-std too, so the KL is :func:`_line_kl` of the scale and the scale that meets
        ``max_kl`` is a scalar root. The actor-head bound still holds (the box is convex).

        :return: the scale applied (1.0 when the KL was within ``max_kl``).
        """
        assert self.max_kl is not None
        policy = self.policy
        mean_square, log_std_change, sigma2 = self._change_since(old, pi_features)
        if _line_kl(1.0, mean_square, log_std_change, sigma2) <= self.max_kl:
            return 1.0
        scale = _step_for_kl(self.max_kl, mean_square, log_std_change, sigma2, upper=1.0)
        weight, bias, log_std = policy.action_net.weight, policy.action_net.bias, policy.log_std
        weight.copy_(old.weight + scale * (weight - old.weight))
        bias.copy_(old.bias + scale * (bias - old.bias))
        log_std.copy_(old.log_std + scale * (log_std - old.log_std))
        return scale

    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "RANDPOL",
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


def _approx_kl(log_ratio: th.Tensor) -> th.Tensor:
    """KL(old || new) estimate ``E[(r - 1) - log r]`` from log-ratios (http://joschu.net/blog/kl-approx.html)."""
    return ((th.exp(log_ratio) - 1) - log_ratio).mean()


class _ActorSnapshot(NamedTuple):
    """The rollout policy's actor: head weight (action_dim, J), bias and log-std (action_dim,),
    and its means at the rollout's states (n, action_dim)."""

    weight: th.Tensor
    bias: th.Tensor
    log_std: th.Tensor
    mean: th.Tensor


@th.no_grad()
def adam_step(optimizer: th.optim.Optimizer) -> None:
    """``optimizer.step()``, for a fused ``torch.optim.Adam`` without its per-call Python overhead.

    The heads take hundreds of small steps per update, and ``Optimizer.step`` spends several
    times the kernel's own time in hooks, grouping and checks. For a fused CPU Adam whose state
    exists (after its first step) this calls the kernel ``step()`` itself ends in
    (``torch._fused_adam_``, after adding 1 to each step count), group by group: the same
    arithmetic, hence the same parameters and state to the bit (tests/test_randpol_actor.py).
    Anything else (another optimizer, AMSGrad, a parameter without a gradient or state) goes
    through ``optimizer.step()``.
    """
    if type(optimizer) is not th.optim.Adam:
        optimizer.step()
        return
    groups = []
    for group in optimizer.param_groups:
        params = group["params"]
        states = [optimizer.state.get(p) for p in params]
        if (not group["fused"] or group["amsgrad"] or group["maximize"] or group.get("decoupled_weight_decay")
                or group.get("differentiable") or isinstance(group["lr"], th.Tensor)
                or any(not state or p.grad is None or p.device.type != "cpu" for p, state in zip(params, states, strict=True))):
            optimizer.step()
            return
        groups.append((group, params, states))
    for group, params, states in groups:
        steps = [state["step"] for state in states]
        th._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        th._fused_adam_(
            params, [p.grad for p in params], [state["exp_avg"] for state in states],
            [state["exp_avg_sq"] for state in states], [], steps, amsgrad=False, lr=group["lr"], beta1=beta1,
            beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"], maximize=False, grad_scale=None,
            found_inf=None,
        )


@dataclass
class _StepState:
    """What the actor's minibatch steps of one update carry from step to step."""

    clip_fractions: list[th.Tensor] = field(default_factory=list)
    guard_scale: float = 1.0
    stop: bool = False


@dataclass
class _OptimizerSnapshot:
    """An optimizer's parameters and per-parameter state (Adam's moments and step), to undo steps."""

    params: list[th.Tensor]
    state: list[dict[str, Any]]

    @classmethod
    def take(cls, optimizer: th.optim.Optimizer) -> _OptimizerSnapshot:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        state = [
            {k: v.clone() if isinstance(v, th.Tensor) else v for k, v in optimizer.state.get(p, {}).items()}
            for p in params
        ]
        return cls([p.detach().clone() for p in params], state)

    @th.no_grad()
    def restore(self, optimizer: th.optim.Optimizer) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for p, value, saved in zip(params, self.params, self.state, strict=True):
            p.copy_(value)
            if saved:
                current = optimizer.state[p]
                for k, v in saved.items():
                    if isinstance(v, th.Tensor) and isinstance(current.get(k), th.Tensor):
                        current[k].copy_(v)
                    else:
                        current[k] = v.clone() if isinstance(v, th.Tensor) else v
            else:  # no step taken yet: the optimizer initializes the state at its next step
                optimizer.state.pop(p, None)


def _line_kl(scale: float, mean_square: th.Tensor, log_std_change: th.Tensor, sigma2: th.Tensor) -> float:
    """Exact KL between diagonal Gaussians along a line, averaged over states (nats).

    From ``N(mu(s), sigma^2)`` to ``N(mu(s) + t dmu(s), sigma^2 exp(2 t dls))``, with ``t =
    scale``, the KL is ``sum_i [t dls_i + exp(-2 t dls_i) (1 + t^2 m_i / sigma_i^2) / 2 - 1/2]``,
    ``m_i = E_s[dmu_i(s)^2]``.

    :param mean_square: ``m``, shape (action_dim,).
    :param log_std_change: ``dls``, shape (action_dim,).
    :param sigma2: the old variances ``sigma^2``, shape (action_dim,).
    """
    return float(_line_kl_terms(scale, mean_square, log_std_change, sigma2).sum())


def _line_kl_terms(
    scale: float, mean_square: th.Tensor, log_std_change: th.Tensor, sigma2: th.Tensor
) -> th.Tensor:
    """The per-dimension terms of :func:`_line_kl` (same shapes as ``mean_square``; a leading
    batch dimension of several actors broadcasts against ``sigma2``)."""
    t = float(scale)
    return t * log_std_change + 0.5 * th.exp(-2 * t * log_std_change) * (1 + t * t * mean_square / sigma2) - 0.5


def _step_for_kl(
    target: float,
    mean_square: th.Tensor,
    log_std_change: th.Tensor,
    sigma2: th.Tensor,
    upper: float | None = None,
) -> float:
    """The scale ``t > 0`` at which :func:`_line_kl` equals ``target`` (0 if the direction is null).

    Without a log-std change the KL is ``t^2 / 2 * sum(m / sigma^2)`` and ``t`` is closed-form;
    otherwise the root is bracketed from that value (doubling) or by ``upper`` and found by
    Brent's method to machine precision.
    """
    quadratic = float((mean_square / sigma2).sum()) / 2
    if not bool(log_std_change.any()):
        return math.sqrt(target / quadratic) if quadratic > 0 else 0.0
    def excess(t: float) -> float:
        return _line_kl(t, mean_square, log_std_change, sigma2) - target
    if upper is None:
        upper = math.sqrt(target / quadratic) if quadratic > 0 else 1.0
        while excess(upper) < 0:
            upper *= 2
            if upper > 1e12:
                return 0.0
    return float(brentq(excess, 0.0, upper, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def _check_options(
    *,
    n_steps: int,
    batch_size: int | None,
    n_epochs: int,
    gamma: float,
    gae_lambda: float,
    ent_coef: float,
    max_grad_norm: float | None,
    clip_range: float | None,
    target_kl: float | None,
    actor_update: str | None,
    natural_kl: float,
    natural_damping: float,
    max_kl: float | None,
    C: float,
    actor_C: float | None,
    critic_solver: str,
    critic_learning_rate: float,
    critic_batch_size: int,
    critic_epochs: int,
    critic_ridge: float,
    lsq_method: str,
) -> None:
    """Raise ``ValueError`` naming the first bad RANDPOL option and what is accepted."""
    checks = [
        (n_steps >= 1, f"n_steps must be an int >= 1, got {n_steps}"),
        (batch_size is None or batch_size >= 1, f"batch_size must be >= 1 or None (whole rollout), got {batch_size}"),
        (n_epochs >= 1, f"n_epochs must be >= 1, got {n_epochs}"),
        (0.0 <= gamma <= 1.0, f"gamma must be in [0, 1], got {gamma}"),
        (0.0 <= gae_lambda <= 1.0, f"gae_lambda must be in [0, 1], got {gae_lambda}"),
        (ent_coef >= 0.0, f"ent_coef must be >= 0, got {ent_coef}"),
        (max_grad_norm is None or max_grad_norm > 0, f"max_grad_norm must be > 0 or None, got {max_grad_norm}"),
        (clip_range is None or clip_range > 0, f"clip_range must be > 0 or None (vanilla PG), got {clip_range}"),
        (target_kl is None or target_kl > 0, f"target_kl must be > 0 or None, got {target_kl}"),
        (
            actor_update is None or actor_update in ACTOR_UPDATES,
            f"actor_update must be one of {ACTOR_UPDATES} or None (from clip_range), got {actor_update!r}",
        ),
        (
            not (actor_update == "clip" and clip_range is None),
            "actor_update='clip' needs clip_range (epsilon > 0, e.g. 0.2)",
        ),
        (
            not (actor_update in ("pg", "natural") and clip_range is not None),
            f"clip_range={clip_range} is only used by actor_update='clip', got actor_update={actor_update!r}",
        ),
        (natural_kl > 0, f"natural_kl must be > 0 (nats per natural step), got {natural_kl}"),
        (natural_damping >= 0, f"natural_damping must be >= 0, got {natural_damping}"),
        (max_kl is None or max_kl > 0, f"max_kl must be > 0 or None (no KL guard), got {max_kl}"),
        (C > 0, f"C (critic L-infinity constant, |alpha_j| <= C/J) must be > 0, got {C}"),
        (actor_C is None or actor_C > 0, f"actor_C must be > 0 or None (unbounded actor head), got {actor_C}"),
        (critic_solver in CRITIC_SOLVERS, f"critic_solver must be one of {CRITIC_SOLVERS}, got {critic_solver!r}"),
        (critic_learning_rate > 0, f"critic_learning_rate must be > 0, got {critic_learning_rate}"),
        (critic_batch_size >= 1, f"critic_batch_size must be >= 1, got {critic_batch_size}"),
        (critic_epochs >= 1, f"critic_epochs must be >= 1, got {critic_epochs}"),
        (critic_ridge >= 0, f"critic_ridge must be >= 0, got {critic_ridge}"),
        (lsq_method in LSQ_METHODS, f"lsq_method must be one of {LSQ_METHODS}, got {lsq_method!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
