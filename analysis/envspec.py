"""Per-env facts the analysis needs from the config tree: budget, reward threshold, score bounds.

Score normalization uses the fixed bounds of ``conf/env/<name>.yaml`` so that adding an algorithm
never shifts another algorithm's normalized score (see docs/design.md, "Fair-comparison rules").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The package lives at <repo>/analysis and the config tree at <repo>/conf.
DEFAULT_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@dataclass(frozen=True)
class EnvSpec:
    """What the analysis reads about one task.

    :param name: config name of the env (``conf/env/<name>.yaml``), e.g. ``"hopper"``
    :param env_id: gymnasium id, e.g. ``"Hopper-v5"``
    :param budget: default training budget (env steps)
    :param reward_threshold: evaluation return that counts as "solved" (None if the config has none)
    :param score_min: return mapped to normalized score 0 (about a random policy)
    :param score_max: return mapped to normalized score 1 (about a solved policy)
    """

    name: str
    env_id: str
    budget: int | None
    reward_threshold: float | None
    score_min: float
    score_max: float

    def normalize(self, returns: Any) -> Any:
        """Min-max normalized score ``(R - min) / (max - min)`` of returns (scalar or array)."""
        return (returns - self.score_min) / (self.score_max - self.score_min)


def env_spec_from_config(env_cfg: Mapping[str, Any], source: str) -> EnvSpec:
    """Build an :class:`EnvSpec` from the ``env`` block of a config (``conf/env/*.yaml`` or a run's
    ``config.yaml``).

    :param env_cfg: mapping with keys ``name``, ``id``, ``score_bounds: {min, max}`` and optionally
        ``budget`` and ``reward_threshold``
    :param source: file the mapping came from, named in error messages
    :raises ValueError: a missing key, or bounds with ``max <= min``
    """
    missing = [key for key in ("name", "id", "score_bounds") if key not in env_cfg]
    if missing:
        raise ValueError(f"{source}: env config lacks {missing}; expected keys name, id, score_bounds")
    bounds = env_cfg["score_bounds"]
    if not isinstance(bounds, Mapping) or "min" not in bounds or "max" not in bounds:
        raise ValueError(f"{source}: score_bounds must be a mapping {{min, max}}, got {bounds!r}")
    score_min, score_max = float(bounds["min"]), float(bounds["max"])
    if not (math.isfinite(score_min) and math.isfinite(score_max) and score_max > score_min):
        raise ValueError(
            f"{source}: score_bounds needs finite min < max, got min={score_min}, max={score_max}"
        )
    threshold = env_cfg.get("reward_threshold")
    budget = env_cfg.get("budget")
    return EnvSpec(
        name=str(env_cfg["name"]),
        env_id=str(env_cfg["id"]),
        budget=int(budget) if isinstance(budget, (int, float)) else None,
        reward_threshold=None if threshold is None else float(threshold),
        score_min=score_min,
        score_max=score_max,
    )


def load_env_specs(conf_dir: str | Path | None = None) -> dict[str, EnvSpec]:
    """Read every ``<conf_dir>/env/*.yaml``.

    :param conf_dir: the config tree (default: ``conf/`` next to the ``analysis`` package)
    :return: env name -> :class:`EnvSpec`
    :raises FileNotFoundError: ``conf_dir/env`` does not exist
    :raises ValueError: an env config with missing keys or bad bounds (the message names the file)
    :raises TypeError: a file that is not a mapping
    """
    conf_dir = Path(conf_dir) if conf_dir is not None else DEFAULT_CONF_DIR
    env_dir = conf_dir / "env"
    if not env_dir.is_dir():
        raise FileNotFoundError(f"no env configs: {env_dir} is not a directory (pass the conf/ folder)")
    specs = {}
    for path in sorted(env_dir.glob("*.yaml")):
        try:
            cfg = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML ({error})") from None
        if not isinstance(cfg, Mapping):
            raise TypeError(f"{path}: expected a mapping, got {type(cfg).__name__}")
        spec = env_spec_from_config(cfg, str(path))
        specs[spec.name] = spec
    return specs
