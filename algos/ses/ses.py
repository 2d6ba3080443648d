"""Structured Evolution Strategies (Choromanski et al. 2018, arXiv 1804.02395).

Blackbox policy search: perturb the flat parameter vector ``theta`` along ``N`` directions drawn
by a structured sampler (:mod:`algos.ses.samplers`), evaluate each perturbed policy for an
episode, estimate the gradient of the Gaussian smoothing of the episode return
(:mod:`algos.ses.estimators`) and step. The life cycle, candidate evaluation (single process or
sb3-contrib's ``AsyncEval``) and logging are sb3-contrib's ARS, which this class subclasses;
only the direction sampling, the estimator and the update differ, and callbacks follow SB3's
contract, which ARS's do not: ``on_step`` sees the step's locals (``dones``, ``rewards``,
``infos``, ...) and returning False from it stops training.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib import ARS
from sb3_contrib.common.vec_env.async_eval import AsyncEval
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from algos.ses.estimators import ESTIMATORS, antithetic_gradient, forward_gradient
from algos.ses.policies import ESPolicy, LinearPolicy, MlpPolicy, ToeplitzPolicy
from algos.ses.samplers import SAMPLERS, make_sampler
from algos.spaces import check_flat_observation_space

OPTIMIZERS = ("sgd", "adam")
# Observation spaces the policies flatten into ``s`` features.


class _TrainingStopped(Exception):
    """A callback's ``on_step`` returned False while candidates were being evaluated."""


class _StopOnFalse:
    """The callback as ARS's candidate evaluation calls it, raising when ``on_step`` says stop.

    ARS calls ``on_rollout_start``, ``on_step`` and ``on_rollout_end`` and ignores ``on_step``'s
    result; this wrapper turns a False into :class:`_TrainingStopped`, which ends the evaluation
    of the candidates (single process: at that env step; ``AsyncEval``: once its results are in).
    """

    def __init__(self, callback: BaseCallback) -> None:
        self.callback = callback

    def on_rollout_start(self) -> None:
        self.callback.on_rollout_start()

    def on_rollout_end(self) -> None:
        self.callback.on_rollout_end()

    def update_locals(self, locals_: dict[str, Any]) -> None:
        self.callback.update_locals(locals_)

    def on_step(self) -> bool:
        if not self.callback.on_step():
            raise _TrainingStopped
        return True


class StructuredES(ARS):
    """Structured ES: evolution strategies with structured (orthogonal) directions.

    One update: draw ``N = n_delta`` directions ``eps_i``; evaluate ``theta +- sigma eps_i``
    (``antithetic``, ``2N`` episodes) or ``theta + sigma eps_i`` and ``theta`` (``forward``,
    ``N + 1`` episodes); keep the ``b = n_top`` directions with the best returns; estimate the
    gradient ``g`` from those ``b`` directions; step ``theta`` by SGD or Adam. With
    ``return_std_scaling`` the SGD step is ARS's ``alpha / (b sigma_R) sum_i (J_i^+ - J_i^-) eps_i``
    (``sigma_R``: std of the returns used), and Adam receives ``g / sigma_R``; without it SGD is
    ``theta += alpha g``. ``sampler="gaussian"``, ``estimator="antithetic"``, ``optimizer="sgd"``,
    ``zero_policy=True`` with ``LinearPolicy`` is sb3-contrib's ARS, update for update.

    :param policy: ``"ToeplitzPolicy"``, ``"MlpPolicy"``, ``"LinearPolicy"`` or an ``ESPolicy`` class.
    :param env: the training env (Box actions); wrap it in ``VecNormalize(norm_reward=False)`` for
        ARS-style observation normalization.
    :param n_delta: ``N >= 1``, directions per update.
    :param n_top: ``b`` in ``[1, N]``, directions kept for the update (ranked by
        ``max(J^+, J^-)``, or ``J^+`` for ``forward``); ``None`` keeps all ``N``.
    :param learning_rate: step size ``alpha`` (> 0), float or schedule of the remaining progress.
    :param delta_std: smoothing ``sigma`` (> 0), the perturbation scale in parameter units.
    :param sampler: ``"gaussian"``, ``"orthogonal"`` or ``"hadamard"``.
    :param estimator: ``"antithetic"`` or ``"forward"``.
    :param optimizer: ``"sgd"`` or ``"adam"`` (torch's Adam with default betas).
    :param return_std_scaling: divide the step by the std of the returns used (ARS V1-t/V2-t).
    :param hadamard_rounds: ``k >= 1``, number of ``H D`` factors of the ``hadamard`` sampler.
    :param zero_policy: start from ``theta = 0`` (ARS's linear start) instead of the policy's
        random initialization (needed for hidden layers, whose weights get no signal at zero).
    :param alive_bonus_offset: added to every reward when ranking and updating (training only;
        e.g. ``-1`` on Hopper cancels the survival bonus); evaluation returns are untouched.
    :param n_eval_episodes: episodes per candidate (>= 1); a candidate's return is their sum.
    :param policy_kwargs: keyword arguments of the policy, e.g. ``{"net_arch": [41, 41]}``.
    :param stats_window_size: episodes averaged in the ``rollout/*`` logs.
    :param tensorboard_log: TensorBoard log folder, or ``None`` (runs are named
        ``StructuredES_<k>``).
    :param seed: seed of torch, numpy, the env and the direction samples.
    :param verbose: 0 silent, 1 info, 2 debug.
    :param device: torch device (the search is cheap; ``"cpu"``).
    :param _init_setup_model: build the policy now (``False`` when loading).
    :raises ValueError: on an unknown sampler, estimator or optimizer, an out-of-range number, a
        non-Box action space, or an observation space the policies cannot flatten (``Dict``,
        ``Tuple``; supported: ``Box``, ``Discrete``, ``MultiDiscrete``, ``MultiBinary``).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "ToeplitzPolicy": ToeplitzPolicy,
        "MlpPolicy": MlpPolicy,
        "LinearPolicy": LinearPolicy,
    }
    policy: ESPolicy

    def __init__(
        self,
        policy: str | type[ESPolicy],
        env: GymEnv | str,
        n_delta: int = 8,
        n_top: int | None = None,
        learning_rate: float | Schedule = 0.02,
        delta_std: float | Schedule = 0.05,
        sampler: str = "orthogonal",
        estimator: str = "antithetic",
        optimizer: str = "sgd",
        return_std_scaling: bool = True,
        hadamard_rounds: int = 3,
        zero_policy: bool = False,
        alive_bonus_offset: float = 0.0,
        n_eval_episodes: int = 1,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        seed: int | None = None,
        verbose: int = 0,
        device: th.device | str = "cpu",
        _init_setup_model: bool = True,
    ) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; accepted: {', '.join(SAMPLERS)}")
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {estimator!r}; accepted: {', '.join(ESTIMATORS)}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; accepted: {', '.join(OPTIMIZERS)}")
        if not isinstance(n_delta, int) or n_delta < 1:
            raise ValueError(f"n_delta must be an integer >= 1, got {n_delta!r}")
        if n_top is not None and (not isinstance(n_top, int) or not 1 <= n_top <= n_delta):
            raise ValueError(f"n_top must be an integer in [1, n_delta={n_delta}] or None, got {n_top!r}")
        for name, value in (("learning_rate", learning_rate), ("delta_std", delta_std)):
            if not callable(value) and not value > 0:
                raise ValueError(f"{name} must be > 0 (or a schedule), got {value!r}")
        if not isinstance(hadamard_rounds, int) or hadamard_rounds < 1:
            raise ValueError(f"hadamard_rounds must be an integer >= 1, got {hadamard_rounds!r}")
        if not isinstance(n_eval_episodes, int) or n_eval_episodes < 1:
            raise ValueError(f"n_eval_episodes must be an integer >= 1, got {n_eval_episodes!r}")

        super().__init__(
            policy,
            env,
            n_delta=n_delta,
            n_top=n_top,
            learning_rate=learning_rate,
            delta_std=delta_std,
            zero_policy=zero_policy,
            alive_bonus_offset=alive_bonus_offset,
            n_eval_episodes=n_eval_episodes,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            seed=seed,
            verbose=verbose,
            device=device,
            _init_setup_model=False,
        )
        action_space = getattr(self, "action_space", None)  # unset while loading (env=None)
        if action_space is not None and not isinstance(action_space, spaces.Box):
            raise ValueError(
                f"StructuredES needs a continuous (Box) action space, got {type(action_space).__name__}"
            )
        check_flat_observation_space(getattr(self, "observation_space", None), "StructuredES")
        self.sampler = sampler
        self.estimator = estimator
        self.optimizer_name = optimizer
        self.return_std_scaling = return_std_scaling
        self.hadamard_rounds = hadamard_rounds
        # Episodes per update: theta +- sigma eps_i, or theta + sigma eps_i and theta itself.
        self.pop_size = 2 * n_delta if estimator == "antithetic" else n_delta + 1

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self.direction_sampler = make_sampler(self.sampler, self.hadamard_rounds)
        self.optimizer: th.optim.Optimizer | None = None
        if self.optimizer_name == "adam":
            self._adam_weights = th.nn.Parameter(self.weights.clone())
            self.optimizer = th.optim.Adam([self._adam_weights], lr=self.lr_schedule(1.0))

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "direction_sampler", "_adam_weights", "_continue_training"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy"] if self.optimizer_name == "sgd" else ["policy", "optimizer"]
        return state_dicts, []

    def set_parameters(
        self,
        load_path_or_dict: str | dict[str, dict],
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        super().set_parameters(load_path_or_dict, exact_match=exact_match, device=device)
        # The search state is the flat vector theta: keep it equal to the loaded policy, so that
        # training goes on from the loaded weights.
        self.weights = th.nn.utils.parameters_to_vector(self.policy.parameters()).detach()

    def parameter_counts(self) -> dict[str, int]:
        """Policy parameters: every one is searched over, so ``total == trainable == d``.

        Index buffers of the Toeplitz layers are not parameters; observation statistics live in
        the env's ``VecNormalize``.
        """
        return {"total": self.n_params, "trainable": self.n_params}

    def _trigger_callback(
        self,
        _locals: dict[str, Any],
        _globals: dict[str, Any],
        callback: BaseCallback,
        n_envs: int,
    ) -> None:
        """Count the env step and call ``callback.on_step`` with the step's locals.

        ``evaluate_policy`` calls this once per env and step; the callback sees its locals with
        ``dones``, ``rewards`` and ``infos`` of that env (length-1, as for a single env), so that
        callbacks counting episodes (``StopTrainingOnMaxEpisodes``) count each one once.
        ``num_timesteps`` grows by ``n_envs`` per call, as in ARS.

        :param _locals: ``evaluate_policy``'s locals at this step
        :param _globals: its globals (unused)
        :param callback: the learn() callback (wrapped so that a False stops training)
        :param n_envs: envs of the training env
        :raises _TrainingStopped: ``on_step`` returned False (caught by :meth:`evaluate_candidates`)
        """
        self.num_timesteps += n_envs
        step = dict(_locals)
        if "done" in _locals:
            step["dones"] = np.array([_locals["done"]])
            step["rewards"] = np.array([_locals["reward"]])
            step["infos"] = [_locals["info"]]
        callback.update_locals(step)
        callback.on_step()

    def evaluate_candidates(
        self, candidate_weights: th.Tensor, callback: BaseCallback, async_eval: AsyncEval | None
    ) -> th.Tensor | None:
        """Evaluate each candidate (ARS's evaluation), stopping when a callback asks to.

        :param candidate_weights: flat parameter vectors, shape (pop_size, n_params)
        :param callback: called at every env step, with its locals
        :param async_eval: evaluate in worker processes, or ``None``
        :return: each candidate's return (sum of its episodes' rewards plus the alive-bonus
            offset), shape (pop_size,); None if a callback's ``on_step`` returned False (then
            ``on_rollout_end`` is not called, as in SB3's ``collect_rollouts``)
        """
        try:
            return super().evaluate_candidates(candidate_weights, _StopOnFalse(callback), async_eval)
        except _TrainingStopped:
            self._continue_training = False
            return None

    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "StructuredES",
        reset_num_timesteps: bool = True,
        async_eval: AsyncEval | None = None,
        progress_bar: bool = False,
    ) -> Self:
        """Train for ``total_timesteps`` env steps, or until a callback returns False.

        ARS's loop, which does not stop on a callback's False: one update per iteration; an update
        whose candidate evaluation was stopped is not applied.

        :param total_timesteps: env steps to train on (summed over envs)
        :param callback: callback(s) called at every env step, with the step's locals
        :param log_interval: updates between log dumps
        :param tb_log_name: TensorBoard run name
        :param reset_num_timesteps: start the step count from 0
        :param async_eval: evaluate candidates in worker processes, or ``None``
        :param progress_bar: show a tqdm/rich progress bar
        :return: the trained model
        """
        total_steps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        self._continue_training = True
        while self.num_timesteps < total_steps:
            self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
            self._do_one_update(callback, async_eval)
            if not self._continue_training:
                break
            if log_interval is not None and self._n_updates % log_interval == 0:
                self.dump_logs()
        if async_eval is not None:
            async_eval.close()
        callback.on_training_end()
        return self

    def _do_one_update(self, callback: BaseCallback, async_eval: AsyncEval | None) -> None:
        """Sample directions, evaluate the candidates, estimate the gradient and step ``theta``.

        :param callback: called at every env step (through ARS's candidate evaluation).
        :param async_eval: evaluate candidates in worker processes, or ``None``.
        """
        delta_std = self.delta_std_schedule(self._current_progress_remaining)
        learning_rate = self.lr_schedule(self._current_progress_remaining)

        directions = self.direction_sampler.sample(self.n_delta, self.n_params, dtype=self.weights.dtype)
        directions = directions.to(self.device)
        perturbations = delta_std * directions
        if self.estimator == "antithetic":
            candidate_weights = th.cat([self.weights + perturbations, self.weights - perturbations])
        else:
            candidate_weights = th.cat([self.weights + perturbations, self.weights[None]])

        with th.no_grad():
            candidate_returns = self.evaluate_candidates(candidate_weights, callback, async_eval)
        if candidate_returns is None:  # a callback stopped training: no update from a partial population
            return

        plus_returns = candidate_returns[: self.n_delta]
        if self.estimator == "antithetic":
            minus_returns = candidate_returns[self.n_delta :]
            ranking = th.maximum(plus_returns, minus_returns)
        else:
            center_return = candidate_returns[self.n_delta]
            ranking = plus_returns
        # Top-b filtering (ARS): directions whose best return is among the b highest.
        top_idx = th.argsort(ranking, descending=True)[: self.n_top]
        plus_returns, directions = plus_returns[top_idx], directions[top_idx]
        if self.estimator == "antithetic":
            minus_returns = minus_returns[top_idx]
            gradient = antithetic_gradient(plus_returns, minus_returns, directions, delta_std)
            used_returns = th.cat([plus_returns, minus_returns])
            # g = sum_i (J+ - J-) eps_i / (2 b sigma)
            difference_scale = 2.0 * delta_std
        else:
            gradient = forward_gradient(plus_returns, center_return, directions, delta_std)
            used_returns = th.cat([plus_returns, center_return[None]])
            # g = sum_i (J+ - J) eps_i / (b sigma)
            difference_scale = delta_std
        return_std = used_returns.std()

        ascent = gradient
        if self.return_std_scaling:
            # ARS's step alpha / (b sigma_R) on sum_i (J+ - J-) eps_i, written on g:
            # alpha * difference_scale / sigma_R * g. The 1e-6 guards a zero spread.
            ascent = gradient * (difference_scale / (return_std + 1e-6))

        if self.optimizer is None:
            self.weights = self.weights + learning_rate * ascent
        else:
            self._update_learning_rate(self.optimizer)
            with th.no_grad():
                self._adam_weights.copy_(self.weights)
            self._adam_weights.grad = -ascent.to(self._adam_weights.dtype)  # Adam minimizes
            self.optimizer.step()
            self.weights = self._adam_weights.detach().clone()
        self.policy.load_from_vector(self.weights.cpu())

        self.logger.record("train/iterations", self._n_updates, exclude="tensorboard")
        self.logger.record("train/delta_std", delta_std)
        self.logger.record("train/learning_rate", learning_rate)
        self.logger.record("train/gradient_norm", gradient.norm().item())
        self.logger.record("rollout/return_std", return_std.item())
        self._n_updates += 1
