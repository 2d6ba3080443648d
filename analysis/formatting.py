"""Number formatting shared by the report and the claim verdicts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def num(value: float, digits: int = 1) -> str:
    """A readable number: thousands separated; ``digits`` decimals from 10 on, 2 from 1 on, 3 significant
    digits below 1; an en dash for a missing or non-finite value."""
    if value is None or not np.isfinite(value):
        return "–"
    if abs(value) >= 1000 or digits == 0:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.{digits}f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio(value: float) -> str:
    """``1.83x``, or an en dash."""
    return f"{value:.2f}x" if np.isfinite(value) else "–"


def with_ci(mean: float, low: float, high: float, fmt: Callable[[float], str] = num) -> str:
    """``mean [low, high]``, the mean alone when the interval is missing, an en dash without a mean."""
    if not np.isfinite(mean):
        return "–"
    if np.isfinite(low) and np.isfinite(high):
        return f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]"
    return fmt(mean)
