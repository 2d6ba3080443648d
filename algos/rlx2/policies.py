"""RLx2's policies: SB3's TD3 and SAC policies whose linear layers carry masks.

Every ``nn.Linear`` of the actor and the critic (and of their targets) is a
:class:`algos.rlx2.sparse.MaskedLinear` from construction on, with an all-ones mask until the
algorithm sparsifies it, so that a policy's ``state_dict`` holds its masks (``actor.mu.0.mask``,
...) and ``policy.save()`` / ``RLx2TD3Policy.load()`` round-trip the sparse networks without the
algorithm. The layers are built by SB3 and then converted on the same parameter tensors, so the
initial weights, the random number stream and the optimizers are those of the stock policies.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy

from algos.rlx2.sparse import replace_linear_layers


class _MaskedNetworks:
    """``make_actor`` / ``make_critic`` of an SB3 actor-critic policy, with masked linear layers."""

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Any:
        actor = super().make_actor(features_extractor)  # type: ignore[misc]
        replace_linear_layers(actor)
        return actor

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> Any:
        critic = super().make_critic(features_extractor)  # type: ignore[misc]
        replace_linear_layers(critic)
        return critic


class RLx2TD3Policy(_MaskedNetworks, TD3Policy):
    """SB3's ``TD3Policy`` (deterministic actor, twin critic, their targets) with masked linear
    layers; arguments as ``TD3Policy``. Saves and loads on its own, masks included."""


class RLx2SACPolicy(_MaskedNetworks, SACPolicy):
    """SB3's ``SACPolicy`` (squashed Gaussian actor: hidden layers, mean and log-std heads; twin
    critic and its target) with masked linear layers; arguments as ``SACPolicy``. Saves and loads
    on its own, masks included."""
