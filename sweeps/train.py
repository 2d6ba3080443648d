"""``randbench train``: the Hydra app that runs one training run per job.

    randbench train algo=ppo env=hopper seed=0
    randbench train -m algo=ppo,a2c env=lunarlander seed=0,1,2 hydra/launcher=local
    randbench train -m +sweep=demo
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


class ExitStatus(SystemExit):
    """An exit status chosen by randbench; Hydra's own refusals exit through a plain ``SystemExit(1)``.

    ``randbench train`` (sweeps/cli.py) turns the latter into exit status 2 (refused input).
    """


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base=None)
def train(cfg: DictConfig) -> str:
    """Run one job; in a multirun a failed job is reported and the sweep goes on.

    Exit status of a single run: 0 completed or skipped, 1 failed or diverged, 2 refused input
    (nothing written; the reason on stderr), 130 interrupted (SIGINT or SIGTERM). A multirun's
    jobs are all checked before the first one trains, and its exit status is set by the sweep
    summary (sweeps/hydra_callbacks.py).
    """
    # Imported here, not with the module: `randbench train --help` need not load torch and SB3.
    from sweeps.run import run

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        result = run(cfg)
    except ValueError as error:
        print(f"randbench train: error: {error}", file=sys.stderr, flush=True)
        if multirun:
            return "invalid"
        raise ExitStatus(2) from None
    except KeyboardInterrupt:  # recorded as interrupted in meta.json; stop the whole sweep
        print("randbench train: interrupted", file=sys.stderr, flush=True)
        raise ExitStatus(130) from None
    except Exception:  # noqa: BLE001 - a defect of randbench, not of the input: report it whole
        traceback.print_exc()
        if multirun:
            return "failed"
        raise ExitStatus(1) from None
    if result.status in ("failed", "diverged") and not multirun:
        reason = (result.error or "").strip().splitlines()
        print(f"randbench train: run {result.status}" + (f" ({reason[-1]})" if reason else "")
              + f": see {result.run_dir / 'meta.json'}", file=sys.stderr)
        raise ExitStatus(1)
    return result.status
