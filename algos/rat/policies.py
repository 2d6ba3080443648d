"""RAT's policy: an SB3 ``ActorCriticPolicy`` with separate actor and critic networks.

The RAT update treats the actor's parameters theta (hidden layers, mean head and the
state-independent log-std) as one vector whose per-sample score rows
``psi_i = grad_theta log pi(a_i | s_i)`` build the Gram matrix of the advantage transformation,
so the actor must not share any parameter with the critic. This class fixes that (separate
feature extractors, separate MLPs) and exposes the two parameter sets and the actor's
log-likelihood as plain functions of the observations, which ``torch.func`` can differentiate
per sample.
"""

from __future__ import annotations

import math
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class RATPolicy(ActorCriticPolicy):
    """Gaussian actor ``N(mu_theta(s), diag(exp(log_std))^2)`` and critic ``V_phi(s)``, no shared weights.

    Defaults are the network of the RAT paper's code: 256x256 ReLU MLPs for actor and critic, a
    state-independent log-std. Every other argument is SB3's ``ActorCriticPolicy``'s.

    :param observation_space: observation space.
    :param action_space: a ``Box`` action space (the Gaussian log-likelihood is the one RAT differentiates).
    :param lr_schedule: learning-rate schedule (progress remaining -> lr) of the actor's SGD.
    :param net_arch: ``dict(pi=[...], vf=[...])`` hidden widths; ``None`` for ``dict(pi=[256, 256], vf=[256, 256])``.
    :param activation_fn: activation class of both MLPs.
    :param share_features_extractor: must be False: a shared extractor would put critic
        parameters into the actor's score rows.
    :param kwargs: the remaining ``ActorCriticPolicy`` arguments (``ortho_init``, ``log_std_init``, ...).
    :raises TypeError: if the action space is not a ``Box``.
    :raises ValueError: on gSDE (its noise is not a state-independent log-std) or a shared extractor.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        share_features_extractor: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(action_space, spaces.Box):
            raise TypeError(f"RATPolicy needs a Box action space, got {type(action_space).__name__}")
        if kwargs.get("use_sde", False):
            raise ValueError(
                "RATPolicy does not support gSDE (use_sde=True): RAT's log-std is state-independent"
            )
        if share_features_extractor:
            raise ValueError(
                "RATPolicy needs share_features_extractor=False: actor and critic share no parameter"
            )
        if net_arch is None:
            net_arch = {"pi": [256, 256], "vf": [256, 256]}
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            share_features_extractor=False,
            **kwargs,
        )
        assert isinstance(self.action_dist, DiagGaussianDistribution)

    def actor_modules(self) -> list[nn.Module]:
        """The modules whose parameters are the actor's theta (the log-std is a bare parameter)."""
        return [self.pi_features_extractor, self.mlp_extractor.policy_net, self.action_net]

    def actor_named_parameters(self) -> dict[str, nn.Parameter]:
        """theta: the actor's parameters by their name in this policy, log-std included."""
        actor_ids = {id(p) for module in self.actor_modules() for p in module.parameters()} | {
            id(self.log_std)
        }
        return {name: p for name, p in self.named_parameters() if id(p) in actor_ids}

    def actor_parameters(self) -> list[nn.Parameter]:
        """theta as a list (the order of :meth:`actor_named_parameters`)."""
        return list(self.actor_named_parameters().values())

    def critic_parameters(self) -> list[nn.Parameter]:
        """The critic's parameters: its feature extractor, MLP and value head."""
        modules = [self.vf_features_extractor, self.mlp_extractor.value_net, self.value_net]
        return [p for module in modules for p in module.parameters()]

    def actor_log_prob(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """``log pi(a | s)`` of the diagonal Gaussian, written out so ``torch.func`` can vmap it.

        :param obs: observations, shape (n, *obs_shape).
        :param actions: unclipped actions as sampled, shape (n, action_dim).
        :return: log-likelihoods, shape (n,) (summed over action dimensions, as SB3's
            ``DiagGaussianDistribution.log_prob``).
        """
        # BasePolicy's: ActorCriticPolicy's version refuses an explicit extractor when unshared.
        features = BasePolicy.extract_features(self, obs, self.pi_features_extractor)
        mean = self.action_net(self.mlp_extractor.forward_actor(features))
        z = (actions - mean) * th.exp(-self.log_std)
        return (-0.5 * z.square() - self.log_std - _HALF_LOG_2PI).sum(dim=-1)
