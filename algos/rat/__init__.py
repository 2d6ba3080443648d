"""RAT (Sun, arXiv 2605.18591): natural policy gradients by a randomized advantage transformation.

``RAT("RATPolicy", env).learn(100_000)`` behaves like any Stable-Baselines3 on-policy algorithm.
"""

from algos.rat.policies import RATPolicy
from algos.rat.rat import RAT

__all__ = ["RAT", "RATPolicy"]
