"""Sparse linear layers, Erdos-Renyi density allocation, RigL/SET topology updates and FLOPs counts.

The pieces of sparse training from scratch that RLx2 builds on (Tan et al., "RLx2: Training a
Sparse Deep Reinforcement Learning Model from Scratch", ICLR 2023, arXiv 2205.15043):

- :class:`MaskedLinear`: an ``nn.Linear`` whose weight carries a boolean mask (a buffer, so it
  is saved and loaded with the model). Masked weights are kept exactly zero: gradients are
  masked before every optimizer step and the weights re-zeroed after it.
- :func:`erdos_renyi_densities`: per-layer densities for a target overall sparsity, density of
  a layer proportional to ``(n_in + n_out) / (n_in * n_out)`` (Mocanu et al. 2018; Evci et al.
  2020), as the RLx2 authors' code allocates it (layers that would need density > 1 are dense).
- :func:`update_topology_`: one drop/grow step: drop the active weights of smallest magnitude,
  grow the same number of inactive ones by largest dense-gradient magnitude (RigL, Evci et al.
  2020) or at random (SET, Mocanu et al. 2018); grown weights start at zero.
- :func:`cosine_drop_fraction`: the drop fraction ``zeta_t = zeta / 2 * (1 + cos(pi t / T))``.
- :func:`forward_flops`: FLOPs of a forward pass from the masks' non-zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch as th
from torch import nn

GROW_CRITERIA = ("gradient", "random")


class MaskedLinear(nn.Linear):
    """A linear layer ``y = x (W * M)^T + b`` with a fixed-shape boolean mask ``M`` on its weight.

    The weight is kept zero where the mask is zero (see :meth:`apply_mask_`), so the forward pass
    is that of ``nn.Linear``; the bias stays dense. ``mask`` is a registered buffer: it appears in
    ``state_dict()``, so a saved model keeps its topology.

    :param in_features: input size.
    :param out_features: output size.
    :param bias: whether the layer has a (dense) bias.
    """

    mask: th.Tensor
    is_sparse: bool = False  # whether the mask has zeros; set by set_mask_, never changed by drop/grow

    def __init__(self, in_features: int, out_features: int, bias: bool = True, **kwargs) -> None:
        super().__init__(in_features, out_features, bias=bias, **kwargs)
        self.register_buffer("mask", th.ones_like(self.weight, dtype=th.bool))

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> MaskedLinear:
        """A masked layer that reuses ``linear``'s parameter tensors (an optimizer built on them
        keeps working) with an all-ones mask."""
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.in_features, layer.out_features = linear.in_features, linear.out_features
        layer.weight = linear.weight
        layer.bias = linear.bias
        layer.register_buffer("mask", th.ones_like(linear.weight, dtype=th.bool))
        return layer

    @property
    def n_active(self) -> int:
        """Number of unmasked weights."""
        return int(self.mask.sum())

    @property
    def density(self) -> float:
        """Fraction of unmasked weights, in [0, 1]."""
        return self.n_active / self.mask.numel()

    @th.no_grad()
    def set_mask_(self, mask: th.Tensor) -> None:
        """Replace the mask (same shape, any dtype; non-zero = active) and zero the masked weights."""
        if mask.shape != self.mask.shape:
            raise ValueError(
                f"mask shape {tuple(mask.shape)} does not match weight shape {tuple(self.mask.shape)}"
            )
        self.mask.copy_(mask.bool())
        self.is_sparse = bool(not self.mask.all())
        self.apply_mask_()

    @th.no_grad()
    def apply_mask_(self) -> None:
        """Zero the masked weights (after an optimizer step or a soft target update)."""
        self.weight.mul_(self.mask)

    @th.no_grad()
    def mask_gradient_(self) -> None:
        """Zero the gradient of the masked weights, so an optimizer step cannot grow them."""
        if self.weight.grad is not None:
            self.weight.grad.mul_(self.mask)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, density={self.density:.4f}"


def replace_linear_layers(module: nn.Module) -> list[MaskedLinear]:
    """Swap every ``nn.Linear`` inside ``module`` for a :class:`MaskedLinear` on the same tensors.

    :param module: a network (changed in place).
    :return: the masked layers in ``module.named_modules()`` order.
    """
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, MaskedLinear.from_linear(child))
    return [m for m in module.modules() if isinstance(m, MaskedLinear)]


def erdos_renyi_densities(shapes: Sequence[tuple[int, int]], sparsity: float) -> list[float]:
    """Per-layer densities whose weighted mean is ``1 - sparsity`` (Erdos-Renyi allocation).

    Solves ``sum_l d_l n_l = (1 - S) sum_l n_l`` with ``d_l = eps (in_l + out_l) / (in_l out_l)``;
    a layer whose density would exceed 1 is made dense and eps is solved again over the others
    (the authors' ``sparse_set``; source: Liu et al. 2021, In-Time Over-Parameterization).

    :param shapes: ``(out_features, in_features)`` of each layer.
    :param sparsity: target overall sparsity in [0, 1).
    :return: densities in (0, 1], one per layer.
    :raises ValueError: if ``sparsity`` is outside [0, 1) or a shape is empty.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if not shapes or any(out < 1 or inp < 1 for out, inp in shapes):
        raise ValueError(f"need at least one layer with positive sizes, got shapes {list(shapes)}")
    sizes = [out * inp for out, inp in shapes]
    raw = [(out + inp) / (out * inp) for out, inp in shapes]
    dense: set[int] = set()
    while True:
        # weights that must be active in the non-dense layers
        budget = (1.0 - sparsity) * sum(sizes) - sum(sizes[i] for i in dense)
        divisor = sum(raw[i] * sizes[i] for i in range(len(sizes)) if i not in dense)
        epsilon = budget / divisor
        over = [i for i in range(len(sizes)) if i not in dense and raw[i] * epsilon > 1.0]
        if not over:
            return [1.0 if i in dense else raw[i] * epsilon for i in range(len(sizes))]
        dense.update(over)


def n_active_weights(n_weights: int, density: float) -> int:
    """Weights kept at ``density``: ``n - int(sparsity * n)``, the authors' rounding."""
    return n_weights - int((1.0 - density) * n_weights)


@th.no_grad()
def sparsify_(layers: Sequence[MaskedLinear], sparsity: float) -> list[float]:
    """Give ``layers`` Erdos-Renyi densities for ``sparsity`` and keep their largest initial weights.

    The initial topology keeps, in each layer, the weights of largest magnitude at initialization
    (the authors' ``weight_sparsify``); with i.i.d. initial weights this is a uniformly random
    topology.

    :param layers: the masked layers of one network (actor or critic).
    :param sparsity: target overall sparsity of their weights, in [0, 1).
    :return: the per-layer densities used.
    """
    densities = erdos_renyi_densities([tuple(layer.weight.shape) for layer in layers], sparsity)
    for layer, density in zip(layers, densities, strict=True):
        n = layer.weight.numel()
        keep = th.topk(layer.weight.abs().flatten(), n_active_weights(n, density)).indices
        mask = th.zeros(n, dtype=th.bool, device=layer.weight.device)
        mask[keep] = True
        layer.set_mask_(mask.view_as(layer.weight))
    return densities


def cosine_drop_fraction(step: int, horizon: int, initial: float) -> float:
    """RigL's drop fraction ``zeta_t = zeta_0 / 2 * (1 + cos(pi * t / T))`` (Evci et al. 2020, eq. 1).

    :param step: updates of the network so far (t).
    :param horizon: updates after which the topology stops changing (T).
    :param initial: zeta_0, the fraction at t = 0.
    """
    return initial / 2.0 * (1.0 + math.cos(math.pi * step / horizon))


@th.no_grad()
def update_topology_(layer: MaskedLinear, drop_fraction: float, grow: str = "gradient") -> dict[str, int]:
    """One drop/grow step on ``layer`` with a constant number of active weights.

    Drops ``int(n_active * drop_fraction)`` active weights of smallest magnitude; grows as many
    connections among those not kept (just-dropped ones included, as in RigL), scored by the
    magnitude of the dense gradient ``layer.weight.grad`` (``grow="gradient"``, RigL) or at random
    (``grow="random"``, SET). Connections that were inactive and are grown start at zero; a
    dropped connection that is grown again keeps its weight (the authors' code).

    :param layer: a masked layer; for ``grow="gradient"`` its ``weight.grad`` must hold the dense
        gradient of the last loss (computed before any gradient masking).
    :param drop_fraction: fraction of active weights to replace, in [0, 1].
    :param grow: ``"gradient"`` or ``"random"``.
    :return: ``{"dropped": k, "grown": k, "new": connections grown from inactive}``.
    :raises ValueError: for an unknown ``grow`` or a missing gradient.
    """
    if grow not in GROW_CRITERIA:
        raise ValueError(f"grow must be one of {GROW_CRITERIA}, got {grow!r}")
    weight, old_mask = layer.weight, layer.mask.clone()
    n_active = int(old_mask.sum())
    n_drop = int(n_active * drop_fraction)
    if n_drop == 0 or n_active == old_mask.numel():
        return {"dropped": 0, "grown": 0, "new": 0}
    if grow == "gradient":
        if weight.grad is None:
            raise ValueError(
                "gradient growth needs layer.weight.grad (call backward() before the topology update)"
            )
        grow_score = weight.grad.abs().flatten().clone()
    else:
        grow_score = th.rand(weight.numel(), device=weight.device)
    neg_inf = th.tensor(-math.inf, device=weight.device)
    drop_score = th.where(old_mask.flatten(), weight.abs().flatten(), neg_inf)
    kept = th.zeros(weight.numel(), dtype=th.bool, device=weight.device)
    kept[th.topk(drop_score, n_active - n_drop).indices] = True
    grow_score = th.where(kept, neg_inf, grow_score)
    new_mask = kept.clone()
    new_mask[th.topk(grow_score, n_drop).indices] = True
    new_mask = new_mask.view_as(weight)
    new_connections = new_mask & ~old_mask
    weight[new_connections] = 0.0
    layer.set_mask_(new_mask)
    return {"dropped": n_drop, "grown": n_drop, "new": int(new_connections.sum())}


def forward_flops(layers: Sequence[nn.Linear], sparse: bool = True) -> int:
    """FLOPs of one forward pass of one sample through ``layers``: ``2 * weights`` per layer.

    One multiply-accumulate is 2 FLOPs; with ``sparse`` only the unmasked weights count (the
    count a sparse kernel would do). Biases and activations are left out, as in RigL's count.

    :param layers: linear layers (masked ones count their non-zeros when ``sparse``).
    :param sparse: count the mask's non-zeros (True) or every weight (False, the dense network).
    """
    total = 0
    for layer in layers:
        n = layer.n_active if sparse and isinstance(layer, MaskedLinear) else layer.weight.numel()
        total += 2 * n
    return total
