"""Structured ES: evolution strategies with structured directions and compact Toeplitz policies.

Choromanski, Rowland, Sindhwani, Turner, Weller, "Structured Evolution with Compact Architectures
for Scalable Policy Optimization", ICML 2018, arXiv 1804.02395.
"""

from algos.ses.estimators import ESTIMATORS, antithetic_gradient, forward_gradient
from algos.ses.hadamard import fwht, next_power_of_two
from algos.ses.policies import ESPolicy, LinearPolicy, MlpPolicy, ToeplitzPolicy
from algos.ses.samplers import (
    SAMPLERS,
    DirectionSampler,
    GaussianSampler,
    HadamardSampler,
    OrthogonalSampler,
    make_sampler,
)
from algos.ses.ses import StructuredES
from algos.ses.toeplitz import ToeplitzLinear, toeplitz_matrix

__all__ = [
    "ESTIMATORS",
    "SAMPLERS",
    "DirectionSampler",
    "ESPolicy",
    "GaussianSampler",
    "HadamardSampler",
    "LinearPolicy",
    "MlpPolicy",
    "OrthogonalSampler",
    "StructuredES",
    "ToeplitzLinear",
    "ToeplitzPolicy",
    "antithetic_gradient",
    "forward_gradient",
    "fwht",
    "make_sampler",
    "next_power_of_two",
    "toeplitz_matrix",
]
