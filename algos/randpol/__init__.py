"""RANDPOL (Liu, Jain, Nguyen 2025, arXiv 2505.19054): actor-critic with fixed random hidden layers.

``RANDPOL("RandomFeaturePolicy", env).learn(100_000)`` behaves like any Stable-Baselines3 algorithm.
"""

from algos.randpol.buffers import FeatureRolloutBuffer
from algos.randpol.policies import RandomFeaturePolicy
from algos.randpol.randpol import RANDPOL

__all__ = ["RANDPOL", "FeatureRolloutBuffer", "RandomFeaturePolicy"]
