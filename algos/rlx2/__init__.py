"""RLx2: sparse TD3 and SAC trained from scratch with topology evolution, a delayed multi-step
TD target and a dynamic-capacity replay buffer.

Tan, Hu, Pan, Huang, Huang, "RLx2: Training a Sparse Deep Reinforcement Learning Model from
Scratch", ICLR 2023, arXiv 2205.15043.
"""

from algos.rlx2.buffers import DynamicNStepReplayBuffer
from algos.rlx2.policies import RLx2SACPolicy, RLx2TD3Policy
from algos.rlx2.sac import RLx2SAC
from algos.rlx2.sparse import (
    GROW_CRITERIA,
    MaskedLinear,
    cosine_drop_fraction,
    erdos_renyi_densities,
    forward_flops,
    replace_linear_layers,
    sparsify_,
    update_topology_,
)
from algos.rlx2.td3 import RLx2TD3

__all__ = [
    "GROW_CRITERIA",
    "DynamicNStepReplayBuffer",
    "MaskedLinear",
    "RLx2SAC",
    "RLx2SACPolicy",
    "RLx2TD3",
    "RLx2TD3Policy",
    "cosine_drop_fraction",
    "erdos_renyi_densities",
    "forward_flops",
    "replace_linear_layers",
    "sparsify_",
    "update_topology_",
]
