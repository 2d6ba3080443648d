"""Toeplitz weight matrices: the compact layers of Structured ES policies.

An ``n_rows x n_cols`` Toeplitz matrix is constant along each diagonal, so it has
``n_rows + n_cols - 1`` free numbers instead of ``n_rows * n_cols`` (Choromanski et al. 2018,
arXiv 1804.02395, Section 4). Here the free numbers are one vector ``diagonals`` with

    T[i, j] = diagonals[i - j + n_cols - 1],

so ``diagonals[n_cols - 1:]`` is the first column and ``diagonals[n_cols - 1::-1]`` the first row
(the ``c`` and ``r`` of ``scipy.linalg.toeplitz(c, r)``).
"""

from __future__ import annotations

import math

import torch as th
import torch.nn.functional as F
from torch import nn


def toeplitz_indices(n_rows: int, n_cols: int, device: th.device | str = "cpu") -> th.Tensor:
    """Index of the free number behind each entry of an ``n_rows x n_cols`` Toeplitz matrix.

    :return: int64 tensor of shape ``(n_rows, n_cols)`` with entry ``i - j + n_cols - 1``.
    :raises ValueError: if a dimension is < 1.
    """
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"a Toeplitz matrix needs n_rows, n_cols >= 1, got {n_rows} x {n_cols}")
    rows = th.arange(n_rows, device=device)
    cols = th.arange(n_cols, device=device)
    return rows[:, None] - cols[None, :] + (n_cols - 1)


def toeplitz_matrix(diagonals: th.Tensor, n_rows: int, n_cols: int) -> th.Tensor:
    """The dense ``n_rows x n_cols`` Toeplitz matrix with the given diagonals.

    :param diagonals: tensor of shape ``(..., n_rows + n_cols - 1)``, ordered as in the module
        docstring (lowest diagonal last).
    :return: tensor of shape ``(..., n_rows, n_cols)``, differentiable in ``diagonals``.
    :raises ValueError: if the last dimension of ``diagonals`` is not ``n_rows + n_cols - 1``.
    """
    if diagonals.shape[-1] != n_rows + n_cols - 1:
        raise ValueError(
            f"a {n_rows} x {n_cols} Toeplitz matrix needs {n_rows + n_cols - 1} diagonals, "
            f"got {diagonals.shape[-1]}"
        )
    return diagonals[..., toeplitz_indices(n_rows, n_cols, diagonals.device)]


class ToeplitzLinear(nn.Module):
    """Affine layer ``y = x @ T.T + bias`` whose weight ``T`` is a Toeplitz matrix.

    The weight is gathered from its ``in_features + out_features - 1`` diagonals with a cached
    index and applied with one dense matrix product: at policy widths (tens to hundreds of units)
    a gather plus GEMM is faster on CPU than an FFT product, while the number of free parameters,
    the quantity Structured ES searches over, stays ``in + out - 1``.

    :param in_features: input size ``b``.
    :param out_features: output size ``a``.
    :param bias: learn an additive bias of size ``a``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.diagonals = nn.Parameter(th.empty(in_features + out_features - 1))
        self.bias = nn.Parameter(th.empty(out_features)) if bias else None
        # Not persistent: rebuilt from the sizes, so it is neither saved nor counted as a parameter.
        self.register_buffer("_index", toeplitz_indices(out_features, in_features), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ``+-1/sqrt(in_features)``, the scale of ``nn.Linear``'s default initialization."""
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.diagonals, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def weight(self) -> th.Tensor:
        """The dense ``(out_features, in_features)`` Toeplitz weight matrix."""
        return self.diagonals[self._index]

    def forward(self, x: th.Tensor) -> th.Tensor:
        """:param x: ``(..., in_features)``. :return: ``(..., out_features)``."""
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )
