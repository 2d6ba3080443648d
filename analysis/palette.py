"""One color per algorithm, the same in every figure and every report."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

# Algorithms of the registry in a fixed order with fixed colors (RANDPOL red, PPO blue), so an
# algorithm keeps its color in every figure and every report.
ALGO_COLORS = {
    "randpol": "#d62728",
    "ppo": "#1f77b4",
    "a2c": "#ff7f0e",
    "trpo": "#2ca02c",
    "sac": "#9467bd",
    "td3": "#8c564b",
    "ddpg": "#e377c2",
    "ars": "#7f7f7f",
    "ses": "#bcbd22",
    "rlx2_td3": "#17becf",
    "rlx2_sac": "#393b79",
    "rat": "#637939",
}
# Algorithms outside the registry get a color from here, picked by a hash of their name.
_EXTRA_COLORS = ("#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")


def algo_order(algos: Iterable[str]) -> list[str]:
    """Algorithms in the fixed registry order, unknown ones after them alphabetically."""
    algos = set(algos)
    known = [a for a in ALGO_COLORS if a in algos]
    return known + sorted(algos - set(ALGO_COLORS))


def algo_palette(algos: Iterable[str]) -> dict[str, str]:
    """The color of each algorithm (hex string), the same in every figure and report."""
    return {
        algo: ALGO_COLORS.get(algo, _EXTRA_COLORS[zlib.crc32(algo.encode()) % len(_EXTRA_COLORS)])
        for algo in algo_order(algos)
    }
