"""``randbench train``: the Hydra app that runs one training run per job.

    randbench train algo=ppo env=hopper seed=0
    randbench train -m algo=ppo,a2c env=lunarlander seed=0,1,2 hydra/launcher=local
    randbench train -m +sweep=demo
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from sweeps.run import run

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base=None)
def train(cfg: DictConfig) -> str:
    """Run one job; in a multirun a failed or refused job is reported and the sweep goes on.

    Exit status of a single run: 0 completed or skipped, 1 failed or diverged, 2 bad input,
    130 interrupted (SIGINT or SIGTERM).
    """
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        result = run(cfg)
    except ValueError as error:
        print(f"randbench train: error: {error}", file=sys.stderr, flush=True)
        if multirun:
            return "invalid"
        raise SystemExit(2) from None
    except KeyboardInterrupt:  # recorded as interrupted in meta.json; stop the whole sweep
        print("randbench train: interrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
    if result.status in ("failed", "diverged") and not multirun:
        print(f"randbench train: run {result.status}: see {result.run_dir / 'meta.json'}", file=sys.stderr)
        raise SystemExit(1)
    return result.status
