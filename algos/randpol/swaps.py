"""RANDPOL's critic under another actor: the swap experiments of the RANDPOL study.

The study (docs/randpol_study.md) asks which of RANDPOL's two halves limits its return. One swap
puts a trained critic network under the RANDPOL actor (``RandomFeaturePolicy(critic_net=...)``);
the other, here, puts RANDPOL's random-feature critic under PPO's actor: SB3's
``ActorCriticPolicy`` whose value branch is a fixed :class:`RandomFeatureNet` (``[500, 800]`` ReLU
by default, drawn as RANDPOL draws it), so that only the linear value head of the critic is
trained, by PPO's own value loss. The actor branch is SB3's, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stable_baselines3.common.policies import ActorCriticPolicy

from algos.randpol.policies import RandomFeatureNet


class RandomCriticPolicy(ActorCriticPolicy):
    """SB3's actor-critic policy with RANDPOL's fixed random critic features.

    The value is ``V(s) = alpha . phi(s) + b`` with ``phi`` a :class:`RandomFeatureNet` (buffers,
    never trained) and ``(alpha, b)`` SB3's ``value_net`` head, trained by the algorithm's value
    loss (PPO: ``vf_coef`` times the mean squared error, in its joint Adam step). ``net_arch``'s
    ``vf`` widths are not used; everything about the actor is SB3's.

    :param critic_widths: the random critic widths, e.g. ``[500, 800]`` (RANDPOL's, the default);
        the last is the feature dimension J.
    :param critic_activation: ``"relu"`` (default), ``"tanh"`` or ``"fourier"``.
    :param critic_weight_init: ``"uniform"`` (default) or ``"gaussian"``; see :class:`RandomFeatureNet`.
    :param args, kwargs: ``ActorCriticPolicy``'s.
    :raises ValueError: on a bad width, activation or init (from :class:`RandomFeatureNet`).
    """

    def __init__(
        self,
        *args: Any,
        critic_widths: Sequence[int] = (500, 800),
        critic_activation: str = "relu",
        critic_weight_init: str = "uniform",
        **kwargs: Any,
    ) -> None:
        self.critic_widths = [int(width) for width in critic_widths]
        self.critic_activation = critic_activation
        self.critic_weight_init = critic_weight_init
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        super()._build_mlp_extractor()
        # Replaced before _build makes value_net and the optimizer, so neither sees SB3's branch.
        critic = RandomFeatureNet(self.features_dim, self.critic_widths, activation=self.critic_activation,
                                  weight_init=self.critic_weight_init)
        self.mlp_extractor.value_net = critic
        self.mlp_extractor.latent_dim_vf = critic.features_dim

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(critic_widths=self.critic_widths, critic_activation=self.critic_activation,
                    critic_weight_init=self.critic_weight_init)
        return data
