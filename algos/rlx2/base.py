"""What RLx2-TD3 and RLx2-SAC share: sparse actor and critic, topology evolution, the delayed
multi-step target, the dynamic-capacity buffer, counters and the sparsity/FLOPs report.

Tan, Hu, Pan, Huang, Huang, "RLx2: Training a Sparse Deep Reinforcement Learning Model from
Scratch", ICLR 2023, arXiv 2205.15043; the mechanisms follow the authors' code (DST_Scheduler,
ReplayBuffer.shrink, train.py).

Counters are in the paper's units, the updates of each network:

- ``critic_updates``: gradient steps of the critic (one per sampled batch, including the steps
  whose optimizer step is skipped for a topology update). The multi-step delay and the
  critic's topology schedule count these.
- ``actor_updates``: gradient steps of the actor (every ``policy_delay``-th critic update for
  TD3, every critic update for SAC). The actor's topology schedule counts these, so the actor's
  topology changes every ``topology_interval`` actor updates, as in the authors' code.
- ``topology_updates``: drop/grow steps done, per network.

These counters run over the model's life. The schedules count from the start of the current run:
``learn(reset_num_timesteps=True)`` (SB3's default) starts a run, so the topology schedule (its
interval, cosine decay and horizon) and the dynamic-buffer checks start again there;
``reset_num_timesteps=False`` continues the run.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import MaybeCallback, TrainFreq, TrainFrequencyUnit
from stable_baselines3.common.vec_env import VecNormalize
from torch import nn

from algos.rlx2.buffers import DynamicNStepReplayBuffer
from algos.rlx2.sparse import (
    GROW_CRITERIA,
    MaskedLinear,
    cosine_drop_fraction,
    forward_flops,
    replace_linear_layers,
    sparsify_,
    update_topology_,
)

NETWORKS = ("actor", "critic")
RECORD_EVERY = 1000  # critic updates between two rlx2/ log records


class RLx2Mixin:
    """Sparse-training machinery mixed into an SB3 off-policy actor-critic (before TD3 / SAC in
    the bases), so that SB3's own ``train()`` runs unchanged:

    - the masked update and the topology update are hooks on the actor's and critic's optimizers
      (``torch.optim.Optimizer.register_step_pre_hook`` / ``register_step_post_hook``, installed
      in :meth:`_setup_model`): :meth:`_before_step` counts the update, and either drops/grows the
      topology and skips the step or masks the gradient; :meth:`_after_step` re-zeroes the
      masked weights;
    - the n of the multi-step target is set before the first sample of ``train()`` and, after
      each critic update, for the next one (the buffer reads it at every ``sample()``);
    - the dynamic buffer stages behaviour mean actions in :meth:`_sample_action` and checks the
      policy distance in :meth:`_on_step`.

    Target networks need no re-masking: a soft update ``(1 - tau) * target + tau * online`` keeps
    an entry at exactly 0 when both are 0, and the target copies the online mask (zeroing what it
    masks) whenever the topology changes.

    The subclass passes the RLx2 options to :meth:`_init_rlx2` by keyword and defines
    :meth:`_behaviour_mean_action`, :meth:`_target_networks`, :attr:`actor_period` and
    :meth:`_flops_per_gradient_step`."""

    # provided by SB3's OffPolicyAlgorithm
    buffer_size: int
    batch_size: int
    gamma: float
    learning_starts: int
    gradient_steps: int
    n_envs: int
    num_timesteps: int
    train_freq: TrainFreq
    replay_buffer: DynamicNStepReplayBuffer
    replay_buffer_class: type[ReplayBuffer]
    replay_buffer_kwargs: dict[str, Any]
    policy: BasePolicy
    logger: Logger
    _last_obs: np.ndarray
    _vec_normalize_env: VecNormalize | None

    # constructor arguments set by _init_rlx2 (documented on RLx2TD3 / RLx2SAC)
    actor_sparsity: float
    critic_sparsity: float
    topology_evolution: bool
    grow_criterion: str
    topology_interval: int
    drop_fraction: float
    topology_end: int | None
    multi_step: int
    multi_step_delay: int
    dynamic_buffer: bool
    buffer_min_size: int
    policy_distance_threshold: float
    buffer_check_interval: int
    buffer_shrink_fraction: float
    policy_distance_batch: int

    def _init_rlx2(
        self,
        *,
        actor_sparsity: float,
        critic_sparsity: float,
        topology_evolution: bool,
        grow_criterion: str,
        topology_interval: int,
        drop_fraction: float,
        topology_end: int | None,
        multi_step: int,
        multi_step_delay: int,
        dynamic_buffer: bool,
        buffer_min_size: int,
        policy_distance_threshold: float,
        buffer_check_interval: int,
        buffer_shrink_fraction: float,
        policy_distance_batch: int,
    ) -> None:
        """Check and store the RLx2 arguments (before ``_setup_model``)."""
        for name, value in (("actor_sparsity", actor_sparsity), ("critic_sparsity", critic_sparsity)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if grow_criterion not in GROW_CRITERIA:
            raise ValueError(f"grow_criterion must be one of {GROW_CRITERIA}, got {grow_criterion!r}")
        if not 0.0 <= drop_fraction <= 1.0:
            raise ValueError(f"drop_fraction must be in [0, 1], got {drop_fraction}")
        if not 0.0 <= buffer_shrink_fraction <= 1.0:
            raise ValueError(f"buffer_shrink_fraction must be in [0, 1], got {buffer_shrink_fraction}")
        for name, value in (
            ("topology_interval", topology_interval),
            ("multi_step", multi_step),
            ("buffer_check_interval", buffer_check_interval),
            ("policy_distance_batch", policy_distance_batch),
        ):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value}")
        if multi_step_delay < 0:
            raise ValueError(f"multi_step_delay must be >= 0 critic updates, got {multi_step_delay}")
        if topology_end is not None and topology_end < 1:
            raise ValueError(f"topology_end must be None or >= 1 critic updates, got {topology_end}")
        if policy_distance_threshold < 0:
            raise ValueError(f"policy_distance_threshold must be >= 0, got {policy_distance_threshold}")
        buffer_size = self.buffer_size
        if not 1 <= buffer_min_size <= buffer_size:
            raise ValueError(
                f"buffer_min_size must be in [1, buffer_size={buffer_size}], got {buffer_min_size}"
            )
        self.actor_sparsity = float(actor_sparsity)
        self.critic_sparsity = float(critic_sparsity)
        self.topology_evolution = bool(topology_evolution)
        self.grow_criterion = grow_criterion
        self.topology_interval = int(topology_interval)
        self.drop_fraction = float(drop_fraction)
        self.topology_end = None if topology_end is None else int(topology_end)
        self.multi_step = int(multi_step)
        self.multi_step_delay = int(multi_step_delay)
        self.dynamic_buffer = bool(dynamic_buffer)
        self.buffer_min_size = int(buffer_min_size)
        self.policy_distance_threshold = float(policy_distance_threshold)
        self.buffer_check_interval = int(buffer_check_interval)
        self.buffer_shrink_fraction = float(buffer_shrink_fraction)
        self.policy_distance_batch = int(policy_distance_batch)
        # counters (paper's units) and last measurements, saved with the model
        self.critic_updates = 0
        self.actor_updates = 0
        self.topology_updates = {name: 0 for name in NETWORKS}
        self.last_drop_fraction = {name: 0.0 for name in NETWORKS}
        self.topology_horizon: dict[str, int] = {}
        self.policy_distance: float | None = None
        self.buffer_checks = 0
        # counters at the start of the current run (the last learn() with reset_num_timesteps)
        self.run_start_updates = {name: 0 for name in NETWORKS}
        self.run_start_buffer_checks = 0
        self.buffer_shrinks = 0
        self._masked_layers: dict[str, list[MaskedLinear]] = {}
        self._sparse_layers: dict[str, list[MaskedLinear]] = {}
        self._target_masked_layers: dict[str, list[MaskedLinear]] = {}
        self._last_record = -RECORD_EVERY

    # -- subclass hooks ------------------------------------------------------------------------
    actor_period: int  # critic updates per actor update

    def _target_networks(self) -> dict[str, tuple[nn.Module, nn.Module | None]]:
        """``{"actor": (online, target or None), "critic": (online, target)}``."""
        raise NotImplementedError

    def _behaviour_mean_action(self, obs: th.Tensor) -> th.Tensor:
        """The current policy's mean action, scaled to [-1, 1], shape ``(batch, action_dim)``."""
        raise NotImplementedError

    def _flops_per_gradient_step(self, actor_flops: int, critic_flops: int) -> float:
        """FLOPs of one gradient step for one sample, given each network's forward FLOPs."""
        raise NotImplementedError

    # -- SB3 life cycle ------------------------------------------------------------------------
    def _excluded_save_params(self) -> list[str]:
        return super()._excluded_save_params() + ["_masked_layers", "_sparse_layers", "_target_masked_layers"]  # type: ignore[misc]

    def _setup_model(self) -> None:
        """SB3's setup with the dynamic n-step buffer, then sparse actor and critic.

        The buffer starts with 1-step targets; :meth:`_set_n_steps` switches it. The Linear
        layers of the online and target networks become :class:`MaskedLinear` on the same
        tensors (so the optimizers built by the policy keep working); the online masks come from
        Erdos-Renyi allocation per network, the target networks copy them. The actor's and
        critic's optimizers get RLx2's step hooks (:meth:`_before_step`, :meth:`_after_step`).
        """
        self.replay_buffer_class = DynamicNStepReplayBuffer
        self.replay_buffer_kwargs = {
            **self.replay_buffer_kwargs,
            "n_steps": 1,
            "gamma": self.gamma,
            "min_size": self.buffer_min_size,
        }
        super()._setup_model()  # type: ignore[misc]
        sparsity = {"actor": self.actor_sparsity, "critic": self.critic_sparsity}
        self._masked_layers, self._sparse_layers, self._target_masked_layers = {}, {}, {}
        for name, (online, target) in self._target_networks().items():
            layers = replace_linear_layers(online)
            sparsify_(layers, sparsity[name])
            self._masked_layers[name] = layers
            if target is not None:
                target_layers = replace_linear_layers(target)
                for layer, target_layer in zip(layers, target_layers, strict=True):
                    target_layer.set_mask_(layer.mask)
                self._target_masked_layers[name] = target_layers
        self._refresh_sparse_layers()
        for name, online_optimizer in (("actor", self.actor.optimizer), ("critic", self.critic.optimizer)):  # type: ignore[attr-defined]
            online_optimizer.register_step_pre_hook(functools.partial(self._before_step, name))
            online_optimizer.register_step_post_hook(functools.partial(self._after_step, name))

    def _refresh_sparse_layers(self) -> None:
        # Topology updates keep each layer's count of active weights, so the layers that are
        # sparse (the ones masking and drop/grow touch) change only when masks are loaded.
        for name, layers in self._masked_layers.items():
            for layer in layers:
                layer.is_sparse = bool(not layer.mask.all())
            self._sparse_layers[name] = [layer for layer in layers if layer.is_sparse]

    def set_parameters(self, *args: Any, **kwargs: Any) -> None:
        """SB3's ``set_parameters``; loaded masks may make other layers sparse."""
        super().set_parameters(*args, **kwargs)  # type: ignore[misc]
        self._refresh_sparse_layers()

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, Any]:
        """SB3's set-up, plus the topology horizon T (in updates of each network).

        T is ``topology_end`` critic updates when given, else the critic updates the run will make
        in all (the authors' ``T_end = max_timesteps - start_timesteps`` for one update per env
        step); the actor's is ``T // actor_period``. With ``reset_num_timesteps`` a new run starts:
        the updates and buffer checks so far are its starting point, so the schedules of a second
        ``learn()`` count from 0 as the first one's did.
        """
        total_timesteps, callback = super()._setup_learn(  # type: ignore[misc]
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if reset_num_timesteps:
            self.run_start_updates = {name: int(getattr(self, f"{name}_updates")) for name in NETWORKS}
            self.run_start_buffer_checks = int(self.buffer_checks)
        horizon = (
            self.topology_end
            if self.topology_end is not None
            else self._expected_critic_updates(total_timesteps)
        )
        self.topology_horizon = {
            "critic": max(int(horizon), 1),
            "actor": max(int(horizon) // self.actor_period, 1),
        }
        return total_timesteps, callback

    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Any:
        """SB3's ``learn`` (TD3's or SAC's); TensorBoard runs are named after the class
        (``RLx2TD3_1``, ``RLx2SAC_1``) unless ``tb_log_name`` is given.

        :param total_timesteps: env steps to train on (summed over envs)
        :param callback: callback(s) called at every env step
        :param log_interval: episodes between log dumps
        :param tb_log_name: TensorBoard run name (default: the class name)
        :param reset_num_timesteps: start a new run (step count and RLx2 schedules from 0)
        :param progress_bar: show a tqdm/rich progress bar
        :return: the trained model
        """
        return super().learn(  # type: ignore[misc]
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=type(self).__name__ if tb_log_name is None else tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _expected_critic_updates(self, total_timesteps: int) -> int:
        train_freq = self.train_freq
        if train_freq.unit != TrainFrequencyUnit.STEP:
            raise ValueError(
                "with train_freq counted in episodes the number of updates is unknown in advance; "
                "set topology_end (critic updates after which the topology stops changing)"
            )
        steps = max(total_timesteps - self.learning_starts, 0)
        per_rollout = train_freq.frequency * self.n_envs
        gradient_steps = self.gradient_steps if self.gradient_steps >= 0 else per_rollout
        return int(steps * gradient_steps / per_rollout)

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """SB3's action selection; with the dynamic buffer, also stages the behaviour policy's
        mean action (the executed random action during warm-up, as the authors store it)."""
        action, buffer_action = super()._sample_action(learning_starts, action_noise, n_envs)  # type: ignore[misc]
        if self.dynamic_buffer:
            if self.num_timesteps < learning_starts:
                mean = buffer_action
            else:
                obs, _ = self.policy.obs_to_tensor(self._last_obs)
                with th.no_grad():
                    mean = self._behaviour_mean_action(obs).cpu().numpy()
            self.replay_buffer.stage_mean_actions(mean)
        return action, buffer_action

    def _on_step(self) -> None:
        """After each env step: the dynamic-buffer check every ``buffer_check_interval`` env steps."""
        super()._on_step()  # type: ignore[misc]
        start = getattr(self, "run_start_buffer_checks", 0)  # absent in models saved before it existed
        due = self.num_timesteps // self.buffer_check_interval
        if self.dynamic_buffer and due > self.buffer_checks - start:
            self.buffer_checks = start + due
            self._adjust_buffer()

    # -- the four mechanisms ---------------------------------------------------------------------
    @th.no_grad()
    def _adjust_buffer(self) -> int:
        """Policy distance on the oldest transitions; shrink the buffer when it is too large.

        distance = 0.5 * mean over the ``policy_distance_batch`` oldest transitions and action
        dimensions of (current mean action - behaviour mean action)^2, actions scaled to [-1, 1]
        (the authors' ``F.mse_loss(...) / 2``). If it exceeds ``policy_distance_threshold``, the
        oldest ``buffer_shrink_fraction`` of the transitions are dropped, never below
        ``buffer_min_size``.

        :return: the number of rows dropped.
        """
        buffer: DynamicNStepReplayBuffer = self.replay_buffer
        if buffer.size() == 0:
            return 0
        obs, behaviour_mean = buffer.oldest(self.policy_distance_batch, env=self._vec_normalize_env)
        current = self._behaviour_mean_action(self.policy.obs_to_tensor(obs)[0])
        behaviour = th.as_tensor(behaviour_mean, device=current.device)
        self.policy_distance = 0.5 * float(th.mean((current - behaviour) ** 2))
        dropped = 0
        if self.policy_distance > self.policy_distance_threshold:
            dropped = buffer.shrink(self.buffer_shrink_fraction)
            self.buffer_shrinks += int(dropped > 0)
        self.logger.record("rlx2/policy_distance", self.policy_distance)
        self.logger.record("rlx2/buffer_size", buffer.size())
        return dropped

    def _set_n_steps(self) -> int:
        """n of the TD target for the next critic update: ``multi_step`` from critic update
        number ``multi_step_delay`` on (1-based, the authors' ``total_it >= delay_nstep``), else 1."""
        n = self._n_steps_for(self.critic_updates + 1)
        self.replay_buffer.n_steps = n
        return n

    def _n_steps_for(self, update: int) -> int:
        """n of the TD target of critic update number ``update`` (1-based)."""
        return self.multi_step if update >= self.multi_step_delay else 1

    def _topology_due(self, network: str, n_updates: int) -> bool:
        """Whether update number ``n_updates`` of ``network`` in the current run is a drop/grow update."""
        horizon = self.topology_horizon.get(network)
        return (
            self.topology_evolution
            and horizon is not None
            and n_updates % self.topology_interval == 0
            and n_updates < horizon
            and len(self._sparse_layers[network]) > 0
        )

    def _before_step(
        self, network: str, optimizer: th.optim.Optimizer, args: Any = None, kwargs: Any = None
    ) -> None:
        """Step pre-hook of ``network``'s optimizer (its gradient is in place): one update of it.

        On a topology update (every ``topology_interval`` updates of that network, until its
        horizon) the dense gradient of this update's loss scores the growth and the optimizer step
        is skipped (the authors' scheduler returns False): the gradients are dropped (set to None),
        so the optimizer leaves every parameter and its moments as they are. Otherwise gradients of
        masked weights are zeroed before the step (and :meth:`_after_step` re-zeroes the masked
        weights, which Adam's moments would move otherwise). A critic update also sets n of the
        next critic update's TD target.
        """
        count = getattr(self, f"{network}_updates") + 1
        setattr(self, f"{network}_updates", count)
        if network == "critic":
            self._set_n_steps()
        count -= getattr(self, "run_start_updates", {}).get(network, 0)  # updates of the current run
        sparse_layers = self._sparse_layers[network]
        if self._topology_due(network, count):
            fraction = cosine_drop_fraction(count, self.topology_horizon[network], self.drop_fraction)
            for layer in sparse_layers:
                update_topology_(layer, fraction, self.grow_criterion)
            for layer, target_layer in zip(
                self._masked_layers[network], self._target_masked_layers.get(network, []), strict=False
            ):
                target_layer.set_mask_(layer.mask)
            self.topology_updates[network] += 1
            self.last_drop_fraction[network] = fraction
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    parameter.grad = None
            return
        for layer in sparse_layers:
            layer.mask_gradient_()

    def _after_step(
        self, network: str, optimizer: th.optim.Optimizer, args: Any = None, kwargs: Any = None
    ) -> None:
        """Step post-hook of ``network``'s optimizer: zero its masked weights again."""
        for layer in self._sparse_layers[network]:
            layer.apply_mask_()

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3's ``train()`` of the base algorithm, unchanged (the masked updates are optimizer
        hooks), after setting n of the first critic update's TD target; then the rlx2/ log."""
        self._set_n_steps()
        super().train(gradient_steps, batch_size)  # type: ignore[misc]
        self._record_rlx2()

    # -- measurements ---------------------------------------------------------------------------
    def _layer_names(self, network: str) -> list[str]:
        online = self._target_networks()[network][0]
        return [
            f"{network}.{name}" for name, module in online.named_modules() if isinstance(module, MaskedLinear)
        ]

    def parameter_counts(self) -> dict[str, int]:
        """Size of the sparse actor + critic (target networks excluded: copies, not capacity).

        ``total`` and ``trainable`` count the parameters a sparse model stores and trains: the
        unmasked weights of every masked layer, plus every other parameter (biases, which stay
        dense, and any parameter outside a linear layer). ``dense_total`` is the same count for
        the dense network of the same architecture; ``actor`` and ``critic`` split ``total``.
        """
        counts = {"actor": 0, "critic": 0, "dense_total": 0}
        for network, (online, _) in self._target_networks().items():
            masked = {id(layer.weight): layer for layer in self._masked_layers[network]}
            for parameter in online.parameters():
                layer = masked.get(id(parameter))
                counts[network] += layer.n_active if layer is not None else parameter.numel()
                counts["dense_total"] += parameter.numel()
        total = counts["actor"] + counts["critic"]
        return {"total": total, "trainable": total, **counts}

    def sparsity_report(self) -> dict[str, Any]:
        """Measured sparsity, compression and theoretical FLOPs, from the current masks.

        - ``layers``: per masked layer ``{shape: [out, in], active, weights, sparsity}``.
        - ``actor`` / ``critic`` / ``overall``: the same over the network's (or both networks')
          weights; biases are not included (dense, as in the paper's sparsity).
        - ``compression_ratio``: dense weights / active weights of actor + critic (the paper's
          measure: 90 % / 85 % gives 7.5x).
        - ``flops``: ``inference_dense`` / ``inference_sparse``: one actor forward pass of one
          sample (2 FLOPs per multiply-accumulate, biases and activations ignored);
          ``training_dense`` / ``training_sparse``: FLOPs of one gradient step (all networks the
          step runs forward and backward through, backward ~2x forward, times ``batch_size``);
          the sparse count adds RigL's dense weight-gradient on topology-update steps amortized
          over ``topology_interval`` (Evci et al. 2020, appendix); ``*_reduction`` = dense /
          sparse; ``training_sparse_total`` / ``training_dense_total``: per-step FLOPs times
          ``critic_updates`` (the masks keep their counts, so this is the run's total so far; the
          amortized topology-update term makes it approximate).
        - ``parameters``: :meth:`parameter_counts`; ``counters``: updates of each network,
          topology updates, n of the next critic update's TD target, stored transitions (0 after
          loading: the replay buffer is not saved with the model) and shrinks done.

        :return: a JSON-serialisable dict.
        """
        layers: dict[str, dict[str, Any]] = {}
        networks: dict[str, dict[str, Any]] = {}
        flops: dict[str, dict[str, int]] = {}
        for network in NETWORKS:
            masked = self._masked_layers[network]
            active = weights = 0
            for name, layer in zip(self._layer_names(network), masked, strict=True):
                n_active, n = layer.n_active, layer.mask.numel()
                layers[name] = {
                    "shape": list(layer.weight.shape),
                    "active": n_active,
                    "weights": n,
                    "sparsity": 1.0 - n_active / n,
                }
                active, weights = active + n_active, weights + n
            networks[network] = {"active": active, "weights": weights, "sparsity": 1.0 - active / weights}
            flops[network] = {
                "sparse": forward_flops(masked, sparse=True),
                "dense": forward_flops(masked, sparse=False),
            }
        active = sum(v["active"] for v in networks.values())
        weights = sum(v["weights"] for v in networks.values())
        batch = self.batch_size
        train_dense = batch * self._flops_per_gradient_step(flops["actor"]["dense"], flops["critic"]["dense"])
        train_sparse = batch * self._flops_per_gradient_step(
            flops["actor"]["sparse"], flops["critic"]["sparse"]
        )
        if self.topology_evolution:
            # the weight-gradient half of the backward pass is dense on a drop/grow step
            for network, per_step in (("critic", 1.0), ("actor", 1.0 / self.actor_period)):
                extra = flops[network]["dense"] - flops[network]["sparse"]
                train_sparse += batch * per_step * extra / self.topology_interval
        report = {
            "layers": layers,
            **networks,
            "overall": {"active": active, "weights": weights, "sparsity": 1.0 - active / weights},
            "compression_ratio": weights / active,
            "flops": {
                "inference_dense": flops["actor"]["dense"],
                "inference_sparse": flops["actor"]["sparse"],
                "inference_reduction": flops["actor"]["dense"] / flops["actor"]["sparse"],
                "training_dense": float(train_dense),
                "training_sparse": float(train_sparse),
                "training_reduction": float(train_dense / train_sparse),
                "training_dense_total": float(train_dense * self.critic_updates),
                "training_sparse_total": float(train_sparse * self.critic_updates),
            },
            "parameters": self.parameter_counts(),
            "counters": {
                "critic_updates": int(self.critic_updates),
                "actor_updates": int(self.actor_updates),
                "topology_updates": {k: int(v) for k, v in self.topology_updates.items()},
                "n_steps": self._n_steps_for(self.critic_updates + 1),  # of the next critic update
                "buffer_size": int(self.replay_buffer.size()) if self.replay_buffer is not None else 0,
                "buffer_shrinks": int(self.buffer_shrinks),
            },
        }
        return report

    def _record_rlx2(self) -> None:
        """Log the measured sparsity, compression, FLOPs reduction and mechanism state under rlx2/,
        every ``RECORD_EVERY`` critic updates (masks keep their counts between topology updates)."""
        if self.critic_updates - self._last_record < RECORD_EVERY:
            return
        self._last_record = self.critic_updates
        report = self.sparsity_report()
        record = self.logger.record
        record("rlx2/actor_sparsity", report["actor"]["sparsity"])
        record("rlx2/critic_sparsity", report["critic"]["sparsity"])
        record("rlx2/compression_ratio", report["compression_ratio"])
        record("rlx2/training_flops_reduction", report["flops"]["training_reduction"])
        record("rlx2/inference_flops_reduction", report["flops"]["inference_reduction"])
        record("rlx2/training_flops_sparse_total", report["flops"]["training_sparse_total"])
        record("rlx2/critic_updates", self.critic_updates)
        record("rlx2/actor_updates", self.actor_updates)
        for network in NETWORKS:
            record(f"rlx2/{network}_topology_updates", self.topology_updates[network])
            record(f"rlx2/{network}_drop_fraction", self.last_drop_fraction[network])
        record("rlx2/n_steps", report["counters"]["n_steps"])
        record("rlx2/buffer_size", report["counters"]["buffer_size"])
