"""The algorithm registry and how a Hydra config becomes an SB3 algorithm."""

from baselines.registry import ALGORITHMS, AlgorithmSpec, get_spec

__all__ = ["ALGORITHMS", "AlgorithmSpec", "get_spec"]
