"""The randomized advantage transformation: per-sample scores, Gram matrix, n x n solve.

RAT (Sun, "Randomized Advantage Transformation (RAT): Computing Natural Policy Gradients via
Direct Backpropagation", arXiv 2605.18591). On a minibatch of n samples with advantages A,
score rows ``psi_i = grad_theta log pi(a_i | s_i)`` stacked as H (n x P) and clamped importance
ratios ``D = diag(rho)``, the Tikhonov-regularized natural gradient is::

    x = (F + lambda I)^-1 g,   F = H^T D H / n,   g = H^T D A / n          (a P x P solve)
      = H^T D a~ / n,          a~ = (K D / n + lambda I_n)^-1 A,  K = H H^T  (Woodbury: n x n)

so x is the vanilla policy gradient of ``-(1/n) sum_i stopgrad(rho_i) log pi(a_i|s_i) a~_i``.
This module computes a~; the algorithm backpropagates it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch as th
from torch import nn
from torch.func import functional_call, grad, vmap

from algos.rat.policies import RATPolicy


class _ActorLogLikelihood(nn.Module):
    """``(obs, actions) -> log pi(a | s)`` as a module's forward, the form ``functional_call`` calls."""

    def __init__(self, policy: RATPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        return self.policy.actor_log_prob(obs, actions)


def per_sample_scores(policy: RATPolicy, obs: th.Tensor, actions: th.Tensor) -> dict[str, th.Tensor]:
    """The score rows ``psi_i = grad_theta log pi(a_i | s_i)``, one per sample, by ``torch.func``.

    ``vmap(grad(...))`` over ``functional_call`` of the actor's log-likelihood (the pattern of
    PyTorch's per-sample-gradient recipe); the log-std is part of theta.

    :param policy: the policy whose actor parameters theta are differentiated.
    :param obs: observations, shape (n, *obs_shape).
    :param actions: actions, shape (n, action_dim).
    :return: parameter name (as in :meth:`RATPolicy.actor_named_parameters`) -> scores of
        shape (n, *parameter_shape); together they are the n x P matrix H.
    """
    module = _ActorLogLikelihood(policy)
    theta = {f"policy.{name}": p.detach() for name, p in policy.actor_named_parameters().items()}

    def log_likelihood(params: dict[str, th.Tensor], o: th.Tensor, a: th.Tensor) -> th.Tensor:
        return functional_call(module, params, (o.unsqueeze(0), a.unsqueeze(0))).squeeze(0)

    scores = vmap(grad(log_likelihood), in_dims=(None, 0, 0))(theta, obs, actions)
    return {name.removeprefix("policy."): score for name, score in scores.items()}


def gram_matrix(scores: dict[str, th.Tensor]) -> th.Tensor:
    """``K = H H^T`` (n x n), summed parameter by parameter so H is never concatenated.

    :param scores: per-sample scores as returned by :func:`per_sample_scores`.
    :return: K, shape (n, n), symmetric positive semi-definite.
    """
    rows = [score.flatten(1) for score in scores.values()]
    gram = rows[0] @ rows[0].T
    for row in rows[1:]:
        gram.addmm_(row, row.T)
    return gram


def scores_times(scores: dict[str, th.Tensor], vector: dict[str, th.Tensor]) -> th.Tensor:
    """``H p``: every sample's directional derivative of ``log pi`` along ``p``.

    :param scores: per-sample scores (name -> (n, *shape)).
    :param vector: p, by parameter name (name -> shape), same names as ``scores``.
    :return: shape (n,).
    """
    return sum(score.flatten(1) @ vector[name].flatten() for name, score in scores.items())  # type: ignore[return-value]


def clamped_ratios(log_prob: th.Tensor, old_log_prob: th.Tensor, low: float, high: float) -> th.Tensor:
    """Importance ratios ``rho = clip(pi / pi_old, low, high)``, without gradient.

    The clamp keeps ``D`` positive and bounded, so the symmetric form of the solve exists and
    one off-policy sample cannot dominate F and g (the RAT code uses [0.1, 10]).

    :param log_prob: ``log pi(a|s)`` under the current policy, shape (n,).
    :param old_log_prob: ``log pi_old(a|s)`` under the rollout policy, shape (n,).
    :param low: lower clamp (> 0).
    :param high: upper clamp (>= low).
    :return: shape (n,), detached.
    """
    return th.exp(log_prob.detach() - old_log_prob).clamp(low, high)


class Transformed(NamedTuple):
    """Result of :func:`transform_advantages`.

    :param advantages: the transformed advantages a~, shape (n,).
    :param used_cholesky: False when the symmetric system was not numerically positive
        definite and the general LU solve of ``K D / n + lambda I`` was used instead.
    :param condition_number: 2-norm condition number of the symmetric system
        ``D^1/2 K D^1/2 / n + lambda I`` (NaN unless asked for: it costs an eigendecomposition).
    """

    advantages: th.Tensor
    used_cholesky: bool
    condition_number: float


def transform_advantages(
    gram: th.Tensor,
    ratios: th.Tensor,
    advantages: th.Tensor,
    tikhonov_lambda: float,
    condition_number: bool = False,
) -> Transformed:
    """Solve ``(K D / n + lambda I) a~ = A`` for the transformed advantages a~.

    ``K D`` is not symmetric; with ``D = diag(rho)``, ``rho > 0``, the system equals
    ``D^-1/2 (D^1/2 K D^1/2 / n + lambda I) D^1/2``, whose middle factor M is symmetric with
    eigenvalues in ``[lambda, lambda + max eig(K D) / n]``. So ``a~ = D^-1/2 M^-1 D^1/2 A`` by a
    Cholesky factorization of M, with the general solve as a fallback if rounding makes M
    numerically indefinite. A zero Gram matrix gives ``a~ = A / lambda``.

    :param gram: K = H H^T, shape (n, n).
    :param ratios: clamped importance ratios rho (> 0), shape (n,).
    :param advantages: A, shape (n,).
    :param tikhonov_lambda: lambda (> 0).
    :param condition_number: also return the condition number of M.
    :return: :class:`Transformed`.
    :raises ValueError: if lambda <= 0 or a ratio is not positive.
    """
    if not tikhonov_lambda > 0:
        raise ValueError(f"tikhonov_lambda must be > 0, got {tikhonov_lambda}")
    if not bool((ratios > 0).all()):
        raise ValueError("importance ratios must be > 0 (clamp them first)")
    n = advantages.shape[0]
    sqrt_rho = ratios.sqrt()
    system = gram * (sqrt_rho[:, None] * sqrt_rho[None, :] / n)
    system.diagonal().add_(tikhonov_lambda)
    cholesky, info = th.linalg.cholesky_ex(system)
    if int(info) == 0:
        y = th.cholesky_solve((sqrt_rho * advantages).unsqueeze(1), cholesky).squeeze(1)
        transformed = y / sqrt_rho
        used_cholesky = True
    else:
        general = gram * (ratios[None, :] / n)
        general.diagonal().add_(tikhonov_lambda)
        transformed = th.linalg.solve(general, advantages)
        used_cholesky = False
    cond = float("nan")
    if condition_number:
        # |eigenvalues|: the 2-norm condition number, also where rounding made M indefinite.
        magnitudes = th.linalg.eigvalsh(system).abs()
        cond = float(magnitudes.max() / magnitudes.min())
    return Transformed(transformed, used_cholesky, cond)


def adapt_learning_rate(
    learning_rate: float,
    kl: float,
    target_kl: float,
    factor: float,
    min_learning_rate: float,
    max_learning_rate: float,
) -> float:
    """The KL-adaptive learning-rate rule of the RAT code.

    KL above ``2 * target_kl``: divide by ``factor`` (not below ``min_learning_rate``); KL below
    ``target_kl / 2``: multiply by ``factor`` (not above ``max_learning_rate``); else unchanged.

    :param learning_rate: current actor learning rate (> 0).
    :param kl: measured KL between the rollout policy and the current one (nats).
    :param target_kl: target KL (> 0, nats).
    :param factor: multiplicative step (> 1).
    :param min_learning_rate: floor of the learning rate.
    :param max_learning_rate: cap of the learning rate.
    :return: the next learning rate.
    """
    if kl > 2.0 * target_kl:
        return max(learning_rate / factor, min_learning_rate)
    if kl < target_kl / 2.0:
        return min(learning_rate * factor, max_learning_rate)
    return learning_rate
