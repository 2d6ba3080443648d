"""The fast Walsh-Hadamard transform (FWHT), used by the random Hadamard-Rademacher sampler.

``fwht(x)`` computes ``x @ H`` for the Walsh-Hadamard matrix ``H`` in Sylvester (natural) order,
the matrix ``scipy.linalg.hadamard`` builds, in ``O(n log n)`` operations per row instead of the
``O(n^2)`` of a dense product (Choromanski et al. 2018, arXiv 1804.02395, Section 3.2).
"""

from __future__ import annotations

import math

import torch as th


def is_power_of_two(n: int) -> bool:
    """Whether ``n`` is a positive power of two (1, 2, 4, ...)."""
    return n >= 1 and n & (n - 1) == 0


def next_power_of_two(n: int) -> int:
    """The smallest power of two ``>= n``.

    :raises ValueError: if ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"next_power_of_two needs n >= 1, got {n}")
    return 1 << (n - 1).bit_length()


def fwht(x: th.Tensor, normalized: bool = True) -> th.Tensor:
    """Walsh-Hadamard transform of every row of ``x`` (along the last dimension).

    Iterative butterflies, each level one vectorized add/subtract over the whole batch:
    ``log2(n)`` levels of ``O(n)`` work per row.

    :param x: tensor of shape ``(..., n)`` with ``n`` a power of two; any float dtype.
    :param normalized: divide by ``sqrt(n)``, making the transform orthogonal (``H @ H = I``).
    :return: tensor of the shape and dtype of ``x``: ``x @ H`` (``H`` symmetric, Sylvester order,
        entries ``+-1`` or ``+-1/sqrt(n)`` when normalized).
    :raises ValueError: if the last dimension is not a power of two.
    """
    n = x.shape[-1]
    if not is_power_of_two(n):
        raise ValueError(f"fwht needs a last dimension that is a power of two, got {n}")
    batch_shape = x.shape[:-1]
    y = x.reshape(-1, n)
    half = 1
    while half < n:
        # Pair entry i with entry i + half inside blocks of 2 * half: Sylvester's recursion
        # H_2m = [[H_m, H_m], [H_m, -H_m]] applied one level at a time.
        y = y.reshape(-1, n // (2 * half), 2, half)
        first, second = y[:, :, 0, :], y[:, :, 1, :]
        y = th.stack((first + second, first - second), dim=2)
        half *= 2
    y = y.reshape(*batch_shape, n)
    return y / math.sqrt(n) if normalized else y
