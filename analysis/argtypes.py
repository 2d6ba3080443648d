"""Command-line argument types and defaults shared by randbench's commands.

Light on purpose: importing this module (and ``analysis.cli``) loads neither pandas nor
matplotlib, so that ``--help`` and a refused argument answer at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_REPS = 2000  # bootstrap resamples of every confidence interval
DEFAULT_LAST_K = 3  # evaluation points averaged into a run's final return
# randbench regress: the band's margin, a fraction of the env's score range (score_max -
# score_min) added below and above the reference seeds' spread (Pendulum-v1: 0.1 x 1250 = 125).
REGRESS_TOLERANCE = 0.1
EXIT_PASS, EXIT_REGRESSION, EXIT_UNUSABLE = 0, 1, 2  # randbench regress's exit statuses


def check_last_k(k: int) -> int:
    """The number of last evaluation points averaged into a final return: an integer >= 1.

    The one place this rule lives (the analysis functions and the command line call it).

    :raises ValueError: ``k < 1``, naming the value.
    """
    if k < 1:
        raise ValueError(f"k={k} is invalid; the number of last evaluation points must be >= 1")
    return k


def check_fraction(name: str, value: float) -> float:
    """A fraction in (0, 1] (threshold and PPO-level fractions).

    :param name: what the value is, for the message (e.g. ``"threshold fraction"``).
    :raises ValueError: ``value`` outside (0, 1], naming it.
    """
    if not 0 < value <= 1:
        raise ValueError(f"{name} {value} is invalid; expected a number in (0, 1]")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1, or ``argparse.ArgumentTypeError`` naming the value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def positive_float(text: str) -> float:
    """A number > 0, or ``argparse.ArgumentTypeError`` naming the value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be > 0")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1], or ``argparse.ArgumentTypeError`` naming the value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; expected a fraction in (0, 1]") from None
    try:
        return check_fraction("fraction", value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def markdown_path(text: str) -> Path:
    """A path ending in ``.md``, or ``argparse.ArgumentTypeError``."""
    if not text.endswith(".md"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a markdown file; expected a path ending in .md")
    return Path(text)
