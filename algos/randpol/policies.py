"""RANDPOL's policy: fixed random hidden layers (buffers) and trainable linear heads.

Liu, Jain, Nguyen, "Reduce Computational Cost In Deep Reinforcement Learning Via Randomized
Policy Learning", arXiv 2505.19054: the actor and the critic are MLPs whose hidden layers are
drawn once at random and never trained; only the output layers are learned, so
``V(s) = alpha . phi(s)`` and ``mean(s) = A' psi(s)`` are linear in the random features
``phi`` (critic) and ``psi`` (actor).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import obs_as_tensor
from torch import nn

ACTIVATIONS = ("relu", "tanh", "fourier")
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
WEIGHT_INITS = ("uniform", "gaussian")


class RandomFeatureNet(nn.Module):
    """A stack of fixed random layers ``x -> act(W_k ... act(W_1 x + b_1) ... + b_k)``.

    Weights and biases are registered buffers: they are saved in the state dict (a loaded model
    has the same features), are never returned by ``parameters()`` and never require grad.

    ``activation="fourier"`` gives random Fourier features ``sin(P x / nu + phase)`` (one layer;
    Rahimi & Recht 2007; as used for policies by Rajeswaran, Lowrey, Todorov, Kakade 2017,
    arXiv 1703.02660): ``P_jk ~ N(0, init_scale^2)``, ``phase_j ~ U(-pi, pi)`` and the bandwidth
    ``nu`` either given or taken from observations by :meth:`fit_input`.

    With ``normalize_input`` the input is standardized, ``(x - mean) / std``, with statistics
    that :meth:`fit_input` sets once from observations and then freezes. Standardization and
    bandwidth are folded into the first layer's weights and bias when they are fitted, so the
    forward pass costs the same with or without them; the statistics themselves stay in the
    state dict (``input_mean``, ``input_std``, ``bandwidth``, ``input_fitted``).

    :param in_dim: input dimension (flattened observation size).
    :param widths: hidden widths, e.g. ``[500, 800]``; the last one is the feature dimension J.
        ``"fourier"`` takes one width, ``[J]``.
    :param activation: ``"relu"``, ``"tanh"`` or ``"fourier"``.
    :param weight_init: ``"uniform"``: weights and biases ~ U(-s, s) with ``s = init_scale /
        sqrt(fan_in)``, the distribution of PyTorch's ``nn.Linear``; ``"gaussian"``: N(0, s^2).
        Not used by ``"fourier"``.
    :param init_scale: multiplier of the scale ``1 / sqrt(fan_in)`` (> 0); for ``"fourier"``
        the standard deviation of ``P``.
    :param normalize_input: standardize the input with frozen statistics (see above).
    :param bandwidth: ``nu`` of the Fourier features (> 0), or ``None`` to take it from the
        observations given to :meth:`fit_input` (their mean pairwise distance).
    :raises ValueError: on an unknown activation or init, a non-positive width, scale or
        bandwidth, or ``"fourier"`` with more than one width.
    """

    def __init__(
        self,
        in_dim: int,
        widths: list[int],
        activation: str = "relu",
        weight_init: str = "uniform",
        init_scale: float = 1.0,
        normalize_input: bool = False,
        bandwidth: float | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if weight_init not in WEIGHT_INITS:
            raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {weight_init!r}")
        if len(widths) == 0 or not all(isinstance(w, (int, np.integer)) and w > 0 for w in widths):
            raise ValueError(f"net_arch widths must be a non-empty list of positive ints, got {widths!r}")
        if not init_scale > 0:
            raise ValueError(f"init_scale must be > 0, got {init_scale}")
        if activation == "fourier" and len(widths) != 1:
            raise ValueError(f"activation='fourier' is one random layer: net_arch must be [J], got {list(widths)!r}")
        if bandwidth is not None and not bandwidth > 0:
            raise ValueError(f"fourier_bandwidth must be > 0 or None (from the observations), got {bandwidth}")
        self.activation = activation
        # Bound methods picked once, so the forward pass has no per-call branching.
        self._act = {"relu": th.relu_, "tanh": th.tanh_, "fourier": th.sin_}[activation]
        self.features_dim = int(widths[-1])
        self.normalize_input = bool(normalize_input)
        fan_in = in_dim
        for k, width in enumerate(widths):
            scale = init_scale / np.sqrt(fan_in)
            weight = th.empty(int(width), fan_in)
            bias = th.empty(int(width))
            if activation == "fourier":
                nn.init.normal_(weight, 0.0, init_scale)
                nn.init.uniform_(bias, -math.pi, math.pi)
            elif weight_init == "uniform":
                nn.init.uniform_(weight, -scale, scale)
                nn.init.uniform_(bias, -scale, scale)
            else:
                nn.init.normal_(weight, 0.0, scale)
                nn.init.normal_(bias, 0.0, scale)
            self.register_buffer(f"weight_{k}", weight)
            self.register_buffer(f"bias_{k}", bias)
            fan_in = int(width)
        self._layer_names = [(f"weight_{k}", f"bias_{k}") for k in range(len(widths))]
        # Fit-once input statistics: the record of what is folded into layer 0.
        self.register_buffer("input_mean", th.zeros(in_dim))
        self.register_buffer("input_std", th.ones(in_dim))
        fixed_bandwidth = activation == "fourier" and bandwidth is not None
        self.register_buffer("bandwidth", th.tensor(float(bandwidth) if fixed_bandwidth else 1.0))
        self._fit_bandwidth = activation == "fourier" and bandwidth is None
        self.register_buffer("input_fitted", th.tensor(not (self.normalize_input or activation == "fourier")))
        if fixed_bandwidth:
            self._fold(self.input_mean, self.input_std, self.bandwidth)
            self.input_fitted.fill_(not self.normalize_input)

    @property
    def needs_fit(self) -> bool:
        """Whether :meth:`fit_input` still has to set statistics or a bandwidth."""
        return not bool(self.input_fitted)

    @th.no_grad()
    def _fold(self, mean: th.Tensor, std: th.Tensor, bandwidth: th.Tensor) -> None:
        """``W (x - mean) / (std nu) + b = W' x + b'`` with ``W' = W / (std nu)``, ``b' = b - W' mean``."""
        weight, bias = self._buffers["weight_0"], self._buffers["bias_0"]
        weight.div_(std * bandwidth)
        bias.sub_(weight @ mean)

    @th.no_grad()
    def fit_input(self, observations: th.Tensor) -> None:
        """Set the input statistics and the Fourier bandwidth from observations, once.

        ``mean`` and ``std`` (per input dimension; a constant dimension keeps std 1) when
        ``normalize_input``; ``nu`` = the mean pairwise Euclidean distance of (up to 1,024 evenly
        spaced) observations after standardization, for ``"fourier"`` without a fixed bandwidth.
        Both are then folded into the first layer and frozen.

        :param observations: float tensor of shape (batch >= 2, in_dim).
        :raises RuntimeError: if the net was already fitted (its features must not change).
        :raises ValueError: on fewer than 2 observations or a wrong input dimension.
        """
        if not self.needs_fit:
            raise RuntimeError("the random features' input statistics are already fitted and frozen")
        obs = observations.reshape(observations.shape[0], -1).to(self.input_mean)
        if obs.shape[0] < 2 or obs.shape[1] != self.input_mean.shape[0]:
            raise ValueError(
                f"fit_input needs (batch >= 2, {self.input_mean.shape[0]}) observations, got {tuple(observations.shape)}"
            )
        mean, std = th.zeros_like(self.input_mean), th.ones_like(self.input_std)
        if self.normalize_input:
            mean = obs.mean(dim=0)
            std = obs.std(dim=0)
            std = th.where(std > 1e-6, std, th.ones_like(std))
        bandwidth = self.bandwidth.clone()
        if self._fit_bandwidth:
            # Evenly spaced, not random: the fit must not draw from the global RNG streams.
            sample = ((obs - mean) / std)[th.linspace(0, obs.shape[0] - 1, min(obs.shape[0], 1024)).long()]
            distances = th.cdist(sample.double(), sample.double())
            n = sample.shape[0]
            bandwidth = (distances.sum() / (n * (n - 1))).to(bandwidth)
            bandwidth = th.where(bandwidth > 0, bandwidth, th.ones_like(bandwidth))
        self.input_mean.copy_(mean)
        self.input_std.copy_(std)
        self.bandwidth.copy_(bandwidth)
        self._fold(mean, std, bandwidth if self._fit_bandwidth else th.ones_like(bandwidth))
        self.input_fitted.fill_(True)

    def forward(self, x: th.Tensor) -> th.Tensor:
        """Random features of a batch.

        :param x: float tensor of shape (batch, in_dim).
        :return: features of shape (batch, J).
        """
        buffers = self._buffers  # direct dict access: this runs at every env step
        for weight_name, bias_name in self._layer_names:
            # addmm + in-place activation: two kernels per layer, no intermediate copies.
            x = self._act(th.addmm(buffers[bias_name], x, buffers[weight_name].t()))
        return x


class InputFeatures(nn.Module):
    """The identity as a feature net: the critic of :class:`RandomFeaturePolicy` with ``critic_net``
    reads the (flattened) observation itself.

    :param in_dim: input dimension, which is also ``features_dim``.
    """

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.features_dim = int(in_dim)

    @property
    def needs_fit(self) -> bool:
        return False

    def forward(self, x: th.Tensor) -> th.Tensor:
        return x


class RandomFeatureExtractor(nn.Module):
    """The actor's and the critic's random feature nets, in the ``MlpExtractor`` interface.

    ``ActorCriticPolicy`` calls ``forward`` / ``forward_actor`` / ``forward_critic`` and reads
    ``latent_dim_pi`` / ``latent_dim_vf``; here the "latent" is the random feature vector.

    :param in_dim: input dimension.
    :param net_arch: widths for both nets (list) or ``dict(pi=[...], vf=[...])``.
    :param share_features: one random net for actor and critic (``psi == phi``).
    :param activation, weight_init, init_scale, normalize_input, bandwidth: see
        :class:`RandomFeatureNet`.
    :param critic_input: the critic's "features" are the input itself (:class:`InputFeatures`),
        for a trained critic network (``RandomFeaturePolicy(critic_net=...)``); ``net_arch``'s
        critic widths are then not used.
    :raises ValueError: if ``share_features`` is set with different actor and critic widths, or
        with ``critic_input``.
    """

    def __init__(
        self,
        in_dim: int,
        net_arch: Sequence[int] | Mapping[str, Sequence[int]],
        share_features: bool,
        activation: str,
        weight_init: str,
        init_scale: float,
        normalize_input: bool = False,
        bandwidth: float | None = None,
        critic_input: bool = False,
    ) -> None:
        super().__init__()
        # Mapping / Sequence, not dict / list: configs may hand over OmegaConf containers.
        if isinstance(net_arch, Mapping):
            if set(net_arch) != {"pi", "vf"}:
                raise ValueError(f"net_arch dict must have exactly the keys 'pi' and 'vf', got {sorted(net_arch)}")
            pi_arch, vf_arch = list(net_arch["pi"]), list(net_arch["vf"])
        else:
            pi_arch = vf_arch = list(net_arch)
        if share_features and pi_arch != vf_arch:
            raise ValueError(f"share_features=True needs equal actor and critic widths, got {pi_arch} and {vf_arch}")
        self.share_features = share_features
        net_kwargs = {
            "activation": activation,
            "weight_init": weight_init,
            "init_scale": init_scale,
            "normalize_input": normalize_input,
            "bandwidth": bandwidth,
        }
        self.pi_net = RandomFeatureNet(in_dim, pi_arch, **net_kwargs)
        if critic_input and share_features:
            raise ValueError("a critic on the observations (critic_net) cannot share the actor's features")
        if critic_input:
            self.vf_net: nn.Module = InputFeatures(in_dim)
        else:
            self.vf_net = self.pi_net if share_features else RandomFeatureNet(in_dim, vf_arch, **net_kwargs)
        self.latent_dim_pi = self.pi_net.features_dim
        self.latent_dim_vf = self.vf_net.features_dim

    @property
    def needs_fit(self) -> bool:
        """Whether a net still waits for :meth:`fit_input` (input statistics or bandwidth)."""
        return self.pi_net.needs_fit or self.vf_net.needs_fit

    def fit_input(self, observations: th.Tensor) -> None:
        """:meth:`RandomFeatureNet.fit_input` for each net that needs it (a shared net once).

        :raises RuntimeError: if no net needs it (the features are fixed already).
        """
        if not self.needs_fit:
            raise RuntimeError("the random features' input statistics are already fitted and frozen")
        for net in {id(self.pi_net): self.pi_net, id(self.vf_net): self.vf_net}.values():
            if net.needs_fit:
                net.fit_input(observations)

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        psi = self.pi_net(features)
        return psi, (psi if self.share_features else self.vf_net(features))

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return self.pi_net(features)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.vf_net(features)


class RandomFeaturePolicy(ActorCriticPolicy):
    """Actor-critic policy with fixed random hidden layers and linear trainable heads (RANDPOL).

    The hidden layers of actor and critic are :class:`RandomFeatureNet` buffers; the trainable
    parameters are exactly the actor mean head ``action_net`` (J_pi x action_dim weights and
    biases), the state-independent Gaussian ``log_std`` and the critic head ``value_net``
    (J_vf weights and one bias). Both heads start at zero ("initialize alpha, alpha' small").
    ``self.optimizer`` holds the actor head and ``log_std`` only; the critic head is fitted by
    the algorithm's critic solver (see :class:`algos.randpol.RANDPOL`).

    Only ``Box`` action spaces (Gaussian policy), no gSDE.

    :param observation_space: observation space.
    :param action_space: ``Box`` action space.
    :param lr_schedule: learning-rate schedule of the actor head (progress remaining -> lr).
    :param net_arch: random hidden widths, ``[500, 800]`` (paper); a list for both nets or
        ``dict(pi=[...], vf=[...])``.
    :param activation: random-layer activation, ``"relu"`` (default), ``"tanh"`` or ``"fourier"``
        (random Fourier features ``sin(P s / nu + phase)``, one layer: ``net_arch=[J]``).
    :param weight_init: ``"uniform"`` (U(+-1/sqrt(fan_in)), as ``nn.Linear``; default) or
        ``"gaussian"`` (N(0, 1/fan_in)).
    :param init_scale: multiplier of the random-weight scale (default 1).
    :param share_features: one random net for actor and critic (default False: separate nets).
    :param normalize_obs: standardize observations before the random layers with statistics
        fitted once, on the first rollout, and then frozen (default False). RANDPOL fits them at
        the end of its first rollout, which the zero-initialized mean head collected without
        looking at the features, and recomputes that rollout's features.
    :param fourier_bandwidth: ``nu`` of the Fourier features (> 0), or ``None`` (default) for
        the mean pairwise distance of the first rollout's (standardized) observations.
    :param critic_net: hidden widths of a *trained* critic network on the observations (tanh,
        orthogonal initialization, as SB3's ``MlpPolicy``), e.g. ``[64, 64]``, in place of the
        random-feature critic; ``None`` (default) keeps RANDPOL's critic. Outside the method: a
        diagnostic that swaps in a value function known to work under the RANDPOL actor
        (docs/randpol_study.md). Needs ``critic_solver="adam"`` and separate features.
    :param log_std_init: initial log standard deviation of the Gaussian policy (default -0.5).
    :param log_std_lr_scale: learning rate of ``log_std`` relative to the mean head's (> 0,
        default 1). Adam moves every one of the J head weights by about the learning rate per
        step, so the mean moves ~J times faster than the single log-std; a scale > 1 lets the
        exploration noise shrink at a comparable pace.
    :param use_sde: must be False (gSDE is not part of RANDPOL).
    :param optimizer_class: optimizer of the actor head (default Adam).
    :param optimizer_kwargs: its keyword arguments besides the learning rate.
    :param kwargs: further ``ActorCriticPolicy`` arguments (features extractor, normalize_images).
    :raises TypeError: on a non-Box action space.
    :raises ValueError: on gSDE or a bad option value.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation: str = "relu",
        weight_init: str = "uniform",
        init_scale: float = 1.0,
        share_features: bool = False,
        normalize_obs: bool = False,
        fourier_bandwidth: float | None = None,
        critic_net: Sequence[int] | None = None,
        log_std_init: float = -0.5,
        log_std_lr_scale: float = 1.0,
        use_sde: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(action_space, spaces.Box):
            raise TypeError(f"RandomFeaturePolicy needs a Box action space, got {action_space}")
        if use_sde:
            raise ValueError("RandomFeaturePolicy does not support gSDE (use_sde=True)")
        for name in ("ortho_init", "squash_output"):
            if kwargs.pop(name, False):
                raise ValueError(f"RandomFeaturePolicy does not support {name}=True")
        # activation, weight_init and fourier_bandwidth are checked by RandomFeatureNet (built by
        # super().__init__ below, before any training state exists).
        if optimizer_kwargs is None and optimizer_class is th.optim.Adam:
            # SB3's eps for Adam; fused: one kernel per step, and the heads take many small steps.
            optimizer_kwargs = {"eps": 1e-5, "fused": True}
        if not log_std_lr_scale > 0:
            raise ValueError(f"log_std_lr_scale must be > 0, got {log_std_lr_scale}")
        self.log_std_lr_scale = log_std_lr_scale
        self.activation = activation
        self.weight_init = weight_init
        self.init_scale = init_scale
        self.share_features = share_features
        self.normalize_obs = bool(normalize_obs)
        self.fourier_bandwidth = fourier_bandwidth
        if critic_net is not None:
            critic_net = list(critic_net)
            if not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0 for w in critic_net):
                raise ValueError(f"critic_net must be a list of positive ints (hidden widths) or None, got {critic_net!r}")
            if share_features:
                raise ValueError("critic_net (a trained critic on the observations) cannot be used with share_features=True")
        self.critic_net = critic_net
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=[500, 800] if net_arch is None else net_arch,
            ortho_init=False,
            use_sde=False,
            log_std_init=log_std_init,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            **kwargs,
        )

    def _build_mlp_extractor(self) -> None:
        self._flat_box_obs = (
            isinstance(self.observation_space, spaces.Box)
            and len(self.observation_space.shape) == 1
            and isinstance(self.features_extractor, FlattenExtractor)
        )
        self.mlp_extractor = RandomFeatureExtractor(
            self.features_dim,
            self.net_arch,
            share_features=self.share_features,
            activation=self.activation,
            weight_init=self.weight_init,
            init_scale=self.init_scale,
            normalize_input=self.normalize_obs,
            bandwidth=self.fourier_bandwidth,
            critic_input=self.critic_net is not None,
        )

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        heads = [self.action_net]
        if self.critic_net is None:
            heads.append(self.value_net)
        else:  # SB3's MlpPolicy value network: tanh layers, orthogonal init (gain sqrt 2, output 1)
            layers: list[nn.Module] = []
            fan_in = self.mlp_extractor.latent_dim_vf
            for width in self.critic_net:
                layers += [nn.Linear(fan_in, width), nn.Tanh()]
                fan_in = width
            self.value_net = nn.Sequential(*layers, nn.Linear(fan_in, 1)).to(self.device)
            for module in self.value_net[:-1]:
                self.init_weights(module, gain=math.sqrt(2))
            self.init_weights(self.value_net[-1], gain=1.0)
        with th.no_grad():
            for head in heads:
                head.weight.zero_()
                head.bias.zero_()
        # Rebuilt on the actor head only: the critic head has its own solver, and the random
        # layers are buffers that no optimizer may ever see.
        # "lr_scale" multiplies the scheduled learning rate of a group (RANDPOL._update_learning_rate).
        groups = [
            {"params": [self.action_net.weight, self.action_net.bias], "lr_scale": 1.0},
            {"params": [self.log_std], "lr_scale": self.log_std_lr_scale},
        ]
        for group in groups:
            group["lr"] = lr_schedule(1) * group["lr_scale"]
        self.optimizer = self.optimizer_class(groups, lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for name in ("activation_fn", "ortho_init", "squash_output", "full_std", "use_expln"):
            data.pop(name, None)
        data.update(
            activation=self.activation,
            weight_init=self.weight_init,
            init_scale=self.init_scale,
            share_features=self.share_features,
            normalize_obs=self.normalize_obs,
            fourier_bandwidth=self.fourier_bandwidth,
            critic_net=self.critic_net,
            log_std_lr_scale=self.log_std_lr_scale,
        )
        return data

    def actor_parameters(self) -> list[nn.Parameter]:
        """The actor's trainable parameters: mean head weight and bias, and ``log_std``."""
        return [self.action_net.weight, self.action_net.bias, self.log_std]

    def critic_parameters(self) -> list[nn.Parameter]:
        """The critic's trainable parameters: value head weight (the paper's alpha) and bias (with
        ``critic_net``, every parameter of the critic network)."""
        return list(self.value_net.parameters())

    def random_buffers(self) -> dict[str, th.Tensor]:
        """The fixed random layers' weights and biases, by state-dict name (shared nets once).

        The input statistics (``input_mean``, ``input_std``, ``bandwidth``, ``input_fitted``)
        are records of what is folded into the first layer, not parameters, and are left out.
        """
        return {
            name: buffer
            for name, buffer in self.mlp_extractor.named_buffers()
            if name.rsplit(".", 1)[-1].startswith(("weight_", "bias_"))
        }

    @property
    def features_need_fit(self) -> bool:
        """Whether the random layers wait for input statistics (see ``normalize_obs``, ``"fourier"``)."""
        return self.mlp_extractor.needs_fit

    def fit_feature_inputs(self, obs: th.Tensor) -> None:
        """Fit and freeze the random layers' input statistics from observations.

        :param obs: observations of shape (batch >= 2, *obs_shape), as tensors.
        :raises RuntimeError: if they were fitted already.
        """
        with th.no_grad():
            self.mlp_extractor.fit_input(self.preprocess_obs(obs))

    def preprocess_obs(self, obs: th.Tensor) -> th.Tensor:
        """Observation -> float input of the random nets (SB3's preprocessing and flattening)."""
        if self._flat_box_obs:
            # What SB3's preprocess_obs + FlattenExtractor do for a 1-D Box, minus two calls.
            return obs.float()
        return super().extract_features(obs, self.pi_features_extractor)  # type: ignore[return-value]

    def numpy_obs_converter(self) -> Callable[[np.ndarray], th.Tensor]:
        """A function from a numpy observation batch to the float input of the random nets.

        The input has shape (batch, in_dim), on the policy's current device. For a 1-D ``Box``
        on the CPU it is one float32 view of the array, which is what ``obs_as_tensor`` +
        :meth:`preprocess_obs` give, in one call instead of four; otherwise it is those two.
        Look the function up again after moving the policy to another device.
        """
        device = self.device
        if self._flat_box_obs and device.type == "cpu":
            return lambda obs: th.from_numpy(np.asarray(obs, dtype=np.float32))
        return lambda obs: self.preprocess_obs(obs_as_tensor(obs, device))  # type: ignore[arg-type]

    @th.no_grad()
    def actor_features(self, obs: th.Tensor) -> th.Tensor:
        """psi(s): actor random features, shape (batch, J_pi), no autograd graph."""
        return self.mlp_extractor.forward_actor(self.preprocess_obs(obs))

    @th.no_grad()
    def critic_features(self, obs: th.Tensor) -> th.Tensor:
        """phi(s): critic random features, shape (batch, J_vf), no autograd graph (with
        ``critic_net``: the flattened observation, shape (batch, obs_dim))."""
        return self.mlp_extractor.forward_critic(self.preprocess_obs(obs))

    def mean_actions(self, pi_features: th.Tensor) -> th.Tensor:
        """Gaussian mean ``A' psi + b``, shape (batch, action_dim), from cached features."""
        return th.addmm(self.action_net.bias, pi_features, self.action_net.weight.t())

    def values_from_features(self, vf_features: th.Tensor) -> th.Tensor:
        """``alpha . phi + b``, shape (batch, 1), from cached features (with ``critic_net``: the
        critic network on the cached observations)."""
        return self.value_net(vf_features)

    def log_prob_from_features(self, pi_features: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Log-likelihood of ``actions`` and entropy under the policy, from cached actor features.

        :param pi_features: shape (batch, J_pi).
        :param actions: shape (batch, action_dim).
        :return: log-probabilities and entropies, each of shape (batch,).
        """
        # The diagonal Gaussian of SB3's DiagGaussianDistribution in closed form: the same
        # numbers without building a torch.distributions object at every minibatch.
        log_std = self.log_std
        z = (actions - self.mean_actions(pi_features)) * th.exp(-log_std)
        log_prob = (-0.5 * z.square() - log_std - _HALF_LOG_2PI).sum(dim=-1)
        entropy = (0.5 + _HALF_LOG_2PI + log_std).sum().expand(log_prob.shape[0])
        return log_prob, entropy
