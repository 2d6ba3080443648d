"""Direction samplers for evolution-strategy gradient estimates.

Each sampler draws the ``N`` directions ``eps_1 .. eps_N`` in ``R^d`` along which the policy is
perturbed. Choromanski et al. 2018 (arXiv 1804.02395, Sections 3.1-3.2) show that coupling the
directions so that they are exactly orthogonal, while keeping each one (close to) marginally
``N(0, I_d)``, lowers the mean squared error of the gradient estimate:

- ``gaussian``: i.i.d. ``N(0, I_d)`` rows (plain ES, the control);
- ``orthogonal``: a Gaussian block orthogonalized by QR, each row rescaled to the norm of an
  independent ``N(0, I_d)`` draw, so rows stay marginally Gaussian; ``N > d`` stacks independent
  blocks;
- ``hadamard``: rows of ``sqrt(p) H D_k ... H D_1`` (``H`` the normalized Walsh-Hadamard matrix,
  ``D_j`` independent random ``+-1`` diagonals, ``p`` the next power of two ``>= d``), each
  computed in ``O(p log p)`` with the fast Walsh-Hadamard transform.

All samplers give ``E[eps eps^T] = I_d``, so the estimators stay unbiased for the gradient of the
Gaussian smoothing. Randomness comes from a ``torch.Generator`` (``None``: torch's global one,
which SB3 seeds from the algorithm's ``seed``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch as th

from algos.ses.hadamard import fwht, next_power_of_two


class DirectionSampler(ABC):
    """Draws ``n_directions`` perturbation directions in ``R^dim``."""

    #: The name used in configs (``sampler: <name>``).
    name: str = ""

    def sample(
        self,
        n_directions: int,
        dim: int,
        generator: th.Generator | None = None,
        dtype: th.dtype = th.float32,
    ) -> th.Tensor:
        """Draw the directions.

        :param n_directions: ``N >= 1``, number of directions.
        :param dim: ``d >= 1``, the number of policy parameters.
        :param generator: source of randomness; ``None`` uses torch's global generator.
        :param dtype: floating dtype of the result.
        :return: tensor of shape ``(N, d)``, one direction per row.
        :raises ValueError: if ``N`` or ``d`` is < 1.
        """
        if n_directions < 1 or dim < 1:
            raise ValueError(
                f"need n_directions >= 1 and dim >= 1, got n_directions={n_directions}, dim={dim}"
            )
        return self._sample(n_directions, dim, generator, dtype)

    @abstractmethod
    def _sample(
        self, n_directions: int, dim: int, generator: th.Generator | None, dtype: th.dtype
    ) -> th.Tensor: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GaussianSampler(DirectionSampler):
    """I.i.d. ``N(0, I_d)`` directions: the unstructured Monte Carlo estimator of plain ES and ARS."""

    name = "gaussian"

    def _sample(
        self, n_directions: int, dim: int, generator: th.Generator | None, dtype: th.dtype
    ) -> th.Tensor:
        return th.randn(n_directions, dim, generator=generator, dtype=dtype)


class OrthogonalSampler(DirectionSampler):
    """Gaussian orthogonal directions (Choromanski et al. 2018, Section 3.1).

    Each block of up to ``d`` rows is the transposed ``Q`` of the QR decomposition of a
    ``d x m`` Gaussian matrix (signs fixed by ``diag(R)`` so that ``Q`` is Haar-distributed on the
    Stiefel manifold), rows rescaled to independent chi-distributed norms: rows are exactly
    orthogonal within a block and each is marginally ``N(0, I_d)``. Blocks are independent.
    """

    name = "orthogonal"

    def _sample(
        self, n_directions: int, dim: int, generator: th.Generator | None, dtype: th.dtype
    ) -> th.Tensor:
        # Blocks of m = min(N, d) orthogonal rows; a last partial block is the first rows of a full
        # one, which is the same distribution (Gram-Schmidt keeps the leading columns' Q).
        m = min(n_directions, dim)
        n_blocks = -(-n_directions // m)
        # Batched QR in float64: orthogonality to rounding of the working precision, then cast.
        gaussian = th.randn(n_blocks, dim, m, generator=generator, dtype=th.float64)
        q, r = th.linalg.qr(gaussian)
        # Haar measure: QR alone is biased by its sign convention on diag(R).
        q = q * th.sign(th.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
        norms = th.randn(n_blocks, m, dim, generator=generator, dtype=th.float64).norm(dim=-1, keepdim=True)
        rows = q.transpose(-2, -1) * norms
        return rows.reshape(n_blocks * m, dim)[:n_directions].to(dtype)


class HadamardSampler(DirectionSampler):
    """Random Hadamard-Rademacher directions (Choromanski et al. 2018, Section 3.2).

    Rows of ``M = sqrt(p) H D_k ... H D_1`` with ``p = next_power_of_two(d)``: ``M`` is exactly
    ``sqrt(p)`` times an orthogonal matrix, every entry of a row has mean 0 and variance 1 and
    ``E[row row^T] = I_p``; ``k = 3`` rounds make the entries close to Gaussian. Each row costs
    ``k`` fast Walsh-Hadamard transforms, ``O(k p log p)``. ``N > p`` stacks independent blocks.

    When ``d`` is not a power of two the directions are the first ``d`` coordinates of rows of
    ``M``: exactly orthogonal in the padded space ``R^p`` (the padding stands for ``p - d``
    parameters the policy does not use), and still with ``E[eps eps^T] = I_d``.

    :param rounds: ``k >= 1``, the number of ``H D`` factors.
    """

    name = "hadamard"

    def __init__(self, rounds: int = 3) -> None:
        if not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"hadamard_rounds must be an integer >= 1, got {rounds!r}")
        self.rounds = rounds

    def _sample(
        self, n_directions: int, dim: int, generator: th.Generator | None, dtype: th.dtype
    ) -> th.Tensor:
        p = next_power_of_two(dim)
        m = min(n_directions, p)
        n_blocks = -(-n_directions // m)
        # Rows e_i^T H D_k ... H D_1 for i < m, applied right to left as row transforms (H is
        # symmetric, so e^T H = fwht(e)); all blocks at once, each with its own diagonals D_j.
        rows = th.eye(p, dtype=th.float64)[:m].expand(n_blocks, m, p)
        signs = th.randint(0, 2, (self.rounds, n_blocks, 1, p), generator=generator, dtype=th.float64) * 2 - 1
        for k in reversed(range(self.rounds)):
            rows = fwht(rows) * signs[k]
        rows = math.sqrt(p) * rows[:, :, :dim]
        return rows.reshape(n_blocks * m, dim)[:n_directions].to(dtype)

    def __repr__(self) -> str:
        return f"HadamardSampler(rounds={self.rounds})"


SAMPLERS: dict[str, type[DirectionSampler]] = {
    cls.name: cls for cls in (GaussianSampler, OrthogonalSampler, HadamardSampler)
}


def make_sampler(name: str, hadamard_rounds: int = 3) -> DirectionSampler:
    """The sampler called ``name``.

    :param name: one of ``gaussian``, ``orthogonal``, ``hadamard``.
    :param hadamard_rounds: number of ``H D`` factors of the ``hadamard`` sampler (>= 1).
    :raises ValueError: naming the unknown sampler and the accepted names.
    """
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; accepted: {', '.join(SAMPLERS)}")
    if name == HadamardSampler.name:
        return HadamardSampler(rounds=hadamard_rounds)
    return SAMPLERS[name]()
