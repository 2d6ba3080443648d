"""Monte Carlo estimators of the gradient of the Gaussian smoothing of a blackbox function.

For ``J_sigma(theta) = E_{eps ~ N(0, I)}[J(theta + sigma eps)]``, ``grad J_sigma(theta) =
E[J(theta + sigma eps) eps] / sigma`` (Choromanski et al. 2018, arXiv 1804.02395, Section 2;
Salimans et al. 2017). With ``N`` directions ``eps_i`` (rows of ``directions``):

- antithetic: ``g = 1/(2 N sigma) sum_i [J(theta + sigma eps_i) - J(theta - sigma eps_i)] eps_i``
  (``2N`` evaluations; exact for any quadratic ``J`` when ``sum_i eps_i eps_i^T = N I``);
- forward difference: ``g = 1/(N sigma) sum_i [J(theta + sigma eps_i) - J(theta)] eps_i``
  (``N + 1`` evaluations).
"""

from __future__ import annotations

import torch as th

#: The estimator names accepted in configs (``estimator: <name>``).
ESTIMATORS = ("antithetic", "forward")


def _check(directions: th.Tensor, returns: th.Tensor, sigma: float) -> None:
    if directions.ndim != 2 or returns.shape != (directions.shape[0],):
        raise ValueError(
            f"need directions of shape (N, d) and returns of shape (N,), got {tuple(directions.shape)} "
            f"and {tuple(returns.shape)}"
        )
    if not sigma > 0:
        raise ValueError(f"the smoothing sigma must be > 0, got {sigma}")


def antithetic_gradient(
    plus_returns: th.Tensor, minus_returns: th.Tensor, directions: th.Tensor, sigma: float
) -> th.Tensor:
    """Antithetic (central difference) gradient estimate.

    :param plus_returns: ``(N,)`` values ``J(theta + sigma eps_i)``.
    :param minus_returns: ``(N,)`` values ``J(theta - sigma eps_i)``.
    :param directions: ``(N, d)`` directions ``eps_i`` (unscaled, i.e. before multiplying by sigma).
    :param sigma: smoothing standard deviation (> 0), in parameter units.
    :return: ``(d,)`` gradient estimate.
    :raises ValueError: on mismatched shapes or ``sigma <= 0``.
    """
    _check(directions, plus_returns, sigma)
    _check(directions, minus_returns, sigma)
    n_directions = directions.shape[0]
    return (plus_returns - minus_returns).to(directions.dtype) @ directions / (2 * n_directions * sigma)


def forward_gradient(
    plus_returns: th.Tensor, center_return: th.Tensor | float, directions: th.Tensor, sigma: float
) -> th.Tensor:
    """Forward-difference gradient estimate (the unperturbed return as control variate).

    :param plus_returns: ``(N,)`` values ``J(theta + sigma eps_i)``.
    :param center_return: scalar ``J(theta)``.
    :param directions: ``(N, d)`` directions ``eps_i``.
    :param sigma: smoothing standard deviation (> 0).
    :return: ``(d,)`` gradient estimate.
    :raises ValueError: on mismatched shapes or ``sigma <= 0``.
    """
    _check(directions, plus_returns, sigma)
    n_directions = directions.shape[0]
    return (plus_returns - center_return).to(directions.dtype) @ directions / (n_directions * sigma)
