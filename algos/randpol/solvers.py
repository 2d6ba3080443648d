"""Critic solvers: the L-infinity-bounded regression of returns on fixed random features.

With the hidden layers fixed, fitting the critic ``V(s) = alpha . phi(s) + b`` is the convex
problem (Liu et al. 2025, arXiv 2505.19054; Rahimi & Recht 2008 for the bound)::

    minimize_{alpha, b}  sum_i (alpha . phi(s_i) + b - R_i)^2    s.t.  |alpha_j| <= C / J

``R_i`` are the value targets and J the number of features. The bias ``b`` is one more feature
(the constant 1), left unbounded so that the bound only limits how much the value varies with
the state. This module has the exact solvers; the projected-Adam solver is Adam steps followed by
:func:`project_linf_` and lives in the algorithm's ``train()``.
"""

from __future__ import annotations

import numpy as np
import torch as th
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import lsq_linear

EXACT_SOLVERS = ("lsq", "ridge")
LSQ_METHODS = ("bvls", "trf")


def linf_bound(C: float, n_features: int) -> float:
    """The per-weight bound ``C / J`` of the paper.

    :param C: the L-infinity constant (> 0).
    :param n_features: J (> 0).
    """
    return C / n_features


@th.no_grad()
def project_linf_(weight: th.Tensor, bound: float) -> th.Tensor:
    """Project ``weight`` in place onto the box ``[-bound, bound]`` (the L-infinity ball).

    The bound is first rounded down to the weight's dtype (float32 rounds C/J up about half
    the time), so that ``|w| <= bound`` holds exactly, not only up to rounding.

    :param weight: any floating-point tensor (modified in place).
    :param bound: half-width of the box (> 0).
    :return: ``weight``.
    """
    limit = th.tensor(bound, dtype=weight.dtype)
    if limit.item() > bound:
        limit = th.nextafter(limit, th.zeros_like(limit))
    return weight.clamp_(-limit.item(), limit.item())


def solve_box_least_squares(
    features: np.ndarray | th.Tensor,
    targets: np.ndarray | th.Tensor,
    bound: float,
    solver: str = "lsq",
    method: str = "bvls",
    ridge: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Solve ``min ||features @ alpha + b - targets||^2 + ridge ||alpha||^2, |alpha_j| <= bound``.

    ``solver="lsq"`` solves the box-constrained problem exactly with
    ``scipy.optimize.lsq_linear`` (``method`` "bvls" or "trf"). When there are more samples than
    unknowns, the problem is first reduced to its square form: with the Gram matrix
    ``G = X^T X + ridge * I_alpha = L L^T`` of ``X = [features, 1]``, the objective equals
    ``||L^T w - L^{-1} X^T y||^2`` up to a constant, so the solver works on a (J+1) x (J+1)
    matrix instead of n x (J+1), with the same minimizer. ``solver="ridge"`` solves the
    unconstrained ridge problem, clamps alpha to the box and re-fits the bias (cheaper, not the
    exact optimum).

    :param features: phi(s_i), shape (n, J), float.
    :param targets: R_i, shape (n,) or (n, 1).
    :param bound: C / J, the bound on every |alpha_j| (> 0).
    :param solver: ``"lsq"`` (exact) or ``"ridge"`` (ridge then clamp).
    :param method: ``lsq_linear`` method for ``solver="lsq"``: ``"bvls"`` or ``"trf"``.
    :param ridge: L2 penalty on alpha (>= 0; > 0 makes the reduction well-posed when some
        features are constant zero, as dead ReLU units are).
    :return: ``(alpha, b)``: alpha of shape (J,) float64, b a float.
    :raises ValueError: on bad shapes, a non-positive bound, a negative ridge, an unknown solver
        or method.
    """
    if solver not in EXACT_SOLVERS:
        raise ValueError(f"solver must be one of {EXACT_SOLVERS}, got {solver!r}")
    if method not in LSQ_METHODS:
        raise ValueError(f"method must be one of {LSQ_METHODS}, got {method!r}")
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    phi = th.as_tensor(features)
    y = th.as_tensor(targets).reshape(-1)
    if phi.ndim != 2 or phi.shape[0] != y.shape[0]:
        raise ValueError(f"features must be (n, J) and targets (n,), got {tuple(phi.shape)} and {tuple(y.shape)}")
    n, J = phi.shape
    # The constant feature for the unbounded bias b.
    X = th.cat([phi, th.ones(n, 1, dtype=phi.dtype)], dim=1)
    y = y.to(phi.dtype)
    lower = np.r_[np.full(J, -bound), -np.inf]
    upper = np.r_[np.full(J, bound), np.inf]

    if solver == "lsq" and n <= J + 1:
        # Fewer samples than unknowns: the reduction would not shrink anything.
        A, z = X.double().numpy(), y.double().numpy()
        if ridge > 0:
            A = np.vstack([A, np.sqrt(ridge) * np.eye(J + 1)[:J]])
            z = np.r_[z, np.zeros(J)]
        w = lsq_linear(A, z, bounds=(lower, upper), method=method).x
        return w[:J], float(w[J])

    # Normal equations in float64 throughout: a float32 Gram matrix of correlated random
    # features loses positive definiteness to rounding.
    X, y = X.double(), y.double()
    G = (X.T @ X).numpy()
    c = (X.T @ y).numpy()
    G[np.arange(J), np.arange(J)] += ridge
    if solver == "ridge":
        # G is positive definite once ridge > 0 (or the features have full rank): Cholesky.
        alpha = np.clip(cho_solve(_cholesky(G), c)[:J], -bound, bound)
        # Clamping moved the fit; the free bias can take the mean residual back.
        bias = float((y.double() - phi.double() @ th.from_numpy(alpha)).mean())
        return alpha, bias
    L = np.tril(_cholesky(G)[0])  # cho_factor leaves garbage above the diagonal
    z = solve_triangular(L, c, lower=True)
    w = lsq_linear(L.T, z, bounds=(lower, upper), method=method).x
    return w[:J], float(w[J])


def _cholesky(G: np.ndarray) -> tuple[np.ndarray, bool]:
    """Lower Cholesky factor of the symmetric PSD matrix ``G`` (``cho_factor`` format).

    Constant-zero features (dead ReLU units) make ``G`` singular when ``ridge`` is 0; a jitter
    of 1e-12, then 1e-10, ... times the mean diagonal is added until the factorization succeeds.
    """
    scale = float(np.mean(np.diag(G))) or 1.0
    jitter = 0.0
    for exponent in range(-12, 0, 2):
        try:
            return cho_factor(G + jitter * np.eye(G.shape[0]), lower=True)
        except np.linalg.LinAlgError:
            jitter = scale * 10.0**exponent
    raise np.linalg.LinAlgError("Gram matrix of the critic features is not positive semi-definite")
