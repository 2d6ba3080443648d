"""Deterministic policies searched by Structured ES.

- :class:`ToeplitzPolicy`: the compact network of Choromanski et al. 2018 (arXiv 1804.02395,
  Section 4): ``s -> h -> h -> a``, every weight matrix Toeplitz, biases on the hidden layers,
  tanh after the hidden layers and on the output, scaled to the action bounds. Parameters:
  ``(s + h - 1) + (2h - 1) + (h + a - 1) + 2h = s + a + 6h - 3`` (Hopper, h = 41: 257).
- :class:`MlpPolicy`: the same network with dense weights (structure's effect alone).
- :class:`LinearPolicy`: ARS's linear policy ``a = M s`` (no bias), clipped to the action bounds
  (Mania et al. 2018, arXiv 1803.07055).

Observations are normalized outside the policy, by the training env's ``VecNormalize``
(running mean and std of every state seen, frozen in the evaluation env), as for sb3-contrib's
ARS. The policies expose SB3's ``parameters_to_vector`` / ``load_from_vector``, which the
evolution strategy uses to read and write the flat parameter vector ``theta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn

from algos.ses.toeplitz import ToeplitzLinear


class ESPolicy(BasePolicy):
    """Deterministic feed-forward policy ``s -> h_1 -> ... -> h_k -> a`` for blackbox search.

    Hidden layers have biases and ``activation_fn``; the output layer has no bias. With
    ``squash_output`` the output goes through tanh and ``predict`` rescales it from ``[-1, 1]`` to
    the action bounds; without, ``predict`` clips it to the bounds.

    :param observation_space: the env's observation space (flattened to ``s`` features).
    :param action_space: a ``Box`` of ``a`` actions (finite bounds when ``squash_output``).
    :param net_arch: hidden widths ``[h_1, ..., h_k]``; ``[]`` gives a linear map.
    :param activation_fn: activation class after each hidden layer.
    :param squash_output: tanh on the output, scaled to the action bounds.
    :raises ValueError: on a non-Box action space, a width < 1, or infinite bounds with ``squash_output``.
    """

    #: Whether the weight matrices are Toeplitz (``True``) or dense.
    toeplitz: ClassVar[bool] = False
    #: Hidden widths used when ``net_arch`` is not given (the paper's Hopper network).
    default_net_arch: ClassVar[tuple[int, ...]] = (41, 41)

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: Sequence[int] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        squash_output: bool = True,
    ) -> None:
        if not isinstance(action_space, spaces.Box):
            raise ValueError(  # noqa: TRY004 - SB3 refuses unsupported spaces with ValueError
                f"{type(self).__name__} needs a continuous (Box) action space, "
                f"got {type(action_space).__name__}"
            )
        net_arch = list(self.default_net_arch if net_arch is None else net_arch)
        if any(not isinstance(width, int) or width < 1 for width in net_arch):
            raise ValueError(f"net_arch must be a list of positive integers, got {net_arch!r}")
        if squash_output and not (
            np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()
        ):
            raise ValueError(
                "squash_output=True scales tanh outputs to the action bounds, which must be finite; "
                f"got low={action_space.low}, high={action_space.high} (use squash_output=False to clip)"
            )
        super().__init__(observation_space, action_space, squash_output=squash_output)
        self.net_arch = net_arch
        self.activation_fn = activation_fn
        self.features_extractor = self.make_features_extractor()
        self.features_dim = self.features_extractor.features_dim

        layers: list[nn.Module] = []
        in_features = self.features_dim
        for width in net_arch:
            layers += [self._make_layer(in_features, width, bias=True), activation_fn()]
            in_features = width
        layers.append(self._make_layer(in_features, get_action_dim(action_space), bias=False))
        if squash_output:
            layers.append(nn.Tanh())
        self.action_net = nn.Sequential(*layers)

    def _make_layer(self, in_features: int, out_features: int, bias: bool) -> nn.Module:
        if self.toeplitz:
            return ToeplitzLinear(in_features, out_features, bias=bias)
        return nn.Linear(in_features, out_features, bias=bias)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        # BasePolicy's version adds normalize_images and features-extractor arguments these
        # policies do not take.
        return {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "net_arch": self.net_arch,
            "activation_fn": self.activation_fn,
            "squash_output": self.squash_output,
        }

    @property
    def n_parameters(self) -> int:
        """Number of free parameters, the dimension ``d`` of the search space."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, obs: PyTorchObs) -> th.Tensor:
        """:param obs: ``(batch, *obs_shape)``. :return: ``(batch, a)`` actions before rescaling/clipping."""
        return self.action_net(self.extract_features(obs, self.features_extractor))

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        # The policy is deterministic; exploration happens in parameter space.
        return self(observation)


class ToeplitzPolicy(ESPolicy):
    """The compact Toeplitz network of Structured ES (see :class:`ESPolicy` for the arguments).

    With ``net_arch=[h, h]``: ``s + a + 6h - 3`` parameters.
    """

    toeplitz = True


class MlpPolicy(ESPolicy):
    """The same network as :class:`ToeplitzPolicy` with dense (unstructured) weight matrices."""


class LinearPolicy(ESPolicy):
    """ARS's linear policy: ``a = clip(M s)``, ``M`` of shape ``(a, s)``, no bias, ``a * s`` parameters.

    :param net_arch: must be ``None`` or ``[]`` (a linear policy has no hidden layer).
    :param squash_output: ARS clips (``False``); ``True`` gives ``tanh(M s)`` scaled to the bounds.
    :raises ValueError: if ``net_arch`` has hidden layers.
    """

    default_net_arch = ()

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: Sequence[int] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        squash_output: bool = False,
    ) -> None:
        if net_arch:
            raise ValueError(
                f"LinearPolicy has no hidden layers, got net_arch={list(net_arch)!r}; pass net_arch=[] "
                "or leave it out (on the command line: ~algo.model.policy_kwargs)"
            )
        super().__init__(observation_space, action_space, [], activation_fn, squash_output)
